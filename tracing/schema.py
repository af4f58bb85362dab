"""The trace format: one constant for its version, and the checks a reader applies to every record.

The records are documented field by field in ``trace.schema.json`` beside this file (JSON Schema)
and in the README's "Trace format" section. The checks below hold the same rules in code, down to
nested fields, so that nothing downstream (inspect, replay) meets a value of a shape it does not
expect: a hostile or broken trace fails here, with one line that names the record and the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent import jsondata
from tracing.errors import TraceError

if TYPE_CHECKING:
    from agent.state import AgentState

FORMAT = "agent-trace"
SCHEMA_VERSION = 3
"""Bump on any change an older reader could misread. Readers read older versions, refuse newer.

Version 2 added references in ``messages.new`` (version 1 wrote every new message in full).
Version 3 changed the state hash: memory enters it as the sum of per-key digests (see agent.state),
so it costs O(change) per step; versions 1 and 2 hashed the canonical JSON of the whole summary,
and ``state_hash_rule`` gives a replay of them that rule. Version 3 also added the ``resume``
record: a run resumed from its trace goes on in the same file."""

MAX_LINE_BYTES = 128 * 2**20
"""The longest line, newline included, a trace may hold (128 MiB): the writer refuses to write a longer
record and the reader refuses a longer line without reading it whole. Far above any record a run
makes (a step with a 50 MB tool output takes ~50 MB); a file with a longer line is not a trace."""

END_STATUSES = ("finished", "max_steps", "error", "interrupted")
MAX_DEPTH = jsondata.MAX_DEPTH
"""Deepest nesting accepted in free-form values (config, outputs, memory): deeper is refused, not recursed into.
The runtime's constant: what the loop lets a tool's result hold is what a reader accepts."""

# A check returns None when the value fits, else what was expected (the caller says where).
Check = Callable[[Any], "str | None"]


def _type(name: str, test: Callable[[Any], bool]) -> Check:
    return lambda value: None if test(value) else f"expected {name}, got {str(value)[:40]!r}"


STR = _type("a string", lambda v: isinstance(v, str))
BOOL = _type("true or false", lambda v: isinstance(v, bool))
COUNT = _type("a whole number >= 0", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0)
NUMBER = _type("a finite number", lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v))
# Seconds since the epoch within what a datetime can show (years 1 to 9999).
TIME = _type("a time in seconds since the epoch", lambda v: isinstance(v, int | float) and not isinstance(v, bool) and -6e10 < v < 2.5e11)


def _depth_ok(value: Any) -> bool:
    """Whether ``value`` nests no deeper than MAX_DEPTH (walked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                return False
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return True


_SCALARS = frozenset({str, int, float, bool, type(None)})


def ANY(value: Any) -> str | None:  # noqa: N802 - reads as a type in the specs below
    """Any JSON value, nested no deeper than MAX_DEPTH."""
    kind = type(value)
    if kind in _SCALARS:  # the common cases, a scalar or an object of scalars (params, memory updates): no walk
        return None
    if kind is dict and all(type(item) in _SCALARS for item in value.values()):
        return None
    return None if _depth_ok(value) else f"nested deeper than {MAX_DEPTH} levels"

OBJECT: Check = lambda value: "expected an object" if not isinstance(value, dict) else ANY(value)  # noqa: E731


def optional(check: Check) -> Check:
    """``check``, or null."""
    return lambda value: None if value is None else check(value)


def array(check: Check) -> Check:
    """A list whose every item passes ``check``."""

    def checked(value: Any) -> str | None:
        if not isinstance(value, list):
            return "expected an array"
        for index, item in enumerate(value):
            problem = check(item)
            if problem:
                return f"[{index}]: {problem}" if not problem.startswith(("[", ".")) else f"[{index}]{problem}"
        return None

    return checked


def shape(required: dict[str, Check], optional_fields: dict[str, Check] | None = None) -> Check:
    """An object with the ``required`` fields (others allowed), each passing its check."""
    fields = list(required.items())
    extra = list((optional_fields or {}).items())

    def checked(value: Any) -> str | None:
        if not isinstance(value, dict):
            return "expected an object"
        for name, check in fields:
            if name not in value:
                return f".{name}: missing"
            problem = check(value[name])
            if problem:
                return _inside(name, problem)
        for name, check in extra:
            if name in value and (problem := check(value[name])):
                return _inside(name, problem)
        return None

    return checked


def _inside(name: str, problem: str) -> str:
    return f".{name}{problem}" if problem.startswith(("[", ".")) else f".{name}: {problem}"


USAGE = shape({"prompt_tokens": COUNT, "completion_tokens": COUNT}, {"total_tokens": COUNT})
MESSAGE = shape(
    {"role": STR},
    {"content": ANY, "tool_call_id": STR, "tool_calls": optional(array(shape({"id": STR, "function": shape({"name": STR, "arguments": STR})})))},
)
REFERENCES = ("response", "tool_call")

# References in ``messages.new``: a message the previous step record already holds is written as one.
# Built (the writer) and resolved (the reader) here, beside the check of their shape (REFERENCE).
RESPONSE_REF = {"ref": "response"}
"""In ``messages.new``: the previous step record's ``response.message``."""


def tool_ref(index: int) -> dict[str, Any]:
    """In ``messages.new``: the tool message of the previous step record's ``tool_calls[index]`` (a text output)."""
    return {"ref": "tool_call", "index": index}


def text_tool_message(call_id: str, output: str) -> dict[str, Any]:
    """The tool message a ``tool_call`` reference stands for: the call's text output, handed back to the model."""
    return {"role": "tool", "tool_call_id": call_id, "content": output}


def resolve_references(new: list[Any], previous: dict[str, Any] | None, where: str) -> list[Any]:
    """``messages.new`` with each reference replaced by the message of the previous step record it stands for."""
    resolved = []
    for number, entry in enumerate(new):
        if "role" in entry:
            resolved.append(entry)
            continue
        problem = None
        if previous is None:
            problem = "refers to the previous step record, but this is the first"
        elif entry["ref"] == "response":
            resolved.append(previous["response"]["message"])
        elif entry["index"] >= len(previous["tool_calls"]):
            problem = f"refers to tool call {entry['index']} of the previous step, which has {len(previous['tool_calls'])}"
        else:
            call = previous["tool_calls"][entry["index"]]
            if call["error"] is not None or type(call["output"]) is not str:
                problem = f"refers to tool call {entry['index']} of the previous step, whose output is not text"
            else:
                resolved.append(text_tool_message(call["id"], call["output"]))
        if problem:
            msg = f"{where}: messages.new[{number}] {problem}; the trace is corrupt"
            raise TraceError(msg)
    return resolved


def REFERENCE(value: Any) -> str | None:  # noqa: N802 - reads as a type in the specs below
    """In ``messages.new``: ``{"ref": "response"}`` or ``{"ref": "tool_call", "index": i}``, a message the previous step record holds."""
    ref = value.get("ref")
    if ref not in REFERENCES:
        return f".ref: expected one of {', '.join(REFERENCES)}, got {str(ref)[:40]!r}"
    if ref == "tool_call" and COUNT(value.get("index")):
        return ".index: expected a whole number >= 0"
    return None


def NEW_MESSAGE(value: Any) -> str | None:  # noqa: N802
    """A message, or (without a ``role``) a reference to one."""
    if isinstance(value, dict) and "role" not in value and "ref" in value:
        return REFERENCE(value)
    return MESSAGE(value)


RECORDS: dict[str, Check] = {
    "header": shape(
        {"format": STR, "schema_version": COUNT, "run_id": STR, "started_at": STR, "config": OBJECT, "overrides": array(STR), "choices": OBJECT, "versions": OBJECT},
        {"job": OBJECT, "parent": shape({"trace": STR, "step": COUNT}, {"run_id": optional(STR)})},
    ),
    "step": shape(
        {
            "index": COUNT,
            "timestamp": TIME,
            "model": STR,
            "params": OBJECT,
            "messages": shape({"kept": COUNT, "new": array(NEW_MESSAGE), "sha256": STR}),
            "response": shape({"message": MESSAGE, "usage": optional(USAGE), "latency_s": NUMBER}),
            "tool_calls": array(
                shape({"id": STR, "name": STR, "arguments": STR, "output": ANY, "error": optional(STR), "memory_update": OBJECT, "latency_s": NUMBER})
            ),
            "state": shape(
                {"sha256": STR, "step": COUNT, "done": BOOL, "answer": optional(STR), "messages": shape({"count": COUNT, "digest": STR})},
                {"memory": OBJECT},
            ),
        },
        {"clock": array(TIME), "tools": array(OBJECT)},
    ),
    "resume": shape({"after_step": _type("a step index >= -1", lambda v: type(v) is int and v >= -1), "reason": STR, "resumed_at": STR}),
    "end": shape(
        {"status": _type(f"one of {', '.join(END_STATUSES)}", lambda v: v in END_STATUSES), "steps": COUNT, "usage": optional(USAGE)},
        {"answer": optional(STR), "error": optional(STR), "ended_at": STR},
    ),
}


def _plain(value: Any) -> bool:
    """A JSON scalar, or a container that ANY accepts."""
    return type(value) in (str, int, float, bool) or value is None or ANY(value) is None


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _time(value: Any) -> bool:
    """TIME's test, without building its message (the fast path only needs yes or no)."""
    return (type(value) is float or type(value) is int) and -6e10 < value < 2.5e11


def _number(value: Any) -> bool:
    """NUMBER's test, likewise."""
    return (type(value) is float or type(value) is int) and math.isfinite(value)


def _message_ok(message: Any) -> bool:
    if type(message) is not dict or type(message.get("role")) is not str:
        return False
    if "content" in message and not _plain(message["content"]):
        return False
    if "tool_call_id" in message and type(message["tool_call_id"]) is not str:
        return False
    calls = message.get("tool_calls")
    if calls is None:
        return True
    if type(calls) is not list:
        return False
    for call in calls:
        function = call.get("function") if type(call) is dict else None
        if type(call.get("id") if function is not None else None) is not str or type(function) is not dict:
            return False
        if type(function.get("name")) is not str or type(function.get("arguments")) is not str:
            return False
    return True


def _usage_ok(usage: Any) -> bool:
    """USAGE's test (None passes: a backend that reports no usage)."""
    if usage is None:
        return True
    return type(usage) is dict and _count(usage.get("prompt_tokens")) and _count(usage.get("completion_tokens")) and ("total_tokens" not in usage or _count(usage["total_tokens"]))


def _scalars(value: Any) -> bool:
    """An object of scalars only (params, memory updates): ANY passes it without a walk."""
    if type(value) is not dict:
        return False
    for item in value.values():
        if type(item) not in _SCALARS:
            return ANY(value) is None
    return True


def _reference_ok(entry: Any) -> bool:
    if type(entry) is not dict or "role" in entry:
        return False
    ref = entry.get("ref")
    return ref == "response" or (ref == "tool_call" and _count(entry.get("index")))


def _step_ok(record: dict[str, Any]) -> bool:
    """The checks of RECORDS["step"] written out for the common, well-formed case (several times faster).

    True only when the generic check would pass; on False the generic check runs and says what is wrong.
    """
    try:
        messages, response, state = record["messages"], record["response"], record["state"]
        if not (_count(record["index"]) and _time(record["timestamp"]) and type(record["model"]) is str):
            return False
        if not _scalars(record["params"]):
            return False
        if type(messages) is not dict or not _count(messages["kept"]) or type(messages["sha256"]) is not str or type(messages["new"]) is not list:
            return False
        for message in messages["new"]:
            if not (_reference_ok(message) or _message_ok(message)):  # most entries are references: tried first
                return False
        if type(response) is not dict or not _message_ok(response["message"]) or not _number(response["latency_s"]) or not _usage_ok(response["usage"]):
            return False
        if type(record["tool_calls"]) is not list:
            return False
        for call in record["tool_calls"]:
            if type(call) is not dict or type(call["id"]) is not str or type(call["name"]) is not str or type(call["arguments"]) is not str:
                return False
            if not (call["error"] is None or type(call["error"]) is str) or not _plain(call["output"]):
                return False
            if not _scalars(call["memory_update"]) or not _number(call["latency_s"]):
                return False
        if type(state) is not dict or type(state["sha256"]) is not str or not _count(state["step"]) or type(state["done"]) is not bool:
            return False
        if not (state["answer"] is None or type(state["answer"]) is str):
            return False
        counted = state["messages"]
        if type(counted) is not dict or not _count(counted["count"]) or type(counted["digest"]) is not str:
            return False
        if "memory" in state and (type(state["memory"]) is not dict or ANY(state["memory"]) is not None):
            return False
        if "clock" in record and (type(record["clock"]) is not list or not all(map(_time, record["clock"]))):
            return False
        return "tools" not in record or (type(record["tools"]) is list and all(OBJECT(t) is None for t in record["tools"]))
    except (KeyError, TypeError, AttributeError):
        return False


def check_record(record: Any, where: str) -> str:
    """The record's kind, after checking every field it must have; raises TraceError naming ``where`` and the field."""
    if not isinstance(record, dict):
        msg = f"{where}: a record must be a JSON object, got {type(record).__name__}; the file is not a trace or is corrupt"
        raise TraceError(msg)
    kind = record.get("kind")
    if not isinstance(kind, str) or kind not in RECORDS:
        msg = f"{where}: unknown record kind {str(kind)[:40]!r}; expected one of {', '.join(RECORDS)}"
        raise TraceError(msg)
    if kind == "step" and _step_ok(record):
        return kind
    problem = RECORDS[kind](record)
    if problem:
        field, _, detail = problem.partition(": ")
        msg = f"{where}: {kind} record, field {field.lstrip('.')}: {detail}; the trace is corrupt"
        raise TraceError(msg)
    return kind


def _whole_summary_hash(state: AgentState) -> str:
    """The state hash of schema versions 1 and 2: sha256 of the canonical JSON of the whole summary."""
    from agent.state import canonical, sha256_hex

    return sha256_hex(canonical(state.summary()))


def state_hash_rule(version: int) -> Callable[[AgentState], str]:
    """How a trace of schema ``version`` hashed the state after each step, as a function of the state."""
    # Imported here: the checks above are all that reading a trace needs (tracing.quickread).
    from agent.state import AgentState

    return _whole_summary_hash if version < 3 else AgentState.hash
