"""Identity that lasts and cannot be borrowed: the browser id survives a restart (the secret lives in the data
dir), a client cannot claim another browser's conversations by sending its id, and with accounts the owner is the
logged-in user whatever the client sends."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import pytest
from safetensors.numpy import save_file

from assistant.security import BROWSER_COOKIE, Identity, load_or_create_secret
from assistant.services import Services
from assistant.ui.chat_tab import COOKIE_MARKER
from assistant.users import UserStore
from tests.app_server import make_settings, start

OPTIONS = ["default (promoted)", "direct", "auto", True, 0.7, 0.9, 40, 512, 1.05, "be brief"]
REPO = Path(__file__).resolve().parents[1]


def conversation_ids(outputs: list) -> list[str]:
    return [value for _, value in outputs[1]["choices"]]


def browser_state_secret(app: gr.Blocks) -> str:
    states = [b for b in app.blocks.values() if isinstance(b, gr.BrowserState)]
    assert len(states) == 1
    return states[0].secret


# --- the secret ----------------------------------------------------------------------------------------
def test_secret_is_created_once_private_and_shared_by_racing_threads(tmp_path):
    results = []
    threads = [threading.Thread(target=lambda: results.append(load_or_create_secret(tmp_path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results[0]) >= 64
    mode = stat.S_IMODE((tmp_path / "secret.key").stat().st_mode)
    assert mode == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name != "secret.key"]  # no temp file left behind
    assert load_or_create_secret(tmp_path) == results[0]


def test_a_loose_secret_file_is_made_private(tmp_path):
    load_or_create_secret(tmp_path)
    os.chmod(tmp_path / "secret.key", 0o644)
    load_or_create_secret(tmp_path)
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


def test_the_data_dir_and_the_database_are_closed_to_other_local_users(tmp_path):
    """A hostile probe read every user's chats and the password hashes from a 0644 assistant.db in a 0755 dir."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "assistant", "users", "add", "bob", "--password-stdin"], env=env,
                          input="a-long-password\n", capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    written = [path for path in data.rglob("*") if path.is_file()]
    assert any(path.name == "assistant.db" for path in written)
    assert all(stat.S_IMODE(path.stat().st_mode) & 0o077 == 0 for path in written), [
        (path.name, oct(path.stat().st_mode)) for path in written]


