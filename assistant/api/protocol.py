"""The OpenAI wire format: request and response models of /v1 (pydantic), and our `x_` extension fields.

Unknown request fields are ignored (as vLLM does), so clients that send newer OpenAI fields keep working.
Extension fields all start with `x_`; see docs/api.md.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Lenient(BaseModel):
    """A request body: unknown fields ignored (clients send newer ones), but no type coercion, as OpenAI's API:
    `"n": "2"`, `"stream": "yes"` and `"max_tokens": true` were taken as 2, a stream and 1 (a hostile probe)."""

    model_config = ConfigDict(extra="ignore", strict=True)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


# --- errors ---------------------------------------------------------------------------------------------------
class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


# --- models ---------------------------------------------------------------------------------------------------
class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "assistant"
    # extension: which adapter the id selects (None: the bare base model)
    x_adapter: str | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# --- chat -----------------------------------------------------------------------------------------------------
class FunctionCall(Lenient):
    name: str
    arguments: str = "{}"


class ToolCall(Lenient):
    id: str = ""
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The message's text; content parts other than text are refused (this model reads text only)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        pieces = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ValueError(f"only text content parts are supported, not {part.get('type')!r}")
            pieces.append(part["text"])
        return "".join(pieces)


class FunctionSpec(Lenient):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolSpec(Lenient):
    type: Literal["function"] = "function"
    function: FunctionSpec


class NamedToolChoice(Lenient):
    type: Literal["function"] = "function"
    function: dict[str, str]


class JsonSchemaSpec(Lenient):
    name: str = "output"
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(Lenient):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: JsonSchemaSpec | None = None


class StreamOptions(Lenient):
    include_usage: bool = False


class SamplingFields(Lenient):
    """What chat and text completions share."""

    model: str = Field(min_length=1, max_length=200)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    n: int = Field(1, ge=1, le=16)
    stream: bool = False
    stream_options: StreamOptions | None = None
    # vLLM's names for these (so our engine and vLLM accept the same request)
    top_k: int | None = Field(None, ge=-1, description="0 or -1: off")
    repetition_penalty: float | None = Field(None, ge=1.0, le=2.0)

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> list[str] | None:
        if value is None:
            return None
        stops = [value] if isinstance(value, str) else value
        if len(stops) > 4 or any(not s for s in stops):
            raise ValueError("stop: at most 4 non-empty sequences")
        return stops

    def generation(self) -> dict:
        """Our GenerationParams overrides (None = the app's default)."""
        temperature = self.temperature
        if temperature is not None and temperature < 1e-3:
            temperature = 0.0  # greedy: logits divided by a denormal give inf/NaN probabilities (schemathesis)
        return {
            "temperature": temperature,
            "top_p": self.top_p,
            "top_k": None if self.top_k is None else max(0, self.top_k),
            "max_new_tokens": self.max_completion_tokens or self.max_tokens,
            "repetition_penalty": self.repetition_penalty,
            "seed": self.seed,
        }


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ToolSpec] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    response_format: ResponseFormat | None = None
    # --- extensions -------------------------------------------------------------------------------------------
    x_cot_mode: Literal["direct", "step-by-step", "self-consistency"] | None = Field(
        None, description="chain-of-thought mode; default direct"
    )
    x_knowledge: Literal["off", "auto", "always"] | None = Field(
        None, description="answer from the knowledge base; default off"
    )
    x_return_sources: bool = Field(False, description="add `x_sources` (the retrieved chunks) to the response")
    x_builtin_tools: bool = Field(False, description="let the model call the app's own tools (calculator, images …)")


class CompletionRequest(SamplingFields):
    prompt: str | list[str]
    echo: bool = False
    response_format: ResponseFormat | None = None  # an extension here, as in vLLM

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError("prompt: send one prompt per request (a list of exactly one string)")
        return value

    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = None  # the CoT reasoning (vLLM's name), only when there is some


class ChatChoice(BaseModel):
    index: int
    message: ResponseMessage
    finish_reason: Literal["stop", "length", "tool_calls"] = "stop"


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    x_conversation_id: str | None = None
    x_message_id: int | None = None
    x_sources: list[dict] | None = None
    x_notices: list[str] | None = None


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: Literal["stop", "length"] = "stop"
    logprobs: None = None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage


# --- embeddings -----------------------------------------------------------------------------------------------
class EmbeddingRequest(Lenient):
    model: str = Field(min_length=1, max_length=200)
    input: str | list[str] = Field(...)
    encoding_format: Literal["float", "base64"] = "float"

    @field_validator("input")
    @classmethod
    def _texts(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not 1 <= len(value) <= 2048:
            raise ValueError("input: 1 to 2048 texts")
        return value

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage


# --- images ---------------------------------------------------------------------------------------------------
class ImageRequest(Lenient):
    prompt: str = Field(min_length=1, max_length=1000)
    model: str = "auto"
    n: int = Field(1, ge=1, le=16)
    response_format: Literal["b64_json", "url"] = "b64_json"
    size: str | None = None  # ignored: our models draw at their trained size (28 or 32 pixels)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)  # extension


class ImageData(BaseModel):
    b64_json: str | None = None
    url: str | None = None  # a data: URL (nothing of the data dir is served by path)
    revised_prompt: str | None = None


class ImageResponse(BaseModel):
    created: int
    data: list[ImageData]
    x_model: str | None = None
