"""Replay: the recorded answers handed back to the same loop, and every step checked against the trace.

``ReplayLLM`` and ``ReplayTools`` are the ``llm=replay`` and ``tools=replay`` backends. They share a
``ReplaySession`` that knows which recorded step the run is at: the LLM backend checks each request
and returns the recorded response, the toolbox checks each call and returns the recorded result,
the session's clock hands out the recorded clock values, and after each step the driver has the
session check the new state. The first difference raises ``Divergence``; nothing is called, run or
connected to.
"""

from __future__ import annotations

import functools
import re
import threading
import time
import types
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from agent.loop import Abort
from agent.records import LLMRequest, LLMResponse, Outcome, Step, ToolCall, ToolResult, Usage, tool_calls_in
from agent.state import History, chain_digest, plain_copy
from agent.tools.schema import tool_schema
from tracing.errors import TraceError
from tracing.reader import Trace
from tracing.text import printable
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


def short_value(value: Any) -> str:
    """A recorded or current value as JSON text for a report row, cut to a length a line can hold."""
    text = value if value == _MISSING else orjson.dumps(value, default=str).decode()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def difference_rows(found: Sequence[Difference]) -> list[str]:
    """``  path: recorded -> now``, one line per difference: the rows of a divergence report and of a trace diff."""
    return [f"  {d.path}: {short_value(d.expected)} -> {short_value(d.actual)}" for d in found]


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where and how a replay first did something other than the recording (a value; ``Diverged`` carries it)."""

    trace: Path
    step: int
    what: What
    summary: str
    found: tuple[Difference, ...] = ()
    call: int | None = None
    """The tool call's position in the step, when a tool call differs."""
    call_text: str | None = None
    """The recorded tool call as ``name(arguments)``, when one is concerned."""
    config_drift: tuple[str, ...] = ()
    likely_cause: str = CODE_CHANGED

    def __str__(self) -> str:
        return self.report()

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
            "call_text": self.call_text,
            "what": self.what,
            "summary": self.summary,
            "differences": [{"path": d.path, "expected": d.expected, "actual": d.actual} for d in self.found],
            "config_drift": list(self.config_drift),
            "likely_cause": self.likely_cause,
        }


class Diverged(Abort):
    """Raised inside a replay at the first difference; ``divergence`` says where and how."""

    def __init__(self, divergence: Divergence) -> None:
        self.divergence = divergence
        super().__init__(f"replay diverged at step {divergence.step}: {divergence.summary}")


def divergence_report(divergence: Mapping[str, Any]) -> str:
    """The text report of a divergence given as ``Divergence.as_dict()`` data."""
    where = f"step {divergence['step']}"
    if divergence.get("call") is not None:
        where += f", tool call {divergence['call']}" + (f" {divergence['call_text']}" if divergence.get("call_text") else "")
    lines = [
        f"replay DIVERGED at {where} ({divergence['trace']})",
        f"what differs: {_WHAT_TEXT[divergence['what']]}: {divergence['summary']}",
    ]
    if divergence["differences"]:
        lines.append("field: recorded -> now")
        lines += difference_rows([Difference(d["path"], d["expected"], d["actual"]) for d in divergence["differences"]])
    if divergence["config_drift"]:
        lines.append(f"config drift: {', '.join(divergence['config_drift'])}")
    lines.append(f"likely cause: {divergence['likely_cause']}")
    return "\n".join(printable(line) for line in lines)  # each line escaped, the report's own newlines kept


class RecordingEnded(Abort):
    """The run went on past the last step of a trace that was cut off or interrupted: nothing more to check."""


