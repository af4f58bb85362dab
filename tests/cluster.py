"""Helpers for tests that run on the cluster services (scripts/services: SLURM with accounting, a Ray head).

- ``cluster_services``: a fixture that skips, with one line saying how to start the services, on a
  machine without them, and fails instead under CI (``CI=true``), where .ci/run starts them.
- ``Gates`` and ``start_sweep``: a sweep whose jobs stop at a known step and stay there until the
  test opens their gate (tests/gate.py), so a test cancels, requeues or kills a job that is
  mid-run by an event the run reached, never by timing::

      gates = Gates(tmp_path / "gates")
      gates.open(1)                                     # job 1 goes straight through
      sweep = start_sweep(tmp_path, *SLURM, "seed=0,1", *gates.overrides(steps_before=2))
      arrival = gates.wait(0, sweep)                    # job 0 is now inside its step 2
      subprocess.run(["scancel", arrival.slurm_job])    # or scontrol requeue, kill -TERM arrival.pid
      result = sweep.finish()
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import AGENT, PYTHON

REPO = Path(__file__).resolve().parent.parent
HOW_TO_START = "start them as root with `scripts/services up` (and `scripts/services down` after); CI does"
SLURM = ("hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug")
GATE_TOOL = "+tools.tools.gate={_target_: tests.gate.gate, _partial_: true}"
REPLAY_GATE = "allowed_targets=[tests.gate]"  # a replay builds the gate tool (for its schema): allow this module
WAIT = 300.0  # seconds: only a guard against a hang, never what a test waits for


def agent_env() -> dict[str, str]:
    """The environment of `agent` runs that use the gate tool: the repository is importable (SLURM jobs inherit it)."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


def _slurm_problem() -> str | None:
    if shutil.which("sbatch") is None:
        return "no SLURM commands"
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30, check=False)
    if "UP" not in ping.stdout:
        return "no SLURM controller answers"
    partition = subprocess.run(["sinfo", "-h", "-p", "debug", "-o", "%a %t"], capture_output=True, text=True, timeout=30, check=False)
    if not partition.stdout.startswith("up ") or not partition.stdout.split()[1].startswith(("idle", "mix", "alloc")):
        return f"SLURM partition debug is not usable ({partition.stdout.strip() or partition.stderr.strip()})"
    return None


