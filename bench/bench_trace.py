"""What recording a run costs: the trace layer measured against the bare agent loop.

Four sections, all measured in one process so that ratios compare like with like:

1. A synthetic run of ``--steps`` steps (default 1,000) built with the real ``AgentRun``, an
   in-bench O(1) LLM and an echo tool whose ~1 KB output makes the history grow ~1 KB a step.
   Variants: ``bare`` (iterate the loop, no tracing layer), ``off`` (``agent.loop.drive``, what
   ``agent run`` does with trace=false) and ``on`` (``TraceWriter.record`` to a fresh file).
2. Growth: ``bare`` and ``on`` at several N, trace bytes, and the time to read the trace back.
3. The default task: ``agent run`` with and without ``--trace`` as subprocesses, and the same
   task's loop in process (composed and built by ``agent_harness``), bare vs off vs on, per step.
4. ``agent trace inspect`` start-up against ``python -c pass``, and whether it imports Hydra.

Usage::

    python bench/bench_trace.py            # print the Markdown report
    python bench/bench_trace.py --write    # also write it to bench/RESULTS-trace.md

Timings use ``time.perf_counter_ns`` with the garbage collector left on, as in real runs.
Variants are interleaved (their order rotated every repetition) so drift hits all of them alike.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from agent.loop import AgentRun, drive, start_state
from agent.records import LLMRequest, LLMResponse, ToolCall, Usage
from agent.runtime import Runtime
from agent.tools import Toolbox
from tracing.reader import read_trace
from tracing.writer import TraceWriter, make_header

RESULTS = Path(__file__).with_name("RESULTS-trace.md")
NOTES_MARKER = "<!-- hand-written notes below this line are kept by --write -->"

VARIANTS = ("bare", "off", "on")
ECHO_CHUNK = 64  # characters the model sends to the echo tool
ECHO_TIMES = 16  # the tool repeats them: 64 * 16 = 1 KB of output a step

# Goals, as the design states them.
OFF_GOAL = 1.02  # off within 2% of bare
FLAT_GOAL = 1.25  # on µs/step at the largest N at most 25% above the smallest N
LINEAR_GOAL = 1.05  # trace bytes/step within 5% across N
INSPECT_GOAL_MS = 100.0


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True, slots=True)
class Stat:
    """Median and range of repeated measurements, in whatever unit they were given."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        return cls(statistics.median(values), min(values), max(values))

    def show(self, digits: int = 1) -> str:
        """``median (min-max)``, as the peer baselines print it."""
        return f"{self.median:,.{digits}f} ({self.low:,.{digits}f}-{self.high:,.{digits}f})"


def rotated(items: Sequence[str], rep: int) -> list[str]:
    """``items`` starting at position ``rep``: each variant takes every slot in turn."""
    k = rep % len(items)
    return [*items[k:], *items[:k]]


def cpu_model() -> str:
    """The CPU's model name where Linux tells it, else the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def size(n: float) -> str:
    """Bytes in a short human form."""
    for unit, scale in (("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.2f} {unit}"
    return f"{n:,.0f} B"


# --------------------------------------------------------------------------- the synthetic run


def echo(text: str, times: int = 1) -> str:
    """Echo text back, repeated.

    Args:
        text: the text to echo.
        times: how many times to repeat it.
    """
    return text * times


class EchoLLM:
    """Calls ``echo`` once a step and answers on the last step; O(1) per call.

    The turn is read from the length of the history (``History.__len__`` is O(1)): the prompt of
    turn k holds the system and user messages plus k (assistant, tool) pairs. No history scan.
    """

    def __init__(self, *, steps: int) -> None:
        self.model = "bench-echo"
        self.params = {"temperature": 0.0}
        self.last_turn = steps - 1

    def complete(self, request: LLMRequest) -> LLMResponse:
        turn = (len(request.messages) - 2) // 2
        usage = Usage(prompt_tokens=300 * (turn + 1), completion_tokens=30)
        if turn >= self.last_turn:
            return LLMResponse(message={"role": "assistant", "content": f"done after {turn + 1} steps"}, usage=usage)
        text = f"step {turn:07d} echo ".ljust(ECHO_CHUNK, ".")
        call = ToolCall(id=f"call_{turn}", name="echo", arguments=orjson.dumps({"text": text, "times": ECHO_TIMES}).decode())
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}],
        }
        return LLMResponse(message=message, tool_calls=(call,), usage=usage)


def echo_run_factory(steps: int, workspace: Path) -> Callable[[], AgentRun]:
    """A maker of fresh synthetic runs of ``steps`` steps (toolbox and LLM built once, as a job does)."""
    tools = Toolbox(workspace=workspace, tools={"echo": echo})
    llm = EchoLLM(steps=steps)

    def new_run() -> AgentRun:
        state = start_state(system_prompt="You are a benchmark agent.", prompt="Echo until told to stop.")
        return AgentRun(state=state, llm=llm, tools=tools, runtime=Runtime(seed=0), max_steps=steps)

    return new_run


def synthetic_header() -> dict[str, Any]:
    return make_header(config={}, overrides=[], choices={}, job={}, versions={})


# --------------------------------------------------------------------------- timing one run


class TracePaths:
    """Fresh trace file names in one folder (the writer refuses to overwrite a file)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def next(self) -> Path:
        self.count += 1
        return self.folder / f"trace-{self.count}.jsonl"


