"""Our stack on the peers' shared workload, next to the peers' minimal recorder, measured in one run.

The peer benchmark suite (``../shared/bench-peers``, read-only here) measures a minimal own-style
recorder and LangGraph / OpenTelemetry / vcrpy on one seeded synthetic workload: N steps, each an
assistant message (325 B) with one ``search_docs`` tool call and a 505 B tool output, so the history
grows ~0.9 KB a step, plus a 20-key scratch dict updated every step. This script:

1. drives that workload through OUR stack: ``agent.loop.AgentRun`` with an in-process LLM backend
   that returns the workload's own assistant messages (imported from ``workload.py``: same seed, same
   bytes), a real ``Toolbox`` whose ``search_docs`` tool returns the workload's tool output and puts
   the scratch update in memory (``ToolOutput``), and ``TraceWriter.record`` for the trace. At each N
   (100, 1,000, 5,000), interleaved: ``bare`` (iterate the loop, no tracing), ``on`` (record to a
   fresh file) and ``replay`` (``api.load``, the read ``api.replay`` does, + ``ReplaySession``/``ReplayLLM``/``ReplayTools`` +
   ``drive(run, session.check_step)`` + ``session.finish``: the parts ``agent_harness.api.replay``
   builds, built here from those pieces, see ``replay_run``) of a trace recorded once at that N;
2. runs the peers' own scripts as subprocesses, with the command lines of their RESULTS.md
   (``python ../shared/bench-peers/own_recorder.py --variant delta_chainhash --steps N`` at every N;
   ``full``, ``hash_only``, ``replay_delta_chainhash`` and the plain ``workload.py`` loop at N=1,000),
   and parses the line each prints;
3. also LangGraph / OTel / vcrpy through the peers' scripts (unless ``--no-with-peers``), in a scratch
   venv (``bench/.peer-venv``, created with ``python -m venv`` and the packages of the peers' RESULTS.md
   "venv" line the first time; skipped, and said so, if installing fails or takes over 5 minutes).

Items 1 and 2 are interleaved: ``--rounds`` rounds, each running our block and every peer command
once, their order rotated every round, so drift on this noisy 2-core machine hits both alike.

Usage::

    python bench/bench_peers.py                      # everything; print the report and write bench/RESULTS.md
    python bench/bench_peers.py --no-with-peers      # without LangGraph / OTel / vcrpy (no venv; ~2 minutes)
    python bench/bench_peers.py --no-write           # print only

It owns RESULTS.md; anything below the notes marker of an existing file is kept.
"""

from __future__ import annotations

import argparse
import ast
import gc
import importlib
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

import orjson

from agent.loop import AgentRun, drive
from agent.records import LLMRequest, LLMResponse, ToolCall, Usage
from agent.runtime import Runtime
from agent.state import AgentState, History
from agent.tools import Toolbox, ToolOutput
from agent_harness.api import load
from tracing.replay import ReplayLLM, ReplaySession, ReplayTools
from tracing.writer import TraceWriter

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or with -m, bench_trace is beside us
from bench_trace import (
    Stat,
    cpu_model,
    progress,
    rotated,
    size,
    synthetic_header,
    publish,
)

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "RESULTS.md"
VENV = BENCH / ".peer-venv"
# ../shared/bench-peers beside the repository (or beside a folder above it, for a git worktree).
DEFAULT_PEERS = next((p / "shared" / "bench-peers" for p in REPO.parents if (p / "shared" / "bench-peers" / "workload.py").exists()), REPO.parent / "shared" / "bench-peers")

OUR_VARIANTS = ("bare", "on", "replay", "replay_gc")
MAIN_N = 1000  # the N of the peers' main table, and of the goals on cost and bytes

# Goals, as the brief states them.
COST_GOAL = 2.0  # our `on` µs/step at most 2x the minimal recorder's (delta_chainhash), same N
BYTES_GOAL = 1.3  # our trace at most 1.3x the minimal recorder's bytes, same N
FLAT_GOAL = 1.25  # our `on` µs/step at the largest N at most 25% above the smallest
REPLAY_GOAL = 20_000  # steps/s of a full in-process replay, at every N

# LangGraph / OTel / vcrpy: one process each, after the rounds (LangGraph's sqlite alone takes ~1 min at N=1,000).
# The peers' slowest variants (sqlite_sync, history, *_delta) are left out to keep the run short.
EXTRA_PEERS: tuple[tuple[str, str, int], ...] = (
    ("langgraph_sqlite.py", "nockpt", 1000),
    ("langgraph_sqlite.py", "sqlite", 1000),
    ("otel_spans.py", "simple", 1000),
    ("otel_spans.py", "batch", 1000),
    ("otel_spans.py", "sdk_noexport", 1000),
    ("vcr_http.py", "http_plain", 200),
    ("vcr_http.py", "vcr_record", 200),
    ("vcr_http.py", "vcr_replay", 200),
)
# Used only if the peers' RESULTS.md has no "venv" line to read them from.
FALLBACK_VENV_PACKAGES = ("langgraph", "langgraph-checkpoint-sqlite", "opentelemetry-sdk", "vcrpy", "httpx", "orjson", "deepdiff")
VENV_VERSIONS = (
    "langgraph",
    "langgraph-checkpoint",
    "langgraph-checkpoint-sqlite",
    "langchain-core",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "vcrpy",
    "httpx",
    "orjson",
    "PyYAML",
)
INSTALL_TIMEOUT_S = 300.0
PEER_TIMEOUT_S = 900.0


# --------------------------------------------------------------------------- the workload through our stack


def load_workload(peers: Path) -> ModuleType:
    """The peers' ``workload.py``, imported (not copied) so that every byte of a step is theirs."""
    sys.dont_write_bytecode = True  # the peers' folder is read-only: leave no __pycache__ attempt behind
    sys.path.insert(0, str(peers))
    try:
        return importlib.import_module("workload")
    finally:
        sys.path.remove(str(peers))


class WorkloadLLM:
    """The workload's stub LLM behind our ``LLM`` protocol: its assistant message and usage for the turn.

    The turn comes from the prompt's length (2 opening messages + 2 per step; ``History.__len__`` is
    O(1)), so the backend is O(1) a call and keeps no state between runs.
    """

    def __init__(self, W: ModuleType) -> None:
        self.wl = W.workload()
        self.model = W.MODEL["name"]
        self.params = dict(W.MODEL["config"])

    def complete(self, request: LLMRequest) -> LLMResponse:
        turn = (len(request.messages) - 2) // 2
        message, usage = self.wl.llm(request.messages, turn)
        calls = tuple(ToolCall(id=c["id"], name=c["function"]["name"], arguments=c["function"]["arguments"]) for c in message["tool_calls"])
        return LLMResponse(message=message, tool_calls=calls, usage=Usage(usage["prompt_tokens"], usage["completion_tokens"]))


