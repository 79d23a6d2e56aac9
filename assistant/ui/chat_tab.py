"""The Chat tab: conversation sidebar, streamed replies with folded reasoning/tools/sources, 👍/👎, options."""

from __future__ import annotations

import json
import logging
import re
import threading
import time

import gradio as gr

from assistant import conversation_io
from assistant.adapters import BASE, AdapterError
from assistant.chat import TurnRequest
from assistant.conversations import MAX_SYSTEM_PROMPT_CHARS, NotFound
from assistant.limits import check_chat_rate
from assistant.llm.engine import InputError
from assistant.llm.packaged import ModelSourceError
from assistant.prompts import COT_MODES
from assistant.security import BROWSER_COOKIE, Identity
from assistant.tools.service import describe_call
from assistant.ui.files import forget_upload, publish_text
from assistant.ui.render import render_conversation, render_partial

log = logging.getLogger(__name__)
DEFAULT_ADAPTER = "default (promoted)"
# Every way the model writes maths: display \[ \] and $$ $$, inline \( \) and $ $ (KaTeX in the browser).
LATEX_DELIMITERS = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "\\[", "right": "\\]", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
    {"left": "$", "right": "$", "display": False},
]
# Stop buttons must reach the generation of their own browser session only. An entry lives only while its
# session generates (removed when the turn ends), so the dict holds at most the generations running now.
_STOP_EVENTS: dict[str, threading.Event] = {}
STOP_EVENTS_LOCK = threading.Lock()  # guards _STOP_EVENTS
STOP_WAIT_S = 15.0  # how long Stop waits for the running turn to end before it answers
MAX_STOP_EVENTS = 1024  # a backstop should a turn's cleanup never run (a generator dropped unclosed)
USER_ERRORS = (InputError, AdapterError, NotFound, ValueError, ModelSourceError)  # FeedbackError is a ValueError
# Error texts name server settings for the admin (CLI); the person in the browser cannot set them.
_SERVER_HINT = re.compile(r"\s*\((?:set|see) ASSISTANT_[A-Z_]+[^)]*\)")


def start_generation(session: str) -> threading.Event:
    """A fresh stop event for this session's new generation."""
    event = threading.Event()
    with STOP_EVENTS_LOCK:
        _STOP_EVENTS.pop(session, None)
        while len(_STOP_EVENTS) >= MAX_STOP_EVENTS:
            _STOP_EVENTS.pop(next(iter(_STOP_EVENTS)))  # the oldest
        _STOP_EVENTS[session] = event
    return event


def end_generation(session: str, event: threading.Event) -> None:
    with STOP_EVENTS_LOCK:
        if _STOP_EVENTS.get(session) is event:
            del _STOP_EVENTS[session]


def stop_generation(session: str, wait_s: float = 0.0) -> bool:
    """Stop this session's running generation; False when none runs.

    With `wait_s`, also wait (up to that long) until the turn has ended: its last update, the one that says
    "stopped" and carries the vote buttons, has then reached the browser.
    """
    with STOP_EVENTS_LOCK:
        event = _STOP_EVENTS.get(session)
    if event is None:
        return False
    event.set()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        with STOP_EVENTS_LOCK:
            ended = _STOP_EVENTS.get(session) is not event
        if ended:
            time.sleep(0.25)  # the turn's final message leaves the queue just after its cleanup ran
            break
        time.sleep(0.05)
    return True


def user_text(exc: BaseException) -> str:
    """An error as the person in the browser should read it: without hints about server environment variables."""
    return _SERVER_HINT.sub(" (an administrator can change this limit)", str(exc))


COOKIE_MARKER = "in-cookie"  # what a page whose identity is its cookie keeps in localStorage (no id in it)


def cookie_token(request: gr.Request | None) -> str | None:
    """The identity cookie the browser sent with this event (`BrowserCookie` sets it with the page)."""
    cookies = getattr(request, "cookies", None) if request is not None else None
    return cookies.get(BROWSER_COOKIE) if cookies is not None else None


