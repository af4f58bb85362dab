"""The trace reader: streams records, checks them, and rebuilds every step's full prompt.

A torn last line is what a crash leaves: it is reported as a cut-off run, not an error. Anything
else that is wrong (a corrupt line in the middle, a file that is not a trace, a newer schema)
raises TraceError with one line that says what and where.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from agent.updates import updated_memory
from tracing import quickread
from tracing.errors import TraceError
from tracing.schema import FORMAT, MAX_LINE_BYTES, SCHEMA_VERSION, check_record, resolve_references

if TYPE_CHECKING:
    from agent.state import History

# orjson, hashlib and the runtime's state module are imported where a trace is read with them: a
# small trace read by a short command (agent trace inspect) needs none of them (tracing.quickread).

DEFAULT_TRACE = "trace.jsonl"
"""The trace's name in a run's folder (tracePath's default)."""


def trace_file(path: Path) -> Path:
    """``path``, or the trace a run's folder holds."""
    return path / DEFAULT_TRACE if path.is_dir() and (path / DEFAULT_TRACE).is_file() else path


class Trace:
    """A trace read from disk (``read_trace``).

    A plain class, not a dataclass: importing dataclasses costs ~7 ms, which `agent trace inspect`
    does not otherwise pay.
    """

    __slots__ = ("path", "header", "steps", "prompts", "end", "torn", "resumes", "_edited")

    def __init__(self, path: Path, header: dict[str, Any], _edited: list[int] | None = None) -> None:
        self.path = path
        self.header = header
        self.steps: list[dict[str, Any]] = []
        """Step records, with ``tools`` and ``state.memory`` filled in where the writer left them out: a
        filled-in memory is a read-only Mapping (``agent.state.Memory``) sharing storage with the step
        before's (``agent.state.plain_copy`` gives a dict of it)."""
        self.prompts: list[History] = []
        """The full prompt of each step, rebuilt (and checked against its recorded sha256 unless read with ``check_prompts=False``)."""
        self.end: dict[str, Any] | None = None
        """The end record; None when the run was cut off."""
        self.torn = False
        """Whether the file ends in a partly written line (the writer was killed mid-record)."""
        self.resumes: list[dict[str, Any]] = []
        """The resume records: where the run was resumed from its trace, and why."""
        self._edited = _edited

    def __repr__(self) -> str:
        return f"Trace({str(self.path)!r}, {len(self.steps)} steps, {'cut off' if self.end is None else self.end['status']})"

    @property
    def cut_off(self) -> bool:
        """Whether the recording stops before the run's end record."""
        return self.end is None

    @property
    def edited(self) -> list[int]:
        """Steps whose rebuilt prompt does not match its recorded sha256: edited or damaged after recording.

        Always empty for a trace read with ``check_prompts=True`` (such a trace is refused). Otherwise
        worked out on first use: a replay compares its own prompts with the recorded digests step by
        step, so it asks only when it finds a difference and needs to know whether the trace explains it.
        """
        if self._edited is None:
            self._edited = [index for index, (record, prompt) in enumerate(zip(self.steps, self.prompts, strict=True)) if prompt.digest() != record["messages"]["sha256"]]
        return self._edited


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _open(path: Path) -> tuple[BinaryIO, int]:
    """The trace file open for reading, and its size.

    Only a regular file is opened (opening a FIFO would wait for a writer).
    """
    try:
        status = os.stat(path)
    except (FileNotFoundError, ValueError):  # ValueError: a NUL in the path, which no file's name holds
        msg = f"no trace at {path}; check the path (a run writes its trace to tracePath)"
        raise TraceError(msg) from None
    except OSError as err:
        msg = f"cannot read {path}: {err.strerror}"
        raise TraceError(msg) from None
    mode = status.st_mode
    if stat.S_ISDIR(mode):
        msg = f"{path} is a folder; give the path of a trace file (.jsonl)"
        raise TraceError(msg)
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        msg = f"{path} is {kind}, not a trace file; give the path of a trace file (.jsonl) (copy a stream to a file first)"
        raise TraceError(msg)
    try:
        return path.open("rb"), status.st_size
    except OSError as err:
        msg = f"cannot read {path}: {err.strerror}"
        raise TraceError(msg) from None


def _lines(file: BinaryIO, path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes, complete) for each line; complete is False for a last line with no newline.

    A line is read up to MAX_LINE_BYTES: a longer one is refused, never read whole into memory.
    """
    with file:
        number = 0
        while line := file.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(line) > MAX_LINE_BYTES:
                msg = (
                    f"{path}:{number}: a line longer than {MAX_LINE_BYTES // 2**20} MiB, the most a trace record may take; "
                    "the file is not a trace or is corrupt"
                )
                raise TraceError(msg)
            yield number, line, line.endswith(b"\n")  # the parser skips the newline: no copy of a long line


def _persistent_update() -> Callable[[Any, Any], Any]:
    """``agent.state.with_update``: a Memory updated in O(change), sharing storage with the memory it came from."""
    from agent.state import with_update

    return with_update


def _orjson() -> tuple[Callable[[bytes], Any], Callable[[bytes, Any], bytes]]:
    """orjson's parser and the runtime's chain digest: how every trace is read but a small one read by a short command."""
    import orjson

    from agent.state import extend_digest

    return orjson.loads, extend_digest


def iter_records(path: str | Path) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """Yield ``(where, record)`` for each record; a torn last line comes last as ``(where, None)``.

    ``where`` names the file and line for error messages. The header is checked for format and
    version; other records are the caller's to check.
    """
    path = Path(path)
    file, _ = _open(path)
    return _records(_lines(file, path), str(path), _orjson()[0])


def _records(lines: Iterator[tuple[int, bytes, bool]], name: str, loads: Callable[[bytes], Any]) -> Iterator[tuple[str, dict[str, Any] | None]]:
    seen_any = False
    blank = None  # where a blank line was: accepted at the end of the file (an editor's extra newline), not before a record
    for number, line, complete in lines:
        where = f"{name}:{number}"
        if blank is not None:
            msg = f"{blank}: a blank line between records; the trace is corrupt at this line"
            raise TraceError(msg)
        if seen_any and len(line) <= 2 and line in (b"\n", b"\r\n"):
            blank = where
            continue
        try:
            record = loads(line)
        except json.JSONDecodeError as err:  # orjson's error is one
            if not complete and seen_any:
                yield where, None  # the torn last line of a crashed writer: every earlier record is whole
                return
            if not complete:
                msg = f"{where}: the trace header is cut off (the run stopped while writing its first line); nothing to read"
                raise TraceError(msg) from None
            if not seen_any:
                msg = f"{where}: this is not an {FORMAT} file (its first line is not JSON)"
                raise TraceError(msg) from None
            msg = f"{where}: not valid JSON ({err}); the trace is corrupt at this line"
            raise TraceError(msg) from None
        if not seen_any:
            _check_header(record, where)
            seen_any = True
        yield where, record
    if not seen_any:
        msg = f"{name} is empty; it holds no trace header (was the run started with tracing on?)"
        raise TraceError(msg)


def _check_header(record: Any, where: str) -> None:
    if not isinstance(record, dict) or record.get("kind") != "header" or record.get("format") != FORMAT:
        msg = f"{where}: this is not an {FORMAT} file (its first line is not a trace header)"
        raise TraceError(msg)
    version = record.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        msg = (
            f"{where}: trace schema version {version} is newer than this agent-harness reads ({SCHEMA_VERSION}); "
            "upgrade agent-harness to read it"
        )
        raise TraceError(msg)
    check_record(record, where)


class _FullPrompts:
    """Keeps every step's whole prompt (for replay and diff): a History, sharing storage between steps.

    Digested only when the prompts are checked as they are read (see ``Trace.edited`` otherwise).
    """

    def __init__(self, *, digest: bool) -> None:
        from agent.state import History

        self.current = History()
        self.digest = digest

    def rebuild(self, kept: int, new: list[Any]) -> tuple[int, str | None]:
        previous = self.current
        base = previous if kept == len(previous) else type(previous)(previous[:kept])  # a prompt that is not a continuation
        self.current = base.append(*new)
        return len(self.current), self.current.digest() if self.digest else None


class _PromptDigests:
    """Keeps only the chain digest after each message (for inspect): memory stays small however long the run."""

    def __init__(self, extend_digest: Callable[[bytes, Any], bytes]) -> None:
        self.digests = [quickread.EMPTY_DIGEST]
        self.extend_digest = extend_digest

    def rebuild(self, kept: int, new: list[Any]) -> tuple[int, str]:
        del self.digests[kept + 1 :]
        digests, extend_digest = self.digests, self.extend_digest
        for message in new:
            digests.append(extend_digest(digests[-1], message))
        return len(self.digests) - 1, self.digests[-1].hex()


class TraceStream:
    """A trace read record by record: the header at once, the steps as ``steps()`` is iterated, then the end.

    Every record is checked as ``read_trace`` checks it, prompts included, but nothing is kept but
    the digests of the prompt's messages: inspecting a long trace takes memory for one step.

    A rebuilt prompt that does not match its recorded sha256 means the trace was damaged or edited
    after recording: by default that is a TraceError; with ``check_prompts=False`` the step is listed
    in ``edited`` instead (with ``keep_prompts`` too, nothing is digested here: ``Trace.edited`` and a
    replay, which digests its own prompts anyway, find such steps).
    """

    def __init__(self, path: str | Path, *, keep_prompts: bool = False, check_prompts: bool = True) -> None:
        self.path = path = Path(path)
        file, size = _open(path)
        # A stream that keeps only digests is what a short command reads; a small file, it reads without orjson.
        quick = not keep_prompts and size <= quickread.QUICK_MAX_BYTES
        loads, extend_digest = (quickread.loads, quickread.extend_digest) if quick else _orjson()
        self._records = _records(_lines(file, path), str(path), loads)
        where, header = next(self._records)  # raises on a file without a whole header
        self.header: dict[str, Any] = header  # type: ignore[assignment]
        self.end: dict[str, Any] | None = None
        self.torn = False
        self.prompt: Any = _FullPrompts(digest=check_prompts) if keep_prompts else _PromptDigests(extend_digest)
        # A memory the writer left out is the one before with the step's updates applied: a dict copy for a
        # stream (its records are let go), a persistent Memory sharing storage with the one before where
        # every record is kept (read_trace): a dict per step would make a trace whose memory grows a key
        # a step take O(steps x keys) to read and to hold (5,000 steps: 383 MB for a 10 MB trace).
        self._updated: Callable[[Any, Any], Any] = updated_memory if not keep_prompts else _persistent_update()
        self.check_prompts = check_prompts
        self.edited: list[int] = []
        self.resumes: list[dict[str, Any]] = []

    @property
    def cut_off(self) -> bool:
        """Whether the recording stops before the run's end record (known once the steps are read)."""
        return self.end is None

    def steps(self) -> Iterator[tuple[dict[str, Any], int]]:
        """Each step record, checked, with ``tools`` and ``state.memory`` filled in, and its prompt's length."""
        tools: Any = None
        memory: Any = None
        previous: dict[str, Any] | None = None
        count = length = 0  # step records so far; messages in the prompt so far
        rebuild = self.prompt.rebuild
        for where, record in self._records:
            if record is None:
                self.torn = True
                return
            kind = check_record(record, where)
            if kind != "step" or self.end is not None:
                self._other(kind, record, where, count)
                continue
            if record["index"] != count:
                msg = f"{where}: step index {record['index']} where step {count} was expected; steps are missing, repeated or out of order"
                raise TraceError(msg)
            tools = record.setdefault("tools", tools)
            state = record["state"]
            if "memory" not in state and memory is not None:
                # Left out by the writer: the previous memory with this step's tool updates applied, in order.
                for call in record["tool_calls"]:
                    if call["memory_update"]:
                        memory = self._updated(memory, call["memory_update"])
            memory = state.setdefault("memory", memory)
            if tools is None or memory is None:
                msg = f"{where}: the first step has no tools or state.memory; the trace is corrupt"
                raise TraceError(msg)
            messages = record["messages"]
            if messages["kept"] > length:
                msg = f"{where}: messages.kept={messages['kept']} but the previous prompt has {length} messages; the trace is corrupt"
                raise TraceError(msg)
            messages["new"] = new = resolve_references(messages["new"], previous, where)
            length, digest = rebuild(messages["kept"], new)
            if digest is not None and digest != messages["sha256"]:
                if self.check_prompts:
                    msg = f"{where}: the prompt rebuilt from the trace does not match its recorded sha256; the trace is corrupt or was edited"
                    raise TraceError(msg)
                self.edited.append(count)
            previous = record
            count += 1
            yield record, length

    def _other(self, kind: str, record: dict[str, Any], where: str, count: int) -> None:
        """A record other than a step's, or a step record after the end record: taken in, or TraceError."""
        if kind == "header":
            msg = f"{where}: a second header; a trace holds one run (were two traces concatenated?)"
            raise TraceError(msg)
        if kind == "resume":
            # A resumed run goes on in the same file: after its last whole step, or after an interrupted end.
            if (self.end is not None and self.end["status"] != "interrupted") or record["after_step"] != count - 1:
                msg = f"{where}: a resume record after step {record['after_step']} where the trace holds steps 0 to {count - 1} and ended {self.end['status'] if self.end else 'cut off'}; the trace is corrupt"
                raise TraceError(msg)
            self.end = None
            self.resumes.append(record)
            return
        if self.end is not None:
            msg = f"{where}: a {kind} record after the end record; the trace is corrupt"
            raise TraceError(msg)
        self.end = record  # kind == "end"


def read_trace(path: str | Path, *, check_prompts: bool = True) -> Trace:
    """Read and check a whole trace, rebuilding each step's prompt (see TraceStream for ``check_prompts``).

    Records are plain JSON data, free of cycles: with the cyclic collector on, its full passes over a
    growing heap make reading ~2x slower per step at 5,000 steps (bench/RESULTS-replay.md). The
    collector is process-wide, so this leaves it alone; the ``agent`` command pauses it for its
    replay, resume and trace commands (agent_harness/cli), and a caller reading long traces may too.
    """
    stream = TraceStream(path, keep_prompts=True, check_prompts=check_prompts)
    trace = Trace(path=stream.path, header=stream.header, _edited=[] if check_prompts else None)
    for record, _ in stream.steps():
        trace.steps.append(record)
        trace.prompts.append(stream.prompt.current)
    trace.end, trace.torn, trace.resumes = stream.end, stream.torn, stream.resumes
    return trace
