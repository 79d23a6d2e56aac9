"""Shared fixtures: isolated data dirs, a tiny random Qwen2 model (fast tests) and the default model (e2e)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch

from tests.postgres import postgres_server  # noqa: F401 - a fixture, shared by every test module

warnings.filterwarnings("ignore", category=DeprecationWarning)
torch.set_num_threads(2)

# The converted default model is shared by every test run on this machine (it takes a minute to convert).
MODEL_CACHE = Path(os.environ.get("ASSISTANT_MODEL_CACHE_DIR", Path.home() / ".cache/assistant/models"))

# Test modules that run a second time on a real PostgreSQL server (tests/postgres.py): every test of theirs that
# takes `database_url` (directly or through `settings`/`services`) is parametrized [sqlite] and [postgresql].
POSTGRES_MODULES = {"test_conversations", "test_conversation_io", "test_votes", "test_jobs", "test_migrations"}


def pytest_generate_tests(metafunc) -> None:  # noqa: ANN001
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if "database_url" in metafunc.fixturenames and module in POSTGRES_MODULES:
        metafunc.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture()
def database_url(request, tmp_path):
    """The test's own empty database: a SQLite file in its data dir, or a new database on the PostgreSQL server."""
    if getattr(request, "param", "sqlite") == "sqlite":
        (tmp_path / "data").mkdir(exist_ok=True)
        yield f"sqlite:///{tmp_path / 'data' / 'assistant.db'}"
        return
    from assistant.db import Database

    server = request.getfixturevalue("postgres_server")
    name = server.create_database()
    url = server.url(name)
    yield url
    with Database._instances_lock:
        stale = Database._instances.pop(url, None)
    if stale is not None:
        stale.engine.dispose()
    server.drop_database(name)


@pytest.fixture(scope="session")
def default_hf_dir() -> Path:
    """The packaged default model as a converted HF folder (assembled and verified once per machine)."""
    from assistant.config import Settings
    from assistant.llm.loader import resolve_source

    settings = Settings(data_dir=Path("/tmp/assistant-test-unused"), model_cache_dir=MODEL_CACHE)
    _, path = resolve_source(settings)
    return Path(path)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, default_hf_dir) -> Path:
    """A tiny random Qwen2 with the real tokenizer and chat template: real code paths, millisecond forward passes."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    folder = tmp_path_factory.mktemp("tiny-qwen")
    tokenizer = AutoTokenizer.from_pretrained(default_hf_dir)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture()
def settings(tmp_path, tiny_model_dir, database_url):
    """Settings for one test: its own data and adapters dirs, the tiny model, no auto-indexing."""
    from assistant.config import Settings

    adapters = tmp_path / "adapters"
    adapters.mkdir()
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        adapters_dir=adapters,
        model=str(tiny_model_dir),
        quant="none",
        model_cache_dir=MODEL_CACHE,
        auto_index_knowledge=False,
        context_tokens=1024,
        max_new_tokens=16,
        temperature=0.0,
        # A random tiny model's tool decisions are noise: chat tests opt in to tools where they test them.
        tools_by_default=False,
        chat_rate_per_minute=0,  # tests run turns back to back; tests/test_limits.py checks the limit itself
    )


@pytest.fixture()
def services(settings):
    from assistant.services import Services

    return Services(settings)