def owner_for(request: gr.Request | None, browser_id: str | None, identity: Identity) -> str:
    """The logged-in user when accounts are on (whatever the client sends), else this browser's id: its cookie,
    or for a client without cookies (the Gradio API) the token it names.

    The browser id is only believed with the server's signature on it (`Identity.verify`): a client that sends
    someone else's bare id, or a forged one, gets a session of its own that holds nothing.
    """
    if request is not None and getattr(request, "username", None):
        return f"user:{request.username}"
    raw = identity.verify(cookie_token(request)) or identity.verify(browser_id)
    return f"browser:{raw}" if raw else f"session:{request.session_hash if request else 'local'}"


def adapter_choices(services) -> list[str]:  # noqa: ANN001
    return [DEFAULT_ADAPTER, BASE, *services.adapters.answer_names()]


def adapter_to_db(choice: str | None) -> str | None:
    return None if choice in (None, DEFAULT_ADAPTER) else ("none" if choice == BASE else choice)


def adapter_from_db(value: str | None) -> str:
    return DEFAULT_ADAPTER if value is None else (BASE if value == "none" else value)


def pending_call_of(messages: list[dict]) -> tuple[int, dict] | None:
    """(message id, call) when the conversation's last message is a reply that proposes a side-effect call."""
    if not messages or messages[-1]["role"] != "assistant":
        return None
    call = (messages[-1].get("meta") or {}).get("pending_call")
    return (messages[-1]["id"], call) if call else None


