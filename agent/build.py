"""Builds a run from a composed config: the parts the config names, the workspace, the first state."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate

from agent.loop import AgentRun, start_state
from agent.runtime import Runtime
from agent.workspace import prepare_workspace


def build_run(cfg: Any) -> AgentRun:
    """An AgentRun for ``cfg`` (composed from conf/), its workspace seeded and ready."""
    llm = instantiate(cfg.llm)
    tools = instantiate(cfg.tools)
    prepare_workspace(cfg.task.get("workspace_seed"), tools.workspace)
    return AgentRun(
        state=start_state(system_prompt=cfg.task.system_prompt, prompt=cfg.task.prompt),
        llm=llm,
        tools=tools,
        runtime=Runtime(seed=cfg.seed),
        max_steps=cfg.agent.max_steps,
    )
