"""The trace writer: append-only JSON lines, one ``write`` call per record.

Each record goes to the file in a single unbuffered write, so a crash leaves every earlier record
whole and at most a torn last line. Only what changed since the previous step is written (new
messages, tool schemas when they change, memory when the step's updates do not explain it), and
a message the previous record already holds (its response, a tool's text output) is written as a
reference to it, so a trace grows linearly with the run and holds each message once.
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import orjson

from agent.loop import Abort, AgentRun, drive
from agent.records import Outcome, Step, ToolResult, Usage
from agent.state import History, Memory, Message, as_memory, plain_copy
from tracing.errors import TraceError, TraceWriteError
from tracing.schema import FORMAT, MAX_LINE_BYTES, SCHEMA_VERSION, RESPONSE_REF, text_tool_message, tool_ref
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


def _as_dict(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """``mapping`` as a dict orjson writes: itself when it is a plain dict (a record is encoded at once, never kept)."""
    return mapping if type(mapping) is dict else dict(mapping)


def _usage(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens}


FSYNC_POLICIES = ("never", "end", "step")


def _is_tool_message(message: Message, result: ToolResult) -> bool:
    """Whether ``message`` is exactly what a ``tool_call`` reference to ``result`` stands for."""
    if result.error is not None or type(result.output) is not str:
        return False
    return message == text_tool_message(result.call.id, result.output)


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
            written[index + 1] = tool_ref(index)
    return written


def _encode(record: Mapping[str, Any]) -> bytes:
    """One record as a JSON line; TraceError for one that orjson cannot write or that is longer than a reader takes."""
    try:
        data = orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        try:  # memory keys that are not strings (a tool may use an int): written as their string form, as hashed
            data = orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)
        except TypeError as err:
            msg = f"it holds a value that is not JSON data ({err})"
            raise TraceError(msg) from None
    if len(data) > MAX_LINE_BYTES:
        msg = f"the record takes {len(data) / 2**20:.0f} MiB, over the {MAX_LINE_BYTES // 2**20} MiB a trace record may take"
        raise TraceError(msg)
    return data


def _what(step: int | None, what: str) -> str:
    """What a record is, for an error message: ``step N`` for a step record."""
    return what if step is None else f"step {step}"


def _write_rest(fd: int, data: bytes, written: int) -> None:
    """Write ``data[written:]`` after a short write; OSError when the disk takes no more."""
    view = memoryview(data)
    while written < len(data):
        count = os.write(fd, view[written:])
        if count == 0:  # no progress and no error: do not spin
            raise OSError(errno.EIO, "the disk took none of the rest of the record")
        written += count


def _advice(err: OSError) -> str:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free space on that disk or choose a tracePath on another"
    return "check the disk, or choose a tracePath on another"


def _create_whole(path: Path, header: bytes) -> int:
    """A new file at ``path`` holding ``header``, opened for appending; it appears only once the header is whole.

    Written as an unnamed file in the target folder (O_TMPFILE) and linked into place, which fails
    if ``path`` exists (the O_EXCL promise: no trace is ever overwritten): a full disk or a crash
    while writing the header leaves no file. Where the file system has no O_TMPFILE, the file is
    created with O_EXCL and removed again if the header cannot be written whole.
    """
    try:
        fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY | os.O_APPEND, 0o644) if hasattr(os, "O_TMPFILE") else None
    except OSError as err:
        if err.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            raise _cannot_create(path, err) from None
        fd = None  # this file system cannot: create by name instead
    if fd is not None:
        try:
            _write_header(fd, header, path)
            _link(fd, path)
        except FileExistsError:
            os.close(fd)
            raise _exists(path) from None
        except OSError:
            os.close(fd)  # no /proc to link from, or a file system that will not: create by name instead
        except BaseException:
            os.close(fd)
            raise
        else:
            return fd
    try:
        # O_EXCL: an existing trace is never overwritten or appended to by another run.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as err:
        raise _cannot_create(path, err) from None
    try:
        _write_header(fd, header, path)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return fd


def _link(fd: int, path: Path) -> None:
    """Give the unnamed file open as ``fd`` the name ``path``; FileExistsError if it is taken."""
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        # Through the directory's fd so that os.link calls linkat, which follows the /proc link to the file (link() would not).
        os.link(f"/proc/self/fd/{fd}", path.name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=True)
    finally:
        os.close(folder)


def _write_header(fd: int, header: bytes, path: Path) -> None:
    try:
        written = os.write(fd, header)
        if written != len(header):
            _write_rest(fd, header, written)
    except OSError as err:
        msg = f"cannot write the header of trace file {path}: {err.strerror}; {_advice(err)} (no file was left)"
        raise TraceWriteError(msg) from None


def _exists(path: Path) -> TraceError:
    return TraceError(f"trace file {path} already exists; choose another tracePath or move the old trace away")


def _cannot_create(path: Path, err: OSError) -> TraceError:
    return TraceError(f"cannot create trace file {path}: {err.strerror}; choose a writable tracePath")


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
        self._memory: Memory | None = None  # the memory as a reader of the records so far rebuilds it
        self._broken: TraceWriteError | None = None  # set once a write failed: no more records but one end record
        self._skip = 0  # steps the file already holds (a resumed run): followed, not written again
        self.end_extra: Callable[[], Mapping[str, Any]] | None = None
        """Fields the end record carries besides the run's ending (a reuse's summary), asked for when it is written."""
        self.edits: dict[int, list[int]] = {}
        """Per step, the tool calls whose output was edited (``agent trace edit``), marked ``edited`` in its record."""

    @property
    def steps(self) -> int:
        """How many step records the trace holds: what the end record counts."""
        return self._steps

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
        if "\0" in str(path):
            msg = f"trace path {str(path)!r} holds a NUL character, which no file name can; choose another tracePath"
            raise TraceError(msg)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # a read-only place, or a part of the path that is a file
            why = "a part of it is a file, not a folder" if isinstance(err, FileExistsError | NotADirectoryError) else err.strerror
            msg = f"cannot create the folder {path.parent} for trace file {path}: {why}; choose a tracePath in a writable folder"
            raise TraceError(msg) from None
        data = _encode(header)
        if scrub is not None:
            data = scrub(data)
        fd = _create_whole(path, data)
        writer = cls(path, fd, fsync, scrub)
        writer._size = len(data)
        if writer._fsync_each:
            try:
                writer._sync("the header")
            except TraceWriteError:
                writer.close()
                raise
        return writer

    @classmethod
    def resume(cls, path: str | Path, steps: int, *, reason: str, fsync: str = "never", scrub: Callable[[bytes], bytes] | None = None) -> TraceWriter:
        """Open the trace at ``path``, which holds ``steps`` whole step records, to go on with its run in the same file.

        A torn last line (what a kill leaves) is cut off first: it holds no whole record. Then a resume
        record is appended; the run replays its recorded steps through ``write_step``, which follows
        them without writing them again, and appends from step ``steps`` on.
        """
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except OSError as err:
            msg = f"cannot reopen trace file {path} to resume it: {err.strerror}"
            raise TraceError(msg) from None
        size = whole = os.fstat(fd).st_size
        while whole > 0:  # back to the end of the last whole line
            chunk = os.pread(fd, min(whole, 1 << 16), max(0, whole - (1 << 16)))
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                whole = whole - len(chunk) + newline + 1
                break
            whole -= len(chunk)
        if whole != size:
            os.ftruncate(fd, whole)
        writer = cls(path, fd, fsync, scrub)
        writer._size, writer._steps, writer._skip = whole, steps, steps
        writer._write({"kind": "resume", "after_step": steps - 1, "reason": reason, "resumed_at": datetime.now(UTC).isoformat(timespec="milliseconds")}, what="the resume record")
        return writer

    def _write(self, record: Mapping[str, Any], *, step: int | None = None, what: str = "the end record") -> None:
        """Append one record as one line, whole, or raise TraceWriteError leaving the file as it was before it.

        ``step``: the index of the step record this is (its ``what`` in error messages, built only on one).
        """
        if self._broken is not None:
            raise self._broken  # after a failed write nothing more is appended (but for write_end's one attempt)
        try:
            data = _encode(record)
        except TraceError as err:
            self._fail(f"cannot write {_what(step, what)} to trace file {self.path}: {err}", stop=True)
        if self._scrub is not None:
            data = self._scrub(data)
        if step is not None:
            self._pending = (self._steps + 1, self._size + len(data))
        # One write of the whole line, so a crash can tear only the record being written; the
        # kernel may take less (a disk that fills up): the rest follows, or the record is undone.
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                _write_rest(self._fd, data, written)
        except OSError as err:
            self._fail(f"cannot write {_what(step, what)} to trace file {self.path}: {err.strerror}; {_advice(err)}", stop=True)
        self._size += len(data)
        if step is not None:
            self._steps += 1
        if self._fsync_each:
            self._sync(_what(step, what))

    def _sync(self, what: str) -> None:
        try:
            os.fsync(self._fd)
        except OSError as err:
            self._fail(f"cannot force {what} of trace file {self.path} to disk: {err.strerror}; {_advice(err)}", stop=False)

    def _fail(self, message: str, *, stop: bool) -> NoReturn:
        """Leave the file ending after its last whole record, refuse further steps, and raise TraceWriteError."""
        if stop:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)  # drop what reached the file of the record that failed
        self._broken = TraceWriteError(f"{message} (the trace keeps its first {self._steps} steps)")
        raise self._broken

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
        # Loops, not comprehensions: a comprehension's own frame costs more than its one or two items (Python 3.11).
        calls, updates = [], []
        for r in step.results:
            update = r.memory_update
            updates.append(update)
            calls.append(
                {
                    "id": r.call.id,
                    "name": r.call.name,
                    "arguments": r.call.arguments,
                    "output": r.output,
                    "error": r.error,
                    "memory_update": _as_dict(update),
                    "latency_s": r.latency_s,
                }
            )
        response = step.response
        record: dict[str, Any] = {
            "kind": "step",
            "index": step.index,
            "timestamp": step.timestamp,
            "clock": step.clock,
            "model": request.model,
            # Copies only where orjson needs a dict: the record is encoded at once, so the loop's own dicts can be written as they are.
            "params": _as_dict(request.params),
            "messages": {"kept": kept, "new": new, "sha256": prompt.digest()},
            "response": {"message": response.message, "usage": _usage(response.usage), "latency_s": response.latency_s},
            "tool_calls": calls,
        }
        # The state's fields without copying its memory: memory is written only where the step's
        # updates applied to the previous memory would not give it (compared by digests, O(change)).
        memory = as_memory(state.memory)
        state_record: dict[str, Any] = {"sha256": state.hash(), "answer": state.answer, "done": state.done}
        if self._memory is None or not memory.follows(self._memory, updates):
            state_record["memory"] = plain_copy(memory)
        state_record["messages"] = {"count": len(state.messages), "digest": state.messages.digest()}
        state_record["step"] = state.step
        record["state"] = state_record
        if request.tools is not self._tools:  # the same toolbox hands the same tuple every step
            record["tools"] = list(request.tools)
            self._tools = request.tools
        if step.index in self.edits:
            record["edited"] = self.edits[step.index]
        self._memory = memory
        self._prompt = prompt
        self._previous = step
        if step.index < self._skip:  # a resumed run's recorded step: already in the file
            return
        self._write(record, step=step.index)

    def write_end(self, outcome: Outcome) -> None:
        """Append the end record: how the run ended, its answer and totals.

        After a failed write it is tried once, so the trace says why it stops; if it fails too, the
        trace ends after its last whole step, which the reader reports as cut off.
        """
        interrupted, before = False, None
        while True:
            # A second Ctrl-C while the end record is written would lose it (or tear it): undo and
            # write it again, then pass the Ctrl-C on, so an interrupted run's trace still ends whole.
            try:
                if before is None or self._size <= before:  # the end record is not on file, whole and counted, yet
                    self._broken = None
                    self._recover()
                    before = self._size
                    record = {
                        "kind": "end",
                        "status": outcome.status,
                        "answer": outcome.answer,
                        "error": outcome.error,
                        "steps": self._steps,
                        "usage": _usage(outcome.usage),
                        "ended_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                        **(self.end_extra() if self.end_extra is not None else {}),
                    }
                    self._write(record)
                if self._fsync_end and not self._fsync_each:
                    self._sync("the end record")
                break
            except KeyboardInterrupt:
                interrupted = True
        self._broken = TraceWriteError(f"trace file {self.path} is complete; nothing can be appended after its end record")
        if interrupted:
            raise KeyboardInterrupt

    def _recover(self) -> None:
        """Make the file end after a whole record again when Ctrl-C stopped a write before it was counted."""
        steps, size = self._pending
        try:
            actual = os.fstat(self._fd).st_size
            if steps > self._steps and actual == size:
                # Ctrl-C landed after a step's record reached the file but before it was counted.
                self._steps, self._size = steps, size
            elif actual > self._size:
                os.ftruncate(self._fd, self._size)  # Ctrl-C cut a record short: it never happened
        except OSError:
            pass  # the end record's own write says what is wrong

    def record(self, run: AgentRun, each_step: Callable[[Step], object] | None = None) -> Outcome:
        """Drive ``run`` to its end, writing every step (then handing it to ``each_step``) and the end record.

        Ctrl-C ends the run with status interrupted; an Abort raised by a backend or by ``each_step``
        (a replay's divergence) is recorded as an error ending and raised again. A record the disk
        does not take whole (full, failing) stops the run: TraceWriteError, after an attempt at an
        end record that says so; every record before it stays whole.
        """

        def write_then(step: Step) -> None:
            self.write_step(step)
            each_step(step)

        try:
            outcome = drive(run, self.write_step if each_step is None else write_then)
        except TraceWriteError as err:
            # The disk refused a step: say so in an end record if it takes one, and stop the run.
            with contextlib.suppress(TraceWriteError):
                self.write_end(run.ending("error", error=f"the trace could not be written: {err}"))
            self._broken = err
            raise
        except Abort as err:
            self.write_end(run.ending("error", error=str(err)))
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
