"""The ``agent`` command, and the composition root: the one place that joins the runtime and tracing.

``agent run`` hands its arguments to Hydra untouched (overrides, -m, --cfg, --help, shell
completion), after turning ``--trace PATH`` into ``trace=true tracePath=PATH``. ``agent trace
inspect`` never imports Hydra, so it starts fast.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from agent.records import Outcome, Step

USAGE = """\
usage: agent <command> [args]

commands:
  run [--trace PATH] [OVERRIDES...]   run the agent (Hydra app: `agent run --help` lists the config groups)
  replay TRACE [--json] [OVERRIDES...]
                                      re-execute a recorded run offline, checking every step against it
                                      (`agent replay --help` for replay.config=current and mixed modes)
  replay SWEEP_DIR [--fail-fast] [--json] [OVERRIDES...]
                                      replay every job of a sweep: one line per job, then a summary
  trace inspect TRACE [--full]        print a recorded run step by step
  trace inspect SWEEP_DIR             one row per job of a sweep: status, steps, tokens, answer, trace
  trace diff A B [--json]             compare two traces: config, then the first step where they part
  trace export TRACE [-o FILE]        the trace as OpenTelemetry OTLP JSON spans (GenAI conventions)

exit status: 0 ok, 1 the run did not finish or the replay diverged, 2 unusable input

examples:
  agent run                           run the default task offline (scripted LLM, live tools)
  agent run --trace demo.jsonl        run and record a trace
  agent trace inspect demo.jsonl      read what happened
  agent replay demo.jsonl             check that the agent still does what it did
"""

# Modules whose versions go into a trace header when the run loaded them: they decide what it does.
# Read from __version__ because importlib.metadata alone costs ~5 ms of start-up (bench/RESULTS-trace.md).
_VERSIONED = {"agent": "agent-harness", "hydra": "hydra-core", "omegaconf": "omegaconf", "orjson": "orjson", "openai": "openai", "llama_cpp": "llama-cpp-python"}


def fail(message: str, status: int = 2) -> NoReturn:
    """Print one line to stderr and exit, by default with status 2 (unusable input)."""
    print(f"agent: error: {message}", file=sys.stderr)
    raise SystemExit(status)


class UnusableInput(Exception):
    """Raised inside a sweep's job for input it cannot use: it fails that job only, and the others run."""


def _unusable(message: str) -> NoReturn:
    """Inside a Hydra job: exit 2 with one line for a single run; fail only this job of a sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.get().mode == RunMode.MULTIRUN:
        raise UnusableInput(message)
    fail(message)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``agent`` console script."""
    try:
        _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:  # `agent ... | head` closed our stdout: nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _main(args: list[str]) -> None:
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return
    command, rest = args[0], args[1:]
    if command in ("-sc", "--shell-completion"):
        # Hydra's installed completion script calls `agent -sc query=...` with the whole command
        # line in COMP_LINE; drop the `run` word so Hydra completes the overrides after it.
        line = os.environ.get("COMP_LINE", "")
        os.environ["COMP_LINE"] = re.sub(r"^(\S*agent)\s+run\b", r"\1", line)
        _run(args)
    elif command == "run":
        _run(rest)
    elif command == "replay":
        _replay(rest)
    elif command == "trace":
        _trace(rest)
    else:
        fail(f"unknown command {command!r}; expected run, replay or trace (see `agent --help`)")


