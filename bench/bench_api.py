"""The public API's fixed costs against what they stand on, measured in one run: issue 12's performance targets.

Three parts, interleaved round by round (``--rounds``, their order rotated every round) so that drift
on this shared 2-core machine hits every measurement alike:

1. Golden-trace suite: a throwaway test project (one test file, the README's golden-trace test, and a
   ``traces/`` folder) replayed by ``python -m pytest`` in ONE process through the plugin's
   ``replay_trace`` fixture, with 1 and with 40 copies of a six-step trace of the default task
   (recorded once through ``agent_harness.api.run``). Marginal cost per trace = (t40 - t1) / 39;
   throughput = 1 / marginal. Beside it: the same 40-test suite whose test only takes ``tmp_path``
   (pytest's own cost per test), ``python -c "import hydra"``, and in this process
   ``agent_harness.api.replay(trace, config="current")`` alone (what the fixture calls).
2. Commands: ``agent run`` and ``agent replay T`` against a minimal ``@hydra.main`` app (a 5-line
   script, no config), and the same app over the agent's own ``conf/`` (what Hydra alone costs for
   our config: its groups, its callback); ``agent trace inspect T`` against ``python -c pass``. Each
   command runs in a fresh cwd (Hydra apps write outputs/ there) and must exit 0.
3. Per step, on the peers' shared workload (``bench_peers.py``'s machinery, imported): our recording
   (``on``) against the minimal recorder (``own_recorder.py --variant delta_chainhash``), and our full
   in-process replay (read + checks + loop) against its replay (``replay_delta_chainhash``), at N=1,000.

Usage::

    python bench/bench_api.py                 # print the Markdown report
    python bench/bench_api.py --write         # also write it to bench/RESULTS-api.md
    python bench/bench_api.py --rounds 2 --reps 1   # a quick check that everything runs
    python bench/bench_api.py --only steps    # part 3 alone (per step on the peers' workload)

``--write`` owns RESULTS-api.md; anything below the notes marker of an existing file is kept.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or with -m, bench_trace is beside us
from bench_trace import Stat, agent_command, cpu_model, progress, publish, rotated

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "RESULTS-api.md"

SUITE_SIZES = (1, 40)
TASK_STEPS = 6  # the default task (task=invoices): 5 tool-call turns and the answer
PEERS_N = 1000

# The targets, as issue 12 states them.
SUITE_RATE_GOAL = 50.0  # traces per second in one pytest process
MARGINAL_GOAL_MS = 20.0  # per-trace fixed cost: (t40 - t1) / 39
HYDRA_GOAL = 1.2  # `agent run` and `agent replay` at most 1.2x a minimal @hydra.main app
INSPECT_GOAL = 1.5  # `agent trace inspect` at most 1.5x `python -c pass`
RECORD_GOAL = 2.0  # our `on` µs/step at most 2x the minimal recorder's
REPLAY_GOAL = 2.5  # our full replay µs/step at most 2.5x the minimal recorder's replay

GOLDEN_TEST = """\
import pytest

from agent_harness.pytest_plugin import golden_traces


@pytest.mark.parametrize("trace", golden_traces("traces"))
def test_agent_still_behaves(replay_trace, trace):
    replay_trace(trace)
"""

NOOP_TEST = """\
import pytest

from agent_harness.pytest_plugin import golden_traces


@pytest.mark.parametrize("trace", golden_traces("traces"))
def test_nothing(tmp_path, trace):
    assert trace.exists()
"""

HYDRA_APP = """\
import hydra

@hydra.main(version_base=None)
def app(cfg):
    pass

