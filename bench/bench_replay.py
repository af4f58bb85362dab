"""What replaying a trace costs: reading it back and re-running the loop against it, vs the bare loop.

The companion of ``bench_trace.py`` (which measures recording). Two sections:

1. The synthetic run of ``bench_trace.py`` (same O(1) LLM, same ~1 KB echo tool) at several N,
   each recorded once through ``agent_harness.api.run`` (its config names the in-bench LLM and
   tool). Per N, interleaved: ``bare`` (iterate the loop, no tracing), (a) ``read_trace`` alone,
   (b) the full in-process replay, ``agent_harness.api.replay(trace)`` (read, compose, build, loop,
   checks), and (c) the replay loop alone: the read trace, a ``ReplaySession`` with ``ReplayLLM``
   and ``ReplayTools``, ``drive(run, session.check_step)`` + ``session.finish``, built from those
   pieces because it is the per-step part of (b) that it isolates; and (a) and (c) again with the
   collector off, to tell their own work from the cyclic GC scanning the trace held in memory.
2. ``agent replay <trace of the default task>`` end to end as a subprocess, next to ``agent run``.

Usage::

    python bench/bench_replay.py            # print the Markdown report
    python bench/bench_replay.py --write    # also write it to bench/RESULTS-replay.md

``--write`` owns RESULTS-replay.md (bench_trace.py owns RESULTS-trace.md, which links here from its
hand-written notes); anything below the notes marker of an existing RESULTS-replay.md is kept.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.loop import AgentRun, drive, start_state
from agent.runtime import Runtime
from tracing.reader import Trace, read_trace
from tracing.replay import ReplayLLM, ReplaySession, ReplayTools

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or with -m, bench_trace is beside us
from bench_trace import (
    ECHO_CHUNK,
    ECHO_TIMES,
    FLAT_GOAL,
    Stat,
    agent_command,
    check_finished,
    cpu_model,
    echo,
    echo_run_factory,
    read_ns,
    progress,
    rotated,
    size,
    time_command,
    publish,
)

RESULTS = Path(__file__).with_name("RESULTS-replay.md")

# Measurements taken per N, in the order they rotate through each repetition.
VARIANTS = ("bare", "read", "read_nogc", "replay", "loop", "loop_nogc")


# --------------------------------------------------------------------------- the replay run


# The in-bench LLM and tool, named in the recorded config so that api.replay can rebuild the run;
# a replay may build them only because the replay allows this module (allowed_targets).
ALLOWED = "allowed_targets=[bench_trace]"


def synthetic_config(steps: int) -> Any:
    """The default config with the synthetic run's LLM, tool and prompts: what api.run records and api.replay rebuilds."""
    from omegaconf import OmegaConf

    from agent_harness.compose import compose

    config = compose([ALLOWED]).config
    OmegaConf.set_struct(config, False)
    config.llm = {"_target_": "bench_trace.EchoLLM", "steps": steps}
    config.tools = {"_target_": "agent.tools.Toolbox", "workspace": "${run_dir}/workspace", "tools": {"echo": {"_target_": "bench_trace.echo", "_partial_": True}}}
    config.task = {"name": "echo", "system_prompt": "You are a benchmark agent.", "prompt": "Echo until told to stop.", "workspace_seed": None}
    config.agent.max_steps = steps
    OmegaConf.set_struct(config, True)
    return config


def replay_run(trace: Trace) -> tuple[AgentRun, ReplaySession]:
    """The replay loop of (c), built from the library's replay pieces (not api.replay) to time the loop without the composition.

    The parts are those api.replay builds for this trace: a session, the replay LLM, the replay
    toolbox with the recorded tool (for its schema), the session's clock, the recorded max_steps.
    """
    session = ReplaySession(trace)
    first = trace.prompts[0]
    run = AgentRun(
        state=start_state(system_prompt=first[0]["content"], prompt=first[1]["content"]),
        llm=ReplayLLM(session=session),
        tools=ReplayTools(session=session, tools={"echo": echo}),
        runtime=Runtime(clock=session.clock),
        max_steps=trace.header["config"]["agent"]["max_steps"],
    )
    return run, session


def check_matched(result: Any, steps: int) -> None:
    """A replay must have matched all ``steps`` recorded steps of a whole trace."""
    if not result.ok or result.steps != steps or result.cut_off:
        msg = f"the replay should match {steps} steps of a whole trace; it matched {result.steps} (cut off: {result.cut_off}): {result}"
        raise RuntimeError(msg)


