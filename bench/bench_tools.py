"""What a tool call's dispatch costs with pydantic's argument check, against the hand-written check it replaced.

Same workload, same run, interleaved: the six built-in tools in a ``Toolbox`` (pydantic) and in
``legacy_toolbox.LegacyToolbox`` (the toolbox before pydantic, copied as the baseline). Sections:

1. ``Toolbox.call`` per call, with valid arguments (calculator, remember, recall) and invalid ones
   (a wrong type, a missing and an unknown argument); and the argument check alone (JSON parse +
   check, no tool run), where the difference is not diluted by the tool's own work.
2. Building the toolbox of the six built-in tools, in process (pydantic already imported).
3. A fresh process that imports the toolbox and builds it: what the first toolbox of a run costs,
   pydantic's import included.

Usage::

    python bench/bench_tools.py            # print the Markdown report
    python bench/bench_tools.py --write    # also write it to bench/RESULTS-tools.md (notes below the marker kept)
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or with -m: beside us are the baseline and helpers

from bench_trace import cpu_model, progress, publish
from legacy_toolbox import LegacyToolbox
from legacy_toolbox import argument_check as legacy_check

import orjson

from agent.records import ToolCall
from agent.runtime import Runtime
from agent.tools import Toolbox
from agent.tools.calculator import calculator
from agent.tools.files import list_files, read_file, write_file
from agent.tools.memory import recall, remember
from agent.tools.schema import ArgumentError, ToolArguments

RESULTS = Path(__file__).with_name("RESULTS-tools.md")
BUILT_IN = (calculator, list_files, read_file, write_file, remember, recall)
VARIANTS = ("before (hand-written check)", "pydantic")
CHECK_GOAL = 1.0  # pydantic's check of valid arguments at least as fast as the hand-written one
DISPATCH_GOAL = 1.02  # and the whole dispatch too, within the 2% these interleaved medians wander on a busy machine

# (label, tool, raw arguments, valid?): the workload of every variant.
CALLS = (
    ("calculator, valid", "calculator", '{"expression": "1200.00 + 349.99 + 89.50 + 2310.25"}', True),
    ("remember, valid", "remember", '{"key": "invoice_total", "value": "3949.74"}', True),
    ("recall (ctx), valid", "recall", '{"key": "invoice_total"}', True),
    ("calculator, wrong type", "calculator", '{"expression": 5}', False),
    ("remember, missing + unknown", "remember", '{"key": "invoice_total", "val": "3949.74"}', False),
)
MEMORY = {"invoice_total": "3949.74"}


def toolboxes(workspace: Path) -> dict[str, Any]:
    tools = {f.__name__: functools.partial(f) for f in BUILT_IN}  # as Hydra's _partial_ builds them
    built = {VARIANTS[0]: LegacyToolbox(workspace=workspace, tools=tools), VARIANTS[1]: Toolbox(workspace=workspace, tools=tools)}
    assert built[VARIANTS[0]].schemas == built[VARIANTS[1]].schemas, "the built-in schemas differ: the comparison would not be like for like"
    return built


def checks() -> dict[str, dict[str, Callable[[str], Any]]]:
    """Per variant and tool: the argument check alone, from raw JSON text to verdict, as each toolbox runs it."""
    legacy, pydantic = {}, {}
    for function in BUILT_IN:
        arguments = ToolArguments(function.__name__, function)
        check = legacy_check(arguments.schema)
        legacy[function.__name__] = lambda raw, check=check: check(orjson.loads(raw))

        def validate(raw: str, arguments: ToolArguments = arguments) -> Any:
            try:
                return arguments.validate(raw)
            except ArgumentError as err:
                return str(err)

        pydantic[function.__name__] = validate
    return {VARIANTS[0]: legacy, VARIANTS[1]: pydantic}


def ns_per_call(function: Callable[[], Any], calls: int) -> float:
    """CPU ns per call of ``function``: the process's CPU time, so that other processes on the machine count less."""
    start = time.process_time_ns()
    for _ in range(calls):
        function()
    return (time.process_time_ns() - start) / calls


