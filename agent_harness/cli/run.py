"""``agent run``: a Hydra app whose job is ``agent_harness.api.execute``.

Its arguments go to Hydra untouched (overrides, -m, --cfg, --help, launchers, shell completion),
after ``--trace PATH`` becomes ``trace=true tracePath=PATH``. Hydra reads ``sys.argv`` and
``HYDRA_FULL_ERROR``: they are set here, at the command's entry, and put back afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from agent_harness.cli import collector_paused, fail, reader_safe_stdout, say
from agent_harness.compose import quoted

if TYPE_CHECKING:
    from omegaconf import DictConfig


class UnusableInput(Exception):
    """Raised inside a sweep's job for input it cannot use: it fails that job only, and the others run."""


def main(args: list[str]) -> None:
    """``agent run [--trace PATH] [OVERRIDES...]``."""
    hydra_args: list[str] = []
    paths: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        option, has_value, value = arg.partition("=")
        if option in ("--trace", "--reuse"):
            if not has_value:
                if i + 1 >= len(args) or args[i + 1].startswith("-"):
                    fail(f"{option} needs a file path, as in `agent run {option} demo.jsonl`")
                value = args[i + 1]
                i += 1
            paths[option] = value or fail(f"{option}= needs a file path")
        else:
            hydra_args.append(arg)
        i += 1
    if "--trace" in paths:
        if {"-m", "--multirun"} & set(hydra_args):
            fail("--trace names one file but a sweep writes one trace per job; use trace=true (each job's trace goes to its output dir)")
        hydra_args += ["trace=true", f"tracePath={quoted(paths['--trace'])}"]
    if "--reuse" in paths:  # absolute: a sweep's jobs run in folders of their own
        hydra_args.append(f"reuse={quoted(str(Path(paths['--reuse']).resolve()))}")
    hydra_main(hydra_args)


def complete(args: list[str]) -> None:
    """Shell completion: Hydra's installed script calls `agent -sc query=...` with the command line in COMP_LINE."""
    # Drop the `run` word so Hydra completes the overrides after it.
    os.environ["COMP_LINE"] = re.sub(r"^(\S*agent)\s+run\b", r"\1", os.environ.get("COMP_LINE", ""))
    hydra_main(args)


@contextlib.contextmanager
def _hydra_process(argv: list[str]) -> Iterator[None]:
    """Hydra reads its arguments from sys.argv and reports errors in full under HYDRA_FULL_ERROR: set both, then restore.

    Its logs go to a stdout that a reader closing the pipe cannot turn into tracebacks (``reader_safe_stdout``).
    """
    saved_argv, saved_env = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    sys.argv = ["agent", *argv]  # Hydra names the program in completion scripts after argv[0]
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let Hydra's errors reach us instead of being printed over several lines
    try:
        with reader_safe_stdout():
            yield
    finally:
        sys.argv = saved_argv
        if saved_env is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_env


def hydra_main(argv: list[str]) -> None:
    """Run the agent as a Hydra app with ``argv``, over the project's config (if the current folder is in one) and
    the harness's own; Hydra's errors become one line, exit 2."""
    sweep = bool({"-m", "--multirun"} & set(argv))
    # A single run starts (imports Hydra, composes) with the cyclic collector paused, until its job starts;
    # a sweep's jobs start again in the same process, one after another.
    with contextlib.nullcontext(lambda: None) if sweep else collector_paused() as started:
        _hydra_app(argv, sweep=sweep, started=started)