class SearchDocs:
    """The workload's stub tool as a real toolbox tool, for one run: its output, and the scratch update.

    ``workload.apply_step`` sets ``scratch[key_{step % 20}] = "{call id}:{len(output)}"``; here the tool
    returns that as a memory update, which the loop applies (tools never touch the state). The tool
    does not see its call id, so it counts its calls: one instance per run.
    """

    def __init__(self, W: ModuleType) -> None:
        self.wl = W.workload()
        self.name = W.TOOL_NAME
        self.calls = 0

    def search_docs(self, query: str, page: int = 0) -> ToolOutput:
        """Search the documentation and return the best-matching passage.

        Args:
            query: what to search for.
            page: which page of results.
        """
        step = self.calls
        self.calls += 1
        # The workload's tool reads only its name and the step, as its own loop calls it: the arguments
        # are not encoded back to JSON text here, work neither loop would do.
        output = self.wl.tool(self.name, query, step)
        call_id = f"call_{self.wl.seed % 1000:03d}_{step:08d}"
        return ToolOutput(output=output, memory={f"key_{step % 20:02d}": f"{call_id}:{len(output)}"})


def start(W: ModuleType) -> AgentState:
    """The workload's initial state as ours: system + user messages, the 20-key scratch as memory."""
    s = W.workload().initial_state()
    return AgentState(messages=History(s["messages"]), memory=MappingProxyType(dict(s["scratch"])))


def run_factory(W: ModuleType, steps: int, workspace: Path) -> Callable[[], AgentRun]:
    """A maker of fresh runs of ``steps`` steps (a fresh tool counter each; built outside any timing)."""
    llm = WorkloadLLM(W)

    def new_run() -> AgentRun:
        tool = SearchDocs(W)
        tools = Toolbox(workspace=workspace, tools={tool.name: tool.search_docs})
        return AgentRun(state=start(W), llm=llm, tools=tools, runtime=Runtime(seed=W.SEED), max_steps=steps)

    return new_run


def check_ran(run: AgentRun, steps: int) -> None:
    """Every step calls the tool, so a run ends ``max_steps`` after exactly N steps, as the workload's loop."""
    o = run.outcome
    if o is None or o.status != "max_steps" or o.steps != steps:
        got = "no outcome" if o is None else f"{o.status} after {o.steps} steps ({o.error})"
        msg = f"a benchmark run should end max_steps after {steps} steps; got {got}"
        raise RuntimeError(msg)


def replay_run(W: ModuleType, trace: Any, steps: int) -> tuple[AgentRun, ReplaySession]:
    """The in-process replay of ``trace``: the parts ``agent_harness.api.replay`` builds, built here from the library's pieces.

    Not through ``api.replay``: the workload's run starts from its own 20-key scratch memory and uses
    in-bench stub backends, which no config ``api.replay`` composes can express; and what this
    benchmark compares with the peers' replay is the per-step work (read, check, loop), not the
    composition (measured by bench_api.py). ``max_steps`` is the recorded run's (the recording
    ended max_steps), as the API takes it from the recorded config; ``ReplayTools`` gets the same
    tool only for its schema.
    """
    session = ReplaySession(trace)
    first = trace.prompts[0]
    tool = SearchDocs(W)
    run = AgentRun(
        state=AgentState(messages=History(list(first[:2])), memory=MappingProxyType(dict(W.workload().scratch0))),
        llm=ReplayLLM(session=session),
        tools=ReplayTools(session=session, tools={tool.name: tool.search_docs}),
        runtime=Runtime(clock=session.clock),
        max_steps=steps,
    )
    return run, session


@dataclass
class OurSample:
    """One measurement of ours: µs/step by column, the round it was taken in."""

    round: int
    columns: dict[str, float]


class Ours:
    """Our stack on the workload at each N: a reference trace for replay, and the timed variants."""

    def __init__(self, W: ModuleType, sizes: Sequence[int], reps: int, tmp: Path) -> None:
        self.W, self.sizes, self.reps, self.tmp = W, list(sizes), reps, tmp
        self.workspace = tmp / "workspace"
        self.factories = {n: run_factory(W, n, self.workspace) for n in self.sizes}
        self.refs: dict[int, Path] = {}
        self.trace_bytes: dict[int, int] = {}
        self.samples: dict[int, list[OurSample]] = {n: [] for n in self.sizes}
        self.count = 0

    def _path(self) -> Path:
        self.count += 1
        return self.tmp / f"on-{self.count}.jsonl"

    def record_refs(self) -> None:
        """Record one trace per N (untimed), the one every replay at that N reads."""
        for n in self.sizes:
            path = self.tmp / f"ref-{n}.jsonl"
            run = self.factories[n]()
            with TraceWriter.create(path, synthetic_header()) as writer:
                writer.record(run)
            check_ran(run, n)
            self.refs[n] = path
            self.trace_bytes[n] = path.stat().st_size

    def measure(self, variant: str, n: int) -> dict[str, float]:
        """One measurement, as {column: µs/step} (``build``: µs once per replay)."""
        gc.collect()  # untimed: each measurement starts from the same collector state

        def us(ns: int) -> float:
            return ns / n / 1e3

        if variant == "bare":
            run = self.factories[n]()
            t0 = time.perf_counter_ns()
            for _ in run:
                pass
            ns = time.perf_counter_ns() - t0
            check_ran(run, n)
            return {"bare": us(ns)}
        if variant == "on":
            run, path, header = self.factories[n](), self._path(), synthetic_header()
            t0 = time.perf_counter_ns()
            with TraceWriter.create(path, header) as writer:
                writer.record(run)
            ns = time.perf_counter_ns() - t0
            check_ran(run, n)
            self.trace_bytes[n] = path.stat().st_size
            path.unlink()
            return {"on": us(ns)}
        if variant in ("replay", "replay_gc"):
            # replay: as `agent replay` runs it (the command pauses the cyclic collector, agent_harness/cli);
            # replay_gc: the same with the collector on, as agent_harness.api.replay runs in any other process.
            freeze = variant == "replay"
            if freeze:
                gc.disable()
            t0 = time.perf_counter_ns()
            try:
                trace = load(self.refs[n])  # as agent_harness.api.replay reads a trace
                t1 = time.perf_counter_ns()
                run, session = replay_run(self.W, trace, n)
                t2 = time.perf_counter_ns()
                result = session.finish(drive(run, session.check_step))
                t3 = time.perf_counter_ns()
            finally:
                if freeze:
                    gc.enable()
            if result.steps != n or result.cut_off:
                msg = f"the replay should match {n} steps; it matched {result.steps} (cut off: {result.cut_off})"
                raise RuntimeError(msg)
            if not freeze:
                return {"replay_gc": us(t3 - t0), "build_gc": (t2 - t1) / 1e3}
            return {"replay": us(t3 - t0), "read": us(t1 - t0), "replay_loop": us(t3 - t1), "build": (t2 - t1) / 1e3}
        msg = f"unknown variant {variant!r}"
        raise ValueError(msg)

    def warm_up(self) -> None:
        for n in self.sizes:
            for variant in OUR_VARIANTS:
                self.measure(variant, n)

    def block(self, round_no: int) -> None:
        """One round of ours: at each N, ``reps`` of every variant, their order rotated each rep."""
        for n in self.sizes:
            for rep in range(self.reps):
                for variant in rotated(OUR_VARIANTS, rep + round_no):
                    self.samples[n].append(OurSample(round_no, self.measure(variant, n)))

    def values(self, n: int, column: str, round_no: int | None = None) -> list[float]:
        return [s.columns[column] for s in self.samples[n] if column in s.columns and (round_no is None or s.round == round_no)]

    def stat(self, n: int, column: str) -> Stat:
        return Stat.of(self.values(n, column))


