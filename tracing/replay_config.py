"""The config a replay runs with, built from a trace's header, and the checks made on it.

A trace may come from someone else: nothing in its config is run, composed as code or trusted.
Its values are taken literally (interpolations escaped), its ``hydra``, ``defaults`` and
``allowed_targets`` keys are dropped, and every ``_target_`` must belong to this project or to a
module today's config allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tracing.secrets import REDACTED, is_redacted_override

if TYPE_CHECKING:
    from tracing.replay import Difference

PROJECT_PACKAGES = ("agent", "tracing")
MODES = ("recorded", "current")
# Keys that differ between any two runs, or that the replay sets itself: never config drift.
RUN_SPECIFIC = ("trace", "tracePath", "traceFsync", "tools.workspace", "replay", "allowed_targets")
# Keys of a recorded config a replay never takes over from a trace.
_UNTRUSTED = ("hydra", "defaults", "allowed_targets", "trace", "tracePath", "traceFsync", "replay")

_OVERRIDE_KEY = re.compile(r"^(?:~|\+\+|\+)?([^=@~]+)")


def override_key(override: str) -> str:
    """The key or group an override sets: ``+llm.model=x`` -> ``llm.model``, ``task=a`` -> ``task``."""
    match = _OVERRIDE_KEY.match(override)
    return match[1] if match else override


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


def group_choices(overrides: Sequence[str]) -> dict[str, str]:
    """The config groups that overrides choose an option for: ``tools=live`` -> ``{"tools": "live"}``."""
    choices = {}
    for override in overrides:
        key = override_key(override)
        if "." not in key and "=" in override and not override.startswith("~"):
            choices[key] = override.split("=", 1)[1]
    return choices


def recorded_run(config: Mapping[str, Any], *, recorded_choices: Mapping[str, Any], user_choices: Mapping[str, str]) -> dict[str, Any]:
    """The trace's config as the ``recorded_run`` node of conf/replay.yaml.

    A group the user picks another option for keeps none of its recorded values (they belong to
    the other option); the same option keeps them. The llm is replayed unless chosen, and of the
    tools section only the tool list is kept, for the schemas the replay toolbox sends.
    """
    node = {k: v for k, v in config.items() if k not in _UNTRUSTED and k not in ("llm", "tools")}
    for group, option in user_choices.items():
        if group in node and option != recorded_choices.get(group):
            del node[group]
    llm, tools = config.get("llm"), config.get("tools")
    if "llm" in user_choices and user_choices["llm"] == recorded_choices.get("llm") and isinstance(llm, Mapping):
        node["llm"] = {k: v for k, v in llm.items() if k != "_target_"}
    tools_kept = user_choices.get("tools", "replay") in ("replay", recorded_choices.get("tools"))
    if tools_kept and isinstance(tools, Mapping) and isinstance(tools.get("tools"), Mapping):
        node["tools"] = {"tools": tools["tools"]}
    return _literal(node)


def replay_overrides(header: Mapping[str, Any], user: Sequence[str], mode: str) -> list[str]:
    """Hydra overrides of a replay: the recording's, then the user's, which win."""
    taken = {override_key(o) for o in user}
    llm_replayed = "llm" not in taken
    if mode == "recorded":
        # The recorded agent and task sections come whole with recorded_run: today's group options
        # are left out rather than merged under them, so an option missing or changed today is no matter.
        recorded = [f"~{group}" for group in ("agent", "task") if isinstance(header.get("config", {}).get(group), Mapping)]
    else:
        recorded = [str(o) for o in header.get("overrides", [])]

    def keep(override: str) -> bool:
        key = override_key(override)
        if key in taken or key.split(".")[0] in _UNTRUSTED or key.startswith("hydra/"):
            return False
        if key in ("llm", "tools"):
            return False  # the replay's own groups
        if is_redacted_override(override):
            return False  # a secret the recording left out: a live backend reads its own again
        return not (llm_replayed and key.startswith("llm."))  # the replay LLM has no model settings

    return [o for o in recorded if keep(o)] + list(user)


def config_differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[Difference]:
    """Field-level differences between two resolved configs, leaving out what differs between any two runs."""
    from tracing.replay import differences

    def without_run_specific(config: Mapping[str, Any]) -> dict[str, Any]:
        copy = {k: v for k, v in config.items() if k not in RUN_SPECIFIC}
        if isinstance(copy.get("tools"), Mapping):
            copy["tools"] = {k: v for k, v in copy["tools"].items() if k != "workspace"}
        return copy

    return differences(without_run_specific(recorded), without_run_specific(current))


def config_drift(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Dotted keys whose values differ between a recorded and today's resolved config."""
    # One name per changed setting: a changed list item is reported as the list's key.
    return sorted({re.sub(r"\[\d+\].*$", "", d.path) for d in config_differences(recorded, current)})
