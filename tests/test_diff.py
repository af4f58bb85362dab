"""`agent trace diff A B`: config first, the first differing step field by field, then every step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.conftest import agent, one_line_error


def record(tmp_path: Path, name: str, *overrides: str) -> Path:
    assert agent("run", "--trace", name, *overrides, cwd=tmp_path).returncode in (0, 1)
    return tmp_path / name


def records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def diff_json(tmp_path: Path, a: Path, b: Path) -> tuple[int, dict[str, Any]]:
    result = agent("trace", "diff", str(a), str(b), "--json", cwd=tmp_path)
    return result.returncode, orjson.loads(result.stdout)


def test_two_recordings_of_one_run_are_identical_apart_from_times(tmp_path: Path) -> None:
    """Different run ids, times, latencies and trace paths do not count."""
    a, b = record(tmp_path, "a.jsonl"), record(tmp_path, "b.jsonl")
    result = agent("trace", "diff", str(a), str(b), cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "config: same" in result.stdout and result.stdout.rstrip().endswith("identical apart from times and latencies")
    assert result.stdout.count(": same") == 8  # config, six steps, end


def test_changed_tool_output_is_named_at_its_step(tmp_path: Path) -> None:
    """The first differing step is shown field by field; the per-step summary names every changed step."""
    a = record(tmp_path, "a.jsonl")
    rows = records(a)
    rows[3]["tool_calls"][0]["output"] = "9999.99"  # step 2: the calculator
    code, report = diff_json(tmp_path, a, write(tmp_path / "b.jsonl", rows))
    assert code == 1 and report["result"] == "different"
    assert report["first_step"] == 2
    assert report["first_step_differences"] == [{"path": "tool_calls[0].output", "a": "3949.74", "b": "9999.99"}]
    assert [s["verdict"] for s in report["steps"]] == ["same", "same", "changed", "same", "same", "same"]
    assert report["edited"] == {"b": [3, 4, 5]}  # step 3's prompt refers to the edited output, and every later prompt holds it
    text = agent("trace", "diff", str(a), str(tmp_path / "b.jsonl"), cwd=tmp_path).stdout
    assert "B was edited after recording: the messages it holds for step 3 and on do not match the sha256 recorded with them" in text


def test_extra_step_shows_as_only_in_b(tmp_path: Path) -> None:
    """A run that goes on longer has steps only in B, and its end differs."""
    a = record(tmp_path, "a.jsonl", "agent.max_steps=4")
    b = record(tmp_path, "b.jsonl", "agent.max_steps=5")
    code, report = diff_json(tmp_path, a, b)
    assert code == 1 and report["first_step"] == 4
    assert [s["verdict"] for s in report["steps"]][3:] == ["same", "only in B"]
    assert {d["path"] for d in report["end"]} == {"end.steps"}
    assert {(d["path"], d["a"], d["b"]) for d in report["config"]} == {("agent.max_steps", 4, 5)}


def test_changed_config_value_is_listed_first(tmp_path: Path) -> None:
    """A config value that changes nothing the agent did is still a difference, shown before the steps."""
    a = record(tmp_path, "a.jsonl")
    b = record(tmp_path, "b.jsonl", "llm.temperature=0.7")
    result = agent("trace", "diff", str(a), str(b), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[2:4] == ["config differs (A -> B):", "  llm.temperature: 0.0 -> 0.7"]
    assert lines.index("  llm.temperature: 0.0 -> 0.7") < lines.index("steps:")


def test_two_sweep_variants_part_at_the_first_prompt(tmp_path: Path) -> None:
    """The invoices and recipes jobs of a sweep differ in config and from step 0's request on."""
    assert agent("run", "-m", "task=invoices,recipes", "trace=true", cwd=tmp_path).returncode == 0
    a, b = sorted((tmp_path / "multirun").glob("*/*/*/trace.jsonl"))
    code, report = diff_json(tmp_path, a, b)
    assert code == 1 and report["first_step"] == 0
    assert "task.name" in {d["path"] for d in report["config"]}
    assert report["first_step_differences"][0]["path"] == "messages[0].content"
    assert report["steps"][0]["parts"][0] == "request"


def test_missing_trace_is_unusable_input(tmp_path: Path) -> None:
    """A path with no trace exits 2 with one line."""
    a = record(tmp_path, "a.jsonl")
    result = agent("trace", "diff", str(a), "nothere.jsonl", cwd=tmp_path)
    assert result.returncode == 2 and "no trace at nothere.jsonl" in one_line_error(result)


def test_a_memory_the_writer_left_out_diffs_by_its_values(tmp_path: Path) -> None:
    """Memory filled in on reading (the writer left it out) compares and reports as plain values, in text and JSON."""
    a = record(tmp_path, "a.jsonl")
    rows = records(a)
    step = next(r for r in rows[1:-1] if any(c["memory_update"] for c in r["tool_calls"]))
    later = rows[rows.index(step) + 1]
    assert "memory" not in step["state"] and "memory" not in later["state"]  # both filled in on reading
    call = next(c for c in step["tool_calls"] if c["memory_update"])
    key, recorded = next(iter(call["memory_update"].items()))
    call["memory_update"] = {key: "changed"}
    left_out = write(tmp_path / "b.jsonl", rows)
    step["state"]["memory"] = {key: "changed"}  # the same, with the memory written out: a dict against a filled-in one
    written = write(tmp_path / "c.jsonl", rows)
    for b in (left_out, written):
        code, report = diff_json(tmp_path, a, b)
        assert code == 1 and report["first_step"] == step["index"]
        memory_rows = [row for row in report["first_step_differences"] if row["path"].startswith("state.memory")]
        assert memory_rows == [{"path": f"state.memory.{key}", "a": recorded, "b": "changed"}]
        text = agent("trace", "diff", str(a), str(b), cwd=tmp_path)
        assert f"state.memory.{key}: " in text.stdout and '-> "changed"' in text.stdout
