"""Golden traces: recorded runs of the help desk, replayed against today's code and config.

`pytest` replays every trace in traces/; `pytest --record-traces` records them again (after a
change you meant to make). Record a new one with `agent run task=NAME --trace tests/traces/NAME.jsonl`.
"""

from pathlib import Path

import pytest

from agent_harness.pytest_plugin import golden_traces

TRACES = golden_traces("traces")  # the folder beside this file, wherever pytest is started


@pytest.mark.parametrize("trace", TRACES, ids=lambda path: path.stem)
def test_agent_does_what_it_did(replay_trace, trace: Path) -> None:
    """Prompts, tool schemas, the model's settings and the loop still make the recorded requests and calls."""
    replay_trace(trace)


@pytest.mark.parametrize("trace", TRACES, ids=lambda path: path.stem)
def test_tools_answer_what_they_answered(replay_trace, trace: Path) -> None:
    """Today's tools, run on the recorded calls, return the recorded outputs and memory updates."""
    replay_trace(trace, live_tools=True)


def test_every_task_has_a_golden_trace() -> None:
    """Each task in conf/task/ is covered by a trace of the same name."""
    tasks = sorted(p.stem for p in (Path(__file__).parents[1] / "conf" / "task").glob("*.yaml"))
    assert [p.stem for p in TRACES] == tasks
