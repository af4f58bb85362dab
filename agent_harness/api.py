"""The public API: run (and record), replay, fork, diff, read and inspect, composed once, here.

The CLI, the pytest plugin, sweep replay, the tests and the benchmarks call these; none of them
builds a replay of its own. Nothing here touches process-global state (``sys.argv``,
``os.environ``, stdout, ``gc``): two replays in one process, or in two threads, give what two
processes give.

    import agent_harness as ah

    result = ah.run("task=recipes", trace="recipes.jsonl")
    check = ah.replay("recipes.jsonl")
    assert check.ok, check          # str(check) is the divergence report
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agent_harness.errors import ConfigError
from tracing.errors import TraceError
from tracing.reader import Trace, read_trace, trace_file

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from agent_harness.project import Project

    from agent.records import Outcome, Step
    from agent_harness.compose import Override
    from tracing.replay import ReplayResult, ReplaySession

# Hydra, OmegaConf and the replay machinery are imported where they are used: `agent trace inspect`
# goes through this module and must start fast.

Mode = Literal["recorded", "current"]
MODES: tuple[Mode, ...] = ("recorded", "current")

# Modules whose versions go into a trace header when the run loaded them: they decide what it does.
# Read from __version__ because importlib.metadata alone costs ~5 ms of start-up (bench/RESULTS-trace.md).
_VERSIONED = {"agent": "agent-harness", "hydra": "hydra-core", "omegaconf": "omegaconf", "orjson": "orjson", "openai": "openai", "llama_cpp": "llama-cpp-python"}
_RECORDING_KEYS = ("trace", "tracePath", "traceFsync")


@dataclass(frozen=True, slots=True)
class RunResult:
    """A finished run: how it ended, where its files and its trace are."""

    outcome: Outcome
    run_dir: Path | None
    trace: Path | None = None
    forked_from: Path | None = None
    """The parent trace, for a fork."""
    forked_at: int | None = None
    steps: int | None = None
    """Steps the trace holds when there is one (a step cut short by Ctrl-C is in neither), else the run's."""
    reuse: Mapping[str, Any] | None = None
    """For a run that reused a trace: which, how many steps, where it went live and why."""
    resumed_after: int | None = None
    """For a resumed run: the last recorded step it replayed before going on live."""

    @property
    def ok(self) -> bool:
        """Whether the run finished with an answer."""
        return self.outcome.status == "finished"

    @property
    def step_count(self) -> int:
        """Steps of the run, as its trace counts them when it has one."""
        return self.steps if self.steps is not None else self.outcome.steps

    @property
    def failed_tool_calls(self) -> int:
        """Tool calls that ended in an error result (the model saw the error)."""
        return self.outcome.failed_tool_calls

    def lines(self, prefix: str = "") -> list[str]:
        """The closing lines a command prints for this run."""
        outcome = self.outcome
        head = f"{outcome.status} after {self.step_count} steps" + (f": {outcome.error}" if outcome.error else "")
        if self.forked_from is not None:
            head = f"fork: steps 0-{self.forked_at} replayed as recorded ({self.forked_from}), then live: {head}"
        if self.resumed_after is not None:
            head = f"resumed: steps 0-{self.resumed_after} replayed from the trace (no model call), then live: {head}"
        lines = [head]
        if self.reuse is not None:
            reuse = self.reuse
            if reuse["live_from"] is None:
                lines.append(f"reused all {reuse['reused_steps']} steps from {reuse['trace']}: no model call")
            else:
                lines.append(f"reused {reuse['reused_steps']} steps from {reuse['trace']}; live from step {reuse['live_from']}: {reuse['reason']}")
        if outcome.failed_tool_calls:
            lines.append(f"{outcome.failed_tool_calls} tool call{'s' if outcome.failed_tool_calls != 1 else ''} failed (the model saw the errors; `agent trace inspect` shows them)")
        if outcome.answer is not None:
            lines.append(f"answer: {outcome.answer}")
        if self.run_dir is not None:
            lines.append(f"run dir: {self.run_dir}")
        if self.trace is not None:
            lines.append(f"trace: {self.trace}")
        return [prefix + line for line in lines]

    def summary(self) -> dict[str, Any]:
        """The run as JSON data (what a job's status.json holds)."""
        outcome = self.outcome
        return {
            "status": outcome.status,
            "steps": self.step_count,
            "answer": outcome.answer,
            "error": outcome.error,
            "failed_tool_calls": outcome.failed_tool_calls,
            "usage": {"prompt_tokens": outcome.usage.prompt_tokens, "completion_tokens": outcome.usage.completion_tokens},
            "trace": str(self.trace) if self.trace is not None else None,
        } | ({"reuse": dict(self.reuse)} if self.reuse is not None else {})


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What a trace header says about where a run's config came from, besides the config itself."""

    overrides: Sequence[str] = ()
    choices: Mapping[str, Any] = field(default_factory=dict)
    job: Mapping[str, Any] = field(default_factory=dict)
    parent: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """More header fields (a reused trace)."""
    project: Project | None = None
    """The user's project the config came from (recorded in the header)."""
    seed_base: Path | None = None
    """The folder a relative ``task.workspace_seed`` is taken from (the project's root), else the current folder."""


