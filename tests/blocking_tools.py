"""A tool that blocks on a fifo, so a test can signal a run at a point the run has reached.

The tool opens the fifo for reading, which blocks until the test opens it for writing; so when the
test's open succeeds, the run is inside this tool call, and stays there until the test closes its
end. Tests add the tool with an override (``TOOL_OVERRIDE``) and PYTHONPATH; a replay that builds
it lists ``tests`` in ``allowed_targets``.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from pathlib import Path
from typing import Any

TOOL_OVERRIDE = "+tools.tools.wait_here={_target_:tests.blocking_tools.wait_here,_partial_:true}"
REPO = Path(__file__).resolve().parent.parent


def wait_here(fifo: str) -> str:
    """Wait until the other end of a fifo is opened and closed again.

    Args:
        fifo: path of the fifo to wait on.
    """
    with open(fifo, encoding="utf-8") as gate:  # noqa: PTH123 - blocks until a writer opens the fifo
        return gate.read()  # blocks until the writer closes it


def environment() -> dict[str, str]:
    """The environment of an `agent` process that can import this module."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def open_when_reached(fifo: Path, process: subprocess.Popen[Any], timeout: float = 300) -> int:
    """Wait until ``process`` is inside ``wait_here(fifo)``; return the write end, which holds it there until closed.

    The wait is on the run reaching the call (a reader on the fifo), however slow the machine;
    ``timeout`` only keeps a broken run from hanging the test.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO until a reader has it open
        except OSError as err:
            if err.errno != errno.ENXIO:
                raise
        if process.poll() is not None:
            msg = f"the run ended (exit {process.returncode}) before it reached wait_here({fifo})"
            raise AssertionError(msg)
        if time.monotonic() > deadline:
            msg = f"the run did not reach wait_here({fifo}) within {timeout} s"
            raise AssertionError(msg)
        time.sleep(0.01)