def time_run(variant: str, run: AgentRun, trace: Path, header: dict[str, Any]) -> int:
    """Nanoseconds to run ``run`` to its end as ``variant``.

    ``on`` includes creating the file and writing the header and end record: that is what a
    traced run pays, and over many steps it is a small fixed part.
    """
    if variant == "bare":
        start = time.perf_counter_ns()
        for _ in run:
            pass
        return time.perf_counter_ns() - start
    if variant == "off":
        start = time.perf_counter_ns()
        drive(run)
        return time.perf_counter_ns() - start
    start = time.perf_counter_ns()
    with TraceWriter.create(trace, header) as writer:
        writer.record(run)
    return time.perf_counter_ns() - start


def check_finished(run: AgentRun, steps: int) -> None:
    """Fail loudly if a timed run did not do what the benchmark assumes."""
    outcome = run.outcome
    if outcome is None or outcome.status != "finished" or outcome.steps != steps:
        got = "no outcome" if outcome is None else f"{outcome.status} after {outcome.steps} steps ({outcome.error})"
        msg = f"a benchmark run should finish after {steps} steps; got {got}"
        raise RuntimeError(msg)


@dataclass
class VariantTimes:
    """Per-step times (µs) of each variant, and the bytes of the last trace written."""

    us_per_step: dict[str, list[float]]
    trace_bytes: int = 0
    last_trace: Path | None = None


def time_variants(
    variants: Sequence[str],
    new_run: Callable[[], AgentRun],
    *,
    steps: int,
    reps: int,
    paths: TracePaths,
    header: Callable[[], dict[str, Any]],
) -> VariantTimes:
    """Run each variant ``reps`` times, interleaved, after one untimed warm-up run of each."""
    times = VariantTimes({v: [] for v in variants})
    for rep in range(-1, reps):  # rep -1 is the warm-up
        for variant in rotated(variants, rep):
            run, trace = new_run(), paths.next()
            ns = time_run(variant, run, trace, header())
            check_finished(run, steps)
            if variant == "on":
                times.trace_bytes = trace.stat().st_size
                if times.last_trace is not None:
                    times.last_trace.unlink()
                times.last_trace = trace
            if rep >= 0:
                times.us_per_step[variant].append(ns / steps / 1e3)
    return times


def read_ns(trace: Path, steps: int, *, collect: bool = True) -> int:
    """Nanoseconds of one ``read_trace`` (parse, check, rebuild and verify every prompt), checked to hold ``steps``.

    ``collect=False`` turns the cyclic garbage collector off while reading, to tell the reader's
    own cost from the collector scanning the records it keeps in memory.
    """
    if not collect:
        gc.disable()
    try:
        start = time.perf_counter_ns()
        read = read_trace(trace)
        ns = time.perf_counter_ns() - start
    finally:
        gc.enable()
    if len(read.steps) != steps or read.end is None:
        msg = f"{trace} read back as {len(read.steps)} steps (end record: {read.end is not None}); expected {steps} and an end"
        raise RuntimeError(msg)
    return ns


