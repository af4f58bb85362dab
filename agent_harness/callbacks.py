"""A Hydra callback that leaves a ``status.json`` in every job's output dir when the job ends
(agent_harness/sweep_outcome.py fails a sweep whose jobs did not all finish).

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

from agent_harness.secrets_hydra import job_scrubber, task_overrides
from tracing.secrets import redact_overrides
from tracing.sweep import STATUS_FILE


class JobStatusFile(Callback):
    """Writes the job's status, overrides, trace path, answer and error at job end, whether it finished or crashed."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        write_status(config, config.hydra, job_return)


def write_status(config: Any, hydra: Any, job_return: JobReturn) -> None:
    """Write the job's status.json: its number, overrides and folder, and how it ended (its summary, or what it raised)."""
    overrides = task_overrides(hydra)
    record: dict[str, Any] = {
        "job": hydra.job.get("num"),
        "overrides": redact_overrides(overrides),
        "output_dir": hydra.runtime.output_dir,
    }
    if job_return.status == JobStatus.COMPLETED and isinstance(job_return.return_value, dict):
        record |= job_return.return_value
    else:
        # The job raised: its return value is the exception; say what it was, in one line.
        error = job_return._return_value  # noqa: SLF001 - JobReturn.return_value re-raises it
        record |= {"status": "failed", "error": f"{type(error).__name__}: {error}" if error is not None else "unknown"}
    # An error or answer may quote a secret the job read: scrubbed by value like everything written.
    record = job_scrubber(config, overrides, os.environ).data(record)
    path = Path(hydra.runtime.output_dir) / STATUS_FILE
    temporary = path.with_name(f".{STATUS_FILE}.tmp")
    try:
        temporary.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(temporary, path)  # written whole or not at all
    except OSError:
        temporary.unlink(missing_ok=True)  # a full or read-only disk leaves no half-written temporary file
        raise
