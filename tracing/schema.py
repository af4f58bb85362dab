"""The trace format: one constant for its version, and the checks a reader applies to each record.

The records are documented field by field in ``trace.schema.json`` beside this file (JSON Schema)
and in the README's "Trace format" section.
"""

from __future__ import annotations

from typing import Any

from tracing.errors import TraceError

FORMAT = "agent-trace"
SCHEMA_VERSION = 1
"""Bump on any change a version-1 reader could misread. Readers read older versions, refuse newer."""

_NUMBER = (int, float)
# Required fields per record kind, with the types a reader accepts; optional fields are checked where used.
REQUIRED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "header": {"format": str, "schema_version": int, "run_id": str, "started_at": str, "config": dict, "overrides": list, "choices": dict, "versions": dict},
    "step": {"index": int, "timestamp": _NUMBER, "model": str, "params": dict, "messages": dict, "response": dict, "tool_calls": list, "state": dict},
    "end": {"status": str, "steps": int, "usage": dict},
}
END_STATUSES = ("finished", "max_steps", "error", "interrupted")


def check_record(record: Any, where: str) -> str:
    """The record's kind, after checking its required fields; raises TraceError naming ``where``."""
    if not isinstance(record, dict):
        msg = f"{where}: a record must be a JSON object, got {type(record).__name__}; the file is not a trace or is corrupt"
        raise TraceError(msg)
    kind = record.get("kind")
    if kind not in REQUIRED:
        msg = f"{where}: unknown record kind {kind!r}; expected one of {', '.join(REQUIRED)}"
        raise TraceError(msg)
    for name, expected in REQUIRED[kind].items():
        value = record.get(name)
        if not isinstance(value, expected) or isinstance(value, bool) and expected is not bool:
            msg = f"{where}: {kind} record has {name}={value!r:.80}; expected {_type_names(expected)}"
            raise TraceError(msg)
    if kind == "end" and record["status"] not in END_STATUSES:
        msg = f"{where}: end status {record['status']!r:.40} is not one of {', '.join(END_STATUSES)}"
        raise TraceError(msg)
    return kind


def _type_names(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    names = {str: "a string", int: "an integer", float: "a number", dict: "an object", list: "an array"}
    return " or ".join(names.get(t, t.__name__) for t in types)