app()
"""

HYDRA_APP_CONF = HYDRA_APP.replace("version_base=None", 'version_base="1.3", config_path="pkg://agent.conf", config_name="config"')


# --------------------------------------------------------------------------- the things measured


def record_trace(tmp: Path) -> Path:
    """A six-step trace of the default task, recorded through the API (as a golden trace is)."""
    import agent_harness as ah

    done = ah.run(trace=tmp / "golden.jsonl", run_dir=tmp / "record-run")
    if done.outcome.status != "finished" or done.outcome.steps != TASK_STEPS or done.trace is None:
        msg = f"recording the default task should finish after {TASK_STEPS} steps; got {done.outcome.status} after {done.outcome.steps}"
        raise RuntimeError(msg)
    return done.trace


def make_suite(tmp: Path, name: str, test: str, trace: Path, count: int) -> Path:
    """A throwaway test project: one test file and ``count`` copies of ``trace`` in its traces/ folder."""
    folder = tmp / name
    (folder / "traces").mkdir(parents=True)
    (folder / "test_golden.py").write_text(test, encoding="utf-8")
    for k in range(count):
        shutil.copyfile(trace, folder / "traces" / f"golden-{k:02d}.jsonl")
    return folder


@dataclass(frozen=True, slots=True)
class Command:
    """One subprocess measured every round: its argv, and what its output must show."""

    name: str
    label: str
    argv: tuple[str, ...]
    expect: str = ""
    fresh_cwd: bool = False


# Commands run with Python's bytecode cache on, as for any installed package (pip compiles a wheel's
# modules when it installs them; an editable install's are compiled on first import): with
# PYTHONDONTWRITEBYTECODE set, as on some machines, every start would compile this project's modules
# from source while Hydra's and the standard library's come compiled.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def children_cpu_ms() -> float:
    """CPU milliseconds (user + system) of every child process waited for so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (used.ru_utime + used.ru_stime) * 1e3


def run_command(command: Command, tmp: Path) -> tuple[float, float]:
    """Wall and CPU milliseconds of one run of ``command``; it must exit 0 and print what it should."""
    cwd = Path(tempfile.mkdtemp(prefix=f"{command.name}-", dir=tmp)) if command.fresh_cwd else tmp
    cpu = children_cpu_ms()
    start = time.perf_counter_ns()
    done = subprocess.run(command.argv, cwd=cwd, capture_output=True, text=True, env=ENV, check=False)
    ms = (time.perf_counter_ns() - start) / 1e6
    cpu = children_cpu_ms() - cpu
    if done.returncode != 0 or command.expect not in done.stdout:
        msg = f"`{' '.join(command.argv)}` exited {done.returncode} (expected output with {command.expect!r}): {(done.stdout + done.stderr).strip()[-600:]}"
        raise RuntimeError(msg)
    if command.fresh_cwd:
        shutil.rmtree(cwd, ignore_errors=True)
    return ms, cpu


# What a tool with a type beyond plain JSON (an Enum, a model) costs before its first schema: pydantic's imports,
# its plugin scan, its schema generator. Tools of plain JSON types (the built-in ones) need pydantic_core alone.
PYDANTIC_SCHEMA = "import pydantic\nfrom typing_extensions import TypedDict\nclass A(TypedDict):\n    x: int\npydantic.TypeAdapter(A).json_schema()"


