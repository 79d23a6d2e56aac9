"""Accounts (argon2 hashes, roles, the `users` CLI, Gradio's auth function) and where the app may listen."""

from __future__ import annotations

import io
import json

import pytest

import assistant.cli as cli
from assistant.db import Database, User
from assistant.security import BindRefused, check_binding, is_loopback
from assistant.users import UserError, UserStore, make_auth, role_of
from tests.app_server import make_settings


@pytest.fixture()
def settings(tmp_path):
    return make_settings(tmp_path)


@pytest.fixture()
def store(settings):
    settings.ensure_dirs()
    return UserStore(Database.for_url(settings.db_url))


def run_cli(monkeypatch, settings, argv: list[str], stdin: str = "") -> int:
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return cli.main(argv)


# --- the store --------------------------------------------------------------------------------------------
def test_passwords_are_stored_as_argon2_hashes(store):
    store.add("alice", "correct horse battery")
    with store.db.session() as s:
        stored = s.get(User, "alice").password_hash
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert store.verify("alice", "correct horse battery")
    assert not store.verify("alice", "correct horse battery ")
    assert not store.verify("alice", "")
    assert not store.verify("nobody", "correct horse battery")
    assert not store.verify("../alice", "correct horse battery")
    assert not store.verify("alice", "x" * 100_000)


@pytest.mark.parametrize(("name", "password", "message"), [
    ("", "long enough pw", "invalid user name"),
    ("../root", "long enough pw", "invalid user name"),
    ("a/b", "long enough pw", "invalid user name"),
    ("x" * 65, "long enough pw", "invalid user name"),
    ("carol", "short", "at least 8"),
    ("carol", "nul\x00inside-pw", "NUL"),
])
def test_bad_accounts_are_refused(store, name, password, message):
    with pytest.raises(UserError, match=message):
        store.add(name, password)
    assert store.count() == 0


def test_roles_and_the_last_admin(store):
    store.add("root", "root-password", "admin")
    store.add("bob", "bob-password")
    assert store.role("root") == "admin" and store.role("bob") == "user" and store.role("nobody") is None
    with pytest.raises(UserError, match="already exists"):
        store.add("bob", "another-password")
    with pytest.raises(UserError, match="last admin"):
        store.delete("root")
    with pytest.raises(UserError, match="last admin"):
        store.set_role("root", "user")
    store.set_role("bob", "admin")
    store.delete("root")
    assert [u["name"] for u in store.list()] == ["bob"]


def test_auth_function_and_roles_with_the_legacy_pair(store):
    store.add("alice", "alice-password")
    check = make_auth(store, "ops:legacy-secret")
    assert check("alice", "alice-password") and check("ops", "legacy-secret")
    assert not check("ops", "wrong") and not check("alice", "legacy-secret")
    assert role_of(store, "ops:legacy-secret", "ops") == "admin"
    assert role_of(store, "ops:legacy-secret", "alice") == "user"
    assert role_of(store, None, None) == "user"  # accounts exist: no login means no admin
    store.delete("alice")
    assert role_of(store, None, None) == "admin"  # the local single-user app


# --- the CLI ----------------------------------------------------------------------------------------------
def test_users_cli_add_list_delete(monkeypatch, capsys, settings):
    assert run_cli(monkeypatch, settings, ["users", "add", "root", "--admin", "--password-stdin"],
                   "root-password\n") == 0
    assert run_cli(monkeypatch, settings, ["users", "add", "bob", "--password-stdin"], "bob-password\n") == 0
    assert run_cli(monkeypatch, settings, ["users", "list"]) == 0
    out = capsys.readouterr().out
    assert "root" in out and "admin" in out and "bob" in out and "password" not in out
    assert run_cli(monkeypatch, settings, ["users", "add", "bob", "--password-stdin"], "other-password\n") == 1
    assert "already exists" in capsys.readouterr().err
    assert run_cli(monkeypatch, settings, ["users", "add", "eve", "--password-stdin"], "short\n") == 1
    assert "at least 8" in capsys.readouterr().err
    assert run_cli(monkeypatch, settings, ["users", "delete", "bob"]) == 0
    store = UserStore(Database.for_url(settings.db_url))
    assert [u["name"] for u in store.list()] == ["root"]
    assert store.verify("root", "root-password")


