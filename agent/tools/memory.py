"""Agent memory tools. They read memory through the context and change it only by returned updates."""

from __future__ import annotations

from typing import Any

from agent.tools import ToolContext, ToolError, ToolOutput


def remember(key: str, value: Any) -> ToolOutput:
    """Store a value in the agent's memory under a key, replacing what was there.

    Args:
        key: name to store the value under.
        value: any JSON value.
    """
    if value is None:
        msg = "value is null; remember needs a value to store"
        raise ToolError(msg)
    return ToolOutput(output=f"remembered {key}", memory={key: value})


def recall(ctx: ToolContext, key: str) -> Any:
    """Read a value stored in the agent's memory.

    Args:
        key: name the value was stored under.
    """
    if key not in ctx.memory:
        known = ", ".join(sorted(ctx.memory)) or "nothing yet"
        msg = f"nothing remembered under {key!r}; remembered: {known}"
        raise ToolError(msg)
    return ctx.memory[key]
