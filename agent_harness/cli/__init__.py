"""The ``agent`` command: one module per command, each a thin face over ``agent_harness.api``.

    agent run     agent_harness/cli/run.py      a Hydra app (overrides, -m, --cfg, --help, launchers)
    agent replay  agent_harness/cli/replay.py   replay a trace, fork from a step, replay a sweep
    agent resume  agent_harness/cli/resume.py   go on with a cut-off or interrupted run
    agent trace   agent_harness/cli/trace.py    inspect, diff, export (never imports Hydra: starts fast)
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NoReturn, TextIO

USAGE = """\
usage: agent <command> [args]

commands:
  run [--trace PATH] [--reuse OLD] [OVERRIDES...]
                                      run the agent (Hydra app: `agent run --help` lists the config groups);
                                      --reuse serves OLD's answers while the requests are unchanged
  resume TRACE_OR_SWEEP_DIR           go on with a cut-off or interrupted run from its trace
  replay TRACE [--json] [OVERRIDES...]
                                      re-execute a recorded run offline, checking every step against it
                                      (`agent replay --help` for replay.config=current, forks and mixed modes)
  replay SWEEP_DIR [--fail-fast] [--json] [OVERRIDES...]
                                      replay every job of a sweep: one line per job, then a summary
  trace inspect TRACE [--full] [--raw] print a recorded run step by step
  trace inspect SWEEP_DIR             one row per job of a sweep: status, steps, tokens, answer, trace
  trace diff A B [--json]             compare two traces: config, then the first step where they part
  trace export TRACE [-o FILE]        the trace as OpenTelemetry OTLP JSON spans (GenAI conventions)
  trace edit TRACE --step K --call I --output JSON -o NEW
                                      a copy of TRACE with one tool output changed (for what-if reuse)
  --version                           print the version

exit status: 0 ok, 1 the run did not finish or the replay diverged, 2 unusable input

examples:
  agent run                           run the default task offline (scripted LLM, live tools)
  agent run --trace demo.jsonl        run and record a trace
  agent trace inspect demo.jsonl      read what happened
  agent replay demo.jsonl             check that the agent still does what it did
"""


def fail(message: str, status: int = 2) -> NoReturn:
    """Print one line to stderr and exit, by default with status 2 (unusable input)."""
    print(f"agent: error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(status)


@contextlib.contextmanager
def collector_paused() -> Iterator[Callable[[], None]]:
    """The cyclic garbage collector off for the command, as it was after; the function given back turns it on early.

    A trace read into memory is plain JSON data, free of cycles, kept to the end: the collector's
    full passes over it made reading and replaying ~2x slower per step at 5,000 steps
    (bench/RESULTS-replay.md), so replay and trace keep it off throughout, and resume while it reads
    (its run then goes on live, where a tool may make garbage cycles). `agent run` turns it on when its
    run starts: starting (importing Hydra, its plugin scan, composing) makes ~45,000 objects, and
    walking them made `agent run` 1.23x a minimal Hydra app's time instead of 1.05x. What was built is
    frozen first (``gc.freeze``), so a long run's collections do not walk it either; the start's own
    garbage cycles (~9,000 objects, under 1 MB of peak memory) are kept with it rather than found by
    an ~18 ms full collection. Process-wide state, so only the command's entry sets it.
    """
    collecting = gc.isenabled()
    gc.disable()

    def resume_frozen() -> None:
        if collecting and not gc.isenabled():
            gc.freeze()
            gc.enable()

    try:
        yield resume_frozen
    finally:
        if collecting:
            gc.enable()


def _reader_gone() -> None:
    """Send the rest of our output nowhere: `agent ... | head` closed our stdout, and there is nothing more to say."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class _ReaderSafe:
    """``sys.stdout`` while a Hydra app runs: a reader that went away silences the rest instead of failing a write.

    Hydra logs to ``sys.stdout`` (a sweep's "Launching 2 jobs"): once ``agent run -m ... | head`` has
    closed the pipe, logging would print a traceback to stderr for every line after.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            _reader_gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            _reader_gone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def reader_safe_stdout() -> Iterator[None]:
    """``sys.stdout`` guarded by ``_ReaderSafe`` inside the block; for the command's entry only (process-wide)."""
    saved = sys.stdout
    sys.stdout = _ReaderSafe(saved)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout = saved


def say(lines: Iterable[str]) -> None:
    """Print ``lines`` now; a reader that went away silences the rest instead of failing the command.

    For output printed inside a Hydra job: a BrokenPipeError there would fail the job (status.json
    ``failed`` for a run whose trace ended ``finished``) and make Hydra print "Error executing job".
    A launcher may run the job in a process of its own, where the command's entry did not guard stdout.
    """
    with reader_safe_stdout():
        for line in lines:
            print(line)
        sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``agent`` console script."""
    try:
        _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:  # `agent ... | head` closed our stdout: nothing more to say
        _reader_gone()
    except KeyboardInterrupt:  # a second Ctrl-C (the first ends the run as interrupted, its trace whole): one line, no traceback
        print("agent: interrupted", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        if argv is None:  # the process's own entry, not a caller in a longer process
            # The work is done: a late Ctrl-C must not turn the exit into a traceback from interpreter shutdown,
            # and the interpreter's last collection need not walk every object the command made (a replayed
            # trace's records, Hydra's config) to free memory the OS takes back: 10-45 ms of a command.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            gc.freeze()


def _main(args: list[str]) -> None:
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return
    command, rest = args[0], args[1:]
    if command in ("-V", "--version"):
        from agent import __version__

        print(f"agent-harness {__version__}")
    elif command in ("-sc", "--shell-completion"):
        from agent_harness.cli.run import complete

        complete(args)
    elif command == "run":
        from agent_harness.cli.run import main as run_main

        run_main(rest)
    elif command == "replay":
        from agent_harness.cli.replay import main as replay_main

        with collector_paused():
            replay_main(rest)
    elif command == "resume":
        from agent_harness.cli.resume import main as resume_main

        with collector_paused() as collect:
            resume_main(rest, collect)
    elif command == "trace":
        from agent_harness.cli.trace import main as trace_main

        with collector_paused():
            trace_main(rest)
    else:
        fail(f"unknown command {command!r}; expected run, replay, resume or trace (see `agent --help`)")
