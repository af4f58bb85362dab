"""``agent trace inspect``: a trace as readable plain text, step by step."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tracing.reader import TraceStream, trace_file
from tracing.text import printable

_SHORT = 100  # characters of a message, argument list or output shown when not --full


def _clip(text: str, full: bool) -> str:
    if full:
        return text
    text = " ".join(text[: _SHORT * 4].split())  # only a prefix is shown: never copy a huge value whole
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode  # not orjson: see tracing.quickread


def _json(value: Any, full: bool = True) -> str:
    if isinstance(value, str) and not full:
        value = value[: _SHORT * 4]
    return _dumps(value)


def _tokens(usage: dict[str, Any] | None) -> str:
    if not usage:
        return "tokens -"
    return f"tokens {usage.get('prompt_tokens', 0)} in / {usage.get('completion_tokens', 0)} out"


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def inspect(trace: str | Path, *, full: bool = False, raw: bool = False) -> Iterator[str]:
    """A trace, a run's folder or a sweep's folder (one row per job) as readable lines; control characters escaped unless ``raw``."""
    path = Path(trace)
    if path.is_dir():
        from tracing.sweep import is_sweep, load_sweep, render_sweep

        if is_sweep(path):
            lines = render_sweep(path, load_sweep(path))
            return lines if raw else map(printable, lines)
    return render(TraceStream(trace_file(path)), full=full, raw=raw)


def render(trace: TraceStream, *, full: bool = False, raw: bool = False) -> Iterator[str]:
    """The lines of the summary: header, every step, then how the run ended; streamed, step by step.

    Control characters and other unprintable code points from the trace are shown escaped
    (tracing.text.printable), so a trace cannot drive the terminal; ``raw`` prints them as they are.
    """
    lines = _lines(trace, full=full)
    return lines if raw else map(printable, lines)


def _lines(trace: TraceStream, *, full: bool) -> Iterator[str]:
    header = trace.header
    task = header["config"].get("task")
    task = task if isinstance(task, dict) else {}  # the config is free-form: show what is there
    steps = trace.steps()
    first = next(steps, None)
    yield f"trace     {trace.path}  ({header['format']}, schema {header['schema_version']})"
    yield f"run       {header['run_id']}  started {header['started_at']}"
    if "parent" in header:
        parent = header["parent"]
        yield f"forked    from {parent['trace']} (run {parent.get('run_id') or '?'}) after its step {parent['step']}"
    if "reuse" in header:
        yield f"reused    {header['reuse']['trace']} (run {header['reuse'].get('run_id') or '?'}): its answers while the requests matched"
    if "edited_from" in header:
        edit = header["edited_from"]
        yield f"edited    copy of {edit['trace']} with step {edit['step']}, tool call {edit['call']} ({edit.get('tool', '?')}) output changed"
    if first is not None:
        yield f"model     {first[0]['model']}  {_params(first[0]['params'])}".rstrip()
    yield f"task      {task.get('name', '?')}"
    yield "choices   " + " ".join(f"{k}={v}" for k, v in sorted(header["choices"].items()) if not k.startswith("hydra/"))
    yield "overrides " + (" ".join(header["overrides"]) or "(none)")
    memory: Any = None
    reported = False  # whether the model reported token usage at all
    count = 0
    resumes = 0
    for step, prompt_length in itertools.chain([first] if first else [], steps):
        while resumes < len(trace.resumes) and trace.resumes[resumes]["after_step"] < step["index"]:
            resume = trace.resumes[resumes]
            resumes += 1
            yield ""
            yield f"resumed   after step {resume['after_step']} ({resume['reason']}) at {resume['resumed_at']}: steps from here ran in a later process"
        count += 1
        when = datetime.fromtimestamp(step["timestamp"], UTC).strftime("%H:%M:%S.%f")[:-3]
        response = step["response"]
        reported = reported or bool(response.get("usage"))
        yield ""
        yield f"step {step['index']}  {when}  {step['model']}  {_tokens(response.get('usage'))}  prompt {prompt_length} messages"
        new = step["messages"]["new"]
        # Assistant and tool messages were shown as the previous step's response and tool calls.
        shown = new if step["index"] == 0 else [m for m in new if isinstance(m, dict) and m.get("role") not in ("assistant", "tool")]
        for message in shown:
            yield f"  {message.get('role', '?')}: {_clip(str(message.get('content')), full)}"
        message = response.get("message") or {}
        if message.get("content"):
            yield f"  assistant: {_clip(str(message['content']), full)}"
        for call in step["tool_calls"]:
            yield f"  call {call.get('name')}({_clip(str(call.get('arguments')), full)})"
            if call.get("error") is not None:
                yield f"    error: {_clip(str(call['error']), full)}"
            else:
                yield f"    -> {_clip(_json(call.get('output'), full), full)}"
        state = step["state"]
        line = f"  state {str(state.get('sha256'))[:12]}"
        if state.get("memory") != memory:
            memory = state.get("memory")
            line += f"  memory {_clip(_json(memory), full)}"
        yield line + ("  done" if state.get("done") else "")
    yield ""
    end = trace.end
    if end is None:
        torn = " and its last line is torn" if trace.torn else ""
        where = f"after step {count - 1}" if count else "before its first step"
        yield f"end       none: the trace was cut off {where}{torn}; the run did not finish writing it"
        return
    detail = f": {end.get('error')}" if end.get("error") else ""
    yield f"end       {end['status']} after {end['steps']} steps{detail}"
    if end["steps"] != count:
        # The end record is the writer's count of the step records it wrote: a difference means the file changed since.
        yield f"warning   the end record says {end['steps']} steps but the trace holds {count} step records; it was edited or damaged after recording"
    if end.get("reuse"):
        reuse = end["reuse"]
        live = "no step went live" if reuse.get("live_from") is None else f"live from step {reuse['live_from']}: {reuse.get('reason')}"
        yield f"reuse     {reuse.get('reused_steps')} steps served from {reuse.get('trace')}; {live}"
    if end.get("answer") is not None:
        yield f"answer    {_clip(str(end['answer']), full)}"
    yield f"totals    {_tokens(end.get('usage') if reported else None)}"