class RecordedFailure(RuntimeError):
    """The recorded model call failed at this point; the replay LLM fails the same way, ending the run as error."""


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay found: every step matched (``ok``), or the first ``divergence``."""

    trace: Path
    steps: int
    """Steps that matched."""
    cut_off: bool = False
    """Whether the recording stops before its run ended (cut off by a crash, or interrupted)."""
    config_drift: tuple[str, ...] = ()
    divergence: Divergence | None = None

    @property
    def ok(self) -> bool:
        """Whether every step matched."""
        return self.divergence is None

    def __str__(self) -> str:
        return self.line() if self.divergence is None else self.divergence.report()

    def line(self) -> str:
        """One line for the terminal (the report's first line when it diverged)."""
        if self.divergence is not None:
            return self.divergence.report().splitlines()[0]
        ends = "; the recording ends there (the run was cut off or interrupted)" if self.cut_off else ""
        drift = f"; config drift: {', '.join(self.config_drift)}" if self.config_drift else ""
        return printable(f"replay OK: {self.steps} steps matched{ends}{drift} ({self.trace})")

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON data."""
        if self.divergence is not None:
            return self.divergence.as_dict()
        return {"result": "ok", "trace": str(self.trace), "steps": self.steps, "cut_off": self.cut_off, "config_drift": list(self.config_drift)}


def _normalized(value: Any) -> Any:
    """``value`` as it reads back from a trace (tuples become lists, and so on)."""
    return orjson.loads(orjson.dumps(value, default=str))


def call_arguments(raw: str) -> Any:
    """A tool call's arguments as data, compared as such; malformed text from the model stays text."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw  # malformed text from the model is compared as text


def _digest(messages: Sequence[Any]) -> str:
    return messages.digest() if isinstance(messages, History) else chain_digest(messages)


def _call_text(name: str, arguments: str) -> str:
    """A tool call as ``name(key=value, ...)``, short enough for a report line."""
    args = call_arguments(arguments)
    inner = ", ".join(f"{k}={short_value(v)}" for k, v in args.items()) if isinstance(args, dict) else short_value(args)
    text = f"{name}({inner})"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…)"


