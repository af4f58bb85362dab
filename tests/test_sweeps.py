"""Sweeps: one trace per job under every launcher, sweep-level inspect and replay, no shared state."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import AGENT, agent
from tracing.reader import read_trace

VARIANTS = ["task=invoices,recipes", "agent.max_steps=3,20"]


def sweep(tmp_path: Path, *args: str) -> Path:
    """Run `agent run -m ... trace=true` and return the sweep folder."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    result = agent("run", "-m", *args, "trace=true", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = (tmp_path / "multirun").glob("*/*")
    return folder


def job_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("job ")]


def hashes(folder: Path) -> dict[str, list[str]]:
    """Per job (by its overrides), the state hashes of its trace."""
    found = {}
    for trace_path in sorted(folder.glob("*/trace.jsonl")):
        trace = read_trace(trace_path)
        found[" ".join(o for o in trace.header["overrides"] if not o.startswith("hydra"))] = [s["state"]["sha256"] for s in trace.steps]
    return found


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]], ids=["basic", "joblib-2-workers"])
def test_sweep_records_one_trace_per_job_and_replays(tmp_path: Path, launcher: list[str]) -> None:
    """4 variants give 4 traces with their own overrides; sweep inspect shows 4 rows; sweep replay matches all."""
    folder = sweep(tmp_path, *launcher, *VARIANTS)
    traces = sorted(folder.glob("*/trace.jsonl"))
    assert len(traces) == 4
    headers = [read_trace(t).header for t in traces]
    assert sorted(h["job"]["num"] for h in headers) == [0, 1, 2, 3]
    assert len({" ".join(h["overrides"]) for h in headers}) == 4
    inspect = agent("trace", "inspect", str(folder), cwd=tmp_path)
    assert inspect.returncode == 0 and len([line for line in inspect.stdout.splitlines() if line[:1].isdigit()]) == 4
    assert "totals: 2 finished, 2 max_steps" in inspect.stdout
    replay = agent("replay", str(folder), cwd=tmp_path, timeout=300)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert len(job_lines(replay)) == 4 and all(": OK, " in line for line in job_lines(replay))
    assert "sweep replay: 4 jobs, 4 matched, 0 diverged" in replay.stdout


def test_tampered_job_makes_sweep_replay_fail_naming_that_job(tmp_path: Path) -> None:
    """One edited trace: sweep replay reports that job's divergence as for a single trace, and exits 1."""
    folder = sweep(tmp_path, *VARIANTS)
    target = folder / "2" / "trace.jsonl"
    records = [orjson.loads(line) for line in target.read_bytes().splitlines()]
    records[1]["tool_calls"][0]["output"] = "tampered"
    target.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    replay = agent("replay", str(folder), cwd=tmp_path, timeout=300)
    assert replay.returncode == 1
    assert [line.split(":")[1].strip().split()[0] for line in job_lines(replay)] == ["OK,", "OK,", "DIVERGED", "OK,"]
    assert f"replay DIVERGED at step 0 ({target})" in replay.stdout
    assert "sweep replay: 4 jobs, 3 matched, 1 diverged" in replay.stdout
    fast = agent("replay", str(folder), "--fail-fast", cwd=tmp_path, timeout=300)
    assert fast.returncode == 1 and len(job_lines(fast)) == 3 and "1 not tried (--fail-fast)" in fast.stdout


def test_failing_jobs_show_as_such_and_do_not_stop_the_others(tmp_path: Path) -> None:
    """A job whose script runs out ends as error, one with a missing seed folder fails; every job runs and says so."""
    script = "task.script=[{tool_calls: [{name: list_files}]}]"
    result = agent("run", "-m", "task.workspace_seed=invoices,./missing", "agent.max_steps=6,7", "trace=true", script, cwd=tmp_path, timeout=300)
    assert result.returncode == 1 and "a job of the sweep failed" in result.stderr
    (folder,) = (tmp_path / "multirun").glob("*/*")
    status = {p.parent.name: orjson.loads(p.read_bytes()) for p in folder.glob("*/status.json")}
    assert [status[n]["status"] for n in "0123"] == ["error", "error", "failed", "failed"]
    assert "workspace seed './missing' is not a folder" in status["2"]["error"]
    inspect = agent("trace", "inspect", str(folder), cwd=tmp_path)
    rows = [line.split() for line in inspect.stdout.splitlines() if line[:1].isdigit()]
    assert [row[1] for row in rows] == ["error", "error", "failed", "failed"]
    assert "totals: 2 error, 2 failed" in inspect.stdout


def test_jobs_pointed_at_one_trace_never_share_it(tmp_path: Path) -> None:
    """With one tracePath for the whole sweep the first job records and the next fails without writing; replay says so."""
    shared = tmp_path / "shared.jsonl"
    result = agent("run", "-m", "task=invoices,recipes", "trace=true", f"tracePath={shared}", cwd=tmp_path, timeout=300)
    assert result.returncode == 1 and "already exists" in result.stderr
    assert read_trace(shared).header["config"]["task"]["name"] == "invoices" and read_trace(shared).end["status"] == "finished"
    (folder,) = (tmp_path / "multirun").glob("*/*")
    inspect = agent("trace", "inspect", str(folder), cwd=tmp_path)
    assert [line.split()[1] for line in inspect.stdout.splitlines() if line[:1].isdigit()] == ["finished", "failed"]
    assert "(no trace)" in inspect.stdout
    replay = agent("replay", str(folder), cwd=tmp_path, timeout=300)
    assert replay.returncode == 1 and "job 1: not replayable: no trace (job failed" in replay.stdout
    assert "sweep replay: 2 jobs, 1 matched, 0 diverged, 1 not replayable" in replay.stdout


def test_jobs_sharing_a_process_leak_no_state(tmp_path: Path) -> None:
    """Four jobs run one after another in one process give the same traces as four jobs in four workers."""
    # joblib runs n_jobs=1 sequentially in the launching process: every job after the first reuses it.
    shared = sweep(tmp_path / "shared", "hydra/launcher=joblib", "hydra.launcher.n_jobs=1", *VARIANTS)
    separate = sweep(tmp_path / "separate", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4", *VARIANTS)
    assert hashes(shared) == hashes(separate) and len(hashes(shared)) == 4


@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None, reason="needs the submitit extra")
def test_submitit_local_sweep_records_and_replays(tmp_path: Path) -> None:
    """The same sweep through submitit's local executor: 2 jobs, 2 traces, both replay."""
    folder = sweep(tmp_path, "hydra/launcher=submitit_local", "task=invoices,recipes")
    assert len(list(folder.glob("*/trace.jsonl"))) == 2
    replay = agent("replay", str(folder), cwd=tmp_path, timeout=300)
    assert replay.returncode == 0 and "sweep replay: 2 jobs, 2 matched" in replay.stdout


def test_two_processes_never_write_one_trace(tmp_path: Path) -> None:
    """Started together on the same tracePath, one run records and the other refuses; the trace is whole."""
    runs = [subprocess.Popen([AGENT, "run", "--trace", "same.jsonl"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes: list[tuple[int, Any]] = [(p.wait(timeout=120), p.stderr.read()) for p in runs]  # type: ignore[union-attr]
    assert sorted(code for code, _ in outcomes) == [0, 2]
    assert "already exists" in next(err for code, err in outcomes if code == 2)
    trace = read_trace(tmp_path / "same.jsonl")
    assert len(trace.steps) == 6 and trace.end["status"] == "finished"
