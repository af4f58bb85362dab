"""``agent trace edit``: a copy of a trace with one tool output changed, consistent throughout.

The copy is not patched record by record: the recorded run is driven again through the same loop,
every model answer and tool result served from the trace as recorded except the edited output, and
written by the same writer. So every later prompt digest and state hash is what the edited output
makes it, and the edited step's record is marked ``edited`` (a reuse of the copy goes live right
after it: the model must answer the edited output itself).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.loop import AgentRun, start_state
from agent.records import LLMRequest, LLMResponse, ToolCall, ToolResult
from agent.runtime import Runtime
from tracing.errors import TraceError
from tracing.reader import Trace
from tracing.replay import ReplaySession, recorded_response
from tracing.writer import TraceWriter


class _Answers:
    """The recorded model answers, one per step, whatever the request (the copy is not a replay)."""

    def __init__(self, session: ReplaySession) -> None:
        self.session = session

    def _step(self) -> dict[str, Any]:
        steps = self.session.trace.steps
        return steps[min(self.session.step, len(steps) - 1)]

    @property
    def model(self) -> str:
        return self._step()["model"]

    @property
    def params(self) -> Mapping[str, Any]:
        return self._step()["params"]

    def complete(self, request: LLMRequest) -> LLMResponse:
        return recorded_response(self.session.trace.steps[self.session.step])


class _Outputs:
    """The recorded tool results, with one output replaced."""

    def __init__(self, session: ReplaySession, step: int, call: int, output: Any) -> None:
        self.session, self.edit, self.output = session, (step, call), output
        self._place = (-1, 0)
        self._schemas: tuple[Any, tuple[Mapping[str, Any], ...]] = (None, ())

    @property
    def schemas(self) -> tuple[Mapping[str, Any], ...]:
        tools = self.session.trace.steps[self.session.step]["tools"]
        if self._schemas[0] is not tools:  # the same tuple while the recorded tools stay the same: written once
            self._schemas = (tools, tuple(tools))
        return self._schemas[1]

    def call(self, call: ToolCall, *, memory: Mapping[str, Any], runtime: Any) -> ToolResult:
        step = self.session.step
        number = self._place[1] if self._place[0] == step else 0
        self._place = (step, number + 1)
        recorded = self.session.trace.steps[step]["tool_calls"][number]
        if (step, number) == self.edit:
            return ToolResult(call=call, output=self.output, error=None, memory_update=recorded["memory_update"], latency_s=recorded["latency_s"])
        return ToolResult(call=call, output=recorded["output"], error=recorded["error"], memory_update=recorded["memory_update"], latency_s=recorded["latency_s"])


def edit_tool_output(trace: Trace, *, step: int, call: int, output: Any, out: str | Path) -> Path:
    """Write to ``out`` (a new file) a copy of ``trace`` whose tool call ``call`` of step ``step`` returned ``output``."""
    if not 0 <= step < len(trace.steps):
        msg = f"--step {step} is not a step of {trace.path}; it has steps 0 to {len(trace.steps) - 1}"
        raise TraceError(msg)
    calls = trace.steps[step]["tool_calls"]
    if not 0 <= call < len(calls):
        msg = f"--call {call} is not a tool call of step {step} of {trace.path}; it has {len(calls)} (0 to {len(calls) - 1})" if calls else f"step {step} of {trace.path} made no tool call"
        raise TraceError(msg)
    session = ReplaySession(trace)
    first = trace.prompts[0]
    if len(first) < 2:
        msg = f"{trace.path}: the first prompt has no system and user message; it cannot be copied by replaying it"
        raise TraceError(msg)

    run = AgentRun(
        state=start_state(system_prompt=first[0]["content"], prompt=first[1]["content"]),
        llm=_Answers(session),
        tools=_Outputs(session, step, call, output),
        runtime=Runtime(seed=int(trace.header["config"].get("seed", 0) or 0), clock=session.clock),
        max_steps=len(trace.steps),
    )
    original = calls[call]
    header = dict(trace.header) | {
        "run_id": uuid.uuid4().hex,
        "edited_from": {"trace": str(trace.path), "run_id": trace.header["run_id"], "step": step, "call": call, "tool": original["name"]},
    }
    writer = TraceWriter.create(Path(out), header)
    writer.edits = {step: [call]}

    def advance(_: Any) -> None:
        session.step += 1
        session._clock = 0  # noqa: SLF001 - the session's place in the step

    with writer:
        writer.record(run, advance)
    return writer.path