class ReplaySession:
    """Where a replay is in its trace, and the checks of each step against the recording.

    ``config_drift`` (the settings that differ from the recording's, found by whoever built the
    replay) and which backends answer from the recording (``ReplayLLM`` and ``ReplayTools`` say so
    when they are built with the session) are the facts a divergence's likely cause is derived from.
    """

    def __init__(self, trace: Trace, *, config_drift: Sequence[str] = ()) -> None:
        self.trace = trace
        self.step = 0
        self.config_drift = tuple(config_drift)
        self.llm_replayed = False
        self.tools_replayed = False
        self._call = 0
        self._clock = 0
        # (tools tuple, its normalized form, the recorded tools list last found equal to it)
        self._tools_seen: tuple[Any, Any, Any] = (None, None, None)
        self._state_hash = state_hash_rule(trace.header["schema_version"])  # the recording's own rule, for older traces

    def _diverged(self, *, what: What, summary: str, found: Sequence[Difference] = (), call: int | None = None, step: int | None = None) -> Diverged:
        """The Diverged error at this step, with the likely cause derived from what differs."""
        step = self.step if step is None else step
        call_text = None
        if call is not None and step < len(self.trace.steps) and call < len(self.trace.steps[step]["tool_calls"]):
            recorded = self.trace.steps[step]["tool_calls"][call]
            call_text = _call_text(recorded["name"], recorded["arguments"])
        divergence = Divergence(
            trace=self.trace.path,
            step=step,
            what=what,
            summary=summary,
            found=tuple(found),
            call=call,
            call_text=call_text,
            config_drift=self.config_drift,
            likely_cause=self._likely_cause(what, found, step),
        )
        return Diverged(divergence)

    def _likely_cause(self, what: What, found: Sequence[Difference], step: int) -> str:
        """The likeliest reason for a difference, from the facts: an edit, drift, a live backend, the kind of field."""
        edited = min(self.trace.edited, default=None)
        if edited is not None and edited <= step + 1:
            # A response or tool output changed in the trace shows in the next step's rebuilt prompt.
            return f"the trace was edited after recording: the messages it holds for step {edited} do not match the sha256 recorded with them"
        if self.config_drift:
            return "the config differs from the recording's (see config drift)"
        paths = " ".join(d.path for d in found)
        tool_output = ".role" not in paths and any(d.path.startswith("messages[") and self._is_tool_message(d.path, step) for d in found)
        if not self.tools_replayed and (what == "state" or tool_output):
            return "today's tools (tools=live) returned another output or memory update than the recorded ones"
        if not self.llm_replayed and what in ("tool_call", "state", "end"):
            return "the live model (mixed mode) answered otherwise than the recorded one"
        if what == "llm_request" and paths.startswith("tools"):
            return "a tool's signature, docstring or the tool list changed since the recording"
        if what == "llm_request" and ("model" in paths.split(".")[0] or paths.startswith("params")):
            return "the model or its sampling settings changed since the recording"
        if tool_output:
            return "the text a tool's output becomes for the model changed (the agent's code changed since the recording)"
        return CODE_CHANGED

    def _is_tool_message(self, path: str, step: int) -> bool:
        prompts = self.trace.prompts
        match = re.match(r"messages\[(\d+)\]", path)
        if not match or step >= len(prompts):
            return False
        index = int(match[1])
        return index < len(prompts[step]) and prompts[step][index].get("role") == "tool"

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
        raise self._diverged(what="end", summary=msg)

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
        found = request_differences(self, request, recorded)
        if found:
            summary = f"{', '.join(sorted({d.path.split('[')[0].split('.')[0] for d in found}))} differ"
            raise self._diverged(what="llm_request", summary=summary, found=found)
        return recorded_response(recorded)

    def _check_call(self, call: ToolCall, number: int) -> dict[str, Any]:
        recorded_calls = self._recorded()["tool_calls"]
        if number >= len(recorded_calls):
            summary = f"the agent makes tool call {number} ({call.name}); the recording has {len(recorded_calls)} in this step"
            raise self._diverged(what="tool_call", summary=summary, call=number)
        recorded = recorded_calls[number]
        if call.name == recorded["name"] and call.arguments == recorded["arguments"]:
            return recorded  # the same text parses the same: no need to parse it
        expected = {"name": recorded["name"], "arguments": call_arguments(recorded["arguments"])}
        actual = {"name": call.name, "arguments": call_arguments(call.arguments)}
        if expected != actual:
            found = differences(expected, actual)
            summary = f"{call.name} called with other {'arguments' if call.name == recorded['name'] else 'tool'}"
            raise self._diverged(what="tool_call", summary=summary, found=found, call=number)
        return recorded

    def tool_result(self, call: ToolCall) -> ToolResult:
        """The recorded result of ``call``, after checking it is the call the recording made here."""
        result = self.recorded_result(call, self._call)
        self._call += 1
        return result

    def recorded_result(self, call: ToolCall, number: int) -> ToolResult:
        """The recorded result of this step's tool call ``number``, after checking ``call`` is the one recorded."""
        recorded = self._check_call(call, number)
        # Positional (call, output, error, memory_update, latency_s): keywords cost ~0.04 µs each, every replayed call.
        return ToolResult(call, recorded["output"], recorded["error"], recorded["memory_update"], recorded.get("latency_s", 0.0))

    def check_step(self, step: Step) -> None:
        """Check the step's tool calls and the state after it against the recording, then move on."""
        recorded = self._recorded()
        # Calls the replay toolbox answered were checked then; those a live toolbox ran are checked here.
        if self._call < len(step.results):
            for number, result in enumerate(step.results[self._call :], start=self._call):
                self._check_call(result.call, number)
        if len(step.results) < len(recorded["tool_calls"]):
            missing = recorded["tool_calls"][len(step.results)]
            summary = f"the agent stops after {len(step.results)} tool calls; the recording goes on with {missing['name']}"
            raise self._diverged(what="tool_call", summary=summary, call=len(step.results))
        if self._state_hash(step.state) != recorded["state"]["sha256"]:
            self._state_diverged(step, step.state.summary(), recorded["state"])
        if _digest(step.request.messages) == recorded["messages"]["sha256"] and not self._holds_prompt(step.request.messages, recorded):
            msg = (
                f"{self.trace.path}: the messages it holds for step {self.step} do not match the sha256 recorded with them, "
                "though the replayed agent sent the recorded prompt: the trace was damaged or edited after recording"
            )
            raise TraceError(msg)
        self.step += 1
        self._call = self._clock = 0

    def _holds_prompt(self, sent: Sequence[Any], recorded: dict[str, Any]) -> bool:
        """Whether the trace holds the prompt the agent sent (which matched the recorded sha256).

        The trace is read without digesting its prompts (the replay digests its own): the messages the
        step record added are compared with the sent ones instead, the rest being the previous step's,
        compared then. The replayed answer is the very object the trace holds, so most of this is an
        identity check; only on a difference are the trace's own messages digested to decide.
        """
        stored, kept = self.trace.prompts[self.step], recorded["messages"]["kept"]
        added = sent.tail(kept) if isinstance(sent, History) else list(sent)[kept:]
        if len(stored) == len(sent) and stored.tail(kept) == added:
            return True
        return stored.digest() == recorded["messages"]["sha256"]

    def _state_diverged(self, step: Step, summary: dict[str, Any], recorded: dict[str, Any]) -> None:
        expected = {k: plain_copy(v) if k == "memory" else v for k, v in recorded.items() if k != "sha256"}  # a dict, as the summary's
        found = differences(expected, summary, prefix="state")
        after = self.step + 1
        if after < len(self.trace.prompts) and after not in self.trace.edited and expected.get("messages") != summary["messages"]:
            # The next recorded prompt is the recorded history after this step: show the messages that differ,
            # in place of the history's digest and count, which only say that something did.
            messages = message_differences(self.trace.prompts[after], step.state.messages)
            found = [d for d in found if not d.path.startswith("state.messages.")] + messages
        if not found:  # every field as recorded, yet the hash differs
            found = [Difference("state.sha256", recorded["sha256"], self._state_hash(step.state))]
        call = self._tool_call_of(found, after)
        raise self._diverged(what="state", summary="the state after the step differs", found=found, call=call)

    def _tool_call_of(self, found: Sequence[Difference], prompt_index: int) -> int | None:
        """The tool call of this step whose message differs, when a tool message explains the difference."""
        prompts = self.trace.prompts
        for d in found:
            match = re.match(r"messages\[(\d+)\]", d.path)
            if match and prompt_index < len(prompts) and int(match[1]) < len(prompts[prompt_index]):
                message = prompts[prompt_index][int(match[1])]
                ids = [c["id"] for c in self.trace.steps[self.step]["tool_calls"]]
                if message.get("role") == "tool" and message.get("tool_call_id") in ids:
                    return ids.index(message["tool_call_id"])
        return None

    def finish(self, outcome: Outcome) -> ReplayResult:
        """Check how the run ended against the end record (a cut-off trace has none to check)."""
        end = self.trace.end
        if end is not None:
            expected = {"status": end["status"], "steps": end["steps"], "answer": end.get("answer")}
            actual = {"status": outcome.status, "steps": outcome.steps, "answer": outcome.answer}
            if expected != actual:
                summary = f"the run ends {outcome.status} after {outcome.steps} steps; the recording ended {end['status']} after {end['steps']}"
                raise self._diverged(what="end", summary=summary, found=differences(expected, actual), step=outcome.steps)
        return ReplayResult(trace=self.trace.path, steps=outcome.steps, cut_off=end is None or end["status"] == "interrupted", config_drift=self.config_drift)


