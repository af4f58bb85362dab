"""A test-only tool that holds a run at a known step, so a test acts on an event the run reached, never on timing.

A run given this tool (``+tools.tools.gate={_target_: tests.gate.gate, _partial_: true}``, see
tests/cluster.py) stops at the step whose scripted tool call is ``gate``: it appends one line to
``FOLDER/arrived`` (its pid and, under SLURM, its job), then waits until ``FOLDER/open`` exists.
A job requeued or resumed at that step arrives again, on a new line.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def gate(path: str) -> str:
    """Wait at a gate until the test opens it.

    Args:
        path: the gate's folder (absolute).
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    arrival = {"pid": os.getpid(), "restarts": os.environ.get("SLURM_RESTART_COUNT")}
    arrival |= {name.lower(): os.environ.get(name) for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID")}
    with (folder / "arrived").open("a", encoding="utf-8") as arrived:
        arrived.write(json.dumps(arrival) + "\n")  # one short append: a reader sees whole lines
    while not (folder / "open").exists():
        time.sleep(0.02)  # a signal interrupts the sleep: SIGTERM ends the run right here
    return "the gate opened"
