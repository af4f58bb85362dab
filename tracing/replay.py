"""Replay: the recorded answers handed back to the same loop, and every step checked against the trace.

``ReplayLLM`` and ``ReplayTools`` are the ``llm=replay`` and ``tools=replay`` backends. They share a
``ReplaySession`` that knows which recorded step the run is at: the LLM backend checks each request
and returns the recorded response, the toolbox checks each call and returns the recorded result,
the session's clock hands out the recorded clock values, and after each step the driver has the
session check the new state. The first difference raises ``Divergence``; nothing is called, run or
connected to.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from agent.loop import Abort
from agent.records import LLMRequest, LLMResponse, Outcome, Step, ToolCall, ToolResult, Usage, tool_calls_in
from agent.state import History, chain_digest
from agent.tools.schema import tool_schema
from tracing.errors import TraceError
from tracing.reader import Trace
from tracing.schema import state_hash_rule

What = Literal["llm_request", "tool_call", "state", "end"]

_WHAT_TEXT: dict[str, str] = {
    "llm_request": "the request the agent sends to the model",
    "tool_call": "the tool call the agent makes",
    "state": "the agent state after the step",
    "end": "how the run ends",
}
_SHOWN = 80  # characters of a value shown in a report
CODE_CHANGED = "the agent's code, prompts or tools changed since the recording, or the trace was edited"
"""The likely cause a divergence names unless something more specific is known."""


@dataclass(frozen=True, slots=True)
class Difference:
    """One field that differs: where (a deepdiff path made readable), the recorded and the current value."""

    path: str
    expected: Any
    actual: Any


_MISSING = "<missing>"


def _path(deepdiff_path: str) -> str:
    path = re.sub(r"\['([^']*)'\]", r".\1", deepdiff_path.removeprefix("root"))
    return path.removeprefix(".") or "(value)"


def differences(expected: Any, actual: Any, *, prefix: str = "") -> list[Difference]:
    """Field-level differences between a recorded and a current value, as deepdiff finds them."""
    from deepdiff import DeepDiff  # only on a divergence: it costs ~100 ms to import

    found: list[Difference] = []
    for kind, items in DeepDiff(expected, actual, verbose_level=2).items():
        for where, change in items.items():
            path = _path(where)
            if prefix:
                path = prefix + path if path.startswith("[") else f"{prefix}.{path}"
            if kind in ("values_changed", "type_changes"):
                found.append(Difference(path, change["old_value"], change["new_value"]))
            elif kind.endswith("_added"):
                found.append(Difference(path, _MISSING, change))
            elif kind.endswith("_removed"):
                found.append(Difference(path, change, _MISSING))
    return sorted(found, key=lambda d: d.path)


def _short(value: Any) -> str:
    text = value if value == _MISSING else orjson.dumps(value, default=str).decode()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


class Divergence(Abort):
    """The replayed agent did something other than the recording: where, what, and how it differs."""

    def __init__(self, *, trace: Path, step: int, what: What, summary: str, found: Sequence[Difference] = (), call: int | None = None) -> None:
        self.trace, self.step, self.what, self.summary = trace, step, what, summary
        self.found = list(found)
        self.call = call
        self.likely_cause = CODE_CHANGED
        self.config_drift: list[str] = []
        super().__init__(f"replay diverged at step {step}: {summary}")

    def report(self) -> str:
        """The divergence as text: where, what, recorded against current per field, likely cause."""
        return divergence_report(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        """The same fields as ``report``, as JSON data."""
        return {
            "result": "diverged",
            "trace": str(self.trace),
            "step": self.step,
            "call": self.call,
            "what": self.what,
            "summary": self.summary,
            "differences": [{"path": d.path, "expected": d.expected, "actual": d.actual} for d in self.found],
            "config_drift": self.config_drift,
            "likely_cause": self.likely_cause,
        }


def divergence_report(divergence: Mapping[str, Any]) -> str:
    """The text report of a divergence given as ``Divergence.as_dict()`` data (also read back from --json)."""
    where = f"step {divergence['step']}" + (f", tool call {divergence['call']}" if divergence.get("call") is not None else "")
    lines = [
        f"replay DIVERGED at {where} ({divergence['trace']})",
        f"what differs: {_WHAT_TEXT[divergence['what']]}: {divergence['summary']}",
    ]
    if divergence["differences"]:
        lines.append("field: recorded -> now")
        lines += [f"  {d['path']}: {_short(d['expected'])} -> {_short(d['actual'])}" for d in divergence["differences"]]
    if divergence["config_drift"]:
        lines.append(f"config drift: {', '.join(divergence['config_drift'])}")
    lines.append(f"likely cause: {divergence['likely_cause']}")
    return "\n".join(lines)


class RecordingEnded(Abort):
    """The run went on past the last step of a trace that was cut off or interrupted: nothing more to check."""


class RecordedFailure(RuntimeError):
    """The recorded model call failed at this point; the replay LLM fails the same way, ending the run as error."""


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """A replay that matched every recorded step."""

    trace: Path
    steps: int
    cut_off: bool
    """Whether the recording stops before its run ended (cut off by a crash, or interrupted)."""
    config_drift: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for the terminal."""
        ends = "; the recording ends there (the run was cut off or interrupted)" if self.cut_off else ""
        drift = f"; config drift: {', '.join(self.config_drift)}" if self.config_drift else ""
        return f"replay OK: {self.steps} steps matched{ends}{drift} ({self.trace})"

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON data."""
        return {"result": "ok", "trace": str(self.trace), "steps": self.steps, "cut_off": self.cut_off, "config_drift": self.config_drift}


def _normalized(value: Any) -> Any:
    """``value`` as it reads back from a trace (tuples become lists, and so on)."""
    return orjson.loads(orjson.dumps(value, default=str))


def _arguments(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw  # malformed text from the model is compared as text


def _digest(messages: Sequence[Any]) -> str:
    return messages.digest() if isinstance(messages, History) else chain_digest(messages)


class ReplaySession:
    """Where a replay is in its trace, and the checks of each step against the recording."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.step = 0
        self._call = 0
        self._clock = 0
        self._tools_seen: tuple[Any, Any] = (None, None)  # (tools tuple, its normalized form)
        self._edited = set(trace.edited)
        self._state_hash = state_hash_rule(trace.header["schema_version"])  # the recording's own rule, for older traces

    def _diverged(self, **details: Any) -> Divergence:
        """A Divergence at this step, naming an edit of the trace as its cause when one explains it."""
        divergence = Divergence(trace=self.trace.path, step=self.step, **details)
        edited = min(self._edited, default=None)
        if edited is not None and edited <= self.step + 1:
            # A response or tool output changed in the trace shows in the next step's rebuilt prompt.
            divergence.likely_cause = (
                f"the trace was edited after recording: the messages it holds for step {edited} do not match the sha256 recorded with them"
            )
        return divergence

    def _recorded(self) -> dict[str, Any]:
        """The recorded step the run is at; past the recording's end the run diverges or the recording ended."""
        if self.step < len(self.trace.steps):
            return self.trace.steps[self.step]
        end = self.trace.end
        if end is None or end["status"] == "interrupted":
            raise RecordingEnded
        if end["status"] == "error":  # the recorded model call failed here: fail the same way
            raise RecordedFailure(end.get("error") or "the recorded LLM call failed")
        msg = f"the agent goes on to step {self.step}; the recording ended after {len(self.trace.steps)} steps"
        raise Divergence(trace=self.trace.path, step=self.step, what="end", summary=msg)

    def clock(self) -> float:
        """The next clock value the recording handed out in this step (its last one when they run out)."""
        end, steps = self.trace.end, self.trace.steps
        if self.step >= len(steps) and end is not None and end["status"] == "error":
            # The step whose model call failed was never recorded: its reads repeat the last recorded time.
            return float(steps[-1]["timestamp"]) if steps else 0.0
        recorded = self._recorded()
        reads = recorded.get("clock") or [recorded["timestamp"]]
        value = reads[min(self._clock, len(reads) - 1)]
        self._clock += 1
        return float(value)

    def respond(self, request: LLMRequest) -> LLMResponse:
        """The recorded response, after checking that ``request`` is the recorded one."""
        recorded = self._recorded()
        found: list[Difference] = []
        messages = request.messages
        if _digest(messages) != recorded["messages"]["sha256"]:
            found += message_differences(self.trace.prompts[self.step], messages)
        tools, normalized = self._tools_seen
        if request.tools is not tools:  # the toolbox hands the same tuple every step: normalize once
            normalized = _normalized(list(request.tools))
            self._tools_seen = (request.tools, normalized)
        if normalized != recorded["tools"]:
            found += differences(recorded["tools"], normalized, prefix="tools")
        if request.model != recorded["model"] or _normalized(dict(request.params)) != recorded["params"]:
            found += differences({"model": recorded["model"], "params": recorded["params"]}, {"model": request.model, "params": _normalized(dict(request.params))})
        if found:
            summary = f"{', '.join(sorted({d.path.split('[')[0].split('.')[0] for d in found}))} differ"
            raise self._diverged(what="llm_request", summary=summary, found=found)
        response = recorded["response"]
        usage = response.get("usage")
        return LLMResponse(
            message=response["message"],
            tool_calls=tool_calls_in(response["message"]),
            usage=Usage(usage["prompt_tokens"], usage["completion_tokens"]) if usage else None,
            latency_s=response.get("latency_s", 0.0),
        )

    def _check_call(self, call: ToolCall, number: int) -> dict[str, Any]:
        recorded_calls = self._recorded()["tool_calls"]
        if number >= len(recorded_calls):
            summary = f"the agent makes tool call {number} ({call.name}); the recording has {len(recorded_calls)} in this step"
            raise self._diverged(what="tool_call", summary=summary, call=number)
        recorded = recorded_calls[number]
        expected = {"name": recorded["name"], "arguments": _arguments(recorded["arguments"])}
        actual = {"name": call.name, "arguments": _arguments(call.arguments)}
        if expected != actual:
            found = differences(expected, actual)
            summary = f"{call.name} called with other {'arguments' if call.name == recorded['name'] else 'tool'}"
            raise self._diverged(what="tool_call", summary=summary, found=found, call=number)
        return recorded

    def tool_result(self, call: ToolCall) -> ToolResult:
        """The recorded result of ``call``, after checking it is the call the recording made here."""
        recorded = self._check_call(call, self._call)
        self._call += 1
        return ToolResult(
            call=call,
            output=recorded["output"],
            error=recorded["error"],
            memory_update=recorded["memory_update"],
            latency_s=recorded.get("latency_s", 0.0),
        )

    def check_step(self, step: Step) -> None:
        """Check the step's tool calls and the state after it against the recording, then move on."""
        recorded = self._recorded()
        # Calls the replay toolbox answered were checked then; those a live toolbox ran are checked here.
        for number, result in enumerate(step.results[self._call :], start=self._call):
            self._check_call(result.call, number)
        if len(step.results) < len(recorded["tool_calls"]):
            missing = recorded["tool_calls"][len(step.results)]
            summary = f"the agent stops after {len(step.results)} tool calls; the recording goes on with {missing['name']}"
            raise self._diverged(what="tool_call", summary=summary, call=len(step.results))
        if self._state_hash(step.state) != recorded["state"]["sha256"]:
            self._state_diverged(step, step.state.summary(), recorded["state"])
        if self.step in self._edited and _digest(step.request.messages) == recorded["messages"]["sha256"]:
            msg = (
                f"{self.trace.path}: the messages it holds for step {self.step} do not match the sha256 recorded with them, "
                "though the replayed agent sent the recorded prompt: the trace was damaged or edited after recording"
            )
            raise TraceError(msg)
        self.step += 1
        self._call = self._clock = 0

    def _state_diverged(self, step: Step, summary: dict[str, Any], recorded: dict[str, Any]) -> None:
        expected = {k: v for k, v in recorded.items() if k != "sha256"}
        found = differences(expected, summary, prefix="state")
        after = self.step + 1
        if after < len(self.trace.prompts) and after not in self._edited and expected.get("messages") != summary["messages"]:
            # The next recorded prompt is the recorded history after this step: show the messages that differ.
            found += message_differences(self.trace.prompts[after], step.state.messages)
        if not found:  # every field as recorded, yet the hash differs
            found = [Difference("state.sha256", recorded["sha256"], self._state_hash(step.state))]
        raise self._diverged(what="state", summary="the state after the step differs", found=found)

    def finish(self, outcome: Outcome) -> ReplayResult:
        """Check how the run ended against the end record (a cut-off trace has none to check)."""
        end = self.trace.end
        if end is not None:
            expected = {"status": end["status"], "steps": end["steps"], "answer": end.get("answer")}
            actual = {"status": outcome.status, "steps": outcome.steps, "answer": outcome.answer}
            if expected != actual:
                summary = f"the run ends {outcome.status} after {outcome.steps} steps; the recording ended {end['status']} after {end['steps']}"
                raise Divergence(trace=self.trace.path, step=outcome.steps, what="end", summary=summary, found=differences(expected, actual))
        return ReplayResult(trace=self.trace.path, steps=outcome.steps, cut_off=end is None or end["status"] == "interrupted")


