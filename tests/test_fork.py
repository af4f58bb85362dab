"""Fork: replay a recorded run up to a step, then go on live with other backends, recording the new run."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from tests.conftest import agent, one_line_error
from tests.openai_server import FakeOpenAI, completion
from tracing.reader import read_trace


def record(tmp_path: Path) -> Path:
    assert agent("run", "--trace", "parent.jsonl", cwd=tmp_path).returncode == 0
    return tmp_path / "parent.jsonl"


def test_fork_replays_the_first_steps_then_goes_on_with_a_live_model(tmp_path: Path) -> None:
    """Steps 0-2 come from the parent, step 3 on from a model server; the header names the parent; the fork replays alone."""
    parent = record(tmp_path)
    server = FakeOpenAI([(200, completion(content="Forked answer: 3949.74 EUR."))])
    env = {**os.environ, "OPENAI_API_KEY": "sk-fork-test"}
    with server.running():
        result = agent("replay", str(parent), "replay.until=2", "llm=openai", f"llm.base_url={server.base_url}", "llm.model=test-model", "tracePath=fork.jsonl", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"fork: steps 0-2 replayed as recorded ({parent}), then live: finished after 4 steps")
    fork, original = read_trace(tmp_path / "fork.jsonl"), read_trace(parent)
    assert fork.header["parent"] == {"trace": str(parent), "run_id": original.header["run_id"], "step": 2}
    assert [s["state"]["sha256"] for s in fork.steps[:3]] == [s["state"]["sha256"] for s in original.steps[:3]]
    assert [s["model"] for s in fork.steps] == ["scripted", "scripted", "scripted", "test-model"]
    assert fork.end["answer"] == "Forked answer: 3949.74 EUR." and len(server.requests) == 1
    assert server.requests[0]["body"]["messages"] == list(fork.prompts[3])
    inspect = agent("trace", "inspect", "fork.jsonl", cwd=tmp_path)
    assert f"forked    from {parent} (run {original.header['run_id']}) after its step 2" in inspect.stdout
    alone = agent("replay", "fork.jsonl", cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"})
    assert alone.returncode == 0 and alone.stdout.startswith("replay OK: 4 steps matched"), alone.stdout + alone.stderr


def test_fork_with_the_recorded_backends_rebuilds_the_workspace_and_finishes_alike(tmp_path: Path) -> None:
    """Forked with the recording's own (scripted) model, the run ends as the parent did, its files written again."""
    parent = record(tmp_path)
    result = agent("replay", str(parent), "replay.until=3", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    outcome = orjson.loads(result.stdout)
    assert (outcome["result"], outcome["at"], outcome["status"], outcome["steps"]) == ("forked", 3, "finished", 6)
    fork = read_trace(Path(outcome["trace"]))
    assert [s["state"]["sha256"] for s in fork.steps] == [s["state"]["sha256"] for s in read_trace(parent).steps]
    assert "3949.74" in (Path(outcome["trace"]).parent / "workspace" / "report.md").read_text()


def test_fork_past_the_recording_or_with_a_bad_step_is_refused(tmp_path: Path) -> None:
    """A fork point must be a recorded step number."""
    parent = record(tmp_path)
    for value, words in (("9", "replay.until=9 is not a step of"), ("x", "replay.until=x is not a step number")):
        result = agent("replay", str(parent), f"replay.until={value}", cwd=tmp_path)
        assert result.returncode == 2 and words in one_line_error(result)