def request_differences(session: ReplaySession, request: LLMRequest, recorded: Mapping[str, Any]) -> list[Difference]:
    """How ``request`` differs from the recorded step's request: prompt, tool schemas, model and parameters."""
    found: list[Difference] = []
    messages = request.messages
    if _digest(messages) != recorded["messages"]["sha256"]:
        found += message_differences(session.trace.prompts[session.step], messages)
    tools, normalized, matched = session._tools_seen  # noqa: SLF001 - the session's cache of the toolbox's schemas
    if request.tools is not tools:  # the toolbox hands the same tuple every step: normalize once
        tools, normalized, matched = request.tools, _normalized(list(request.tools)), None
    # The reader hands the same list to every step that left the tools out: compared once, not every step.
    if recorded["tools"] is not matched:
        if normalized != recorded["tools"]:
            found += differences(recorded["tools"], normalized, prefix="tools")
        else:
            matched = recorded["tools"]
    session._tools_seen = (tools, normalized, matched)  # noqa: SLF001
    # The replay LLM hands the recorded params themselves: the same object needs no normalizing.
    params_differ = request.params is not recorded["params"] and _normalized(dict(request.params)) != recorded["params"]
    if request.model != recorded["model"] or params_differ:
        found += differences({"model": recorded["model"], "params": recorded["params"]}, {"model": request.model, "params": _normalized(dict(request.params))})
    return found