def message_differences(recorded: Sequence[Any], current: Sequence[Any]) -> list[Difference]:
    """The first message that differs between two histories, field by field (not the whole history)."""
    for index in range(min(len(recorded), len(current))):
        if recorded[index] != current[index]:
            return differences(recorded[index], current[index], prefix=f"messages[{index}]")
    return [Difference("messages (count)", len(recorded), len(current))]


def _required(session: ReplaySession | None, group: str) -> ReplaySession:
    if session is None:
        msg = f"{group}=replay answers from a trace, which `agent replay TRACE` hands it; use that command instead of `agent run {group}=replay`"
        raise ValueError(msg)
    return session


class ReplayLLM:
    """``llm=replay``: answers every request with the recorded response, after checking the request."""

    def __init__(self, *, session: ReplaySession | None = None) -> None:
        self.session = _required(session, "llm")

    @property
    def model(self) -> str:
        """The recorded model name of the current step."""
        return self._current().get("model", "replay")

    @property
    def params(self) -> Mapping[str, Any]:
        """The recorded sampling parameters of the current step."""
        return self._current().get("params", {})

    def _current(self) -> dict[str, Any]:
        steps = self.session.trace.steps
        return steps[min(self.session.step, len(steps) - 1)] if steps else {}

    def complete(self, request: LLMRequest) -> LLMResponse:
        """The recorded response for this step."""
        return self.session.respond(request)