# --------------------------------------------------------------------------- what one step is, and where the bytes go


@dataclass
class Fidelity:
    """Our run of the workload against the workload's own loop, at one N (untimed)."""

    steps: int
    same_messages: bool
    same_scratch: bool
    differences: list[str]
    ours: dict[str, int]
    theirs: dict[str, int]


def check_fidelity(W: ModuleType, new_run: Callable[[], AgentRun], steps: int) -> Fidelity:
    """Compare our final history and memory with ``workload.run_baseline``'s messages and scratch.

    Our tool message has no ``name`` key (``agent.loop.tool_message`` writes role, tool_call_id and
    content): that is the one known difference, and it is taken out before comparing.
    """
    run = new_run()
    drive(run)
    check_ran(run, steps)
    theirs = W.run_baseline(steps)["state"]
    ours_msgs = list(run.state.messages)
    their_msgs = theirs["messages"]
    stripped = [{k: v for k, v in m.items() if not (m.get("role") == "tool" and k == "name")} for m in their_msgs]
    differences = []
    if len(ours_msgs) != len(stripped):
        differences.append(f"{len(ours_msgs)} messages vs {len(stripped)}")
    first = next((i for i, (a, b) in enumerate(zip(ours_msgs, stripped, strict=False)) if a != b), None)
    if first is not None:
        differences.append(f"first different message: #{first}")
    same_scratch = dict(run.state.memory) == theirs["scratch"]
    if not same_scratch:
        differences.append("memory != scratch")
    a_ours, t_ours = ours_msgs[2], ours_msgs[3]
    a_theirs, t_theirs = their_msgs[2], their_msgs[3]
    return Fidelity(
        steps=steps,
        same_messages=not differences[:2] and first is None and len(ours_msgs) == len(stripped),
        same_scratch=same_scratch,
        differences=differences,
        ours={
            "assistant": len(orjson.dumps(a_ours)),
            "tool_output": len(t_ours["content"]),
            "tool_message": len(orjson.dumps(t_ours)),
            "history": len(orjson.dumps(ours_msgs)),
            "memory": len(orjson.dumps(dict(run.state.memory))),
        },
        theirs={
            "assistant": len(orjson.dumps(a_theirs)),
            "tool_output": len(t_theirs["content"]),
            "tool_message": len(orjson.dumps(t_theirs)),
            "history": len(orjson.dumps(their_msgs)),
            "memory": len(orjson.dumps(theirs["scratch"])),
        },
    )


@dataclass
class Anatomy:
    """Where the bytes of one of our traces go (whatever the trace format in the working tree is)."""

    steps: int
    total: int
    header: int
    end: int
    per_field: dict[str, float]  # bytes/step by field of the step records (one level of nesting)
    output_copies: float  # how many times a step's tool output text appears in the file (median probe)
    assistant_copies: float  # same for a step's assistant content
    keys: list[str]


def _field_bytes(record: Mapping[str, Any], out: dict[str, int], prefix: str = "", depth: int = 0) -> None:
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth < 1:
            _field_bytes(value, out, name + ".", depth + 1)
        else:
            # the key, quotes, colon and comma, as the line holds them
            out[name] = out.get(name, 0) + len(orjson.dumps(value)) + len(key) + 4


def trace_anatomy(W: ModuleType, path: Path, steps: int) -> Anatomy:
    data = path.read_bytes()
    lines = data.splitlines()
    records = [orjson.loads(line) for line in lines]
    per: dict[str, int] = {}
    keys: list[str] = []
    for record in records[1:-1]:
        _field_bytes(record, per)
        for k in record:
            if k not in keys:
                keys.append(k)
    wl = W.workload()
    probes = [steps // 4, steps // 2, (3 * steps) // 4]
    out_copies = [data.count(orjson.dumps(wl.tool(W.TOOL_NAME, "", k))[1:-1]) for k in probes]
    ass_copies = [data.count(orjson.dumps(wl.llm([], k)[0]["content"])[1:-1]) for k in probes]
    return Anatomy(
        steps=steps,
        total=len(data),
        header=len(lines[0]) + 1,
        end=len(lines[-1]) + 1,
        per_field={k: v / steps for k, v in sorted(per.items(), key=lambda kv: -kv[1])},
        output_copies=statistics.median(out_copies),
        assistant_copies=statistics.median(ass_copies),
        keys=keys,
    )


@dataclass(frozen=True)
class ProfileRow:
    """One function of a profiled recording: calls a step, and its share of the profiled time."""

    where: str
    calls_per_step: float
    own: float
    """Share of the run's profiled time spent in the function itself."""
    inclusive: float
    """Share spent in it and what it calls."""


def _where(file: str, line: int, name: str) -> str:
    if file == "~":  # a built-in
        return name.strip("<>")
    path = Path(file)
    shown = os.path.relpath(path, REPO) if path.is_relative_to(REPO) else path.name
    return f"{shown}:{line} {name}"


def profile_recording(new_run: Callable[[], AgentRun], tmp: Path, steps: int, top: int = 16) -> list[ProfileRow]:
    """cProfile of one recorded run (untimed): where a step's time goes, as shares (the profiler inflates absolute times)."""
    import cProfile
    import pstats

    run, profiler = new_run(), cProfile.Profile()
    with TraceWriter.create(tmp / "profiled.jsonl", synthetic_header()) as writer:
        profiler.enable()
        writer.record(run)
        profiler.disable()
    check_ran(run, steps)
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    functions = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]  # type: ignore[attr-defined]
    return [ProfileRow(_where(*key), calls / steps, own / total, inclusive / total) for key, (_, calls, own, inclusive, _) in functions]


# --------------------------------------------------------------------------- the peers' scripts


PEER_LINE = re.compile(
    r"^(?P<system>.*?)\s+(?P<med>\d+\.\d+) us/step \[(?P<lo>\d+\.\d+)-(?P<hi>\d+\.\d+)\]\s+"
    r"baseline (?P<bmed>\d+\.\d+) \[(?P<blo>\d+\.\d+)-(?P<bhi>\d+\.\d+)\]\s+ratio (?P<ratio>[\d.]+)x\s+"
    r"(?:ref (?P<ref>\d+\.\d+) ratio_to_ref (?P<rref>[\d.]+)x\s+)?extras=(?P<extras>.*)$"
)


@dataclass(frozen=True)
class PeerSpec:
    script: str
    variant: str | None
    steps: int

    @property
    def key(self) -> str:
        return f"{self.script.removesuffix('.py')}:{self.variant or 'baseline'}"

    def argv(self, peers: Path) -> list[str]:
        """The RESULTS.md command line after ``python``: script path relative to the repository root."""
        script = os.path.relpath(peers / self.script, REPO)
        variant = ["--variant", self.variant] if self.variant else []
        return [script, *variant, "--steps", str(self.steps)]


