"""`agent trace inspect` on broken and hostile input: a documented exit status and one clear line."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.conftest import agent, one_line_error


@pytest.fixture(scope="module")
def good_trace(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a real trace of the default task."""
    folder = tmp_path_factory.mktemp("recorded")
    assert agent("run", "--trace", "t.jsonl", cwd=folder).returncode == 0
    return (folder / "t.jsonl").read_bytes()


def inspect(tmp_path: Path, content: bytes | None, name: str = "t.jsonl"):  # noqa: ANN201
    if content is not None:
        (tmp_path / name).write_bytes(content)
    return agent("trace", "inspect", name, cwd=tmp_path)


def header_with(**fields: object) -> bytes:
    base = {"kind": "header", "format": "agent-trace", "schema_version": 1, "run_id": "r", "started_at": "now"}
    base |= {"config": {}, "overrides": [], "choices": {}, "versions": {}} | fields
    return orjson.dumps(base) + b"\n"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "no trace at t.jsonl"),
        (b"", "t.jsonl is empty"),
        (b"this is not json\n", "not an agent-trace file"),
        (b'{"hello": "world"}\n', "not an agent-trace file"),
        (b"[1, 2, 3]\n", "not an agent-trace file"),
        (header_with(schema_version=999), "schema version 999 is newer than this agent-harness reads (3)"),
        (header_with(config="oops"), "header record, field config: expected an object"),
        (b'{"kind": "header", "form', "trace header is cut off"),
    ],
    ids=["missing", "empty", "not-json", "json-not-trace", "json-array", "schema-999", "wrong-type", "torn-header"],
)
def test_unusable_file_exits_2_with_one_line(tmp_path: Path, content: bytes | None, words: str) -> None:
    """Each unusable input names the problem in one stderr line and exits 2."""
    result = inspect(tmp_path, content)
    assert result.returncode == 2
    assert words in one_line_error(result)
    assert result.stdout == ""


def test_folder_instead_of_a_file_exits_2(tmp_path: Path) -> None:
    """A directory is not a trace."""
    (tmp_path / "dir.jsonl").mkdir()
    result = inspect(tmp_path, None, name="dir.jsonl")
    assert result.returncode == 2 and "is a folder" in one_line_error(result)


def test_torn_last_line_is_reported_as_a_cut_off_run(tmp_path: Path, good_trace: bytes) -> None:
    """A crash mid-write leaves a torn last line: inspect shows every whole step and says where it was cut."""
    lines = good_trace.splitlines(keepends=True)
    torn = b"".join(lines[:4]) + lines[4][: len(lines[4]) // 2]  # header, steps 0-2, half of step 3
    result = inspect(tmp_path, torn)
    assert result.returncode == 0, result.stderr
    assert "step 2  " in result.stdout and "step 3  " not in result.stdout
    assert "cut off after step 2 and its last line is torn" in result.stdout


def test_trace_without_end_record_is_reported_as_cut_off(tmp_path: Path, good_trace: bytes) -> None:
    """A trace whose last whole record is a step was cut off between records."""
    lines = good_trace.splitlines(keepends=True)
    result = inspect(tmp_path, b"".join(lines[:-1]))
    assert result.returncode == 0 and "end       none: the trace was cut off after step 5;" in result.stdout


def test_header_only_trace_is_cut_off_before_its_first_step(tmp_path: Path, good_trace: bytes) -> None:
    """A run killed right after opening its trace still reads."""
    result = inspect(tmp_path, good_trace.splitlines(keepends=True)[0])
    assert result.returncode == 0 and "cut off before its first step" in result.stdout


def with_new(lines: list[bytes], line: int, index: int, entry: dict) -> list[bytes]:
    """``lines`` with ``messages.new[index]`` of the step record on ``line`` (0-based) replaced by ``entry``."""
    record = orjson.loads(lines[line])
    record["messages"]["new"][index] = entry
    return [*lines[:line], orjson.dumps(record) + b"\n", *lines[line + 1 :]]


@pytest.mark.parametrize(
    ("mangle", "words"),
    [
        (lambda lines: [*lines[:2], b"{corrupt\n", *lines[3:]], "t.jsonl:3: not valid JSON"),
        (lambda lines: with_new(lines, 1, 0, {"ref": "response"}), "t.jsonl:2: messages.new[0] refers to the previous step record, but this is the first"),
        (lambda lines: with_new(lines, 4, 1, {"ref": "tool_call", "index": 3}), "t.jsonl:5: messages.new[1] refers to tool call 3 of the previous step, which has 1"),
        (lambda lines: with_new(lines, 2, 1, {"ref": "tool_call", "index": 0}), "refers to tool call 0 of the previous step, whose output is not text"),
        (lambda lines: with_new(lines, 4, 0, {"ref": "answer"}), "step record, field messages.new[0].ref: expected one of response, tool_call, got 'answer'"),
        (lambda lines: [*lines[:2], *lines[3:]], "t.jsonl:3: step index 2 where step 1 was expected"),
        (lambda lines: [*lines[:3], lines[2], *lines[3:]], "t.jsonl:4: step index 1 where step 2 was expected"),
        (lambda lines: [*lines, lines[1]], "a step record after the end record"),
        (lambda lines: [lines[0], lines[0], *lines[1:]], "a second header"),
        (lambda lines: [lines[0], lines[1].replace(b'"sha256":"', b'"sha256":"0', 1), *lines[2:]], "does not match its recorded sha256"),
        (lambda lines: [lines[0], lines[1].replace(b'"index":0', b'"index":"0"'), *lines[2:]], "step record, field index: expected a whole number >= 0, got '0'"),
        (lambda lines: [lines[0], lines[1].replace(b'"kind":"step"', b'"kind":"stop"'), *lines[2:]], "unknown record kind 'stop'"),
    ],
    ids=["corrupt-middle-line", "ref-in-first-step", "ref-past-the-calls", "ref-to-data-output", "unknown-ref", "missing-step", "duplicate-step", "record-after-end", "two-headers", "prompt-hash", "wrong-type", "unknown-kind"],
)
def test_corrupt_trace_exits_2_naming_the_line(tmp_path: Path, good_trace: bytes, mangle, words: str) -> None:  # noqa: ANN001
    """Damage anywhere but a torn last line is corruption: exit 2, one line naming the place."""
    result = inspect(tmp_path, b"".join(mangle(good_trace.splitlines(keepends=True))))
    assert result.returncode == 2
    assert words in one_line_error(result)
