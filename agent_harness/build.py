"""Builds a run from a composed config: the parts the config names, the workspace, the first state."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from agent.llm import LLM
from agent.loop import AgentRun, start_state
from agent.runtime import Runtime
from agent.tools import Tools
from agent.workspace import prepare_workspace
from agent_harness.errors import ConfigError


def build_run(
    cfg: Any, *, llm: LLM | None = None, tools: Tools | None = None, clock: Callable[[], float] = time.time, seed_workspace: bool = True,
    seed_base: Path | None = None,
) -> AgentRun:
    """An AgentRun for ``cfg`` (composed from conf/), its workspace seeded and ready.

    Parts given as arguments are used instead of building the ones the config names. A resumed run
    keeps the workspace its recorded steps left (``seed_workspace=False``). A relative
    ``task.workspace_seed`` path is taken from ``seed_base`` (the project's root), else the current folder.
    """
    # Checked before anything is built: a value of the wrong kind (from an override, or from a trace
    # being replayed) must be one clear error, not a crash deep in the loop.
    max_steps = _setting(cfg, "agent.max_steps", lambda v: type(v) is int and v >= 0, "a whole number >= 0")
    seed = _setting(cfg, "seed", lambda v: type(v) is int, "a whole number")
    system_prompt = _setting(cfg, "task.system_prompt", lambda v: isinstance(v, str), "text")
    prompt = _setting(cfg, "task.prompt", lambda v: isinstance(v, str), "text")
    try:
        llm = instantiate(cfg.llm) if llm is None else llm
        tools = instantiate(cfg.tools) if tools is None else tools
        workspace = getattr(tools, "workspace", None)  # toolboxes that touch no files have none
        if workspace is not None and seed_workspace:
            prepare_workspace(cfg.task.get("workspace_seed"), workspace, base=seed_base)
    except (InstantiationException, FileNotFoundError, FileExistsError) as err:
        raise ConfigError(" ".join(str(err).split())) from None
    return AgentRun(
        state=start_state(system_prompt=system_prompt, prompt=prompt),
        llm=llm,
        tools=tools,
        runtime=Runtime(seed=seed, clock=clock),
        max_steps=max_steps,
    )


_MISSING = object()


def _setting(cfg: Any, key: str, valid: Callable[[Any], bool], expected: str) -> Any:
    value = OmegaConf.select(cfg, key, default=_MISSING)
    if value is _MISSING or not valid(value):
        shown = "missing" if value is _MISSING else f"{value!r:.60}"
        msg = f"{key} is {shown}; expected {expected}"
        raise ConfigError(msg)
    return value
