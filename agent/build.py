"""Builds a run from a composed config: the parts the config names, the workspace, the first state."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hydra.utils import instantiate

from agent.llm import LLM
from agent.loop import AgentRun, start_state
from agent.runtime import Runtime
from agent.tools import Tools
from agent.workspace import prepare_workspace


def build_run(cfg: Any, *, llm: LLM | None = None, tools: Tools | None = None, clock: Callable[[], float] = time.time) -> AgentRun:
    """An AgentRun for ``cfg`` (composed from conf/), its workspace seeded and ready.

    Parts given as arguments are used instead of building the ones the config names.
    """
    llm = instantiate(cfg.llm) if llm is None else llm
    tools = instantiate(cfg.tools) if tools is None else tools
    workspace = getattr(tools, "workspace", None)  # toolboxes that touch no files have none
    if workspace is not None:
        prepare_workspace(cfg.task.get("workspace_seed"), workspace)
    return AgentRun(
        state=start_state(system_prompt=cfg.task.system_prompt, prompt=cfg.task.prompt),
        llm=llm,
        tools=tools,
        runtime=Runtime(seed=cfg.seed, clock=clock),
        max_steps=cfg.agent.max_steps,
    )