def time_read(trace: Path, steps: int, reps: int, *, collect: bool = True) -> Stat:
    """µs per step to read a trace back with ``read_trace``, over ``reps`` reads after one warm-up."""
    samples = [read_ns(trace, steps, collect=collect) / steps / 1e3 for _ in range(reps + 1)]
    return Stat.of(samples[1:])


def history_bytes(new_run: Callable[[], AgentRun]) -> int:
    """Bytes of the final message history as JSON, to check the ~1 KB/step premise."""
    run = new_run()
    drive(run)
    return len(orjson.dumps(list(run.state.messages)))


# --------------------------------------------------------------------------- sections 1 and 2


@dataclass
class SyntheticResult:
    steps: int
    stats: dict[str, Stat]
    trace_bytes: int
    history_bytes: int


def bench_synthetic(steps: int, reps: int, tmp: Path) -> SyntheticResult:
    """Section 1: bare vs off vs on over one N-step synthetic run."""
    new_run = echo_run_factory(steps, tmp / "echo-workspace")
    times = time_variants(VARIANTS, new_run, steps=steps, reps=reps, paths=TracePaths(tmp / "s1"), header=synthetic_header)
    stats = {v: Stat.of(us) for v, us in times.us_per_step.items()}
    return SyntheticResult(steps, stats, times.trace_bytes, history_bytes(new_run))


@dataclass
class GrowthRow:
    steps: int
    bare: Stat
    on: Stat
    read: Stat
    read_no_gc: Stat
    trace_bytes: int


def bench_growth(sizes: Sequence[int], reps: int, tmp: Path) -> list[GrowthRow]:
    """Section 2: bare and on at each N, trace bytes, and reading each trace back."""
    rows = []
    for steps in sizes:
        new_run = echo_run_factory(steps, tmp / "echo-workspace")
        times = time_variants(("bare", "on"), new_run, steps=steps, reps=reps, paths=TracePaths(tmp / f"s2-{steps}"), header=synthetic_header)
        assert times.last_trace is not None
        read = time_read(times.last_trace, steps, reps)
        read_no_gc = time_read(times.last_trace, steps, reps, collect=False)
        times.last_trace.unlink()
        bare, on = Stat.of(times.us_per_step["bare"]), Stat.of(times.us_per_step["on"])
        rows.append(GrowthRow(steps, bare, on, read, read_no_gc, times.trace_bytes))
    return rows


# --------------------------------------------------------------------------- section 3


@dataclass
class TaskResult:
    name: str
    steps: int
    runs: int
    stats: dict[str, Stat]
    trace_bytes: int


def bench_default_task(runs: int, tmp: Path) -> TaskResult:
    """Section 3, in process: the default task's loop, bare vs off vs on per step.

    This section measures the loop and the writer alone, so it builds each run from the library's
    pieces (``compose`` + ``build_run``, as ``agent_harness.api.run`` does) instead of calling
    ``api.run``, whose composition, run folder and header would be timed with every 6-step run.
    A fresh run dir for every run (untimed), so every run starts from the seeded workspace.
    """
    from omegaconf import OmegaConf

    from agent_harness.build import build_run
    from agent_harness.compose import compose

    runs_dir = tmp / "task-runs"
    cfg = compose([f"run_dir={runs_dir / 'first'}"]).config
    config = OmegaConf.to_container(cfg, resolve=True)
    fresh = iter(range(1_000_000_000))

    def header() -> dict[str, Any]:
        return make_header(config=config, overrides=[], choices={}, job={}, versions={})  # type: ignore[arg-type]

    def new_run() -> AgentRun:
        cfg.run_dir = str(runs_dir / str(next(fresh)))
        return build_run(cfg)

    steps = len(cfg.task.script)
    times = time_variants(VARIANTS, new_run, steps=steps, reps=runs, paths=TracePaths(tmp / "s3"), header=header)
    stats = {v: Stat.of(us) for v, us in times.us_per_step.items()}
    return TaskResult(cfg.task.name, steps, runs, stats, times.trace_bytes)


