"""How a sweep ended, in one line: the jobs stopped before their end, and launchers that could not run.

A job stopped by a signal (scancel, preemption, Ctrl-C) ends ``interrupted``: for Hydra it returned,
so the sweep "succeeded". ``SweepOutcome``, a Hydra callback (conf/config.yaml), reads the sweep's
folder when the sweep ends and exits 1 naming every such job. A job killed outright (SIGKILL after
SLURM's KillWait, a lost node) makes its launcher raise instead, and ``launcher_failure`` words that
error, and a Ray cluster that cannot be reached, as one line for the CLI.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from tracing.sweep import Job, load_sweep

STOPPED = {
    "interrupted": "interrupted",
    "cut off": "killed (its trace is cut off)",
    "unknown": "killed before it recorded anything",
    "error": "ended in error",
    "failed": "failed",
}
"""Job statuses (tracing.sweep.Job.status) of a job that did not run to its end, and how to say so.
``max_steps`` is not one: it is an ending a sweep may be about (a sweep of agent.max_steps)."""


class SweepStopped(SystemExit):
    """Ends the ``agent run -m`` process with status 1 and one line, from inside Hydra (which passes it on)."""

    def __init__(self, line: str) -> None:
        super().__init__(f"agent: error: {line}")  # SystemExit prints a message given as its code, and exits 1


class SweepOutcome(Callback):
    """When a sweep ends, exits 1 with one line naming the jobs that did not finish (whatever launcher ran them, their folders say)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir)
        if stopped := stopped_jobs(folder):
            raise SweepStopped(stopped_line(folder, stopped))


def stopped_jobs(sweep: Path) -> list[Job]:
    """The jobs of ``sweep`` that did not run to their end; none when the folder holds no jobs."""
    if not sweep.is_dir():
        return []
    return [job for job in load_sweep(sweep) if job.status in STOPPED]


def stopped_line(sweep: Path, jobs: list[Job]) -> str:
    """One line naming every stopped job."""
    named = []
    for job in jobs:
        label = f"job {job.number if job.number is not None else job.folder.name}"
        steps = f" after {job.steps} steps" if job.steps is not None and job.status != "unknown" else ""
        named.append(f"{label} {STOPPED[job.status]}{steps}" + (f" ({job.error})" if job.error else ""))
    return f"{len(jobs)} job{'s' if len(jobs) > 1 else ''} of the sweep did not finish: {'; '.join(named)} ({sweep}; each job's status.json and trace say how far it got)"


def launcher_failure(err: BaseException) -> tuple[str, int] | None:
    """One line and an exit status for a launcher's error that is not a bug: no Ray cluster to join, a killed job."""
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
    if isinstance(err, ConnectionError) and _raised_in(err, "ray"):
        return (
            f"cannot reach a Ray cluster: {first} (start one with `ray start --head` or scripts/services up, "
            "set RAY_ADDRESS, or use hydra/launcher=ray_local for Ray on this machine)",
            2,
        )
    if type(err).__name__ == "UncompletedJobError":  # submitit: the job ended without a result, killed
        return f"a job of the sweep was killed before it ended: {first} (its trace, if any, is cut off where it stopped)", 1
    return None


def _raised_in(err: BaseException, package: str) -> bool:
    """Whether the innermost frame of ``err``'s traceback is in ``package``."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}{package}{os.sep}" in tb.tb_frame.f_code.co_filename