@dataclass
class PeerRun:
    spec: PeerSpec
    round: int
    cmd: str
    ok: bool
    seconds: float
    us: Stat | None = None
    base: Stat | None = None
    ratio: float = 0.0
    ref: float | None = None
    ratio_to_ref: float | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def parse_peer_line(stdout: str) -> dict[str, Any] | None:
    """The measurement line ``workload.emit`` prints without --json (see workload.py)."""
    for line in stdout.splitlines():
        m = PEER_LINE.match(line.strip())
        if m:
            try:
                extras = ast.literal_eval(m["extras"])
            except (ValueError, SyntaxError):
                extras = {"raw": m["extras"]}
            return {
                "system": m["system"].strip(),
                "us": Stat(float(m["med"]), float(m["lo"]), float(m["hi"])),
                "base": Stat(float(m["bmed"]), float(m["blo"]), float(m["bhi"])),
                "ratio": float(m["ratio"]),
                "ref": float(m["ref"]) if m["ref"] else None,
                "ratio_to_ref": float(m["rref"]) if m["rref"] else None,
                "extras": extras if isinstance(extras, dict) else {"raw": extras},
            }
    return None


def run_peer(spec: PeerSpec, peers: Path, python: str, shown_python: str, round_no: int) -> PeerRun:
    argv = spec.argv(peers)
    cmd = " ".join([shown_python, *argv])
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    t0 = time.perf_counter()
    try:
        done = subprocess.run([python, *argv], cwd=REPO, capture_output=True, text=True, env=env, timeout=PEER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return PeerRun(spec, round_no, cmd, ok=False, seconds=time.perf_counter() - t0, error=f"timed out after {PEER_TIMEOUT_S:.0f} s")
    seconds = time.perf_counter() - t0
    parsed = parse_peer_line(done.stdout) if done.returncode == 0 else None
    if parsed is None:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        return PeerRun(spec, round_no, cmd, ok=False, seconds=seconds, error=f"exit {done.returncode}: {sanitized(tail[0])[:200]}")
    return PeerRun(spec, round_no, cmd, ok=True, seconds=seconds, **{k: v for k, v in parsed.items() if k != "system"})


def sanitized(text: str) -> str:
    """Error text with any URL or host name taken out (it goes into a results file)."""
    text = re.sub(r"[a-z][a-z0-9+.-]*://\S+", "<url>", text, flags=re.IGNORECASE)
    return re.sub(r"\b(?:[a-z0-9-]+\.)+[a-z]{2,}\b", "<host>", text, flags=re.IGNORECASE)


def peer_stat(runs: Sequence[PeerRun], attr: str) -> Stat:
    """Across processes: the median of their medians, the lowest min and the highest max."""
    stats = [getattr(r, attr) for r in runs]
    return Stat(statistics.median(s.median for s in stats), min(s.low for s in stats), max(s.high for s in stats))


def default_peer_specs(sizes: Sequence[int]) -> list[PeerSpec]:
    specs = [PeerSpec("workload.py", None, MAIN_N)]
    specs += [PeerSpec("own_recorder.py", "delta_chainhash", n) for n in sizes]
    specs += [PeerSpec("own_recorder.py", v, MAIN_N) for v in ("full", "hash_only", "replay_delta_chainhash")]
    return specs


# --------------------------------------------------------------------------- the scratch venv (LangGraph / OTel / vcrpy)


@dataclass
class VenvResult:
    python: str | None
    packages: list[str]
    status: str  # what happened, for the report
    seconds: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)


def venv_packages(peers: Path) -> list[str]:
    """The packages of the peers' RESULTS.md "venv" line (``... pip install PKG PKG ...``)."""
    try:
        text = (peers / "RESULTS.md").read_text(encoding="utf-8")
    except OSError:
        return list(FALLBACK_VENV_PACKAGES)
    m = re.search(r"venv:\s*`[^`]*?pip install ([^`]+)`", text)
    return m[1].split() if m else list(FALLBACK_VENV_PACKAGES)


_VENV_CHECK = "import langgraph, langgraph.checkpoint.sqlite, opentelemetry.sdk, vcr, httpx, orjson, deepdiff"
_VERSIONS = "import sys, json; from importlib import metadata as m\nout = {}\nfor p in sys.argv[1:]:\n    try: out[p] = m.version(p)\n    except m.PackageNotFoundError: pass\nprint(json.dumps(out))"


def _run_limited(argv: list[str], deadline: float) -> tuple[int | None, str]:
    """Run ``argv`` in its own process group until ``deadline``; on timeout end that group (ours) and return None."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, cwd=REPO)
    try:
        out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        return None, out or ""


def ensure_venv(peers: Path) -> VenvResult:
    """``bench/.peer-venv`` with the peers' packages: reused if it already imports them, else created."""
    packages = venv_packages(peers)
    python = VENV / "bin" / "python"
    rel = os.path.relpath(VENV, REPO)
    commands = [f"python -m venv {rel}", f"{rel}/bin/python -m pip install {' '.join(packages)}"]
    started = time.monotonic()
    deadline = started + INSTALL_TIMEOUT_S

    def result(ok: bool, status: str) -> VenvResult:
        r = VenvResult(str(python) if ok else None, packages, status, time.monotonic() - started, commands=commands)
        if ok:
            done = subprocess.run([str(python), "-c", _VERSIONS, *VENV_VERSIONS], capture_output=True, text=True, check=False)
            if done.returncode == 0:
                r.versions = orjson.loads(done.stdout)
        return r

    if python.exists() and subprocess.run([str(python), "-c", _VENV_CHECK], capture_output=True, check=False).returncode == 0:
        return result(True, f"reused the existing `{rel}` (it imports every peer package)")
    progress(f"creating {rel} and installing {' '.join(packages)} (limit {INSTALL_TIMEOUT_S:.0f} s)")
    code, out = _run_limited([sys.executable, "-m", "venv", str(VENV)], deadline)
    if code != 0:
        why = "timed out" if code is None else f"exit {code}"
        return result(False, f"skipped: `python -m venv` failed ({why}): {sanitized(out.strip().splitlines()[-1] if out.strip() else '')[:200]}")
    code, out = _run_limited([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *packages], deadline)
    if code is None:
        return result(False, f"skipped: installing the packages took over {INSTALL_TIMEOUT_S:.0f} s (stopped)")
    if code != 0:
        last = out.strip().splitlines()[-1] if out.strip() else ""
        return result(False, f"skipped: pip install failed (exit {code}): {sanitized(last)[:200]}")
    if subprocess.run([str(python), "-c", _VENV_CHECK], capture_output=True, check=False).returncode != 0:
        return result(False, "skipped: the packages installed but do not import")
    return result(True, f"created `{rel}` and installed the packages in {time.monotonic() - started:.0f} s")


# --------------------------------------------------------------------------- the run


@dataclass
class Results:
    args: argparse.Namespace
    peers: Path
    ours: Ours
    fidelity: Fidelity
    anatomy: Anatomy
    profile: list[ProfileRow]
    peer_runs: list[PeerRun]
    extra_runs: list[PeerRun]
    venv: VenvResult | None
    seconds: float
    tree: str

    def runs(self, key: str, steps: int) -> list[PeerRun]:
        return [r for r in self.peer_runs if r.ok and r.spec.key == key and r.spec.steps == steps]

    def failed(self) -> list[PeerRun]:
        return [r for r in self.peer_runs + self.extra_runs if not r.ok]