def record_trace(steps: int, path: Path, run_dir: Path) -> int:
    """Record one synthetic run of ``steps`` steps to ``path`` through the API; returns the trace's size in bytes."""
    import agent_harness as ah

    done = ah.run(config=synthetic_config(steps), trace=path, run_dir=run_dir)
    if done.outcome.status != "finished" or done.outcome.steps != steps:
        msg = f"a benchmark run should finish after {steps} steps; got {done.outcome.status} after {done.outcome.steps} ({done.outcome.error})"
        raise RuntimeError(msg)
    return path.stat().st_size


# --------------------------------------------------------------------------- timing one measurement


def time_bare(new_run: Callable[[], AgentRun], steps: int) -> int:
    """Nanoseconds to iterate a fresh synthetic run, no tracing (bench_trace's ``bare``)."""
    run = new_run()
    start = time.perf_counter_ns()
    for _ in run:
        pass
    ns = time.perf_counter_ns() - start
    check_finished(run, steps)
    return ns


def time_read(path: Path, steps: int, *, collect: bool = True) -> int:
    """Nanoseconds of ``read_trace`` alone (``collect=False``: collector off while reading)."""
    return read_ns(path, steps, collect=collect)


def time_full(path: Path, steps: int, run_dir: Path) -> int:
    """Nanoseconds of one ``agent_harness.api.replay`` of the trace (b), which must match every step."""
    import agent_harness as ah

    start = time.perf_counter_ns()
    result = ah.replay(path, ALLOWED, run_dir=run_dir)
    ns = time.perf_counter_ns() - start
    check_matched(result, steps)
    return ns


def time_loop(path: Path, steps: int, *, collect: bool = True) -> int:
    """Nanoseconds of the replay loop (c): build the replay run and drive it to its end, the trace read beforehand (untimed).

    ``collect=False`` turns the cyclic collector off for build + loop, to show how much of the
    loop's cost is the collector rescanning the trace held in memory.
    """
    trace = read_trace(path)
    if not collect:
        gc.disable()
    try:
        start = time.perf_counter_ns()
        run, session = replay_run(trace)
        result = session.finish(drive(run, session.check_step))
        ns = time.perf_counter_ns() - start
    finally:
        gc.enable()
    check_matched(result, steps)
    return ns


# --------------------------------------------------------------------------- section 1


@dataclass
class SizeResult:
    """Section 1 at one N: µs/step per measured column (``build`` in µs per run), and the trace's size."""

    steps: int
    trace_bytes: int
    stats: dict[str, Stat]

    def per_step(self, column: str) -> float:
        """The median of ``column`` (µs/step for every column but ``build``)."""
        return self.stats[column].median


def measure_once(variant: str, path: Path, new_run: Callable[[], AgentRun], steps: int, run_dir: Path) -> dict[str, float]:
    """One measurement of ``variant``, as {column: µs/step}."""

    def us(ns: int) -> float:
        return ns / steps / 1e3

    if variant == "bare":
        return {"bare": us(time_bare(new_run, steps))}
    if variant == "read":
        return {"read": us(time_read(path, steps))}
    if variant == "read_nogc":
        return {"read_nogc": us(time_read(path, steps, collect=False))}
    if variant == "replay":
        return {"full": us(time_full(path, steps, run_dir))}
    if variant == "loop":
        return {"loop": us(time_loop(path, steps))}
    if variant == "loop_nogc":
        return {"loop_nogc": us(time_loop(path, steps, collect=False))}
    msg = f"unknown variant {variant!r}; expected one of {VARIANTS}"
    raise ValueError(msg)


def bench_size(steps: int, reps: int, tmp: Path) -> SizeResult:
    """Section 1 at one N: record once, then every variant ``reps`` times, interleaved, after a warm-up."""
    workspace = tmp / "echo-workspace"
    path = tmp / f"replay-{steps}.jsonl"
    trace_bytes = record_trace(steps, path, tmp / f"record-{steps}")
    new_run = echo_run_factory(steps, workspace)
    samples: dict[str, list[float]] = {}
    for rep in range(-1, reps):  # rep -1 is the warm-up
        for variant in rotated(VARIANTS, rep):
            # Each measurement frees its objects when it returns, outside its timing; collecting too
            # starts every run from the same collector state, so none pays for passes that earlier
            # runs' allocations (a whole trace at N=5,000) would otherwise set off.
            gc.collect()
            measured = measure_once(variant, path, new_run, steps, tmp / "replay-run")
            if rep >= 0:
                for column, value in measured.items():
                    samples.setdefault(column, []).append(value)
    path.unlink()
    return SizeResult(steps, trace_bytes, {column: Stat.of(values) for column, values in samples.items()})


