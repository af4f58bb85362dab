"""The public API (agent_harness): the README's example, results as values, and no process-global state."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest

import agent_harness as ah
from tests.conftest import agent

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("api")
    done = ah.run("task=recipes", trace=folder / "recipes.jsonl", run_dir=folder / "run")
    assert done.ok and done.trace == folder / "recipes.jsonl"
    return done.trace


class TestReadmeExample:
    def test_the_from_python_example_runs_as_written(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The README's API example runs in a fresh folder and its assertions hold."""
        section = README.read_text(encoding="utf-8").split("## From Python", 1)[1]
        code = re.search(r"```python\n(.*?)```", section, re.DOTALL)[1]
        monkeypatch.chdir(tmp_path)
        exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - our own README
        assert (tmp_path / "recipes.jsonl").is_file() and (tmp_path / "fork.jsonl").is_file()


class TestResults:
    def test_a_divergence_is_a_value_with_its_facts(self, recorded: Path) -> None:
        """replay() returns the divergence as a frozen value; str() is the report; raising is asked for."""
        result = ah.replay(recorded, "task.system_prompt=Be brief.")
        assert not result.ok and result.divergence.step == 0 and result.divergence.what == "llm_request"
        assert result.divergence.config_drift == ("task.system_prompt",)
        assert "messages[0].content" in str(result) and str(result).startswith("replay DIVERGED at step 0")
        with pytest.raises(AttributeError):
            result.divergence.step = 3  # type: ignore[misc]
        with pytest.raises(ah.Diverged):
            ah.replay(recorded, "task.system_prompt=Be brief.", raise_on_divergence=True)

    def test_a_bad_override_is_a_config_error_naming_a_close_key(self, recorded: Path) -> None:
        """A typo gets one line with what exists nearby."""
        with pytest.raises(ah.ConfigError, match=r"did you mean agent\.max_steps"):
            ah.replay(recorded, "agent.max_step=3")


class TestNoGlobalState:
    def test_replay_leaves_argv_environ_and_cwd_alone(self, recorded: Path) -> None:
        """A replay (and a recorded run) changes nothing of the process it runs in."""
        before = (list(sys.argv), dict(os.environ), os.getcwd())
        assert ah.replay(recorded).ok and ah.replay(recorded, config="current").ok
        assert (list(sys.argv), dict(os.environ), os.getcwd()) == before

    def test_two_replays_in_one_process_and_in_two_threads_equal_two_processes(self, recorded: Path, tmp_path: Path) -> None:
        """The same replays give the same results in sequence, in threads, and as separate `agent replay` processes."""
        changed = ("task.system_prompt=Be brief.",)
        sequential = [ah.replay(recorded).as_dict(), ah.replay(recorded, *changed).as_dict()]
        threaded: list[dict] = [{}, {}]

        def run(index: int, overrides: tuple[str, ...]) -> None:
            threaded[index] = ah.replay(recorded, *overrides).as_dict()

        threads = [threading.Thread(target=run, args=(0, ())), threading.Thread(target=run, args=(1, changed))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        processes = [orjson.loads(agent("replay", str(recorded), "--json", *o, cwd=tmp_path).stdout) for o in ((), changed)]
        assert sequential == threaded == processes
        assert sequential[0]["result"] == "ok" and sequential[1]["result"] == "diverged"


def test_inspect_does_not_import_hydra(recorded: Path) -> None:
    """`agent trace inspect` goes through the API without paying for Hydra or OmegaConf."""
    code = "import sys, agent_harness as ah; list(ah.inspect(sys.argv[1])); print(sorted(m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf')))"
    out = subprocess.run([sys.executable, "-c", code, str(recorded)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