def _trace(args: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="agent trace", description="Read recorded traces.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    inspect = sub.add_parser("inspect", help="print a recorded run step by step as plain text")
    inspect.add_argument("trace", type=Path, help="a trace file (.jsonl), a run's folder, or a sweep's folder (one row per job)")
    inspect.add_argument("--full", action="store_true", help="show messages, arguments and outputs untruncated")
    diff = sub.add_parser("diff", help="compare two traces step by step; exit 0 when they match apart from times, 1 when they differ")
    diff.add_argument("a", type=Path, help="the first trace (.jsonl)")
    diff.add_argument("b", type=Path, help="the second trace (.jsonl)")
    diff.add_argument("--json", action="store_true", help="print the comparison as JSON")
    export = sub.add_parser("export", help="write a trace in another format (otel: OTLP JSON spans, GenAI conventions)")
    export.add_argument("trace", type=Path, help="the trace (.jsonl)")
    export.add_argument("--format", choices=["otel"], default="otel", help="otel: OpenTelemetry OTLP JSON (default)")
    export.add_argument("-o", "--output", type=Path, help="file to write (default: standard output); never overwritten")
    options = parser.parse_args(args)

    from tracing.errors import TraceError

    try:
        if options.action == "diff":
            from tracing.diff import run_diff

            raise SystemExit(run_diff(options.a, options.b, as_json=options.json))
        if options.action == "export":
            from tracing.export_otel import run_export

            run_export(options.trace, output=options.output)
            return
    except TraceError as err:
        fail(str(err))

    from tracing.inspection import render
    from tracing.reader import TraceStream
    from tracing.sweep import DEFAULT_TRACE, is_sweep, load_sweep, render_sweep

    path: Path = options.trace
    try:
        if is_sweep(path):
            lines = render_sweep(path, load_sweep(path))
        else:
            lines = render(TraceStream(path / DEFAULT_TRACE if (path / DEFAULT_TRACE).is_file() else path), full=options.full)
        for line in lines:
            print(line)
    except TraceError as err:
        fail(str(err))


def _run(args: list[str]) -> None:
    hydra_args: list[str] = []
    trace_path: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--trace":
            if i + 1 >= len(args) or args[i + 1].startswith("-"):
                fail("--trace needs a file path, as in `agent run --trace demo.jsonl`")
            trace_path = args[i + 1]
            i += 2
            continue
        if arg.startswith("--trace="):
            trace_path = arg.split("=", 1)[1] or fail("--trace= needs a file path")
        else:
            hydra_args.append(arg)
        i += 1
    if trace_path is not None:
        if {"-m", "--multirun"} & set(hydra_args):
            fail("--trace names one file but a sweep writes one trace per job; use trace=true (each job's trace goes to its output dir)")
        quoted = trace_path.replace("\\", "\\\\").replace("'", "\\'")  # any file name survives Hydra's override grammar
        hydra_args += ["trace=true", f"tracePath='{quoted}'"]
    sys.argv = ["agent", *hydra_args]  # Hydra names the program in completion scripts after argv[0]
    _hydra_main()


def _hydra_main(job: Callable[[DictConfig], object] | None = None, config_name: str = "config") -> None:
    import hydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    # Let Hydra's errors reach us instead of being printed over several lines with exit status 1.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    app = hydra.main(version_base="1.3", config_path="pkg://agent.conf", config_name=config_name)(job or run_job)
    sweep = bool({"-m", "--multirun"} & set(sys.argv))
    try:
        app()
    except (HydraException, OmegaConfBaseException) as err:  # a bad override or config: unusable input
        fail(f"{_one_line(err)} (see `agent {'replay' if config_name == 'replay' else 'run'} --help`)")
    except UnusableInput as err:  # the other jobs ran: this is a finished sweep with a failed job
        fail(f"a job of the sweep failed: {err} (each job's status.json says how it ended)", status=1)
    except ValueError as err:
        if not _raised_in_hydra(err):
            raise
        # Hydra reports some bad overrides (`+agent=5`) as a plain ValueError while composing the config.
        fail(f"{_one_line(err)} (see `agent {'replay' if config_name == 'replay' else 'run'} --help`)")
    except Exception as err:
        if not sweep:
            raise  # a bug, not a user's mistake: the traceback is what helps
        from agent_harness.sweep_outcome import launcher_failure

        if (line := launcher_failure(err)) is not None:  # no Ray cluster to join, a killed SLURM job
            fail(*line)
        fail(f"a job of the sweep crashed: {type(err).__name__}: {_first_line(err)} (each job's status.json says how it ended)", status=1)


def _first_line(err: BaseException) -> str:
    """An error's first line (a launcher's error can hold a job's whole log)."""
    return next((line.strip() for line in str(err).splitlines() if line.strip()), "")


def _raised_in_hydra(err: BaseException) -> bool:
    """Whether ``err`` was raised by Hydra's own code (its innermost frame is in the hydra package)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}hydra{os.sep}" in tb.tb_frame.f_code.co_filename


def _one_line(err: BaseException) -> str:
    text = str(err).split("Config search path:", 1)[0]
    if err.__cause__ is not None and str(err.__cause__) not in text:
        text += f" ({str(err.__cause__).splitlines()[0]})"
    return " ".join(text.split())


def run_job(cfg: DictConfig) -> dict[str, Any]:
    """One `agent run` job: build the parts the config names, run the agent, record it when tracing is on.

    Returns the job's summary, which the JobStatusFile callback writes to the job's status.json.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from agent_harness.signals import run_until_stopped

    hydra_cfg = HydraConfig.get()
    outcome, trace_path = run_until_stopped(lambda: _run_agent(cfg, hydra_cfg))  # SIGTERM/SIGINT: interrupted
    job = f"[job {hydra_cfg.job.num}] " if hydra_cfg.mode == RunMode.MULTIRUN else ""
    print(f"{job}{outcome.status} after {outcome.steps} steps" + (f": {outcome.error}" if outcome.error else ""))
    if outcome.answer is not None:
        print(f"{job}answer: {outcome.answer}")
    print(f"{job}run dir: {hydra_cfg.runtime.output_dir}")
    if trace_path is not None:
        print(f"{job}trace: {trace_path}")
    if outcome.status != "finished" and hydra_cfg.mode == RunMode.RUN:
        raise SystemExit(1)
    return {
        "status": outcome.status,
        "steps": outcome.steps,
        "answer": outcome.answer,
        "error": outcome.error,
        "usage": {"prompt_tokens": outcome.usage.prompt_tokens, "completion_tokens": outcome.usage.completion_tokens},
        "trace": str(trace_path) if trace_path is not None else None,
    }


def _run_agent(
    cfg: DictConfig, hydra_cfg: Any, *, parts: Mapping[str, Any] | None = None, each_step: Callable[[Step], object] | None = None
) -> tuple[Outcome, Path | None]:
    """Build and drive one run, through a trace writer when ``cfg.trace`` is on; ``parts`` go to build_run."""
    from hydra.errors import InstantiationException
    from hydra.utils import to_absolute_path
    from omegaconf import OmegaConf

    from agent.build import ConfigError, build_run
    from agent.loop import drive
    from agent.records import Outcome
    from agent.state import AgentState

    resolved = OmegaConf.to_container(cfg, resolve=True)
    _scrub_hydra_records(resolved, hydra_cfg)
    writer = None
    if cfg.trace:  # opened first: a trace path in the way stops the run before anything happens
        from tracing.errors import TraceError
        from tracing.writer import TraceWriter

        try:
            writer = TraceWriter.create(Path(to_absolute_path(cfg.tracePath)), _header(cfg, resolved, hydra_cfg), fsync=cfg.traceFsync)
        except TraceError as err:
            _unusable(str(err))
    try:
        run = build_run(cfg, **(parts or {}))
    except (InstantiationException, ConfigError, FileNotFoundError, FileExistsError) as err:
        problem = f"cannot build the run from its config: {' '.join(str(err).split())}"
        if writer is not None:  # the trace says why the run never started
            with writer:
                writer.write_end(Outcome("error", AgentState(), error=problem))
        _unusable(problem)
    if writer is None:
        return drive(run, each_step or (lambda step: None)), None
    with writer:
        return writer.record(run, each_step), writer.path


def _scrub_hydra_records(resolved: Any, hydra_cfg: Any) -> None:
    """Remove secret values from what Hydra wrote about this job before it started (.hydra/, multirun.yaml)."""
    from hydra.utils import to_absolute_path

    from tracing.secrets import scrub_files, secret_values

    secrets = secret_values(resolved, list(hydra_cfg.overrides.task))
    if not secrets:
        return
    records = [Path(to_absolute_path(hydra_cfg.sweep.dir)) / "multirun.yaml"]
    if hydra_cfg.output_subdir is not None:
        folder = Path(hydra_cfg.runtime.output_dir) / hydra_cfg.output_subdir
        records += [folder / name for name in ("config.yaml", "hydra.yaml", "overrides.yaml")]
    scrub_files(records, secrets)


def _replay(args: list[str]) -> None:
    from hydra.core.config_store import ConfigStore

    if any(a in ("-h", "--help") for a in args):
        ConfigStore.instance().store(name="recorded_run", node={"replay": {"trace": None, "config": "recorded"}})
        sys.argv = ["agent", "--help"]
        _hydra_main(config_name="replay")
        return
    as_json = "--json" in args
    positional = [a for a in args if a != "--json"]
    if not positional or "=" in positional[0] or positional[0].startswith("-"):
        fail("replay needs a trace file, as in `agent replay demo.jsonl [OVERRIDES...]`")
    path, overrides = Path(positional[0]), positional[1:]
    from tracing.sweep import is_sweep

    if is_sweep(path):
        _replay_sweep(path, overrides, as_json=as_json)
        return
    if "--fail-fast" in overrides:
        fail("--fail-fast is for a sweep folder; a single trace stops at its first divergence anyway")
    mode, until = "recorded", None
    for override in [o for o in overrides if o.startswith(("replay.config=", "replay.until="))]:
        key, value = override.split("=", 1)
        overrides.remove(override)
        if key == "replay.config":
            mode = value
        elif not value.isdigit():
            fail(f"replay.until={value} is not a step number; give the last step to replay, as in replay.until=3")
        else:
            until = int(value)
    from tracing.replay_config import MODES, group_choices, override_key, recorded_run, replay_overrides

    if mode not in MODES:
        fail(f"replay.config={mode} is not a replay mode; expected one of: {', '.join(MODES)}")
    from tracing.errors import TraceError
    from tracing.reader import read_trace

    try:
        # Prompts that do not match their digests (an edited trace) are left to the replay to place.
        trace = read_trace(path, check_prompts=False)
    except TraceError as err:
        fail(str(err))
    header = trace.header
    if until is not None:
        if until >= len(trace.steps):
            fail(f"replay.until={until} is not a step of {path}; it has steps 0 to {len(trace.steps) - 1}")
        # A fork goes on live: with the recording's own llm and tools unless others are asked for, and recorded.
        taken = {override_key(o) for o in overrides}
        overrides = [f"{g}={header['choices'][g]}" for g in ("llm", "tools") if g not in taken and g in header["choices"]] + overrides
        overrides += [] if "trace" in taken else ["trace=true"]
    node = recorded_run(header["config"], recorded_choices=header["choices"], user_choices=group_choices(overrides)) if mode == "recorded" else {}
    node["replay"] = {"trace": str(path.resolve()), "config": mode, "until": until, "parent_run": header["run_id"]}
    ConfigStore.instance().store(name="recorded_run", node=node)
    sys.argv = ["agent", *replay_overrides(trace.header, overrides, mode)]
    # The trace is read-only data kept to the end: leave it out of the collector's passes while the
    # replay runs (bench/RESULTS-replay.md), and give it back after, for callers in a longer process.
    gc.freeze()
    try:
        _hydra_main(lambda cfg: replay_job(cfg, trace=trace, as_json=as_json), config_name="replay")
    finally:
        gc.unfreeze()


def _replay_sweep(sweep: Path, args: list[str], *, as_json: bool) -> None:
    """Replay every job's trace of a sweep, each in its own process as `agent replay TRACE` would; exit 1 if any differs."""
    import subprocess

    import orjson

    from tracing.replay import divergence_report
    from tracing.sweep import load_sweep

    fail_fast = "--fail-fast" in args
    overrides = [a for a in args if a != "--fail-fast"]
    jobs = load_sweep(sweep)
    results: list[dict[str, Any]] = []
    for job in jobs:
        result: dict[str, Any] = {"job": job.number, "overrides": job.overrides, "trace": str(job.trace) if job.trace else None}
        if job.trace is None:
            result |= {"result": "no trace", "detail": f"job {job.status}" + (f": {job.error}" if job.error else "")}
        else:
            # A process per job: each replay is a Hydra app of its own, as when one trace is replayed.
            command = [sys.executable, "-P", "-c", "from agent.cli import main; main()", "replay", str(job.trace), "--json", *overrides]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            try:
                result |= orjson.loads(done.stdout)
            except orjson.JSONDecodeError:
                result |= {"result": "unusable", "detail": done.stderr.strip().removeprefix("agent: error: ") or f"exit status {done.returncode}"}
        results.append(result)
        if not as_json:
            _print_job_replay(result, divergence_report)
        if fail_fast and result["result"] != "ok":
            break
    counts = {name: sum(r["result"] == name for r in results) for name in ("ok", "diverged", "no trace", "unusable")}
    summary = f"sweep replay: {len(jobs)} jobs, {counts['ok']} matched, {counts['diverged']} diverged, " + (
        f"{counts['no trace'] + counts['unusable']} not replayable" + (f", {len(jobs) - len(results)} not tried (--fail-fast)" if len(results) < len(jobs) else "")
    )
    if as_json:
        print(orjson.dumps({"sweep": str(sweep), "jobs": results, "summary": summary}, default=str).decode())
    else:
        print(f"{summary} ({sweep})")
    if counts["ok"] != len(jobs):
        raise SystemExit(1)


def _print_job_replay(result: Mapping[str, Any], divergence_report: Callable[[Mapping[str, Any]], str]) -> None:
    label = f"job {result['job'] if result['job'] is not None else '?'}"
    overrides = " ".join(result["overrides"]) or "(no overrides)"
    if result["result"] == "ok":
        ends = "; the recording ends there" if result.get("cut_off") else ""
        print(f"{label}: OK, {result['steps']} steps matched{ends}  [{overrides}]")
    elif result["result"] == "diverged":
        print(f"{label}: DIVERGED  [{overrides}]")
        print("\n".join(f"  {line}" for line in divergence_report(result).splitlines()))
    else:
        print(f"{label}: not replayable ({result['result']}): {result['detail']}  [{overrides}]")


def replay_job(cfg: DictConfig, *, trace: Any, as_json: bool) -> str:
    """One `agent replay` job: the recorded run re-executed through the same loop, checked step by step."""
    import orjson
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import InstantiationException
    from hydra.types import RunMode
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from tracing.errors import TraceError
    from tracing.replay import CODE_CHANGED, Divergence, RecordingEnded, ReplayResult, ReplaySession
    from tracing.replay_config import foreign_targets

    hydra_cfg = HydraConfig.get()
    allowed = list(cfg.get("allowed_targets") or [])
    foreign = foreign_targets(OmegaConf.to_container(cfg, resolve=False), allowed) + foreign_targets(trace.header["config"], allowed)
    if foreign:
        _unusable(
            f"{trace.path} names code outside this project: {', '.join(sorted(set(foreign)))}; nothing was built. "
            "If you trust it, list its module in allowed_targets (conf/config.yaml or allowed_targets=[module])"
        )
    session = ReplaySession(trace)
    if cfg.replay.get("until") is not None:
        return _fork(cfg, hydra_cfg, session, as_json=as_json)

    def build(node: Any) -> Any:  # the replay backends get the session; any other part builds as in `agent run`
        return instantiate(node, session=session) if str(node.get("_target_", "")).startswith("tracing.replay.") else instantiate(node)

    try:
        parts = {"llm": build(cfg.llm), "tools": build(cfg.tools), "clock": session.clock}
    except InstantiationException as err:
        _unusable(f"cannot build the replay from its config: {' '.join(str(err).split())}")
    try:
        outcome, _ = _run_agent(cfg, hydra_cfg, parts=parts, each_step=session.check_step)
        result = session.finish(outcome)
    except RecordingEnded:  # a cut-off or interrupted recording: every step it has matched
        result = ReplayResult(trace=trace.path, steps=session.step, cut_off=True)
    except TraceError as err:
        _unusable(str(err))
    except Divergence as divergence:
        divergence.config_drift = _config_drift(cfg, trace.header)
        choices = hydra_cfg.runtime.choices
        if divergence.likely_cause != CODE_CHANGED:
            pass  # the session knows better (the trace was edited)
        elif divergence.config_drift:
            divergence.likely_cause = "the config differs from the recording's (see config drift)"
        elif choices.get("llm") != "replay" or choices.get("tools") != "replay":
            divergence.likely_cause = "a live backend in this replay answered otherwise than the recording (mixed mode)"
        print(orjson.dumps(divergence.as_dict(), default=str).decode() if as_json else divergence.report())
        if hydra_cfg.mode == RunMode.RUN:
            raise SystemExit(1) from None
        return "diverged"
    if cfg.replay.config == "current":
        result = ReplayResult(trace=result.trace, steps=result.steps, cut_off=result.cut_off, config_drift=_config_drift(cfg, trace.header))
    print(orjson.dumps(result.as_dict()).decode() if as_json else result.line())
    return "ok"


def _fork(cfg: DictConfig, hydra_cfg: Any, session: Any, *, as_json: bool) -> str:
    """Replay up to replay.until with today's tools (so the workspace is rebuilt), checked; then go on live, recorded."""
    import orjson
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from tracing.replay import Divergence, Fork, ForkLLM

    try:
        fork = Fork(session=session, until=cfg.replay.until)
        parts = {"llm": ForkLLM(fork=fork, live=instantiate(cfg.llm)), "tools": instantiate(cfg.tools), "clock": fork.clock}
    except (InstantiationException, ValueError) as err:
        _unusable(f"cannot build the fork from its config: {' '.join(str(err).split())}")
    try:
        outcome, trace_path = _run_agent(cfg, hydra_cfg, parts=parts, each_step=fork.check_step)
    except Divergence as divergence:  # the recorded part no longer replays: there is nothing sound to fork from
        print(orjson.dumps(divergence.as_dict(), default=str).decode() if as_json else divergence.report())
        raise SystemExit(1) from None
    result = {"result": "forked", "parent": str(session.trace.path), "at": fork.until, "status": outcome.status, "steps": outcome.steps, "answer": outcome.answer, "trace": str(trace_path) if trace_path else None}
    if as_json:
        print(orjson.dumps(result).decode())
    else:
        print(f"fork: steps 0-{fork.until} replayed as recorded ({session.trace.path}), then live: {outcome.status} after {outcome.steps} steps")
        if outcome.answer is not None:
            print(f"answer: {outcome.answer}")
        print(f"run dir: {hydra_cfg.runtime.output_dir}")
        if trace_path is not None:
            print(f"trace: {trace_path}")
    return outcome.status


def _config_drift(cfg: DictConfig, header: Mapping[str, Any]) -> list[str]:
    """Keys whose values in this replay's config differ from the recording's.

    A replayed llm is left out (the replay LLM has no settings), and of a toolbox only its tool list
    counts (a replay toolbox differs from the live one in nothing else that matters).
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from tracing.replay_config import config_drift
    from tracing.secrets import redact

    recorded = dict(header["config"])
    current = redact(OmegaConf.to_container(cfg, resolve=True))
    choices = HydraConfig.get().runtime.choices
    if choices.get("llm") == "replay":
        recorded.pop("llm", None)
        current.pop("llm", None)
    for config in (recorded, current):
        if isinstance(config.get("tools"), Mapping):
            config["tools"] = {"tools": config["tools"].get("tools")}
    return config_drift(recorded, current)


def _header(cfg: DictConfig, resolved: Any, hydra_cfg: Any) -> dict[str, object]:
    from omegaconf import OmegaConf

    from tracing.writer import make_header

    versions = {"python": sys.version.split()[0]}
    for module, distribution in _VERSIONED.items():
        version = getattr(sys.modules.get(module), "__version__", None)
        if version is not None:
            versions[distribution] = str(version)
    replay = cfg.get("replay") or {}
    parent = {"trace": replay["trace"], "run_id": replay.get("parent_run"), "step": replay["until"]} if replay.get("until") is not None else None
    return make_header(
        parent=parent,
        config=resolved,
        overrides=list(hydra_cfg.overrides.task),  # type: ignore[attr-defined]
        choices={k: v for k, v in hydra_cfg.runtime.choices.items()},  # type: ignore[attr-defined]
        job={"num": OmegaConf.select(hydra_cfg, "job.num", default=None), "name": hydra_cfg.job.name, "output_dir": hydra_cfg.runtime.output_dir},  # type: ignore[attr-defined]
        versions=versions,
    )
