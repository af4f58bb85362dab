"""What flows through the loop: requests, responses, tool calls and results, steps, the outcome.

Plain frozen dataclasses. The loop yields a Step per turn; whoever drives the loop decides what
to do with it (nothing, write it to a trace, compare it with a recorded one).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from agent.frozen import fast_init
from agent.jsondata import MAX_DEPTH
from agent.state import AgentState, Message

MAX_TOKENS = 2**53 - 1
"""Largest token count taken from a backend: the largest integer every JSON reader holds exactly."""


@fast_init
@dataclass(frozen=True, slots=True)
class LLMRequest:
    """What the agent asks the model."""

    messages: Sequence[Message]
    """The full prompt; the loop passes the state's History, which shares storage between steps."""
    tools: tuple[Mapping[str, Any], ...]
    """JSON schemas of the tools the model may call, in the OpenAI ``tools`` shape."""
    model: str
    """Model name as the backend reports it."""
    params: Mapping[str, Any]
    """Sampling parameters (temperature, max_tokens, seed, ...)."""


@fast_init
@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call the model asked for."""

    id: str
    """The call id, echoed in the tool message that answers it."""
    name: str
    """The tool's name."""
    arguments: str
    """The arguments as the raw JSON text the model produced (kept raw so malformed text is seen)."""


class MalformedAnswer(ValueError):
    """A model answer with no usable form (not an object, tool calls that are not a list of objects, ...)."""


_SURROGATE = re.compile("[\\ud800-\\udfff]")


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate (not valid in UTF-8, so not writable to a trace) replaced by U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def json_text(value: Any) -> str:
    """``value`` as canonical JSON text (sorted keys), with lone surrogates replaced; MalformedAnswer if it is not JSON data."""
    try:
        return clean_text(orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())
    except (TypeError, orjson.JSONEncodeError):
        pass
    try:  # integers beyond 64 bits, surrogates, deep nesting: the standard library writes what orjson will not
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as err:
        msg = f"the model sent a value that is not JSON data ({type(err).__name__}: {str(err)[:80]})"
        raise MalformedAnswer(msg) from None
    return clean_text(text)


def _as_text(value: Any, missing: str) -> str:
    if type(value) is str:
        return clean_text(value)
    return missing if value is None else json_text(value)


def _content(content: Any) -> str | None:
    """Text or None: a list of text parts (the OpenAI content-parts shape) is its texts joined, any other value its JSON text."""
    if content is None or type(content) is str:
        return content if content is None else clean_text(content)
    if type(content) is list and content and all(isinstance(p, Mapping) and p.get("type") == "text" and type(p.get("text")) is str for p in content):
        return clean_text("".join(part["text"] for part in content))
    return json_text(content)


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)


def _count(value: Any) -> int | None:
    if type(value) is int and 0 <= value <= MAX_TOKENS:
        return value
    if type(value) is float and value.is_integer() and 0 <= value <= MAX_TOKENS:
        return int(value)
    return None


