"""Export a trace as OpenTelemetry spans: OTLP JSON, following the GenAI semantic conventions.

One ``invoke_agent`` root span per run, a ``chat`` child per LLM call and an ``execute_tool``
child per tool call. The output is one ExportTraceServiceRequest in the OTLP JSON encoding, on one
line, as the OpenTelemetry Collector's file exporter writes it and its ``otlpjsonfile`` receiver
reads it. It is built from plain dicts: no OpenTelemetry SDK is needed.

Ids are derived from the run id, so exporting a trace twice gives the same bytes. Message contents,
tool arguments and outputs are left out: they may be large or private, and the trace keeps them.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from agent import __version__
from tracing.errors import TraceError
from tracing.reader import Trace, read_trace

# OTLP JSON writes enums as integers (opentelemetry-proto: trace/v1/trace.proto).
SPAN_KIND_INTERNAL = 1
SPAN_KIND_CLIENT = 3
STATUS_UNSET = 0
STATUS_ERROR = 2
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Sampling parameters the conventions name; others stay out rather than under made-up keys.
PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "max_tokens": "gen_ai.request.max_tokens",
    "top_p": "gen_ai.request.top_p",
    "seed": "gen_ai.request.seed",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
}

MAX_STATUS_MESSAGE = 300
"""Error texts can quote tool arguments: a status message keeps their start only."""


def export_bytes(path: Path) -> bytes:
    """The trace at ``path`` as OTLP JSON, one line."""
    return orjson.dumps(export(read_trace(path))) + b"\n"


def write_new(output: Path, data: bytes) -> None:
    """Write ``data`` to ``output``, which must not exist yet (an export never overwrites a file)."""
    try:
        with output.open("xb") as file:  # "x": refuse an existing file without a check-then-write race
            file.write(data)
    except FileExistsError:
        msg = f"{output} already exists; export never overwrites a file: give another -o path or remove it"
        raise TraceError(msg) from None
    except OSError as err:
        msg = f"cannot write {output}: {err.strerror}"
        raise TraceError(msg) from None


def export(trace: Trace) -> dict[str, Any]:
    """The trace as an ExportTraceServiceRequest in the OTLP JSON mapping: one resource, one scope, its spans."""
    header = trace.header
    run_id = header["run_id"]
    trace_id = _digest(run_id, "trace")[:32]
    root_id = _span_id(run_id, "run")
    provider = header.get("choices", {}).get("llm")
    children: list[dict[str, Any]] = []
    for step in trace.steps:
        children += _step_spans(step, trace_id=trace_id, parent=root_id, run_id=run_id, provider=provider)
    root = _root_span(trace, trace_id=trace_id, span_id=root_id, provider=provider, children=children)
    resource = {"service.name": "agent-harness", "service.version": header.get("versions", {}).get("agent-harness")}
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes(resource)},
                "scopeSpans": [{"scope": {"name": "agent-harness", "version": __version__}, "spans": [root, *children]}],
            }
        ]
    }


def _root_span(trace: Trace, *, trace_id: str, span_id: str, provider: str | None, children: list[dict[str, Any]]) -> dict[str, Any]:
    """The invoke_agent span: from the trace's start to its end, or to its last span when it was cut off."""
    header, end, steps = trace.header, trace.end, trace.steps
    # A replay's steps carry the recorded clock, older than its header: the root must still hold them.
    start = min([_iso_ns(header["started_at"]), *(_ns(s["timestamp"]) for s in steps)])
    ends = [start, *(int(c["endTimeUnixNano"]) for c in children)]
    if end is not None and end.get("ended_at"):
        ends.append(_iso_ns(end["ended_at"]))
    agent_name = (header.get("config", {}).get("task") or {}).get("name") or header.get("choices", {}).get("task") or "agent"
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": provider,
        "gen_ai.agent.name": agent_name,
        "gen_ai.conversation.id": header["run_id"],
        "gen_ai.request.model": steps[0]["model"] if steps else None,
        **_usage([s["response"]["usage"] for s in steps]),
        "agent_harness.run.status": end["status"] if end is not None else "cut_off",
        "agent_harness.run.steps": len(steps),
    }
    error = None
    if end is not None and end["status"] == "error":  # max_steps and interrupted are outcomes, not failures
        error = end["error"] or "error"
    return _span(trace_id, span_id, None, f"invoke_agent {agent_name}", SPAN_KIND_INTERNAL, start, max(ends), attributes, error)


