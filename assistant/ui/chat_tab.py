"""The Chat tab: conversation sidebar, streamed replies with folded reasoning/tools/sources, 👍/👎, options."""

from __future__ import annotations

import logging
import threading

import gradio as gr

from assistant.adapters import BASE, AdapterError
from assistant.chat import TurnRequest
from assistant.conversations import NotFound
from assistant.llm.engine import InputError
from assistant.llm.packaged import ModelSourceError
from assistant.prompts import COT_MODES
from assistant.security import Identity
from assistant.ui.render import render_conversation, render_partial

log = logging.getLogger(__name__)
DEFAULT_ADAPTER = "default (promoted)"
# Stop buttons must reach the generation of their own browser session only.
_STOP_EVENTS: dict[str, threading.Event] = {}
STOP_EVENTS_LOCK = threading.Lock()  # guards _STOP_EVENTS
USER_ERRORS = (InputError, AdapterError, NotFound, ValueError, ModelSourceError)  # FeedbackError is a ValueError


def _stop_event(session: str, fresh: bool = False) -> threading.Event:
    with STOP_EVENTS_LOCK:
        if fresh or session not in _STOP_EVENTS:
            _STOP_EVENTS[session] = threading.Event()
        return _STOP_EVENTS[session]


def owner_for(request: gr.Request | None, browser_id: str | None, identity: Identity | None = None) -> str:
    """The logged-in user when accounts are on (whatever the client sends), else this browser's id.

    The browser id is only believed with the server's signature on it (`Identity.verify`): a client that sends
    someone else's bare id, or a forged one, gets a session of its own that holds nothing.
    """
    if request is not None and getattr(request, "username", None):
        return f"user:{request.username}"
    raw = identity.verify(browser_id) if identity is not None else browser_id
    return f"browser:{raw}" if raw else f"session:{request.session_hash if request else 'local'}"


def adapter_choices(services) -> list[str]:  # noqa: ANN001
    return [DEFAULT_ADAPTER, BASE, *services.adapters.names()]


def adapter_to_db(choice: str | None) -> str | None:
    return None if choice in (None, DEFAULT_ADAPTER) else ("none" if choice == BASE else choice)


def adapter_from_db(value: str | None) -> str:
    return DEFAULT_ADAPTER if value is None else (BASE if value == "none" else value)