def _hydra_app(argv: list[str], *, sweep: bool, started: Callable[[], None]) -> None:
    import hydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from agent_harness.errors import ConfigError
    from agent_harness.project import config_options, project_for
    from agent_harness.secrets_hydra import command_line_scrubber, scrubbed_output, scrubbing_job

    try:
        project = project_for(*config_options(argv)[:2])  # -cd into a project's conf finds that project, from anywhere
    except ConfigError as err:
        fail(str(err))
    from agent_harness.cli.app_config import app_config, did_you_mean

    # The project's folders first, then the harness's conf; hydra.searchpath is kept out of the task's overrides by Hydra.
    config_path, config_name, argv = app_config(project, argv)

    ended: list[str] = []  # the single run's status: its exit status is decided once Hydra has written status.json

    def job(cfg: DictConfig) -> dict[str, Any]:
        started()
        summary = run_job(cfg, project)
        ended.append(summary["status"])
        return summary

    app = hydra.main(version_base="1.3", config_path=config_path, config_name=config_name)(scrubbing_job(job, os.environ))
    try:
        # What is printed or logged before a job starts (a sweep's listing of its jobs, a bad override) is scrubbed too.
        with _hydra_process(argv), scrubbed_output(command_line_scrubber(argv, os.environ)), (contextlib.nullcontext() if sweep else composed_once()):
            app()
    except (HydraException, OmegaConfBaseException) as err:  # a bad override or config: unusable input
        fail(f"{_one_line(err)}{did_you_mean(str(err), project)} (see `agent run --help`)")
    except UnusableInput as err:  # the other jobs ran: this is a finished sweep with a failed job
        fail(f"a job of the sweep failed: {err} (each job's status.json says how it ended)", status=1)
    except ValueError as err:
        if not _raised_in_hydra(err):
            raise
        # Hydra reports some bad overrides (`+agent=5`) as a plain ValueError while composing the config.
        fail(f"{_one_line(err)} (see `agent run --help`)")
    except OSError as err:
        from agent_harness.sweep_outcome import launcher_failure

        if sweep and (failure := launcher_failure(err)) is not None:  # Ray's ConnectionError is an OSError, not about the run's folder
            fail(*failure)
        if not _raised_in_hydra(err, io=True):
            raise
        # Hydra could not create or write the run's folder (read-only, full): unusable input, one line.
        where = "hydra.sweep.dir" if sweep else "hydra.run.dir"
        name = f": {err.filename}" if err.filename else ""
        fail(f"cannot write the run's output folder: {err.strerror}{name}; set {where} to a writable folder with free space")
    except Exception as err:
        from agent_harness.sweep_outcome import launcher_failure

        if (line := launcher_failure(err)) is not None:  # no Ray cluster to join, a killed SLURM job
            fail(*line)
        if not sweep:
            raise  # a bug, not a user's mistake: the traceback is what helps
        first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")  # a launcher's error can hold a job's whole log
        fail(f"a job of the sweep crashed: {type(err).__name__}: {first} (each job's status.json says how it ended)", status=1)
    if not sweep and ended and ended[0] != "finished":
        raise SystemExit(1)  # the run did not finish (max_steps, error, interrupted): its closing lines said how


@contextlib.contextmanager
def composed_once() -> Iterator[None]:
    """Hydra's run composes the config twice, one composition within ``Hydra.run``'s: this makes it one.

    ``hydra.main`` first composes the whole config in ``Hydra.get_mode``, only to read ``hydra.mode``
    (a config may make itself a sweep), then ``Hydra.run`` composes it again: ~70 ms of ``agent run``'s
    ~550 (bench/RESULTS-api.md). Here ``get_mode`` composes what ``run`` will compose (run mode, logging
    configured), reads the mode from it, and ``run`` takes that config. Whatever is not a plain run goes
    Hydra's own way: a config that does not compose as a run (Hydra's ``get_mode`` answers from a sweep's
    composition), one whose ``hydra.mode`` is MULTIRUN. The command's entry owns the process, so it may
    patch Hydra's class for the length of one run; ``-m`` does not use this.
    """
    from hydra._internal.hydra import Hydra
    from hydra.types import RunMode

    get_mode, compose_config = Hydra.get_mode, Hydra.compose_config
    kept: dict[tuple[Any, ...], DictConfig] = {}

    def composing_get_mode(self: Hydra, config_name: str | None, overrides: list[str]) -> Any:
        try:
            cfg = compose_config(self, config_name, overrides, run_mode=RunMode.RUN, with_log_configuration=True)
        except Exception:  # noqa: BLE001 - as Hydra's get_mode; run() composes again and raises it
            return get_mode(self, config_name, overrides)
        if cfg.hydra.mode is None:
            # Hydra's _run_app then adds hydra.mode=RUN to the overrides and run() composes with it: the same config.
            cfg.hydra.mode = RunMode.RUN
            cfg.hydra.overrides.hydra.append("hydra.mode=RUN")
            kept[(config_name, (*overrides, "hydra.mode=RUN"))] = cfg
            return None
        if cfg.hydra.mode == RunMode.RUN:
            kept[(config_name, tuple(overrides))] = cfg
        return cfg.hydra.mode

    def composing_once(self: Hydra, config_name: str | None, overrides: list[str], run_mode: RunMode, **options: Any) -> DictConfig:
        if run_mode == RunMode.RUN and options.get("with_log_configuration"):
            cfg = kept.pop((config_name, tuple(overrides)), None)
            if cfg is not None:
                return cfg
        return compose_config(self, config_name, overrides, run_mode, **options)

    Hydra.get_mode, Hydra.compose_config = composing_get_mode, composing_once  # type: ignore[method-assign]
    try:
        yield
    finally:
        Hydra.get_mode, Hydra.compose_config = get_mode, compose_config  # type: ignore[method-assign]


