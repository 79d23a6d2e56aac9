"""The one settings object: every knob of the app, read from ASSISTANT_* env vars or a TOML file."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

REPO_ROOT = Path(__file__).resolve().parent.parent

QuantMode = Literal["auto", "none", "int8", "nf4", "bnb-int8", "bf16"]
DeviceMode = Literal["auto", "cpu", "cuda"]
EngineMode = Literal["auto", "llamacpp", "torch", "remote"]


class Settings(BaseSettings):
    """Application settings. `ASSISTANT_DATA_DIR` moves everything the app writes."""

    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_",
        toml_file=os.environ.get("ASSISTANT_CONFIG", "assistant.toml"),
        extra="ignore",
    )

    # --- model -----------------------------------------------------------------------------
    model: str = Field(
        "qwen2.5-coder-0.5b-instruct", description="packaged alias, GGUF file, HF folder or (opt-in) hub id"
    )
    allow_hub: bool = Field(False, description="allow `model` to be a hub id (needs internet)")
    engine: EngineMode = Field(
        "auto",
        description="serving backend: auto = llama.cpp on CPU (when the model is a GGUF), torch on CUDA",
    )
    prompt_lookup: bool = Field(
        False, description="llama.cpp: prompt-lookup speculative decoding (drafts copied from the prompt)"
    )
    prompt_lookup_tokens: int = Field(10, ge=1, le=64, description="draft length for prompt-lookup decoding")
    quant: QuantMode = Field("auto", description="auto = bitsandbytes nf4 on CUDA, torch dynamic int8 on CPU")
    device: DeviceMode = "auto"
    threads: int = Field(0, description="torch threads; 0 = all cores")
    int8_outlier_ratio: float = Field(
        150.0,
        gt=0,
        description="int8 path: keep in fp32 any Linear whose max |weight| exceeds this many times its mean |weight|",
    )
    lora_targets: list[str] = Field(
        default_factory=lambda: ["q_proj", "v_proj"],
        description="modules that adapters may target; kept unquantized so peft can wrap them",
    )
    train_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="weights of the frozen base while training LoRA, fitting the reward model and scoring in the "
        "gate: auto = bfloat16 where the CPU or GPU computes in it natively (AVX512-BF16/AMX, Ampere+; about 2x "
        "faster per step), float32 elsewhere; adapters stay float32",
    )

    # --- places ----------------------------------------------------------------------------
    data_dir: Path = Path("data")
    model_cache_dir: Path | None = Field(None, description="converted model cache; default <data_dir>/models")
    adapters_dir: Path = REPO_ROOT / "adapters"
    knowledge_dir: Path = REPO_ROOT / "knowledge"
    plugins_dir: Path = REPO_ROOT / "plugins"
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite in the data dir")

    # --- limits ----------------------------------------------------------------------------
    max_input_chars: int = 20_000
    max_upload_mb: int = 20
    max_document_chars: int = Field(2_000_000, ge=1_000, description="text indexed from one document at most (about "
                                    "2,900 chunks, minutes of embedding on 2 cores); a longer one is refused: split it")
    max_form_file_mb: int = Field(100, ge=1, description="largest file any upload field of the page accepts "
                                  "(training data, imports, documents); larger ones are refused unstored")
    context_tokens: int = 4096
    max_new_tokens_cap: int = 2048
    max_tool_calls: int = Field(3, ge=1, le=8, description="tool calls the model may chain in one turn")
    tools_adapter: str = Field("tools", description="adapter used for the tool decision only; empty = none")
    client_tools_adapter: str = Field(
        "tools-client", description="adapter for the decision over a /v1 client's own tools (their full schemas in the "
        "prompt); empty or missing = the tools adapter")
    tools_by_default: bool = Field(True, description="new conversations let the model call tools")
    tool_grammar: bool = Field(True, description="decode tool decisions under a JSON-schema grammar")
    tool_none_bias: float = Field(
        0.0, ge=0.0, le=10.0,
        description="added to the logit of 'none' where a decision writes the tool's name: a prior against "
        "calling a tool. 0 (the default) is the model's own choice; 1 cost the tenth session's candidate adapter "
        "6.5 points of recall on the dev set and saved no false call there (docs/bench_tools.md)",
    )
    tool_timeout_s: float = 120.0
    max_images: int = 64
    max_jobs_running: int = Field(2, ge=1, description="background jobs running at once on this server")
    max_jobs_per_user: int = Field(1, ge=1, description="background jobs one user may have running at once")
    job_niceness: int = Field(10, ge=0, le=19, description="how far below the chat background jobs run (nice)")
    max_job_epochs: int = Field(500, ge=1, description="largest `epochs` a training job accepts")
    max_job_steps: int = Field(100_000, ge=1, description="largest `steps` / `max_steps` a training job accepts")
    max_job_batch_size: int = Field(256, ge=1, description="largest `batch_size` a training job accepts")
    train_processes: int = Field(
        0, ge=0, description="processes of an SFT/KTO/DPO job: >1 runs it under `accelerate launch` (DDP, "
        "docs/training.md); 0 = one per CUDA device (one process on the CPU)"
    )
    max_uploads_per_user: int = Field(200, ge=1, description="uploaded documents one user may keep")
    max_upload_total_mb_per_user: int = Field(200, ge=1, description="MB of uploads one user may keep")
    chat_rate_per_minute: float = Field(20.0, ge=0, description="chat turns per user per minute (0 = no limit)")
    chat_burst: int = Field(5, ge=1, description="chat turns a user may send back to back before the rate applies")

    # --- generation defaults ---------------------------------------------------------------
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    top_k: int = Field(40, ge=0)
    max_new_tokens: int = Field(512, ge=1)
    repetition_penalty: float = Field(1.05, ge=1.0, le=2.0)
    system_prompt: str = "You are a helpful, concise assistant running fully offline on the user's machine."
    default_cot_mode: Literal["direct", "step-by-step", "self-consistency"] = Field(
        "direct", description="chain-of-thought mode of new conversations"
    )
    self_consistency_paths: int = Field(5, ge=2, le=16)

    # --- server ----------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 7860
    concurrency: int = Field(1, ge=1, description="generations at once (the model is shared)")
    auth: str | None = Field(None, description="user:password for the UI, optional")

    # --- OpenAI-compatible API (/v1, docs/api.md) ----------------------------------------------
    api_enabled: bool = Field(True, description="serve the OpenAI-compatible API under /v1 beside the UI")
    api_max_body_bytes: int = Field(2_000_000, ge=1024, description="larger request bodies get 413")
    api_queue_size: int = Field(16, ge=0, description="API requests that may wait for a generation slot (then 429)")
    api_queue_timeout_s: float = Field(120.0, gt=0, description="longest wait for a generation slot (then 429)")

    # --- the remote engine (ASSISTANT_ENGINE=remote: any OpenAI-compatible server, e.g. vLLM) ---------------
    remote_url: str | None = Field(None, description="base URL of the server's API, e.g. http://gpu-box:8000/v1")
    remote_key: str | None = Field(None, description="bearer key for the remote server (none when unset)")
    remote_model: str | None = Field(None, description="the server's id of the base model; default: `model`")
    remote_adapter_format: str = Field(
        "{base}:{adapter}",
        description="server model id of an adapter: `{base}:{adapter}` (our API) or `{adapter}` (vLLM --lora-modules)",
    )
    remote_adapters: dict[str, str] = Field(
        default_factory=dict, description="explicit adapter -> server model id mapping (beats the format)"
    )
    remote_tokenizer: str | None = Field(
        None, description="local tokenizer folder with the chat template (default: the packaged model's)"
    )
    remote_timeout_s: float = Field(600.0, gt=0, description="remote request timeout (connect: 10 s)")

    # --- knowledge -------------------------------------------------------------------------
    chunk_size: int = 800
    chunk_overlap: int = 120
    retrieval_k: int = 4
    auto_index_knowledge: bool = True
    rerank: Literal["off", "document", "model", "both"] = Field(
        "document", description="reorder the top search hits: off, document (query terms that tell look-alike "
        "documents apart; no model), model (the chat model's yes/no judgement, skipped while no model is loaded) "
        "or both; measured in docs/bench_knowledge.md"
    )
    rerank_top: int = Field(10, ge=2, le=50, description="how many of the top search hits the reranker reorders")

    # --- feedback loop ---------------------------------------------------------------------
    auto_retrain_every: int = Field(0, ge=0, description="retrain after N new votes; 0 = off")
    min_votes_for_training: int = 8

    # --- evaluation gate (a retrained adapter vs the current default; assistant/training/gate.py) ------------
    gate_heldout_prompts: int = Field(16, ge=4, description="held-out prompts scored by the reward model")
    gate_min_win_rate: float = Field(0.5, ge=0.0, le=1.0, description="reward-model win rate the candidate needs")
    gate_min_win_rate_lower: float = Field(
        0.3, ge=0.0, le=1.0, description="lower end of the win rate's 95 % Wilson interval the candidate needs"
    )
    gate_min_reward_auc: float = Field(
        0.6, ge=0.0, le=1.0, description="held-out AUC the reward model needs before its win rate can pass anyone"
    )
    gate_max_cot_drop: int = Field(2, ge=0, description="CoT problems (of 50, greedy) the candidate may lose")
    gate_qa_questions: int = Field(16, ge=0, description="knowledge-grounded questions checked (0 = skip)")
    gate_max_qa_drop: int = Field(2, ge=0, description="grounded questions the candidate may lose")
    gate_max_kl: float = Field(0.5, ge=0.0, description="mean KL to the base model per generated token (nats)")
    gate_max_empty_rise: int = Field(
        1, ge=0, description="held-out replies that say nothing besides citation markers the candidate may add"
    )
    gate_max_pasted_rise: float = Field(
        0.25, ge=0.0, le=1.0, description="share of the held-out prompts on which the candidate may paste a source "
        "passage (half its words copied verbatim from the sources it was given) more often than the current default"
    )
    gate_max_nonanswer_rise: float = Field(
        0.125, ge=0.0, le=1.0, description="share of the held-out prompts on which the candidate may decline or hand "
        "the question back (a short reply that refuses or only asks) more often than the current default"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # env beats the TOML file, so a one-off `ASSISTANT_QUANT=none make run` works.
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls), file_secret_settings

    @field_validator("data_dir", "adapters_dir", "knowledge_dir", "plugins_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    # The values the overrides replaced (assistant/live_settings.py), so that a reset can bring them back.
    _server_values: dict = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _apply_live_overrides(self) -> Settings:
        """Defaults changed in the Settings tab (`<data_dir>/settings_overrides.json`) beat file and env."""
        from assistant.live_settings import apply_saved

        return apply_saved(self)

    # --- derived places (all under data_dir unless overridden) ---------------------------------
    @property
    def models_dir(self) -> Path:
        return (self.model_cache_dir or self.data_dir / "models").expanduser().resolve()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'assistant.db'}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    def resolved_device(self) -> str:
        """`cuda` only when asked for (or auto) and actually present."""
        import torch

        if self.device == "cpu":
            return "cpu"
        if torch.cuda.is_available():
            return "cuda"
        if self.device == "cuda":
            raise RuntimeError("ASSISTANT_DEVICE=cuda but no CUDA device is available")
        return "cpu"

    def resolved_train_processes(self) -> int:
        """Training processes: the setting, or with 0 one per visible CUDA device (1 on the CPU)."""
        import torch

        if self.train_processes:
            return self.train_processes
        return torch.cuda.device_count() if self.resolved_device() == "cuda" else 1

    def resolved_engine(self) -> str:
        """`auto` -> torch on CUDA; llama.cpp on CPU when it is installed and the model is a GGUF (alias or file)."""
        if self.engine != "auto":
            return self.engine
        if self.resolved_device() == "cuda":
            return "torch"
        from importlib.util import find_spec

        from assistant.llm.packaged import PACKAGED

        is_gguf = self.model.strip() in PACKAGED or self.model.strip().lower().endswith(".gguf")
        return "llamacpp" if is_gguf and find_spec("llama_cpp") is not None else "torch"

    def resolved_train_dtype(self) -> str:
        """`auto` -> bfloat16 where the hardware has bf16 arithmetic (emulating it on AVX2 is ~4x slower), else fp32.

        The same for every job that loads the base (SFT, RLHF, the reward model, the gate): the reward head is
        fitted on features in one dtype and read in the gate in the same one. RLHF was fp32 after one bf16 run
        moved a preference less; three sets of votes trained both ways since learned alike, in about half the time
        (docs/bench_feedback.md)."""
        if self.train_dtype != "auto":
            return self.train_dtype
        import torch

        if self.resolved_device() == "cuda":
            return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
        return "bfloat16" if cpu_computes_bf16() else "float32"

    def resolved_quant(self) -> str:
        """`auto` -> nf4 with bitsandbytes on CUDA, torch dynamic int8 on CPU (fastest measured)."""
        if self.quant != "auto":
            return self.quant
        return "nf4" if self.resolved_device() == "cuda" else "int8"

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.index_dir, self.images_dir, self.jobs_dir, self.uploads_dir, self.models_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.adapters_dir.mkdir(parents=True, exist_ok=True)


def cpu_computes_bf16() -> bool:
    """True where the CPU has native bf16 arithmetic (AVX512-BF16 or AMX); emulated bf16 is slower than fp32."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once). Tests build their own `Settings(...)` instead."""
    return Settings()
