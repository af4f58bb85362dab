"""Faults while recording: a disk that fills (for good or briefly), paths that cannot be made, signals.

Every record reaches the file whole or the run stops cleanly: exit 2 and one line naming the trace
and the disk's problem, every earlier record readable, no half-made file left. The disk-full tests
run on a real tmpfs of a few hundred KB, which they mount when run as root; elsewhere they skip
with one line (in CI, CI=true, they fail instead: CI runs as root and must run them). The in-process
tests simulate a short write deterministically and need nothing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from agent.loop import AgentRun, start_state
from agent.records import LLMRequest, LLMResponse, ToolCall
from agent.runtime import Runtime
from agent.tools import Toolbox, ToolOutput
from tests.conftest import AGENT, agent, one_line_error
from tests.test_robustness import long_task, run_cli, wait_for_steps
from tracing.errors import TraceError, TraceWriteError
from tracing.reader import read_trace
from tracing.writer import TraceWriter, make_header

STEPS = 40
PAGE = 2000  # bytes each step stores in memory (and so writes in its record)


# --------------------------------------------------------------------------- a small disk


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI runs as root and must run the disk-full tests")
    pytest.skip(reason)


@contextlib.contextmanager
def small_disk(folder: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``folder`` for the block (root only; skipped with one line otherwise)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        _unavailable("needs root to mount a small tmpfs")
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        _unavailable(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path, name: str = "filler") -> Path:
    """Fill ``disk`` to the last byte with one file; returns it (delete it to free the space)."""
    filler = disk / name
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for chunk in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * chunk)
    finally:
        os.close(fd)
    return filler


# --------------------------------------------------------------------------- a run whose records are ~2 KB


def remember_page(key: str) -> ToolOutput:
    """Store a page.

    Args:
        key: where.
    """
    return ToolOutput(output=f"stored {key}", memory={key: key[-1] * PAGE})


class PagesLLM:
    """Asks to store one page a step, then answers."""

    model = "pages"
    params: dict[str, Any] = {}

    def complete(self, request: LLMRequest) -> LLMResponse:
        turn = (len(request.messages) - 2) // 2
        if turn >= STEPS - 1:
            return LLMResponse(message={"role": "assistant", "content": "done"})
        call = ToolCall(id=f"c{turn}", name="remember_page", arguments=orjson.dumps({"key": f"page{turn}"}).decode())
        message = {"role": "assistant", "content": None, "tool_calls": [{"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}]}
        return LLMResponse(message=message, tool_calls=(call,))


def pages_run(workspace: Path) -> AgentRun:
    tools = Toolbox(workspace=workspace, tools={"remember_page": remember_page})
    return AgentRun(state=start_state(system_prompt="s", prompt="p"), llm=PagesLLM(), tools=tools, runtime=Runtime(), max_steps=STEPS)


def header() -> dict[str, Any]:
    return make_header(config={}, overrides=[], choices={}, job={}, versions={})


@contextlib.contextmanager
def patched_write(monkeypatch: pytest.MonkeyPatch, patch: Callable[[Callable[[int, Any], int], int, Any], int]) -> Iterator[None]:
    """os.write replaced by ``patch(real_write, fd, data)`` for the block."""
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: patch(real, fd, data))
    try:
        yield
    finally:
        monkeypatch.setattr(os, "write", real)


def assert_whole_and_replayable(trace: Path, steps: int) -> dict[str, Any]:
    """The trace reads record by record, holds ``steps`` steps, and inspect shows it (exit 0)."""
    recorded = read_trace(trace)
    assert len(recorded.steps) == steps and not recorded.torn
    code, out, err = run_cli("trace", "inspect", str(trace), cwd=trace.parent)
    assert code == 0, err
    return {"trace": recorded, "inspect": out}


# --------------------------------------------------------------------------- short writes, simulated


class TestShortWrites:
    def test_a_short_write_is_completed_and_the_record_stays_whole(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The kernel takes half of a record: the writer writes the rest, and the trace reads whole."""
        calls = []

        def half_once(real: Callable[[int, Any], int], fd: int, data: Any) -> int:
            calls.append(len(data))
            return real(fd, bytes(data)[: len(data) // 2] if len(calls) == 5 else data)

        with TraceWriter.create(tmp_path / "t.jsonl", header()) as writer, patched_write(monkeypatch, half_once):
            outcome = writer.record(pages_run(tmp_path))
        assert outcome.status == "finished" and calls[5] == calls[4] - calls[4] // 2  # the rest, right after
        assert_whole_and_replayable(tmp_path / "t.jsonl", STEPS)

    def test_a_write_that_fails_after_a_short_one_stops_the_run_over_whole_records(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Half a record, then ENOSPC: the half is undone, an end record says why, and TraceWriteError names the trace."""
        calls = []

        def half_then_full(real: Callable[[int, Any], int], fd: int, data: Any) -> int:
            calls.append(len(data))
            if len(calls) == 5:
                return real(fd, bytes(data)[: len(data) // 2])
            if len(calls) == 6:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(fd, data)

        trace = tmp_path / "t.jsonl"
        with TraceWriter.create(trace, header()) as writer, patched_write(monkeypatch, half_then_full), pytest.raises(TraceWriteError) as raised:
            writer.record(pages_run(tmp_path))
        message = str(raised.value)
        assert str(trace) in message and "No space left on device" in message and "\n" not in message
        recorded = assert_whole_and_replayable(trace, 4)["trace"]  # steps 0-3 written; step 4 went half, then failed
        assert recorded.end["status"] == "error" and recorded.end["steps"] == 4 and "No space left on device" in recorded.end["error"]

    def test_when_the_end_record_cannot_be_written_either_the_trace_reads_as_cut_off(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A disk that stays full: the failed step and the end record are both undone; the reader says where it was cut."""
        calls = []

        def full_from_the_fifth(real: Callable[[int, Any], int], fd: int, data: Any) -> int:
            calls.append(len(data))
            if len(calls) >= 5:
                real(fd, bytes(data)[:10])  # a torn start, then nothing more
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(fd, data)

        trace = tmp_path / "t.jsonl"
        with TraceWriter.create(trace, header()) as writer, patched_write(monkeypatch, full_from_the_fifth), pytest.raises(TraceWriteError):
            writer.record(pages_run(tmp_path))
        shown = assert_whole_and_replayable(trace, 4)
        assert shown["trace"].end is None and "cut off after step 3" in shown["inspect"]

    def test_a_header_that_cannot_be_written_whole_leaves_no_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Part of the header, then ENOSPC: TraceWriteError, and neither the trace nor a temporary file is left."""

        def torn(real: Callable[[int, Any], int], fd: int, data: Any) -> int:
            if len(bytes(data)) > 100:
                return real(fd, bytes(data)[:100])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        with patched_write(monkeypatch, torn), pytest.raises(TraceWriteError, match="cannot write the header"):
            TraceWriter.create(tmp_path / "t.jsonl", header())
        assert list(tmp_path.iterdir()) == []

    def test_a_record_longer_than_a_reader_takes_is_refused(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The writer refuses a record over MAX_LINE_BYTES instead of writing a line its reader would refuse."""
        monkeypatch.setattr("tracing.writer.MAX_LINE_BYTES", 3000)
        trace = tmp_path / "t.jsonl"
        with TraceWriter.create(trace, header()) as writer, pytest.raises(TraceWriteError, match="over the 0 MiB"):
            writer.record(pages_run(tmp_path))
        assert read_trace(trace).end["status"] == "error"


# --------------------------------------------------------------------------- a real full disk


class TestFullDisk:
    def test_a_full_disk_at_the_header_is_one_line_and_leaves_no_file(self, tmp_path: Path) -> None:
        """`agent run --trace` onto a full disk: exit 2, one line naming the trace and the disk's error, nothing left."""
        with small_disk(tmp_path / "disk", "256k") as disk:
            fill(disk)
            result = agent("run", "--trace", str(disk / "t.jsonl"), "hydra.run.dir=run", cwd=tmp_path)
            assert result.returncode == 2 and "finished" not in result.stdout
            line = one_line_error(result)
            assert str(disk / "t.jsonl") in line and "No space left on device" in line
            assert sorted(p.name for p in disk.iterdir()) == ["filler"]

    def test_a_disk_that_fills_mid_run_stops_it_over_readable_records(self, tmp_path: Path) -> None:
        """The disk fills after some steps: exit 2, one line; the trace keeps every step before, says why it ends, and replays."""
        with small_disk(tmp_path / "disk", "192k") as disk:
            trace = disk / "t.jsonl"
            result = agent("run", *long_task(tmp_path), "--trace", str(trace), "hydra.run.dir=run", cwd=tmp_path)
            assert result.returncode == 2 and "finished" not in result.stdout
            line = one_line_error(result)
            assert str(trace) in line and "No space left on device" in line
            recorded = read_trace(trace)
            assert len(recorded.steps) > 10 and recorded.end["status"] == "error" and "could not be written" in recorded.end["error"]
            code, out, err = run_cli("trace", "inspect", str(trace), cwd=tmp_path)
            assert code == 0 and f"end       error after {len(recorded.steps)} steps" in out, err
            code, out, err = run_cli("replay", str(trace), "hydra.run.dir=replayed", cwd=tmp_path)
            assert code == 0 and out.startswith(f"replay OK: {len(recorded.steps)} steps matched"), out + err

    def test_a_briefly_full_disk_leaves_a_whole_trace(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The kernel writes a record short on a full tmpfs, space is freed at once: the rest is written, and the run's success is real."""
        with small_disk(tmp_path / "disk", "256k") as disk:
            state: dict[str, Any] = {"filler": None, "short": 0}

            def fill_between_records(step: object) -> None:
                # Fill once the trace ends inside a page, so the next record finds a few bytes free: a short write.
                if state["filler"] is None and (disk / "t.jsonl").stat().st_size % 4096:
                    state["filler"] = fill(disk)

            def free_on_short(real: Callable[[int, Any], int], fd: int, data: Any) -> int:
                written = real(fd, data)
                if written < len(data) and state["filler"] is not None and state["filler"].exists():
                    state["short"] += 1
                    state["filler"].unlink()  # the disk was full only briefly
                return written

            with TraceWriter.create(disk / "t.jsonl", header()) as writer, patched_write(monkeypatch, free_on_short):
                outcome = writer.record(pages_run(tmp_path), fill_between_records)
            assert state["short"] == 1 and outcome.status == "finished"
            assert_whole_and_replayable(disk / "t.jsonl", STEPS)

    def test_a_run_dir_on_a_full_or_read_only_disk_is_one_line_and_leaves_no_temporary_file(self, tmp_path: Path) -> None:
        """hydra.run.dir where nothing can be written: exit 2, one line naming hydra.run.dir; no .status.json.tmp anywhere."""
        with small_disk(tmp_path / "full", "128k") as full, small_disk(tmp_path / "ro", "128k", read_only=True) as read_only:
            fill(full)
            for place in (full / "run", read_only / "run"):
                result = agent("run", f"hydra.run.dir={place}", cwd=tmp_path)
                assert result.returncode == 2 and "hydra.run.dir" in one_line_error(result)
            assert [p for p in tmp_path.rglob(".status.json.tmp")] == []

    def test_a_trace_folder_on_a_read_only_disk_is_one_line(self, tmp_path: Path) -> None:
        """--trace under a read-only place: exit 2, one line naming the folder, before anything runs."""
        with small_disk(tmp_path / "ro", "64k", read_only=True) as read_only:
            result = agent("run", "--trace", str(read_only / "sub" / "t.jsonl"), "hydra.run.dir=run", cwd=tmp_path)
            assert result.returncode == 2 and "Read-only file system" in one_line_error(result)


def test_a_trace_folder_through_a_file_is_one_line(tmp_path: Path) -> None:
    """--trace base.jsonl/t.jsonl where base.jsonl is a file: exit 2, one line, and base.jsonl untouched."""
    (tmp_path / "base.jsonl").write_text("mine\n")
    result = agent("run", "--trace", "base.jsonl/t.jsonl", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 2 and "a part of it is a file, not a folder" in one_line_error(result)
    assert (tmp_path / "base.jsonl").read_text() == "mine\n"


def test_folder_errors_are_trace_errors(tmp_path: Path) -> None:
    """The library says the same: TraceError, not an OSError from mkdir."""
    (tmp_path / "f").write_text("")
    with pytest.raises(TraceError, match="cannot create the folder"):
        TraceWriter.create(tmp_path / "f" / "sub" / "t.jsonl", header())


# --------------------------------------------------------------------------- signals


def test_a_double_ctrl_c_prints_no_traceback_and_the_trace_still_ends(tmp_path: Path) -> None:
    """Two SIGINTs a random 0-100 ms apart, five times: exit 1, no traceback, an end record of status interrupted."""
    overrides = long_task(tmp_path)
    rng = random.Random(17)
    for attempt in range(5):
        trace = tmp_path / f"t{attempt}.jsonl"
        process = subprocess.Popen([AGENT, "run", *overrides, "--trace", str(trace), f"hydra.run.dir=run{attempt}"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_steps(trace, process, 20)
        process.send_signal(signal.SIGINT)
        time.sleep(rng.uniform(0, 0.1))
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        seen = f"attempt {attempt}: exit {process.returncode}; stdout {out[-300:]!r}; stderr {err[-1500:]!r}"
        assert process.returncode == 1 and "Traceback" not in err and "Exception ignored" not in err, seen
        recorded = read_trace(trace)
        assert recorded.end is not None and recorded.end["status"] == "interrupted" and recorded.end["steps"] == len(recorded.steps), seen
