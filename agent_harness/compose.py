"""Configs from Hydra, without Hydra's global state: today's conf composed with overrides, and the
config a replay runs with, built from a trace's header.

Hydra's ``compose()`` needs its GlobalHydra singleton (and refuses to start inside a running Hydra
job); ``ConfigLoaderImpl`` is what it calls underneath, and one loader per config search path,
kept here, composes from any thread and inside a job alike. Composing is the slow part of a replay
(~10-100 ms), so configs are cached by their overrides and handed out as copies.
"""

from __future__ import annotations

import copy
import pickle
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from agent_harness.errors import ConfigError
from agent_harness.project import HARNESS_CONFIG as CONFIG_MODULE
from agent_harness.project import Project

def quoted(value: str) -> str:
    """``value`` as a Hydra override value that survives its grammar whatever its characters."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def one_line(err: BaseException) -> str:
    """An exception's message on one line, without Hydra's search-path listing."""
    text = str(err).split("Config search path:", 1)[0]
    if err.__cause__ is not None and str(err.__cause__) not in text:
        text += f" ({str(err.__cause__).splitlines()[0]})"
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Override:
    """One command-line override, parsed by Hydra's own grammar."""

    text: str
    key: str
    """The key or group it sets: ``llm`` for ``llm=openai``, ``llm.model`` for ``+llm.model=x``."""
    value: Any
    deletes: bool = False
    adds: bool = False
    """Written with a leading + (a key the config may not have yet)."""

    @property
    def root(self) -> str:
        """The top-level key it touches (``llm`` for ``llm.model=x``; ``hydra`` for ``hydra/launcher=...``)."""
        return self.key.split(".")[0].split("/")[0]


def parse_overrides(overrides: Sequence[str]) -> list[Override]:
    """Overrides parsed by Hydra's parser; a malformed one is a ConfigError naming it."""
    if not overrides:
        return []
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parsed = []
    parser = _parser()
    for text in overrides:
        try:
            (override,) = parser.parse_overrides([text])
        except HydraException as err:
            msg = f"override {text!r} is not valid Hydra override syntax: {one_line(err)}"
            raise ConfigError(msg) from None
        assert isinstance(parser, OverridesParser)
        value = None if override.is_delete() else override.value()
        parsed.append(Override(text=text, key=override.key_or_group, value=value, deletes=override.is_delete(), adds=override.is_add() or override.is_force_add()))
    return parsed


_lock = threading.Lock()
_loaders: dict[tuple[str, ...], Any] = {}
_composed: dict[tuple[Any, ...], _Kept] = {}
_parsers: list[Any] = []


def _parser() -> Any:
    with _lock:
        if not _parsers:
            from hydra.core.override_parser.overrides_parser import OverridesParser

            _parsers.append(OverridesParser.create())
        return _parsers[0]


def _loader(search_path: tuple[str, ...]) -> Any:
    loader = _loaders.get(search_path)
    if loader is None:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
        from hydra._internal.utils import create_config_search_path
        from hydra.core.utils import setup_globals

        from hydra.core.config_search_path import SearchPathQuery

        setup_globals()  # Hydra's own resolvers (now, hydra), registered once per process as hydra.main does
        paths = create_config_search_path(search_path[0])
        anchor = "main"
        for number, extra in enumerate(search_path[1:]):  # in order, after the main folder (Hydra's schema source stays last)
            paths.append(f"extra{number}", extra, anchor=SearchPathQuery(provider=anchor))
            anchor = f"extra{number}"
        loader = _loaders[search_path] = ConfigLoaderImpl(config_search_path=paths)
    return loader


@dataclass(frozen=True, slots=True)
class Composed:
    """A composed config and the group options it chose."""

    config: DictConfig
    choices: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Kept:
    """A composed config kept for copies: pickled (a copy unpickled costs a tenth of a deepcopy) and as plain data."""

    composed: Composed
    pickled: bytes
    data: dict[str, Any]


