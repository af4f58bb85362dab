"""pytest plugin: golden traces. Installed with agent-harness (entry point ``pytest11``), so any test
suite can replay recorded runs and fail, with the divergence report, when behaviour changed.

    from agent_harness.pytest_plugin import golden_traces

    @pytest.mark.parametrize("trace", golden_traces("traces"))   # beside this test file
    def test_agent_still_behaves(replay_trace, trace):
        replay_trace(trace)

``pytest --record-traces`` records every golden trace that ``replay_trace`` meets again (running the
agent, with live models if the trace's config names one); ``--record-traces=reuse`` does too, but
serves the old golden trace's answers while the requests are unchanged, so re-recording after a
prompt change only calls the model from the changed step on. Without the switch nothing but replay
happens, so no model is ever called.

pytest imports this module in every test session of a project that has agent-harness installed:
it imports nothing of the harness until a fixture is used, so a project with its own ``agent`` or
``tracing`` module is not disturbed.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

RECORD_OPTION = "--record-traces"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add --record-traces."""
    parser.addoption(
        RECORD_OPTION,
        nargs="?",
        const="fresh",
        default=None,
        choices=["fresh", "reuse"],
        help="record the golden traces that replay_trace checks again, instead of replaying them (runs the agent); "
        "=reuse serves the old trace's answers while the requests are unchanged",
    )


def _caller_folder(depth: int = 2) -> Path:
    frame = inspect.stack()[depth]
    return Path(frame.filename).resolve().parent


def golden_traces(folder: str | Path) -> list[Path]:
    """The golden traces (*.jsonl) of a folder, sorted, for ``pytest.mark.parametrize``.

    A relative folder is taken from the calling test file's folder, never from the working directory.
    A folder that does not exist is an error (a silently empty parameter set would skip the test).
    """
    path = Path(folder)
    if not path.is_absolute():
        path = _caller_folder() / path
    if not path.is_dir():
        msg = f"golden trace folder {path} does not exist; create it and record traces into it with `pytest {RECORD_OPTION}`"
        raise FileNotFoundError(msg)
    return sorted(path.glob("*.jsonl"))


def check_trace(path: Path, *overrides: str, run_dir: Path, project: Any = None, live_tools: bool = False) -> Any:
    """Replay ``path`` against today's config (replay.config=current); fail the test with the report if it diverges.

    With ``live_tools`` today's tools run (the recorded option of the tools group), answered by the
    recorded model: a tool whose output changed fails the test at the step that called it.
    """
    from agent_harness import api
    from agent_harness.errors import ConfigError
    from tracing.errors import TraceError

    if not path.exists():
        pytest.fail(f"no golden trace at {path}; record it with `pytest {RECORD_OPTION}`", pytrace=False)
    try:
        if live_tools:
            overrides = (*overrides, _recorded_tools(path))
        result = api.replay(path, *overrides, config="current", run_dir=run_dir, project=project)
    except (TraceError, ConfigError) as err:
        pytest.fail(f"cannot replay {path}: {err}", pytrace=False)
    if not result.ok:
        pytest.fail(str(result), pytrace=False)
    return result


def _recorded_tools(path: Path) -> str:
    """The override that runs the trace's own tools option live (``tools=helpdesk``), from its header."""
    from agent_harness.errors import ConfigError
    from tracing.reader import TraceStream

    choice = (TraceStream(path).header.get("choices") or {}).get("tools")
    if not isinstance(choice, str) or choice == "replay":
        msg = f"{path} does not record which tools option it ran (choices.tools), so its tools cannot run live"
        raise ConfigError(msg)
    return f"tools={choice}"


def record_trace(path: Path, *overrides: str, run_dir: Path, project: Any = None, reuse: bool = False) -> Path:
    """Record ``path`` again: a run with the old trace's overrides (if any) and ``overrides``, replacing the file when done.

    With ``reuse``, the old trace's answers are served while the requests are unchanged (no model call for them).
    """
    from agent_harness import api
    from agent_harness.compose import parse_overrides
    from agent_harness.errors import ConfigError
    from tracing.errors import TraceError
    from tracing.reader import TraceStream
    from tracing.replay_config import RUN_SPECIFIC

    recorded: list[str] = []
    if path.exists():
        # Only the header is read: a golden trace being recorded again may be one the user edited or broke.
        recorded = [o.text for o in parse_overrides(TraceStream(path).header["overrides"]) if o.root not in RUN_SPECIFIC]
    fresh = path.with_name(f".{path.name}.{os.getpid()}.recording")
    fresh.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    taken = {o.key for o in parse_overrides(list(overrides))}
    args = [o for o in recorded if next(iter(parse_overrides([o]))).key not in taken] + list(overrides)
    if reuse and path.exists():
        from agent_harness.compose import quoted

        args.append(f"reuse={quoted(str(path.resolve()))}")
    try:
        api.run(*args, trace=fresh, run_dir=run_dir, project=project)
    except (TraceError, ConfigError) as err:
        fresh.unlink(missing_ok=True)
        pytest.fail(f"cannot record {path}: {err}", pytrace=False)
    os.replace(fresh, path)  # the new golden trace appears whole, or the old one stays
    return path


def _refuse_live(overrides: tuple[str, ...]) -> None:
    """A golden test replays: an override that would run a real model or real tools is a mistake, refused."""
    from agent_harness.compose import parse_overrides

    for override in parse_overrides(list(overrides)):
        if override.key in ("llm", "tools") and override.value != "replay":
            pytest.fail(
                f"replay_trace(..., {override.text!r}) would run {'a live model' if override.key == 'llm' else 'live tools'} "
                f"instead of the recording; golden tests replay both (use `pytest {RECORD_OPTION}` to record with it"
                + ("; replay_trace(trace, live_tools=True) runs today's tools against the recorded model answers)" if override.key == "tools" else ")"),
                pytrace=False,
            )


@pytest.fixture
def replay_trace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``replay_trace(path, *overrides, live_tools=False)``: replay a golden trace (or record it again under --record-traces).

    A relative path is taken from the test file's folder. ``live_tools=True`` runs today's tools
    against the recorded model answers, so a tool whose output changed fails the test.
    """
    from agent_harness.errors import ConfigError
    from agent_harness.project import find_project

    recording = request.config.getoption(RECORD_OPTION)
    runs = iter(range(1_000_000))
    base = Path(str(request.path)).parent
    try:
        project = find_project(base)  # the test file's project, wherever pytest was started
    except ConfigError as err:
        pytest.fail(str(err), pytrace=False)

    def replay(path: str | Path, *overrides: str, live_tools: bool = False) -> Any:
        trace = Path(path) if Path(path).is_absolute() else base / path
        run_dir = tmp_path / f"run-{next(runs)}"
        if recording:
            return record_trace(trace, *overrides, run_dir=run_dir, project=project, reuse=recording == "reuse")
        _refuse_live(overrides)
        return check_trace(trace, *overrides, run_dir=run_dir, project=project, live_tools=live_tools)

    yield replay
