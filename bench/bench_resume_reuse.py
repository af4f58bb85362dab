"""What resume and reuse cost, against replaying and running live, in one run (issues 15 and 16).

1. Resume: a 1,000-step run against the loopback OpenAI-compatible server, its trace cut after step
   899 (as a kill leaves it). ``api.resume`` is timed to its first live model request, next to
   ``api.replay`` of the same 900 steps; the server counts the requests for steps 0-899 (must be 0).
2. Reuse: a 200-step run against the same server with a fixed delay per request (standing in for a
   model), then ``agent trace edit`` of step 149's tool output, then a run with ``reuse`` of the
   edited trace: it must go live at step 150, send exactly 50 requests, and take at most 30% of the
   full live run's time. Also the marginal cost of a reused step against a replayed step: whole
   traces of 200 and 1,000 steps reused (nothing asked) and replayed, (t(1,000) - t(200)) / 800.

Everything goes through the public API (``agent_harness.api``), in this process; rounds are
interleaved and medians reported, since this machine is shared.

Usage::

    python bench/bench_resume_reuse.py [--rounds 3] [--delay-ms 50] [--write]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.openai_server: the loopback model

from agent_harness import api
from tests.openai_server import TurnServer, counting_turns
from tracing.edit import edit_tool_output
from tracing.reader import read_trace

RESULTS = Path(__file__).with_name("RESULTS-resume-reuse.md")


class TimedServer(TurnServer):
    """The turn server, noting when each request arrived and holding each for ``delay`` seconds."""

    def __init__(self, turns: list, delay: float = 0.0) -> None:
        super().__init__(turns)
        self.delay = delay
        self.arrivals: list[float] = []
        handler = self.httpd.RequestHandlerClass
        server = self

        class Timed(handler):  # type: ignore[misc, valid-type]
            def do_POST(self) -> None:  # noqa: N802
                server.arrivals.append(time.perf_counter())
                if server.delay:
                    time.sleep(server.delay)
                super().do_POST()

        self.httpd.RequestHandlerClass = Timed


def live(server: TurnServer) -> list[str]:
    return [f"llm.base_url={server.base_url}", "llm=openai", "llm.model=test-model", "llm.max_retries=0", "agent.max_steps=2000"]


def cut_after(trace: Path, steps: int, out: Path) -> Path:
    """A copy of ``trace`` holding its header and ``steps`` step records, and half of the next: what a kill leaves."""
    lines = trace.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[: steps + 1]) + lines[steps + 1][: len(lines[steps + 1]) // 2])
    return out


def bench_resume(folder: Path, rounds: int) -> dict[str, list[float] | int]:
    server = TimedServer(counting_turns(1000))
    found: dict[str, list[float] | int] = {"resume_to_first_live_s": [], "replay_900_s": [], "start_up_s": [], "requests_for_recorded_steps": 0}
    with server.running():
        full = api.run(*live(server), trace=folder / "r-full.jsonl", run_dir=folder / "r-full")
        assert full.ok, full.outcome
        for number in range(rounds):
            cut = cut_after(full.trace, 900, folder / f"r-cut-{number}.jsonl")
            replay_copy = cut_after(full.trace, 900, folder / f"r-replay-{number}.jsonl")
            started = time.perf_counter()
            result = api.replay(replay_copy)
            found["replay_900_s"].append(time.perf_counter() - started)  # type: ignore[union-attr]
            assert result.ok and result.steps == 900, result
            # Start-up: a fresh live run's time to its first request (config, live client, toolbox, trace file).
            server.arrivals.clear()
            started = time.perf_counter()
            api.run(*live(server), "agent.max_steps=1", trace=folder / f"r-start-{number}.jsonl", run_dir=folder / f"r-start-{number}")
            found["start_up_s"].append(server.arrivals[0] - started)  # type: ignore[union-attr]
            server.arrivals.clear()
            server.requests.clear()
            started = time.perf_counter()
            done = api.resume(cut)
            assert done.ok and done.step_count == 1000, done.outcome
            found["resume_to_first_live_s"].append(server.arrivals[0] - started)  # type: ignore[union-attr]
            found["requests_for_recorded_steps"] = int(found["requests_for_recorded_steps"]) + sum(1 for r in server.requests if r["turn"] < 900)
    return found


def bench_reuse(folder: Path, rounds: int, delay: float) -> dict[str, list[float] | list[int]]:
    found: dict[str, list] = {"live_s": [], "reuse_s": [], "requests": [], "live_from": [], "reused_step_us": [], "replayed_step_us": []}
    server = TimedServer(counting_turns(200), delay=delay)
    longer = TimedServer(counting_turns(1000))  # the same task 1,000 steps long, answered at once
    with server.running(), longer.running():
        long_trace = api.run(*live(longer), trace=folder / "long.jsonl", run_dir=folder / "long").trace
        for number in range(rounds):
            started = time.perf_counter()
            old = api.run(*live(server), trace=folder / f"old-{number}.jsonl", run_dir=folder / f"old-{number}")
            found["live_s"].append(time.perf_counter() - started)
            edited = edit_tool_output(read_trace(old.trace), step=149, call=0, output="edited", out=folder / f"edited-{number}.jsonl")
            server.requests.clear()
            started = time.perf_counter()
            again = api.run(*live(server), f"reuse={edited}", trace=folder / f"new-{number}.jsonl", run_dir=folder / f"new-{number}")
            found["reuse_s"].append(time.perf_counter() - started)
            found["requests"].append(len(server.requests))
            found["live_from"].append(again.reuse["live_from"])
            # A reused step against a replayed step: whole traces reused (nothing is asked) and replayed, 200 and
            # 1,000 steps long; the marginal cost per step, (t(1,000) - t(200)) / 800, leaves out each run's fixed cost.
            timed: dict[tuple[str, int], float] = {}
            for steps, source, model in ((200, old.trace, server), (1000, long_trace, longer)):
                started = time.perf_counter()
                done = api.run(*live(model), f"reuse={source}", run_dir=folder / f"all-{steps}-{number}")
                timed["reuse", steps] = time.perf_counter() - started
                assert done.ok and done.reuse["reused_steps"] == steps and done.reuse["live_from"] is None, done.reuse
                started = time.perf_counter()
                assert api.replay(source).ok
                timed["replay", steps] = time.perf_counter() - started
            found["reused_step_us"].append((timed["reuse", 1000] - timed["reuse", 200]) / 800 * 1e6)
            found["replayed_step_us"].append((timed["replay", 1000] - timed["replay", 200]) / 800 * 1e6)
    return found


def med(values: list[float]) -> float:
    return statistics.median(values)


def report(resume: dict, reuse: dict, rounds: int, delay: float) -> str:
    live_s, reuse_s = med(reuse["live_s"]), med(reuse["reuse_s"])
    ratio = reuse_s / live_s
    first, replay, start = med(resume["resume_to_first_live_s"]), med(resume["replay_900_s"]), med(resume["start_up_s"])
    lines = [
        "# Resume and reuse (bench/bench_resume_reuse.py)",
        "",
        f"Generated {datetime.now(UTC).isoformat(timespec='seconds')} on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()};"
        f" {rounds} rounds, medians (ranges in brackets); loopback OpenAI-compatible server (tests/openai_server.py) through the real SDK.",
        "",
        "| goal | measured | met |",
        "|---|---|---|",
        f"| resume of a 1,000-step trace cut after step 899: no request for steps 0-899 | {resume['requests_for_recorded_steps']} requests | {'yes' if resume['requests_for_recorded_steps'] == 0 else 'no'} |",
        f"| resume: time to the first live step = replay of the same 900 steps + a live run's start-up (within 25%) | {first:.2f} s [{min(resume['resume_to_first_live_s']):.2f}-{max(resume['resume_to_first_live_s']):.2f}] vs replay {replay:.2f} s + start-up {start:.2f} s = {replay + start:.2f} s: {first / (replay + start):.2f}x | {'yes' if first <= 1.25 * (replay + start) else 'no'} |",
        f"| reuse, 200 steps, change at step 150, {delay * 1000:.0f} ms a request: exactly 50 requests | {sorted(set(reuse['requests']))} (live from step {sorted(set(reuse['live_from']))}) | {'yes' if set(reuse['requests']) == {50} else 'no'} |",
        f"| reuse takes at most 30% of the full live run | {reuse_s:.2f} s vs {live_s:.2f} s: {ratio:.0%} | {'yes' if ratio <= 0.30 else 'no'} |",
        f"| a reused step costs the same order as a replayed step | {med(reuse['reused_step_us']):.0f} us vs {med(reuse['replayed_step_us']):.0f} us per step: {med(reuse['reused_step_us']) / med(reuse['replayed_step_us']):.1f}x | {'yes' if med(reuse['reused_step_us']) <= 10 * med(reuse['replayed_step_us']) else 'no'} |",
        "",
        "The per-step figures are marginal, (time of a 1,000-step run - time of a 200-step run) / 800, so each",
        "run's fixed cost (composing the config, building the client and the toolbox, creating the trace) cancels",
        "out. A reused step runs today's tools live and records the step, which a replayed step does not; each",
        "call of a tool configured with `_partial_: true` also passes Hydra's target policy (hydra-core 1.3.8).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.name}")
    options = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "bench")  # the script's own process: the live backend reads its key here
    with tempfile.TemporaryDirectory(prefix="bench-resume-reuse-") as tmp:
        folder = Path(tmp)
        resume = bench_resume(folder, options.rounds)
        reuse = bench_reuse(folder, options.rounds, options.delay_ms / 1000)
    text = report(resume, reuse, options.rounds, options.delay_ms / 1000)
    print(text)
    if options.write:
        RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
