"""Reuse: a run serves the unchanged prefix of an old trace and goes live from the first request that differs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import orjson
import pytest

from tests.conftest import agent, one_line_error
from tests.openai_server import TurnServer, completion
from tracing.reader import read_trace

KEY = "sk-test-reuse"
TURNS = [
    completion(tool_calls=[("c0", "list_files", "{}")]),
    completion(tool_calls=[("c1", "read_file", '{"path": "invoices.csv"}')]),
    completion(tool_calls=[("c2", "calculator", '{"expression": "1 + 2"}')]),
    completion(tool_calls=[("c3", "remember", '{"key": "total", "value": "3"}')]),
    completion(content="The total is 3."),
]


def env() -> dict[str, str]:
    return {**os.environ, "OPENAI_API_KEY": KEY}


def run(server: TurnServer, folder: Path, *args: str) -> tuple[int, str, str]:
    result = agent("run", "llm=openai", f"llm.base_url={server.base_url}", "llm.model=test-model", "llm.max_retries=0", *args, cwd=folder, env=env())
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def model() -> Iterator[TurnServer]:
    """The loopback model, one per test (its address is part of the config a reuse compares)."""
    server = TurnServer(TURNS)
    with server.running():
        yield server


@pytest.fixture
def old(model: TurnServer, tmp_path: Path) -> Path:
    """A recording of the five-turn run against the loopback model."""
    code, _, err = run(model, tmp_path, "--trace", "old.jsonl")
    assert code == 0, err
    model.requests.clear()
    return tmp_path / "old.jsonl"


@dataclass
class Reused:
    turns: list[int]
    """The turns the model was asked for."""
    out: str
    trace: Path
    first_request: dict


def reuse(model: TurnServer, old: Path, tmp_path: Path, name: str, *args: str) -> Reused:
    """A run of today's config with --reuse old: what the model was asked, the closing lines, the new trace."""
    model.requests.clear()
    code, out, err = run(model, tmp_path, "--reuse", str(old), "--trace", f"{name}.jsonl", *args)
    assert code == 0, err
    return Reused([r["turn"] for r in model.requests], out, tmp_path / f"{name}.jsonl", model.requests[0]["body"] if model.requests else {})


class TestPrefix:
    def test_nothing_changed_reuses_every_step_and_calls_no_model(self, model: TurnServer, old: Path, tmp_path: Path) -> None:
        """All reused: zero model requests; the new trace equals the old apart from times and ids, and replays."""
        done = reuse(model, old, tmp_path, "same")
        new = done.trace
        assert done.turns == []
        assert f"reused all 5 steps from {old}: no model call" in done.out
        assert agent("trace", "diff", str(old), str(new), cwd=tmp_path).returncode == 0
        header, end = read_trace(new).header, read_trace(new).end
        assert header["reuse"]["trace"] == str(old) and end["reuse"] == {"trace": str(old), "reused_steps": 5, "live_from": None, "reason": None}
        assert agent("replay", str(new), cwd=tmp_path).returncode == 0
        assert f"reuse     5 steps served from {old}; no step went live" in agent("trace", "inspect", str(new), cwd=tmp_path).stdout

    def test_a_change_at_step_0_reuses_nothing(self, model: TurnServer, old: Path, tmp_path: Path) -> None:
        """Another system prompt: the first request differs, so every turn is asked of the model, and the reason is named."""
        done = reuse(model, old, tmp_path, "prompt", "task.system_prompt=Be brief.")
        new = done.trace
        assert done.turns == [0, 1, 2, 3, 4]
        assert 'live from step 0: messages[0].content: "You are a careful' in done.out
        assert read_trace(new).end["reuse"]["live_from"] == 0
        assert agent("replay", str(new), cwd=tmp_path).returncode == 0

    def test_a_tool_output_changed_at_step_1_calls_the_model_from_step_2(self, model: TurnServer, old: Path, tmp_path: Path) -> None:
        """Today's tools read another invoices.csv: steps 0-1 are served, the model is asked from step 2 on."""
        seed = tmp_path / "seed"
        shutil.copytree(Path(str(resources.files("agent").joinpath("seeds", "invoices"))), seed)
        (seed / "invoices.csv").write_text("id,amount\nINV-1,3\n", encoding="utf-8")
        done = reuse(model, old, tmp_path, "tool", f"task.workspace_seed={seed}/")
        new = done.trace
        assert done.turns == [2, 3, 4]
        assert "reused 2 steps" in done.out and "live from step 2: messages[5].content" in done.out, done.out
        assert agent("replay", str(new), cwd=tmp_path).returncode == 0


class TestWhatIf:
    def test_an_edited_tool_output_is_served_and_the_model_answers_it_live(self, model: TurnServer, old: Path, tmp_path: Path) -> None:
        """`agent trace edit` changes step 2's output; a reuse serves steps 0-2 with it, and the model sees it at step 3."""
        edit = agent("trace", "edit", str(old), "--step", "2", "--call", "0", "--output", '"42"', "-o", "edited.jsonl", cwd=tmp_path)
        assert edit.returncode == 0, edit.stderr
        assert agent("replay", "edited.jsonl", cwd=tmp_path).returncode == 0
        diff = agent("trace", "diff", str(old), "edited.jsonl", cwd=tmp_path)
        assert diff.returncode == 1 and 'tool_calls[0].output: "3" -> "42"' in diff.stdout
        assert reuse(model, old, tmp_path, "whatif").turns == []  # the unedited trace, for contrast: nothing asked
        done = reuse(model, tmp_path / "edited.jsonl", tmp_path, "whatif2")
        assert done.turns == [3, 4]
        assert {"role": "tool", "tool_call_id": "c2", "content": "42"} in done.first_request["messages"]
        assert "live from step 3: step 2's tool output was edited" in done.out
        assert agent("replay", str(done.trace), cwd=tmp_path).returncode == 0

    def test_edit_refuses_a_call_that_does_not_exist(self, old: Path, tmp_path: Path) -> None:
        """One line naming the calls the step has."""
        result = agent("trace", "edit", str(old), "--step", "4", "--output", "1", "-o", "x.jsonl", cwd=tmp_path)
        assert result.returncode == 2 and "step 4 of" in one_line_error(result) and not (tmp_path / "x.jsonl").exists()


def test_a_sweep_reuses_each_job_of_the_old_sweep_with_the_same_overrides(tmp_path: Path) -> None:
    """`agent run -m ... --reuse SWEEP`: every job finds its own old job and reuses all of it."""
    first = agent("run", "-m", "task=invoices,recipes", "trace=true", "hydra.sweep.dir=old", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = agent("run", "-m", "task=invoices,recipes", "trace=true", "hydra.sweep.dir=new", "--reuse", "old", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    for job in ("0", "1"):
        new = read_trace(tmp_path / "new" / job / "trace.jsonl")
        old_job = Path(new.header["reuse"]["trace"])
        assert read_trace(old_job).header["config"]["task"]["name"] == new.header["config"]["task"]["name"]
        assert new.end["reuse"]["live_from"] is None and new.end["reuse"]["reused_steps"] == len(new.steps)
    assert orjson.loads((tmp_path / "new" / "0" / "status.json").read_bytes())["reuse"]["reused_steps"] > 0