# --------------------------------------------------------------------------- run


def run(
    *overrides: str,
    trace: str | Path | None = None,
    run_dir: str | Path | None = None,
    config: DictConfig | None = None,
    project: Project | str | Path | None = None,
) -> RunResult:
    """Run the agent with today's conf and ``overrides`` (or an already composed ``config``); record it when ``trace`` is given.

    The run's files (its workspace) go to ``run_dir`` (default: outputs/DATE/TIME under the current folder).
    ``project`` is the user's project (or a folder inside it) whose ``[tool.agent-harness]`` config is
    used; by default the one the current folder is in, if any.
    """
    found = _project(project)
    from agent_harness.compose import compose, default_run_dir, parse_overrides
    parsed = parse_overrides(list(overrides))
    if config is None:
        composed = compose(list(overrides), project=found)
        config, choices = composed.config, composed.choices
    else:
        choices = {}
    folder = Path(run_dir) if run_dir is not None else default_run_dir()
    _set(config, "run_dir", str(folder.resolve()))
    if trace is not None:
        _set(config, "trace", True)
        _set(config, "tracePath", str(Path(trace).resolve()))
    info = RunInfo(overrides=[o.text for o in parsed], choices=choices, job={"num": None, "name": "agent", "output_dir": str(folder.resolve())}, project=found)
    return execute(config, info)


def _project(project: Project | str | Path | None) -> Project | None:
    """``project`` as a Project: given, or found from a folder (default: the current one)."""
    from agent_harness.project import Project, find_project

    return project if isinstance(project, Project) else find_project(project)


def _set(config: DictConfig, key: str, value: Any) -> None:
    from omegaconf import OmegaConf

    # force_add lifts the struct flag only for a key the config lacks (toggling it walks the whole config).
    OmegaConf.update(config, key, value, merge=False, force_add=key not in config)


def execute(
    config: DictConfig,
    info: RunInfo,
    *,
    parts: Mapping[str, Any] | None = None,
    each_step: Callable[[Step], object] | None = None,
    resume_steps: int | None = None,
    seed_workspace: bool = True,
    data: Mapping[str, Any] | None = None,
) -> RunResult:
    """Build and drive one run from a composed config, through a trace writer when its ``trace`` setting is on.

    ``parts`` (llm, tools, clock) are used instead of those the config names; ``each_step`` sees every
    step after it is recorded (a replay checks it there). A config with ``reuse`` set serves the
    unchanged prefix of that trace (see ``reuse``); one with ``resume`` set goes on with an
    unfinished trace already at ``tracePath`` instead of refusing it (see ``resume``).
    ``resume_steps`` appends to the trace at ``tracePath``, which holds that many steps.
    ``data`` is ``config`` already resolved, when the caller has it.
    """
    from agent.loop import drive
    from agent.records import Outcome
    from agent.state import AgentState
    from agent_harness.build import build_run
    from agent_harness.compose import resolved

    data = resolved(config) if data is None else data
    run_dir = Path(data["run_dir"]) if data.get("run_dir") else None
    trace_path = Path(data["tracePath"]) if data.get("trace") else None
    if parts is None and trace_path is not None and data.get("resume") and trace_path.exists():
        return _resume_in_place(config, data, info)
    prefix = None
    if parts is None and data.get("reuse"):
        parts, prefix, info = _reuse_parts(config, data, info)
        each_step = prefix.check_step
    writer = None
    if trace_path is not None:  # opened first: a trace path in the way stops the run before anything happens
        from tracing.writer import TraceWriter

        from tracing.secrets import Scrubber, secrets_read

        fsync = data.get("traceFsync", "never")
        # The secret values this run reads (a key in the config, or in the variable a *_env key names) never reach the file.
        scrubber = Scrubber(secrets_read(data, list(info.overrides), os.environ))
        scrub = scrubber.bytes if scrubber else None
        if resume_steps is None:
            writer = TraceWriter.create(trace_path, header(data, info), fsync=fsync, scrub=scrub)
        else:
            writer = TraceWriter.resume(trace_path, resume_steps, reason=info.job.get("resume_reason", "resumed"), fsync=fsync, scrub=scrub)
    try:
        base = info.seed_base or (info.project.root if info.project is not None else None)
        run = build_run(config, seed_workspace=seed_workspace, seed_base=base, **(parts or {}))
    except ConfigError as err:
        problem = f"cannot build the run from its config: {err}"
        if writer is not None:  # the trace says why the run never started
            with writer:
                writer.write_end(Outcome("error", AgentState(), error=problem))
        raise ConfigError(problem) from None
    except BaseException:
        if writer is not None:
            writer.close()
        raise
    if writer is None:
        outcome = drive(run, each_step or (lambda step: None))
        return RunResult(outcome=outcome, run_dir=run_dir, reuse=_reuse_summary(prefix, data))
    with writer:
        if prefix is not None:
            writer.end_extra = lambda: {"reuse": _reuse_summary(prefix, data)}
        outcome = writer.record(run, each_step)
    return RunResult(outcome=outcome, run_dir=run_dir, trace=writer.path, steps=writer.steps, reuse=_reuse_summary(prefix, data))


