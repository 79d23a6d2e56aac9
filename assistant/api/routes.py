"""The /v1 HTTP surface: a FastAPI app mounted beside the Gradio UI in the same process (see `ui/app.launch`).

Routes only authenticate, parse, and render: every request becomes a call of `ApiService`. Errors always come in
OpenAI's shape `{"error": {"message", "type", "param", "code"}}`: 400 bad body (also what FastAPI would call 422),
401 no or bad key, 404 unknown model, 413 too large, 429 queue full, 503 model loading.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.api import protocol as p
from assistant.api.serving import (
    ApiError,
    ApiService,
    Caller,
    Delta,
    Final,
    ToolCalls,
    b64,
    run_on_thread,
)
from assistant.limits import RateLimited, check_chat_rate
from assistant.security import is_loopback
from assistant.users import LOCAL_OWNER, ApiKeyStore, UserStore

log = logging.getLogger(__name__)

ERRORS = {code: {"model": p.ErrorResponse} for code in (400, 401, 404, 413, 429, 503)}
_bearer = HTTPBearer(auto_error=False, description="an API key: python -m assistant apikeys create USER")


def error_response(exc: ApiError) -> JSONResponse:
    body = p.ErrorResponse(error=p.ErrorBody(message=exc.message, type=exc.type, param=exc.param, code=exc.code))
    return JSONResponse(body.model_dump(), status_code=exc.status, headers=exc.headers)


class BodyLimit:
    """ASGI middleware: 413 for a request body over `limit` bytes (declared or streamed), before anything parses it."""

    def __init__(self, app, limit: int) -> None:  # noqa: ANN001
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = ApiError(413, f"the request body is larger than {self.limit:,} bytes (ASSISTANT_API_MAX_BODY_BYTES)",
                           code="request_too_large")
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await error_response(too_big)(scope, receive, send)
            return
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await error_response(too_big)(scope, receive, send)
                return
            if not message.get("more_body"):
                break

        async def replay() -> dict:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def create_api(services, status=None) -> FastAPI:  # noqa: ANN001, C901 - Services, StartupStatus; one route each
    """The /v1 app (mount it at /v1): models, chat/completions, completions, embeddings, images/generations."""
    api = ApiService(services, status)
    keys = ApiKeyStore(services.db)
    users = UserStore(services.db)
    app = FastAPI(
        title="Offline assistant: OpenAI-compatible API",
        version="1",
        description="See docs/api.md. Extension fields start with `x_`.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.api = api
    app.add_middleware(BodyLimit, limit=services.settings.api_max_body_bytes)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RateLimited)
    async def _rate_limited(request: Request, exc: RateLimited) -> JSONResponse:
        return error_response(_as_api_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or None
        return error_response(ApiError(400, "invalid request: " + "; ".join(problems), param=param))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return error_response(ApiError(exc.status_code, str(exc.detail), kind))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("API request failed")
        return error_response(ApiError(500, f"internal error: {type(exc).__name__}", "server_error"))

    def caller(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Caller:
        """The key's user; with no accounts and no keys, the local single user, from loopback only."""
        no_keys = keys.active_count() == 0
        if no_keys and users.count() > 0:  # accounts exist: nobody is "local" any more
            raise ApiError(401, "accounts exist, so the API needs an API key; create one with: python -m assistant "
                                "apikeys create USER", "authentication_error", "no_api_keys",
                           headers={"WWW-Authenticate": "Bearer"})
        if no_keys:
            host = request.client.host if request.client else ""
            # the Host header too: a web page whose name was rebound to 127.0.0.1 reaches us from loopback
            named = urlsplit(f"//{request.headers.get('host', '')}").hostname or ""
            if not (is_loopback(host) and is_loopback(named)):
                raise ApiError(401, "no API keys are configured, so the API answers loopback clients only; create "
                                    "one with: python -m assistant apikeys create USER", "authentication_error",
                               "no_api_keys")
            return Caller(LOCAL_OWNER)
        if credentials is None:
            raise ApiError(401, "missing API key: send Authorization: Bearer <key>", "authentication_error",
                           "missing_api_key", headers={"WWW-Authenticate": "Bearer"})
        owner = keys.verify(credentials.credentials)
        if owner is None:
            raise ApiError(401, "invalid API key", "authentication_error", "invalid_api_key",
                           headers={"WWW-Authenticate": "Bearer"})
        return Caller(owner)

    @app.get("/models", response_model=p.ModelList, responses=ERRORS)
    def list_models(who: Caller = Depends(caller)) -> p.ModelList:
        return p.ModelList(data=api.models())

    @app.get("/models/{model_id:path}", response_model=p.ModelCard, responses=ERRORS)
    def get_model(model_id: str, who: Caller = Depends(caller)) -> p.ModelCard:
        api.adapter_for(model_id)
        return next(c for c in api.models() if c.id == model_id)

    def limited(who: Caller) -> None:
        """Count one generating request against the caller's per-user rate, as a chat turn counts its own."""
        check_chat_rate(who.owner, services.settings)

    @app.post("/chat/completions", response_model=p.ChatCompletion, responses=ERRORS)
    async def chat_completions(body: p.ChatCompletionRequest, who: Caller = Depends(caller)):  # noqa: ANN201
        produce = await anyio.to_thread.run_sync(api.plan_chat, body, who)  # may count against the rate itself
        return await respond(produce, body, chat=True)

    @app.post("/completions", response_model=p.Completion, responses=ERRORS)
    async def completions(body: p.CompletionRequest, who: Caller = Depends(caller)):  # noqa: ANN201
        produce = await anyio.to_thread.run_sync(api.plan_completion, body)
        limited(who)  # after the checks: a refused request costs the caller nothing
        return await respond(produce, body, chat=False)

    @app.post("/embeddings", response_model=p.EmbeddingResponse, responses=ERRORS)
    async def embeddings(body: p.EmbeddingRequest, who: Caller = Depends(caller)) -> p.EmbeddingResponse:
        api.check_embedding(body.model, body.texts())
        limited(who)
        vectors, tokens = await anyio.to_thread.run_sync(api.embed, body.texts())
        if body.encoding_format == "base64":
            import numpy as np

            data = [p.Embedding(index=i, embedding=b64(np.asarray(v, dtype="<f4").tobytes()))
                    for i, v in enumerate(vectors)]
        else:
            data = [p.Embedding(index=i, embedding=v) for i, v in enumerate(vectors)]
        return p.EmbeddingResponse(data=data, model=body.model,
                                   usage=p.Usage(prompt_tokens=tokens, total_tokens=tokens))

    @app.post("/images/generations", response_model=p.ImageResponse, responses=ERRORS)
    async def images(body: p.ImageRequest, who: Caller = Depends(caller)) -> p.ImageResponse:
        api.check_image_model(body.model, body.prompt, who.owner)
        limited(who)
        model, pictures = await anyio.to_thread.run_sync(api.draw, body.model, body.prompt, body.n, body.seed,
                                                         who.owner)
        if body.response_format == "url":
            data = [p.ImageData(url="data:image/png;base64," + b64(png)) for png in pictures]
        else:
            data = [p.ImageData(b64_json=b64(png)) for png in pictures]
        return p.ImageResponse(created=p.now(), data=data, x_model=model)

    async def respond(produce, body, chat: bool):  # noqa: ANN001, ANN202
        """Run the generation; a JSON body, or server-sent chunks ending in `data: [DONE]`."""
        stop_event = threading.Event()
        events = run_on_thread(produce, api.gate, stop_event)
        try:
            # the first event comes before the status line, so a full queue or bad input is still a real status
            first = await anext(events)
        except StopAsyncIteration:
            first = None
        except ApiError:
            await events.aclose()
            raise
        except Exception as exc:
            await events.aclose()
            raise _as_api_error(exc) from exc
        response_id = p.new_id("chatcmpl" if chat else "cmpl")
        created = p.now()
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            chunks = sse(first, events, stop_event, response_id, created, body.model, chat, include_usage)
            return StreamingResponse(chunks, media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        final = first if isinstance(first, Final) else None
        try:
            async for event in events:
                if isinstance(event, Final):
                    final = event
        except Exception as exc:
            raise _as_api_error(exc) from exc
        if final is None:
            raise ApiError(500, "the generation ended without a result", "server_error")
        return render(final, response_id, created, body.model, chat, body)

    return app


def _as_api_error(exc: Exception) -> ApiError:
    from assistant.adapters import AdapterError
    from assistant.llm.base import InputError

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RateLimited):  # the per-user chat rate limit
        return ApiError(429, str(exc), "rate_limit_error", "rate_limited", headers={"Retry-After": "10"})
    if isinstance(exc, (InputError, AdapterError, ValueError)):
        return ApiError(400, str(exc))
    log.error("API generation failed", exc_info=exc)
    return ApiError(500, f"generation failed: {type(exc).__name__}: {exc}", "server_error")


