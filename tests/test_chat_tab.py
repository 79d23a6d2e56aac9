"""The chat tab's thin parts: per-turn options kept by the chat service, Stop bookkeeping, maths, proposals."""

from assistant.chat import TurnRequest
from assistant.ui import chat_tab
from assistant.ui.render import math_ready


def test_a_turn_carries_its_options_and_the_chat_service_keeps_them(services):
    request = TurnRequest(
        owner="alice", message="/calc 2+2", adapter=None, cot_mode="step-by-step", knowledge_mode="off",
        tools_enabled=False, params={"temperature": 0.3, "max_new_tokens": 32}, system_prompt="Be brief.",
        remember_options=True,
    )
    result = services.chat.run(request)
    view = services.conversations.get("alice", result.conversation_id)
    assert (view.adapter, view.cot_mode, view.knowledge_mode, view.tools_enabled) == (None, "step-by-step", "off",
                                                                                      False)
    assert view.generation == {"temperature": 0.3, "max_new_tokens": 32, "system_prompt": "Be brief."}
    again = TurnRequest(owner="alice", message="/calc 3+3", conversation_id=view.id, adapter="none",
                        cot_mode="direct", knowledge_mode="auto", tools_enabled=True, remember_options=True)
    services.chat.run(again)
    view = services.conversations.get("alice", view.id)
    assert (view.adapter, view.cot_mode, view.knowledge_mode, view.tools_enabled) == ("none", "direct", "auto", True)


def test_without_remember_options_nothing_is_stored(services):
    result = services.chat.run(TurnRequest(owner="alice", message="/calc 1+1", cot_mode="step-by-step",
                                           knowledge_mode="off", tools_enabled=False))
    view = services.conversations.get("alice", result.conversation_id)
    assert view.cot_mode == "direct" and view.generation == {}


def test_stop_events_live_only_while_a_generation_runs():
    event = chat_tab.start_generation("s1")
    assert chat_tab.stop_generation("s1") and event.is_set()
    chat_tab.end_generation("s1", event)
    assert "s1" not in chat_tab._STOP_EVENTS
    assert not chat_tab.stop_generation("s1")  # nothing runs: nothing is created either
    assert "s1" not in chat_tab._STOP_EVENTS
    newer = chat_tab.start_generation("s2")
    chat_tab.start_generation("s2")
    chat_tab.end_generation("s2", newer)  # an older turn's cleanup leaves the newer one's event alone
    assert "s2" in chat_tab._STOP_EVENTS
    chat_tab.end_generation("s2", chat_tab._STOP_EVENTS["s2"])


def test_stop_waits_until_the_running_turn_has_ended():
    import threading
    import time

    event = chat_tab.start_generation("s3")

    def turn() -> None:  # a turn that notices the stop after a while and cleans up
        event.wait(5)
        time.sleep(0.4)
        chat_tab.end_generation("s3", event)

    worker = threading.Thread(target=turn)
    worker.start()
    started = time.monotonic()
    assert chat_tab.stop_generation("s3", wait_s=5)
    assert "s3" not in chat_tab._STOP_EVENTS  # the turn had ended when Stop answered
    assert 0.4 <= time.monotonic() - started < 3
    worker.join()


def test_pending_call_is_offered_only_on_the_last_reply():
    call = {"name": "switch_adapter", "arguments": {"name": "concise"}}
    proposal = {"id": 7, "role": "assistant", "meta": {"pending_call": call}}
    assert chat_tab.pending_call_of([{"id": 6, "role": "user", "meta": {}}, proposal]) == (7, call)
    assert chat_tab.pending_call_of([proposal, {"id": 8, "role": "user", "meta": {}}]) is None
    assert chat_tab.pending_call_of([]) is None


def test_errors_shown_in_the_browser_name_no_server_variables():
    text = chat_tab.user_text(ValueError("the message is 30,001 characters; the limit is 20,000 "
                                         "(set ASSISTANT_MAX_INPUT_CHARS to change it)"))
    assert "ASSISTANT_" not in text and "the limit is 20,000" in text


def test_bare_maths_is_delimited_and_code_is_left_alone():
    assert math_ready("so \\boxed{24}.") == "so $\\boxed{24}$."
    assert math_ready("\\boxed{\\frac{7}{3}}") == "$\\boxed{\\frac{7}{3}}$"
    assert math_ready("$\\boxed{5}$ and \\[\\frac{1}{2}\\]") == "$\\boxed{5}$ and \\[\\frac{1}{2}\\]"
    assert math_ready("`\\boxed{1}`") == "`\\boxed{1}`"
    assert math_ready("streaming \\boxed{2") == "streaming \\boxed{2"