class ReplayTools:
    """``tools=replay``: answers every tool call from the recording and never runs a tool.

    The tools it is given only provide the schemas the agent sends with each request, so a change
    to a tool's signature or docstring since the recording shows up as a divergence.
    """

    def __init__(self, *, session: ReplaySession | None = None, tools: Mapping[str, Callable[..., Any]], workspace: Any = None) -> None:
        del workspace  # accepted so the live toolbox's config can be reused as is; nothing is touched
        self.session = _required(session, "tools")
        self.schemas = tuple(tool_schema(name, fn) for name, fn in tools.items())

    def call(self, call: ToolCall, *, memory: Mapping[str, Any], runtime: Any) -> ToolResult:
        """The recorded result of ``call``."""
        return self.session.tool_result(call)


class Fork:
    """A replay up to step ``until`` (inclusive), checked as usual, that goes on live after it."""

    def __init__(self, *, session: ReplaySession, until: int) -> None:
        if not 0 <= until < len(session.trace.steps):
            msg = f"replay.until={until} is not a step of {session.trace.path}; it has steps 0 to {len(session.trace.steps) - 1}"
            raise ValueError(msg)
        self.session, self.until = session, until

    def replaying(self) -> bool:
        """Whether the run is still in the recorded part."""
        return self.session.step <= self.until

    def clock(self) -> float:
        """The recorded clock up to the fork, the real one after it."""
        return self.session.clock() if self.replaying() else time.time()

    def check_step(self, step: Step) -> None:
        """Check the recorded part's steps; the live part has nothing to be checked against."""
        if step.index <= self.until:
            self.session.check_step(step)


class ForkLLM:
    """The recorded answers up to the fork, then a live backend's."""

    def __init__(self, *, fork: Fork, live: Any) -> None:
        self.fork, self.live = fork, live
        self.recorded = ReplayLLM(session=fork.session)

    def _current(self) -> Any:
        return self.recorded if self.fork.replaying() else self.live

    @property
    def model(self) -> str:
        """The model of the current part."""
        return self._current().model

    @property
    def params(self) -> Mapping[str, Any]:
        """The sampling parameters of the current part."""
        return self._current().params

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Answer from the recording up to the fork, from the live backend after."""
        return self._current().complete(request)