def bench_calls(workspace: Path, calls: int, reps: int) -> dict[tuple[str, str, str], list[float]]:
    """ns per call, per (section, workload, variant): each rep times every variant once, in rotated order."""
    boxes, alone = toolboxes(workspace), checks()
    runtime = Runtime()
    jobs: dict[tuple[str, str, str], Callable[[], Any]] = {}
    for label, tool, raw, valid in CALLS:
        call = ToolCall(id="c1", name=tool, arguments=raw)
        for variant in VARIANTS:
            result = boxes[variant].call(call, memory=MEMORY, runtime=runtime)
            assert (result.error is None) == valid, f"{variant} {label}: {result.error}"
            jobs["dispatch", label, variant] = functools.partial(boxes[variant].call, call, memory=MEMORY, runtime=runtime)
            jobs["check", label, variant] = functools.partial(alone[variant][tool], raw)
    times: dict[tuple[str, str, str], list[float]] = {key: [] for key in jobs}
    for job in jobs.values():  # warm-up
        ns_per_call(job, calls // 10)
    for rep in range(reps):
        for section, label, _ in dict.fromkeys((s, lab, "") for s, lab, _ in jobs):
            for variant in VARIANTS[rep % 2 :] + VARIANTS[: rep % 2]:
                times[section, label, variant].append(ns_per_call(jobs[section, label, variant], calls))
    return times


def bench_build(workspace: Path, reps: int) -> dict[str, list[float]]:
    """µs to build the six-tool toolbox in process, per variant."""
    tools = {f.__name__: functools.partial(f) for f in BUILT_IN}
    classes = {VARIANTS[0]: LegacyToolbox, VARIANTS[1]: Toolbox}
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for rep in range(reps):
        for variant in VARIANTS[rep % 2 :] + VARIANTS[: rep % 2]:
            start = time.process_time_ns()
            classes[variant](workspace=workspace, tools=tools)
            times[variant].append((time.process_time_ns() - start) / 1e3)
    return times


FIRST_BUILD = """\
import functools, sys
sys.path.insert(0, {bench!r})
from {module} import {cls} as Box
from agent.tools.calculator import calculator
from agent.tools.files import list_files, read_file, write_file
from agent.tools.memory import recall, remember
Box(workspace=".", tools={{f.__name__: functools.partial(f) for f in (calculator, list_files, read_file, write_file, remember, recall)}})
"""


def bench_first_build(reps: int, cwd: Path) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall ms and CPU ms (user + system) of a fresh interpreter that imports the toolbox and builds it, per variant, and of ``python -c pass``."""
    bench = str(Path(__file__).resolve().parent)
    programs = {
        VARIANTS[0]: FIRST_BUILD.format(bench=bench, module="legacy_toolbox", cls="LegacyToolbox"),
        VARIANTS[1]: FIRST_BUILD.format(bench=bench, module="agent.tools", cls="Toolbox"),
        "python -c pass": "pass",
    }
    wall: dict[str, list[float]] = {key: [] for key in programs}
    cpu: dict[str, list[float]] = {key: [] for key in programs}
    names = list(programs)
    for rep in range(reps):
        for name in names[rep % 3 :] + names[: rep % 3]:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter_ns()
            subprocess.run([sys.executable, "-c", programs[name]], cwd=cwd, check=True, capture_output=True)
            wall[name].append((time.perf_counter_ns() - start) / 1e6)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1e3)
    return wall, cpu


def spread(values: Sequence[float], digits: int = 0) -> str:
    return f"{statistics.median(values):,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def render(
    times: dict[tuple[str, str, str], list[float]],
    build: dict[str, list[float]],
    first: tuple[dict[str, list[float]], dict[str, list[float]]],
    options: argparse.Namespace,
    load: tuple[float, float],
    seconds: float,
) -> str:
    before, after = VARIANTS
    ratio = {key[:2]: statistics.median(times[(*key[:2], after)]) / statistics.median(times[(*key[:2], before)]) for key in times}
    valid = [label for label, _, _, ok in CALLS if ok]
    worst = {section: max(ratio[section, label] for label in valid) for section in ("check", "dispatch")}
    lines = [
        "# Tool dispatch: pydantic's argument check against the hand-written one",
        "",
        f"Generated by `bench/bench_tools.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {seconds:.0f} s "
        f"({platform.python_implementation()} {platform.python_version()}, {cpu_model()}, {os.cpu_count()} CPUs; "
        f"load average {load[0]:.1f} at the start, {load[1]:.1f} at the end).",
        "",
        "## Goal",
        "",
        "| goal | target | measured | met |",
        "|---|---|---|---|",
        f"| argument check alone, valid arguments: pydantic / before (worst of {len(valid)} tools, medians) | <= {CHECK_GOAL:.2f} | {worst['check']:.3f} | {'yes' if worst['check'] <= CHECK_GOAL else 'no'} |",
        f"| `Toolbox.call`, valid arguments: pydantic / before (worst of {len(valid)} tools, medians) | <= {DISPATCH_GOAL:.2f} | {worst['dispatch']:.3f} | {'yes' if worst['dispatch'] <= DISPATCH_GOAL else 'no'} |",
        "",
        f"## 1. Per call: CPU ns, median (min-max) of {options.reps} reps of {options.calls:,} calls, interleaved",
        "",
        f"| workload | {before} | {after} | pydantic / before |",
        "|---|---|---|---|",
    ]
    for section, title in (("dispatch", "`Toolbox.call`"), ("check", "check alone (parse + check)")):
        for label, *_ in CALLS:
            key = (section, label)
            lines.append(f"| {title}: {label} | {spread(times[(*key, before)])} | {spread(times[(*key, after)])} | {ratio[key]:.2f}x |")
    lines += [
        "",
        f"## 2. Building the toolbox of the six built-in tools, in process: CPU µs, median (min-max) of {options.reps} builds",
        "",
        f"| {before} | {after} | pydantic / before |",
        "|---|---|---|",
        f"| {spread(build[before])} | {spread(build[after])} | {statistics.median(build[after]) / statistics.median(build[before]):.1f}x |",
        "",
        f"## 3. A fresh process that imports the toolbox and builds it: ms, median (min-max) of {options.process_reps} runs, interleaved",
        "",
        "| program | wall ms | CPU ms (user + system) | CPU minus `python -c pass` (medians) |",
        "|---|---|---|---|",
    ]
    wall, cpu = first
    base = statistics.median(cpu["python -c pass"])
    for name in wall:
        lines.append(f"| {name} | {spread(wall[name], 1)} | {spread(cpu[name], 1)} | {statistics.median(cpu[name]) - base:+.1f} |")
    lines += [
        "",
        "## Method",
        "",
        "- Times are CPU time (the process's own, or its children's for section 3), not wall time, so that other work on "
        "the machine weighs less; the variants are interleaved, and medians compared.",
        "- Both toolboxes hold the six built-in tools as `functools.partial`s (as Hydra's `_partial_` builds them), "
        "and their schemas are checked equal before timing. The baseline is `bench/legacy_toolbox.py`, a copy of the "
        "toolbox at commit 55838ea (orjson parse + a precompiled per-tool type test).",
        "- Dispatch is `Toolbox.call(ToolCall, memory=..., runtime=...)`, the tool run included (the calculator parses its "
        "expression with `ast`, so its rows are diluted by its own work; remember and recall are cheap). "
        "Each workload's result is checked (valid calls succeed, invalid ones are refused) before timing.",
        "- The check alone: before, `orjson.loads` + the precompiled check; pydantic, `ToolArguments.validate` (orjson parse "
        "+ pydantic's validator, and for refused calls building the one-line message, raised as `ArgumentError` and caught).",
        "- Section 3 is the one-off cost a run pays for its first toolbox: mostly importing pydantic (the package imports it "
        "only when a toolbox is built, so `agent trace inspect` and `agent trace diff` do not pay it).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000, help="calls per timed batch (section 1)")
    parser.add_argument("--reps", type=int, default=15, help="timed batches per workload and variant (sections 1 and 2)")
    parser.add_argument("--process-reps", type=int, default=15, help="fresh processes per variant (section 3)")
    parser.add_argument("--write", action="store_true", help=f"also write the report to {RESULTS}")
    options = parser.parse_args(sys.argv[1:] if argv is None else argv)
    started, load = time.perf_counter(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-tools-") as folder:
        workspace = Path(folder)
        progress(f"1. {len(CALLS)} workloads x {len(VARIANTS)} variants x 2 sections, {options.reps} reps of {options.calls} calls")
        times = bench_calls(workspace, options.calls, options.reps)
        progress("2. building the toolbox")
        build = bench_build(workspace, options.reps)
        progress(f"3. fresh processes, {options.process_reps} per variant")
        first = bench_first_build(options.process_reps, workspace)
    publish(RESULTS, render(times, build, first, options, (load, os.getloadavg()[0]), time.perf_counter() - started), write=options.write)


if __name__ == "__main__":
    main()