def header(data: Mapping[str, Any], info: RunInfo) -> dict[str, Any]:
    """The trace header of a run of the resolved config ``data``."""
    from tracing.writer import make_header

    versions = {"python": sys.version.split()[0]}
    for module, distribution in _VERSIONED.items():
        version = getattr(sys.modules.get(module), "__version__", None)
        if version is not None:
            versions[distribution] = str(version)
    made = make_header(
        parent=info.parent,
        config=data,
        overrides=list(info.overrides),
        choices=dict(info.choices),
        job={k: v for k, v in info.job.items() if k != "resume_reason"},
        versions=versions,
    )
    if info.project is not None:
        made["project"] = info.project.record()
    return made | dict(info.extra)


# --------------------------------------------------------------------------- replay


@dataclass
class _Plan:
    """A replay's config and the parts it builds, worked out from a trace, the user's overrides and the mode."""

    trace: Trace
    config: DictConfig
    choices: dict[str, Any]
    live: set[str]
    """The groups (llm, tools) that run live instead of answering from the trace."""
    overrides: list[Override]
    recording: bool
    """Whether the replay is recorded as a run of its own (trace=true)."""
    drift: tuple[str, ...] = ()
    project: Project | None = None
    data: dict[str, Any] = field(default_factory=dict)
    """``config`` resolved, as it was when planned."""

    def info(self, name: str, **fields: Any) -> RunInfo:
        """The RunInfo of a run of this plan (a replay recorded, a fork)."""
        from omegaconf import OmegaConf

        recorded_root = (self.trace.header.get("project") or {}).get("root")
        return RunInfo(
            overrides=[o.text for o in self.overrides],
            choices=self.choices,
            job={"num": None, "name": name, "output_dir": OmegaConf.select(self.config, "run_dir")},
            project=self.project,
            seed_base=self.project.root if self.project is not None else Path(recorded_root) if recorded_root else None,
            **fields,
        )


