"""The reader's edges: a trailing blank line, a line too long to be a record, files that are not files, a lying end record."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import agent, one_line_error
from tests.test_robustness import run_cli
from tracing.errors import TraceError
from tracing.reader import read_trace
from tracing.schema import MAX_LINE_BYTES


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real trace of the default task (6 steps)."""
    folder = tmp_path_factory.mktemp("limits")
    assert agent("run", "--trace", "t.jsonl", cwd=folder).returncode == 0
    return (folder / "t.jsonl").read_bytes()


def inspect(folder: Path, content: bytes) -> tuple[int, str, str]:
    (folder / "f.jsonl").write_bytes(content)
    return run_cli("trace", "inspect", "f.jsonl", cwd=folder)


class TestBlankLines:
    @pytest.mark.parametrize("tail", [b"\n", b"\r\n"])
    def test_one_trailing_blank_line_is_accepted(self, recorded: bytes, tmp_path: Path, tail: bytes) -> None:
        """An editor's extra newline at the end: the trace reads whole and inspects as finished."""
        code, out, err = inspect(tmp_path, recorded + tail)
        assert code == 0 and "end       finished after 6 steps" in out, err
        assert read_trace(tmp_path / "f.jsonl").end is not None

    def test_a_blank_line_between_records_is_corruption(self, recorded: bytes, tmp_path: Path) -> None:
        """A blank line followed by records: exit 2, one line naming it."""
        lines = recorded.splitlines(keepends=True)
        code, _, err = inspect(tmp_path, b"".join([*lines[:3], b"\n", *lines[3:]]))
        assert code == 2 and "f.jsonl:4: a blank line between records" in err and err.count("\n") == 1


class TestLongLines:
    def test_a_huge_newline_free_tail_is_refused_in_bounded_memory(self, recorded: bytes, tmp_path: Path) -> None:
        """1 GB without a newline after a whole trace (a sparse file): one line naming the limit, peak memory near the limit, not the tail."""
        trace = tmp_path / "big.jsonl"
        trace.write_bytes(recorded[: recorded.rindex(b"\n", 0, -1) + 1])  # every record but the end
        with trace.open("r+b") as file:
            file.truncate(trace.stat().st_size + 2**30)  # NUL bytes, no newline, not on disk
        code = (
            "import sys; from agent_harness.cli import main\ntry:\n    main(['trace', 'inspect', 'big.jsonl'])\nexcept SystemExit as e:\n    print('exit', e.code, file=sys.stderr)\n"
            "print([line for line in open('/proc/self/status') if line.startswith('VmHWM')][0].split()[1], file=sys.stderr)"
        )
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
        lines = done.stderr.strip().splitlines()
        assert lines[1] == "exit 2" and f"big.jsonl:8: a line longer than {MAX_LINE_BYTES // 2**20} MiB" in lines[0], done.stderr
        peak_mb = int(lines[2]) / 1024
        assert peak_mb < 3 * MAX_LINE_BYTES / 2**20, f"peak {peak_mb:.0f} MB"

    def test_the_limit_is_far_above_a_legitimate_record(self) -> None:
        """The documented limit leaves room for a step with a 100 MB tool output."""
        assert MAX_LINE_BYTES >= 100 * 2**20


class TestNotAFile:
    def test_a_fifo_is_refused_without_waiting_for_a_writer(self, tmp_path: Path) -> None:
        """A named pipe: one line, exit 2, at once (opening it would wait for a writer forever)."""
        os.mkfifo(tmp_path / "pipe.jsonl")
        result = agent("trace", "inspect", "pipe.jsonl", cwd=tmp_path, timeout=60)
        assert result.returncode == 2 and "pipe.jsonl is a FIFO, not a trace file" in one_line_error(result)

    @pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
    def test_a_device_is_refused(self, device: str) -> None:
        """A character device is not a trace, even one that reads forever."""
        with pytest.raises(TraceError, match="is a character device, not a trace file"):
            read_trace(device)


class TestEndRecordCount:
    def test_inspect_says_when_the_end_record_counts_other_steps_than_it_read(self, recorded: bytes, tmp_path: Path) -> None:
        """An end record saying 99 steps over 6 step records: inspect shows both and says they disagree."""
        lines = recorded.splitlines()
        end = orjson.loads(lines[-1])
        end["steps"] = 99
        code, out, err = inspect(tmp_path, b"\n".join([*lines[:-1], orjson.dumps(end)]) + b"\n")
        assert code == 0, err
        assert "end       finished after 99 steps" in out
        assert "warning   the end record says 99 steps but the trace holds 6 step records" in out

    def test_no_warning_when_they_agree(self, recorded: bytes, tmp_path: Path) -> None:
        """A whole trace gets no such line."""
        code, out, _ = inspect(tmp_path, recorded)
        assert code == 0 and "warning" not in out