def commands(tmp: Path, trace: Path, suites: dict[str, Path]) -> list[Command]:
    agent, python = agent_command(), sys.executable
    (tmp / "hydra_app.py").write_text(HYDRA_APP, encoding="utf-8")
    (tmp / "hydra_app_conf.py").write_text(HYDRA_APP_CONF, encoding="utf-8")
    pytest = (python, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    found = [
        Command("suite_1", "golden suite, 1 trace", (*pytest, str(suites["suite_1"])), "1 passed"),
        Command("suite_40", "golden suite, 40 traces", (*pytest, str(suites["suite_40"])), "40 passed"),
        Command("noop_1", "1 test taking only tmp_path", (*pytest, str(suites["noop_1"])), "1 passed"),
        Command("noop_40", "40 tests taking only tmp_path (pytest's own cost per test)", (*pytest, str(suites["noop_40"])), "40 passed"),
        Command("import_hydra", '`python -c "import hydra"`', (python, "-c", "import hydra")),
        Command("python", "`python -c pass`", (python, "-c", "pass")),
        Command("python_no_site", "`python -S -c pass` (without site and the environment's .pth files)", (python, "-S", "-c", "pass")),
        Command("import_orjson", '`python -c "import orjson"`', (python, "-c", "import orjson")),
        Command("import_reading", '`python -c "import orjson, hashlib, immutables"` (what reading a trace through orjson and the state module imports)', (python, "-c", "import orjson, hashlib, immutables")),
        Command("import_quick", '`python -c "import argparse, json, _sha256"` (what `agent trace inspect` of a small trace imports besides its own modules)', (python, "-c", "import argparse, json, _sha256")),
        Command("pydantic_core", '`python -c "import hydra, pydantic_core"` (what tools of plain JSON types need for their checks)', (python, "-c", "import hydra, pydantic_core")),
        Command("pydantic_schema", '`python -c "import hydra"` and one pydantic `TypeAdapter`\'s first schema (what a tool with an Enum or a model needs)', (python, "-c", "import hydra\n" + PYDANTIC_SCHEMA)),
        Command("hydra_app", "minimal `@hydra.main` app (5 lines, no config)", (python, str(tmp / "hydra_app.py")), fresh_cwd=True),
        Command("hydra_app_conf", "the same app over the agent's conf/ (`pkg://agent.conf`)", (python, str(tmp / "hydra_app_conf.py")), fresh_cwd=True),
        Command("agent_run", "`agent run` (default task, 6 steps)", (agent, "run"), "finished after 6 steps", fresh_cwd=True),
        Command("agent_replay", "`agent replay T` (six-step trace)", (agent, "replay", str(trace)), "replay OK: 6 steps matched", fresh_cwd=True),
        Command("inspect", "`agent trace inspect T`", (agent, "trace", "inspect", str(trace)), "finished"),
    ]
    return found


def api_replays(trace: Path, tmp: Path, count: int) -> list[tuple[float, float]]:
    """Wall and CPU milliseconds of ``count`` in-process ``api.replay(trace, config="current")`` calls (what the fixture calls), after one warm-up."""
    import agent_harness as ah

    times = []
    for k in range(-1, count):
        run_dir = tmp / f"api-replay-{time.perf_counter_ns()}"
        start, cpu = time.perf_counter_ns(), time.process_time_ns()
        result = ah.replay(trace, config="current", run_dir=run_dir)
        ms, cpu_ms = (time.perf_counter_ns() - start) / 1e6, (time.process_time_ns() - cpu) / 1e6
        if not result.ok or result.steps != TASK_STEPS:
            msg = f"api.replay should match {TASK_STEPS} steps: {result}"
            raise RuntimeError(msg)
        if k >= 0:
            times.append((ms, cpu_ms))
    return times


# --------------------------------------------------------------------------- part 3: the peers' workload


def find_peers(given: Path | None) -> Path | None:
    """The peer benchmark folder: the one given, else ``shared/bench-peers`` beside the repository or above it."""
    if given is not None:
        return given if (given / "workload.py").exists() else None
    for parent in REPO.parents:
        candidate = parent / "shared" / "bench-peers"
        if (candidate / "workload.py").exists():
            return candidate
    return None


@dataclass
class PeersPart:
    """bench_peers.py's ``Ours`` at N=1,000 and the two peer commands, one block each a round."""

    peers: Path
    reps: int
    tmp: Path
    ours: object = None
    runs: dict[str, list[object]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import bench_peers as bp

        self.bp = bp
        self.W = bp.load_workload(self.peers)
        self.ours = bp.Ours(self.W, [PEERS_N], self.reps, self.tmp / "peers")
        (self.tmp / "peers").mkdir()
        self.specs = {
            "delta_chainhash": bp.PeerSpec("own_recorder.py", "delta_chainhash", PEERS_N),
            "replay_delta_chainhash": bp.PeerSpec("own_recorder.py", "replay_delta_chainhash", PEERS_N),
        }
        self.runs = {name: [] for name in self.specs}

    def prepare(self) -> None:
        self.ours.record_refs()  # type: ignore[attr-defined]
        self.ours.warm_up()  # type: ignore[attr-defined]

    def items(self) -> list[str]:
        return ["ours", *self.specs]

    def measure(self, item: str, round_no: int) -> None:
        if item == "ours":
            self.ours.block(round_no)  # type: ignore[attr-defined]
            return
        run = self.bp.run_peer(self.specs[item], self.peers, sys.executable, "python", round_no)
        if not run.ok:
            msg = f"peer command {' '.join(self.specs[item].argv(self.peers))} failed: {run.error}"
            raise RuntimeError(msg)
        self.runs[item].append(run)

    def ours_stat(self, column: str) -> Stat:
        return self.ours.stat(PEERS_N, column)  # type: ignore[attr-defined]

    def theirs(self, name: str) -> Stat:
        return self.bp.peer_stat(self.runs[name], "us")

    def per_round(self, column: str, name: str) -> Stat:
        """Ours / theirs, each round's medians: the spread of the ratio."""
        ratios = []
        for run in self.runs[name]:
            mine = self.ours.values(PEERS_N, column, run.round)  # type: ignore[attr-defined]
            if mine:
                ratios.append(statistics.median(mine) / run.us.median)
        return Stat.of(ratios)


# --------------------------------------------------------------------------- one run of the whole benchmark


@dataclass
class Results:
    args: argparse.Namespace
    commands: list[Command]
    samples: dict[str, list[float]]
    api_ms: list[tuple[float, float]]
    peers: PeersPart | None
    trace_bytes: int
    seconds: float = 0.0

    def stat(self, name: str) -> Stat:
        return Stat.of(self.samples[name])

    def med(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def paired(self, a: str, b: str, fn: Callable[[float, float], float]) -> Stat:
        """``fn(a, b)`` round by round: a and b ran in the same round, so drift between rounds cancels."""
        return Stat.of([fn(x, y) for x, y in zip(self.samples[a], self.samples[b], strict=True)])

    def marginal(self, kind: str = "") -> float:
        """Milliseconds per extra trace, from the medians: (t40 - t1) / 39 (``kind=":cpu"``: of CPU time)."""
        return (self.med(f"suite_40{kind}") - self.med(f"suite_1{kind}")) / (SUITE_SIZES[1] - SUITE_SIZES[0])

    def marginal_rounds(self) -> Stat:
        return self.paired("suite_40", "suite_1", lambda a, b: (a - b) / (SUITE_SIZES[1] - SUITE_SIZES[0]))


def bench(args: argparse.Namespace, tmp: Path) -> Results:
    steps_only = args.only == "steps"
    trace, found = None, []
    if not steps_only:
        progress("recording a six-step trace of the default task through agent_harness.api.run")
        trace = record_trace(tmp)
        suites = {
            "suite_1": make_suite(tmp, "suite-1", GOLDEN_TEST, trace, SUITE_SIZES[0]),
            "suite_40": make_suite(tmp, "suite-40", GOLDEN_TEST, trace, SUITE_SIZES[1]),
            "noop_1": make_suite(tmp, "noop-1", NOOP_TEST, trace, SUITE_SIZES[0]),
            "noop_40": make_suite(tmp, "noop-40", NOOP_TEST, trace, SUITE_SIZES[1]),
        }
        found = commands(tmp, trace, suites)
    peers = None
    if args.peers_part:
        folder = find_peers(args.peers)
        if folder is None:
            progress("no peer benchmark folder (shared/bench-peers) found: part 3 skipped; pass --peers")
        else:
            peers = PeersPart(folder, args.reps, tmp)
            progress(f"part 3: recording the peers' workload at N={PEERS_N} through our stack, warm-up")
            peers.prepare()
    by_name = {c.name: c for c in found}
    samples: dict[str, list[float]] = {c.name: [] for c in found}
    api_ms: list[tuple[float, float]] = []
    items = [*by_name, *([] if steps_only else ["api"]), *(peers.items() if peers else [])]
    for rep in range(-1, args.rounds):  # round -1 is the warm-up
        for item in rotated(items, rep):
            if item == "api":
                times = api_replays(trace, tmp, args.api_reps)
                if rep >= 0:
                    api_ms += times
            elif item in by_name:
                ms, cpu = run_command(by_name[item], tmp)
                if rep >= 0:
                    samples[item].append(ms)
                    samples.setdefault(f"{item}:cpu", []).append(cpu)
            elif peers is not None and rep >= 0:
                peers.measure(item, rep)
        progress(f"round {rep + 1}/{args.rounds} done" if rep >= 0 else "warm-up round done")
    return Results(args, found, samples, api_ms, peers, 0 if trace is None else trace.stat().st_size)


# --------------------------------------------------------------------------- the report


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**NO**")


def ratio(r: Results, a: str, b: str) -> tuple[float, Stat]:
    """a / b from the medians, and round by round."""
    return r.med(a) / r.med(b), r.paired(a, b, lambda x, y: x / y)


def goals(r: Results) -> Iterator[tuple[str, str, str, bool | None]]:
    if r.args.only != "steps":
        yield from command_goals(r)
    yield from step_goals(r)


def command_goals(r: Results) -> Iterator[tuple[str, str, str, bool | None]]:
    """Parts 1 and 2's targets."""
    marginal, per_round = r.marginal(), r.marginal_rounds()
    yield (
        "golden-trace suite throughput, one pytest process",
        f">= {SUITE_RATE_GOAL:.0f} traces/s",
        f"{1e3 / marginal:,.0f} traces/s (1 / marginal cost)",
        1e3 / marginal >= SUITE_RATE_GOAL,
    )
    yield (
        "per-trace fixed cost: (t40 - t1) / 39",
        f"<= {MARGINAL_GOAL_MS:.0f} ms",
        f"{marginal:.1f} ms (round by round {per_round.low:.1f} to {per_round.high:.1f}); CPU time {r.marginal(':cpu'):.1f} ms",
        marginal <= MARGINAL_GOAL_MS,
    )
    for name in ("agent_run", "agent_replay"):
        overall, rounds = ratio(r, name, "hydra_app")
        yield (
            f"`{'agent run' if name == 'agent_run' else 'agent replay T'}` / minimal `@hydra.main` app",
            f"<= {HYDRA_GOAL:.1f}x",
            f"{overall:.2f}x ({r.med(name):,.0f} vs {r.med('hydra_app'):,.0f} ms; per round {rounds.low:.2f}-{rounds.high:.2f}x); "
            f"CPU time {r.med(name + ':cpu') / r.med('hydra_app:cpu'):.2f}x",
            overall <= HYDRA_GOAL,
        )
    overall, rounds = ratio(r, "inspect", "python")
    yield (
        "`agent trace inspect T` / `python -c pass`",
        f"<= {INSPECT_GOAL:.1f}x",
        f"{overall:.2f}x ({r.med('inspect'):,.0f} vs {r.med('python'):,.0f} ms; per round {rounds.low:.2f}-{rounds.high:.2f}x); "
        f"CPU time {r.med('inspect:cpu') / r.med('python:cpu'):.2f}x",
        overall <= INSPECT_GOAL,
    )


def step_goals(r: Results) -> Iterator[tuple[str, str, str, bool | None]]:
    """Part 3's targets."""
    p = r.peers
    if p is None:
        yield ("recording / minimal recorder (peers' workload)", f"<= {RECORD_GOAL:.1f}x", "not measured (no peers folder)", None)
        yield ("replay / minimal recorder's replay", f"<= {REPLAY_GOAL:.1f}x", "not measured (no peers folder)", None)
        return
    for column, name, goal, what in (
        ("on", "delta_chainhash", RECORD_GOAL, "recording (`on`) / minimal recorder (`delta_chainhash`)"),
        ("replay", "replay_delta_chainhash", REPLAY_GOAL, "full replay / minimal recorder's replay (`replay_delta_chainhash`)"),
    ):
        mine, theirs = p.ours_stat(column).median, p.theirs(name).median
        rounds = p.per_round(column, name)
        yield (
            f"{what}, µs/step at N={PEERS_N:,}",
            f"<= {goal:.1f}x",
            f"{mine / theirs:.2f}x ({mine:.1f} vs {theirs:.1f} µs/step; per round {rounds.low:.2f}-{rounds.high:.2f}x)",
            mine / theirs <= goal,
        )


def goals_table(r: Results) -> Iterator[str]:
    yield "| target | goal | measured | met |"
    yield "|---|---|---|---|"
    for goal, target, measured, met in goals(r):
        yield f"| {goal} | {target} | {measured} | {verdict(met)} |"


def command_table(r: Results) -> Iterator[str]:
    yield "| command | wall ms median (min-max) | CPU ms median (min-max) |"
    yield "|---|---|---|"
    for c in r.commands:
        yield f"| {c.label} | {r.stat(c.name).show()} | {r.stat(c.name + ':cpu').show()} |"


def suite_table(r: Results) -> Iterator[str]:
    n = SUITE_SIZES[1] - SUITE_SIZES[0]
    noop = (r.med("noop_40") - r.med("noop_1")) / n
    api, api_cpu = Stat.of([w for w, _ in r.api_ms]), Stat.of([c for _, c in r.api_ms])
    yield "| measure | ms |"
    yield "|---|---|"
    yield f"| t1: the suite with 1 trace (median) | {r.med('suite_1'):,.0f} |"
    yield f"| t40: the suite with 40 traces (median) | {r.med('suite_40'):,.0f} |"
    yield f"| marginal cost per trace, (t40 - t1) / {n} | **{r.marginal():.1f}** |"
    yield f"| same, round by round: median (min-max) | {r.marginal_rounds().show()} |"
    yield f"| marginal CPU time per trace (same formula, the pytest process's CPU time) | {r.marginal(':cpu'):.1f} |"
    yield f"| 40 traces / t40 (start-up included), traces/s | {SUITE_SIZES[1] * 1e3 / r.med('suite_40'):,.1f} |"
    yield f"| t1 - `python -c \"import hydra\"` (pytest start-up, imports, one replay) | {r.med('suite_1') - r.med('import_hydra'):,.0f} |"
    yield f"| pytest's own marginal cost per test (tmp_path, parametrize, reporting): (40 no-op tests - 1) / {n} | {noop:.1f} |"
    yield f"| so the replay's own marginal cost per trace (marginal - pytest's) | {r.marginal() - noop:.1f} |"
    yield f"| `api.replay(T, config=\"current\")` in process, {len(r.api_ms)} calls: median (min-max) | {api.show()} |"
    yield f"| same, CPU time | {api_cpu.show()} |"


def peers_table(r: Results) -> Iterator[str]:
    p = r.peers
    if p is None:
        yield "Not measured: no peer benchmark folder (`shared/bench-peers`) was found; pass `--peers`."
        return
    yield f"Peers: `{os.path.relpath(p.peers, REPO)}`. Ours: {r.args.reps} reps of each variant a round; theirs: one process a round.\n"
    yield "| system: variant | µs/step median (min-max) |"
    yield "|---|---|"
    for column, what in (
        ("bare", "ours: the loop, no tracing"),
        ("on", "ours: `TraceWriter.record`"),
        ("replay", "ours: `api.load` + replay run + checks, collector paused (as `agent replay`)"),
        ("replay_loop", "ours: the same minus the read"),
        ("replay_gc", "ours: the full replay with the collector on"),
    ):
        yield f"| {what} | {p.ours_stat(column).show()} |"
    yield f"| peers: `delta_chainhash` (minimal recorder) | {p.theirs('delta_chainhash').show()} |"
    yield f"| peers: `replay_delta_chainhash` (its replay) | {p.theirs('replay_delta_chainhash').show()} |"


def attribution(r: Results) -> Iterator[str]:
    """Where the commands' time goes, from differences of medians taken in the same run."""
    py, hydra, app, conf = r.med("python"), r.med("import_hydra"), r.med("hydra_app"), r.med("hydra_app_conf")
    yield (
        f"- Python start-up (`python -c pass`): {py:,.0f} ms, of which site and the environment's .pth files take "
        f"{py - r.med('python_no_site'):,.0f} ms (`python -S -c pass`: {r.med('python_no_site'):,.0f} ms); importing Hydra adds {hydra - py:,.0f} ms."
    )
    yield f"- A minimal `@hydra.main` app: {app:,.0f} ms, {app - hydra:,.0f} ms past importing Hydra (plugin scan, its own config, logging, the run dir and `.hydra/` files)."
    yield f"- The same app over the agent's conf/: {conf:,.0f} ms ({conf - app:+,.0f} ms: our config groups and the status callback, composed and built by Hydra)."
    core, pyd = r.med("pydantic_core") - hydra, r.med("pydantic_schema") - hydra
    yield (
        f"- `agent run`: {r.med('agent_run'):,.0f} ms, {r.med('agent_run') - conf:+,.0f} ms over that app (which composes the config twice, "
        f"as Hydra does, with the cyclic collector walking what it builds; `agent run` composes it once, with the collector paused until "
        f"the run starts): our imports, building the run, the six steps, printing. Of that, the "
        f"built-in tools' argument checks cost {core:,.0f} ms of pydantic_core's imports ({core / app:.2f} of the minimal app's time; "
        f"`import hydra, pydantic_core` less `import hydra`). A tool with a type beyond plain JSON would bring in pydantic's schema "
        f"generator: {pyd:,.0f} ms ({pyd / app:.2f}; `import hydra` and one `TypeAdapter` less `import hydra`)."
    )
    yield f"- `agent replay T`: {r.med('agent_replay'):,.0f} ms, {r.med('agent_replay') - hydra:+,.0f} ms past importing Hydra, of which pydantic_core's imports are about {core:,.0f} ms."
    orj, reading, quick = r.med("import_orjson"), r.med("import_reading"), r.med("import_quick")
    yield (
        f"- `agent trace inspect T`: {r.med('inspect'):,.0f} ms, {r.med('inspect') - py:+,.0f} ms past Python's start-up, of which argparse, "
        f"json and the built-in sha256 are {quick - py:+,.0f} ms. It reads a trace of at most 1 MiB with those (tracing/quickread.py), "
        f"to the same records, digests and errors as orjson: importing orjson (which itself imports json, dataclasses, inspect, uuid, "
        f"datetime, enum) is {orj - py:+,.0f} ms ({orj / py:.2f}x `python -c pass`), and with hashlib and immutables, which the state "
        f"module needs, {reading - py:+,.0f} ms ({reading / py:.2f}x)."
    )


def commands_sections(r: Results) -> list[str]:
    """Parts 1 and 2 of the report."""
    return [
        f"## 1. Golden-trace suite ({SUITE_SIZES[0]} vs {SUITE_SIZES[1]} six-step traces, {r.trace_bytes:,} bytes each, one pytest process)",
        "",
        *suite_table(r),
        "",
        f"## 2. Commands ({r.args.rounds} runs each)",
        "",
        *command_table(r),
        "",
        "Where the time goes (differences of medians):",
        "",
        *attribution(r),
        "",
    ]


def render(r: Results) -> str:
    a = r.args
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    command = " ".join(["python bench/bench_api.py", *a.argv])
    lines = [
        "# The API's fixed costs (issue 12's performance targets)",
        "",
        f"Generated by `bench/bench_api.py` on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} in {r.seconds:.0f} s ({a.rounds} rounds).",
        "",
        "## Targets",
        "",
        *goals_table(r),
        "",
        *([] if a.only == "steps" else commands_sections(r)),
        f"## 3. Per step on the peers' workload (N={PEERS_N:,})",
        "",
        *peers_table(r),
        "",
        "## How measured",
        "",
        f"- Command: `{command}` (from the repository root).",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}; "
        f"{cores} cores ({usable} usable), {cpu_model()}; temp dir `{tempfile.gettempdir()}`. The machine is shared: "
        "other processes ran beside the benchmark, so absolute times vary; ratios are of medians taken in the same run, "
        "and the per-round ranges show their spread.",
        "- Every round runs every command once, `api.replay` in process "
        f"{a.api_reps} times, and (part 3) our block and each peer process once, in an order rotated every round, after one "
        "untimed warm-up round. Wall time of each subprocess with `time.perf_counter_ns`; every command must exit 0 "
        "and print what it should (`40 passed`, `replay OK: 6 steps matched`, ...).",
        "- CPU time: user + system time of the child, from `resource.getrusage(RUSAGE_CHILDREN)` before and after it; on a "
        "busy machine it moves less than wall time, which includes waiting for a core.",
        "- Subprocesses run with the bytecode cache on (`PYTHONDONTWRITEBYTECODE` taken out of their environment), as an "
        "installed package runs: with it set, every start compiles this project's modules from source while Hydra's and the "
        "standard library's come compiled.",
        "- The golden trace is recorded once with `agent_harness.api.run(trace=...)` (the default task, 6 steps). Suites are "
        "`python -m pytest -q -p no:cacheprovider <folder>`; the test file is the README's golden-trace test "
        "(`golden_traces(\"traces\")` + `replay_trace(trace)`, which replays with `config=\"current\"`).",
        f"- The minimal Hydra app:\n\n```python\n{HYDRA_APP}```\n\n  and the same with `config_path=\"pkg://agent.conf\", config_name=\"config\"`.",
        "- Part 3: `bench_peers.py`'s `Ours` (our loop on the peers' workload, a reference trace recorded once) and "
        "`run_peer` (the peers' `own_recorder.py`, its printed line parsed); see RESULTS.md for the method. Our replay there "
        "is built from the library's pieces (`ReplaySession`, `ReplayLLM`, `ReplayTools`) because the workload's initial "
        "memory and stub backends are not a config `agent_harness.api.replay` composes; it is the per-step replay "
        "(read + check + loop) that this target is about.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9, help="rounds: every measurement once each")
    parser.add_argument("--reps", type=int, default=3, help="part 3: reps of each of our variants a round")
    parser.add_argument("--api-reps", type=int, default=10, help="in-process api.replay calls a round")
    parser.add_argument("--peers", type=Path, default=None, help="the peer benchmark folder (default: shared/bench-peers beside the repository or above)")
    parser.add_argument("--peers-part", action=argparse.BooleanOptionalAction, default=True, help="part 3 (the peers' workload)")
    parser.add_argument("--only", choices=("steps",), default=None, help="run one part alone: steps = part 3, per step on the peers' workload (not with --write)")
    parser.add_argument("--write", action="store_true", help=f"also write the report to {RESULTS}")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.reps < 1 or args.api_reps < 1:
        parser.error("rounds, reps and api-reps must be at least 1")
    if args.only is not None and args.write:
        parser.error(f"--only makes a partial report: it is not written to {RESULTS.name}")
    if args.only == "steps" and not args.peers_part:
        parser.error("--only steps runs part 3, which --no-peers-part turns off")
    args.argv = list(argv)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as folder:
        results = bench(args, Path(folder))
    results.seconds = time.perf_counter() - started
    publish(RESULTS, render(results), write=args.write)


if __name__ == "__main__":
    main()
