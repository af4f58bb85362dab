"""SIGTERM and SIGINT end a run as `interrupted`, its trace whole, in a plain process and under submitit.

Every signal is sent while the run waits at a gate (tests/gate.py) inside a known step, so the run
is mid-step whatever the machine's speed. The SLURM cancel (scancel) is in tests/test_cluster.py.
"""

from __future__ import annotations

import importlib.util
import os
import signal
from pathlib import Path

import orjson
import pytest

from tests.cluster import Gates, start, start_sweep
from tests.conftest import one_line_error
from tracing.reader import read_trace


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_ends_a_run_as_interrupted_with_its_trace_whole(tmp_path: Path, sig: signal.Signals) -> None:
    """A signal inside step 2 ends the run with exit 1, `interrupted`, and a trace of the 2 whole steps before it plus its end record."""
    gates = Gates(tmp_path / "gates")
    run = start(tmp_path, "run", "--trace", "t.jsonl", *gates.overrides(steps_before=2, job=0))
    arrival = gates.wait(0, run)
    os.kill(arrival.pid, sig)
    result = run.finish()
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("interrupted after 2 steps") and "Traceback" not in result.stderr
    trace = read_trace(tmp_path / "t.jsonl")  # the reader refuses a torn line
    assert len(trace.steps) == 2 and trace.end["status"] == "interrupted" and trace.end["steps"] == 2


def test_ctrl_c_stops_a_sweep_in_one_process_and_the_sweep_names_its_jobs(tmp_path: Path) -> None:
    """SIGINT during job 0 of a basic sweep: job 0 ends interrupted, job 1 does not start, both leave status.json, the sweep exits 1 naming both."""
    gates = Gates(tmp_path / "gates")
    sweep = start_sweep(tmp_path, "seed=0,1", *gates.overrides(steps_before=1))
    os.kill(gates.wait(0, sweep).pid, signal.SIGINT)
    result = sweep.finish()
    assert result.returncode == 1, result.stdout + result.stderr
    line = one_line_error(result)
    assert "2 jobs of the sweep did not finish: job 0 interrupted after 1 steps; job 1 interrupted after 0 steps (not started: SIGINT" in line
    folder = sweep.folder()
    status = {n: orjson.loads((folder / n / "status.json").read_bytes()) for n in ("0", "1")}
    assert [status[n]["status"] for n in ("0", "1")] == ["interrupted", "interrupted"]
    assert status["1"]["trace"] is None and not gates.arrivals(1)
    assert read_trace(folder / "0" / "trace.jsonl").end["status"] == "interrupted"


@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None, reason="needs the submitit extra")
def test_sigterm_ends_a_submitit_job_although_submitit_would_bypass_it(tmp_path: Path) -> None:
    """submitit's job process only logs SIGTERM; within a run it ends the run as interrupted; the other job finishes; the sweep exits 1 naming job 0."""
    gates = Gates(tmp_path / "gates")
    gates.open(1)
    sweep = start_sweep(tmp_path, "hydra/launcher=submitit_local", "seed=0,1", *gates.overrides(steps_before=1))
    arrival = gates.wait(0, sweep)
    assert arrival.pid != sweep.process.pid  # the job runs in submitit's own process
    os.kill(arrival.pid, signal.SIGTERM)
    result = sweep.finish()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 job of the sweep did not finish: job 0 interrupted after 1 steps" in one_line_error(result)
    folder = sweep.folder()
    assert read_trace(folder / "0" / "trace.jsonl").end["status"] == "interrupted"
    assert orjson.loads((folder / "0" / "status.json").read_bytes())["status"] == "interrupted"
    assert read_trace(folder / "1" / "trace.jsonl").end["status"] == "finished"