def _step_spans(step: dict[str, Any], *, trace_id: str, parent: str, run_id: str, provider: str | None) -> list[dict[str, Any]]:
    """The chat span of one step, then its tool spans, one after another as the loop ran them."""
    index = step["index"]
    response = step["response"]
    start = _ns(step["timestamp"])
    end = start + _ns(response["latency_s"])
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": step["model"],
        **{key: step["params"].get(name) for name, key in PARAMS.items()},
        **_usage([response["usage"]]),
    }
    spans = [_span(trace_id, _span_id(run_id, "step", index), parent, f"chat {step['model']}", SPAN_KIND_CLIENT, start, end, attributes)]
    descriptions = {t["function"]["name"]: t["function"].get("description") for t in step.get("tools") or [] if "function" in t}
    for number, call in enumerate(step["tool_calls"]):
        start, end = end, end + _ns(call["latency_s"])
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call["name"],
            "gen_ai.tool.call.id": call["id"],
            "gen_ai.tool.type": "function",
            "gen_ai.tool.description": descriptions.get(call["name"]),
        }
        span_id = _span_id(run_id, "step", index, "tool", number)
        spans.append(_span(trace_id, span_id, parent, f"execute_tool {call['name']}", SPAN_KIND_INTERNAL, start, end, attributes, call["error"]))
    return spans


def _span(
    trace_id: str, span_id: str, parent: str | None, name: str, kind: int, start: int, end: int, attributes: dict[str, Any], error: str | None = None
) -> dict[str, Any]:
    """One span in the OTLP JSON mapping; an error sets status ERROR and error.type, as the conventions ask."""
    status: dict[str, Any] = {"code": STATUS_UNSET}
    if error is not None:
        attributes = {**attributes, "error.type": _error_type(error)}
        status = {"code": STATUS_ERROR, "message": error[:MAX_STATUS_MESSAGE]}
    span = {"traceId": trace_id, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": kind}
    span |= {"startTimeUnixNano": str(start), "endTimeUnixNano": str(end), "attributes": _attributes(attributes), "status": status}
    return {k: v for k, v in span.items() if v is not None}  # a root span has no parentSpanId at all


def _usage(usages: list[dict[str, int] | None]) -> dict[str, int]:
    """Token attributes summed over the given usages; none when the backend reported no usage."""
    reported = [u for u in usages if u is not None]
    if not reported:
        return {}
    return {
        "gen_ai.usage.input_tokens": sum(u["prompt_tokens"] for u in reported),
        "gen_ai.usage.output_tokens": sum(u["completion_tokens"] for u in reported),
    }


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    """OTLP KeyValue list, leaving out unknown (None) values."""
    return [{"key": key, "value": _any_value(value)} for key, value in values.items() if value is not None]


def _any_value(value: Any) -> dict[str, Any]:
    """An OTLP AnyValue: int64 goes as a string in the JSON mapping; bool is checked before int, its base class."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _error_type(error: str) -> str:
    """A low-cardinality error.type: the exception class the message names, else the conventions' ``_OTHER``."""
    found = re.search(r"\b([A-Z]\w*(?:Error|Exception))\b", error)
    return found.group(1) if found else "_OTHER"


def _span_id(run_id: str, *parts: object) -> str:
    """A span id (16 hex digits) derived from the run and the span's place in it: the same on every export."""
    return _digest(run_id, *parts)[:16]


def _digest(run_id: str, *parts: object) -> str:
    """Hex sha256 of the run id and a path of names and indexes."""
    return hashlib.sha256("/".join([run_id, *map(str, parts)]).encode()).hexdigest()


def _ns(seconds: float) -> int:
    """Seconds (epoch time or a duration) as whole nanoseconds, from the decimal the trace holds.

    Going through the float's shortest repr keeps 1795645817.360202 as ...360202000 ns, not the
    ...360201984 that multiplying the binary float gives.
    """
    return round(Decimal(repr(seconds)).scaleb(9))


def _iso_ns(text: str) -> int:
    """An ISO 8601 time (with its UTC offset, as the writer gives it) as nanoseconds since the epoch."""
    return (datetime.fromisoformat(text) - EPOCH) // timedelta(microseconds=1) * 1000
