"""Sweeps on real clusters on this machine: SLURM through submitit, a local Ray instance and a Ray head.

The SLURM and Ray-head tests need scripts/services up (see tests/cluster.py): without the
services they are skipped with one line saying how to start them, and under CI they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from tests.cluster import REPLAY_GATE, SLURM, WAIT, Gates, agent_env, cluster_services, no_jobs_left, ray_daemons, start_sweep
from tests.conftest import AGENT, agent, one_line_error
from tracing.reader import read_trace

# Fixtures are taken as arguments, not usefixtures marks: pytest then folds the skips of all the
# tests that need the services into one line.
__all__ = ["cluster_services", "no_jobs_left"]

TASKS = ("task=invoices", "task=recipes")


def sweep(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`agent run -m ARGS task=invoices,recipes trace=true` in tmp_path, exactly as the README shows it; the result and the sweep folder."""
    result = agent("run", "-m", *args, "task=invoices,recipes", "trace=true", cwd=tmp_path, timeout=WAIT)
    assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = (tmp_path / "multirun").glob("*/*")
    return result, folder


def assert_inspects_and_replays(folder: Path, tmp_path: Path, *, statuses: str = "totals: 2 finished") -> None:
    """Sweep inspect lists both jobs with their statuses, and sweep replay matches both."""
    inspect = agent("trace", "inspect", str(folder), cwd=tmp_path)
    assert inspect.returncode == 0, inspect.stderr
    assert len([line for line in inspect.stdout.splitlines() if line[:1].isdigit()]) == 2
    assert statuses in inspect.stdout, inspect.stdout
    replay = agent("replay", str(folder), cwd=tmp_path, timeout=WAIT)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "sweep replay: 2 jobs, 2 matched, 0 diverged" in replay.stdout


def sacct_states(job_ids: list[str]) -> dict[str, str]:
    """The final state SLURM's accounting records for each job (array_task ids), once it has them all."""
    deadline = time.monotonic() + WAIT
    while True:
        listed = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(job_ids)], capture_output=True, text=True, timeout=60, check=True)
        states = dict(line.split("|", 1) for line in listed.stdout.splitlines() if line)
        # slurmctld hands a job's end to slurmdbd a moment after the job is gone: wait for the record.
        if set(states) >= set(job_ids) and not any(state in ("PENDING", "RUNNING", "COMPLETING", "REQUEUED") for state in states.values()):
            return states
        if time.monotonic() > deadline:
            pytest.fail(f"SLURM accounting has no final state for {job_ids} after {WAIT:.0f}s: {states}")
        time.sleep(0.2)


def slurm_jobs_of(folder: Path) -> list[str]:
    """The SLURM jobs submitit ran for a sweep: its job folder (hydra.launcher.submitit_folder) holds one folder per job."""
    return sorted(p.name for p in (folder / ".submitit").iterdir() if p.is_dir() and "_" in p.name)