def recorded_response(recorded: Mapping[str, Any]) -> LLMResponse:
    """The LLMResponse a step record holds."""
    response = recorded["response"]
    usage, message = response.get("usage"), response["message"]
    # Positional (message, tool_calls, usage, latency_s): keywords cost ~0.04 µs each, every replayed step.
    return LLMResponse(
        message,
        tool_calls_in(message),
        Usage(usage["prompt_tokens"], usage["completion_tokens"]) if usage else None,
        response.get("latency_s", 0.0),
    )


def _json_text(value: Any) -> Any:
    """The JSON a text holds, when it is a JSON object or array; None otherwise."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return None


def message_differences(recorded: Sequence[Any], current: Sequence[Any]) -> list[Difference]:
    """The first message that differs between two histories, field by field (not the whole history).

    A content that is JSON text on both sides (a structured tool output) is compared as JSON, so the
    report names the path inside it instead of two long strings that look alike.
    """
    for index in range(min(len(recorded), len(current))):
        if recorded[index] != current[index]:
            a, b = recorded[index], current[index]
            prefix = f"messages[{index}]"
            parsed = (_json_text(a.get("content")), _json_text(b.get("content"))) if isinstance(a, Mapping) and isinstance(b, Mapping) else (None, None)
            if parsed[0] is not None and parsed[1] is not None:
                rest = {k: v for k, v in a.items() if k != "content"}, {k: v for k, v in b.items() if k != "content"}
                return differences(parsed[0], parsed[1], prefix=f"{prefix}.content") + differences(*rest, prefix=prefix)
            return differences(a, b, prefix=prefix)
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
        self.session.llm_replayed = True

    @property
    def model(self) -> str:
        """The recorded model name of the current step."""
        return self._current().get("model", "replay")

    @property
    def params(self) -> Mapping[str, Any]:
        """The recorded sampling parameters of the current step."""
        return self._current().get("params", {})

    def _current(self) -> dict[str, Any]:
        step, steps = self.session.step, self.session.trace.steps
        if step < len(steps):  # the loop asks for model and params every step: the common case first
            return steps[step]
        return steps[-1] if steps else {}

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
        self.session.tools_replayed = True
        self.schemas = tuple(known_schema(name, fn) for name, fn in tools.items())

    def call(self, call: ToolCall, *, memory: Mapping[str, Any], runtime: Any) -> ToolResult:
        """The recorded result of ``call``."""
        return self.session.tool_result(call)


# Today's schema of each tool function a replay has met. Building one costs ~2 ms through pydantic
# (0.05 for plain JSON types, agent/tools/schema.py), and a golden-trace suite replays the same
# tools again and again. Keyed weakly by the function itself (reloaded code is a new function; a
# bound method by its function, as each attribute access makes a new method object) and by what a
# schema is made from besides its code: its name, what a partial binds or that a method binds its
# first parameter, its docstring, annotations and defaults as they are now.
_schemas: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], dict[str, Any]]] = weakref.WeakKeyDictionary()
_schemas_lock = threading.Lock()


def known_schema(name: str, function: Callable[..., Any]) -> dict[str, Any]:
    """``tool_schema(name, function)``, built once per function and copied out."""
    bound: tuple[Any, ...] = ()
    target = function
    if isinstance(function, functools.partial):
        target, bound = function.func, (len(function.args), frozenset(function.keywords))
    elif isinstance(function, types.MethodType):  # the schema leaves out self, whatever the instance
        target, bound = function.__func__, ("method",)
    try:
        key = (name, bound, getattr(target, "__doc__", None), id(getattr(target, "__annotations__", None)), id(getattr(target, "__defaults__", None)))
        with _schemas_lock:
            schema = _schemas.get(target, {}).get(key)
    except TypeError:  # not weakly referable or not hashable: nothing to remember it by
        return tool_schema(name, function)
    if schema is None:
        schema = tool_schema(name, function)
        with _schemas_lock:
            _schemas.setdefault(target, {})[key] = schema
    return orjson.loads(orjson.dumps(schema))  # a copy: no replay can alter another's


class Prefix:
    """A recorded prefix of a run served to the same loop, then live backends from where it ends.

    Three uses share it. A fork (``until=K``) and a resume (``until`` = the last recorded step) replay
    the prefix strictly: every step is checked and a difference raises ``Diverged``. A reuse
    (``until=None``, ``strict=False``) serves each recorded answer while the request is the recorded
    one, and goes live for good at the first request that differs, keeping the reason.
    """

    def __init__(self, *, session: ReplaySession, until: int | None, strict: bool = True) -> None:
        steps = session.trace.steps
        if until is not None and not 0 <= until < len(steps):
            msg = f"step {until} is not a step of {session.trace.path}; it has steps 0 to {len(steps) - 1}"
            raise ValueError(msg)
        self.session, self.strict = session, strict
        self.until = len(steps) - 1 if until is None else until
        self.live_from: int | None = None
        """The step from which the run went live (None while it is still in the prefix)."""
        self.reason: str | None = None
        """Why the prefix ended there: the first differing field, an edited tool output, or the recording's end."""

    def replaying(self) -> bool:
        """Whether the run is still in the recorded prefix."""
        return self.live_from is None and self.session.step <= self.until

    def go_live(self, reason: str) -> None:
        """Leave the prefix at the current step, for ``reason`` (the first reason given is kept)."""
        if self.live_from is None:
            self.live_from, self.reason = self.session.step, reason

    @property
    def reused(self) -> int:
        """How many recorded steps were served."""
        return self.live_from if self.live_from is not None else min(self.session.step, self.until + 1)

    def clock(self) -> float:
        """The recorded clock in the prefix, the real one after it."""
        return self.session.clock() if self.replaying() else time.time()

    def check_step(self, step: Step) -> None:
        """Check a prefix step (strict) or move past it (reuse); the live part has nothing to be checked against."""
        if not self.replaying():
            return
        if self.strict:
            self.session.check_step(step)
        else:
            self.session.step += 1
            self.session._call = self.session._clock = 0  # noqa: SLF001 - the session's place in the step


