"""A Hydra callback that leaves a ``status.json`` in every job's output dir when the job ends, and
fails a sweep whose jobs did not all finish.

Hydra skips ``on_multirun_end`` when any job raises, so sweep-level commands never rely on a sweep
index written at the end: they rebuild it from these per-job files (see tracing/sweep.py). Only
Hydra loads this module (conf/config.yaml names it), so reading traces never imports Hydra.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from tracing.secrets import redact_overrides
from tracing.sweep import STATUS_FILE


class SweepIncomplete(BaseException):
    """A sweep ran every job, but some did not run to their end (interrupted, cancelled, error, failed); the message names them.

    A BaseException: Hydra turns an Exception raised by a callback into a warning, and this must reach
    `agent run`, which exits 1 with the message.
    """


class JobStatusFile(Callback):
    """Writes the job's status, overrides, trace path, answer and error at job end, whether it finished or crashed."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        hydra = config.hydra
        record: dict[str, Any] = {
            "job": hydra.job.get("num"),
            "overrides": redact_overrides(list(hydra.overrides.task)),
            "output_dir": hydra.runtime.output_dir,
        }
        if job_return.status == JobStatus.COMPLETED and isinstance(job_return.return_value, dict):
            record |= job_return.return_value
        else:
            # The job raised: its return value is the exception; say what it was, in one line.
            error = job_return._return_value  # noqa: SLF001 - JobReturn.return_value re-raises it
            record |= {"status": "failed", "error": f"{type(error).__name__}: {error}" if error is not None else "unknown"}
        path = Path(hydra.runtime.output_dir) / STATUS_FILE
        temporary = path.with_name(f".{STATUS_FILE}.tmp")
        try:
            temporary.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
            os.replace(temporary, path)  # written whole or not at all
        except OSError:
            temporary.unlink(missing_ok=True)  # a full or read-only disk leaves no half-written temporary file
            raise

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Raise SweepIncomplete naming the jobs that did not finish: whatever launcher ran them, their folders say."""
        from hydra.utils import to_absolute_path

        from tracing.sweep import load_sweep

        sweep = Path(to_absolute_path(config.hydra.sweep.dir))
        if not sweep.is_dir():
            return
        # max_steps is an ending a sweep may be about (a sweep of agent.max_steps); the others mean a job did not run to its end.
        unfinished = [job for job in load_sweep(sweep) if job.status not in ("finished", "max_steps")]
        if unfinished:
            names = ", ".join(f"job {'?' if job.number is None else job.number} {job.status}" for job in unfinished)
            plural = "s" if len(unfinished) != 1 else ""
            msg = f"{len(unfinished)} job{plural} of the sweep did not finish: {names} (see `agent trace inspect {sweep}`)"
            raise SweepIncomplete(msg)
