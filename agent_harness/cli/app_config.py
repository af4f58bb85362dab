"""Where ``agent run``'s Hydra app finds its config, and "did you mean" for a mistyped override.

Hydra looks for the primary config only in the app's ``config_path`` and the ``-cd`` folder: it
reads ``hydra.searchpath`` from the primary config itself, and keeps its first lookup cached. So a
project whose primary config is the harness's own ``config`` (the default ``config_name``), or lies
in its second config folder, hands that folder to Hydra as ``-cd``; every other folder goes to
``hydra.searchpath``, in the order the API composes them (the project's folders, then any the user
gave, then the harness's).
"""

from __future__ import annotations

import difflib
import re
from importlib import resources
from pathlib import Path

from agent_harness.project import HARNESS_CONFIG, Project, config_options, search_path_options


def app_config(project: Project | None, argv: list[str]) -> tuple[str, str, list[str]]:
    """``(config_path, config_name, argv)`` for ``hydra.main`` running in ``project`` (``-cd``/``-cn`` already in it)."""
    if project is None:
        return HARNESS_CONFIG, "config", argv
    from agent_harness.compose import quoted

    _, _, rest = config_options(argv)
    user_search, kept = search_path_options(rest)
    folders = [str(folder) for folder in project.config_dirs]
    config_path = folders[0] if folders else HARNESS_CONFIG
    search = [*folders[1:], *user_search, HARNESS_CONFIG]
    # Hydra's argument parser takes its overrides as one run of words: ours goes in front of the user's
    # first override (or last, when there is none), never after an option that follows them.
    first = next((i for i, arg in enumerate(kept) if not arg.startswith("-") and ("=" in arg or arg[:1] in "~+")), len(kept))
    kept.insert(first, f"hydra.searchpath=[{','.join(quoted(p) for p in search)}]")
    primary = _primary_folder(project)
    if primary is not None and primary != config_path:
        kept.insert(0, f"--config-dir={primary}")
    return config_path, project.config_name, kept


def _primary_folder(project: Project) -> str | None:
    """The first folder holding the project's primary config: one of its own, else the harness's (None when neither has it)."""
    name = f"{project.config_name}.yaml"
    for folder in project.config_dirs:
        if (folder / name).is_file():
            return str(folder)
    harness = Path(str(resources.files("agent.conf")))
    return str(harness) if (harness / name).is_file() else None


def did_you_mean(message: str, project: Project | None) -> str:
    """`` (did you mean X?)`` for the key or group option Hydra could not find in ``message``, when one is close; else ``""``."""
    option = re.search(r"Could not find '([^']+)/([^'/]+)'.*?Available options in '[^']+':(.*?)(?:Config search path|$)", message, re.S)
    if option:
        close = difflib.get_close_matches(option[2], option[3].split(), n=1)
        return f" (did you mean {option[1]}={close[0]}?)" if close else ""
    key = re.search(r"Could not override '([^']+)'", message)
    if key:
        from agent_harness.compose import compose, suggestion
        from agent_harness.errors import ConfigError

        try:
            config = compose(project=project).config
        except ConfigError:
            return ""
        return suggestion(config, key[1])
    return ""
