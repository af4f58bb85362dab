"""`agent trace inspect` of a long trace: wall time and peak memory (issue: constant memory, linear time).

Run from the repository root: ``python bench/bench_inspect.py [--steps 100000] [--write]``. The trace
is the synthetic run of bench_trace.py (history +~1 KB a step), recorded once; inspect runs as a
subprocess, and its peak RSS is read from ``resource.getrusage(RUSAGE_CHILDREN)``.

``--crossover`` instead times inspect of small traces both ways a reader can take (tracing.quickread:
the standard library's json and sha256, or orjson and OpenSSL), to show where ``QUICK_MAX_BYTES``
should sit: below it the quick way's cheaper imports win, above it orjson's faster parsing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_trace import agent_command, echo_run_factory, synthetic_header  # noqa: E402

from tracing.writer import TraceWriter  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS-inspect.md"


def record(steps: int, folder: Path) -> Path:
    """A trace of the synthetic run with ``steps`` steps.

    Input data for inspect, written with the writer alone rather than through ``agent_harness.api.run``:
    inspect reads whatever config a header holds, and no composition is needed to make 100,000 steps.
    """
    path = folder / f"synthetic-{steps}.jsonl"
    with TraceWriter.create(path, synthetic_header()) as writer:
        writer.record(echo_run_factory(steps, folder)())
    return path


def inspect(trace: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of `agent trace inspect TRACE` in a fresh process, its output discarded."""
    code = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, agent_command(), "trace", "inspect", str(trace)], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, int(done.stdout) / 1024


_FORCED = "import sys; from tracing import quickread; quickread.QUICK_MAX_BYTES = int(sys.argv[1]); from agent_harness.cli import main; main(sys.argv[2:])"


def crossover(steps: list[int], rounds: int, folder: Path) -> list[str]:
    """Rows of inspect's wall time (median ms) each way, for traces of ``steps`` steps; runs interleaved."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # compiled modules, as installed
    traces = [record(n, folder) for n in steps]
    ways = {"quick": str(1 << 62), "orjson": "0"}
    times: dict[tuple[int, str], list[float]] = {(n, way): [] for n in steps for way in ways}
    for _ in range(rounds):
        for n, trace in zip(steps, traces, strict=True):
            for way, limit in ways.items():
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", _FORCED, limit, "trace", "inspect", str(trace)], stdout=subprocess.DEVNULL, check=True, env=env)
                times[n, way].append((time.perf_counter() - start) * 1e3)
    rows = []
    for n, trace in zip(steps, traces, strict=True):
        quick, exact = statistics.median(times[n, "quick"]), statistics.median(times[n, "orjson"])
        rows.append(f"| {n:,} | {trace.stat().st_size / 1e3:,.0f} KB | {quick:,.1f} ms | {exact:,.1f} ms | {quick / exact:.2f} |")
    return rows


def main() -> None:
    """Record traces of growing length, inspect each, print (or write) the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.name}")
    parser.add_argument("--crossover", action="store_true", help="time small traces read the quick way and through orjson (printed, not written)")
    parser.add_argument("--rounds", type=int, default=9, help="with --crossover: runs of each (interleaved)")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-inspect-"))
    if options.crossover:
        steps = [6, 60, 250, 500, 1_000, 2_000] if options.steps == parser.get_default("steps") else options.steps
        print("| steps | trace | quick (json, built-in sha256) | orjson and OpenSSL | ratio |\n|---|---|---|---|---|")
        print("\n".join(crossover(steps, options.rounds, folder)))
        return
    rows = []
    for steps in options.steps:
        trace = record(steps, folder)
        seconds, peak = inspect(trace)
        rows.append(f"| {steps:,} | {trace.stat().st_size / 1e6:,.1f} MB | {seconds:,.2f} s | {seconds / steps * 1e6:,.1f} µs | {peak:,.0f} MB |")
        trace.unlink()
    text = "\n".join(
        [
            "# `agent trace inspect` of long traces",
            "",
            f"Generated by `python bench/bench_inspect.py --write` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({platform.python_implementation()} {platform.python_version()}).",
            "The synthetic run of bench_trace.py; inspect in a fresh process, output to /dev/null; peak RSS of that process.",
            "",
            "| steps | trace | wall time | per step | peak RSS |",
            "|---|---|---|---|---|",
            *rows,
            "",
            "Inspect streams the trace (tracing.reader.TraceStream): it keeps the chain digests of the prompt's messages",
            "(32 bytes each) to check every step's prompt, not the messages, so memory stays flat as the trace grows.",
        ]
    )
    print(text)
    if options.write:
        RESULTS.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
