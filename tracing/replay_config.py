"""The config a replay runs with, built from a trace's header, and the checks made on it.

A trace may come from someone else: nothing in its config is run, composed as code or trusted.
Its values are taken literally (interpolations escaped), its ``hydra``, ``defaults`` and
run-specific keys are dropped, and every ``_target_`` must belong to this project or to a
module today's config allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tracing.replay import Difference, differences
from tracing.secrets import REDACTED

PROJECT_PACKAGES = ("agent", "tracing")
RUN_SPECIFIC = ("trace", "tracePath", "traceFsync", "run_dir", "replay", "resume", "reuse", "allowed_targets", "hydra", "defaults")
"""Top-level keys that belong to one run (or to the machine it ran on), never to what it did: a replay
takes none of them from a trace, and they are never config drift (nor is a toolbox's workspace)."""


def _targets(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "_target_":
                yield where, item
            else:
                yield from _targets(item, where)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _targets(item, f"{path}[{index}]")


def foreign_targets(config: Any, allowed: Sequence[str]) -> list[str]:
    """``path=target`` for each ``_target_`` outside this project's packages and the ``allowed`` modules."""
    modules = (*PROJECT_PACKAGES, *allowed)
    return [
        f"{path}={target}"
        for path, target in _targets(config)
        if not (isinstance(target, str) and any(target == m or target.startswith(f"{m}.") for m in modules))
    ]


def _literal(value: Any) -> Any:
    """``value`` with every string's ``${`` escaped, so OmegaConf takes recorded text as text."""
    if isinstance(value, Mapping):
        return {str(k): _literal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_literal(v) for v in value]
    if isinstance(value, str):
        if value == REDACTED:  # a secret the recording left out: the live backend reads its own again
            return None
        return value.replace("\\", "\\\\").replace("${", "\\${") if "${" in value else value
    return value


def recorded_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A trace's recorded config as a replay takes it: literal values, run-specific keys left out."""
    kept = {k: v for k, v in config.items() if k not in RUN_SPECIFIC}
    if isinstance(kept.get("tools"), Mapping):  # the recording's workspace folder is its own; a replay gets a fresh one
        kept["tools"] = {k: v for k, v in kept["tools"].items() if k != "workspace"}
    return _literal(kept)


def _comparable(config: Mapping[str, Any], *, llm_replayed: bool) -> dict[str, Any]:
    copy = {k: v for k, v in config.items() if k not in RUN_SPECIFIC}
    if llm_replayed:
        copy.pop("llm", None)  # the replay LLM has no settings to compare
    if isinstance(copy.get("tools"), Mapping):
        # Of a toolbox only its tool list decides what the agent sees (a replay toolbox has no workspace).
        copy["tools"] = {"tools": copy["tools"].get("tools")}
    return copy


def config_differences(recorded: Mapping[str, Any], current: Mapping[str, Any], *, llm_replayed: bool = False) -> list[Difference]:
    """Field-level differences between two resolved configs, leaving out what differs between any two runs."""
    a, b = _comparable(recorded, llm_replayed=llm_replayed), _comparable(current, llm_replayed=llm_replayed)
    return [] if a == b else differences(a, b)  # deepdiff only when something differs: it costs ~100 ms to import


def replay_drift(recorded: Mapping[str, Any], current: Mapping[str, Any], *, llm_replayed: bool) -> list[str]:
    """Dotted keys whose values differ between a recorded and a replay's resolved config (one name per changed setting)."""
    return sorted({re.sub(r"\[\d+\].*$", "", d.path) for d in config_differences(recorded, current, llm_replayed=llm_replayed)})