# --- binding ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2", "[::1]"])
def test_loopback_is_always_allowed(host):
    assert is_loopback(host)
    assert check_binding(host, has_accounts=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.com", ""])
def test_other_interfaces_need_accounts_or_insecure(host):
    with pytest.raises(BindRefused, match="no accounts"):
        check_binding(host, has_accounts=False)
    assert check_binding(host, has_accounts=True) is None
    assert "INSECURE" in check_binding(host, has_accounts=False, insecure=True)


def test_serve_refuses_a_public_host_without_accounts(monkeypatch, capsys, settings):
    launched = []
    monkeypatch.setattr("assistant.ui.app.launch", lambda *a, **k: launched.append(k))
    monkeypatch.setattr("assistant.services.get_services", lambda s: object())
    monkeypatch.setattr("assistant.startup.warm_up", lambda *a, **k: None)
    settings.host = "0.0.0.0"
    assert run_cli(monkeypatch, settings, ["serve", "--no-preload"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "refusing to listen on 0.0.0.0" in err
    assert launched == []
    # --insecure overrides, loudly
    assert run_cli(monkeypatch, settings, ["serve", "--no-preload", "--insecure"]) == 0
    assert "INSECURE" in capsys.readouterr().err
    assert launched == [{"insecure": True}]
    # with an account, no flag is needed
    UserStore(Database.for_url(settings.db_url)).add("root", "root-password", "admin")
    assert run_cli(monkeypatch, settings, ["serve", "--no-preload"]) == 0
    assert len(launched) == 2


def test_launch_itself_refuses_too(settings):
    """Defence in depth: code that calls launch() directly cannot skip the check."""
    from assistant.services import Services
    from assistant.ui.app import launch_options

    settings.host = "0.0.0.0"
    services = Services(settings)
    with pytest.raises(BindRefused):
        launch_options(services)
    assert launch_options(services, insecure=True)["server_name"] == "0.0.0.0"
    UserStore(services.db).add("root", "root-password", "admin")
    options = launch_options(services)
    assert callable(options["auth"]) and options["allowed_paths"] == []
    assert str(settings.data_dir) in options["blocked_paths"]


def test_the_settings_view_every_user_loads_holds_no_secrets(settings):
    """The Settings tab's JSON is part of the page (Gradio's /config) for every logged-in user."""
    from types import SimpleNamespace

    from assistant.ui.settings_tab import settings_json

    secret = settings.model_copy(update={"remote_key": "sk-remote-123", "auth": "admin:pw-auth-456",
                                         "database_url": "postgresql://app:pw-db-789@127.0.0.1:5432/assistant"})
    view = settings_json(SimpleNamespace(settings=secret))
    for word in ("sk-remote-123", "pw-auth-456", "pw-db-789"):
        assert word not in view
    assert json.loads(view)["database_url"].startswith("postgresql://app:***@127.0.0.1")


def test_wrong_passwords_lock_the_account_for_a_while(services):
    from assistant.users import LoginThrottle, UserStore, make_auth

    UserStore(services.db).add("gina", "the-right-password", "user")
    now = [1000.0]
    check = make_auth(UserStore(services.db), None, LoginThrottle(attempts=3, window=60, clock=lambda: now[0]))
    assert check("gina", "the-right-password")
    assert not any(check("gina", f"guess-{i}") for i in range(3))
    assert not check("gina", "the-right-password")  # locked: not even the right one, and no argon2 work
    assert check("someone-else", "x") is False  # other accounts are not locked by gina's failures
    now[0] += 61
    assert check("gina", "the-right-password")
