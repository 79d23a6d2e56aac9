"""Load test: N users, each its own gradio_client session, chat, vote and switch adapters against the real app.

    .venv/bin/python benchmarks/load.py                      # 8 users x 5 minutes, default model, llama.cpp on CPU
    .venv/bin/python benchmarks/load.py --users 2 --minutes 1 --out /tmp/load.json

It starts `python app.py` on a free loopback port with a fresh data dir (so nothing of yours is touched), waits for
the model, then runs every user in its own thread until the time is up (each user finishes the turn it is in; a
turn never starts after the deadline). Each turn asks the model to repeat a token unique to that user and turn
(`LT<user>x<turn>`), with a short `max_new_tokens`; every few turns a user switches adapter, and it votes on each
reply. At the end it checks, for every user:

- failed requests: an exception, an error status from the app, or a reply missing;
- cross-talk: any other user's token in that user's replies, in its history as the app loads it back (`/load`),
  or in the database rows of its conversations; and its own tokens all present in its history, in order.

It prints (and with --out writes) p50/p95 of the turn latency and of the queue wait (submit until the app's
first streamed update, which it yields before any model work), votes, adapter switches, and the verdict.
Exit status 0 only with 0 failures and 0 cross-talk.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
TOKEN = re.compile(r"LT(\d+)x(\d+)")
ADAPTERS = ["default (promoted)", "base model"]  # plus the shipped adapters found at start
SYSTEM = "You repeat exactly what you are asked to repeat, nothing else."


@dataclass
class UserStats:
    user: int
    turns: int = 0
    latencies: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    crosstalk: list[str] = field(default_factory=list)
    echoed: int = 0
    votes: int = 0
    vote_failures: list[str] = field(default_factory=list)
    switches: int = 0
    browser: str = ""
    tokens: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def last_reply(chatbot: object) -> str:
    """The text of the last assistant message in a Chatbot value as gradio_client returns it."""
    value = chatbot.get("value", chatbot) if isinstance(chatbot, dict) else chatbot
    for message in reversed(value or []):
        if isinstance(message, dict) and message.get("role") == "assistant":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(c.get("text", c)) if isinstance(c, dict) else str(c) for c in content)
            return str(content)
    return ""


def start_app(data_dir: Path, port: int, log_path: Path, env_extra: dict) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(ASSISTANT_DATA_DIR=str(data_dir), ASSISTANT_PORT=str(port), ASSISTANT_HOST="127.0.0.1",
               ASSISTANT_AUTO_INDEX_KNOWLEDGE="false", PYTHONPATH=str(REPO), **env_extra)
    env.setdefault("ASSISTANT_MODEL_CACHE_DIR", str(Path.home() / ".cache/assistant/models"))
    log = open(log_path, "w")  # noqa: SIM115 - lives as long as the app
    return subprocess.Popen([sys.executable, "app.py"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)


def wait_ready(proc: subprocess.Popen, url: str, log_path: Path, timeout: float = 600) -> float:
    """Wait until a chat turn works (the model is loaded); returns the seconds it took."""
    from gradio_client import Client

    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the app exited:\n" + log_path.read_text()[-3000:])
        try:
            httpx.get(url, timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(1)
    client = Client(url, verbose=False)
    browser = client.predict(None, api_name="/load")[0]
    while time.monotonic() < deadline:
        out = client.predict("Say OK.", browser, "default (promoted)", "direct", "off", False, 0.0, 0.9, 40, 16, 1.05,
                             SYSTEM, api_name="/chat")
        if last_reply(out[0]):
            return time.monotonic() - started
        time.sleep(2)
    raise TimeoutError("the app did not answer a chat turn in time")


def vote(base: str, session_hash: str, fn_index: int, browser: str, index: int, liked: bool,
         cookies: dict | None = None) -> dict:
    """The 👍/👎 event as the browser sends it: the like event's data names the message index in the chatbot."""
    body = {"data": [None, "", browser], "fn_index": fn_index, "session_hash": session_hash,
            "event_data": {"index": index, "value": "", "liked": liked}}
    response = httpx.post(f"{base}/gradio_api/run/vote", json=body, timeout=60, cookies=cookies)
    response.raise_for_status()
    return response.json()