def agent_command() -> str:
    """The installed ``agent`` console script itself, not a version-manager shim in front of it."""
    script = Path(sysconfig.get_path("scripts")) / "agent"
    if script.exists():
        return str(script)
    found = shutil.which("agent")
    if found is None:
        msg = "no `agent` command found; install the package with `pip install -e '.[dev]'`"
        raise RuntimeError(msg)
    return found


def time_command(args: Sequence[str], cwd: Path) -> float:
    """Wall milliseconds of one subprocess; it must succeed."""
    start = time.perf_counter_ns()
    done = subprocess.run(args, cwd=cwd, capture_output=True, check=False)
    ms = (time.perf_counter_ns() - start) / 1e6
    if done.returncode != 0:
        msg = f"`{' '.join(args)}` exited {done.returncode}: {done.stderr.decode(errors='replace').strip()[-400:]}"
        raise RuntimeError(msg)
    return ms


@dataclass
class CliResult:
    off_ms: Stat
    on_ms: Stat
    trace: Path


def bench_cli_run(reps: int, tmp: Path) -> CliResult:
    """Section 3, end to end: ``agent run`` vs ``agent run --trace`` as subprocesses, interleaved.

    Each run starts in a fresh folder so that its outputs/ (and Hydra's run dir) go there.
    """
    agent = agent_command()
    samples: dict[str, list[float]] = {"off": [], "on": []}
    trace = None
    for rep in range(-1, reps):
        for variant in rotated(("off", "on"), rep):
            cwd = Path(tempfile.mkdtemp(prefix=f"cli-{variant}-", dir=tmp))
            args = [agent, "run"]
            if variant == "on":
                trace = cwd / "t.jsonl"
                args += ["--trace", str(trace)]
            ms = time_command(args, cwd)
            if rep >= 0:
                samples[variant].append(ms)
    assert trace is not None
    return CliResult(Stat.of(samples["off"]), Stat.of(samples["on"]), trace)


# --------------------------------------------------------------------------- section 4

_IMPORT_CHECK = """\
import contextlib, io, sys
from agent_harness.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["trace", "inspect", sys.argv[1]])
print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & {"hydra", "omegaconf"})) or "none")
"""


@dataclass
class InspectResult:
    inspect_ms: Stat
    python_ms: Stat
    shim_ms: Stat | None
    shim: str | None
    heavy_imports: str
    trace_bytes: int


def bench_inspect(trace: Path, reps: int, tmp: Path) -> InspectResult:
    """Section 4: ``agent trace inspect`` start-up vs ``python -c pass``, and what it imports."""
    agent = agent_command()
    commands = {"inspect": [agent, "trace", "inspect", str(trace)], "python": [sys.executable, "-c", "pass"]}
    shim = shutil.which("agent")
    if shim is not None and Path(shim).resolve() != Path(agent).resolve():
        commands["shim"] = [shim, "trace", "inspect", str(trace)]  # what a user typing `agent` gets
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for rep in range(-1, reps):
        for name in rotated(list(commands), rep):
            ms = time_command(commands[name], tmp)
            if rep >= 0:
                samples[name].append(ms)
    check = subprocess.run([sys.executable, "-c", _IMPORT_CHECK, str(trace)], capture_output=True, text=True, check=True, cwd=tmp)
    return InspectResult(
        inspect_ms=Stat.of(samples["inspect"]),
        python_ms=Stat.of(samples["python"]),
        shim_ms=Stat.of(samples["shim"]) if "shim" in samples else None,
        shim=shim if "shim" in samples else None,
        heavy_imports=check.stdout.strip(),
        trace_bytes=trace.stat().st_size,
    )


# --------------------------------------------------------------------------- the report


@dataclass
class Report:
    args: argparse.Namespace
    synthetic: SyntheticResult
    growth: list[GrowthRow]
    task: TaskResult
    cli: CliResult
    inspect: InspectResult
    seconds: float