def test_another_process_derives_the_same_identity(tmp_path):
    ours = Identity.for_data_dir(tmp_path)
    token = ours.new_token()
    code = ("import sys; from pathlib import Path; from assistant.security import Identity; "
            "i = Identity.for_data_dir(Path(sys.argv[1])); print(i.browser_state_secret, i.verify(sys.argv[2]))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path), token], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, check=True).stdout.split()
    assert out == [ours.browser_state_secret, ours.verify(token)]


def test_tokens_are_signed():
    identity = Identity(b"k" * 32, "s" * 32)
    token = identity.new_token()
    raw = identity.verify(token)
    assert raw and token.startswith(raw)
    assert identity.verify(raw) is None  # the bare id, as stored in the database
    assert identity.verify(f"{raw}.{'0' * 32}") is None
    assert identity.verify(f"{raw[:-1]}x.{token.split('.')[1]}") is None
    assert Identity(b"other" * 8, "s" * 32).verify(token) is None
    for junk in (None, 42, "", ".", "a.b.c", "x" * 500, ["list"]):
        assert identity.verify(junk) is None


# --- through the running app ------------------------------------------------------------------------------
def test_identity_survives_a_restart(tmp_path):
    settings = make_settings(tmp_path)
    first = start(Services(settings))
    try:
        token = first.call("load", [None])[0]
        created = first.call("new_conversation", [token, *OPTIONS])
        conv_id = created[1]["value"]
        secret_before = browser_state_secret(first.app)
    finally:
        first.close()
    second = start(Services(make_settings(tmp_path)))  # a new process would read the same data dir
    try:
        assert browser_state_secret(second.app) == secret_before
        outputs = second.call("load", [token])
        assert outputs[0] == token  # the browser keeps its id
        assert conversation_ids(outputs) == [conv_id]
    finally:
        second.close()


def test_a_client_cannot_borrow_another_browsers_id(tmp_path):
    settings = make_settings(tmp_path)
    services = Services(settings)
    server = start(services)
    try:
        victim = server.call("load", [None])[0]
        conv_id = server.call("new_conversation", [victim, *OPTIONS])[1]["value"]
        services.conversations.add_message(conv_id, "user", "my bank PIN is 4321")
        raw = Identity.for_data_dir(settings.data_dir).verify(victim)
        assert services.conversations.list(f"browser:{raw}")  # what a leaked database row would reveal
        for claimed in (raw, f"{raw}.{'0' * 32}", f"{raw}.", victim.split(".")[1]):
            outputs = server.call("load", [claimed])
            assert outputs[0] != claimed and outputs[0] != victim  # a fresh identity instead
            assert conversation_ids(outputs) == []
            # Naming the conversation directly does not help either.
            opened = server.call("open_conversation", [conv_id, claimed], errors=True)
            assert "4321" not in str(opened)
        assert conversation_ids(server.call("load", [victim])) == [conv_id]  # the owner still sees it
    finally:
        server.close()


@pytest.fixture()
def accounts_server(tmp_path):
    settings = make_settings(tmp_path)
    services = Services(settings)
    users = UserStore(services.db)
    users.add("alice", "alice-password-1", "user")
    users.add("bob", "bob-password-1", "user")
    users.add("root", "root-password-1", "admin")
    adapter = settings.adapters_dir / "keepme"  # a complete-looking adapter, so the UI lists it
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"target_modules": ["q_proj"]}')
    save_file({"x": np.zeros(1, dtype=np.float32)}, str(adapter / "adapter_model.safetensors"))
    (adapter / "card.json").write_text('{"name": "keepme", "description": "test"}')
    server = start(services)
    yield server, services
    server.close()


def test_with_accounts_the_owner_is_the_logged_in_user(accounts_server):
    server, services = accounts_server
    with pytest.raises(httpx.HTTPStatusError):
        server.call("load", [None])  # no login, no API
    with pytest.raises(PermissionError):
        server.login("alice", "wrong-password")
    alice = server.login("alice", "alice-password-1")
    token = server.call("load", [None], cookies=alice)[0]
    conv_id = server.call("new_conversation", [token, *OPTIONS], cookies=alice)[1]["value"]
    services.conversations.add_message(conv_id, "user", "alice's secret plan")
    assert services.conversations.list("user:alice")  # stored under the account, not the browser id
    bob = server.login("bob", "bob-password-1")
    raw = Identity.for_data_dir(services.settings.data_dir).verify(token)
    for claimed in (token, None, "alice", "user:alice", raw):
        outputs = server.call("load", [claimed], cookies=bob)
        assert conversation_ids(outputs) == []
        assert "secret plan" not in str(server.call("open_conversation", [conv_id, claimed], cookies=bob, errors=True))
    assert conversation_ids(server.call("load", [None], cookies=alice)) == [conv_id]  # from any browser


def test_admin_only_actions_check_the_logged_in_role(accounts_server):
    server, services = accounts_server
    adapter = services.settings.adapters_dir / "keepme"
    bob = server.login("bob", "bob-password-1")
    outputs = server.call("delete_adapter", ["keepme"], cookies=bob)
    assert "only an admin" in str(outputs)
    assert adapter.exists()
    outputs = server.call("export_feedback", ["jsonl"], cookies=bob)
    assert outputs[0] is None and "only an admin" in str(outputs)
    outputs = server.call("rollback_adapter", ["keepme"], cookies=bob)
    assert "only an admin" in str(outputs)
    root = server.login("root", "root-password-1")
    outputs = server.call("delete_adapter", ["keepme"], cookies=root)
    assert "only an admin" not in str(outputs) and "deleted" in str(outputs)
    assert not adapter.exists()


