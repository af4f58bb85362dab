"""What flows through the loop: requests, responses, tool calls and results, steps, the outcome.

Plain frozen dataclasses. The loop yields a Step per turn; whoever drives the loop decides what
to do with it (nothing, write it to a trace, compare it with a recorded one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.frozen import fast_init
from agent.state import AgentState, Message


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


def tool_calls_in(message: Mapping[str, Any]) -> tuple[ToolCall, ...]:
    """The tool calls of an assistant message in the OpenAI shape, in order."""
    calls = message.get("tool_calls") or ()
    return tuple(ToolCall(id=str(c["id"]), name=str(c["function"]["name"]), arguments=str(c["function"]["arguments"])) for c in calls)


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
