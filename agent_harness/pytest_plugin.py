"""pytest plugin: golden traces. Installed with agent-harness (entry point ``pytest11``), so any test
suite can replay recorded runs and fail, with the divergence report, when behaviour changed.

    from tracing.pytest_plugin import golden_traces

    @pytest.mark.parametrize("trace", golden_traces("tests/traces"))
    def test_agent_still_behaves(replay_trace, trace):
        replay_trace(trace)

``pytest --record-traces`` records every golden trace that ``replay_trace`` meets again (running the
agent, with live models if the trace's config names one); without it nothing but replay happens,
so no model is ever called.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tracing.replay import divergence_report
from tracing.replay_config import override_key

RECORD_OPTION = "--record-traces"
# Overrides of a recording that belong to that one run, not to what the golden trace pins down.
_RUN_SPECIFIC = ("trace", "tracePath", "traceFsync", "hydra")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add --record-traces."""
    parser.addoption(
        RECORD_OPTION,
        action="store_true",
        help="record the golden traces that replay_trace checks again, instead of replaying them (runs the agent)",
    )


def golden_traces(folder: str | Path) -> list[Path]:
    """The golden traces (*.jsonl) of a folder, sorted, for ``pytest.mark.parametrize``."""
    return sorted(Path(folder).glob("*.jsonl"))


def _quoted(value: str | Path) -> str:
    """A value that survives Hydra's override grammar whatever its characters."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def run_agent(*args: str) -> tuple[int, str, str]:
    """`agent ARGS` in this process (no interpreter start-up), as (exit status, stdout, stderr)."""
    from agent.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(list(args))
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def check_trace(path: str | Path, *overrides: str, run_dir: Path | None = None) -> dict[str, Any]:
    """Replay ``path`` against today's config (replay.config=current); fail the test with the report if it diverges.

    Returns the replay result (`agent replay --json`). ``overrides`` apply to the replay as on the command line.
    """
    run_dir = run_dir or Path(tempfile.mkdtemp(prefix="replay-"))
    args = ["replay", str(path), "--json", "replay.config=current", f"hydra.run.dir={_quoted(run_dir)}", *overrides]
    code, out, err = run_agent(*args)
    if code == 2 or not out.strip():
        pytest.fail(f"cannot replay {path}: {err.strip().removeprefix('agent: error: ') or f'exit status {code}'}", pytrace=False)
    result = orjson.loads(out)
    if result["result"] == "diverged":
        pytest.fail(divergence_report(result), pytrace=False)
    return result


def record_trace(path: str | Path, *overrides: str, run_dir: Path | None = None) -> Path:
    """Record ``path`` again: a run with the old trace's overrides (if any) and ``overrides``, replacing the file when done."""
    path = Path(path)
    recorded: list[str] = []
    if path.exists():
        from tracing.reader import TraceStream

        # Only the header is read: a golden trace being recorded again may be one the user edited or broke.
        recorded = [o for o in TraceStream(path).header["overrides"] if override_key(o).split(".")[0] not in _RUN_SPECIFIC]
    run_dir = run_dir or Path(tempfile.mkdtemp(prefix="record-"))
    fresh = path.with_name(f".{path.name}.{os.getpid()}.recording")
    fresh.unlink(missing_ok=True)
    taken = {override_key(o) for o in overrides}
    args = [o for o in recorded if override_key(o) not in taken] + list(overrides)
    code, _, err = run_agent("run", *args, "trace=true", f"tracePath={_quoted(fresh.resolve())}", f"hydra.run.dir={_quoted(run_dir)}")
    if code == 2 or not fresh.exists():
        fresh.unlink(missing_ok=True)
        pytest.fail(f"cannot record {path}: {err.strip().removeprefix('agent: error: ') or f'exit status {code}'}", pytrace=False)
    os.replace(fresh, path)  # the new golden trace appears whole, or the old one stays
    return path


@pytest.fixture
def replay_trace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``replay_trace(path, *overrides)``: replay a golden trace (or record it again under --record-traces)."""
    recording = request.config.getoption(RECORD_OPTION)
    runs = iter(range(1_000_000))

    def replay(path: str | Path, *overrides: str) -> Any:
        run_dir = tmp_path / f"run-{next(runs)}"
        if recording:
            return record_trace(path, *overrides, run_dir=run_dir)
        return check_trace(path, *overrides, run_dir=run_dir)

    yield replay