def _plan(trace: Trace, overrides: Sequence[str], mode: str, run_dir: Path | None, *, project: Project | None, live: Sequence[str] = ()) -> _Plan:
    from omegaconf import OmegaConf

    from agent_harness.compose import apply_overrides, compose, default_run_dir, parse_overrides, resolved
    from tracing.replay_config import recorded_config, replay_drift

    if mode not in MODES:
        msg = f"replay.config={mode} is not a replay mode; expected one of: {', '.join(MODES)}"
        raise ConfigError(msg)
    header = trace.header
    recorded_choices = dict(header.get("choices") or {})
    parsed = parse_overrides([_own_tools(o, recorded_choices) for o in overrides])
    known_groups = set(recorded_choices) | set(compose(project=project).choices)  # a trace of a composed config names none
    groups = {o.key: o for o in parsed if "." not in o.key and "/" not in o.key and not o.deletes and o.key in known_groups}
    for group, override in list(groups.items()):
        if group in ("llm", "tools") and override.value == "replay":
            del groups[group]  # llm=replay, tools=replay: what a replay does anyway
    live_groups = {g for g in ("llm", "tools") if g in groups} | set(live)
    values = [o for o in parsed if o.key not in groups and not (o.key in ("llm", "tools") and o.value == "replay")]
    if mode == "current":
        taken = {o.key for o in parsed}
        kept = [o for o in parse_overrides([str(x) for x in header.get("overrides", [])]) if _keep_recorded(o, taken, live_groups)]
        _same_project(trace, project)
        composed = compose([o.text for o in kept] + [o.text for o in parsed if o.key not in _RECORDING_KEYS and o.root not in ("hydra",)], project=project)
        config, choices = composed.config, {**composed.choices}
    else:
        config = _recorded(header, project)
        choices = dict(recorded_choices)
        if groups:
            # A group given another option: today's conf composes that option, with the user's settings for it.
            wanted = [o.text for o in parsed if o.key in groups or (o.root in groups and o.key not in groups)]
            composed = compose(wanted, project=project)
            for group, override in groups.items():
                section = composed.config[group]
                if override.value == recorded_choices.get(group, override.value) and isinstance(header["config"].get(group), Mapping):
                    # The same option keeps its recorded settings, each replaced whole (a recorded tool list
                    # gains none of today's tools); the live backend reads its own key again; the user's
                    # settings for the group are applied after, with the others.
                    OmegaConf.set_struct(section, False)
                    for key, value in recorded_config({group: header["config"][group]}).get(group, {}).items():
                        if key != "_target_":
                            section[key] = value
                OmegaConf.set_struct(config, False)
                config[group] = section
                choices[group] = override.value
            values = [o for o in values if o.key not in groups]
        apply_overrides(config, [o for o in values if o.root != "hydra"])
    for group in ("llm", "tools"):
        if group not in live_groups:
            choices[group] = "replay"
    folder = run_dir if run_dir is not None else default_run_dir()
    _set(config, "run_dir", str(folder.resolve()))
    if OmegaConf.select(config, "tracePath", default=None) is None:
        _set(config, "tracePath", "${run_dir}/trace.jsonl")
    recording = bool(OmegaConf.select(config, "trace", default=False))
    if not recording:
        _set(config, "trace", False)
    plan = _Plan(trace=trace, config=config, choices=choices, live=live_groups, overrides=parsed, recording=recording, project=project)
    plan.data = resolved(config)
    plan.drift = tuple(replay_drift(header["config"], plan.data, llm_replayed="llm" not in live_groups))
    return plan


def _own_tools(override: str, recorded_choices: Mapping[str, Any]) -> str:
    """``tools=live`` in a replay means the run's own tools, live: the recorded tools option.

    A project's trace records its own option (``tools=helpdesk``); taken literally, ``tools=live``
    would swap in the harness's demo toolbox and diverge at the first request on the tool list.
    """
    recorded = recorded_choices.get("tools")
    if override.replace(" ", "") == "tools=live" and recorded not in (None, "live", "replay"):
        return f"tools={recorded}"
    return override


def _recorded(header: Mapping[str, Any], project: Project | None) -> DictConfig:
    """A trace's recorded config over today's defaults: each section the recording has replaced whole
    (never merged: a recorded tool list must not gain today's tools); what it lacks (an older trace)
    comes from today. Built once from plain data: a copy of today's config with sections then
    replaced costs twice as much."""
    from agent_harness.compose import compose_data, to_config
    from tracing.replay_config import recorded_config

    return to_config({**compose_data(project=project), **recorded_config(header["config"])})


def _keep_recorded(override: Override, taken: set[str], live: set[str]) -> bool:
    """Whether a recorded override goes into a replay against today's conf."""
    from tracing.replay_config import RUN_SPECIFIC
    from tracing.secrets import is_redacted_override

    if override.key in taken or override.root in RUN_SPECIFIC or override.root == "hydra":
        return False
    if override.key in ("llm", "tools"):
        return override.key in live and override.key not in taken
    if is_redacted_override(override.text):
        return False  # a secret the recording left out: a live backend reads its own again
    return not (override.root == "llm" and "llm" not in live)  # the replay LLM has no model settings


def _same_project(trace: Trace, project: Project | None) -> None:
    """Refuse, in one line, to compose today's config for a trace recorded in another project than ``project``."""
    recorded = trace.header.get("project")
    if recorded and (project is None or project.name != recorded.get("name")):
        where = ", ".join(recorded.get("config_dirs") or []) or "its config folders"
        here = f"this folder is in project {project.name}" if project is not None else "this folder is in no project with a [tool.agent-harness] table"
        msg = (
            f"{trace.path} was recorded in project {recorded.get('name')} ({where} under {recorded.get('root')}), but {here}; "
            "replay.config=current composes that project's config: run it from inside that project, or point at its config with "
            f"-cd {Path(str(recorded.get('root') or 'PROJECT')) / ((recorded.get('config_dirs') or ['conf'])[0])} (or replay its recorded config)"
        )
        raise ConfigError(msg)


def _allowed(config: DictConfig, project: Project | None) -> list[str]:
    from omegaconf import OmegaConf

    from agent_harness.compose import setting

    allowed = OmegaConf.select(config, "allowed_targets", default=None)
    today = setting("allowed_targets", project=project)
    return [str(m) for m in (list(allowed or []) + list(today or []) + list(project.allowed_targets if project is not None else ()))]


