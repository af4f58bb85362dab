"""What a sweep costs: 8 jobs of the default task under Hydra's launchers, and tracing's share of each job.

The companion of ``bench_trace.py`` (recording one run) and ``bench_replay.py`` (replaying one). The
sweep is ``agent run -m agent.max_steps=20,21,...,27``: ``--jobs`` (default 8) jobs of the default
task (``task=invoices``, 6 steps each, finished well before any of those step limits), so every job
does the same work and only the launcher and tracing differ. Every command runs as a subprocess (the
console script next to the interpreter) in a fresh temporary cwd, so its ``multirun/`` lands there,
and must exit 0; afterwards (untimed) every job must have left a ``status.json`` saying ``finished``
after 6 steps, and, with ``trace=true``, a whole trace ending the same way.

1. Launchers, ``trace=true``: basic (in process, one job after another) vs
   ``hydra/launcher=joblib hydra.launcher.n_jobs=2`` (and ``n_jobs=1``, which joblib runs in the calling
   process) vs ``hydra/launcher=submitit_local`` (a process per job; fewer rounds, ``--submitit-reps``);
   1-job sweeps of basic and joblib too, to split each into a fixed cost and a cost per job;
   ``python -c pass``; and a CPU check (one busy loop alone vs two at once) in every round, since
   what a parallel launcher can gain depends on how parallel this machine's cores really are.
2. Tracing per job, basic launcher: the same sweep with ``trace=true`` vs ``trace=false``,
   (on - off) / jobs, from the wall times and from the jobs' own spans.
3. Where the time goes: a timeline of every sweep from its files' modification times, and the
   basic-launcher sweep in one process with timers wrapped around Hydra's and the agent's functions.

Usage::

    python bench/bench_sweep.py            # print the Markdown report
    python bench/bench_sweep.py --write    # also write it to bench/RESULTS-sweep.md

Subprocess variants are interleaved, their order rotated every repetition, after one untimed
warm-up round. ``--write`` owns RESULTS-sweep.md (bench_trace.py owns RESULTS-trace.md, which links here
from its hand-written notes); anything below the notes marker of an existing RESULTS-sweep.md is kept.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tracing.reader import read_trace

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or with -m, bench_trace is beside us
from bench_trace import Stat, agent_command, cpu_model, progress, publish, rotated

RESULTS = Path(__file__).with_name("RESULTS-sweep.md")

FIRST_MAX_STEPS = 20  # job k runs with agent.max_steps=20+k: all finish the 6-step default task
TASK_STEPS = 6  # the default task's script: 5 tool-call turns and the answer
JOBLIB = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
JOBLIB_1 = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=1")  # joblib falls back to running the jobs in the parent
SUBMITIT = ("hydra/launcher=submitit_local",)


def sweep_values(jobs: int) -> str:
    return ",".join(str(FIRST_MAX_STEPS + k) for k in range(jobs))


@dataclass(frozen=True, slots=True)
class Variant:
    """One subprocess measured in section 1 or 2."""

    name: str
    label: str
    launcher: tuple[str, ...] = ()
    jobs: int = 0  # 0: not a sweep (`python -c pass`)
    trace: bool = True

    def args(self, agent: str) -> list[str]:
        if self.jobs == 0:
            return [sys.executable, "-c", "pass"]
        return [agent, "run", "-m", *self.launcher, f"agent.max_steps={sweep_values(self.jobs)}", f"trace={str(self.trace).lower()}"]

    def shown(self) -> str:
        """The command as a reader would type it."""
        if self.jobs == 0:
            return "python -c pass"
        return " ".join(["agent run -m", *self.launcher, f"agent.max_steps={sweep_values(self.jobs)}", f"trace={str(self.trace).lower()}"])


def variants(jobs: int, *, submitit: bool) -> list[Variant]:
    found = [
        Variant("basic", "basic", (), jobs),
        Variant("basic_off", "basic, trace=false", (), jobs, trace=False),
        Variant("joblib", "joblib, n_jobs=2", JOBLIB, jobs),
        Variant("joblib_n1", "joblib, n_jobs=1", JOBLIB_1, jobs),
        Variant("basic_1", "basic, 1 job", (), 1),
        Variant("joblib_1", "joblib, n_jobs=2, 1 job", JOBLIB, 1),
        Variant("python", "`python -c pass`"),
    ]
    if submitit:
        found.insert(3, Variant("submitit", "submitit_local", SUBMITIT, jobs))
    return found


# --------------------------------------------------------------------------- one sweep, run and checked


@dataclass(frozen=True, slots=True)
class Timeline:
    """Milliseconds of one sweep, from the clock around the subprocess and its files' modification times.

    ``config.yaml`` (in each job's ``.hydra/``) is the first file Hydra's ``run_job`` writes and
    ``status.json`` the last (the JobStatusFile callback at job end), so their mtimes bracket a job.
    """

    wall: float
    to_multirun: float  # spawn -> multirun.yaml (interpreter, imports, the primary config composed)
    to_first_job: float  # multirun.yaml -> first job's config.yaml (the sweeper validates every job's config; workers start)
    jobs_phase: float  # first job's config.yaml -> last job's status.json
    spans: tuple[float, ...]  # each job's config.yaml -> status.json, by job number
    gaps: tuple[float, ...]  # job k's status.json -> job k+1's config.yaml (negative where jobs overlap)
    tail: float  # last status.json -> the process has exited


def mtime(path: Path) -> float:
    return path.stat().st_mtime_ns / 1e9


def check_sweep(cwd: Path, jobs: int, *, trace: bool) -> Path:
    """The sweep folder, after checking that every job finished and left what it should; raises otherwise."""
    folders = sorted((cwd / "multirun").glob("*/*"))
    if len(folders) != 1:
        msg = f"expected one sweep folder under {cwd / 'multirun'}, found {len(folders)}"
        raise RuntimeError(msg)
    sweep = folders[0]
    numbers = sorted(int(p.name) for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    if numbers != list(range(jobs)):
        msg = f"{sweep}: job folders {numbers}, expected 0..{jobs - 1}"
        raise RuntimeError(msg)
    seen = set()
    for k in numbers:
        folder = sweep / str(k)
        status_file, trace_file = folder / "status.json", folder / "trace.jsonl"
        if not status_file.is_file():
            msg = f"job {k} wrote no status.json ({folder})"
            raise RuntimeError(msg)
        status = json.loads(status_file.read_text(encoding="utf-8"))
        if status.get("job") != k or status.get("status") != "finished" or status.get("steps") != TASK_STEPS:
            msg = f"job {k}: status.json says job={status.get('job')} {status.get('status')} after {status.get('steps')} steps ({status.get('error')})"
            raise RuntimeError(msg)
        seen.add(" ".join(status.get("overrides", [])))
        if not (folder / ".hydra" / "config.yaml").is_file():
            msg = f"job {k} has no .hydra/config.yaml ({folder})"
            raise RuntimeError(msg)
        if not trace:
            if trace_file.exists() or status.get("trace") is not None:
                msg = f"job {k} ran with trace=false but has a trace ({folder})"
                raise RuntimeError(msg)
            continue
        if not trace_file.is_file() or status.get("trace") != str(trace_file):
            msg = f"job {k} wrote no trace at {trace_file} (status.json: trace={status.get('trace')})"
            raise RuntimeError(msg)
        read = read_trace(trace_file)
        if read.end is None or read.end.get("status") != "finished" or len(read.steps) != TASK_STEPS or read.header["job"]["num"] != k:
            msg = f"job {k}: trace {trace_file} is not a whole {TASK_STEPS}-step finished run of job {k}"
            raise RuntimeError(msg)
    if len(seen) != jobs:
        msg = f"{sweep}: {jobs} jobs but {len(seen)} distinct override sets"
        raise RuntimeError(msg)
    return sweep


def timeline(sweep: Path, jobs: int, spawned: float, exited: float) -> Timeline:
    starts = [mtime(sweep / str(k) / ".hydra" / "config.yaml") for k in range(jobs)]
    ends = [mtime(sweep / str(k) / "status.json") for k in range(jobs)]
    multirun = mtime(sweep / "multirun.yaml")
    ms = 1e3
    return Timeline(
        wall=(exited - spawned) * ms,
        to_multirun=(multirun - spawned) * ms,
        to_first_job=(min(starts) - multirun) * ms,
        jobs_phase=(max(ends) - min(starts)) * ms,
        spans=tuple((e - s) * ms for s, e in zip(starts, ends, strict=True)),
        gaps=tuple((starts[k + 1] - ends[k]) * ms for k in range(jobs - 1)),
        tail=(exited - max(ends)) * ms,
    )


def run_variant(variant: Variant, agent: str, tmp: Path) -> tuple[float, Timeline | None]:
    """Wall ms of one run of ``variant`` in a fresh cwd, and for a sweep its checked timeline."""
    cwd = Path(tempfile.mkdtemp(prefix=f"{variant.name}-", dir=tmp))
    args = variant.args(agent)
    spawned, start = time.time(), time.perf_counter_ns()
    done = subprocess.run(args, cwd=cwd, capture_output=True, check=False)
    ms = (time.perf_counter_ns() - start) / 1e6
    exited = time.time()
    if done.returncode != 0:
        msg = f"`{' '.join(args)}` exited {done.returncode}: {done.stderr.decode(errors='replace').strip()[-600:]}"
        raise RuntimeError(msg)
    if variant.jobs == 0:
        return ms, None
    sweep = check_sweep(cwd, variant.jobs, trace=variant.trace)
    return ms, timeline(sweep, variant.jobs, spawned, exited)


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)
    timelines: list[Timeline] = field(default_factory=list)


def bench_subprocesses(chosen: Sequence[Variant], reps: int, submitit_reps: int, tmp: Path) -> tuple[dict[str, Samples], Stat]:
    """Every variant ``reps`` times (submitit_local ``submitit_reps`` times), interleaved, after a warm-up round.

    The CPU check (see ``parallelism``) takes its turn in every round too, so it sees the machine as the sweeps do.
    """
    agent = agent_command()
    by_name = {v.name: v for v in chosen}
    samples = {v.name: Samples() for v in chosen}
    cpu: list[float] = []
    for rep in range(-1, reps):
        names = [n for n in by_name if not (n == "submitit" and rep >= submitit_reps)]
        for name in rotated([*names, "cpu"], rep):
            if name == "cpu":
                ratio = parallelism()
                if rep >= 0:
                    cpu.append(ratio)
                continue
            ms, line = run_variant(by_name[name], agent, tmp)
            if rep >= 0:
                samples[name].wall.append(ms)
                if line is not None:
                    samples[name].timelines.append(line)
        progress(f"   round {rep + 1}/{reps} done" if rep >= 0 else "   warm-up round done")
    return samples, Stat.of(cpu)


# --------------------------------------------------------------------------- how parallel the cores are

_BUSY_LOOP = """\
import sys, time
start = time.perf_counter()
x = 0
for i in range(int(sys.argv[1])):
    x += i
print(time.perf_counter() - start)
"""


def busy(n: int, count: int) -> list[float]:
    """Seconds each of ``count`` processes, started together, spends in a pure-Python loop of ``n`` additions."""
    procs = [subprocess.Popen([sys.executable, "-c", _BUSY_LOOP, str(n)], stdout=subprocess.PIPE, text=True) for _ in range(count)]
    return [float(p.communicate()[0]) for p in procs]


BUSY_ADDITIONS = 15_000_000  # ~0.4 s of one core


def parallelism(n: int = BUSY_ADDITIONS) -> float:
    """Effective parallelism of two CPU-bound processes: 2 x (one loop alone) / (the slower of two loops run together).

    2.0 means two real cores; a VM whose two vCPUs share a physical core, or are throttled, gives less.
    """
    alone = busy(n, 1)[0]
    together = max(busy(n, 2))
    return 2 * alone / together


# --------------------------------------------------------------------------- section 3b: in process

# Runs `agent run -m ...` in this interpreter with timers around the functions a basic-launcher
# sweep goes through, then writes {name: [[start_ms, duration_ms], ...]} to argv[1]. Only what
# `agent run` imports before its first job ends anyway is imported here (agent_harness.cli and its
# run command; Hydra's plugin registry and config loader; the status callback's module, which Hydra
# loads to instantiate it; agent_harness.api and secrets_hydra, which job 0 would import).
_TIMED_SWEEP = """\
import json, sys, time
T0 = time.perf_counter()
OUT, ARGS = sys.argv[1], sys.argv[2:]  # the run command sets sys.argv for Hydra
events = {}
def timed(name, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            events.setdefault(name, []).append([(start - T0) * 1e3, (time.perf_counter() - start) * 1e3])
    return wrapper
import agent_harness.cli as cli
import agent_harness.cli.run as run_command
import agent_harness.api as api
import agent_harness.secrets_hydra as secrets_hydra
import hydra._internal.config_loader_impl as cl
import hydra.core.plugins as hp
import agent_harness.callbacks as js
events["imports"] = [[0.0, (time.perf_counter() - T0) * 1e3]]
# Hydra's plugin scan re-executes its core_plugins modules, so the sweeper, the launcher and the
# launcher module's run_job are wrapped as Hydra hands them out, not where they are defined.
def sweeper_made(make):
    def wrapper(*args, **kwargs):
        sweeper = make(*args, **kwargs)
        sweeper.validate_batch_is_legal = timed("validate", sweeper.validate_batch_is_legal)
        return sweeper
    return wrapper
def launcher_made(make):
    def wrapper(*args, **kwargs):
        launcher = make(*args, **kwargs)
        launcher.launch = timed("launch", launcher.launch)
        module = sys.modules[type(launcher).__module__]
        module.run_job = timed("hydra_run_job", module.run_job)
        return launcher
    return wrapper
hp.Plugins.instantiate_sweeper = sweeper_made(hp.Plugins.instantiate_sweeper)
hp.Plugins.instantiate_launcher = launcher_made(hp.Plugins.instantiate_launcher)
cl.ConfigLoaderImpl.load_sweep_config = timed("load_sweep_config", cl.ConfigLoaderImpl.load_sweep_config)
js.JobStatusFile.on_job_end = timed("status_callback", js.JobStatusFile.on_job_end)
# Each is looked up by name where it is called (run_job by the run command, the others inside run_job).
run_command.run_job = timed("run_job", run_command.run_job)
api.execute = timed("execute", api.execute)
api.header = timed("header", api.header)
secrets_hydra.scrub_hydra_records = timed("scrub_hydra_records", secrets_hydra.scrub_hydra_records)
try:
    timed("main", cli.main)(ARGS)
except SystemExit as exit:
    if exit.code not in (0, None):
        raise
with open(OUT, "w") as out:
    json.dump(events, out)
"""


@dataclass(frozen=True, slots=True)
class InProcess:
    """One timed in-process sweep, in ms: whole phases, and per job (by job number)."""

    imports: float
    main: float
    before_sweep: float  # main() entered -> validation starts (Hydra set up, primary config composed)
    validate: float  # the sweeper composing every job's config up front
    launch: float
    compose: tuple[float, ...]  # the launcher composing job k's config
    hydra_job: tuple[float, ...]  # Hydra's run_job for job k, minus the task and the status callback
    status: tuple[float, ...]  # JobStatusFile.on_job_end
    task: tuple[float, ...]  # agent_harness.cli.run.run_job
    run_agent: tuple[float, ...]  # agent_harness.api.execute (build, drive or record, trace file)
    header: tuple[float, ...]  # agent_harness.api.header (trace=true only)
    scrub: tuple[float, ...]  # agent_harness.secrets_hydra.scrub_hydra_records
    after_sweep: float  # launch returned -> main() returns

    @property
    def launcher_other(self) -> float:
        """Launch minus its jobs' composes and run_jobs: logging set-up and the loop itself."""
        return self.launch - sum(self.compose) - sum(self.hydra_job) - sum(self.status) - sum(self.task)


def run_in_process(jobs: int, *, trace: bool, tmp: Path) -> InProcess:
    cwd = Path(tempfile.mkdtemp(prefix=f"inproc-{'on' if trace else 'off'}-", dir=tmp))
    out = cwd / "events.json"
    args = ["run", "-m", f"agent.max_steps={sweep_values(jobs)}", f"trace={str(trace).lower()}"]
    done = subprocess.run([sys.executable, "-c", _TIMED_SWEEP, str(out), *args], cwd=cwd, capture_output=True, check=False)
    if done.returncode != 0 or not out.is_file():
        msg = f"timed in-process sweep exited {done.returncode}: {done.stderr.decode(errors='replace').strip()[-600:]}"
        raise RuntimeError(msg)
    check_sweep(cwd, jobs, trace=trace)
    ev = json.loads(out.read_text(encoding="utf-8"))

    def durations(name: str) -> tuple[float, ...]:
        return tuple(d for _, d in ev.get(name, []))

    loads = durations("load_sweep_config")
    if len(loads) != 2 * jobs or len(durations("hydra_run_job")) != jobs or len(durations("run_job")) != jobs:
        msg = f"timed in-process sweep: {len(loads)} config compositions and {len(durations('run_job'))} jobs; expected {2 * jobs} and {jobs}"
        raise RuntimeError(msg)
    status, task = durations("status_callback"), durations("run_job")
    (main_start, main_ms), (val_start, val_ms), (launch_start, launch_ms) = ev["main"][0], ev["validate"][0], ev["launch"][0]
    return InProcess(
        imports=ev["imports"][0][1],
        main=main_ms,
        before_sweep=val_start - main_start,
        validate=val_ms,
        launch=launch_ms,
        compose=loads[jobs:],
        hydra_job=tuple(h - s - t for h, s, t in zip(durations("hydra_run_job"), status, task, strict=True)),
        status=status,
        task=task,
        run_agent=durations("execute"),
        header=durations("header"),
        scrub=durations("scrub_hydra_records"),
        after_sweep=(main_start + main_ms) - (launch_start + launch_ms),
    )


def bench_in_process(jobs: int, reps: int, tmp: Path) -> dict[str, list[InProcess]]:
    found: dict[str, list[InProcess]] = {"on": [], "off": []}
    for rep in range(-1, reps):
        for name in rotated(["on", "off"], rep):
            timed = run_in_process(jobs, trace=name == "on", tmp=tmp)
            if rep >= 0:
                found[name].append(timed)
    return found


# --------------------------------------------------------------------------- the report


@dataclass
class Report:
    args: argparse.Namespace
    variants: list[Variant]
    samples: dict[str, Samples]
    in_process: dict[str, list[InProcess]]
    parallelism: Stat
    seconds: float

    def wall(self, name: str) -> Stat:
        return Stat.of(self.samples[name].wall)

    def has(self, name: str) -> bool:
        return name in self.samples and bool(self.samples[name].wall)


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired(r: Report, a: str, b: str, scale: float = 1.0) -> Stat:
    """(a - b) * scale, rep by rep: a and b ran back to back in every round, so drift cancels."""
    return Stat.of([(x - y) * scale for x, y in zip(r.samples[a].wall, r.samples[b].wall, strict=False)])


def signed(stat: Stat, digits: int = 1) -> str:
    """``median (min to max)`` with signs: differences can be negative, and ``-23.0-7.1`` reads badly."""
    return f"{stat.median:+,.{digits}f} ({stat.low:+,.{digits}f} to {stat.high:+,.{digits}f})"


def reps_of(r: Report, name: str) -> int:
    return len(r.samples[name].wall)


def launcher_table(r: Report) -> Iterator[str]:
    jobs = r.args.jobs
    basic = r.wall("basic").median
    yield f"| launcher | command | reps | wall ms median (min-max) | ms per job (median / {jobs}) | speed-up over basic (medians) |"
    yield "|---|---|---|---|---|---|"
    for name in ("basic", "joblib", "joblib_n1", "submitit"):
        if not r.has(name):
            continue
        v = next(v for v in r.variants if v.name == name)
        stat = r.wall(name)
        yield f"| {v.label} | `{v.shown()}` | {reps_of(r, name)} | {stat.show()} | {stat.median / jobs:,.1f} | {basic / stat.median:.2f}x |"


def split_table(r: Report) -> Iterator[str]:
    jobs = r.args.jobs
    yield f"| launcher | 1-job sweep ms | {jobs}-job sweep ms | per extra job ms ((T{jobs} - T1) / {jobs - 1}) | fixed ms (T1 - per job) |"
    yield "|---|---|---|---|---|"
    for name, one in (("basic", "basic_1"), ("joblib", "joblib_1")):
        t1, tn = r.wall(one), r.wall(name)
        per_job = (tn.median - t1.median) / (jobs - 1)
        yield f"| {name} | {t1.show()} | {tn.show()} | {per_job:,.1f} | {t1.median - per_job:,.0f} |"
    yield f"| `python -c pass` | {r.wall('python').show()} | | | |"


def spans(r: Report, name: str) -> list[float]:
    return [s for line in r.samples[name].timelines for s in line.spans]


def trace_table(r: Report) -> Iterator[str]:
    jobs = r.args.jobs
    on, off = r.wall("basic"), r.wall("basic_off")
    yield "| measure | trace=true | trace=false | on - off |"
    yield "|---|---|---|---|"
    yield f"| {jobs}-job sweep, wall ms median (min-max) | {on.show()} | {off.show()} | {on.median - off.median:+,.1f} |"
    per_job = paired(r, "basic", "basic_off", 1 / jobs)
    yield f"| **(on - off) / {jobs}, ms per job**: medians | | | **{(on.median - off.median) / jobs:+,.1f}** |"
    yield f"| same, paired by round: median (min to max) of {reps_of(r, 'basic')} rounds | | | {signed(per_job)} |"
    s_on, s_off = Stat.of(spans(r, "basic")), Stat.of(spans(r, "basic_off"))
    yield (
        f"| job span (`.hydra/config.yaml` -> `status.json` mtimes), ms: median (min-max) of {len(spans(r, 'basic'))} jobs "
        f"| {s_on.show()} | {s_off.show()} | {s_on.median - s_off.median:+,.1f} |"
    )
    if r.in_process["on"]:
        on_ip, off_ip = r.in_process["on"], r.in_process["off"]
        ra_on = [x for t in on_ip for x in t.run_agent[1:]]
        ra_off = [x for t in off_ip for x in t.run_agent[1:]]
        first_on, first_off = [t.run_agent[0] for t in on_ip], [t.run_agent[0] for t in off_ip]
        yield (
            f"| in process (section 3b): `api.execute` of jobs 1-{jobs - 1}, ms: median (min-max) "
            f"| {Stat.of(ra_on).show(2)} | {Stat.of(ra_off).show(2)} | {med(ra_on) - med(ra_off):+,.2f} |"
        )
        yield f"| in process: `api.execute` of job 0 (first job: lazy imports), ms median | {med(first_on):,.1f} | {med(first_off):,.1f} | {med(first_on) - med(first_off):+,.1f} |"


def timeline_table(r: Report) -> Iterator[str]:
    yield (
        "| variant | wall | spawn -> `multirun.yaml` | -> first job starts | jobs phase (first start -> last end) "
        "| job span, median | gap between jobs, median | last job end -> exit |"
    )
    yield "|---|---|---|---|---|---|---|---|"
    for name in ("basic", "basic_off", "joblib", "joblib_n1", "submitit", "basic_1", "joblib_1"):
        if not r.has(name):
            continue
        lines = r.samples[name].timelines
        label = next(v.label for v in r.variants if v.name == name)
        gaps = [g for line in lines for g in line.gaps]
        gap = f"{med(gaps):,.0f}" if gaps else "-"
        yield (
            f"| {label} | {med([x.wall for x in lines]):,.0f} | {med([x.to_multirun for x in lines]):,.0f} "
            f"| {med([x.to_first_job for x in lines]):,.0f} | {med([x.jobs_phase for x in lines]):,.0f} "
            f"| {med(spans(r, name)):,.0f} | {gap} | {med([x.tail for x in lines]):,.0f} |"
        )


def in_process_table(r: Report) -> Iterator[str]:
    on, off = r.in_process["on"], r.in_process["off"]
    jobs = r.args.jobs

    def whole(get: Any) -> str:
        return f"{med([get(t) for t in on]):,.1f} | {med([get(t) for t in off]):,.1f}"

    def per_job(get: Any) -> str:
        cells = []
        for runs in (on, off):
            values = [x for t in runs for x in get(t)[1:]]
            firsts = [get(t)[0] for t in runs if get(t)]
            cells.append(f"{med(values):,.2f} (job 0: {med(firsts):,.1f})" if values else "-")
        return " | ".join(cells)

    yield "| part | trace=true ms | trace=false ms |"
    yield "|---|---|---|"
    yield "| whole sweep, once | | |"
    yield f"| imports (`agent_harness.cli`, its run command, `agent_harness.api`, Hydra's plugin registry and config loader, `agent_harness.callbacks`) | {whole(lambda t: t.imports)} |"
    yield f"| `main()` in total | {whole(lambda t: t.main)} |"
    yield f"| `main()` -> sweep starts (Hydra set up, primary config composed, sweeper and launcher built) | {whole(lambda t: t.before_sweep)} |"
    yield f"| sweeper: `validate_batch_is_legal` composes all {jobs} jobs' configs up front | {whole(lambda t: t.validate)} |"
    yield f"| launcher: `BasicLauncher.launch` (all jobs) | {whole(lambda t: t.launch)} |"
    yield f"| launch returned -> `main()` returns | {whole(lambda t: t.after_sweep)} |"
    yield f"| **per job**, median of jobs 1-{jobs - 1} (job 0 in brackets) | | |"
    yield f"| sweeper's composition, per job (validate / {jobs}) | {whole(lambda t: t.validate / jobs)} |"
    yield f"| launcher composes the job's config (`load_sweep_config`) | {per_job(lambda t: t.compose)} |"
    yield f"| Hydra's `run_job` without task and callback (job dir, 3 YAML files, logging set-up) | {per_job(lambda t: t.hydra_job)} |"
    yield f"| task: `agent_harness.cli.run.run_job` | {per_job(lambda t: t.task)} |"
    yield f"| - of which `api.execute` (build the run, drive it; trace file when on) | {per_job(lambda t: t.run_agent)} |"
    yield f"| - of which `api.header` (trace header: resolved config, overrides, versions) | {per_job(lambda t: t.header)} |"
    yield f"| - of which `scrub_hydra_records` (resolve config, look for secrets) | {per_job(lambda t: t.scrub)} |"
    yield f"| status callback (`status.json`) | {per_job(lambda t: t.status)} |"
    yield f"| launcher's own work per job (logging, loop): (launch - the above) / {jobs} | {whole(lambda t: t.launcher_other / jobs)} |"


def observations(r: Report) -> Iterator[str]:
    jobs = r.args.jobs
    basic, joblib = r.wall("basic").median, r.wall("joblib").median
    t_b, t_j = r.samples["basic"].timelines, r.samples["joblib"].timelines
    phase_b, phase_j = med([x.jobs_phase for x in t_b]), med([x.jobs_phase for x in t_j])
    first_b, first_j = med([x.to_first_job for x in t_b]), med([x.to_first_job for x in t_j])
    verdict = "faster" if joblib < basic else "**slower**"
    tail_b, tail_j = med([x.tail for x in t_b]), med([x.tail for x in t_j])
    yield (
        f"- joblib with 2 workers on {os.cpu_count()} vCPUs is {verdict} than the basic launcher for {jobs} jobs: "
        f"{joblib:,.0f} vs {basic:,.0f} ms, a speed-up of {basic / joblib:.2f}x. Its first job starts {first_j - first_b:+,.0f} ms "
        f"later after `multirun.yaml` ({first_j:,.0f} vs {first_b:,.0f} ms): the loky workers are fresh interpreters that import "
        "joblib, Hydra, OmegaConf and the agent and unpickle the Hydra context before their first job. The jobs phase then takes "
        f"{phase_j:,.0f} ms against {phase_b:,.0f} ms ({phase_b / phase_j:.2f}x as fast), a job's span {med(spans(r, 'joblib')):,.0f} ms "
        f"against {med(spans(r, 'basic')):,.0f} ms (each worker's first job is cold; the CPU check below says how parallel the "
        f"vCPUs were); and from the last job's end to exit {tail_j:,.0f} ms against {tail_b:,.0f} ms (loky shuts its workers down)."
    )
    p, low, high = r.parallelism.median, r.parallelism.low, r.parallelism.high
    if p < 1.5:
        how = "the vCPUs do not give two cores' worth on this host"
    elif high - low > 0.5:
        how = "close to two cores at the median, but it varies from round to round on this host"
    else:
        how = "close to two full cores in this run"
    saved, overhead = phase_b - phase_j, (first_j - first_b) + (tail_j - tail_b)
    yield (
        f"- CPU check: two CPU-bound processes together run at {p:.2f}x one alone (median; range {low:.2f}-{high:.2f}; 2.00 = two "
        f"full cores): {how}. joblib gets through its jobs phase {phase_b / phase_j:.2f}x as fast as basic "
        f"({f'{saved:,.0f} ms saved' if saved >= 0 else f'{-saved:,.0f} ms longer'}), against "
        f"{first_j - first_b:+,.0f} ms before its first job and {tail_j - tail_b:+,.0f} ms after its last: "
        + (
            "starting and stopping the workers costs more than running the jobs in parallel saves."
            if overhead > saved
            else "running the jobs in parallel saves more than starting and stopping the workers costs."
        )
    )
    if r.has("joblib_n1"):
        n1 = r.wall("joblib_n1").median
        yield (
            f"- joblib with n_jobs=1 takes {n1:,.0f} ms ({n1 - basic:+,.0f} ms over basic): joblib then runs the jobs one after "
            "another in the `agent run` process itself (its sequential fallback, no worker), so the difference is importing "
            "joblib and the launcher plugin, and the rest of the n_jobs=2 cost is the workers."
        )
    per_b = (r.wall("basic").median - r.wall("basic_1").median) / (jobs - 1)
    per_j = (r.wall("joblib").median - r.wall("joblib_1").median) / (jobs - 1)
    fixed_b, fixed_j = r.wall("basic_1").median - per_b, r.wall("joblib_1").median - per_j
    if per_j < per_b and fixed_j > fixed_b:
        even = (fixed_j - fixed_b) / (per_b - per_j)
        breakeven = f"so joblib only pays off beyond ~{even:,.0f} jobs of this size, or for jobs that take much longer"
    else:
        breakeven = "so on this machine joblib does not pay off for jobs of this size at any count"
    yield (
        f"- Fixed vs per job (1-job and {jobs}-job sweeps): basic ~{fixed_b:,.0f} ms fixed + ~{per_b:,.0f} ms per job; "
        f"joblib ~{fixed_j:,.0f} ms fixed + ~{per_j:,.0f} ms per job, {breakeven}. The interpreter alone "
        f"(`python -c pass`) is {r.wall('python').median:,.0f} ms."
    )
    if r.in_process["on"]:
        on = r.in_process["on"]
        compose = med([t.validate / jobs for t in on]) + med([x for t in on for x in t.compose[1:]])
        task = med([x for t in on for x in t.task[1:]])
        hydra_job = med([x for t in on for x in t.hydra_job[1:]]) + med([x for t in on for x in t.status[1:]])
        yield (
            f"- Where a basic-launcher job's time goes (in process, trace=true, jobs 1-{jobs - 1}): Hydra composes each job's "
            f"config twice, once when the sweeper validates the batch and once when the launcher runs the job, "
            f"~{compose:,.0f} ms together; Hydra's `run_job` (job dir, config YAML files, logging) and the status callback "
            f"~{hydra_job:,.0f} ms; the agent's task itself ~{task:,.0f} ms. Composition, not the agent, is most of the per-job "
            f"cost. Before any job, start-up (imports {med([t.imports for t in on]):,.0f} ms + Hydra set-up "
            f"{med([t.before_sweep for t in on]):,.0f} ms, plus the interpreter) is paid once per process: once for basic, "
            "once more per worker for joblib, once per job for submitit_local."
        )
    per_job = paired(r, "basic", "basic_off", 1 / jobs)
    s_on, s_off = med(spans(r, "basic")), med(spans(r, "basic_off"))
    text = (
        f"- Tracing in a sweep: (on - off) / {jobs} = {(r.wall('basic').median - r.wall('basic_off').median) / jobs:+,.1f} ms per job "
        f"from the medians ({signed(per_job)} paired by round), job spans {s_on - s_off:+,.1f} ms"
    )
    if r.in_process["on"]:
        on, off = r.in_process["on"], r.in_process["off"]
        ra = med([x for t in on for x in t.run_agent[1:]]) - med([x for t in off for x in t.run_agent[1:]])
        first = med([t.run_agent[0] for t in on]) - med([t.run_agent[0] for t in off])
        text += (
            f", `api.execute` {ra:+,.2f} ms per job in process ({first:+,.1f} ms for job 0, which also imports the writer). The "
            "wall figures carry the run-to-run noise of whole sweeps (see the paired range); the in-process figure isolates the "
            f"task: {ra / (r.wall('basic').median / jobs):.1%} of the ~{r.wall('basic').median / jobs:,.0f} ms a job costs in a basic sweep."
        )
    else:
        text += "."
    yield text
    if r.has("submitit"):
        sub = r.wall("submitit").median
        t_s = r.samples["submitit"].timelines
        apart = med([span + gap for line in t_s for span, gap in zip(line.spans, line.gaps, strict=False)])
        yield (
            f"- submitit_local ({reps_of(r, 'submitit')} reps) takes {sub:,.0f} ms, {sub / basic:.1f}x the basic launcher: every "
            "job is a process of its own (`python -m submitit.local._local`) that starts an interpreter, unpickles the launcher "
            f"with its Hydra context (importing Hydra and the agent) and composes its config. Jobs start ~{apart:,.0f} ms apart, a "
            f"job's span is {med(spans(r, 'submitit')):,.0f} ms (basic {med(spans(r, 'basic')):,.0f} ms; the job processes share "
            f"the cores), the first job starts {med([x.to_first_job for x in t_s]):,.0f} ms after `multirun.yaml` and the parent "
            f"exits {med([x.tail for x in t_s]):,.0f} ms after the last job ends (submitit's `Job.wait` polls once a second). For isolation, or as a "
            "stand-in for SLURM; not for speed."
        )


def render(r: Report) -> str:
    a = r.args
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    command = "python bench/bench_sweep.py " + " ".join(a.argv)
    jobs = a.jobs
    sub_note = f", submitit_local {reps_of(r, 'submitit')}" if r.has("submitit") else ""
    lines = [
        "# Sweep benchmark",
        "",
        f"Generated by `bench/bench_sweep.py` on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} in {r.seconds:.0f} s. "
        "Recording one run is measured in [RESULTS-trace.md](RESULTS-trace.md), replaying one in [RESULTS-replay.md](RESULTS-replay.md).",
        "",
        f"The sweep: `agent run -m agent.max_steps={sweep_values(jobs)} trace=true`, {jobs} jobs of the default task "
        f"(`task=invoices`, {TASK_STEPS} steps each; the step limits are never reached, so every job does the same work).",
        "",
        f"## 1. Launchers, {jobs} jobs, trace=true ({a.reps} reps each{sub_note}; interleaved)",
        "",
        *launcher_table(r),
        "",
        f"CPU check, same run: two CPU-bound Python processes started together get through their work "
        f"**{r.parallelism.median:.2f}x** ({r.parallelism.low:.2f}-{r.parallelism.high:.2f}) as fast as one alone "
        f"(one check a round, {a.reps} rounds; 2.00 would be two full cores). That caps what any parallel launcher can gain here.",
        "",
        "Fixed cost and cost per job, from 1-job and {}-job sweeps (medians):".format(jobs),
        "",
        *split_table(r),
        "",
        f"## 2. Tracing per job, basic launcher ({a.reps} reps each, interleaved)",
        "",
        *trace_table(r),
        "",
        "## 3. Where the time goes",
        "",
        "### 3a. Timeline of each sweep from its files (ms, medians over reps)",
        "",
        *timeline_table(r),
        "",
    ]
    if r.in_process["on"]:
        lines += [
            f"### 3b. Basic launcher in one process, timers around Hydra's and the agent's functions ({a.inproc_reps} reps each, interleaved)",
            "",
            *in_process_table(r),
            "",
        ]
    lines += [
        "## How measured",
        "",
        f"- Command: `{command.strip()}` (from the repository root).",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}; "
        f"{cores} cores ({usable} usable), {cpu_model()}; temp dir `{tempfile.gettempdir()}`. "
        f"hydra-core {pkg_version('hydra-core')}, hydra-joblib-launcher {pkg_version('hydra-joblib-launcher')}, "
        f"joblib {pkg_version('joblib')}, hydra-submitit-launcher {pkg_version('hydra-submitit-launcher')}, submitit {pkg_version('submitit')}.",
        f"- Sections 1 and 2: each command runs as a subprocess of the console script next to the interpreter (`{agent_command()}`, "
        "not a version-manager shim), in a fresh temporary cwd (so `multirun/` lands there), and must exit 0. Commands:",
        *[f"  - {v.label}: `{v.shown()}`" for v in r.variants],
        "- Wall time: `time.perf_counter_ns` around `subprocess.run` (spawn to exit, output captured). All variants run once "
        "untimed, then in every round each runs once, the order rotated from round to round"
        + (f" (submitit_local only in the first {a.submitit_reps} rounds)" if r.has("submitit") and a.submitit_reps < a.reps else "")
        + ". Medians, (min-max) in brackets; a paired figure takes the difference within each round first.",
        f"- Checked after every sweep, untimed: one sweep folder with job folders 0..{jobs - 1}, each with `.hydra/config.yaml` and a "
        f"`status.json` saying job k `finished` after {TASK_STEPS} steps, all override sets distinct; with trace=true a `trace.jsonl` "
        f"that `status.json` names and `read_trace` reads as a whole {TASK_STEPS}-step finished run of job k; with trace=false no trace.",
        f"- CPU check: `python -c <loop>` adding {BUSY_ADDITIONS:,} integers in a pure-Python loop, timed inside the process "
        "(start-up excluded); alone, then two at once; ratio = 2 x alone / the slower of the two. It takes a turn in every round "
        "of sections 1-2, like a variant.",
        "- 3a: modification times (the kernel's coarse clock, ~4 ms ticks) of `multirun.yaml` (written by the sweeper before it "
        "validates the batch), each job's `.hydra/config.yaml` (the first file Hydra's `run_job` writes) and `status.json` (written "
        "by the JobStatusFile callback as the job ends), against `time.time()` just before the spawn and after the exit.",
    ]
    if r.in_process["on"]:
        lines.append(
            f"- 3b: `{sys.executable} -c <wrapper> ... run -m agent.max_steps={sweep_values(jobs)} trace=true|false`: the wrapper imports "
            "`agent_harness.cli` and its run command, `agent_harness.api`, `agent_harness.secrets_hydra`, Hydra's plugin registry "
            "and config loader and `agent_harness.callbacks` (all of which the command loads before its first job ends anyway); wraps the sweeper's `validate_batch_is_legal`, the launcher's `launch` and its module's "
            "`run_job` as `Plugins.instantiate_sweeper`/`instantiate_launcher` hand them out (Hydra's plugin scan re-executes "
            "its core plugin modules, so patching them at import would miss), `ConfigLoaderImpl.load_sweep_config`, "
            "`JobStatusFile.on_job_end`, `agent_harness.cli.run.run_job`, `api.execute`, `api.header` and "
            "`secrets_hydra.scrub_hydra_records` with `time.perf_counter` timers, and calls "
            "`agent_harness.cli.main`. Same checks as above. Job 0 is shown apart: it pays the lazy imports (tools, writer)."
        )
    lines += ["", "## Observations", "", *observations(r), ""]
    return "\n".join(lines)


def pkg_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--jobs", type=int, default=8, help="jobs per sweep: agent.max_steps=20,21,... of the default task")
    parser.add_argument("--reps", type=int, default=5, help="timed rounds of sections 1 and 2 (every variant once a round)")
    parser.add_argument("--submitit-reps", type=int, default=2, help="rounds that include submitit_local (0: leave it out)")
    parser.add_argument("--inproc-reps", type=int, default=3, help="timed in-process sweeps per tracing setting (0: skip 3b)")
    parser.add_argument("--write", action="store_true", help=f"also write the report to {RESULTS}")
    args = parser.parse_args(argv)
    if args.jobs < 2 or args.reps < 1:
        parser.error("need at least 2 jobs and 1 rep")
    args.submitit_reps = min(args.submitit_reps, args.reps)
    if args.submitit_reps and importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
        parser.error("submitit_local needs hydra-submitit-launcher (pip install -e '.[submitit]'), or pass --submitit-reps 0")
    if importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher") is None:
        parser.error("needs hydra-joblib-launcher: pip install -e '.[joblib]'")
    args.argv = list(argv)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    chosen = variants(args.jobs, submitit=args.submitit_reps > 0)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as folder:
        tmp = Path(folder)
        progress(f"1-2. {len(chosen)} variants x ({args.reps} rounds + 1 warm-up), {args.jobs} jobs a sweep")
        samples, cpu = bench_subprocesses(chosen, args.reps, args.submitit_reps, tmp)
        in_process: dict[str, list[InProcess]] = {"on": [], "off": []}
        if args.inproc_reps:
            progress(f"3b. in-process basic sweep, trace on/off x ({args.inproc_reps} + 1 warm-up)")
            in_process = bench_in_process(args.jobs, args.inproc_reps, tmp)
        report = Report(args, chosen, samples, in_process, cpu, time.perf_counter() - started)
    text = render(report)
    publish(RESULTS, text, write=args.write)


if __name__ == "__main__":
    main()
