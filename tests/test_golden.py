"""The project's own golden traces, replayed through its pytest plugin: behaviour that changes fails here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent_harness.pytest_plugin import golden_traces

TRACES = Path(__file__).parent / "traces"


@pytest.mark.parametrize("trace", golden_traces(TRACES), ids=lambda path: path.stem)
def test_golden_trace_still_replays_with_todays_agent(replay_trace: Callable[..., Any], trace: Path) -> None:
    """Today's conf/, prompts, tools and loop still do what the committed recording did."""
    result = replay_trace(trace)
    assert isinstance(result, Path) or (result.ok and result.steps >= 5)


def test_the_golden_traces_are_there() -> None:
    """Both demo tasks have a committed golden trace."""
    assert [p.stem for p in golden_traces(TRACES)] == ["invoices", "recipes"]