def usage(final: Final) -> p.Usage:
    return p.Usage(prompt_tokens=final.prompt_tokens, completion_tokens=final.completion_tokens,
                   total_tokens=final.prompt_tokens + final.completion_tokens)


def render(final: Final, response_id: str, created: int, model: str, chat: bool, body) -> JSONResponse:  # noqa: ANN001
    if not chat:
        out = p.Completion(id=response_id, created=created, model=model, usage=usage(final), choices=[
            p.CompletionChoice(index=c.index, text=c.content, finish_reason=c.finish_reason) for c in final.choices])
        return JSONResponse(out.model_dump())
    choices = [
        p.ChatChoice(index=c.index, finish_reason=c.finish_reason, message=p.ResponseMessage(
            content=None if c.tool_calls else c.content, reasoning_content=c.reasoning or None,
            tool_calls=[p.ToolCall(**call) for call in c.tool_calls] if c.tool_calls else None))
        for c in final.choices
    ]
    out = p.ChatCompletion(id=response_id, created=created, model=model, choices=choices, usage=usage(final),
                           x_conversation_id=final.conversation_id, x_message_id=final.message_id,
                           x_sources=final.sources if body.x_return_sources else None,
                           x_notices=final.notices or None)
    return JSONResponse(out.model_dump(exclude_none=True))


