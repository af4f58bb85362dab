"""``agent resume``: go on with a run (or every unfinished job of a sweep) from its trace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agent_harness.cli import fail

HELP = """\
usage: agent resume TRACE_OR_RUN_DIR [OVERRIDES...]
       agent resume SWEEP_DIR [OVERRIDES...]

Go on with a run whose trace was cut off (a crash, kill -9, a cancelled or preempted job) or ended
interrupted, in the same trace file: the recorded steps are replayed offline (checked; nothing is
sent to the model, recorded tool outputs are served), then the run continues live with its recorded
config and backends in the workspace it left. A step that was in flight when the run stopped runs
again from its start, so a tool call may run twice (at-least-once). The trace gets a resume record
and replays whole with `agent replay`. A finished run is never run again (exit 2).

For a job that its scheduler starts again by itself (SLURM requeue, preemption), record with
resume=true instead: `agent run` then resumes an unfinished trace already at tracePath.
"""


def main(args: list[str], collect: Callable[[], None] = lambda: None) -> None:
    """``agent resume TRACE_OR_SWEEP [OVERRIDES...]``; ``collect`` turns the cyclic collector back on (see below)."""
    if not args or any(a in ("-h", "--help") for a in args):
        print(HELP, end="")
        if not args:
            raise SystemExit(2)
        return
    from agent_harness.cli.replay import project_options

    args, project = project_options(args)
    if not args:
        fail("resume needs a trace file, run folder or sweep folder, as in `agent resume run.jsonl`")
    path, overrides = Path(args[0]), args[1:]

    from agent_harness import api
    from agent_harness.errors import ConfigError
    from tracing.errors import TraceError
    from tracing.sweep import is_sweep, load_sweep

    def resumed(trace: Path) -> api.RunResult:
        loaded = api.read(trace)  # with the collector paused: plain data, kept to the end
        # The run goes on live, where a tool may make garbage cycles on every call: the collector is
        # back on for it, with what is read so far frozen out of its passes.
        collect()
        return api.resume(loaded, *overrides, project=project)

    if not is_sweep(path):
        try:
            done = resumed(path)
        except (TraceError, ConfigError) as err:
            fail(str(err))
        print("\n".join(done.lines()))
        if done.outcome.status != "finished":
            raise SystemExit(1)
        return
    unfinished = [job for job in load_sweep(path) if job.status in ("cut off", "interrupted", "unknown") and job.trace is not None]
    failed = []
    for job in unfinished:
        try:
            done = resumed(job.trace)
        except (TraceError, ConfigError) as err:
            print(f"job {job.number}: not resumed: {err}")
            failed.append(job.number)
            continue
        print("\n".join(done.lines(prefix=f"[job {job.number}] ")))
        if done.outcome.status != "finished":
            failed.append(job.number)
    print(f"sweep resume: {len(unfinished)} unfinished jobs resumed, {len(unfinished) - len(failed)} finished ({path})")
    if failed:
        raise SystemExit(1)
