"""SIGTERM and SIGINT end a run as ``interrupted``, with its end record and status.json written.

The agent loop already ends a run as interrupted on KeyboardInterrupt (Ctrl-C). A cluster stops a
job with SIGTERM instead (SLURM's scancel, preemption and time limit, then SIGKILL after KillWait;
Ray and Kubernetes alike), and submitit installs a handler that only logs SIGTERM ("Bypassing
signal"), so without this the job runs on until SIGKILL cuts its trace mid-line. Signal handlers
are process-global state: only the job level (the CLI's Hydra job) installs them, for the length of
one run, and puts back what was there before.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_received: list[int] = []
"""The stop signals this process received while a run was going on, first one first."""


def stop_requested() -> str | None:
    """The name of the stop signal an earlier run in this process ended on (SIGTERM, SIGINT), or None.

    A process asked to stop starts no new run: a sweep's next job in the same process (the basic
    launcher runs them one after another) ends at once instead.
    """
    return signal.Signals(_received[0]).name if _received else None


@contextmanager
def ending_on_signals() -> Iterator[None]:
    """Within: the first SIGTERM or SIGINT raises KeyboardInterrupt, which the loop records as interrupted.

    Repeats are ignored (SLURM signals every process of a job, and srun forwards the signal again),
    so the end record and status.json are written in the time the sender leaves before SIGKILL.
    Outside the main thread, where Python cannot set handlers, it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        _received.append(signum)
        if len(_received) == 1:
            raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