def verdict(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def goals_table(r: Report) -> Iterator[str]:
    s, first, last = r.synthetic.stats, r.growth[0], r.growth[-1]
    off_ratio = s["off"].median / s["bare"].median
    flat = last.on.median / first.on.median
    per_step = [row.trace_bytes / row.steps for row in r.growth]
    linear = max(per_step) / min(per_step)
    inspect = r.inspect.inspect_ms.median
    yield "| goal | target | measured | met |"
    yield "|---|---|---|---|"
    yield f"| `off` costs no more than `bare` ({r.synthetic.steps} steps) | off/bare <= {OFF_GOAL:.2f} | {off_ratio:.3f} (medians) | {verdict(off_ratio <= OFF_GOAL)} |"
    yield (
        f"| `on` per-step cost flat with history | µs/step at N={last.steps:,} / at N={first.steps:,} <= {FLAT_GOAL:.2f} "
        f"| {flat:.2f} ({last.on.median:.1f} vs {first.on.median:.1f} µs/step) | {verdict(flat <= FLAT_GOAL)} |"
    )
    yield (
        f"| trace bytes linear in steps | bytes/step max/min over N <= {LINEAR_GOAL:.2f} "
        f"| {linear:.3f} ({min(per_step):,.0f}-{max(per_step):,.0f} B/step) | {verdict(linear <= LINEAR_GOAL)} |"
    )
    yield f"| `agent trace inspect` start-up | median < {INSPECT_GOAL_MS:.0f} ms | {inspect:.1f} ms | {verdict(inspect < INSPECT_GOAL_MS)} |"
    yield f"| `agent trace inspect` does not import Hydra | hydra, omegaconf not in sys.modules | imported: {r.inspect.heavy_imports} | {verdict(r.inspect.heavy_imports == 'none')} |"


def synthetic_table(r: Report) -> Iterator[str]:
    res = r.synthetic
    bare = res.stats["bare"].median
    yield "| variant | what runs | µs/step median (min-max) | ratio to bare | overhead µs/step | trace bytes |"
    yield "|---|---|---|---|---|---|"
    what = {
        "bare": "`for step in AgentRun(...): pass`",
        "off": "`agent.loop.drive(run)` (agent run, trace=false)",
        "on": "`TraceWriter.create(path, header).record(run)` (agent run --trace)",
    }
    for variant in VARIANTS:
        stat = res.stats[variant]
        trace = size(res.trace_bytes) if variant == "on" else "-"
        yield f"| {variant} | {what[variant]} | {stat.show()} | {stat.median / bare:.3f}x | {stat.median - bare:+.2f} | {trace} |"


def growth_table(r: Report) -> Iterator[str]:
    yield "| N | bare µs/step | on µs/step | on/bare | on overhead µs/step | trace bytes | bytes/step | read_trace µs/step | read_trace, gc off |"
    yield "|---|---|---|---|---|---|---|---|---|"
    for row in r.growth:
        yield (
            f"| {row.steps:,} | {row.bare.show()} | {row.on.show()} | {row.on.median / row.bare.median:.2f}x "
            f"| {row.on.median - row.bare.median:.1f} | {size(row.trace_bytes)} | {row.trace_bytes / row.steps:,.0f} "
            f"| {row.read.show()} | {row.read_no_gc.show()} |"
        )


def task_tables(r: Report) -> Iterator[str]:
    t, cli = r.task, r.cli
    bare = t.stats["bare"].median
    yield f"In process: task `{t.name}`, {t.steps} steps, {t.runs} runs per variant (workspace re-seeded before each run, untimed).\n"
    yield "| variant | µs/step median (min-max) | ratio to bare | µs per run (median) | trace bytes |"
    yield "|---|---|---|---|---|"
    for variant in VARIANTS:
        stat = t.stats[variant]
        trace = size(t.trace_bytes) if variant == "on" else "-"
        yield f"| {variant} | {stat.show()} | {stat.median / bare:.3f}x | {stat.median * t.steps:,.0f} | {trace} |"
    yield ""
    yield f"End to end, as subprocesses ({r.args.cli_reps} runs each, interleaved, fresh cwd each):\n"
    yield "| command | wall ms median (min-max) |"
    yield "|---|---|"
    yield f"| `agent run` | {cli.off_ms.show()} |"
    yield f"| `agent run --trace <tmp>/t.jsonl` | {cli.on_ms.show()} |"
    yield f"| difference (on - off, medians) | {cli.on_ms.median - cli.off_ms.median:+.1f} |"


def inspect_table(r: Report) -> Iterator[str]:
    i = r.inspect
    yield f"Trace: the default task's trace from section 3 ({size(i.trace_bytes)}); {r.args.inspect_reps} runs each, interleaved.\n"
    yield "| command | wall ms median (min-max) |"
    yield "|---|---|"
    yield f"| `agent trace inspect <trace>` (console script `{agent_command()}`) | {i.inspect_ms.show()} |"
    if i.shim_ms is not None:
        yield f"| same through the `agent` found on PATH (`{i.shim}`) | {i.shim_ms.show()} |"
    yield f"| `python -c pass` (`{sys.executable}`) | {i.python_ms.show()} |"
    yield f"| inspect minus bare interpreter (medians) | {i.inspect_ms.median - i.python_ms.median:+.1f} |"
    yield ""
    yield f"Hydra check (run `agent trace inspect` in a fresh interpreter, then look at `sys.modules`): hydra/omegaconf imported: **{i.heavy_imports}**."


def observations(r: Report) -> Iterator[str]:
    s = r.synthetic
    history_per_step = s.history_bytes / s.steps
    trace_per_step = s.trace_bytes / s.steps
    first, last = r.growth[0], r.growth[-1]
    read_growth = last.read.median / first.read.median
    yield f"- History premise: the final history of the {s.steps:,}-step run is {size(s.history_bytes)} of JSON, {history_per_step:,.0f} B/step."
    yield (
        f"- Trace bytes/step ({trace_per_step:,.0f}) are {trace_per_step / history_per_step:.1f}x the history growth: each step's "
        "tool output is written once as the tool call's raw `output` and again, as the tool message, in the next step's "
        "`messages.new` (likewise the assistant message: `response.message`, then `messages.new`). Linear, as required."
    )
    yield (
        f"- `on` adds {s.stats['on'].median - s.stats['bare'].median:.1f} µs/step over `bare` at N={s.steps:,}; "
        f"from N={first.steps:,} to N={last.steps:,} `on` goes {first.on.median:.1f} -> {last.on.median:.1f} µs/step: "
        "the writer does O(1) work a step."
    )
    yield (
        f"- Reading is not flat: read_trace goes {first.read.median:.1f} -> {last.read.median:.1f} µs/step ({read_growth:.2f}x) "
        f"from N={first.steps:,} to N={last.steps:,}, and {first.read_no_gc.median:.1f} -> {last.read_no_gc.median:.1f} µs/step "
        "with the collector off. `Trace` keeps every parsed record in memory, so the cyclic GC rescans a growing heap and "
        "fresh memory has to be faulted in; the reader's own work per record is O(1) (kept prompts share one History)."
    )
    t = r.task
    yield (
        f"- Default task: tracing costs {t.stats['on'].median - t.stats['bare'].median:,.0f} µs/step in process "
        f"({(t.stats['on'].median - t.stats['bare'].median) * t.steps / 1e3:.2f} ms a run, file creation and header included), "
        f"against {r.cli.off_ms.median:,.0f} ms for the whole `agent run`: start-up (Python, Hydra) dominates the command."
    )


def render(r: Report) -> str:
    a = r.args
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    command = "python bench/bench_trace.py " + " ".join(a.argv)
    lines = [
        "# Trace layer benchmark",
        "",
        f"Generated by `bench/bench_trace.py` on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} in {r.seconds:.0f} s.",
        "",
        "## Goals",
        "",
        *goals_table(r),
        "",
        f"## 1. Synthetic run: {r.synthetic.steps:,} steps, history +~1 KB/step ({a.reps} reps per variant)",
        "",
        *synthetic_table(r),
        "",
        f"## 2. Growth with N (`bare` and `on`, {a.reps} reps each; read_trace {a.reps} reps on the last trace)",
        "",
        *growth_table(r),
        "",
        "## 3. The default task",
        "",
        *task_tables(r),
        "",
        "## 4. `agent trace inspect` start-up",
        "",
        *inspect_table(r),
        "",
        "## How measured",
        "",
        f"- Command: `{command.strip()}` (from the repository root).",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}; "
        f"{cores} cores ({usable} usable), {cpu_model()}; temp dir `{tempfile.gettempdir()}`.",
        "- Clock: `time.perf_counter_ns`; garbage collector on, as in real runs. One process for sections 1-3 (in process), "
        "so ratios compare like with like; µs/step = wall time of a whole run / its steps.",
        "- Every measurement is preceded by one untimed warm-up; variants are interleaved with their order rotated "
        "each repetition. Medians, (min-max) in brackets.",
        "- Synthetic run: `agent.loop.AgentRun` + `agent.tools.Toolbox` (tmp workspace) with an `echo(text, times)` tool "
        f"returning {ECHO_CHUNK}x{ECHO_TIMES} = {ECHO_CHUNK * ECHO_TIMES} chars, and an in-bench LLM that picks its turn from "
        "`len(request.messages)` (O(1)), calls `echo` every step and answers on step N; `max_steps=N`. Every timed run is "
        "checked to end `finished` after exactly N steps.",
        "- `on` times `TraceWriter.create` (open + header) through `record` (steps + end record) and `close`, to a fresh "
        "file; header from `make_header(config={}, ...)` (section 3: the resolved task config).",
        "- read_trace: `tracing.reader.read_trace` of the whole file (parse, check, rebuild and verify every prompt's sha256).",
        "- Subprocesses run the console script next to the interpreter, not a version-manager shim, and must exit 0.",
    ]
    return "\n".join([*lines, "", "## Observations", "", *observations(r), ""])


