"""A user's own project: the ``[tool.agent-harness]`` table of its pyproject.toml, found by walking up
from a folder, as pytest, ruff and mypy find theirs.

    [tool.agent-harness]
    config_dirs = ["conf"]             # Hydra config folders, relative to this file (searched before the harness's own)
    config_name = "config"             # the primary config: yours (conf/myconfig.yaml) or the harness's own "config"
    allowed_targets = ["myagent"]      # modules a replay may build from a trace's config, besides agent and tracing
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agent_harness.errors import ConfigError

TABLE = "agent-harness"
HARNESS_CONFIG = "pkg://agent.conf"
_KEYS = {"config_dirs": "a list of folders", "config_name": "a config name", "allowed_targets": "a list of module names"}


@dataclass(frozen=True, slots=True)
class Project:
    """Where a project's config lives and what its traces may build."""

    root: Path
    """The folder of the pyproject.toml."""
    name: str
    config_dirs: tuple[Path, ...] = ()
    config_name: str = "config"
    allowed_targets: tuple[str, ...] = ()

    def search_path(self) -> tuple[str, ...]:
        """Hydra's config search path: the project's folders first, then the harness's own conf."""
        return (*(str(folder) for folder in self.config_dirs), HARNESS_CONFIG)

    def record(self) -> dict[str, Any]:
        """What a trace header says about the project (folders relative to its root, so a moved project still finds them)."""
        return {
            "name": self.name,
            "root": str(self.root),
            "config_dirs": [str(folder.relative_to(self.root)) if folder.is_relative_to(self.root) else str(folder) for folder in self.config_dirs],
            "config_name": self.config_name,
        }


def find_project(start: str | Path | None = None) -> Project | None:
    """The project whose pyproject.toml has a ``[tool.agent-harness]`` table, from ``start`` (default: the current folder) up."""
    folder = Path(start if start is not None else Path.cwd()).resolve()
    if folder.is_file():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
                msg = f"{pyproject} cannot be read: {err}; fix it or run from outside that folder"
                raise ConfigError(msg) from None
            table = data.get("tool", {}).get(TABLE)
            if table is not None:
                return _project(pyproject, table, data.get("project", {}).get("name"))
    return None


def _project(pyproject: Path, table: Any, name: Any) -> Project:
    where = f"{pyproject} [tool.{TABLE}]"
    if not isinstance(table, dict):
        msg = f"{where} must be a table"
        raise ConfigError(msg)
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        msg = f"{where} has unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(_KEYS)}"
        raise ConfigError(msg)
    for key in ("config_dirs", "allowed_targets"):
        if key in table and not (isinstance(table[key], list) and all(isinstance(v, str) for v in table[key])):
            msg = f"{where}: {key} must be {_KEYS[key]} (strings), got {table[key]!r:.60}"
            raise ConfigError(msg)
    root = pyproject.parent
    folders = tuple((root / folder).resolve() for folder in table.get("config_dirs", []))
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        msg = f"{where}: config_dirs names {', '.join(missing)}, which is not a folder; create it or fix config_dirs"
        raise ConfigError(msg)
    config_name = table.get("config_name", "config")
    if not isinstance(config_name, str) or not config_name:
        msg = f"{where}: config_name must be {_KEYS['config_name']}, got {config_name!r:.60}"
        raise ConfigError(msg)
    return Project(root=root, name=str(name or root.name), config_dirs=folders, config_name=config_name, allowed_targets=tuple(table.get("allowed_targets", [])))


CONFIG_DIR_OPTIONS = ("-cd", "--config-dir")
CONFIG_NAME_OPTIONS = ("-cn", "--config-name")


def config_options(args: Sequence[str]) -> tuple[str | None, str | None, list[str]]:
    """Hydra's ``-cd DIR`` / ``--config-dir=DIR`` and ``-cn NAME`` / ``--config-name=NAME`` anywhere in ``args``:
    (config dir, config name, the other arguments). A flag without its value is a ConfigError."""
    found: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        option, has_value, value = args[i].partition("=")
        kind = "dir" if option in CONFIG_DIR_OPTIONS else "name" if option in CONFIG_NAME_OPTIONS else None
        if kind is None:
            rest.append(args[i])
        else:
            if not has_value:
                if i + 1 >= len(args):
                    msg = f"{option} needs a config {'folder' if kind == 'dir' else 'name'}, as in {option} {'conf' if kind == 'dir' else 'myconfig'}"
                    raise ConfigError(msg)
                i += 1
                value = args[i]
            found[kind] = value
        i += 1
    return found.get("dir"), found.get("name"), rest


def search_path_options(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """The entries of ``hydra.searchpath=[...]`` overrides among ``args`` (folders, ``file://`` or ``pkg://``), and the other arguments.

    One that does not parse is left among the others, for Hydra to report.
    """
    from agent_harness.compose import parse_overrides

    entries: list[str] = []
    rest: list[str] = []
    for arg in args:
        if not arg.lstrip("+~").startswith("hydra.searchpath="):
            rest.append(arg)
            continue
        try:
            (override,) = parse_overrides([arg])
        except ConfigError:
            rest.append(arg)
            continue
        entries += [str(v) for v in override.value or ()] if isinstance(override.value, list) else [str(override.value)]
    return entries, rest


def project_for(config_dir: str | Path | None = None, config_name: str | None = None, *, start: str | Path | None = None) -> Project | None:
    """The project a command works in: the one ``start`` (default: the current folder) is in, if any.

    ``config_dir`` (``-cd``) is searched first; the project it lies in, if any, is the one used (so
    ``-cd path/to/project/conf`` from anywhere finds that project and its allowed_targets). A folder
    in no project is a project of its own, named after it, rooted at ``start``. ``config_name``
    (``-cn``) replaces the project's primary config.
    """
    if config_dir is None:
        found = find_project(start)
        if config_name is None:
            return found
        root = Path(start if start is not None else Path.cwd()).resolve()
        base = found or Project(root=root, name=root.name)
        return replace(base, config_name=config_name)
    folder = Path(config_dir).expanduser().resolve()
    if not folder.is_dir():
        msg = f"config folder {config_dir} (-cd) is not a folder; give the folder that holds your config, such as conf"
        raise ConfigError(msg)
    found = find_project(folder) or find_project(start)
    if found is None:
        root = Path(start if start is not None else Path.cwd()).resolve()
        return Project(root=root, name=folder.name, config_dirs=(folder,), config_name=config_name or "config")
    dirs = (folder, *(d for d in found.config_dirs if d != folder))
    return replace(found, config_dirs=dirs, config_name=config_name or found.config_name)
