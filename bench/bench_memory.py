"""Recording cost as the agent's memory grows, next to the history-growth case, per step at two run lengths.

Two synthetic workloads through the real ``AgentRun``, ``Toolbox`` and ``TraceWriter``:

- ``memory``: every step the model calls ``remember_page`` with a new key, and the tool stores a
  new 1 KB value under it (a ``ToolOutput`` memory update): memory grows by one 1 KB key a step,
  while the history grows only by the short call and its short output;
- ``messages``: bench_trace.py's echo workload: the history grows ~1 KB a step, memory stays empty.

Timed in CPU time of the process (``time.process_time_ns``), see ``cpu_ns``. Each is run with ``bare`` (iterate the loop, no tracing) and ``on`` (``TraceWriter.create`` +
``record``, header and end record included) at N = 500 and 5,000 steps: every combination once a
round, in an order rotated every round (as bench_trace.py does), medians over the rounds. The
goal (issue 17): with memory growing, ``on`` costs per step at N=5,000 at most 1.25x what it costs
at N=500. Until schema 3 the state hash re-encoded the whole memory
every step (O(memory) a step, quadratic in the run); now memory is a persistent map with per-key
digests (agent/state.py), so a step costs what it changed. ``read`` times ``read_trace`` of the
recorded trace (as ``agent replay`` reads it): a memory the writer left out is filled in as a
persistent Memory sharing storage with the step before's, so reading is flat too (it copied a dict
a step until 2026-12-01: 4.47x at N=5,000).

Usage::

    python bench/bench_memory.py            # print the Markdown report
    python bench/bench_memory.py --write    # also write it to bench/RESULTS-memory.md
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_trace is beside us
from bench_trace import Stat, TracePaths, check_finished, cpu_model, echo_run_factory, progress, publish, rotated, synthetic_header

from agent.loop import AgentRun, start_state
from agent.records import LLMRequest, LLMResponse, ToolCall, Usage
from agent.runtime import Runtime
from agent.tools import Toolbox, ToolOutput
from tracing.reader import read_trace
from tracing.writer import TraceWriter

RESULTS = Path(__file__).with_name("RESULTS-memory.md")
VARIANTS = ("bare", "on", "read")
WORKLOADS = ("memory", "messages")
FLAT_GOAL = 1.25  # `on` (and `read`) µs/step at the larger N at most 1.25x the smaller, memory growing
PAGE = 1024  # bytes of the value remembered each step


def remember_page(key: str) -> ToolOutput:
    """Remember a 1 KB page under a new key.

    Args:
        key: where to store the page.
    """
    return ToolOutput(output=f"stored {key}", memory={key: (key * (PAGE // len(key) + 1))[:PAGE]})


class RememberLLM:
    """Calls ``remember_page`` with a new key every step and answers on the last; O(1) per call."""

    def __init__(self, *, steps: int) -> None:
        self.model = "bench-remember"
        self.params = {"temperature": 0.0}
        self.last_turn = steps - 1

    def complete(self, request: LLMRequest) -> LLMResponse:
        turn = (len(request.messages) - 2) // 2  # system + user, then (assistant, tool) per step
        usage = Usage(prompt_tokens=300, completion_tokens=30)
        if turn >= self.last_turn:
            return LLMResponse(message={"role": "assistant", "content": f"done after {turn + 1} steps"}, usage=usage)
        call = ToolCall(id=f"call_{turn}", name="remember_page", arguments=orjson.dumps({"key": f"page{turn:07d}"}).decode())
        message = {"role": "assistant", "content": None, "tool_calls": [{"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}]}
        return LLMResponse(message=message, tool_calls=(call,), usage=usage)


def memory_run_factory(steps: int, workspace: Path) -> Callable[[], AgentRun]:
    """A maker of fresh runs whose memory grows one 1 KB key a step."""
    tools = Toolbox(workspace=workspace, tools={"remember_page": remember_page})
    llm = RememberLLM(steps=steps)

    def new_run() -> AgentRun:
        state = start_state(system_prompt="You are a benchmark agent.", prompt="Remember pages until told to stop.")
        return AgentRun(state=state, llm=llm, tools=tools, runtime=Runtime(seed=0), max_steps=steps)

    return new_run


FACTORIES = {"memory": memory_run_factory, "messages": echo_run_factory}


def cpu_ns(variant: str, run: AgentRun, trace: Path) -> int:
    """CPU nanoseconds of this process (user + system) to run ``run`` to its end as ``variant``.

    CPU time, not wall time: this 2-core machine is shared, and a run descheduled by another
    process's work would otherwise count that wait as its own cost. Writes to the page cache are
    system CPU time and count.
    """
    if variant == "read":
        # The trace recorded untimed, then read as `agent replay` reads it: api.load, with the cyclic
        # collector paused (its full passes over a growing heap are bench/RESULTS-replay.md's subject).
        with TraceWriter.create(trace, synthetic_header()) as writer:
            writer.record(run)
        gc.disable()
        try:
            start = time.process_time_ns()
            read_trace(trace, check_prompts=False)
            return time.process_time_ns() - start
        finally:
            gc.enable()
    start = time.process_time_ns()
    if variant == "bare":
        for _ in run:
            pass
    else:
        with TraceWriter.create(trace, synthetic_header()) as writer:
            writer.record(run)
    return time.process_time_ns() - start


def measure(sizes: Sequence[int], reps: int, tmp: Path) -> dict[tuple[str, int], dict[str, Stat]]:
    """µs/step of every (workload, N, variant): ``reps`` rounds after a warm-up, each running every
    combination once in a rotated order, so that drift in the machine's load hits all of them alike."""
    combos = [(w, n, v) for w in WORKLOADS for n in sizes for v in VARIANTS]
    factories = {(w, n): FACTORIES[w](n, tmp) for w in WORKLOADS for n in sizes}
    paths = TracePaths(tmp)
    times: dict[tuple[str, int, str], list[float]] = {c: [] for c in combos}
    for rep in range(-1, reps):
        progress(f"round {rep + 1} of {reps}" if rep >= 0 else "warm-up")
        for workload, n, variant in rotated(combos, rep):  # type: ignore[arg-type]
            run, trace = factories[(workload, n)](), paths.next()
            ns = cpu_ns(variant, run, trace)
            check_finished(run, n)
            if trace.exists():
                trace.unlink()
            if rep >= 0:
                times[(workload, n, variant)].append(ns / n / 1e3)
    return {(w, n): {v: Stat.of(times[(w, n, v)]) for v in VARIANTS} for w in WORKLOADS for n in sizes}