def run_user(stats: UserStats, url: str, deadline: float, max_new_tokens: int, adapters: list[str],
             vote_fn_index: int, switch_every: int, rng: random.Random) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    stats.browser = client.predict(None, api_name="/load")[0]
    adapter = adapters[stats.user % len(adapters)]
    turn = 0
    while time.monotonic() < deadline:
        turn += 1
        if turn > 1 and turn % switch_every == 0:
            adapter = adapters[(adapters.index(adapter) + 1) % len(adapters)]
            stats.switches += 1
        token = f"LT{stats.user}x{turn}"
        prompt = f"Repeat exactly this code and nothing else: {token}"
        submitted = time.monotonic()
        first = None
        outputs = None
        try:
            job = client.submit(prompt, stats.browser, adapter, "direct", "off", False, 0.0, 0.9, 40,
                                max_new_tokens, 1.05, SYSTEM, api_name="/chat")
            for _update in job:
                if first is None:
                    first = time.monotonic()
            outputs = job.outputs()[-1] if job.outputs() else None
        except Exception as exc:  # noqa: BLE001 - every failure is counted and named
            stats.failures.append(f"turn {turn}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        done = time.monotonic()
        stats.turns += 1
        stats.tokens.append(token)
        status = str(outputs[-1]) if outputs else ""
        reply = last_reply(outputs[0]) if outputs else ""
        if not outputs or status.startswith("⚠️") or not reply:
            stats.failures.append(f"turn {turn}: status {status[:200]!r}, reply {reply[:80]!r}")
            continue
        stats.latencies.append(done - submitted)
        stats.waits.append((first or done) - submitted)
        others = [m.group(0) for m in TOKEN.finditer(json.dumps(outputs[0], ensure_ascii=False))
                  if int(m.group(1)) != stats.user]
        if others:
            stats.crosstalk.append(f"turn {turn}: reply/history shows {others[:5]}")
        if token in reply:
            stats.echoed += 1
        chat_value = outputs[0].get("value", outputs[0]) if isinstance(outputs[0], dict) else outputs[0]
        try:
            result = vote(url.rstrip("/"), client.session_hash, vote_fn_index, stats.browser,
                          len(chat_value) - 1, rng.random() < 0.5)
            vote_status = str(result.get("data", ["", ""])[-1])
            if "saved" not in vote_status:
                stats.vote_failures.append(f"turn {turn}: {vote_status[:200]}")
            else:
                stats.votes += 1
        except Exception as exc:  # noqa: BLE001
            stats.vote_failures.append(f"turn {turn}: {type(exc).__name__}: {str(exc)[:200]}")
    # The history as the app loads it back for this browser: only this user's tokens, all of them, in order.
    try:
        loaded = client.predict(stats.browser, api_name="/load")
        found = [m.group(0) for m in TOKEN.finditer(json.dumps(loaded, ensure_ascii=False))]
        foreign = [t for t in found if not t.startswith(f"LT{stats.user}x")]
        if foreign:
            stats.crosstalk.append(f"/load shows other users' tokens {foreign[:5]}")
        own_order = list(dict.fromkeys(t for t in found if t not in foreign))
        if own_order != stats.tokens:
            missing = [t for t in stats.tokens if t not in own_order]
            stats.failures.append(f"history: {len(own_order)} of {len(stats.tokens)} turns, missing {missing[:5]}")
    except Exception as exc:  # noqa: BLE001
        stats.failures.append(f"/load: {type(exc).__name__}: {exc}")


def check_database(db_path: Path, users: list[UserStats]) -> list[str]:
    """Every message carrying user i's token lies in a conversation that belongs to user i's owner alone."""
    problems = []
    with sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT c.owner, m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                          "WHERE m.role = 'user'").fetchall()
    owners: dict[int, set[str]] = {}
    for owner, content in rows:
        for m in TOKEN.finditer(content):
            owners.setdefault(int(m.group(1)), set()).add(owner)
    for stats in users:
        seen = owners.get(stats.user, set())
        if len(seen) > 1:
            problems.append(f"user {stats.user}'s messages are stored under {len(seen)} owners")
    all_owners = [next(iter(o)) for o in owners.values() if len(o) == 1]
    if len(set(all_owners)) != len(all_owners):
        problems.append("two users' messages are stored under one owner")
    return problems