def _cached(overrides: Sequence[str], project: Project | None) -> _Kept:
    """The config composed for these arguments, once per process: never handed out, only copies of it."""
    from hydra.errors import HydraException
    from hydra.types import RunMode
    from omegaconf.errors import OmegaConfBaseException

    search_path, config_name = (project.search_path(), project.config_name) if project is not None else ((CONFIG_MODULE,), "config")
    key = (search_path, config_name, tuple(overrides))
    with _lock:
        cached = _composed.get(key)
        if cached is None:
            loader = _loader(search_path)
            try:
                config, choices = _without_hydra(loader, config_name, list(overrides))
            except (HydraException, OmegaConfBaseException, ValueError):
                # The config needs Hydra's own (its defaults override hydra/launcher, say), or is wrong:
                # Hydra's whole composition gives the config, or the error to report.
                try:
                    config = loader.load_configuration(config_name, list(overrides), run_mode=RunMode.RUN, from_shell=False)
                except (HydraException, OmegaConfBaseException, ValueError) as err:
                    msg = f"cannot compose the config: {one_line(err)}"
                    raise ConfigError(msg) from None
                choices = OmegaConf.to_container(config.hydra.runtime.choices)  # type: ignore[assignment]
            choices = {k: v for k, v in choices.items() if "/" not in k}
            # Kept without the hydra section, which nothing after composing reads.
            with _open(config):
                config.pop("hydra", None)
            data = OmegaConf.to_container(config)
            assert isinstance(data, dict)
            composed = Composed(config=config, choices=choices)
            cached = _composed[key] = _Kept(composed, pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL), data)  # type: ignore[arg-type]
        return cached


def _without_hydra(loader: Any, config_name: str, overrides: list[str]) -> tuple[DictConfig, dict[str, Any]]:
    """The config and the group options it chose, composed as Hydra's ConfigLoaderImpl does, minus Hydra's own config.

    Hydra composes its own config (launchers, sweepers, logging, help: 3/4 of the nodes, ~40 ms of
    ~70) into every config, and nothing after composing reads it here; it showed most in a
    replay's start-up (bench/RESULTS-api.md). These are the steps of Hydra 1.3's
    ``_load_configuration_impl`` with its defaults list built without Hydra's config prepended;
    tests/test_config.py checks that the result equals Hydra's whole composition.
    """
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.defaults_list import create_defaults_list
    from hydra.types import RunMode

    loader.ensure_main_config_source_available()
    parsed, repo = loader._parse_overrides_and_create_caching_repo(config_name, overrides)
    ConfigLoaderImpl.validate_sweep_overrides_legal(overrides=parsed, run_mode=RunMode.RUN, from_shell=False)
    defaults = create_defaults_list(repo=repo, config_name=config_name, overrides_list=parsed, prepend_hydra=False, skip_missing=False)
    config = loader._compose_config_from_defaults_list(defaults=defaults.defaults, repo=repo)
    OmegaConf.set_struct(config, True)
    ConfigLoaderImpl._apply_overrides_to_config(defaults.config_overrides, config)
    return config, dict(defaults.overrides.known_choices)


def compose(overrides: Sequence[str] = (), *, project: Project | None = None) -> Composed:
    """Today's conf composed with ``overrides`` (Hydra's grammar), as ``agent run`` would compose it from ``project``'s folder."""
    kept = _cached(overrides, project)
    config = pickle.loads(kept.pickled)  # noqa: S301 - our own bytes, pickled above from a config Hydra composed
    return Composed(config=config, choices=dict(kept.composed.choices))


def compose_data(overrides: Sequence[str] = (), *, project: Project | None = None) -> dict[str, Any]:
    """Today's conf composed with ``overrides``, as plain data, unresolved: for a config that is rebuilt anyway."""
    return copy.deepcopy(_cached(overrides, project).data)