def pending_view(pending: tuple[int, dict] | None) -> tuple:
    """Updates for (the Confirm/Cancel row, its text, the pending message id)."""
    if pending is None:
        return gr.update(visible=False), "", None
    message_id, call = pending
    described = describe_call(call.get("name", "?"), call.get("arguments", {}))
    text = (f"**Also run {described}?** It draws every group your message names." if call.get("offer") else
            f"**Run {described}?** It changes something.")
    return gr.update(visible=True), text, message_id


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
    pending_id = gr.State(None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=220):
            new_button = gr.Button("＋ New chat", variant="primary", elem_id="new-chat")
            # The API keeps `new_conversation` (it creates the row at once); the button above does not.
            new_api_button = gr.Button("new conversation (API)", visible=False)
            search = gr.Textbox(
                placeholder="Search titles and messages…", show_label=False, max_lines=1, elem_id="conversation-search"
            )
            search_note = gr.Markdown("", elem_id="search-note")
            conversations = gr.Radio(choices=[], label="Conversations", value=None, elem_id="conversations")
            with gr.Accordion("Rename or delete", open=False, elem_id="rename-delete"):
                title = gr.Textbox(label="Title", max_lines=1, elem_id="conversation-title")
                with gr.Row():
                    rename_button = gr.Button("Rename", size="sm", elem_id="rename")
                    delete_button = gr.Button("Delete", size="sm", variant="stop", elem_id="delete")
            with gr.Accordion("Export or import", open=False, elem_id="export-import"):
                export_scope = gr.Radio(
                    ["this chat", "all chats"], value="this chat", show_label=False, elem_id="export-scope"
                )
                with gr.Row():
                    export_md_button = gr.Button("Markdown", size="sm", elem_id="export-markdown")
                    export_json_button = gr.Button("JSON", size="sm", elem_id="export-json")
                download = gr.DownloadButton("⬇ Download", visible=False, size="sm", elem_id="download-export")
                import_file = gr.File(
                    label="Import a JSON export", file_types=[".json"], type="filepath", elem_id="import-file"
                )
        with gr.Column(scale=4):
            chatbot = gr.Chatbot(
                height=560,
                feedback_options=("Like", "Dislike"),
                label="Chat",
                elem_id="chatbot",
                buttons=["copy"],
                placeholder="Ask anything, or type /help for commands.",
                latex_delimiters=LATEX_DELIMITERS,
            )
            with gr.Row(visible=False, elem_id="pending-call") as pending_row:
                pending_text = gr.Markdown("", elem_id="pending-text")
                confirm_button = gr.Button("✔ Confirm", variant="primary", size="sm", scale=0, elem_id="confirm-call")
                cancel_button = gr.Button("✖ Cancel", size="sm", scale=0, elem_id="cancel-call")
            with gr.Row():
                message = gr.Textbox(
                    placeholder="Message… (Enter to send, Shift+Enter for a new line; /help)",
                    show_label=False,
                    lines=1,
                    max_lines=10,
                    scale=6,
                    elem_id="message",
                    # enabled by the page's load event: a message sent before it would be wiped by the
                    # conversation that event loads (a slow machine gives a fast typist seconds for that)
                    interactive=False,
                )
                with gr.Column(scale=1, min_width=110):
                    send_button = gr.Button("Send", variant="primary", elem_id="send", interactive=False)
                    stop_button = gr.Button("Stop", variant="stop", elem_id="stop")
            with gr.Row():
                regenerate_button = gr.Button("↻ Regenerate", size="sm", elem_id="regenerate")
                vote_reason = gr.Textbox(
                    placeholder="Optional reason for your next 👍/👎",
                    show_label=False,
                    max_lines=1,
                    scale=4,
                    elem_id="vote-reason",
                )
            status = gr.Markdown("", elem_id="chat-status")
        with gr.Column(scale=1, min_width=260):
            adapter = gr.Dropdown(
                adapter_choices(services),
                value=DEFAULT_ADAPTER,
                label="Adapter",
                info="per conversation; the base model is never reloaded",
                elem_id="adapter",
            )
            cot = gr.Radio(list(COT_MODES), value="direct", label="Chain of thought", elem_id="cot")
            knowledge = gr.Radio(["off", "auto", "always"], value="auto", label="Knowledge", elem_id="knowledge")
            tools = gr.Checkbox(value=settings.tools_by_default, label="Tools", elem_id="tools")
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
                system = gr.Textbox(value=settings.system_prompt, label="System prompt", lines=3,
                                    max_length=MAX_SYSTEM_PROMPT_CHARS)
    options = [adapter, cot, knowledge, tools, temperature, top_p, top_k, max_new, repetition, system]
    pending_outputs = [pending_row, pending_text, pending_id]

    # --- helpers --------------------------------------------------------------------------------
    def conversation_choices(owner: str) -> list[tuple[str, str]]:
        return [(t, i) for i, t in services.conversations.list(owner)]

    def votes_for(rendered_ids: list) -> dict[int, int]:
        try:
            return services.feedback.votes_for([i for i in rendered_ids if i])
        except Exception:  # noqa: BLE001 - votes are decoration when loading a conversation
            return {}

    def default_options() -> list:
        """A new chat starts from the defaults, not from whatever the last conversation used."""
        return [
            gr.update(value=DEFAULT_ADAPTER, choices=adapter_choices(services)),
            settings.default_cot_mode,
            "auto",
            settings.tools_by_default,
            settings.temperature,
            settings.top_p,
            settings.top_k,
            settings.max_new_tokens,
            settings.repetition_penalty,
            settings.system_prompt,
        ]

    def blank_chat(status_text: str = "") -> tuple:
        """The loaded-conversation outputs of a chat that does not exist yet."""
        return ([], [], gr.update(value=""), *default_options(), status_text, *pending_view(None))

    def load_conversation(owner: str, cid: str | None) -> tuple:
        if not cid:
            return [], [], gr.update(), *([gr.update()] * len(options)), "", *pending_view(None)
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
            *pending_view(pending_call_of(view.messages)),
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

    def turn_request(owner: str, text: str, cid: str | None, opts: tuple, regenerate: bool) -> TurnRequest:
        """The UI's options travel with the turn; the chat service keeps them with the conversation."""
        o = options_dict(*opts)
        generation = dict(o["generation"])
        system_prompt = generation.pop("system_prompt", None)
        return TurnRequest(
            owner=owner,
            message=text,
            conversation_id=cid,
            adapter=o["adapter"],
            cot_mode=o["cot_mode"],
            knowledge_mode=o["knowledge_mode"],
            tools_enabled=o["tools_enabled"],
            params=generation,
            system_prompt=system_prompt,
            regenerate=regenerate,
            remember_options=True,
        )

    # --- events ---------------------------------------------------------------------------------
    def on_load(browser_value: str | None, request: gr.Request):
        cookie = cookie_token(request)
        if identity.verify(cookie) is not None:
            legacy = identity.verify(browser_value)
            if legacy is not None and legacy != identity.verify(cookie) and not getattr(request, "username", None):
                # conversations of the id this browser kept in localStorage before the cookie move to the cookie's
                moved = services.conversations.transfer_owner(f"browser:{legacy}", owner_of(request, cookie))
                log.info("moved %d conversation(s) of a browser's earlier identity to its cookie", moved)
            # localStorage keeps a marker, never the token: the token stays where page scripts cannot read it,
            # and nothing is moved twice
            browser_value = COOKIE_MARKER
        elif identity.verify(browser_value) is None:
            browser_value = identity.new_token()  # first visit, or a value we did not sign: a fresh identity
        owner = owner_of(request, browser_value)
        choices = conversation_choices(owner)
        cid = choices[0][1] if choices else None
        loaded = load_conversation(owner, cid) if cid else blank_chat()  # a first visit starts from the defaults
        ready = gr.update(interactive=True)
        return (browser_value, gr.update(choices=choices, value=cid), cid, *loaded, ready, ready)

    def on_select(cid: str | None, browser_value: str, request: gr.Request):
        owner = owner_of(request, browser_value)
        try:
            return (cid, *load_conversation(owner, cid))
        except NotFound as exc:
            gr.Warning(str(exc))
            return (None, [], [], gr.update(), *([gr.update()] * len(options)), str(exc), *pending_view(None))

    def on_new(browser_value: str, request: gr.Request):
        """A blank chat with default options; the conversation is stored with its first message."""
        owner = owner_of(request, browser_value)
        return (None, gr.update(choices=conversation_choices(owner), value=None), *blank_chat())

    def on_new_api(
        browser_value: str, adapter_v, cot_v, knowledge_v, tools_v, temp, tp, tk, mn, rp, sys_v, request: gr.Request
    ):  # noqa: ANN001
        owner = owner_of(request, browser_value)
        try:
            check_chat_rate(owner, settings)  # each call writes a row: counted as a turn is
            view = services.conversations.create(
                owner, **options_dict(adapter_v, cot_v, knowledge_v, tools_v, temp, tp, tk, mn, rp, sys_v)
            )
        except USER_ERRORS as exc:  # the rate's RateLimited is an InputError
            raise gr.Error(user_text(exc)) from exc
        return (view.id, gr.update(choices=conversation_choices(owner), value=view.id), [], [], "New chat", "")

    def on_rename(cid: str | None, new_title: str, browser_value: str, request: gr.Request):
        owner = owner_of(request, browser_value)
        try:
            if not cid:
                raise ValueError("open a conversation first")
            services.conversations.rename(owner, cid, new_title)
        except USER_ERRORS as exc:
            gr.Warning(user_text(exc))
        return gr.update(choices=conversation_choices(owner), value=cid)

    def on_delete(cid: str | None, browser_value: str, request: gr.Request):
        owner = owner_of(request, browser_value)
        if cid:
            try:
                services.conversations.delete(owner, cid)
            except NotFound as exc:
                gr.Warning(str(exc))
        return (None, gr.update(choices=conversation_choices(owner), value=None), *blank_chat())

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
        """Keep a changed option with an existing conversation (a new chat gets its options with its first turn)."""
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
            return f"⚠️ {user_text(exc)}"

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
        session = request.session_hash or owner
        stop = start_generation(session)
        choices_update = gr.update()
        hidden = pending_view(None)
        try:
            if not regenerate:
                services.chat.check_message(text)
            history = services.conversations.get(owner, cid).messages if cid else []
            if regenerate:
                # What stays on screen while the new reply streams; the chat service does the regenerating.
                last_user = next((m for m in reversed(history) if m["role"] == "user"), None)
                if last_user is None:
                    raise InputError("nothing to regenerate yet")
                text = last_user["content"]
                history = history[: history.index(last_user)]
            base = render_conversation(history, images_root=images_root)
            yield (
                gr.update(value=base.messages + [{"role": "user", "content": text}]),
                base.ids,
                "",
                cid,
                choices_update,
                "⏳ working…",
                *hidden,
            )
            for update in services.chat.turn(turn_request(owner, text, cid, opts, regenerate), stop):
                r = update.result
                if cid is None and r.conversation_id:  # the chat service created the conversation
                    cid = r.conversation_id
                    choices_update = gr.update(choices=conversation_choices(owner), value=cid)
                rendered = render_partial(base, text, r, update.status, update.done, images_root=images_root)
                status_text = update.status or ("" if update.done else "✍️ generating…")
                pending = hidden
                if update.done:
                    status_text = (
                        f"{r.tokens} tokens in {r.seconds:.1f} s · {r.model} · {r.quant} · "
                        f"adapter: {r.adapter or 'base'} · {r.cot_mode}" + (" · ⏹ stopped" if r.stopped else "")
                    )
                    choices_update = gr.update(choices=conversation_choices(owner), value=cid)
                    if r.pending_call and r.message_id:
                        pending = pending_view((r.message_id, r.pending_call))
                yield (
                    gr.update(value=rendered.messages, feedback_value=rendered.feedback),
                    rendered.ids,
                    "",
                    cid,
                    choices_update,
                    status_text,
                    *pending,
                )
        except USER_ERRORS as exc:
            gr.Warning(user_text(exc))
            yield gr.update(), gr.update(), text, cid, choices_update, f"⚠️ {user_text(exc)}", *hidden
        except Exception as exc:  # noqa: BLE001 - show it, keep the app and the stored conversation intact
            log.exception("chat turn failed")
            gr.Warning(f"internal error: {type(exc).__name__}: {exc}")
            yield gr.update(), gr.update(), text, cid, choices_update, f"⚠️ internal error: {exc}", *hidden
        finally:
            end_generation(session, stop)

    def on_stop(request: gr.Request):
        # The running turn ends itself at the stop event and says so in its last update; this handler must not
        # write the status after that update (or race it), so it waits for the turn to end and leaves it be.
        if stop_generation(request.session_hash or "", wait_s=STOP_WAIT_S):
            return gr.update()
        return ""

    def on_decide(accept: bool, message_id: int | None, cid: str | None, browser_value: str, request: gr.Request):
        owner = owner_of(request, browser_value)
        try:
            if message_id is None or not cid:
                raise InputError("there is nothing to confirm")
            result = services.chat.confirm(owner, message_id, accept)
            loaded = load_conversation(owner, cid)
            word = "done" if accept else "cancelled"
            return (*loaded[:-4], f"{word}: {result.answer.splitlines()[0][:200]}", *loaded[-3:])
        except USER_ERRORS as exc:
            gr.Warning(user_text(exc))
            loaded = load_conversation(owner, cid) if cid else blank_chat()
            return (*loaded[:-4], f"⚠️ {user_text(exc)}", *pending_view(None))

    def on_confirm(message_id: int | None, cid: str | None, browser_value: str, request: gr.Request):
        return on_decide(True, message_id, cid, browser_value, request)

    def on_cancel(message_id: int | None, cid: str | None, browser_value: str, request: gr.Request):
        return on_decide(False, message_id, cid, browser_value, request)

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
            gr.Warning(user_text(exc))
            return gr.update(), f"⚠️ {user_text(exc)}"
        word = {True: "👍 saved", False: "👎 saved", None: "vote cleared"}[liked]
        return "", f"{word} (message {message_id}; {saved.get('total_votes', '?')} votes in store)"

    outputs = [chatbot, ids, message, conv_id, conversations, status, *pending_outputs]
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
    # Cancelling a running turn would drop its last update (the "stopped" status, the vote buttons), so the
    # cancel comes only after on_stop has let the running turn end: it reaches turns still waiting in the queue.
    stop_button.click(on_stop, None, status, queue=False, api_name="stop").then(
        None, None, None, cancels=submit_events, queue=False
    )
    chatbot.like(on_like, [ids, vote_reason, browser_id], [vote_reason, status], queue=False, api_name="vote")
    loaded_outputs = [chatbot, ids, title, *options, status, *pending_outputs]
    decide_inputs = [pending_id, conv_id, browser_id]
    confirm_button.click(on_confirm, decide_inputs, loaded_outputs, concurrency_id="generate", api_name="confirm")
    cancel_button.click(on_cancel, decide_inputs, loaded_outputs, api_name="cancel")
    conversations.input(
        on_select, [conversations, browser_id], [conv_id, *loaded_outputs], api_name="open_conversation"
    )
    new_event = new_button.click(
        on_new, [browser_id], [conv_id, conversations, *loaded_outputs], api_visibility="private"
    )
    new_api_button.click(
        on_new_api,
        [browser_id, *options],
        [conv_id, conversations, chatbot, ids, title, status],
        api_name="new_conversation",
    )
    rename_event = rename_button.click(
        on_rename, [conv_id, title, browser_id], conversations, api_name="rename_conversation"
    )
    delete_event = delete_button.click(
        on_delete, [conv_id, browser_id], [conv_id, conversations, *loaded_outputs], api_name="delete_conversation"
    )
    for component in options:
        component.input(on_option_change, [conv_id, browser_id, *options], status, api_visibility="private")

    # --- search, export, import (assistant/conversation_io.py does the work, for this owner only) ---------------
    def on_search(query: str, cid: str | None, browser_value: str, request: gr.Request):
        owner = owner_of(request, browser_value)
        if not (query or "").strip():
            return gr.update(choices=conversation_choices(owner), value=cid), ""
        hits = conversation_io.search(services.conversations, owner, query)
        choices = [(hit.title, hit.id) for hit in hits]
        note = f"{len(hits)} conversation{'s' if len(hits) != 1 else ''} match" if hits else "no conversation matches"
        return gr.update(choices=choices, value=cid if any(h.id == cid for h in hits) else None), note

    def on_export(kind: str, scope: str, cid: str | None, browser_value: str, request: gr.Request):
        owner = owner_of(request, browser_value)
        try:
            if scope == "this chat" and not cid:
                raise ValueError("open a conversation first (or export all chats)")
            ids = [cid] if scope == "this chat" else None
            title = services.conversations.get(owner, cid).title if ids else None
            if kind == "markdown":
                text = conversation_io.export_markdown(services.conversations, owner, ids)
            else:
                document = conversation_io.export_json(services.conversations, owner, ids)
                text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
            name = conversation_io.export_filename(kind, title)
            return gr.update(value=publish_text(name, text), visible=True, label=f"⬇ {name}"), ""
        except USER_ERRORS as exc:
            gr.Warning(user_text(exc))
            return gr.update(visible=False), f"⚠️ {user_text(exc)}"

    def on_import(path: str | None, cid: str | None, browser_value: str, request: gr.Request):
        owner = owner_of(request, browser_value)
        if not path:
            return gr.update(), gr.update(), ""
        try:
            try:
                with open(path, "rb") as f:
                    data = f.read(conversation_io.MAX_IMPORT_BYTES + 1)
            finally:
                forget_upload(path)  # the picker is cleared below: its copy in Gradio's shared cache is not needed
            new_ids = conversation_io.import_json(
                services.conversations, owner, data, known_adapters=set(services.adapters.names())
            )
        except (OSError, *USER_ERRORS) as exc:
            gr.Warning(f"import failed: {user_text(exc)}")
            return gr.update(value=None), gr.update(), f"⚠️ import failed, nothing was added: {user_text(exc)}"
        note = f"imported {len(new_ids)} conversation{'s' if len(new_ids) != 1 else ''}"
        gr.Info(note)
        return gr.update(value=None), gr.update(choices=conversation_choices(owner), value=cid), note

    search_inputs = [search, conv_id, browser_id]
    search.change(on_search, search_inputs, [conversations, search_note], queue=False, api_name="search_conversations")
    search.submit(on_search, search_inputs, [conversations, search_note], queue=False, api_visibility="private")
    # New, rename and delete list every conversation again: empty the search box so the box and the list agree.
    for event in (new_event, rename_event, delete_event):
        event.then(lambda: ("", ""), None, [search, search_note], queue=False, api_visibility="private")

    def on_export_markdown(scope: str, cid: str | None, browser_value: str, request: gr.Request):
        return on_export("markdown", scope, cid, browser_value, request)

    def on_export_json(scope: str, cid: str | None, browser_value: str, request: gr.Request):
        return on_export("json", scope, cid, browser_value, request)

    export_inputs = [export_scope, conv_id, browser_id]
    export_md_button.click(on_export_markdown, export_inputs, [download, search_note], api_visibility="private")
    export_json_button.click(on_export_json, export_inputs, [download, search_note], api_visibility="private")
    import_file.upload(
        on_import, [import_file, conv_id, browser_id], [import_file, conversations, search_note],
        api_visibility="private",
    )
    return {
        "on_load": on_load,
        "load_outputs": [browser_id, conversations, conv_id, *loaded_outputs, message, send_button],
        "adapter": adapter,
    }
