"""The trace writer: append-only JSON lines, one ``write`` call per record.

Each record goes to the file in a single unbuffered write, so a crash leaves every earlier record
whole and at most a torn last line. Only what changed since the previous step is written (new
messages, tool schemas when they change, memory when the step's updates do not explain it), and
a message the previous record already holds (its response, a tool's text output) is written as a
reference to it, so a trace grows linearly with the run and holds each message once.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from agent.loop import Abort, AgentRun, drive
from agent.records import Outcome, Step, ToolResult, Usage
from agent.state import History, Message, apply_update, plain_copy, summary_hash
from tracing.errors import TraceError
from tracing.schema import FORMAT, SCHEMA_VERSION
from tracing.secrets import redact, redact_overrides

def make_header(
    *,
    config: Mapping[str, Any],
    overrides: Sequence[str],
    choices: Mapping[str, Any],
    job: Mapping[str, Any],
    versions: Mapping[str, str],
    parent: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The header record: everything needed to know, and later replay, what ran (and, for a fork, what it forked)."""
    header = {
        "kind": "header",
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "run_id": uuid.uuid4().hex,
        "started_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "config": redact(config),
        "overrides": redact_overrides(overrides),
        "choices": dict(choices),
        "job": dict(job),
        "versions": dict(versions),
    }
    if parent is not None:
        header["parent"] = dict(parent)
    return header


def _usage(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens}


FSYNC_POLICIES = ("never", "end", "step")


RESPONSE_REF = {"ref": "response"}
"""In ``messages.new``: the previous step record's ``response.message``."""


def _tool_ref(index: int) -> dict[str, Any]:
    """In ``messages.new``: the tool message of the previous step record's ``tool_calls[index]``."""
    return {"ref": "tool_call", "index": index}


def _is_tool_message(message: Message, result: ToolResult) -> bool:
    """Whether ``message`` is exactly what a ``tool_call`` reference to ``result`` stands for."""
    if result.error is not None or type(result.output) is not str or len(message) != 3:
        return False
    return message.get("content") == result.output and message.get("tool_call_id") == result.call.id and message.get("role") == "tool"


def _with_references(new: list[Message], previous: Step) -> list[Any]:
    """``new`` with the previous step's response and tool messages written as references to its record.

    The loop appends the response, then one message per tool call, so only those places are tried.
    """
    response = previous.response.message
    if not new or not (new[0] is response or new[0] == response):
        return new
    written: list[Any] = [RESPONSE_REF, *new[1:]]
    for index, result in enumerate(previous.results[: len(new) - 1]):
        if _is_tool_message(new[index + 1], result):
            written[index + 1] = _tool_ref(index)
    return written