def _raised_in_hydra(err: BaseException, *, io: bool = False) -> bool:
    """Whether ``err`` was raised by Hydra's own code (its innermost frame is in the hydra package).

    With ``io``, frames of the standard library (pathlib, open) below Hydra's count as Hydra's, and so
    does our status.json callback (what it cannot write is the run's folder too).
    """
    tb, last = err.__traceback__, None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if not io or any(f"{os.sep}{package}{os.sep}" in name for package in ("hydra", "agent", "tracing", "agent_harness")):
            last = name
        tb = tb.tb_next
    return last is not None and (f"{os.sep}hydra{os.sep}" in last or (io and last.endswith(f"{os.sep}callbacks.py")))


def _one_line(err: BaseException) -> str:
    from agent_harness.compose import one_line

    return one_line(err)


def unusable(message: str, cfg: DictConfig) -> NoReturn:
    """Inside a Hydra job: exit 2 with one line for a single run; fail only this job of a sweep.

    Either way the job's status.json says it failed, and why: Hydra calls no end-of-job callback for
    a job that exits, so a single run writes its own, as the callback writes a sweep job's.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import JobReturn, JobStatus
    from hydra.types import RunMode

    from agent_harness.callbacks import write_status

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN:
        raise UnusableInput(message)
    with contextlib.suppress(OSError):  # a folder that takes no file: the one line below still says what is wrong
        write_status(cfg, hydra_cfg, JobReturn(status=JobStatus.FAILED, _return_value=UnusableInput(message)))
    fail(message)


def run_job(cfg: DictConfig, project: Any = None) -> dict[str, Any]:
    """One `agent run` job: the library runs (and records) it; this prints its closing lines.

    Returns the job's summary, which the JobStatusFile callback writes to the job's status.json.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from agent_harness import api
    from agent_harness.errors import ConfigError
    from agent_harness.secrets_hydra import task_overrides
    from agent_harness.signals import ending_on_signals, stop_requested
    from tracing.errors import TraceError

    hydra_cfg = HydraConfig.get()
    info = api.RunInfo(
        overrides=task_overrides(hydra_cfg),
        choices=dict(hydra_cfg.runtime.choices.items()),
        job={"num": OmegaConf.select(hydra_cfg, "job.num", default=None), "name": hydra_cfg.job.name, "output_dir": hydra_cfg.runtime.output_dir},
        project=project,
    )
    stopped = stop_requested()
    if stopped is not None:  # an earlier job of this process was stopped: this one does not start
        return {"status": "interrupted", "steps": 0, "answer": None, "error": f"not started: {stopped} stopped this process during an earlier job", "trace": None}
    try:
        with ending_on_signals():  # SIGTERM (scancel, preemption) and SIGINT end the run as interrupted, its trace whole
            result = api.execute(cfg, info)
    except (TraceError, ConfigError) as err:
        unusable(str(err), cfg)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    say(result.lines(prefix=f"[job {hydra_cfg.job.num}] " if multirun else ""))
    summary = result.summary()
    if result.outcome.status == "interrupted" and stop_requested() == "SIGTERM" and cfg.get("resume") and os.environ.get("SLURM_JOB_ID"):
        # A SLURM job recorded with resume=true and stopped by SIGTERM may be requeued (preemption, scontrol
        # requeue): it must leave no result, or submitit takes "interrupted" as the job's end and the sweep moves
        # on. Its trace ends interrupted and whole; status.json says so; the requeued run resumes the trace.
        from hydra.core.utils import JobReturn, JobStatus

        from agent_harness.callbacks import write_status

        write_status(cfg, hydra_cfg, JobReturn(status=JobStatus.COMPLETED, _return_value=summary))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(143)  # as a process killed by SIGTERM: SLURM requeues it, or records it cancelled
    # Not finished: exit 1 once Hydra has written status.json (hydra_main); a sweep's unfinished jobs are
    # named once all have run (agent_harness/sweep_outcome.py).
    return summary
