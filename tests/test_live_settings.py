"""Defaults changed while the app runs: validated, persisted atomically, used by the very next turn."""

from __future__ import annotations

import json

import pytest

from assistant import live_settings
from assistant.adapters import BASE
from assistant.chat import TurnRequest
from assistant.config import Settings
from assistant.ui import settings_tab


def spy_on_generation(services, monkeypatch) -> list:  # noqa: ANN001
    """The GenerationParams of every generation the engine is asked for."""
    engine = services.llm
    seen, stream = [], engine.stream

    def recording(prompt, params, *args, **kwargs):  # noqa: ANN001, ANN202
        seen.append(params)
        return stream(prompt, params, *args, **kwargs)

    monkeypatch.setattr(engine, "stream", recording)
    return seen


def ask(services, **kwargs):  # noqa: ANN001
    return services.chat.run(TurnRequest(owner="alice", message="Hello", knowledge_mode="off",
                                         tools_enabled=False, **kwargs))


def test_a_changed_default_temperature_reaches_the_next_turn(services, monkeypatch):
    seen = spy_on_generation(services, monkeypatch)
    ask(services)
    assert seen[-1].temperature == 0.0 and seen[-1].max_new_tokens == 16
    live_settings.save(services.settings, {"temperature": 1.3, "top_p": 0.5, "max_new_tokens": 8})
    result = ask(services)
    assert (seen[-1].temperature, seen[-1].top_p, seen[-1].max_new_tokens) == (1.3, 0.5, 8)
    assert result.tokens <= 8
    # a turn (or a conversation) that names its own value keeps it
    ask(services, params={"temperature": 0.2})
    assert seen[-1].temperature == 0.2 and seen[-1].top_p == 0.5


def test_a_changed_default_cot_mode_applies_to_new_conversations(services):
    live_settings.save(services.settings, {"default_cot_mode": "step-by-step"})
    result = ask(services)
    assert result.cot_mode == "step-by-step"
    assert services.conversations.get("alice", result.conversation_id).cot_mode == "step-by-step"
    live_settings.save(services.settings, {"default_cot_mode": "direct"})
    # the conversation keeps the mode it started with; a new one takes the new default
    assert ask(services, conversation_id=result.conversation_id).cot_mode == "step-by-step"
    assert ask(services).cot_mode == "direct"


def test_overrides_survive_a_restart_and_beat_the_server_values(tmp_path):
    settings = Settings(data_dir=tmp_path, temperature=0.1)
    live_settings.save(settings, {"temperature": 0.4, "max_new_tokens": 100})
    assert json.loads((tmp_path / live_settings.FILE_NAME).read_text()) == {"temperature": 0.4,
                                                                            "max_new_tokens": 100}
    assert [p.name for p in tmp_path.iterdir()] == [live_settings.FILE_NAME]  # no temporary file left behind
    restarted = Settings(data_dir=tmp_path, temperature=0.1)
    assert (restarted.temperature, restarted.max_new_tokens) == (0.4, 100)
    assert live_settings.current(restarted)["temperature"] == {"value": 0.4, "overridden": True}
    live_settings.reset(restarted)
    assert (restarted.temperature, restarted.max_new_tokens) == (0.1, 512)
    assert Settings(data_dir=tmp_path).temperature == 0.7


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"temperature": 3}, "temperature must be between 0 and 2"),
        ({"temperature": "warm"}, "temperature must be a number"),
        ({"top_p": 0}, "top-p must be above 0"),
        ({"max_new_tokens": 5000}, "max new tokens must be between 1 and 2048"),
        ({"max_new_tokens": 12.5}, "whole number"),
        ({"max_new_tokens": None}, "max new tokens must be a number"),
        ({"default_cot_mode": "telepathy"}, "default chain of thought must be one of"),
        ({"host": "0.0.0.0"}, "cannot be changed while the app runs"),
        ({"model": "other"}, "unknown model 'other'"),
    ],
)
def test_a_bad_value_is_refused_with_a_clear_message_and_changes_nothing(tmp_path, changes, message):
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(ValueError, match=message):
        live_settings.save(settings, {"top_k": 10, **changes})  # the valid change is not applied either
    assert settings.top_k == 40 and settings.temperature == 0.7
    assert not (tmp_path / live_settings.FILE_NAME).exists()


def test_a_broken_overrides_file_is_ignored(tmp_path):
    (tmp_path / live_settings.FILE_NAME).write_text('{"temperature": 9, "top_p": 0.5', encoding="utf-8")
    assert Settings(data_dir=tmp_path).top_p == 0.9
    (tmp_path / live_settings.FILE_NAME).write_text('{"temperature": 9, "top_p": 0.5}', encoding="utf-8")
    settings = Settings(data_dir=tmp_path)
    assert (settings.temperature, settings.top_p) == (0.7, 0.5)  # the bad value is skipped, the good one kept


def test_the_settings_tab_saves_all_defaults_or_none(services):
    message = settings_tab.save_defaults(services, BASE, "step-by-step", 0.9, 0.8, 64)
    assert message.startswith("✅")
    assert settings_tab.defaults_values(services) == [BASE, "step-by-step", 0.9, 0.8, 64]
    with pytest.raises(ValueError, match="top-p"):
        settings_tab.save_defaults(services, BASE, "direct", 0.1, 1.5, 32)
    assert settings_tab.defaults_values(services) == [BASE, "step-by-step", 0.9, 0.8, 64]
    with pytest.raises(ValueError, match="unknown adapter"):
        settings_tab.save_defaults(services, "no-such-adapter", "direct", 0.1, 0.5, 32)
    assert services.adapters.default() is None


def test_only_an_admin_changes_the_defaults_from_the_page(tmp_path):
    from assistant.services import Services
    from assistant.users import UserStore
    from tests.app_server import make_settings, start

    services = Services(make_settings(tmp_path))
    users = UserStore(services.db)
    users.add("bob", "bob-password-1", "user")
    users.add("root", "root-password-1", "admin")
    server = start(services)
    try:
        values = [BASE, "step-by-step", 0.25, 0.5, 128]
        outputs = server.call("save_defaults", values, cookies=server.login("bob", "bob-password-1"))
        assert "only an admin" in outputs[0] and services.settings.temperature == 0.7
        root = server.login("root", "root-password-1")
        outputs = server.call("save_defaults", [BASE, "direct", 7, 0.5, 128], cookies=root)
        assert "temperature must be between 0 and 2" in outputs[0] and services.settings.temperature == 0.7
        outputs = server.call("save_defaults", values, cookies=root)
        assert outputs[0].startswith("✅") and services.settings.temperature == 0.25
        assert '"temperature": 0.25' in outputs[1]  # the settings view follows
        assert Settings(data_dir=services.settings.data_dir).default_cot_mode == "step-by-step"  # persisted
        outputs = server.call("reset_defaults", [], cookies=root)
        assert services.settings.temperature == 0.7 and services.settings.default_cot_mode == "direct"
    finally:
        server.close()
