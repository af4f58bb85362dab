"""The ``agent`` command, and the composition root: the one place that joins the runtime and tracing.

``agent run`` hands its arguments to Hydra untouched (overrides, -m, --cfg, --help, shell
completion), after turning ``--trace PATH`` into ``trace=true tracePath=PATH``. ``agent trace
inspect`` never imports Hydra, so it starts fast.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from omegaconf import DictConfig

USAGE = """\
usage: agent <command> [args]

commands:
  run [--trace PATH] [OVERRIDES...]   run the agent (Hydra app: `agent run --help` lists the config groups)
  trace inspect TRACE [--full]        print a recorded run step by step

exit status: 0 ok, 1 the run did not finish (max_steps, error, interrupted), 2 unusable input

examples:
  agent run                           run the default task offline (scripted LLM, live tools)
  agent run --trace demo.jsonl        run and record a trace
  agent trace inspect demo.jsonl      read what happened
"""

# Modules whose versions go into a trace header when the run loaded them: they decide what it does.
# Read from __version__ because importlib.metadata alone costs ~5 ms of start-up (bench/RESULTS.md).
_VERSIONED = {"agent": "agent-harness", "hydra": "hydra-core", "omegaconf": "omegaconf", "orjson": "orjson", "openai": "openai", "llama_cpp": "llama-cpp-python"}


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit with status 2 (unusable input)."""
    print(f"agent: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``agent`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
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
    elif command == "trace":
        _trace(rest)
    else:
        fail(f"unknown command {command!r}; expected run or trace (see `agent --help`)")


def _trace(args: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="agent trace", description="Read recorded traces.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    inspect = sub.add_parser("inspect", help="print a recorded run step by step as plain text")
    inspect.add_argument("trace", type=Path, help="trace file (.jsonl) written by `agent run --trace`")
    inspect.add_argument("--full", action="store_true", help="show messages, arguments and outputs untruncated")
    options = parser.parse_args(args)

    from tracing.errors import TraceError
    from tracing.inspection import render
    from tracing.reader import read_trace

    try:
        trace = read_trace(options.trace)
    except TraceError as err:
        fail(str(err))
    try:
        for line in render(trace, full=options.full):
            print(line)
    except BrokenPipeError:  # `agent trace inspect t.jsonl | head` is fine
        sys.stderr.close()


def _run(args: list[str]) -> None:
    hydra_args: list[str] = []
    trace_path: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--trace":
            if i + 1 >= len(args) or args[i + 1].startswith("-") or "=" in args[i + 1]:
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
        hydra_args += ["trace=true", f"tracePath={trace_path}"]
    sys.argv = ["agent", *hydra_args]  # Hydra names the program in completion scripts after argv[0]
    _hydra_main()


def _hydra_main() -> None:
    import hydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    # Let Hydra's errors reach us instead of being printed over several lines with exit status 1.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    app = hydra.main(version_base="1.3", config_path="pkg://agent.conf", config_name="config")(run_job)
    try:
        app()
    except (HydraException, OmegaConfBaseException) as err:  # a bad override or config: unusable input
        fail(_one_line(err))


def _one_line(err: BaseException) -> str:
    text = str(err).split("Config search path:", 1)[0]
    if err.__cause__ is not None and str(err.__cause__) not in text:
        text += f" ({str(err.__cause__).splitlines()[0]})"
    return " ".join(text.split()) + " (see `agent run --help`)"


def run_job(cfg: DictConfig) -> str:
    """One Hydra job: build the parts the config names, run the agent, record it when tracing is on."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import InstantiationException
    from hydra.types import RunMode
    from hydra.utils import to_absolute_path

    from agent.build import build_run
    from agent.loop import drive
    from agent.records import Outcome
    from agent.state import AgentState

    hydra_cfg = HydraConfig.get()
    writer = None
    if cfg.trace:  # opened first: a trace path in the way stops the run before anything happens
        from tracing.errors import TraceError
        from tracing.writer import TraceWriter

        try:
            writer = TraceWriter.create(Path(to_absolute_path(cfg.tracePath)), _header(cfg, hydra_cfg))
        except TraceError as err:
            fail(str(err))
    try:
        run = build_run(cfg)
    except (InstantiationException, FileNotFoundError, FileExistsError) as err:
        problem = f"cannot build the run from its config: {' '.join(str(err).split())}"
        if writer is not None:  # the trace says why the run never started
            writer.write_end(Outcome("error", AgentState(), error=problem))
        fail(problem)
    if writer is not None:
        with writer:
            outcome = writer.record(run)
    else:
        outcome = drive(run)

    job = f"[job {hydra_cfg.job.num}] " if hydra_cfg.mode == RunMode.MULTIRUN else ""
    print(f"{job}{outcome.status} after {outcome.steps} steps" + (f": {outcome.error}" if outcome.error else ""))
    if outcome.answer is not None:
        print(f"{job}answer: {outcome.answer}")
    print(f"{job}run dir: {hydra_cfg.runtime.output_dir}")
    if writer is not None:
        print(f"{job}trace: {writer.path}")
    if outcome.status != "finished" and hydra_cfg.mode == RunMode.RUN:
        raise SystemExit(1)
    return outcome.status


def _header(cfg: DictConfig, hydra_cfg: object) -> dict[str, object]:
    from omegaconf import OmegaConf

    from tracing.writer import make_header

    versions = {"python": sys.version.split()[0]}
    for module, distribution in _VERSIONED.items():
        version = getattr(sys.modules.get(module), "__version__", None)
        if version is not None:
            versions[distribution] = str(version)
    return make_header(
        config=OmegaConf.to_container(cfg, resolve=True),  # type: ignore[arg-type]
        overrides=list(hydra_cfg.overrides.task),  # type: ignore[attr-defined]
        choices={k: v for k, v in hydra_cfg.runtime.choices.items()},  # type: ignore[attr-defined]
        job={"num": OmegaConf.select(hydra_cfg, "job.num", default=None), "name": hydra_cfg.job.name, "output_dir": hydra_cfg.runtime.output_dir},  # type: ignore[attr-defined]
        versions=versions,
    )