def _check_targets(plan: _Plan) -> None:
    """Refuse to build anything a trace names outside this project and today's allowed modules."""
    from omegaconf import OmegaConf

    from tracing.replay_config import foreign_targets

    allowed = _allowed(plan.config, plan.project)
    foreign = foreign_targets(OmegaConf.to_container(plan.config, resolve=False), allowed) + foreign_targets(plan.trace.header["config"], allowed)
    if foreign:
        recorded = plan.trace.header.get("project") or {}
        where = f" (it was recorded in project {recorded.get('name')} at {recorded.get('root')}: replay it from there, or with -cd into its config)" if recorded and (plan.project is None or plan.project.name != recorded.get("name")) else ""
        msg = (
            f"{plan.trace.path} names code outside this project: {', '.join(sorted(set(foreign)))}; nothing was built{where}. "
            "If you trust it, list its module in allowed_targets ([tool.agent-harness] in pyproject.toml, conf/config.yaml, or allowed_targets=[module])"
        )
        raise ConfigError(msg)


def _parts(plan: _Plan, session: ReplaySession) -> dict[str, Any]:
    """The replay's llm and tools: recorded answers, or live backends for the groups asked for."""
    from omegaconf import OmegaConf

    from tracing.replay import ReplayLLM, ReplayTools

    llm = _instantiate(plan.config.llm, "replay") if "llm" in plan.live else ReplayLLM(session=session)
    if "tools" in plan.live:
        tools = _instantiate(plan.config.tools, "replay")
    else:
        # Exactly the recorded tool set (resolved from today's code, so a changed signature shows), never today's list.
        listed = OmegaConf.select(plan.config, "tools.tools", default=None)
        tools = ReplayTools(session=session, tools=_instantiate(listed, "replay") if listed is not None else {})
    return {"llm": llm, "tools": tools, "clock": session.clock}


def load(trace: str | Path | Trace) -> Trace:
    """A trace read for replay: prompts that do not match their digests (an edited trace) are left to the replay to place."""
    return trace if isinstance(trace, Trace) else read_trace(trace_file(Path(trace)), check_prompts=False)


def replay(
    trace: str | Path | Trace,
    *overrides: str,
    config: Mode = "recorded",
    run_dir: str | Path | None = None,
    raise_on_divergence: bool = False,
    project: Project | str | Path | None = None,
) -> ReplayResult:
    """Re-execute a recorded run offline through the same loop, checking every step; the first difference ends it.

    ``config="recorded"`` runs the trace's own config; ``"current"`` today's conf composed with the
    recorded overrides (config drift is named). ``overrides`` apply on top, as on the command line:
    ``tools=live`` or ``llm=openai`` run that part live (mixed mode). Returns a ReplayResult; with
    ``raise_on_divergence`` a divergence raises ``Diverged`` instead.
    """
    from tracing.replay import Diverged, ReplaySession

    loaded = load(trace)
    plan = _plan(loaded, overrides, config, Path(run_dir) if run_dir is not None else None, project=_project(project))
    _check_targets(plan)
    session = ReplaySession(loaded, config_drift=plan.drift)
    parts = _parts(plan, session)
    info = plan.info("replay")
    result = _replay_with(plan, session, parts, info)
    if raise_on_divergence and result.divergence is not None:
        raise Diverged(result.divergence)
    return result


def _replay_with(plan: _Plan, session: ReplaySession, parts: Mapping[str, Any], info: RunInfo) -> ReplayResult:
    """Run the replay through execute() (which records it under trace=true), checking every step against the trace."""
    from tracing.replay import Diverged, RecordingEnded, ReplayResult

    try:
        done = execute(plan.config, info, parts=parts, each_step=session.check_step, data=plan.data)
        return session.finish(done.outcome)
    except Diverged as diverged:
        return ReplayResult(trace=session.trace.path, steps=session.step, config_drift=session.config_drift, divergence=diverged.divergence)
    except RecordingEnded:  # a cut-off or interrupted recording: every step it has matched
        return ReplayResult(trace=session.trace.path, steps=session.step, cut_off=True, config_drift=session.config_drift)


# --------------------------------------------------------------------------- fork, resume, reuse