def response_from_message(message: Any, *, usage: Any = None, latency_s: float = 0.0) -> LLMResponse:
    """The LLMResponse for an assistant message in the OpenAI shape and its usage: the one rule every backend's answer enters by.

    What the model sent is kept, in the form a trace holds and its reader accepts:
    - ``content``: text as is; a list of text parts, their texts joined; None or missing, None;
      any other value (a number, an object, other lists), its canonical JSON text;
    - each tool call: ``id`` as is when text, ``call_<i>`` (its position) when null or missing,
      else its JSON text; ``function.name`` likewise ("" when missing); ``function.arguments`` as
      the raw text the model produced, or, sent as an object or other value, its canonical JSON text
      (sorted keys), "" when missing;
    - every string: lone surrogates (``\\ud800`` after JSON decoding; not UTF-8) replaced by U+FFFD;
    - ``usage`` (a mapping or an object with ``prompt_tokens``/``completion_tokens``): whole counts
      from 0 to MAX_TOKENS are kept (a float such as 12.0 as 12); a negative, fractional, huge or
      non-number count makes the usage unreported (None), as the model gave no count to trust.
    Because every value of the message is then text, no nesting depth can reach the trace from it.
    An answer with no usable form (not an object; tool calls that are not a list of objects) raises
    MalformedAnswer, which ends the run with status error and the reason in the trace.
    """
    if not isinstance(message, Mapping):
        msg = f"the model's message is {type(message).__name__}, not an object with role and content"
        raise MalformedAnswer(msg)
    built: dict[str, Any] = {"role": "assistant", "content": _content(message.get("content"))}
    raw_calls = message.get("tool_calls")
    calls: list[ToolCall] = []
    if raw_calls:
        if type(raw_calls) is not list:
            msg = f"the model's tool_calls is {type(raw_calls).__name__}, not a list"
            raise MalformedAnswer(msg)
        for index, raw in enumerate(raw_calls):
            function = raw.get("function") if isinstance(raw, Mapping) else None
            if not isinstance(function, Mapping):
                msg = f"the model's tool call {index} has no function object"
                raise MalformedAnswer(msg)
            calls.append(
                ToolCall(
                    id=_as_text(raw.get("id"), f"call_{index}"),
                    name=_as_text(function.get("name"), ""),
                    arguments=_as_text(function.get("arguments"), ""),
                )
            )
        built["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls]
    counted = None
    if usage is not None:
        prompt, completion = _count(_field(usage, "prompt_tokens")), _count(_field(usage, "completion_tokens"))
        counted = Usage(prompt, completion) if prompt is not None and completion is not None else None
    return LLMResponse(message=built, tool_calls=tuple(calls), usage=counted, latency_s=latency_s)


def tool_calls_in(message: Mapping[str, Any]) -> tuple[ToolCall, ...]:
    """The tool calls of an assistant message in the OpenAI shape, in order."""
    calls = message.get("tool_calls") or ()
    # A list, then a tuple: a generator costs more than the calls it makes (this runs every replayed step);
    # ToolCall(id, name, arguments) positionally, as keywords cost ~0.04 µs each.
    return tuple([ToolCall(str(c["id"]), str(c["function"]["name"]), str(c["function"]["arguments"])) for c in calls])


@fast_init
@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one model call, as the backend reports them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)


@fast_init
@dataclass(frozen=True, slots=True)
class LLMResponse:
    """What the model answered."""

    message: Message
    """The assistant message, appended to the history as is."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The tool calls in ``message``, parsed; empty when the message is a final answer."""
    usage: Usage | None = None
    """Token usage, when the backend reports it."""
    latency_s: float = 0.0
    """Wall time of the call, in seconds."""


@fast_init
@dataclass(frozen=True, slots=True)
class ToolResult:
    """What one tool call did."""

    call: ToolCall
    """The call this answers."""
    output: Any = None
    """The tool's raw output (JSON data), None when it failed."""
    error: str | None = None
    """Why the call failed (unknown tool, bad arguments, or the tool raised); the model sees it."""
    memory_update: Mapping[str, Any] = field(default_factory=dict)
    """Memory keys to set (None deletes), applied by the loop: tools never touch the state."""
    latency_s: float = 0.0
    """Wall time of the call, in seconds."""


_LOWEST, _HIGHEST = -(2**63), 2**64 - 1  # the integers a trace's JSON writer (orjson) can write


