"""agent-harness's composition and public API: run, replay, fork, resume, diff, read, inspect.

    import agent_harness as ah

    done = ah.run("task=recipes", trace="recipes.jsonl")
    result = ah.replay("recipes.jsonl")
    print(result)                    # "replay OK: ..." or the divergence report

Names are imported on first use (PEP 562), so ``import agent_harness`` (and the pytest plugin this
package ships) costs nothing until the API is called.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError", "Diverged", "ReplayResult", "RunResult", "diff", "fork", "inspect", "read", "replay", "replay_sweep", "resume", "run"]

_API = {"run", "replay", "fork", "resume", "diff", "read", "inspect", "replay_sweep", "RunResult"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from agent_harness import api

        return getattr(api, name)
    if name == "ConfigError":
        from agent_harness.errors import ConfigError

        return ConfigError
    if name in ("Diverged", "ReplayResult"):
        from tracing import replay

        return getattr(replay, name)
    raise AttributeError(f"module 'agent_harness' has no attribute {name!r}")