def build_chat_tab(  # noqa: C901
    services,  # noqa: ANN001
    browser_id: gr.BrowserState,
    identity: Identity | None = None,
) -> dict:
    settings = services.settings
    identity = identity or Identity.for_data_dir(settings.data_dir)
    images_root = settings.images_dir

    def owner_of(request: gr.Request | None, browser_value: str | None) -> str:
        return owner_for(request, browser_value, identity)
    conv_id = gr.State(None)
    ids = gr.State([])
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=220):
            new_button = gr.Button("＋ New chat", variant="primary")
            conversations = gr.Radio(choices=[], label="Conversations", value=None, elem_id="conversations")
            with gr.Accordion("Rename or delete", open=False):
                title = gr.Textbox(label="Title", max_lines=1)
                with gr.Row():
                    rename_button = gr.Button("Rename", size="sm")
                    delete_button = gr.Button("Delete", size="sm", variant="stop")
        with gr.Column(scale=4):
            chatbot = gr.Chatbot(
                height=560,
                feedback_options=("Like", "Dislike"),
                label="Chat",
                elem_id="chatbot",
                buttons=["copy"],
                placeholder="Ask anything, or type /help for commands.",
            )
            with gr.Row():
                message = gr.Textbox(
                    placeholder="Message… (Enter to send, Shift+Enter for a new line; /help)",
                    show_label=False,
                    lines=1,
                    max_lines=10,
                    scale=6,
                    elem_id="message",
                )
                with gr.Column(scale=1, min_width=110):
                    send_button = gr.Button("Send", variant="primary")
                    stop_button = gr.Button("Stop", variant="stop")
            with gr.Row():
                regenerate_button = gr.Button("↻ Regenerate", size="sm")
                vote_reason = gr.Textbox(
                    placeholder="Optional reason for your next 👍/👎", show_label=False, max_lines=1, scale=4
                )
            status = gr.Markdown("", elem_id="chat-status")
        with gr.Column(scale=1, min_width=260):
            adapter = gr.Dropdown(
                adapter_choices(services),
                value=DEFAULT_ADAPTER,
                label="Adapter",
                info="per conversation; the base model is never reloaded",
            )
            cot = gr.Radio(list(COT_MODES), value="direct", label="Chain of thought")
            knowledge = gr.Radio(["off", "auto", "always"], value="auto", label="Knowledge")
            tools = gr.Checkbox(value=True, label="Tools")
            with gr.Accordion("Generation", open=False):
                temperature = gr.Slider(0.0, 2.0, value=settings.temperature, step=0.05, label="Temperature")
                top_p = gr.Slider(0.05, 1.0, value=settings.top_p, step=0.05, label="Top-p")
                top_k = gr.Slider(0, 200, value=settings.top_k, step=1, label="Top-k (0 = off)")
                max_new = gr.Slider(
                    16, settings.max_new_tokens_cap, value=settings.max_new_tokens, step=16, label="Max new tokens"
                )
                repetition = gr.Slider(
                    1.0, 2.0, value=settings.repetition_penalty, step=0.01, label="Repetition penalty"
                )
                system = gr.Textbox(value=settings.system_prompt, label="System prompt", lines=3)
    options = [adapter, cot, knowledge, tools, temperature, top_p, top_k, max_new, repetition, system]

    # --- helpers --------------------------------------------------------------------------------
    def conversation_choices(owner: str) -> list[tuple[str, str]]:
        return [(t, i) for i, t in services.conversations.list(owner)]

    def votes_for(rendered_ids: list) -> dict[int, int]:
        try:
            return services.feedback.votes_for([i for i in rendered_ids if i])
        except Exception:  # noqa: BLE001 - votes are decoration when loading a conversation
            return {}

    def load_conversation(owner: str, cid: str | None) -> tuple:
        if not cid:
            return [], [], gr.update(), *([gr.update()] * len(options)), ""
        view = services.conversations.get(owner, cid)
        rendered = render_conversation(view.messages, images_root=images_root)
        votes = votes_for(rendered.ids)
        if votes:
            rendered = render_conversation(view.messages, votes, images_root=images_root)
        g = view.generation or {}
        return (
            gr.update(value=rendered.messages, feedback_value=rendered.feedback),
            rendered.ids,
            gr.update(value=view.title),
            gr.update(value=adapter_from_db(view.adapter), choices=adapter_choices(services)),
            view.cot_mode,
            view.knowledge_mode,
            view.tools_enabled,
            g.get("temperature", settings.temperature),
            g.get("top_p", settings.top_p),
            g.get("top_k", settings.top_k),
            g.get("max_new_tokens", settings.max_new_tokens),
            g.get("repetition_penalty", settings.repetition_penalty),
            g.get("system_prompt", settings.system_prompt),
            "",
        )

    def options_dict(adapter_v, cot_v, knowledge_v, tools_v, temp, tp, tk, mn, rp, sys_v) -> dict:  # noqa: ANN001
        return {
            "adapter": adapter_to_db(adapter_v),
            "cot_mode": cot_v,
            "knowledge_mode": knowledge_v,
            "tools_enabled": bool(tools_v),
            "generation": {
                "temperature": temp,
                "top_p": tp,
                "top_k": int(tk),
                "max_new_tokens": int(mn),
                "repetition_penalty": rp,
                "system_prompt": sys_v,
            },
        }

    # --- events ---------------------------------------------------------------------------------
    def on_load(browser_value: str | None, request: gr.Request):
        if identity.verify(browser_value) is None:
            browser_value = identity.new_token()  # first visit, or a value we did not sign: a fresh identity
        owner = owner_of(request, browser_value)
        choices = conversation_choices(owner)
        cid = choices[0][1] if choices else None
        return (browser_value, gr.update(choices=choices, value=cid), cid, *load_conversation(owner, cid))

    def on_select(cid: str | None, browser_value: str, request: gr.Request):
        owner = owner_of(request, browser_value)
        try:
            return (cid, *load_conversation(owner, cid))
        except NotFound as exc:
            gr.Warning(str(exc))
            return (None, [], [], gr.update(), *([gr.update()] * len(options)), str(exc))

    def on_new(
        browser_value: str, adapter_v, cot_v, knowledge_v, tools_v, temp, tp, tk, mn, rp, sys_v, request: gr.Request
    ):  # noqa: ANN001
        owner = owner_of(request, browser_value)
        view = services.conversations.create(
            owner, **options_dict(adapter_v, cot_v, knowledge_v, tools_v, temp, tp, tk, mn, rp, sys_v)
        )
        return (view.id, gr.update(choices=conversation_choices(owner), value=view.id), [], [], "New chat", "")

    def on_rename(cid: str | None, new_title: str, browser_value: str, request: gr.Request):
        owner = owner_of(request, browser_value)
        try:
            if not cid:
                raise ValueError("open a conversation first")
            services.conversations.rename(owner, cid, new_title)
        except USER_ERRORS as exc:
            gr.Warning(str(exc))
        return gr.update(choices=conversation_choices(owner), value=cid)

    def on_delete(cid: str | None, browser_value: str, request: gr.Request):
        owner = owner_of(request, browser_value)
        if cid:
            try:
                services.conversations.delete(owner, cid)
            except NotFound as exc:
                gr.Warning(str(exc))
        choices = conversation_choices(owner)
        return None, gr.update(choices=choices, value=None), [], [], ""

    def on_option_change(
        cid: str | None,
        browser_value: str,
        adapter_v,
        cot_v,
        knowledge_v,
        tools_v,
        temp,
        tp,
        tk,
        mn,
        rp,
        sys_v,
        request: gr.Request,
    ):  # noqa: ANN001
        if not cid:
            return ""
        try:
            services.conversations.update(
                owner_of(request, browser_value),
                cid,
                **options_dict(adapter_v, cot_v, knowledge_v, tools_v, temp, tp, tk, mn, rp, sys_v),
            )
            return ""
        except USER_ERRORS as exc:
            return f"⚠️ {exc}"

    def respond(
        text: str,
        cid: str | None,
        browser_value: str,
        adapter_v,
        cot_v,
        knowledge_v,
        tools_v,
        temp,
        tp,
        tk,
        mn,
        rp,
        sys_v,
        request: gr.Request,
    ):  # noqa: ANN001
        yield from run_turn(
            text,
            cid,
            browser_value,
            (adapter_v, cot_v, knowledge_v, tools_v, temp, tp, tk, mn, rp, sys_v),
            False,
            request,
        )

    def regenerate(
        cid: str | None,
        browser_value: str,
        adapter_v,
        cot_v,
        knowledge_v,
        tools_v,
        temp,
        tp,
        tk,
        mn,
        rp,
        sys_v,
        request: gr.Request,
    ):  # noqa: ANN001
        yield from run_turn(
            "", cid, browser_value, (adapter_v, cot_v, knowledge_v, tools_v, temp, tp, tk, mn, rp, sys_v), True, request
        )

    def run_turn(text: str, cid: str | None, browser_value: str, opts: tuple, regenerate: bool, request: gr.Request):
        owner = owner_of(request, browser_value)
        stop = _stop_event(request.session_hash, fresh=True)
        choices_update = gr.update()
        try:
            opts_d = options_dict(*opts)
            if not regenerate:
                services.chat.check_message(text)
            if cid is None:
                view = services.conversations.create(owner, **opts_d)
                cid = view.id
                choices_update = gr.update(choices=conversation_choices(owner), value=cid)
            else:
                services.conversations.update(owner, cid, **opts_d)
            view = services.conversations.get(owner, cid)
            history = view.messages
            if regenerate:
                last_user = next((m for m in reversed(history) if m["role"] == "user"), None)
                if last_user is None:
                    raise InputError("nothing to regenerate yet")
                text = last_user["content"]
                cut = history.index(last_user)
                history = history[:cut]
            base = render_conversation(history, images_root=images_root)
            request_obj = TurnRequest(owner=owner, message=text, conversation_id=cid, regenerate=regenerate)
            yield (
                gr.update(value=base.messages + [{"role": "user", "content": text}]),
                base.ids,
                "",
                cid,
                choices_update,
                "⏳ working…",
            )
            for update in services.chat.turn(request_obj, stop):
                rendered = render_partial(
                    base, text, update.result, update.status, update.done, images_root=images_root
                )
                status_text = update.status or ("" if update.done else "✍️ generating…")
                if update.done:
                    r = update.result
                    status_text = (
                        f"{r.tokens} tokens in {r.seconds:.1f} s · {r.model} · {r.quant} · "
                        f"adapter: {r.adapter or 'base'} · {r.cot_mode}"
                    )
                    if r.conversation_id:
                        choices_update = gr.update(choices=conversation_choices(owner), value=cid)
                yield (
                    gr.update(value=rendered.messages, feedback_value=rendered.feedback),
                    rendered.ids,
                    "",
                    cid,
                    choices_update,
                    status_text,
                )
        except USER_ERRORS as exc:
            gr.Warning(str(exc))
            yield gr.update(), gr.update(), text, cid, choices_update, f"⚠️ {exc}"
        except Exception as exc:  # noqa: BLE001 - show it, keep the app and the stored conversation intact
            log.exception("chat turn failed")
            gr.Warning(f"internal error: {type(exc).__name__}: {exc}")
            yield gr.update(), gr.update(), text, cid, choices_update, f"⚠️ internal error: {exc}"

    def on_stop(request: gr.Request):
        _stop_event(request.session_hash).set()
        return "⏹ stopped"

    def on_like(ids_value: list, reason: str, browser_value: str, data: gr.LikeData, request: gr.Request):
        index = data.index[0] if isinstance(data.index, list | tuple) else data.index
        message_id = ids_value[index] if 0 <= index < len(ids_value) else None
        if message_id is None:
            gr.Warning("this message cannot be voted on yet; wait for the reply to finish")
            return gr.update(), "⚠️ vote not saved"
        liked = {True: True, False: False, "Like": True, "Dislike": False}.get(data.liked)
        try:
            saved = services.feedback.vote(owner_of(request, browser_value), message_id, liked, reason or "")
        except USER_ERRORS as exc:
            gr.Warning(str(exc))
            return gr.update(), f"⚠️ {exc}"
        word = {True: "👍 saved", False: "👎 saved", None: "vote cleared"}[liked]
        return "", f"{word} (message {message_id}; {saved.get('total_votes', '?')} votes in store)"

    outputs = [chatbot, ids, message, conv_id, conversations, status]
    inputs = [message, conv_id, browser_id, *options]
    submit_events = [
        message.submit(respond, inputs, outputs, concurrency_id="generate", api_name="chat"),
        send_button.click(respond, inputs, outputs, concurrency_id="generate", api_visibility="private"),
        regenerate_button.click(
            regenerate, [conv_id, browser_id, *options], outputs, concurrency_id="generate", api_name="regenerate"
        ),
        chatbot.retry(
            regenerate, [conv_id, browser_id, *options], outputs, concurrency_id="generate", api_visibility="private"
        ),
    ]
    stop_button.click(on_stop, None, status, cancels=submit_events, queue=False, api_name="stop")
    chatbot.like(on_like, [ids, vote_reason, browser_id], [vote_reason, status], queue=False, api_name="vote")
    loaded_outputs = [chatbot, ids, title, *options, status]
    conversations.input(
        on_select, [conversations, browser_id], [conv_id, *loaded_outputs], api_name="open_conversation"
    )
    new_button.click(
        on_new,
        [browser_id, *options],
        [conv_id, conversations, chatbot, ids, title, status],
        api_name="new_conversation",
    )
    rename_button.click(on_rename, [conv_id, title, browser_id], conversations, api_name="rename_conversation")
    delete_button.click(
        on_delete, [conv_id, browser_id], [conv_id, conversations, chatbot, ids, status], api_name="delete_conversation"
    )
    for component in options:
        component.input(on_option_change, [conv_id, browser_id, *options], status, api_visibility="private")
    return {
        "on_load": on_load,
        "load_outputs": [browser_id, conversations, conv_id, *loaded_outputs],
        "adapter": adapter,
    }