def publish(path: Path, text: str, *, write: bool) -> None:
    """Print a generated report and, when ``write``, write it to ``path`` keeping the hand-written notes."""
    print(text)
    if write:
        write_keeping_notes(path, text)
        progress(f"wrote {path}")


def write_keeping_notes(path: Path, text: str) -> None:
    """Write a generated results file, keeping the hand-written notes below NOTES_MARKER of the one it replaces."""
    notes = "\n"
    if path.exists():
        _, found, rest = path.read_text(encoding="utf-8").partition(NOTES_MARKER)
        notes = rest if found else notes
    path.write_text(text + "\n" + NOTES_MARKER + notes, encoding="utf-8")


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000, help="steps of the section 1 synthetic run")
    parser.add_argument("--reps", type=int, default=9, help="timed repetitions of each variant (sections 1 and 2)")
    parser.add_argument("--growth", type=int, nargs="+", default=[100, 1000, 5000], help="run lengths for section 2")
    parser.add_argument("--task-runs", type=int, default=200, help="in-process runs of the default task per variant")
    parser.add_argument("--cli-reps", type=int, default=10, help="`agent run` subprocesses per variant")
    parser.add_argument("--inspect-reps", type=int, default=20, help="`agent trace inspect` and `python -c pass` runs")
    parser.add_argument("--write", action="store_true", help=f"also write the report to {RESULTS}")
    args = parser.parse_args(argv)
    if args.steps < 2 or min(args.growth) < 2:
        parser.error("runs need at least 2 steps (one tool call and a final answer)")
    args.argv = list(argv)
    return args


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-trace-") as folder:
        tmp = Path(folder)
        progress(f"1. synthetic run, {args.steps} steps x {args.reps} reps x {len(VARIANTS)} variants")
        synthetic = bench_synthetic(args.steps, args.reps, tmp)
        progress(f"2. growth at N={args.growth}")
        growth = bench_growth(sorted(args.growth), args.reps, tmp)
        progress(f"3. default task: {args.task_runs} in-process runs per variant, {args.cli_reps} CLI runs per variant")
        task = bench_default_task(args.task_runs, tmp)
        cli = bench_cli_run(args.cli_reps, tmp)
        progress(f"4. agent trace inspect x {args.inspect_reps}")
        inspect = bench_inspect(cli.trace, args.inspect_reps, tmp)
        report = Report(args, synthetic, growth, task, cli, inspect, time.perf_counter() - started)
    text = render(report)
    publish(RESULTS, text, write=args.write)


if __name__ == "__main__":
    main()