async def sse(  # noqa: C901 - the OpenAI chunk protocol in one place
    first, events: AsyncIterator, stop_event: threading.Event, response_id: str, created: int, model: str,  # noqa: ANN001
    chat: bool, include_usage: bool,
) -> AsyncIterator[bytes]:
    kind = "chat.completion.chunk" if chat else "text_completion"

    def chunk(choices: list[dict], **extra: object) -> bytes:
        data = {"id": response_id, "object": kind, "created": created, "model": model, "choices": choices, **extra}
        return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"

    started: set[int] = set()

    def piece(event: Delta | ToolCalls) -> bytes:
        if not chat:
            return chunk([{"index": event.index, "text": event.content, "finish_reason": None, "logprobs": None}])
        delta: dict = {}
        if event.index not in started:
            started.add(event.index)
            delta["role"] = "assistant"
        if isinstance(event, ToolCalls):
            delta["content"] = None
            delta["tool_calls"] = [{"index": j, **call} for j, call in enumerate(event.calls)]
        else:
            if event.reasoning:
                delta["reasoning_content"] = event.reasoning
            if event.content or "reasoning_content" not in delta:
                delta["content"] = event.content
        return chunk([{"index": event.index, "delta": delta, "finish_reason": None, "logprobs": None}])

    try:
        pending = [] if first is None else [first]
        async for event in _chain(pending, events):
            if isinstance(event, (Delta, ToolCalls)):
                yield piece(event)
            elif isinstance(event, Final):
                for c in event.choices:
                    if chat:
                        delta = {} if c.index in started else {"role": "assistant", "content": ""}
                        extra = {"x_conversation_id": event.conversation_id, "x_message_id": event.message_id}
                        yield chunk([{"index": c.index, "delta": delta, "finish_reason": c.finish_reason,
                                      "logprobs": None}], **extra)
                    else:
                        yield chunk([{"index": c.index, "text": "", "finish_reason": c.finish_reason,
                                      "logprobs": None}])
                if include_usage:
                    yield chunk([], usage=usage(event).model_dump())
        yield b"data: [DONE]\n\n"
    except Exception as exc:  # noqa: BLE001 - the status line is gone: the error goes in the stream
        error = _as_api_error(exc)
        body = p.ErrorResponse(error=p.ErrorBody(message=error.message, type=error.type, code=error.code))
        yield b"data: " + json.dumps(body.model_dump()).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"
    finally:
        stop_event.set()  # a client that left stops the generation at its next token


async def _chain(first: list, rest: AsyncIterator) -> AsyncIterator:
    for item in first:
        yield item
    async for item in rest:
        yield item
