"""`make run` on a fresh checkout until the first streamed token in the browser: cold, then warm (issue 16).

    .venv/bin/python benchmarks/first_run.py                    # cold + warm, writes benchmarks/results/
    .venv/bin/python benchmarks/first_run.py --pip-cache empty  # no pip wheel cache either (compiles llama.cpp)

It clones the committed HEAD of this repository into a temporary folder (`git clone -q`), and runs `make run` there
with a fresh virtualenv (the Makefile creates `.venv`), a fresh data dir (`ASSISTANT_DATA_DIR`), a fresh converted
model cache (`ASSISTANT_MODEL_CACHE_DIR`; the Makefile only sets it with `?=`) on a free loopback port
(`ASSISTANT_PORT`). Everything else is the app's default (knowledge indexing at start, tools on, sampling).
Chromium from the OS packages (`/usr/bin/chromium`), driven by Playwright with the browser tests' helpers and
selectors (`tests/browser/helpers.py`), opens the page as soon as it answers HTTP, types one short message and
records when the first words of the reply appear on screen. Every time is seconds after `make run` was started:

- install: the Makefile's steps (venv, pip upgrade, torch, requirements-dev.txt), read from make's own echo of
  each recipe line, stamped as it arrives;
- app: the page answers HTTP 200, the message box is on the page, the message is sent;
- model: the footer says the model is loaded, the first streamed text of the reply, the reply is complete.

Then it stops the app and runs `make run` again in the same clone (warm: venv installed, model converted, data dir
kept) and measures the same. It prints a Markdown table and writes JSON to benchmarks/results/first_run_<date>.json.

pip's caches: `--pip-cache copy` (default) gives pip a cache folder of its own holding a copy of
`~/.cache/pip/wheels` (the wheels pip built before; here that is llama-cpp-python, which PyPI has only as source
and which takes ~11 min to compile on 2 cores) and an empty HTTP cache, so every wheel that comes from PyPI is
really downloaded, and the shared cache is left as it was. `--pip-cache empty` leaves out the built wheels too.
Whatever the mode, pip still reads this machine's local indexes (`pip config list`: `/opt/wheels`,
`file:///opt/pypi/simple`, …): what comes from there is counted separately from the downloads (pip's `--log`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from tests.app_server import free_port  # noqa: E402
from tests.browser.helpers import TURN_DONE, open_app, send  # noqa: E402

MESSAGE = "Say hello in five words."
CHROMIUM = "/usr/bin/chromium"
RESULTS = REPO / "benchmarks" / "results"

# make echoes each recipe line before running it: the echo of the next line stamps the end of the previous one.
MAKE_STEPS: list[tuple[str, str]] = [
    ("venv created", "-m pip install --quiet --upgrade pip"),
    ("pip upgraded", "-m pip install --quiet torch=="),
    ("torch installed", "-m pip install --quiet -r requirements-dev.txt"),
    ("requirements installed", "touch .venv/.installed"),
    ("install done, app.py started", "/bin/python app.py"),
]
PHASES = [name for name, _ in MAKE_STEPS] + [
    "page answers HTTP",
    "message box on the page",
    "message sent",
    "model loaded (footer)",
    "first streamed token",
    "reply complete",
]

# On screen: the newest bot bubble, its text, and whether it is still a status line (italic, e.g. "searching…").
READ_PAGE_JS = """() => {
  const bots = [...document.querySelectorAll('#chatbot [data-testid=bot]')];
  const b = bots.pop();
  const footer = document.querySelector('#footer');
  const status = document.querySelector('#chat-status');
  return {
    bot: b ? b.innerText : null,
    bot_is_status: b ? !!b.querySelector('em') : false,
    footer: footer ? footer.innerText : '',
    status: status ? status.innerText : '',
  };
}"""


@dataclass
class Run:
    name: str
    phases: dict[str, float] = field(default_factory=dict)
    footer: str = ""
    status: str = ""
    first_text: str = ""
    reply: str = ""
    load_min: float = 0.0
    load_max: float = 0.0
    exit_code: int | None = None
    error: str = ""
    log_tail: str = ""
    pip: dict[str, object] = field(default_factory=dict)


class MakeRun:
    """`make run` in its own session; a thread stamps every output line with the seconds since the start."""

    def __init__(self, clone: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.lines: list[tuple[float, str]] = []
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            ["make", "run"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.log.open("a", encoding="utf-8") as out:
            for raw in self.process.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                t = self.elapsed()
                self.lines.append((t, line))
                out.write(f"[{t:8.1f} s] {line}\n")
                out.flush()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def first_line(self, needle: str) -> float | None:
        return next((t for t, line in list(self.lines) if needle in line), None)

    def tail(self, n: int = 60) -> str:
        return "\n".join(f"[{t:8.1f} s] {line}" for t, line in list(self.lines)[-n:])

    def stop(self) -> None:
        """SIGTERM to make and app.py (one process group), SIGKILL after 30 s."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # app.py may outlive make (make exits on the signal first): the group is gone only when empty.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.reader.join(timeout=10)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, object]:
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next(
            (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
             if line.startswith("model name")), "",
        )
    mem_kb = 0
    with contextlib.suppress(OSError, StopIteration, ValueError):
        mem_kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                          if line.startswith("MemTotal")).split()[1])
    gpu = shutil.which("nvidia-smi") is not None
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_kb / 2**20, 1), "nvidia_smi": gpu,
            "python": platform.python_version(), "kernel": platform.release()}