class PrefixLLM:
    """The recorded answers while the run is in the prefix, then a live backend's."""

    def __init__(self, *, prefix: Prefix, live: Any) -> None:
        self.prefix, self.live = prefix, live
        self.recorded = ReplayLLM(session=prefix.session)
        prefix.session.llm_replayed = False  # the live backend answers from some step on

    def _current(self) -> Any:
        return self.recorded if self.prefix.replaying() else self.live

    @property
    def model(self) -> str:
        """The model of the current part."""
        return self._current().model

    @property
    def params(self) -> Mapping[str, Any]:
        """The sampling parameters of the current part."""
        return self._current().params

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Answer from the recording in the prefix (checked), from the live backend after.

        Under reuse, a request that is not the recorded one ends the prefix here: the live backend answers it.
        """
        prefix, session = self.prefix, self.prefix.session
        if prefix.replaying() and not prefix.strict:
            if session.step > 0 and session.trace.steps[session.step - 1].get("edited"):
                prefix.go_live(f"step {session.step - 1}'s tool output was edited: the model answers the edited output live")
            else:
                found = request_differences(session, request, session.trace.steps[session.step])
                if found:
                    first = found[0]
                    prefix.go_live(f"{first.path}: {short_value(first.expected)} -> {short_value(first.actual)}")
        if prefix.replaying():
            return session.respond(request)
        prefix.go_live("the recording ends before this step")  # kept when the prefix ended for another reason
        return self.live.complete(request)


class PrefixTools:
    """In the prefix, recorded tool outputs (``serve_recorded``, and always for an edited call) or the live tools; live after."""

    def __init__(self, *, prefix: Prefix, live: Any, serve_recorded: bool) -> None:
        self.prefix, self.live, self.serve_recorded = prefix, live, serve_recorded
        self.schemas = live.schemas
        self.workspace = getattr(live, "workspace", None)
        self._place = (-1, 0)  # (step, calls made in it)
        if serve_recorded:
            prefix.session.tools_replayed = True

    def call(self, call: ToolCall, *, memory: Mapping[str, Any], runtime: Any) -> ToolResult:
        """One tool call, from the recording or the live toolbox."""
        prefix, session = self.prefix, self.prefix.session
        if prefix.replaying():
            step, number = self._place if self._place[0] == session.step else (session.step, 0)
            self._place = (step, number + 1)
            if self.serve_recorded or number in (session.trace.steps[step].get("edited") or ()):
                return session.recorded_result(call, number)
        return self.live.call(call, memory=memory, runtime=runtime)