def _ray_problem() -> str | None:
    if not ray_daemons():
        return "no Ray head running"  # asked to join, Ray would retry the last head's address for minutes
    # A driver that joins the running head and leaves, as the ray_cluster launcher's does.
    probe = "import ray; ray.init(address='auto', logging_level='ERROR'); ray.shutdown()"
    try:
        joined = subprocess.run([PYTHON, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return "no Ray head answers"
    return None if joined.returncode == 0 else "no Ray head running"


@pytest.fixture(scope="session")
def cluster_services() -> None:
    """Skips (fails under CI=true) unless a SLURM cluster with partition debug and a Ray head are running."""
    problems = [p for p in (_slurm_problem(), _ray_problem()) if p]
    if problems:
        reason = f"cluster services are not running ({'; '.join(problems)}): {HOW_TO_START}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs the cluster tests, but {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def no_jobs_left(tmp_path: Path) -> Iterator[None]:
    """After the test, no SLURM job started from ``tmp_path`` is left: any still queued or running is cancelled, and the test fails."""
    yield
    left = [line.split()[0] for line in _squeue() if line.split()[1].startswith(str(tmp_path))]
    if left:
        subprocess.run(["scancel", *left], check=False)
        deadline = time.monotonic() + WAIT
        while any(line.split()[0] in left for line in _squeue()) and time.monotonic() < deadline:
            time.sleep(0.2)
        pytest.fail(f"SLURM jobs {left} were left running by the test; cancelled them")


def _squeue() -> list[str]:
    """One line per SLURM job still known to the controller: its id (array_task) and working directory."""
    listed = subprocess.run(["squeue", "-h", "-o", "%i %Z"], capture_output=True, text=True, timeout=30, check=True)
    return [line for line in listed.stdout.splitlines() if line.strip()]


@dataclass(frozen=True)
class Arrival:
    """A run that reached its gate: its process and, under SLURM, its job."""

    pid: int
    slurm_job: str | None
    """The job as scancel and scontrol take it (``ARRAY_TASK`` for a job of an array, as submitit submits them)."""
    restarts: int
    """SLURM_RESTART_COUNT: how often SLURM requeued the job before this arrival."""


class Gates:
    """A folder of gates, one per job number: job N's gate tool call waits in ``root/N`` until ``open(N)``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def overrides(self, *, steps_before: int = 1, steps_after: int = 0, job: int | None = None) -> list[str]:
        """The overrides that give every job the gate tool and a script: ``steps_before`` list_files steps, the gate, ``steps_after`` more, an answer.

        So a job stopped at its gate has exactly ``steps_before`` whole steps in its trace. Each job of
        a sweep has the gate of its number; a single run (no job number) the gate of ``job``.
        """
        listing = "{tool_calls: [{name: list_files}]}"
        folder = f"{self.root}/{'${hydra:job.num}' if job is None else job}"
        gate = f"{{tool_calls: [{{name: gate, arguments: {{path: '{folder}'}}}}]}}"
        script = [listing] * steps_before + [gate] + [listing] * steps_after + ["{content: 'past the gate'}"]
        return [GATE_TOOL, f"task.script=[{', '.join(script)}]"]

    def open(self, job: int) -> None:
        """Let job ``job`` through its gate, now or when it gets there."""
        (self.root / str(job)).mkdir(exist_ok=True)
        (self.root / str(job) / "open").touch()

    def arrivals(self, job: int) -> list[Arrival]:
        """Every arrival of job ``job`` at its gate so far, first first."""
        path = self.root / str(job) / "arrived"
        if not path.is_file():
            return []
        found = []
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            array, task = record.get("slurm_array_job_id"), record.get("slurm_array_task_id")
            slurm_job = f"{array}_{task}" if array and task is not None else record.get("slurm_job_id")
            found.append(Arrival(pid=record["pid"], slurm_job=slurm_job, restarts=int(record.get("restarts") or 0)))
        return found

    def wait(self, job: int, sweep: Running, *, count: int = 1) -> Arrival:
        """Wait until job ``job`` has reached its gate ``count`` times; return the last arrival. Fails if the run ends first."""
        deadline = time.monotonic() + WAIT
        while len(found := self.arrivals(job)) < count:
            if sweep.process.poll() is not None:
                pytest.fail(f"the run ended before job {job} reached its gate {count} time(s):\n{sweep.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"job {job} did not reach its gate in {WAIT:.0f}s:\n{sweep.output()}")
            time.sleep(0.05)
        return found[count - 1]


@dataclass
class Running:
    """An `agent` command started in the background, its output going to files in its cwd."""

    process: subprocess.Popen[bytes]
    cwd: Path

    def output(self) -> str:
        """What it printed so far."""
        return "".join((self.cwd / name).read_text(encoding="utf-8", errors="replace") for name in ("agent.out", "agent.err"))

    def finish(self) -> subprocess.CompletedProcess[str]:
        """Wait for it to end; its exit status and what it printed."""
        try:
            self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"`agent` did not end in {WAIT:.0f}s:\n{self.output()}")
        out, err = ((self.cwd / name).read_text(encoding="utf-8", errors="replace") for name in ("agent.out", "agent.err"))
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, out, err)

    def folder(self) -> Path:
        """The sweep's folder (multirun/DATE/TIME under cwd)."""
        (folder,) = (self.cwd / "multirun").glob("*/*")
        return folder


def start(cwd: Path, *args: str) -> Running:
    """Start `agent ARGS` in ``cwd``, in the background, with the gate tool importable."""
    cwd.mkdir(parents=True, exist_ok=True)
    with (cwd / "agent.out").open("wb") as out, (cwd / "agent.err").open("wb") as err:
        process = subprocess.Popen([AGENT, *args], cwd=cwd, stdout=out, stderr=err, env=agent_env())
    return Running(process=process, cwd=cwd)


def start_sweep(cwd: Path, *args: str) -> Running:
    """Start the sweep `agent run -m ARGS trace=true` in ``cwd``, in the background."""
    return start(cwd, "run", "-m", *args, "trace=true")


def ray_daemons() -> set[int]:
    """Pids of live Ray daemons (raylet, GCS) on this machine."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and command.rsplit(b"/", 1)[-1] in (b"raylet", b"gcs_server"):
            found.add(int(entry.name))
    return found