def vote_fn_index(url: str) -> int:
    config = httpx.get(f"{url.rstrip('/')}/config", timeout=30).json()
    for dep in config["dependencies"]:
        if dep.get("api_name") == "vote":
            return dep["id"]
    raise RuntimeError("the app has no vote endpoint")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--switch-every", type=int, default=3, help="turns between adapter switches")
    parser.add_argument("--url", help="an app already running (default: start one on a free port)")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="assistant-load-"))
    proc = None
    url = args.url
    ready_s = 0.0
    try:
        if url is None:
            port = free_port()
            url = f"http://127.0.0.1:{port}/"
            proc = start_app(workdir / "data", port, workdir / "app.log", {})
            ready_s = wait_ready(proc, url, workdir / "app.log")
            print(f"app ready in {ready_s:.0f} s at {url} (data dir {workdir / 'data'})", flush=True)
        shipped = sorted(p.name for p in (REPO / "adapters").iterdir() if (p / "adapter_config.json").exists()
                         and p.name in ("concise", "zh-tutor"))
        adapters = ADAPTERS + shipped
        fn_index = vote_fn_index(url)
        users = [UserStats(i) for i in range(args.users)]
        started = time.monotonic()
        deadline = started + args.minutes * 60
        threads = [threading.Thread(target=run_user, name=f"user-{u.user}",
                                    args=(u, url, deadline, args.max_new_tokens, adapters, fn_index,
                                          args.switch_every, random.Random(u.user)))
                   for u in users]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - started
        db_problems = check_database(workdir / "data" / "assistant.db", users) if proc is not None else []
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    latencies = [x for u in users for x in u.latencies]
    waits = [x for u in users for x in u.waits]
    turns = sum(u.turns for u in users)
    result = {
        "users": args.users, "minutes": args.minutes, "wall_s": round(wall, 1), "app_ready_s": round(ready_s, 1),
        "max_new_tokens": args.max_new_tokens, "adapters": adapters, "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "turns": turns, "turns_per_minute": round(turns / (wall / 60), 1),
        "failed_requests": sum(len(u.failures) + len(u.vote_failures) for u in users),
        "crosstalk": sum(len(u.crosstalk) for u in users) + len(db_problems),
        "votes": sum(u.votes for u in users), "adapter_switches": sum(u.switches for u in users),
        "echoed_own_token": sum(u.echoed for u in users),
        "latency_s": {"p50": round(percentile(latencies, 0.5), 2), "p95": round(percentile(latencies, 0.95), 2),
                      "max": round(max(latencies, default=float("nan")), 2),
                      "mean": round(statistics.fmean(latencies), 2) if latencies else None},
        "queue_wait_s": {"p50": round(percentile(waits, 0.5), 2), "p95": round(percentile(waits, 0.95), 2),
                         "max": round(max(waits, default=float("nan")), 2)},
        "per_user_turns": [u.turns for u in users],
        "problems": [f"user {u.user}: {p}" for u in users for p in u.failures + u.vote_failures + u.crosstalk]
        + db_problems,
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    if not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"kept {workdir}")
    return 0 if result["failed_requests"] == 0 and result["crosstalk"] == 0 and turns else 1


if __name__ == "__main__":
    sys.exit(main())