def venv_in_git() -> str:
    """Whether git ignores the scratch venv or shows it as untracked (read-only git)."""
    try:
        done = subprocess.run(["git", "check-ignore", "-v", str(VENV / "bin")], cwd=REPO, capture_output=True, text=True, check=False)
    except OSError:
        return "git not available to say whether it is ignored"
    if done.returncode == 0:
        source = done.stdout.split("\t")[0].rsplit(":", 1)[0]
        return f"git ignores it (`{source}`)"
    return "git shows it as untracked"


def working_tree() -> str:
    """HEAD and the files changed in the working tree (read-only git, no index refresh)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        status = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown (git not available)"
    changed = sorted({line[3:] for line in status.splitlines() if line.strip()})
    return f"HEAD {head}" + (f" + uncommitted changes in {', '.join(f'`{c}`' for c in changed)}" if changed else ", clean")


def main_run(args: argparse.Namespace) -> Results:
    started = time.perf_counter()
    peers = args.peers.resolve()
    W = load_workload(peers)
    specs = default_peer_specs(args.sizes)
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as folder:
        tmp = Path(folder)
        ours = Ours(W, args.sizes, args.reps, tmp)
        progress(f"ours: recording a reference trace at N={args.sizes}, fidelity check, warm-up")
        ours.record_refs()
        fidelity = check_fidelity(W, ours.factories[MAIN_N], MAIN_N)
        anatomy = trace_anatomy(W, ours.refs[MAIN_N], MAIN_N)
        profile = profile_recording(ours.factories[MAIN_N], tmp, MAIN_N)
        ours.warm_up()
        peer_runs: list[PeerRun] = []
        items = ["ours", *specs]
        for round_no in range(args.rounds):
            for item in rotated(items, round_no):  # type: ignore[arg-type]
                if item == "ours":
                    progress(f"round {round_no + 1}/{args.rounds}: ours, N={args.sizes} x {args.reps} reps x {len(OUR_VARIANTS)} variants")
                    ours.block(round_no)
                else:
                    assert isinstance(item, PeerSpec)
                    progress(f"round {round_no + 1}/{args.rounds}: {' '.join(item.argv(peers))}")
                    run = run_peer(item, peers, sys.executable, "python", round_no)
                    if not run.ok:
                        progress(f"  FAILED: {run.error}")
                    peer_runs.append(run)
    venv = None
    extra_runs: list[PeerRun] = []
    if args.with_peers:
        venv = ensure_venv(peers)
        progress(f"peer venv: {venv.status}")
        if venv.python:
            shown = f"{os.path.relpath(VENV, REPO)}/bin/python"
            for script, variant, steps in EXTRA_PEERS:
                spec = PeerSpec(script, variant, steps)
                progress(f"with-peers: {' '.join(spec.argv(peers))}")
                run = run_peer(spec, peers, venv.python, shown, 0)
                if not run.ok:
                    progress(f"  FAILED: {run.error}")
                extra_runs.append(run)
    return Results(args, peers, ours, fidelity, anatomy, profile, peer_runs, extra_runs, venv, time.perf_counter() - started, working_tree())


# --------------------------------------------------------------------------- the report


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**NO**")


def fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def show(s: Stat) -> str:
    return f"{fmt(s.median)} ({fmt(s.low)}-{fmt(s.high)})"


def delta_key() -> str:
    return "own_recorder:delta_chainhash"


def cost_ratios(r: Results, n: int) -> tuple[float, Stat] | None:
    """Ours `on` / delta_chainhash at N: ratio of the run's medians, and per round (each round's medians)."""
    runs = r.runs(delta_key(), n)
    if not runs:
        return None
    overall = r.ours.stat(n, "on").median / peer_stat(runs, "us").median
    per_round = [statistics.median(r.ours.values(n, "on", p.round)) / p.us.median for p in runs if r.ours.values(n, "on", p.round)]
    return overall, Stat.of(per_round)


def bytes_of(run: PeerRun) -> int | None:
    b = run.extras.get("bytes")
    return int(b) if isinstance(b, int | float) and b else None


def goals(r: Results) -> list[tuple[str, str, str, bool | None]]:
    """(goal, target, measured, met) rows."""
    ours, first, last = r.ours, r.args.sizes[0], r.args.sizes[-1]
    rows = []
    cost = cost_ratios(r, MAIN_N)
    if cost:
        overall, per_round = cost
        theirs = peer_stat(r.runs(delta_key(), MAIN_N), "us").median
        rows.append(
            (
                f"per-step cost vs the minimal recorder (`on` / `delta_chainhash`, N={MAIN_N:,})",
                f"<= {COST_GOAL:.1f}x",
                f"{overall:.2f}x ({ours.stat(MAIN_N, 'on').median:.1f} vs {theirs:.1f} µs/step; per round {per_round.low:.2f}-{per_round.high:.2f}x)",
                overall <= COST_GOAL,
            )
        )
    else:
        rows.append((f"per-step cost vs the minimal recorder (N={MAIN_N:,})", f"<= {COST_GOAL:.1f}x", "peer run failed", None))
    runs = r.runs(delta_key(), MAIN_N)
    theirs_b = bytes_of(runs[-1]) if runs else None
    if theirs_b:
        ratio = ours.trace_bytes[MAIN_N] / theirs_b
        rows.append(
            (
                f"trace bytes vs the minimal recorder (N={MAIN_N:,})",
                f"<= {BYTES_GOAL:.1f}x",
                f"{ratio:.2f}x ({size(ours.trace_bytes[MAIN_N])} vs {size(theirs_b)})",
                ratio <= BYTES_GOAL,
            )
        )
    else:
        rows.append((f"trace bytes vs the minimal recorder (N={MAIN_N:,})", f"<= {BYTES_GOAL:.1f}x", "peer run failed", None))
    flat = ours.stat(last, "on").median / ours.stat(first, "on").median
    rows.append(
        (
            "our `on` per-step cost flat with history",
            f"µs/step at N={last:,} / at N={first:,} <= {FLAT_GOAL:.2f}",
            f"{flat:.2f} ({ours.stat(last, 'on').median:.1f} vs {ours.stat(first, 'on').median:.1f} µs/step)",
            flat <= FLAT_GOAL,
        )
    )
    rates = {n: 1e6 / ours.stat(n, "replay").median for n in r.args.sizes}
    worst = min(rates, key=rates.__getitem__)
    rows.append(
        (
            "replay throughput (read + replay + checks, in process)",
            f">= {REPLAY_GOAL:,} steps/s at every N",
            f"{rates[worst]:,.0f} steps/s at worst (N={worst:,}); " + ", ".join(f"{rates[n]:,.0f} at N={n:,}" for n in r.args.sizes),
            rates[worst] >= REPLAY_GOAL,
        )
    )
    return rows


def goals_table(r: Results) -> Iterator[str]:
    yield "| goal | target | measured | met |"
    yield "|---|---|---|---|"
    for goal, target, measured, met in goals(r):
        yield f"| {goal} | {target} | {measured} | {verdict(met)} |"


PEER_WHAT = {
    "workload:baseline": "the workload's plain loop, no recording",
    "own_recorder:delta_chainhash": "minimal recorder: messages content-addressed, delta refs, chained state hash; flush",
    "own_recorder:full": "full messages sent + response + tool + sha256(state) per step",
    "own_recorder:hash_only": "only sha256(orjson(state)) per step, nothing written",
    "own_recorder:replay_delta_chainhash": "its replay: read, rebuild state, recompute + compare chained hash",
}
OUR_WHAT = {
    "bare": "`for step in AgentRun(...): pass`, no tracing",
    "on": "`TraceWriter.create(...)` + `.record(run)` (+ header, end record, close)",
    "replay": "`api.load` (the read `api.replay` does), replay run, `drive(run, session.check_step)`, `session.finish`, the collector paused (as `agent replay`)",
    "replay_loop": "the same replays minus the read",
    "replay_gc": "the same full replay with the collector on (as `agent_harness.api.replay` outside the CLI)",
}


def main_table(r: Results) -> Iterator[str]:
    ours = r.ours
    yield (
        "| system: variant | what | N | µs/step median (min-max) | loop baseline µs/step, same process | ratio to that baseline "
        "| x minimal recorder, same N | bytes | bytes/step |"
    )
    yield "|---|---|---|---|---|---|---|---|---|"
    for n in r.args.sizes:
        bare = ours.stat(n, "bare")
        delta = r.runs(delta_key(), n)
        delta_us = peer_stat(delta, "us").median if delta else None
        for column in ("bare", "on", "replay", "replay_loop", "replay_gc"):
            s = ours.stat(n, column)
            base = "-" if column == "bare" else show(bare)
            ratio = "1.00x" if column == "bare" else f"{s.median / bare.median:.2f}x"
            vs = f"{s.median / delta_us:.2f}x" if column == "on" and delta_us else "-"
            if column == "replay" and n == MAIN_N:
                rep = r.runs("own_recorder:replay_delta_chainhash", MAIN_N)
                if rep:
                    vs = f"{s.median / peer_stat(rep, 'us').median:.2f}x its replay"
            b = ours.trace_bytes[n] if column in ("on", "replay") else None
            yield (
                f"| ours: {column} | {OUR_WHAT[column]} | {n:,} | {show(s)} | {base} | {ratio} | {vs} "
                f"| {size(b) if b else '-'} | {f'{b / n:,.0f}' if b else '-'} |"
            )
    for key, what in PEER_WHAT.items():
        for n in sorted({run.spec.steps for run in r.peer_runs if run.spec.key == key}):
            runs = r.runs(key, n)
            if not runs:
                yield f"| peers: {key.split(':')[1]} | {what} | {n:,} | failed | | | | | |"
                continue
            s, base = peer_stat(runs, "us"), peer_stat(runs, "base")
            b = bytes_of(runs[-1])
            vs = "1.00x" if key == delta_key() else "-"
            yield (
                f"| peers: {key.split(':')[1]} | {what} | {n:,} | {show(s)} | {show(base)} | {s.median / base.median:.2f}x "
                f"| {vs} | {size(b) if b else '-'} | {f'{b / n:,.0f}' if b else '-'} |"
            )


def ratio_table(r: Results) -> Iterator[str]:
    yield (
        "| N | ours `on` / `delta_chainhash` (run medians) | same, per round (min-max) | ours `on` / our bare loop | theirs / their loop "
        "| recording overhead µs/step, ours (on - bare) | theirs (delta_chainhash - loop) | overhead ratio | trace bytes ours / theirs |"
    )
    yield "|---|---|---|---|---|---|---|---|---|"
    for n in r.args.sizes:
        cost = cost_ratios(r, n)
        runs = r.runs(delta_key(), n)
        if not cost or not runs:
            yield f"| {n:,} | peer run failed | | | | | | | |"
            continue
        overall, per_round = cost
        on, bare = r.ours.stat(n, "on").median, r.ours.stat(n, "bare").median
        theirs, their_loop = peer_stat(runs, "us").median, peer_stat(runs, "base").median
        b = bytes_of(runs[-1])
        yield (
            f"| {n:,} | {overall:.2f}x | {per_round.low:.2f}-{per_round.high:.2f}x | {on / bare:.2f}x | {theirs / their_loop:.2f}x "
            f"| {on - bare:.1f} | {theirs - their_loop:.1f} | {(on - bare) / (theirs - their_loop):.2f}x "
            f"| {r.ours.trace_bytes[n] / b:.2f}x |"
            if b
            else f"| {n:,} | {overall:.2f}x | {per_round.low:.2f}-{per_round.high:.2f}x | {on / bare:.2f}x | {theirs / their_loop:.2f}x | {on - bare:.1f} | {theirs - their_loop:.1f} | - | - |"
        )
    first, last = r.args.sizes[0], r.args.sizes[-1]
    a, b = r.runs(delta_key(), first), r.runs(delta_key(), last)
    ours_flat = r.ours.stat(last, "on").median / r.ours.stat(first, "on").median
    theirs_flat = f"{peer_stat(b, 'us').median / peer_stat(a, 'us').median:.2f}" if a and b else "-"
    yield ""
    yield f"Flatness, µs/step at N={last:,} / N={first:,}: ours `on` {ours_flat:.2f}, `delta_chainhash` {theirs_flat}."


def replay_table(r: Results) -> Iterator[str]:
    yield (
        "| N | full replay steps/s | µs/step (min-max) | of which the read (`api.load`) µs/step | replay loop steps/s | bare loop steps/s "
        "| full replay / bare | building the run, µs once | collector on: steps/s | without: building the run, µs once |"
    )
    yield "|---|---|---|---|---|---|---|---|---|---|"
    o = r.ours
    for n in r.args.sizes:
        full, read, loop, bare = o.stat(n, "replay"), o.stat(n, "read"), o.stat(n, "replay_loop"), o.stat(n, "bare")
        yield (
            f"| {n:,} | {1e6 / full.median:,.0f} | {show(full)} | {read.median:.1f} | {1e6 / loop.median:,.0f} | {1e6 / bare.median:,.0f} "
            f"| {full.median / bare.median:.2f}x | {o.stat(n, 'build').median:,.0f} | {1e6 / o.stat(n, 'replay_gc').median:,.0f} "
            f"| {o.stat(n, 'build_gc').median:,.0f} |"
        )
    rep = r.runs("own_recorder:replay_delta_chainhash", MAIN_N)
    if rep:
        s = peer_stat(rep, "us")
        yield ""
        yield f"The minimal recorder's replay (`replay_delta_chainhash`, N={MAIN_N:,}): {1e6 / s.median:,.0f} steps/s ({show(s)} µs/step)."


def step_section(r: Results) -> Iterator[str]:
    f, a = r.fidelity, r.anatomy
    same = "identical" if f.same_messages else "**different** (" + "; ".join(f.differences) + ")"
    yield (
        f"Fidelity (untimed, N={f.steps:,}): our final history vs `workload.run_baseline`'s, with the workload tool message's `name` "
        f"key taken out (our `agent.loop.tool_message` has role, tool_call_id, content): {same}; our final memory "
        f"{'equals' if f.same_scratch else '**differs from**'} its `scratch`."
    )
    yield ""
    yield "| bytes (orjson) | ours | workload |"
    yield "|---|---|---|"
    names = {
        "assistant": "assistant message",
        "tool_output": "tool output (chars)",
        "tool_message": "tool message",
        "history": f"final history, N={f.steps:,}",
        "memory": "scratch / memory",
    }
    for key, name in names.items():
        yield f"| {name} | {f.ours[key]:,} | {f.theirs[key]:,} |"
    yield ""
    yield (
        f"Our trace at N={a.steps:,}: {size(a.total)} = header {a.header:,} B + {a.steps:,} step records + end {a.end:,} B. "
        f"A step's tool output text appears {a.output_copies:g}x in the file, its assistant text {a.assistant_copies:g}x "
        f"(median over 3 probed steps). Step record keys: {', '.join(f'`{k}`' for k in a.keys)}."
    )
    yield ""
    yield "| step-record field | bytes/step | share |"
    yield "|---|---|---|"
    per_step = (a.total - a.header - a.end) / a.steps
    small = 0.0
    for name, b in a.per_field.items():
        if b >= 20:
            yield f"| `{name}` | {b:,.0f} | {b / per_step:.0%} |"
        else:
            small += b
    yield f"| every other field (< 20 B each) | {small:,.0f} | {small / per_step:.0%} |"
    yield f"| whole step record (incl. newline) | {per_step:,.0f} | 100% |"


def profile_section(r: Results) -> Iterator[str]:
    yield (
        f"cProfile of one recorded run (`on`, N={MAIN_N:,}, untimed, before the rounds): the {len(r.profile)} functions with the most "
        "time of their own. Shares of the profiled time; the profiler inflates every call, so read them as proportions, not µs."
    )
    yield ""
    yield "| function | calls a step | own time | with what it calls |"
    yield "|---|---|---|---|"
    for row in r.profile:
        yield f"| `{row.where}` | {row.calls_per_step:g} | {row.own:.1%} | {row.inclusive:.1%} |"


def extra_section(r: Results) -> Iterator[str]:
    if not r.args.with_peers:
        yield "Not run (`--no-with-peers`). Their last published figures are in `../shared/bench-peers/RESULTS.md`."
        return
    v = r.venv
    assert v is not None
    yield f"Scratch venv: {v.status}. `bench/.peer-venv` is left in place, not committed; {venv_in_git()}."
    if not v.python:
        yield ""
        yield "LangGraph / OTel / vcrpy rows: **skipped** (see above)."
        return
    on = r.ours.stat(MAIN_N, "on").median
    yield ""
    yield f"One process each, after the rounds above (5 reps interleaved with their loop inside it). Last column: their µs/step over ours `on` at N={MAIN_N:,} ({on:.1f})."
    yield ""
    yield "| system: variant | N | µs/step median (min-max) | their loop µs/step, same process | ratio to loop | bytes | bytes/step | x ours `on` |"
    yield "|---|---|---|---|---|---|---|---|"
    for run in r.extra_runs:
        name = f"{run.spec.script.removesuffix('.py')}: {run.spec.variant}"
        if not run.ok:
            yield f"| {name} | {run.spec.steps:,} | failed: {run.error} | | | | | |"
            continue
        assert run.us is not None and run.base is not None
        b = bytes_of(run)
        yield (
            f"| {name} | {run.spec.steps:,} | {show(run.us)} | {show(run.base)} | {run.ratio:,.1f}x | {size(b) if b else '-'} "
            f"| {f'{b / run.spec.steps:,.0f}' if b else '-'} | {run.us.median / on:,.1f}x |"
        )


def observations(r: Results) -> Iterator[str]:
    """Facts read off the tables, worded from the numbers so that a rerun cannot contradict its text."""
    o, a = r.ours, r.anatomy
    cost = cost_ratios(r, MAIN_N)
    runs = r.runs(delta_key(), MAIN_N)
    if cost and runs:
        on, bare = o.stat(MAIN_N, "on").median, o.stat(MAIN_N, "bare").median
        theirs, loop = peer_stat(runs, "us").median, peer_stat(runs, "base").median
        yield (
            f"- At N={MAIN_N:,} our traced loop costs {on:.1f} µs/step, {cost[0]:.2f}x the minimal recorder's {theirs:.1f}. "
            f"Our loop alone costs {bare:.1f} µs/step against the workload loop's {loop:.1f} ({bare / loop:.1f}x: `AgentRun` builds "
            f"an immutable state, request, response, tool result and step per turn; the `Toolbox` parses and checks the arguments); "
            f"recording itself adds {on - bare:.1f} µs/step to ours and {theirs - loop:.1f} to theirs."
        )
    dup = a.output_copies > 1 or a.assistant_copies > 1
    per_step = (a.total - a.header - a.end) / a.steps
    theirs_b = bytes_of(runs[-1]) if runs else None
    mem = next((b for k, b in a.per_field.items() if k.endswith("memory")), 0.0)
    yield (
        f"- Our trace is {per_step:,.0f} B/step"
        + (f" against the minimal recorder's {theirs_b / MAIN_N:,.0f}" if theirs_b else "")
        + f". A step's tool output is written {a.output_copies:g}x and its assistant text {a.assistant_copies:g}x"
        + (" (duplicates)" if dup else "")
        + (
            f"; the whole 20-key memory goes into every step record because the tool changes it every step ({mem:,.0f} B/step), "
            "where the minimal recorder writes no scratch at all (it re-derives it on replay and checks it through the chained hash)."
            if mem >= 20
            else "; the memory is written whole once, in the first step record, then only as each call's `memory_update`, which the "
            "reader applies again (as the minimal recorder re-derives its scratch)."
        )
    )
    first, last = r.args.sizes[0], r.args.sizes[-1]
    full, read, loop = o.stat(MAIN_N, "replay").median, o.stat(MAIN_N, "read").median, o.stat(MAIN_N, "replay_loop").median
    rep = r.runs("own_recorder:replay_delta_chainhash", MAIN_N)
    yield (
        f"- Replay at N={MAIN_N:,}: {full:.1f} µs/step ({1e6 / full:,.0f} steps/s) = the read (`api.load`) {read:.1f} (parse and check every "
        f"record, rebuild every prompt) + the replay run {loop:.1f} (backends, per-step checks, state hash)"
        + (f"; the minimal recorder's replay does both in {peer_stat(rep, 'us').median:.1f}" if rep else "")
        + f". With the collector on, building the replay run costs {o.stat(last, 'build_gc').median / 1e3:,.1f} ms once at "
        f"N={last:,} against {o.stat(last, 'build').median / 1e3:,.2f} ms with it: the collector's first pass over the "
        "trace just read."
    )
    for col, name in (("on", "recording"), ("replay", "full replay"), ("bare", "bare loop")):
        g = o.stat(last, col).median / o.stat(first, col).median
        yield f"- {name}: {o.stat(first, col).median:.1f} -> {o.stat(last, col).median:.1f} µs/step from N={first:,} to {last:,} ({g:.2f}x)."
    bad = r.failed()
    if bad:
        yield "- Failed peer runs: " + "; ".join(f"`{b.cmd}` (round {b.round + 1}): {b.error}" for b in bad) + "."


def versions(r: Results) -> Iterator[str]:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    yield f"- Python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}; {cores} cores ({usable} usable), {cpu_model()}; temp dir `{tempfile.gettempdir()}`."
    pkgs = []
    for p in ("agent-harness", "orjson", "hydra-core", "omegaconf", "deepdiff"):
        try:
            pkgs.append(f"{p}=={metadata.version(p)}")
        except metadata.PackageNotFoundError:
            pass
    yield f"- Packages (this interpreter, which also runs the peers' own-recorder and workload scripts): {', '.join(pkgs)}."
    yield f"- Working tree measured: {r.tree}."
    if r.venv and r.venv.versions:
        yield f"- Peer venv (`bench/.peer-venv`): {', '.join(f'{k}=={v}' for k, v in r.venv.versions.items())}."


def commands(r: Results) -> Iterator[str]:
    yield "```"
    yield " ".join(["python bench/bench_peers.py", *r.args.argv])
    seen = []
    for run in r.peer_runs:
        if run.cmd not in seen:
            seen.append(run.cmd)
    if r.venv:
        seen += r.venv.commands
    for run in r.extra_runs:
        if run.cmd not in seen:
            seen.append(run.cmd)
    yield from seen
    yield "```"


def render(r: Results) -> str:
    a = r.args
    lines = [
        "# Our stack vs the peers' minimal recorder, on the peers' shared workload",
        "",
        (
            f"Generated by `bench/bench_peers.py` on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} in {r.seconds:.0f} s "
            f"({a.rounds} round{'s' if a.rounds != 1 else ''}). Peers: `{os.path.relpath(r.peers, REPO)}` (see its RESULTS.md). Our own benchmarks: "
            "[RESULTS-trace.md](RESULTS-trace.md), [RESULTS-replay.md](RESULTS-replay.md), [RESULTS-inspect.md](RESULTS-inspect.md)."
        ),
        "",
        "## Goals",
        "",
        *goals_table(r),
        "",
        f"## 1. Per-step cost and trace bytes ({a.rounds} rounds; ours {a.reps} reps a round, peers one process a round)",
        "",
        *main_table(r),
        "",
        "## 2. Ours against the minimal recorder (`own_recorder.py --variant delta_chainhash`), same N",
        "",
        *ratio_table(r),
        "",
        "## 3. Replay throughput (ours, in process)",
        "",
        *replay_table(r),
        "",
        "## 4. What one step is, and where our trace bytes go",
        "",
        *step_section(r),
        "",
        "## 5. Where a recorded step's time goes",
        "",
        *profile_section(r),
        "",
        "## 6. LangGraph, OpenTelemetry, vcrpy (in a scratch venv; `--no-with-peers` leaves them out)",
        "",
        *extra_section(r),
        "",
        "## How measured",
        "",
        (
            "- Workload: the peers' `workload.py`, imported: per step its stub LLM's assistant message (one `search_docs` call) and "
            "its stub tool's output, seed 20240611, and its initial system + user messages and 20-key scratch."
        ),
        (
            "- Ours: `AgentRun(state, llm, tools, Runtime(seed), max_steps=N)` with an in-bench `WorkloadLLM` (the workload's message "
            "and usage for the turn, turn = (len(prompt) - 2) // 2, O(1)) and a real `Toolbox` holding a `search_docs(query, page)` "
            "tool that returns `ToolOutput(workload output, memory={key_(step % 20): 'call id:len'})`: the workload's scratch "
            "update as a memory update. Runs end `max_steps` after exactly N steps (checked). `on` = `TraceWriter.create` "
            "(fresh file, header from `make_header(config={}, ...)`) through `record` and `close`, fsync policy `never` (the "
            "minimal recorder flushes, no fsync). `replay` = `api.load` (`read_trace` without re-checking each prompt's digest, which the replay checks itself, as "
            "`api.replay` reads) of a trace recorded once per N, with the cyclic collector paused throughout (as "
            "`agent replay` does, agent_harness/cli), then `ReplaySession`, "
            "`ReplayLLM`, `ReplayTools` (the same tool, for its schema), `Runtime(clock=session.clock)`, `max_steps=N`, "
            "`drive(run, session.check_step)`, `session.finish` (must report N steps matched); "
            "`replay_gc` = the same without the freeze (as `agent_harness.api.replay` runs outside the CLI). These are the parts "
            "`api.replay` builds, built here from the library's pieces: the workload's initial scratch memory and stub "
            "backends are not a config the API composes, and the per-step work is what is compared."
        ),
        (
            f"- Each round: our block (at each N, the {len(OUR_VARIANTS)} variants interleaved, order rotated each rep; `gc.collect()` untimed before "
            "each measurement, collector on while timing) and one process per peer command; the order of the block and the peer "
            "commands is rotated every round. One untimed warm-up of each of our variants at each N before round 1."
        ),
        (
            "- Ours: median (min-max) over all reps of all rounds. Peers: each process runs 5 reps interleaved with the workload's "
            "plain loop after a 50-step warm-up and prints median [min-max]; across rounds this report gives the median of those "
            "medians and the lowest min / highest max. Ratios across the two are ratios of medians taken in the same run; "
            "section 2 also gives them per round."
        ),
        (
            "- Peers are run exactly by the command lines of their RESULTS.md (below; `python` = this interpreter, cwd = the "
            "repository root), and the line each prints is parsed (`workload.emit` without `--json`; 2 decimals)."
        ),
        (
            "- µs/step = wall time of the whole run / N; steps/s = 1e6 / µs/step. bytes = our trace file of the last `on` run; "
            "theirs as printed (`extras.bytes`)."
        ),
        *versions(r),
        "",
        "Command lines (from the repository root):",
        "",
        *commands(r),
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
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000], help=f"run lengths N (N={MAIN_N} is always included)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds: our block and every peer command once each")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions of each of our variants at each N, per round")
    parser.add_argument("--peers", type=Path, default=DEFAULT_PEERS, help="the peer benchmark folder (workload.py, own_recorder.py, ...)")
    parser.add_argument("--with-peers", action=argparse.BooleanOptionalAction, default=True, help="also LangGraph / OTel / vcrpy, in bench/.peer-venv")
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=True, help=f"write the report to {RESULTS} as well as printing it")
    args = parser.parse_args(argv)
    args.sizes = sorted({*args.sizes, MAIN_N})
    if args.sizes[0] < 2 or args.rounds < 1 or args.reps < 1:
        parser.error("sizes need at least 2 steps; rounds and reps at least 1")
    if not (args.peers / "workload.py").exists():
        parser.error(f"no workload.py in {args.peers}; pass --peers")
    args.argv = list(argv)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    results = main_run(args)
    text = render(results)
    publish(RESULTS, text, write=args.write)


if __name__ == "__main__":
    main()