def render(results: dict[tuple[str, int], dict[str, Stat]], sizes: Sequence[int], reps: int, seconds: float) -> str:
    small, large = sizes[0], sizes[-1]
    ratio = {w: results[(w, large)]["on"].median / results[(w, small)]["on"].median for w in WORKLOADS}
    read = results[("memory", large)]["read"].median / results[("memory", small)]["read"].median
    lines = [
        "# Recording cost as memory grows",
        "",
        f"Generated by `bench/bench_memory.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {seconds:.0f} s "
        f"({reps} rounds, every workload, N and variant once a round in rotated order; {cpu_model()}, Python {platform.python_version()}).",
        "",
        "## Goal",
        "",
        "| goal | target | measured | met |",
        "|---|---|---|---|",
        f"| `on` per-step cost flat as memory grows one 1 KB key a step | µs/step at N={large:,} / at N={small:,} <= {FLAT_GOAL} "
        f"| {ratio['memory']:.2f} ({results[('memory', large)]['on'].median:.1f} vs {results[('memory', small)]['on'].median:.1f} µs/step) "
        f"| {'yes' if ratio['memory'] <= FLAT_GOAL else 'NO'} |",
        f"| the same, history growing ~1 KB a step (for comparison) | same | {ratio['messages']:.2f} "
        f"({results[('messages', large)]['on'].median:.1f} vs {results[('messages', small)]['on'].median:.1f} µs/step) "
        f"| {'yes' if ratio['messages'] <= FLAT_GOAL else 'NO'} |",
        f"| `read` (read_trace, as a replay reads) per-step cost flat as memory grows | same | {read:.2f} "
        f"({results[('memory', large)]['read'].median:.1f} vs {results[('memory', small)]['read'].median:.1f} µs/step) "
        f"| {'yes' if read <= FLAT_GOAL else 'NO'} |",
        "",
        "## CPU µs per step, median (min-max)",
        "",
        "| workload | N | bare | on | on - bare | read |",
        "|---|---|---|---|---|---|",
    ]
    for workload in WORKLOADS:
        for n in sizes:
            r = results[(workload, n)]
            lines.append(f"| {workload} | {n:,} | {r['bare'].show()} | {r['on'].show()} | {r['on'].median - r['bare'].median:+.1f} | {r['read'].show()} |")
    lines += [
        "",
        "`memory`: `remember_page` stores a new 1 KB value under a new key every step (memory holds N keys, N KB, at the end). "
        "`messages`: the echo tool's ~1 KB output joins the history every step. `bare` iterates the loop with no tracing "
        "layer; `on` records to a fresh file (header and end record included); `read` reads such a trace whole with "
        "`read_trace` (prompts not digested, the cyclic collector paused), as `agent replay` does. Per-step figures are averages over the "
        "whole run, so at N=5,000 a step sees 2,500 keys on average, at N=500, 250.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[500, 5000], help="the two run lengths compared")
    parser.add_argument("--reps", type=int, default=9, help="timed repetitions of each variant")
    parser.add_argument("--write", action="store_true", help=f"also write the report to {RESULTS}")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        results = measure(args.sizes, args.reps, Path(folder))
    publish(RESULTS, render(results, args.sizes, args.reps, time.perf_counter() - started), write=args.write)


if __name__ == "__main__":
    main()
