"""Real-browser tests: the real app (`python app.py`, default model, llama.cpp on CPU) driven by Chromium.

The app starts once per session on a free port with its own data dir; every test gets a fresh browser context,
so a fresh browser identity (its own conversations). Chromium comes from the OS packages (`.ci/run` installs
it); without it these tests skip outside CI and fail under CI=true. A failing test leaves a screenshot of each
of its pages in `.cache/browser/` (named in the failure report).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.app_server import free_port

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".cache" / "browser"
MODEL_CACHE = Path(os.environ.get("ASSISTANT_MODEL_CACHE_DIR", Path.home() / ".cache/assistant/models"))
UNDER_CI = os.environ.get("CI", "").lower() == "true"
VIEWPORT = {"width": 1400, "height": 1000}


def missing(reason: str) -> None:
    """Skip on a developer's machine without the browser; under CI a missing browser is a failure."""
    if UNDER_CI:
        pytest.fail(f"{reason} (CI must install it: see .ci/run)", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the real app in Chromium (tests/browser)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.e2e)  # the default model: `make test-fast` leaves these out


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call" and report.failed:
        pages = [p for c in item.funcargs.get("_contexts", []) for p in c.pages]
        if "page" in item.funcargs:
            pages.insert(0, item.funcargs["page"])
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for i, page in enumerate(pages):
            path = SCREENSHOTS / f"{item.name}-{i}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
                report.sections.append(("screenshot", str(path)))
                # the screenshot stays on the machine that ran the tests; the page's text travels with the report
                report.sections.append((f"page {i} text", page.locator("body").inner_text(timeout=5_000)[:2_000]))
            except Exception as exc:  # noqa: BLE001 - the page may be gone; the failure itself matters more
                report.sections.append(("screenshot", f"none: {exc}"))
        app = item.funcargs.get("app")
        if app is not None and app.log.exists():  # what the server did meanwhile (CI keeps only this report)
            tail = app.log.read_text(errors="replace").splitlines()[-40:]
            report.sections.append(("app log (last 40 lines)", "\n".join(tail)))
    return report


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        missing("Chromium is not installed (apt-get install -y chromium fonts-noto-cjk)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing("playwright is not installed (make install: requirements-dev.txt)")
    return path


# pytest-playwright's fixtures (browser, context, page) launch the OS Chromium, never a downloaded build.
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict, chromium_path: str) -> dict:
    return {**browser_type_launch_args, "executable_path": chromium_path}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "viewport": VIEWPORT, "locale": "en-US"}


@dataclass
class App:
    url: str
    data_dir: Path
    adapters_dir: Path
    log: Path

    def store(self):  # noqa: ANN201 - ConversationStore on the app's own database (SQLite WAL: two processes are fine)
        from assistant.config import Settings
        from assistant.conversations import ConversationStore
        from assistant.db import get_database

        settings = Settings(data_dir=self.data_dir, adapters_dir=self.adapters_dir, model_cache_dir=MODEL_CACHE)
        return ConversationStore(get_database(settings))


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[App]:
    """`python app.py` as `make run` starts it, on a free port, with a data dir of its own."""
    root = tmp_path_factory.mktemp("browser-app")
    adapters = root / "adapters"
    shutil.copytree(ROOT / "adapters", adapters)  # promotions and training stay out of the checkout
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ASSISTANT_DATA_DIR": str(root / "data"),
        "ASSISTANT_ADAPTERS_DIR": str(adapters),
        "ASSISTANT_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "ASSISTANT_PORT": str(port),
        "ASSISTANT_AUTO_INDEX_KNOWLEDGE": "false",
        # Greedy and short: the same question gets the same reply, and the suite stays within its budget.
        "ASSISTANT_TEMPERATURE": "0",
        "ASSISTANT_MAX_NEW_TOKENS": "192",
        # A tool decision is one more generation per turn; the chat's commands (/draw, /calc) need none.
        "ASSISTANT_TOOLS_BY_DEFAULT": "false",
    }
    log = root / "app.log"
    url = f"http://127.0.0.1:{port}"
    process = None
    try:
        for attempt in range(3):
            process = start_app(env, log)
            if wait_until_up(process, url, log):
                break
            # Gradio gives up when its own first request to the page takes over 3 s (a loaded 2-core machine).
            if "localhost is not accessible" not in log.read_text() or attempt == 2:
                pytest.fail(f"app.py exited with {process.returncode}:\n{log.read_text()[-3000:]}", pytrace=False)
        yield App(url, root / "data", adapters, log)
    finally:
        if process is not None:
            stop_app(process)


def start_app(env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_up(process: subprocess.Popen, url: str, log: Path, seconds: float = 300) -> bool:
    """True once the page answers; False when the app exited first."""
    deadline = time.monotonic() + seconds
    while process.poll() is None:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_app(process)
            pytest.fail(f"app.py did not answer in {seconds:.0f} s:\n{log.read_text()[-3000:]}", pytrace=False)
        time.sleep(0.5)
    return False


def stop_app(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