def setting(key: str, overrides: Sequence[str] = (), *, project: Project | None = None) -> Any:
    """One setting of today's conf composed with ``overrides``, as plain data (read without copying the whole config)."""
    value = OmegaConf.select(_cached(overrides, project).composed.config, key, default=None)
    return OmegaConf.to_container(value) if isinstance(value, DictConfig | ListConfig) else value


class _open:
    """Lets keys be added to or removed from a struct config, as ``open_dict`` (kept tiny to avoid importing it everywhere)."""

    def __init__(self, config: DictConfig) -> None:
        self.config = config

    def __enter__(self) -> None:
        OmegaConf.set_struct(self.config, False)

    def __exit__(self, *exc: object) -> None:
        OmegaConf.set_struct(self.config, True)


def default_run_dir() -> Path:
    """Where a run's files go when no run dir is given: as conf/config.yaml's hydra.run.dir, under the current folder."""
    return Path("outputs") / datetime.now().strftime("%Y-%m-%d") / datetime.now().strftime("%H-%M-%S-%f")


def apply_overrides(config: DictConfig, overrides: Sequence[Override]) -> None:
    """Set (or delete) each override's key in ``config``, as values, not as group choices."""
    with _open(config):
        for override in overrides:
            if override.deletes:
                parent, _, last = override.key.rpartition(".")
                node = OmegaConf.select(config, parent) if parent else config
                if isinstance(node, DictConfig) and last in node:
                    del node[last]
            else:
                if not override.adds and not _has(config, override.key):
                    msg = f"Could not override '{override.key}': the config has no such key{suggestion(config, override.key)}; to add it use +{override.text}"
                    raise ConfigError(msg)
                OmegaConf.update(config, override.key, override.value, merge=False, force_add=True)


def _has(config: DictConfig, key: str) -> bool:
    """Whether ``config`` has ``key`` (dotted), without resolving any value."""
    parent, _, last = key.rpartition(".")
    node = OmegaConf.select(config, parent, default=None, throw_on_resolution_failure=False) if parent else config
    return isinstance(node, DictConfig) and last in node


def suggestion(config: DictConfig, key: str) -> str:
    """`` (did you mean X?)`` for the closest existing key to ``key``, when one is close."""
    import difflib

    parent, _, last = key.rpartition(".")
    node = OmegaConf.select(config, parent, default=None, throw_on_resolution_failure=False) if parent else config
    if not isinstance(node, DictConfig):
        return ""
    close = difflib.get_close_matches(last, [str(k) for k in node.keys()], n=1)
    return f" (did you mean {parent + '.' if parent else ''}{close[0]}?)" if close else ""


def resolved(config: DictConfig) -> dict[str, Any]:
    """``config`` as plain data with every interpolation resolved; an interpolation that cannot resolve is a ConfigError."""
    from omegaconf.errors import InterpolationKeyError, OmegaConfBaseException

    try:
        data = OmegaConf.to_container(config, resolve=True)
    except InterpolationKeyError as err:
        # The common case of a chosen option needing a key another option lacks (llm=scripted plays task.script).
        # OmegaConf names the missing key only in its message: "Interpolation key 'task.script' not found".
        quoted_parts = str(err).split("'")
        if len(quoted_parts) < 3:
            msg = f"cannot resolve the config: {one_line(err)}"
            raise ConfigError(msg) from None
        missing = quoted_parts[1]
        msg = f"cannot resolve the config: {err.full_key} is ${{{missing}}}, and the config has no {missing}; set it ({missing}=...) or choose options that do not need it"
        raise ConfigError(msg) from None
    except OmegaConfBaseException as err:
        msg = f"cannot resolve the config: {one_line(err)}"
        raise ConfigError(msg) from None
    assert isinstance(data, dict)
    return data


def to_config(data: Mapping[str, Any]) -> DictConfig:
    """Plain data as a DictConfig that accepts new keys."""
    config = OmegaConf.create(dict(data))
    assert isinstance(config, DictConfig)
    return config