def net_rx_bytes() -> int:
    """Bytes received on every non-loopback interface (machine-wide: other work downloads too)."""
    total = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/dev").read_text().splitlines()[2:]:
            name, data = line.split(":", 1)
            if name.strip() != "lo":
                total += int(data.split()[0])
    return total


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) if path.exists() else 0


SIZE = re.compile(r"\(([\d.]+) (bytes|kB|MB|GB)\)\s*$")
UNITS = {"bytes": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def pip_sources(log: Path) -> dict[str, object]:
    """What pip's --log says it fetched: downloads from an index over the network (with the sizes pip printed),
    files from this machine's local indexes and find-links, and wheels from pip's own cache."""
    downloads: list[tuple[str, float]] = []
    local: list[str] = []
    cached: list[str] = []
    if log.exists():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            text = line.split(" ", 1)[1].strip() if line[:4].isdigit() and " " in line else line.strip()
            if text.startswith("Downloading "):
                m = SIZE.search(text)
                downloads.append((text.split()[1], float(m.group(1)) * UNITS[m.group(2)] if m else 0.0))
            elif text.startswith("Using cached ") and not text.startswith("Using cached wheel link"):
                cached.append(text.split()[2])
            elif text.startswith("Processing "):
                target = text.split()[1]
                (cached if "/.cache/pip" in target or "pip-cache" in target else local).append(Path(target).name)
    local_bytes = 0
    for name in local:
        for root in (Path("/opt/wheels"), Path("/opt/pypi/files"), Path("/opt/pypi-more/files")):
            if (root / name).exists():
                local_bytes += (root / name).stat().st_size
                break
    return {
        "downloaded_files": len(downloads),
        "downloaded_mb": round(sum(size for _, size in downloads) / 1e6, 1),
        "largest_downloads": [f"{n} ({s / 1e6:.1f} MB)" for n, s in sorted(downloads, key=lambda d: -d[1])[:8]],
        "local_index_files": len(local),
        "local_index_mb": round(local_bytes / 1e6, 1),
        "local_index_largest": sorted(local, key=lambda n: -_local_size(n))[:5],
        "pip_cache_wheels": sorted(set(cached)),
    }


def _local_size(name: str) -> int:
    for root in (Path("/opt/wheels"), Path("/opt/pypi/files"), Path("/opt/pypi-more/files")):
        if (root / name).exists():
            return (root / name).stat().st_size
    return 0


def wait_http(make: MakeRun, url: str, deadline_s: float, tick: Callable[[], None]) -> bool:
    """Poll the page until it answers 200; False when make exited first or the deadline passed."""
    while make.process.poll() is None and make.elapsed() < deadline_s:
        tick()
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def measure(name: str, clone: Path, env: dict[str, str], log: Path, browser: Browser, args: argparse.Namespace) -> Run:
    run = Run(name)
    loads: list[float] = []

    def tick() -> None:
        loads.append(os.getloadavg()[0])

    url = f"http://127.0.0.1:{env['ASSISTANT_PORT']}"
    rx_before = net_rx_bytes()
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n===== {name}: make run at {dt.datetime.now().isoformat(timespec='seconds')} =====\n")
    make = MakeRun(clone, env, log)
    context = None
    try:
        up = wait_http(make, url, args.install_timeout_s + args.start_timeout_s, tick)
        for phase, needle in MAKE_STEPS:
            t = make.first_line(needle)
            if t is not None:
                run.phases[phase] = round(t, 1)
        run.pip["net_rx_mb_machine_wide_until_page"] = round((net_rx_bytes() - rx_before) / 1e6, 1)
        if not up:
            run.exit_code = make.process.poll()
            run.error = (f"make run exited with {run.exit_code} before the page answered" if run.exit_code is not None
                         else "the page did not answer in time")
            return run
        run.phases["page answers HTTP"] = round(make.elapsed(), 1)

        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
        page: Page = context.new_page()
        open_app(page, url)
        run.phases["message box on the page"] = round(make.elapsed(), 1)
        send(page, MESSAGE, wait=False)  # the helper returns once the user's message is on screen
        run.phases["message sent"] = round(make.elapsed(), 1)

        deadline = make.elapsed() + args.turn_timeout_s
        while make.elapsed() < deadline:
            tick()
            if make.process.poll() is not None:
                run.exit_code = make.process.returncode
                run.error = f"make run exited with {run.exit_code} during the first turn"
                break
            seen = page.evaluate(READ_PAGE_JS)
            now = round(make.elapsed(), 1)
            if "model loaded (footer)" not in run.phases and "loaded in" in seen["footer"]:
                run.phases["model loaded (footer)"] = now
                run.footer = seen["footer"].strip()
            text = (seen["bot"] or "").strip()
            if "first streamed token" not in run.phases and text and not seen["bot_is_status"]:
                run.phases["first streamed token"] = now
                run.first_text = text[:200]
            if "reply complete" not in run.phases and TURN_DONE.search(seen["status"] or ""):
                run.phases["reply complete"] = now
                run.status = seen["status"].strip()
                run.reply = text[:500]
                deadline = min(deadline, make.elapsed() + 30)  # the footer follows on its own timer
            if "reply complete" in run.phases and "model loaded (footer)" in run.phases:
                break
            time.sleep(0.1)
        if "reply complete" not in run.phases:
            run.error = run.error or f"no complete reply within {args.turn_timeout_s:.0f} s of sending"
        if not run.footer:
            run.footer = page.evaluate(READ_PAGE_JS)["footer"].strip()
    except Exception as exc:  # noqa: BLE001 - keep what was measured, and say what broke
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        if context is not None:
            with contextlib.suppress(Exception):
                context.close()
        run.exit_code = make.process.poll() if run.exit_code is None else run.exit_code
        run.log_tail = make.tail()
        make.stop()
        run.load_min = round(min(loads), 2) if loads else 0.0
        run.load_max = round(max(loads), 2) if loads else 0.0
    return run


def table(runs: list[Run]) -> str:
    head = "| seconds after `make run` | " + " | ".join(r.name for r in runs) + " |"
    rows = [head, "|---|" + "---:|" * len(runs)]
    for phase in PHASES:
        cells = [f"{r.phases[phase]:.1f}" if phase in r.phases else "—" for r in runs]
        if any(c != "—" for c in cells):
            label = f"**{phase}**" if phase == "first streamed token" else phase
            rows.append(f"| {label} | " + " | ".join(cells) + " |")
    loads = " | ".join(f"{r.load_min}–{r.load_max}" for r in runs)
    rows.append(f"| load average (1 min) during the run | {loads} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip-cache", choices=["copy", "empty"], default="copy",
                        help="copy: pip gets a copy of ~/.cache/pip/wheels and an empty HTTP cache; empty: neither")
    parser.add_argument("--install-timeout-s", type=float, default=3600)
    parser.add_argument("--start-timeout-s", type=float, default=900)
    parser.add_argument("--turn-timeout-s", type=float, default=1800)
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone (venv, data, model cache)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON path (default benchmarks/results/first_run_<date>.json)")
    args = parser.parse_args()

    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (apt-get install -y chromium)", file=sys.stderr)
        return 2
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    load_before = loadavg()
    tmp = Path(tempfile.mkdtemp(prefix="first-run-"))
    clone = tmp / "repo"
    log = tmp / "make-run.log"
    pip_cache = tmp / "pip-cache"
    pip_log = tmp / "pip.log"
    print(f"clone of {commit[:10]} in {clone}; load average {load_before}; log: {log}", flush=True)
    runs: list[Run] = []
    try:
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        pip_cache.mkdir()
        wheels = Path.home() / ".cache" / "pip" / "wheels"
        if args.pip_cache == "copy" and wheels.exists():
            shutil.copytree(wheels, pip_cache / "wheels")
        venv_bin = str(REPO / ".venv" / "bin")
        env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("ASSISTANT_", "GRADIO_", "PIP_CACHE", "PIP_LOG", "VIRTUAL_ENV", "PYTHON"))
        }
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
        env.update({
            "ASSISTANT_DATA_DIR": str(tmp / "data"),
            "ASSISTANT_MODEL_CACHE_DIR": str(tmp / "models"),
            "ASSISTANT_PORT": str(free_port()),
            "PIP_CACHE_DIR": str(pip_cache),
            "PIP_LOG": str(pip_log),  # appended by every pip call of the Makefile: what came from where
        })
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                for name in ("cold", "warm"):
                    print(f"{name}: make run …", flush=True)
                    run = measure(name, clone, env, log, browser, args)
                    if name == "cold":
                        run.pip.update(pip_sources(pip_log))
                        run.pip["venv_mb"] = round(dir_bytes(clone / ".venv") / 1e6, 1)
                        run.pip["model_cache_mb"] = round(dir_bytes(tmp / "models") / 1e6, 1)
                    runs.append(run)
                    error = f"  ERROR: {run.error}" if run.error else ""
                    print(f"{name}: {json.dumps(run.phases)}{error}", flush=True)
                    if run.error:
                        print(run.log_tail, flush=True)
            finally:
                browser.close()
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    load_after = loadavg()

    print()
    print(table(runs))
    print(f"\nload average before {load_before}, after {load_after}; commit {commit[:10]}")
    for run in runs:
        if run.pip:
            print(f"{run.name} pip: {json.dumps(run.pip)}")
    date = dt.date.today().isoformat()
    out = args.out or RESULTS / f"first_run_{date}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "date": date,
        "commit": commit,
        "message": MESSAGE,
        "pip_cache": args.pip_cache,
        "machine": machine(),
        "load_before": load_before,
        "load_after": load_after,
        "runs": [asdict(r) for r in runs],
    }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0 if runs and all(not r.error for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