class TraceWriter:
    """Writes one run's trace: ``create`` (header), ``write_step`` per step, ``write_end`` once."""

    def __init__(self, path: Path, fd: int, fsync: str = "never", scrub: Callable[[bytes], bytes] | None = None) -> None:
        self.path = path
        self._fd = fd
        self._scrub = scrub  # replaces the secret values the run read, in every record (tracing/secrets.py)
        self._fsync_each = fsync == "step"
        self._fsync_end = fsync in ("step", "end")
        self._steps = 0  # step records written: what the end record counts, even if Ctrl-C cut the last one
        self._size = 0  # bytes written so far
        self._pending: tuple[int, int] = (0, 0)  # (steps, size) once the step record being written is on file
        self._prompt: History | None = None
        self._previous: Step | None = None
        self._tools: Any = None
        self._memory: dict[str, Any] | None = None  # the memory as a reader of the records so far rebuilds it

    @classmethod
    def create(cls, path: str | Path, header: Mapping[str, Any], *, fsync: str = "never", scrub: Callable[[bytes], bytes] | None = None) -> TraceWriter:
        """Create ``path`` and write the header; refuses a path that exists rather than overwrite it.

        ``fsync`` says when records are forced to disk, beyond the write each gets at once: never
        (the OS decides; a killed process loses nothing, a power cut may), end (with the end record),
        or step (every record). ``scrub``, when given, rewrites each record's bytes before they are
        written (tracing.secrets.Scrubber.bytes: the secret values the run read).
        """
        if fsync not in FSYNC_POLICIES:
            msg = f"traceFsync={fsync!r} is not a policy; expected one of: {', '.join(FSYNC_POLICIES)}"
            raise TraceError(msg)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: an existing trace is never overwritten or appended to by another run.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except FileExistsError:
            msg = f"trace file {path} already exists; choose another tracePath or move the old trace away"
            raise TraceError(msg) from None
        except OSError as err:
            msg = f"cannot create trace file {path}: {err.strerror}; choose a writable tracePath"
            raise TraceError(msg) from None
        writer = cls(path, fd, fsync, scrub)
        writer._write(header)
        return writer

    def _write(self, record: Mapping[str, Any], *, step: bool = False) -> None:
        data = orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
        if self._scrub is not None:
            data = self._scrub(data)
        if step:
            self._pending = (self._steps + 1, self._size + len(data))
        # One write of the whole line: a crash can tear only the record being written.
        os.write(self._fd, data)
        self._size += len(data)
        if step:
            self._steps += 1
        if self._fsync_each:
            os.fsync(self._fd)

    def write_step(self, step: Step) -> None:
        """Append the record of ``step``."""
        request, state = step.request, step.state
        messages = request.messages
        previous = self._prompt
        if previous is not None and isinstance(messages, History) and messages.continues(previous):
            kept, new = len(previous), messages.since(previous)
        else:
            kept, new = 0, list(messages)
        if self._previous is not None:
            new = _with_references(new, self._previous)
        prompt = messages if isinstance(messages, History) else History(messages)
        record: dict[str, Any] = {
            "kind": "step",
            "index": step.index,
            "timestamp": step.timestamp,
            "clock": step.clock,
            "model": request.model,
            "params": dict(request.params),
            "messages": {"kept": kept, "new": new, "sha256": prompt.digest()},
            "response": {
                "message": step.response.message,
                "usage": _usage(step.response.usage),
                "latency_s": step.response.latency_s,
            },
            "tool_calls": [
                {
                    "id": r.call.id,
                    "name": r.call.name,
                    "arguments": r.call.arguments,
                    "output": r.output,
                    "error": r.error,
                    "memory_update": dict(r.memory_update),
                    "latency_s": r.latency_s,
                }
                for r in step.results
            ],
        }
        summary = state.summary()
        record["state"] = {"sha256": summary_hash(summary), **summary}
        if request.tools is not self._tools:  # the same toolbox hands the same tuple every step
            record["tools"] = list(request.tools)
            self._tools = request.tools
        # The memory a reader rebuilds from the previous one and the step's updates: write it only where it differs.
        if self._memory is not None:
            for result in step.results:
                apply_update(self._memory, result.memory_update)
        if self._memory is not None and self._memory == state.memory:
            del record["state"]["memory"]
        else:
            self._memory = plain_copy(state.memory)
        self._prompt = prompt
        self._previous = step
        self._write(record, step=True)

    def write_end(self, outcome: Outcome) -> None:
        """Append the end record: how the run ended, its answer and totals."""
        steps, size = self._pending
        if steps > self._steps and os.fstat(self._fd).st_size >= size:
            # Ctrl-C landed after a step's record reached the file but before it was counted.
            self._steps, self._size = steps, size
        self._write(
            {
                "kind": "end",
                "status": outcome.status,
                "answer": outcome.answer,
                "error": outcome.error,
                "steps": self._steps,
                "usage": _usage(outcome.usage),
                "ended_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            }
        )
        if self._fsync_end and not self._fsync_each:
            os.fsync(self._fd)

    def record(self, run: AgentRun, each_step: Callable[[Step], object] | None = None) -> Outcome:
        """Drive ``run`` to its end, writing every step (then handing it to ``each_step``) and the end record.

        Ctrl-C ends the run with status interrupted; an Abort raised by a backend or by ``each_step``
        (a replay's divergence) is recorded as an error ending and raised again.
        """

        def write_then(step: Step) -> None:
            self.write_step(step)
            each_step(step)

        try:
            outcome = drive(run, self.write_step if each_step is None else write_then)
        except Abort as err:
            self.write_end(Outcome("error", run.state, error=str(err), usage=run.usage))
            raise
        self.write_end(outcome)
        return outcome

    def close(self) -> None:
        """Close the file; records are already on it."""
        os.close(self._fd)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