def _instantiate(node: Any, what: str) -> Any:
    """The object a config node names (``_target_``); a failure is a ConfigError naming ``what`` was being built."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node)
    except InstantiationException as err:
        msg = f"cannot build the {what} from its config: {' '.join(str(err).split())}"
        raise ConfigError(msg) from None


def _build_live(config: DictConfig, what: str) -> tuple[Any, Any]:
    """The live llm and tools a config names."""
    return _instantiate(config.llm, what), _instantiate(config.tools, what)


def fork(
    trace: str | Path | Trace,
    until: int,
    *overrides: str,
    trace_out: str | Path | None = None,
    run_dir: str | Path | None = None,
    project: Project | str | Path | None = None,
) -> RunResult:
    """Replay steps 0..``until`` as recorded (checked, with live tools so the workspace is rebuilt), then go on live.

    The live part uses the recording's own llm and tools unless ``overrides`` choose others. The fork
    is recorded to ``trace_out`` (default: its run dir's trace.jsonl); its header names its parent.
    A recorded part that no longer replays raises ``Diverged``: there is nothing sound to fork from.
    """
    from agent_harness.compose import parse_overrides
    from tracing.replay import Prefix, PrefixLLM, ReplaySession

    loaded = load(trace)
    if not 0 <= until < len(loaded.steps):
        last = len(loaded.steps) - 1
        msg = f"replay.until={until} is not a step of {loaded.path}; it has steps 0 to {last}" if last >= 0 else f"{loaded.path} has no steps to fork from"
        raise ConfigError(msg)
    header = loaded.header
    taken = {o.key for o in parse_overrides(list(overrides))}
    chosen = [f"{g}={header['choices'][g]}" for g in ("llm", "tools") if g not in taken and g in (header.get("choices") or {})]
    plan = _plan(loaded, [*chosen, *overrides], "recorded", Path(run_dir) if run_dir is not None else None, project=_project(project), live=("llm", "tools"))
    _set(plan.config, "trace", True)
    if trace_out is not None:
        _set(plan.config, "tracePath", str(Path(trace_out).resolve()))
    _check_targets(plan)
    live_llm, live_tools = _build_live(plan.config, "fork")
    prefix = Prefix(session=ReplaySession(loaded), until=until)
    parts = {"llm": PrefixLLM(prefix=prefix, live=live_llm), "tools": live_tools, "clock": prefix.clock}
    parent = {"trace": str(loaded.path.resolve()), "run_id": header["run_id"], "step": until}
    info = plan.info("fork", parent=parent)
    done = execute(plan.config, info, parts=parts, each_step=prefix.check_step)
    return RunResult(outcome=done.outcome, run_dir=done.run_dir, trace=done.trace, steps=done.steps, forked_from=loaded.path, forked_at=until)


def _resumable(trace: Trace) -> str:
    """Why ``trace`` can be resumed (cut off, interrupted), or a ConfigError saying why not."""
    end = trace.end
    if end is not None and end["status"] != "interrupted":
        msg = f"{trace.path} already ended ({end['status']} after {end['steps']} steps); only a cut-off or interrupted run is resumed, and a finished one is never run again"
        raise ConfigError(msg)
    return "interrupted" if end is not None else "cut off" + (" mid-record" if trace.torn else "")


def resume(trace: str | Path | Trace, *overrides: str, project: Project | str | Path | None = None) -> RunResult:
    """Go on with a run whose trace was cut off (crash, kill) or ended interrupted, in the same trace file.

    The recorded steps are replayed offline (checked, recorded tool outputs served, nothing sent to the
    model), then the run goes on live with the recorded config and backends, in the workspace the
    run left. A step that was in flight when the run stopped runs again from its start (its tool
    calls may run twice: at-least-once). The trace gets a resume record and replays whole from step 0.
    ``trace`` may be one already read with ``read``.
    """
    from agent_harness.compose import apply_overrides, parse_overrides
    from tracing.replay_config import RUN_SPECIFIC

    loaded = trace if isinstance(trace, Trace) else read_trace(trace_file(Path(trace)))
    path = loaded.path
    if loaded.edited:  # a Trace read with check_prompts=False: a resumed run goes on from what was recorded, unchanged
        msg = f"{path}: step {loaded.edited[0]}'s prompt does not match its recorded sha256 (the trace was edited or damaged); only an unchanged trace is resumed"
        raise TraceError(msg)
    _resumable(loaded)
    header = loaded.header
    found = _project(project)
    config = _recorded(header, found)
    recorded_workspace = (header["config"].get("tools") or {}).get("workspace") if isinstance(header["config"].get("tools"), Mapping) else None
    if recorded_workspace is not None:  # the workspace the run left, not a fresh one
        _set(config, "tools.workspace", str(recorded_workspace))
    recorded_run_dir = header["config"].get("run_dir") or (header.get("job") or {}).get("output_dir") or str(path.parent)
    _set(config, "run_dir", str(recorded_run_dir))
    # The run goes on in its own file and folders; what this command may trust (allowed_targets) is today's to say.
    apply = [o for o in parse_overrides(list(overrides)) if o.root not in RUN_SPECIFIC or o.root == "allowed_targets"]
    apply_overrides(config, apply)
    _set(config, "trace", True)
    _set(config, "tracePath", str(path.resolve()))
    plan = _Plan(trace=loaded, config=config, choices=dict(header.get("choices") or {}), live={"llm", "tools"}, overrides=apply, recording=True, project=found)
    _check_targets(plan)
    info = dataclasses.replace(plan.info("resume"), overrides=list(header.get("overrides") or []), job=dict(header.get("job") or {}))
    return _resume_with(config, loaded, info)


def _resume_with(config: DictConfig, loaded: Trace, info: RunInfo) -> RunResult:
    """Replay the recorded steps of ``loaded`` through the same loop, then go on live, appending to its file."""
    from tracing.replay import Prefix, PrefixLLM, PrefixTools, ReplaySession

    reason = _resumable(loaded)
    live_llm, live_tools = _build_live(config, "resumed run")
    steps = len(loaded.steps)
    info = dataclasses.replace(info, job={**info.job, "resume_reason": reason})
    if steps == 0:  # stopped before its first step: nothing to replay
        done = execute(config, info, parts={"llm": live_llm, "tools": live_tools}, resume_steps=0, seed_workspace=not _has_files(live_tools))
        return RunResult(outcome=done.outcome, run_dir=done.run_dir, trace=done.trace, steps=done.steps, resumed_after=-1)
    prefix = Prefix(session=ReplaySession(loaded), until=steps - 1)
    parts = {"llm": PrefixLLM(prefix=prefix, live=live_llm), "tools": PrefixTools(prefix=prefix, live=live_tools, serve_recorded=True), "clock": prefix.clock}
    done = execute(config, info, parts=parts, each_step=prefix.check_step, resume_steps=steps, seed_workspace=False)
    return RunResult(outcome=done.outcome, run_dir=done.run_dir, trace=done.trace, steps=done.steps, resumed_after=steps - 1)


def _has_files(tools: Any) -> bool:
    workspace = getattr(tools, "workspace", None)
    return workspace is not None and Path(workspace).is_dir() and any(Path(workspace).iterdir())


def _resume_in_place(config: DictConfig, data: Mapping[str, Any], info: RunInfo) -> RunResult:
    """``resume=true``: the trace at tracePath is this run's, unfinished (a requeued job): go on with it."""
    from tracing.replay_config import replay_drift

    loaded = read_trace(Path(data["tracePath"]))
    _resumable(loaded)
    drift = replay_drift(loaded.header["config"], data, llm_replayed=False)
    if drift:
        msg = f"{loaded.path} was recorded with another config ({', '.join(drift)} differ); not resumed: give this run another tracePath"
        raise ConfigError(msg)
    return _resume_with(config, loaded, info)


def _reuse_source(data: Mapping[str, Any], info: RunInfo) -> Path | None:
    """The trace a run reuses: the file named, or the job of a sweep folder run with the same overrides."""
    from agent_harness.compose import parse_overrides
    from tracing.replay_config import RUN_SPECIFIC
    from tracing.sweep import is_sweep, load_sweep

    named = Path(str(data["reuse"]))
    if not is_sweep(named):
        return trace_file(named)

    def own(overrides: Sequence[str]) -> set[str]:
        return {o.text for o in parse_overrides([str(x) for x in overrides]) if o.root not in (*RUN_SPECIFIC, "reuse", "resume")}

    mine = own(info.overrides)
    for job in load_sweep(named):
        if job.trace is not None and own(job.overrides) == mine:
            return job.trace
    return None


def _reuse_parts(config: DictConfig, data: Mapping[str, Any], info: RunInfo) -> tuple[dict[str, Any], Any, RunInfo]:
    """A live run's parts that serve the unchanged prefix of the reused trace, and the header info naming it."""
    from omegaconf import OmegaConf

    from tracing.replay import Prefix, PrefixLLM, PrefixTools, ReplaySession

    source = _reuse_source(data, info)
    live_llm, live_tools = _build_live(config, "run")
    if source is None:  # a sweep job with no counterpart: all of it runs live
        loaded = None
    else:
        loaded = load(source)
    if loaded is None or not loaded.steps:
        prefix = _NoPrefix(source)
        return {"llm": live_llm, "tools": live_tools}, prefix, info
    served = getattr(config.tools, "_target_", "") == "tracing.replay.ReplayTools"
    if served:  # tools=replay: recorded outputs while the prefix lasts, then the recorded tools run live
        listed = OmegaConf.to_container(config.tools.tools) if "tools" in config.tools else {}
        live_tools = _instantiate({"_target_": "agent.tools.Toolbox", "workspace": str(Path(str(data["run_dir"])) / "workspace"), "tools": listed}, "run")
    prefix = Prefix(session=ReplaySession(loaded), until=None, strict=False)
    parts = {"llm": PrefixLLM(prefix=prefix, live=live_llm), "tools": PrefixTools(prefix=prefix, live=live_tools, serve_recorded=served), "clock": prefix.clock}
    reused = {"reuse": {"trace": str(loaded.path.resolve()), "run_id": loaded.header["run_id"]}}
    return parts, prefix, dataclasses.replace(info, extra=reused)


class _NoPrefix:
    """Stands in for a Prefix when nothing can be reused: every step is live."""

    def __init__(self, source: Path | None) -> None:
        self.source, self.live_from, self.reused = source, 0, 0
        self.reason = "the reused trace has no steps" if source is not None else "no job of the reused sweep has these overrides"

    def check_step(self, step: Step) -> None:
        """Nothing to check."""


def _reuse_summary(prefix: Any, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """What a reuse did, for the end record, status.json and the closing lines."""
    if prefix is None:
        return None
    source = prefix.source if isinstance(prefix, _NoPrefix) else prefix.session.trace.path
    return {"trace": str(source if source is not None else data.get("reuse")), "reused_steps": prefix.reused, "live_from": prefix.live_from, "reason": prefix.reason}


# --------------------------------------------------------------------------- reading


def read(trace: str | Path) -> Trace:
    """A whole trace, checked, with every step's prompt rebuilt."""
    return read_trace(trace_file(Path(trace)))


def inspect(trace: str | Path, *, full: bool = False, raw: bool = False) -> Iterator[str]:
    """A trace (or a sweep folder: one row per job) as readable lines of text; control characters escaped unless ``raw``."""
    from tracing.inspection import inspect

    return inspect(trace, full=full, raw=raw)


def diff(a: str | Path, b: str | Path) -> Any:
    """Two traces compared: config first, then the first step where they part (a TraceDiff)."""
    from tracing.diff import compare

    # An edited trace is diffed, not refused: what was changed is what the user wants to see.
    return compare(read_trace(trace_file(Path(a)), check_prompts=False), read_trace(trace_file(Path(b)), check_prompts=False))


# --------------------------------------------------------------------------- sweeps


@dataclass(frozen=True, slots=True)
class JobReplay:
    """One job of a sweep replay: its number, overrides, and the replay result or why there is none."""

    job: int | None
    overrides: tuple[str, ...]
    trace: Path | None
    result: ReplayResult | None = None
    problem: str | None = None
    """Why the job could not be replayed (no trace, unusable trace)."""

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.ok


@dataclass(frozen=True, slots=True)
class SweepReplay:
    """Every job of a sweep replayed, in job order."""

    sweep: Path
    jobs: tuple[JobReplay, ...]
    total: int

    @property
    def ok(self) -> bool:
        return len(self.jobs) == self.total and all(j.ok for j in self.jobs)

    def summary(self) -> str:
        matched = sum(j.ok for j in self.jobs)
        diverged = sum(j.result is not None and not j.result.ok for j in self.jobs)
        unusable = sum(j.result is None for j in self.jobs)
        text = f"sweep replay: {self.total} jobs, {matched} matched, {diverged} diverged, {unusable} not replayable"
        if len(self.jobs) < self.total:
            text += f", {self.total - len(self.jobs)} not tried (--fail-fast)"
        return text


def replay_sweep(
    folder: str | Path,
    *overrides: str,
    config: Mode = "recorded",
    fail_fast: bool = False,
    run_dir: str | Path | None = None,
    project: Project | str | Path | None = None,
) -> Iterator[JobReplay]:
    """Replay every job's trace of a sweep folder, in this process, one job after the other (yields as each ends).

    In process: a replay builds no Hydra app and touches no global state, so a job costs what its
    replay costs (a process per job cost ~1 s of start-up each).
    """
    from tracing.sweep import load_sweep

    jobs = load_sweep(Path(folder))
    for job in jobs:
        if job.trace is None:
            problem = f"no trace (job {job.status}" + (f": {job.error}" if job.error else "") + ")"
            item = JobReplay(job=job.number, overrides=tuple(job.overrides), trace=None, problem=problem)
        else:
            where = Path(run_dir) / f"job-{job.number}" if run_dir is not None else None
            try:
                result = replay(job.trace, *overrides, config=config, run_dir=where, project=project)
                item = JobReplay(job=job.number, overrides=tuple(job.overrides), trace=job.trace, result=result)
            except (TraceError, ConfigError) as err:
                item = JobReplay(job=job.number, overrides=tuple(job.overrides), trace=job.trace, problem=str(err))
        yield item
        if fail_fast and not item.ok:
            return