# --------------------------------------------------------------------------- section 2


@dataclass
class CliResult:
    run_ms: Stat
    replay_ms: Stat
    python_ms: Stat
    replay_line: str
    trace_bytes: int


def record_default_task(tmp: Path) -> Path:
    """The default task's trace, recorded through the CLI as a user would."""
    folder = Path(tempfile.mkdtemp(prefix="cli-record-", dir=tmp))
    time_command([agent_command(), "run", "--trace", "t.jsonl"], folder)
    return folder / "t.jsonl"


def replay_line(trace: Path, tmp: Path) -> str:
    """Replay once, untimed, and return its one line; it must say the replay matched."""
    folder = Path(tempfile.mkdtemp(prefix="cli-check-", dir=tmp))
    done = subprocess.run([agent_command(), "replay", str(trace)], cwd=folder, capture_output=True, text=True, check=False)
    line = done.stdout.strip()
    if done.returncode != 0 or not line.startswith("replay OK"):
        msg = f"`agent replay {trace}` should match; it exited {done.returncode}: {line or done.stderr.strip()[-400:]}"
        raise RuntimeError(msg)
    return line


def bench_cli(reps: int, tmp: Path) -> CliResult:
    """Section 2: ``agent run``, ``agent replay <its trace>`` and ``python -c pass``, interleaved.

    Each ``agent`` command starts in a fresh folder, as both write outputs/ (Hydra's run dir) there.
    """
    agent = agent_command()
    trace = record_default_task(tmp)
    line = replay_line(trace, tmp)
    commands = {
        "run": [agent, "run"],
        "replay": [agent, "replay", str(trace)],
        "python": [sys.executable, "-c", "pass"],
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for rep in range(-1, reps):
        for name in rotated(list(commands), rep):
            cwd = Path(tempfile.mkdtemp(prefix=f"cli-{name}-", dir=tmp))
            ms = time_command(commands[name], cwd)
            if rep >= 0:
                samples[name].append(ms)
    return CliResult(Stat.of(samples["run"]), Stat.of(samples["replay"]), Stat.of(samples["python"]), line, trace.stat().st_size)


# --------------------------------------------------------------------------- the report


@dataclass
class Report:
    args: argparse.Namespace
    sizes: list[SizeResult]
    cli: CliResult
    seconds: float


COLUMNS = {
    "bare": "bare loop",
    "read": "(a) read_trace",
    "read_nogc": "(a), gc off",
    "full": "(b) full replay",
    "loop": "(c) replay loop",
    "loop_nogc": "(c), gc off",
}


def growth(r: Report, column: str) -> float:
    """Median µs/step at the largest N over the smallest: 1.0 is perfectly linear total work."""
    return r.sizes[-1].per_step(column) / r.sizes[0].per_step(column)


def verdict(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def goals_table(r: Report) -> Iterator[str]:
    first, last = r.sizes[0], r.sizes[-1]
    yield "| goal | target | measured | met |"
    yield "|---|---|---|---|"
    for column in ("full", "read", "loop"):
        g = growth(r, column)
        yield (
            f"| {COLUMNS[column]}: per-step cost flat with history | µs/step at N={last.steps:,} / at N={first.steps:,} <= {FLAT_GOAL:.2f} "
            f"| {g:.2f} ({last.per_step(column):.1f} vs {first.per_step(column):.1f} µs/step) | {verdict(g <= FLAT_GOAL)} |"
        )


def per_step_table(r: Report) -> Iterator[str]:
    yield "| N | trace | " + " | ".join(f"{name} µs/step" for name in COLUMNS.values()) + " |"
    yield "|---|---|" + "---|" * len(COLUMNS)
    for s in r.sizes:
        yield f"| {s.steps:,} | {size(s.trace_bytes)} | " + " | ".join(s.stats[c].show() for c in COLUMNS) + " |"
    first, last = r.sizes[0], r.sizes[-1]
    ratios = " | ".join(f"{growth(r, c):.2f}x" for c in COLUMNS)
    yield f"| growth, N={first.steps:,} -> {last.steps:,} (medians) | | {ratios} |"


def throughput_table(r: Report) -> Iterator[str]:
    yield "| N | (b) steps/s | (c) steps/s | bare steps/s | (b) / bare | (c) / bare | (c) - bare µs/step | share of (b) spent reading (a) | (b) - (a) - (c): api.replay's fixed part, ms once |"
    yield "|---|---|---|---|---|---|---|---|---|"
    for s in r.sizes:
        bare, full, loop, read = s.per_step("bare"), s.per_step("full"), s.per_step("loop"), s.per_step("read")
        yield (
            f"| {s.steps:,} | {1e6 / full:,.0f} | {1e6 / loop:,.0f} | {1e6 / bare:,.0f} | {full / bare:.2f}x | {loop / bare:.2f}x "
            f"| {loop - bare:+.1f} | {read / full:.0%} | {(full - read - loop) * s.steps / 1e3:,.1f} |"
        )


def cli_table(r: Report) -> Iterator[str]:
    c = r.cli
    yield f"Trace: the default task recorded by `agent run --trace` ({size(c.trace_bytes)}); replay prints `{c.replay_line.split(' (')[0]}`.\n"
    yield "| command | wall ms median (min-max) |"
    yield "|---|---|"
    yield f"| `agent run` | {c.run_ms.show()} |"
    yield f"| `agent replay <trace>` | {c.replay_ms.show()} |"
    yield f"| `python -c pass` | {c.python_ms.show()} |"
    yield f"| replay - run (medians) | {c.replay_ms.median - c.run_ms.median:+.1f} |"


def trend(r: Report, column: str) -> str:
    """``a -> b µs/step (g.gg x)`` from the smallest N to the largest."""
    first, last = r.sizes[0], r.sizes[-1]
    return f"{first.per_step(column):.1f} -> {last.per_step(column):.1f} µs/step ({growth(r, column):.2f}x)"


def observations(r: Report) -> Iterator[str]:
    """What the numbers say; each claim is checked against them, so a rerun cannot contradict its own text."""
    first, last = r.sizes[0], r.sizes[-1]
    span = f"N={first.steps:,} -> {last.steps:,}"
    loop_flat = growth(r, "loop") <= FLAT_GOAL
    yield (
        f"- Replay loop (c), {span}: {trend(r, 'loop')}; collector off {trend(r, 'loop_nogc')}; bare loop {trend(r, 'bare')}. "
        + (
            "Flat within the goal: O(1) work a step. Per step the session compares the prompt's incremental chain digest with the "
            "recorded sha256, the tool call with the recorded one, and hashes the state summary (message count + digest, not the "
            "messages): nothing re-reads or re-hashes the history."
            if loop_flat
            else f"**Not flat** (goal <= {FLAT_GOAL:.2f}x): some per-step work grows with the history; profile `ReplaySession`."
        )
    )
    ratio = last.per_step("loop") / last.per_step("bare")
    yield (
        f"- The replay loop costs {ratio:.2f}x the bare loop at N={last.steps:,} ({last.per_step('loop') - last.per_step('bare'):+.1f} "
        f"µs/step, {1e6 / last.per_step('loop'):,.0f} steps/s) although no tool runs: the per-step checks (request digest, tool "
        "call arguments parsed and compared twice, once by the toolbox and once by `check_step`, state hash) and the responses "
        "and results rebuilt from the records."
    )
    read_share = last.per_step("read") / last.per_step("full")
    if growth(r, "read_nogc") > FLAT_GOAL:
        cause = "It grows even with the collector off: the reader does more than O(1) work per record."
    elif growth(r, "read") > FLAT_GOAL:
        cause = (
            "The reader's own work is flat; the growth is the cyclic collector's full (gen-2) passes over the `Trace`, which "
            "holds every parsed record (as bench_trace.py's section 2 also found)."
        )
    else:
        cause = "Flat either way."
    yield (
        f"- read_trace (a), {span}: {trend(r, 'read')} with the collector on, {trend(r, 'read_nogc')} with it off. {cause} "
        f"Reading is {read_share:.0%} of a full replay at N={last.steps:,}; (b) goes {trend(r, 'full')}."
    )
    c = r.cli
    yield (
        f"- End to end, `agent replay` of the {size(c.trace_bytes)} default-task trace takes {c.replay_ms.median:,.0f} ms, "
        f"`agent run` {c.run_ms.median:,.0f} ms ({c.replay_ms.median - c.run_ms.median:+.0f} ms). At the rates above a 6-step "
        "replay is well under a millisecond of loop work, so both commands are start-up: Python, Hydra, and for replay its "
        "own imports, reading the trace and composing the recorded config."
    )


def render(r: Report) -> str:
    a = r.args
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    command = "python bench/bench_replay.py " + " ".join(a.argv)
    lines = [
        "# Replay throughput",
        "",
        f"Generated by `bench/bench_replay.py` on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} in {r.seconds:.0f} s. "
        "Recording is measured in [RESULTS-trace.md](RESULTS-trace.md).",
        "",
        "## Goals",
        "",
        *goals_table(r),
        "",
        f"## 1. Synthetic run, history +~1 KB/step: µs/step, median (min-max) of {a.reps} reps",
        "",
        *per_step_table(r),
        "",
        "Throughput and cost relative to the bare loop (from the medians above):",
        "",
        *throughput_table(r),
        "",
        f"## 2. The CLI end to end ({a.cli_reps} runs each, interleaved, fresh cwd each)",
        "",
        *cli_table(r),
        "",
        "## How measured",
        "",
        f"- Command: `{command.strip()}` (from the repository root).",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}; "
        f"{cores} cores ({usable} usable), {cpu_model()}; temp dir `{tempfile.gettempdir()}`.",
        "- Synthetic run: bench_trace.py's, imported from it: `AgentRun` + `Toolbox` with an `echo(text, times)` tool returning "
        f"{ECHO_CHUNK}x{ECHO_TIMES} = {ECHO_CHUNK * ECHO_TIMES} chars and an O(1) LLM that answers on step N. Each N is recorded "
        "once through `agent_harness.api.run(config=..., trace=...)`, the config naming `bench_trace.EchoLLM` and "
        "`bench_trace.echo`; every measurement at that N reads that file.",
        "- bare: `for step in AgentRun(...): pass` on a fresh run. (a): `read_trace(path)`. (b): "
        "`agent_harness.api.replay(path, 'allowed_targets=[bench_trace]')` (read, compose the recorded config, build, loop, "
        "checks), which must report N steps matched. (c): the replay loop alone, from the library's pieces: the trace read "
        "beforehand (untimed), then `ReplaySession(trace)`, `ReplayLLM(session=...)`, `ReplayTools(session=..., "
        "tools={'echo': echo})`, `AgentRun(state=start_state(...trace.prompts[0]), runtime=Runtime(clock=session.clock), "
        "max_steps=the recorded one)`, `drive(run, session.check_step)`, `session.finish(outcome)`. "
        "gc off: separate runs with `gc.disable()` around the read ((a)), or around build + loop ((c)).",
        "- µs/step = wall time of the whole operation / N; steps/s = 1e6 / µs/step. Clock `time.perf_counter_ns`, collector on "
        "unless stated. Variants interleaved, their order rotated every repetition, after one untimed warm-up of each; "
        "`gc.collect()` (untimed) before every measurement so none pays for freeing the previous one's trace.",
        "- CLI: the console script next to the interpreter (not a version-manager shim); each command must exit 0, and one "
        "untimed `agent replay` must print `replay OK`. The trace is recorded once by `agent run --trace`.",
        "",
        "## Observations",
        "",
        *observations(r),
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000], help="run lengths N of section 1")
    parser.add_argument("--reps", type=int, default=11, help="timed repetitions of each variant at each N")
    parser.add_argument("--cli-reps", type=int, default=10, help="runs of each command in section 2")
    parser.add_argument("--write", action="store_true", help=f"also write the report to {RESULTS}")
    args = parser.parse_args(argv)
    if min(args.sizes) < 2:
        parser.error("runs need at least 2 steps (one tool call and a final answer)")
    args.sizes = sorted(set(args.sizes))
    args.argv = list(argv)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as folder:
        tmp = Path(folder)
        sizes = []
        for steps in args.sizes:
            progress(f"1. N={steps}: {args.reps} reps x {len(VARIANTS)} variants")
            sizes.append(bench_size(steps, args.reps, tmp))
        progress(f"2. CLI: agent run / agent replay / python -c pass x {args.cli_reps}")
        cli = bench_cli(args.cli_reps, tmp)
        report = Report(args, sizes, cli, time.perf_counter() - started)
    text = render(report)
    publish(RESULTS, text, write=args.write)


if __name__ == "__main__":
    main()