class TestSlurm:
    """submitit_slurm on the single-node cluster: jobs run as sbatch array tasks, as root."""

    def test_two_job_sweep_records_both_traces_then_inspects_and_replays(self, tmp_path: Path, cluster_services: None, no_jobs_left: None) -> None:
        """Two sbatch jobs each write a trace and status.json in the sweep folder; both replay offline."""
        _, folder = sweep(tmp_path, *SLURM)
        assert sorted(p.parent.name for p in folder.glob("*/trace.jsonl")) == ["0", "1"]
        assert sorted(orjson.loads(p.read_bytes())["status"] for p in folder.glob("*/status.json")) == ["finished", "finished"]
        jobs = slurm_jobs_of(folder)
        assert len(jobs) == 2 and set(sacct_states(jobs).values()) == {"COMPLETED"}
        assert_inspects_and_replays(folder, tmp_path)

    def test_job_cancelled_mid_run_ends_interrupted_and_the_sweep_names_it(self, tmp_path: Path, cluster_services: None, no_jobs_left: None) -> None:
        """scancel while job 0 is inside its step 1: its trace ends `interrupted` after 1 whole step, status.json says so, job 1 finishes, the sweep exits 1 naming job 0."""
        gates = Gates(tmp_path / "gates")
        gates.open(1)
        running = start_sweep(tmp_path, *SLURM, "seed=0,1", *gates.overrides(steps_before=1))
        arrival = gates.wait(0, running)
        assert arrival.slurm_job is not None and arrival.slurm_job.endswith("_0")
        subprocess.run(["scancel", arrival.slurm_job], check=True, timeout=60)
        result = running.finish()
        assert result.returncode == 1, result.stdout + result.stderr
        line = one_line_error(result)
        assert "1 job of the sweep did not finish: job 0 interrupted after 1 steps" in line
        folder = running.folder()
        trace = read_trace(folder / "0" / "trace.jsonl")  # every line whole: the reader refuses a torn one
        assert len(trace.steps) == 1 and trace.end["status"] == "interrupted" and trace.end["steps"] == 1
        assert orjson.loads((folder / "0" / "status.json").read_bytes())["status"] == "interrupted"
        assert read_trace(folder / "1" / "trace.jsonl").end["status"] == "finished"
        assert sacct_states([arrival.slurm_job])[arrival.slurm_job].startswith("CANCELLED")
        inspect = agent("trace", "inspect", str(folder), cwd=tmp_path)
        assert "totals: 1 finished, 1 interrupted" in inspect.stdout
        replay = agent("replay", str(folder), REPLAY_GATE, cwd=tmp_path, timeout=WAIT, env=agent_env())
        assert replay.returncode == 0, replay.stdout + replay.stderr
        assert "job 0: OK, 1 steps matched; the recording ends there" in replay.stdout


    def test_job_requeued_mid_run_resumes_from_its_trace_and_finishes(self, tmp_path: Path, cluster_services: None, no_jobs_left: None) -> None:
        """scontrol requeue while job 0 is inside its step 2, recorded with resume=true: SLURM runs the job again, which
        goes on with its own trace (steps 0-1 replayed from it, not run again), finishes, and replays whole."""
        gates = Gates(tmp_path / "gates")
        gates.open(1)
        running = start_sweep(tmp_path, *SLURM, "seed=0,1", "resume=true", *gates.overrides(steps_before=2))
        first = gates.wait(0, running)
        assert first.slurm_job is not None
        subprocess.run(["scontrol", "requeue", first.slurm_job], check=True, timeout=60)
        again = gates.wait(0, running, count=2)  # the requeued job is inside step 2 again: the step in flight runs again
        assert again.restarts >= 1 and again.pid != first.pid
        gates.open(0)
        result = running.finish()
        assert result.returncode == 0, result.stdout + result.stderr
        folder = running.folder()
        trace = read_trace(folder / "0" / "trace.jsonl")
        assert trace.end["status"] == "finished" and [r["after_step"] for r in trace.resumes] == [1]
        assert [s["index"] for s in trace.steps] == list(range(len(trace.steps)))  # steps 0-1 once, not twice
        assert orjson.loads((folder / "0" / "status.json").read_bytes())["status"] == "finished"
        replay = agent("replay", str(folder / "0" / "trace.jsonl"), REPLAY_GATE, cwd=tmp_path, timeout=WAIT, env=agent_env())
        assert replay.returncode == 0, replay.stdout + replay.stderr


class TestRay:
    """hydra/launcher=ray_local (a Ray instance for the sweep) and ray_cluster (the running head)."""

    def test_local_sweep_records_both_traces_and_leaves_no_ray_processes(self, tmp_path: Path) -> None:
        """ray_local starts Ray for the sweep, both jobs record and replay, and Ray's processes are gone afterwards."""
        before = ray_daemons()
        result, folder = sweep(tmp_path, "hydra/launcher=ray_local")
        assert "Started a local Ray instance" in result.stderr
        assert_inspects_and_replays(folder, tmp_path)
        deadline = time.monotonic() + WAIT
        while (left := ray_daemons() - before) and time.monotonic() < deadline:
            time.sleep(0.1)  # the driver's exit stops its Ray; its processes may take a moment to go
        assert not left, f"Ray processes left behind: {left}"

    def test_cluster_sweep_runs_on_the_head_and_writes_into_this_sweep_folder(self, tmp_path: Path, cluster_services: None) -> None:
        """ray_cluster joins the running head (no Ray of its own); its workers, in the head's directory, write into this sweep's folder."""
        result, folder = sweep(tmp_path, "hydra/launcher=ray_cluster")
        assert "Connecting to existing Ray cluster" in result.stderr and "Started a local Ray instance" not in result.stderr
        assert folder.is_relative_to(tmp_path)
        assert_inspects_and_replays(folder, tmp_path)

    def test_unreachable_cluster_is_one_line(self, tmp_path: Path) -> None:
        """With no Ray cluster to join, ray_cluster exits 2 with one line saying how to start one."""
        env = {**os.environ, "RAY_TMPDIR": str(tmp_path / "ray")}  # where `ray start` would have left the head's address
        command = ["run", "-m", "hydra/launcher=ray_cluster", "task=invoices,recipes", "trace=true"]
        if os.geteuid() == 0 and shutil.which("unshare"):
            # A Ray head of this machine (scripts/services) would be found among its processes: hide them.
            result = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", AGENT, *command], cwd=tmp_path, capture_output=True, text=True, timeout=WAIT, env=env, check=False)
        else:
            result = agent(*command, cwd=tmp_path, env=env, timeout=WAIT)
        assert result.returncode == 2, result.stdout + result.stderr
        line = one_line_error(result)
        assert line.startswith("agent: error: cannot reach a Ray cluster: Could not find any running Ray instance")
        assert "ray start --head" in line and "hydra/launcher=ray_local" in line