# --- the identity cookie ----------------------------------------------------------------------------------
def test_the_page_sets_a_signed_http_only_cookie_once(tmp_path):
    settings = make_settings(tmp_path)
    server = start(Services(settings))
    identity = Identity.for_data_dir(settings.data_dir)
    try:
        with httpx.Client(base_url=server.base, timeout=60) as client:
            first = client.get("/")
            header = first.headers.get("set-cookie", "")
            assert header.startswith(f"{BROWSER_COOKIE}=") and "HttpOnly" in header and "SameSite=Lax" in header
            token = client.cookies[BROWSER_COOKIE]
            assert identity.verify(token) is not None
            assert "set-cookie" not in client.get("/").headers  # a valid cookie is kept, not replaced
        forged = httpx.Cookies({BROWSER_COOKIE: f"{token.split('.')[0]}.{'0' * 32}"})
        with httpx.Client(base_url=server.base, cookies=forged, timeout=60) as client:
            renewed = client.get("/").cookies[BROWSER_COOKIE]
            assert renewed != forged[BROWSER_COOKIE] and identity.verify(renewed) is not None
    finally:
        server.close()


def test_the_cookie_is_the_identity_and_takes_over_an_earlier_local_storage_one(tmp_path):
    settings = make_settings(tmp_path)
    services = Services(settings)
    server = start(services)
    identity = Identity.for_data_dir(settings.data_dir)
    try:
        legacy = server.call("load", [None])[0]  # an identity of the localStorage days, with a conversation
        conv_id = server.call("new_conversation", [legacy, *OPTIONS])[1]["value"]
        cookie = httpx.Cookies({BROWSER_COOKIE: identity.new_token()})
        # The same browser after the update: its cookie, and the old id the page still read from localStorage.
        outputs = server.call("load", [legacy], cookies=cookie)
        # localStorage is rewritten with a marker: the token itself stays in the HttpOnly cookie
        assert outputs[0] == COOKIE_MARKER and identity.verify(outputs[0]) is None
        assert conversation_ids(outputs) == [conv_id]
        # From now on the cookie alone is enough, whatever (or nothing) the page sends beside it…
        for sent in (None, legacy, identity.new_token()):
            assert conversation_ids(server.call("load", [sent], cookies=cookie)) == [conv_id]
        # …and the old id holds nothing any more.
        assert conversation_ids(server.call("load", [legacy])) == []
        other = httpx.Cookies({BROWSER_COOKIE: identity.new_token()})
        assert conversation_ids(server.call("load", [None], cookies=other)) == []
    finally:
        server.close()


def test_new_conversation_through_the_api_is_size_checked_and_counted_against_the_rate(tmp_path):
    """A second hostile probe: `new_conversation` stored a 5 MB system prompt per call, as fast as it was called
    (50 MB in 2 s). The store now refuses a system prompt over 20,000 characters, and each call is a turn of the
    per-user rate."""
    from assistant import limits

    limits.reset()
    server = start(Services(make_settings(tmp_path, chat_rate_per_minute=2, chat_burst=2)))
    try:
        token = server.call("load", [None])[0]
        huge = server.call("new_conversation", [token, *OPTIONS[:-1], "x" * 20_001], errors=True)
        assert huge[0] == "error" and "at most 20,000" in huge[1], huge
        assert server.call("new_conversation", [token, *OPTIONS])[1]["value"]  # the second of a burst of two
        over = server.call("new_conversation", [token, *OPTIONS], errors=True)
        assert over[0] == "error" and "too many" in over[1], over
        outputs = server.call("load", [token])
        assert len(conversation_ids(outputs)) == 1
    finally:
        server.close()
        limits.reset()
