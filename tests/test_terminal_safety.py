"""What a trace holds cannot drive the terminal: inspect, diff and error lines show control characters escaped."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.openai_server import FakeOpenAI, completion
from tests.test_robustness import run_cli
from tracing.text import printable

HOSTILE = "\x1b[2J\x1b[31mRED\x1b]0;pwned\x07\rOVER\x00WRITE\u2028\x9b"
RAW = ("\x1b", "\x00", "\x07", "\r", "\u2028", "\x9b")  # none of these may reach the terminal from a trace
NAME = "t\x1b[31m\x07.jsonl"  # a file name can hold any byte but NUL


def hostile_run(folder: Path, name: str, final: str) -> Path:
    """A real recording (llm=openai on loopback) with control characters in every field the model and tools fill."""
    replies = [
        (200, completion(content=HOSTILE, tool_calls=[(f"id{HOSTILE}", "remember", orjson.dumps({"key": f"k{HOSTILE}", "value": HOSTILE}).decode())])),
        (200, completion(tool_calls=[(f"c{HOSTILE}", f"no_tool{HOSTILE}", f"{{not json{HOSTILE}")])),
        (200, completion(tool_calls=[("c2", "calculator", orjson.dumps({"expression": HOSTILE}).decode())])),
        (200, completion(content=final)),
    ]
    server = FakeOpenAI(replies)
    with server.running():
        code, _, err = run_cli(
            "run", "llm=openai", f"llm.base_url={server.base_url}", f"llm.model='m{HOSTILE}'", "llm.max_retries=0",
            f"task.name='task{HOSTILE}'", "--trace", name, f"hydra.run.dir=run-{len(list(folder.iterdir()))}", cwd=folder,
        )  # fmt: skip
    assert code == 0, err
    return folder / name


def assert_safe(text: str) -> None:
    found = [repr(char) for char in RAW if char in text]
    assert not found, f"raw {', '.join(found)} printed"


class TestPrintable:
    @pytest.mark.parametrize(
        ("text", "shown"),
        [
            ("plain text, é ü 漢字 🙂", "plain text, é ü 漢字 🙂"),
            ("\x1b[2J", "\\x1b[2J"),
            ("a\x00b\x07c", "a\\x00b\\x07c"),
            ("line\nnext\r\tx", "line\\nnext\\r\\tx"),
            ("\u2028\u202e\x9b\ufeff", "\\u2028\\u202e\\x9b\\ufeff"),
            ("\ud800", "\\ud800"),
            ("\U000e0001", "\\U000e0001"),
        ],
    )
    def test_unprintable_code_points_are_shown_as_escapes(self, text: str, shown: str) -> None:
        """Control, format, separator and surrogate code points become visible escapes; printable text is unchanged."""
        assert printable(text) == shown


class TestInspectAndDiff:
    def test_every_printed_path_of_inspect_escapes_what_the_trace_holds(self, tmp_path: Path) -> None:
        """Answers, tool ids, names, arguments, outputs, errors, memory, model, task and the file name: escaped, short and --full."""
        trace = hostile_run(tmp_path, NAME, HOSTILE)
        for options in ([], ["--full"]):
            code, out, err = run_cli("trace", "inspect", str(trace), *options, cwd=tmp_path)
            assert code == 0, err
            assert_safe(out)
            assert "\\x1b[2J\\x1b[31mRED\\x1b]0;pwned\\x07\\rOVER\\x00WRITE" in out
            assert "t\\x1b[31m\\x07.jsonl" in out  # the trace's own name
        code, out, _ = run_cli("trace", "inspect", str(trace), "--full", "--raw", cwd=tmp_path)
        assert code == 0 and HOSTILE in out  # --raw opts out

    def test_a_run_folder_and_a_sweep_folder_are_escaped_too(self, tmp_path: Path) -> None:
        """Inspecting through a run's folder (its trace.jsonl) escapes the same way."""
        hostile_run(tmp_path, "x.jsonl", HOSTILE)
        run = tmp_path / "run-hostile"
        run.mkdir()
        (tmp_path / "x.jsonl").rename(run / "trace.jsonl")
        code, out, err = run_cli("trace", "inspect", str(run), cwd=tmp_path)
        assert code == 0, err
        assert_safe(out)

    def test_every_printed_path_of_diff_escapes_what_the_traces_hold(self, tmp_path: Path) -> None:
        """Both file names, config rows, the differing step's fields and the end rows: escaped."""
        a = hostile_run(tmp_path, NAME, HOSTILE)
        b = hostile_run(tmp_path, f"b{NAME}", f"other{HOSTILE}")
        code, out, err = run_cli("trace", "diff", str(a), str(b), cwd=tmp_path)
        assert code == 1, err
        assert_safe(out)
        assert "the traces differ" in out and "t\\x1b[31m\\x07.jsonl" in out

    def test_error_lines_quoting_a_trace_are_escaped(self, tmp_path: Path) -> None:
        """A corrupt field and a file name with control characters: the one error line shows them escaped."""
        trace = hostile_run(tmp_path, NAME, HOSTILE)
        lines = trace.read_bytes().splitlines()
        end = orjson.loads(lines[-1])
        end["status"] = HOSTILE
        trace.write_bytes(b"\n".join([*lines[:-1], orjson.dumps(end)]) + b"\n")
        for args in (["trace", "inspect", str(trace)], ["trace", "diff", str(trace), str(trace)], ["replay", str(trace)], ["trace", "inspect", f"missing{HOSTILE}"]):
            code, out, err = run_cli(*args, cwd=tmp_path)
            assert code == 2, out + err
            assert_safe(err)
            assert err.startswith("agent: error: ") and err.count("\n") == 1