def recordable(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON data a trace can hold and its reader accepts: lone surrogates in strings replaced
    by U+FFFD; ValueError for containers nested deeper than MAX_DEPTH, integers beyond 64 bits, and
    floats that are not finite (NaN would be written as null). Other types are left to the writer."""
    kind = type(value)
    if kind is str:
        return clean_text(value)
    if kind is int:
        if not _LOWEST <= value <= _HIGHEST:
            msg = "an integer beyond 64 bits"
            raise ValueError(msg)
        return value
    if kind is float:
        if not math.isfinite(value):
            msg = f"a number that is not finite ({value})"
            raise ValueError(msg)
        return value
    if kind is dict or kind is list:
        if depth >= MAX_DEPTH:
            msg = f"a value nested deeper than {MAX_DEPTH} levels"
            raise ValueError(msg)
        if kind is list:
            items = [recordable(item, depth + 1) for item in value]
            return value if all(a is b for a, b in zip(items, value, strict=True)) else items
        converted = {recordable(k, depth + 1) if type(k) is str else k: recordable(v, depth + 1) for k, v in value.items()}
        return value if all(a is b for a, b in zip(converted.values(), value.values(), strict=True)) and len(converted) == len(value) else converted
    return value


def _plain(value: Any) -> bool:
    """Whether ``value`` is a scalar that ``recordable`` would return as it is."""
    kind = type(value)
    if kind is str:
        return value.isascii()
    if kind is int:
        return _LOWEST <= value <= _HIGHEST
    return value is None or kind is bool or (kind is float and math.isfinite(value))


def _plain_values(update: Mapping[str, Any]) -> bool:
    """Whether every value of ``update`` is a scalar that ``recordable`` would return as it is."""
    for value in update.values():  # a loop with ASCII text tested in place: ~1.6x faster than all(map(_plain, ...)) on one key
        if not (value.isascii() if type(value) is str else _plain(value)):
            return False
    return True


def recordable_result(result: ToolResult) -> ToolResult:
    """``result`` with its output, memory update and error in the form a trace holds (see ``recordable``);
    a result that cannot be held that way becomes an error result the model sees, with no memory update."""
    output, update, error = result.output, result.memory_update, result.error
    if (output.isascii() if type(output) is str else _plain(output)) and (error is None or error.isascii()) and (not update or _plain_values(update)):
        return result  # the common case: scalars only, at once
    try:
        new_output = recordable(output)
        # A memory value sits one level inside the update (and the memory) that a reader checks as a whole.
        new_update = {key: recordable(value, 1) for key, value in update.items()} if update else update
    except ValueError as err:
        problem = f"the tool's result cannot be recorded: it holds {err}"
        return ToolResult(call=result.call, error=problem, latency_s=result.latency_s)
    new_error = clean_text(error) if error is not None else None
    if new_output is output and new_error is error and (not update or all(a is b for a, b in zip(new_update.values(), update.values(), strict=True))):
        return result
    return ToolResult(call=result.call, output=new_output, error=new_error, memory_update=new_update, latency_s=result.latency_s)


@fast_init
@dataclass(frozen=True, slots=True)
class Step:
    """One turn of the loop."""

    index: int
    """0-based position in the run."""
    timestamp: float
    """When the step started, in seconds since the epoch, from the runtime's clock."""
    request: LLMRequest
    """What was sent to the model."""
    response: LLMResponse
    """What the model answered."""
    results: tuple[ToolResult, ...]
    """The tool calls of the response with their results, in order."""
    state: AgentState
    """The state after the step (immutable, so steps can be kept)."""
    clock: tuple[float, ...] = ()
    """Every value the runtime's clock handed out during the step, the step's timestamp first."""


Status = Literal["finished", "max_steps", "error", "interrupted"]


@fast_init
@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run ended."""

    status: Status
    """finished (final answer), max_steps (limit reached), error, or interrupted."""
    state: AgentState
    """The last state."""
    error: str | None = None
    """What went wrong, when status is error."""
    usage: Usage = field(default_factory=Usage)
    """Token totals over the run."""
    failed_tool_calls: int = 0
    """Tool calls that ended in an error result (the model saw the error; the run went on)."""

    @property
    def answer(self) -> str | None:
        return self.state.answer

    @property
    def steps(self) -> int:
        return self.state.step
