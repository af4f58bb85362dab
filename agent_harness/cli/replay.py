"""``agent replay``: replay a trace, fork from one of its steps, or replay every job of a sweep.

A thin face over ``agent_harness.api``: the arguments become an API call, the result is printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_harness.cli import fail

HELP = """\
usage: agent replay TRACE_OR_RUN_DIR [--json] [OVERRIDES...]
       agent replay SWEEP_DIR [--fail-fast] [--json] [OVERRIDES...]

Re-execute a recorded run offline through the same loop, checking every step against the trace:
the model's answers and the tools' outputs come from the trace; nothing is called or connected to.

  replay.config=recorded  the trace's recorded config (default), llm and tools swapped to replay
  replay.config=current   today's conf composed from the recorded overrides; names config drift
  replay.until=K          fork: replay steps 0..K as recorded, then go on live, recorded to a new trace
  tools=live              run today's tools, answer the model from the trace (mixed mode)
  llm=<option>            ask a model again, answer tools from the trace (mixed mode)
  trace=true [tracePath=P]  record the replay as a run of its own
  hydra.run.dir=DIR       the folder for a replay's workspace and trace (default outputs/DATE/TIME)
  KEY=VALUE               any other setting, in Hydra's override syntax
  -cd DIR, -cn NAME       today's config (and allowed_targets) from DIR's project, DIR searched first, and
                          its primary config (anywhere among the arguments; default: the current folder's project)
  --json                  print the result as JSON
  --fail-fast             (sweeps) stop at the first job that does not match

Exit status: 0 every step matched, 1 the replay diverged (the report says where and how), 2 unusable input.

Examples:
  agent replay demo.jsonl                          exact re-execution of the recorded config
  agent replay demo.jsonl replay.config=current    does today's conf/ still do what it did?
  agent replay demo.jsonl tools=live --json        today's tools, recorded model answers, JSON report
  agent replay demo.jsonl replay.until=2 llm.temperature=0.7   fork after step 2
"""


def main(args: list[str]) -> None:
    """``agent replay ...``: arguments in any order; the first that is not an option or an override is the trace."""
    if any(a in ("-h", "--help") for a in args):
        print(HELP, end="")
        return
    args, project = project_options(args)
    flags = {a for a in args if a in ("--json", "--fail-fast")}
    unknown = [a for a in args if a.startswith("--") and a not in flags]
    if unknown:
        fail(f"unknown option {unknown[0]}; expected --json or --fail-fast (see `agent replay --help`)")
    positional = [a for a in args if not a.startswith("--") and "=" not in a and not a.startswith(("~", "+"))]
    if len(positional) != 1:
        shown = "no trace" if not positional else f"{len(positional)} paths ({', '.join(positional)})"
        fail(f"replay needs one trace file, run folder or sweep folder, got {shown}; as in `agent replay demo.jsonl [OVERRIDES...]`")
    path = Path(positional[0])
    overrides = [a for a in args if a not in flags and a != positional[0]]
    mode, until, run_dir, rest = "recorded", None, None, []
    for override in overrides:
        key, _, value = override.partition("=")
        if key == "replay.config":
            mode = value
        elif key == "replay.until":
            if not value.isdigit():
                fail(f"replay.until={value} is not a step number; give the last step to replay, as in replay.until=3")
            until = int(value)
        elif key == "hydra.run.dir":
            run_dir = Path(value.strip("'\""))
        else:
            rest.append(override)
    as_json = "--json" in flags

    from agent_harness import api
    from agent_harness.errors import ConfigError
    from tracing.errors import TraceError
    from tracing.sweep import is_sweep

    try:
        if is_sweep(path):
            if until is not None:
                fail("replay.until forks one trace; give a trace file, not a sweep folder")
            _sweep(api, path, rest, mode=mode, fail_fast="--fail-fast" in flags, run_dir=run_dir, as_json=as_json, project=project)
        elif "--fail-fast" in flags:
            fail("--fail-fast is for a sweep folder; a single trace stops at its first divergence anyway")
        elif until is not None:
            _fork(api, path, until, rest, run_dir=run_dir, as_json=as_json, project=project)
        else:
            result = api.replay(path, *rest, config=mode, run_dir=run_dir, project=project)  # type: ignore[arg-type]
            _print(result.as_dict() if as_json else str(result), as_json=as_json)
            if not result.ok:
                raise SystemExit(1)
    except (TraceError, ConfigError) as err:
        fail(str(err))


def project_options(args: list[str]) -> tuple[list[str], Any]:
    """Hydra's -cd/--config-dir and -cn/--config-name, anywhere among ``args``: the project they amount to, and the rest.

    The project around the -cd folder (so ``-cd path/to/project/conf`` from anywhere is that project,
    with its allowed_targets), else the one the current folder is in, with the folder searched first.
    """
    import dataclasses

    from agent_harness.errors import ConfigError
    from agent_harness.project import Project, config_options, project_for, search_path_options

    try:
        config_dir, config_name, rest = config_options(args)
        project = project_for(config_dir, config_name)
        # Hydra's own way to add config folders works here too: they are searched after the project's.
        entries, rest = search_path_options(rest)
    except ConfigError as err:
        fail(str(err))
    folders = tuple(Path(e.removeprefix("file://")).resolve() for e in entries if not e.startswith("pkg://"))
    if folders:
        base = project or Project(root=Path.cwd(), name=Path.cwd().name)
        project = dataclasses.replace(base, config_dirs=(*base.config_dirs, *folders))
    return rest, project


def _print(value: Any, *, as_json: bool) -> None:
    if as_json:
        import orjson

        print(orjson.dumps(value, default=str).decode())
    else:
        print(value)


def _fork(api: Any, path: Path, until: int, overrides: list[str], *, run_dir: Path | None, as_json: bool, project: Any) -> None:
    from tracing.replay import Diverged

    try:
        done = api.fork(path, until, *overrides, run_dir=run_dir, project=project)
    except Diverged as diverged:  # the recorded part no longer replays: there is nothing sound to fork from
        _print(diverged.divergence.as_dict() if as_json else diverged.divergence.report(), as_json=as_json)
        raise SystemExit(1) from None
    if as_json:
        _print({"result": "forked", "parent": str(path), "at": until, **done.summary()}, as_json=True)
    else:
        print("\n".join(done.lines()))
    if done.outcome.status != "finished":
        raise SystemExit(1)


def _sweep(api: Any, sweep: Path, overrides: list[str], *, mode: str, fail_fast: bool, run_dir: Path | None, as_json: bool, project: Any) -> None:
    from tracing.sweep import load_sweep

    total = len(load_sweep(sweep))
    jobs = []
    for job in api.replay_sweep(sweep, *overrides, config=mode, fail_fast=fail_fast, run_dir=run_dir, project=project):
        jobs.append(job)
        if not as_json:
            print(_job_lines(job))
    result = api.SweepReplay(sweep=sweep, jobs=tuple(jobs), total=total)
    if as_json:
        rows = [
            {"job": j.job, "overrides": list(j.overrides), "trace": str(j.trace) if j.trace else None}
            | (j.result.as_dict() if j.result is not None else {"result": "not replayable", "detail": j.problem})
            for j in jobs
        ]
        _print({"sweep": str(sweep), "jobs": rows, "summary": result.summary()}, as_json=True)
    else:
        print(f"{result.summary()} ({sweep})")
    if not result.ok:
        raise SystemExit(1)


def _job_lines(job: Any) -> str:
    label = f"job {job.job if job.job is not None else '?'}"
    overrides = " ".join(job.overrides) or "(no overrides)"
    if job.result is None:
        return f"{label}: not replayable: {job.problem}  [{overrides}]"
    if job.result.ok:
        ends = "; the recording ends there" if job.result.cut_off else ""
        return f"{label}: OK, {job.result.steps} steps matched{ends}  [{overrides}]"
    report = "\n".join(f"  {line}" for line in job.result.divergence.report().splitlines())
    return f"{label}: DIVERGED  [{overrides}]\n{report}"
