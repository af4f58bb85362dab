"""Every config group option composes, and every part it names builds."""

from __future__ import annotations

from collections.abc import Callable
import importlib.util
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hydra.utils import instantiate

from agent_harness.build import build_run
from tracing.reader import read_trace
from tracing.replay import ReplaySession
from tracing.writer import TraceWriter, make_header


def options(group: str) -> list[str]:
    folder = resources.files("agent.conf").joinpath(group)
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


GROUPS = ["agent", "llm", "tools", "task"]


def test_every_group_has_options() -> None:
    """The groups the defaults list names all ship with the package."""
    assert all(options(group) for group in GROUPS)


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_option_composes_and_builds(compose_config: Callable[..., Any], tmp_path: Path, group: str, option: str) -> None:
    """Composing group=option and instantiating its llm and tools works; a broken YAML fails here."""
    if (group, option) == ("llm", "local") and importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llm=local needs the local extra (llama-cpp-python)")
    # Building a client sends nothing; a base_url stands in for an API key.
    extra = ["llm.base_url=http://127.0.0.1:9/v1"] if (group, option) == ("llm", "openai") else []
    cfg = compose_config(f"{group}={option}", *extra)
    # The replay backends are handed the session of a trace, as `agent replay` does.
    with TraceWriter.create(tmp_path / "t.jsonl", make_header(config={}, overrides=[], choices={}, job={}, versions={})) as writer:
        writer.record(build_run(compose_config()))
    session = ReplaySession(read_trace(tmp_path / "t.jsonl"))

    def build(node: Any) -> Any:
        if node._target_ == "tracing.replay.ReplayTools":  # handed the recorded tool set by the replay
            return instantiate(node, session=session, tools=instantiate(compose_config().tools.tools))
        return instantiate(node, session=session) if node._target_.startswith("tracing.replay.") else instantiate(node)

    llm, tools = build(cfg.llm), build(cfg.tools)
    assert llm.model and tools.schemas


@pytest.mark.parametrize("task", options("task"))
def test_every_task_runs_to_an_answer_with_the_scripted_llm(compose_config: Callable[..., Any], task: str) -> None:
    """Each demo task's script fits its tools and workspace: the run finishes with an answer and no tool errors."""
    run = build_run(compose_config(f"task={task}"))
    steps = list(run)
    assert run.outcome.status == "finished" and run.outcome.answer
    assert [r.error for s in steps for r in s.results if r.error] == []


EXAMPLE = Path(__file__).parent.parent / "examples" / "support_agent"


@pytest.mark.parametrize(
    ("where", "overrides"),
    [
        ("harness", ()),
        ("harness", ("llm=openai", "task=recipes", "seed=7", "+extra.note=x")),
        ("harness", ("tools=replay", "llm=replay", "~task.script")),
        ("example", ()),
        ("example", ("llm=openai",)),
    ],
)
def test_composing_without_hydras_own_config_gives_hydras_composition(where: str, overrides: tuple[str, ...]) -> None:
    """compose() leaves Hydra's own config out of the composition: the config and the choices are Hydra's all the same."""
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from agent_harness.compose import _loader, _without_hydra
    from agent_harness.project import HARNESS_CONFIG, project_for

    project = project_for(start=EXAMPLE) if where == "example" else None
    search_path, name = (project.search_path(), project.config_name) if project else ((HARNESS_CONFIG,), "config")
    loader = _loader(search_path)
    config, choices = _without_hydra(loader, name, list(overrides))
    hydras = loader.load_configuration(name, list(overrides), run_mode=RunMode.RUN, from_shell=False)
    assert choices == {k: v for k, v in OmegaConf.to_container(hydras.hydra.runtime.choices).items() if not k.startswith("hydra/")}
    assert "llm" in choices and "tools" in choices
    for composed in (config, hydras):
        OmegaConf.set_struct(composed, False)
        composed.pop("hydra", None)
    assert OmegaConf.to_container(config) == OmegaConf.to_container(hydras)


def test_a_config_that_overrides_hydras_groups_still_composes(tmp_path: Path) -> None:
    """A primary config whose defaults pick Hydra's own options composes through Hydra's whole composition."""
    from agent_harness.compose import compose
    from agent_harness.errors import ConfigError
    from agent_harness.project import project_for

    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "quiet.yaml").write_text("defaults:\n  - config\n  - override hydra/job_logging: disabled\n  - _self_\nseed: 5\n")
    project = project_for(tmp_path / "conf", "quiet", start=tmp_path)
    composed = compose(["task=recipes"], project=project)
    assert composed.config.seed == 5 and composed.config.task.name == "recipes" and "hydra" not in composed.config
    assert composed.choices["task"] == "recipes" and not any(k.startswith("hydra/") for k in composed.choices)
    with pytest.raises(ConfigError, match=r"cannot compose the config: .*Could not find 'task/nope'"):
        compose(["task=nope"], project=project)
