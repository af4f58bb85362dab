"""The examples/support_agent project, copied outside this repository: the whole round trip from a project of one's own.

Everything runs for real: the installed `agent` command and `python -m pytest` as subprocesses, in a
copy of the project under a temporary folder (so nothing of this repository is found by walking up),
with its package importable through PYTHONPATH as an installed project's would be.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import orjson
import pytest

from tests.conftest import PYTHON, agent, one_line_error
from tests.openai_server import TurnServer, completion
from tracing.reader import read_trace

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "support_agent"
PACKAGE = "support_agent"


def copy_example(folder: Path) -> Path:
    """A copy of the example project in ``folder``, without anything a run left in the source tree."""
    ignored = shutil.ignore_patterns("outputs", "multirun", "__pycache__", ".pytest_cache", "*.egg-info")
    return Path(shutil.copytree(EXAMPLE, folder / "support_agent", ignore=ignored))


def env_for(project: Path | None) -> dict[str, str]:
    """The environment with ``project`` importable (as if installed) and no API key."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "PYTHONPATH")}
    if project is not None:
        env["PYTHONPATH"] = str(project)
    return env


def pytest_in(folder: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m pytest ARGS` started in ``folder``, as a user would run the project's tests."""
    return subprocess.run([PYTHON, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False)


def header(trace: Path) -> dict:
    return orjson.loads(trace.read_bytes().split(b"\n", 1)[0])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the example, shared by the tests that only read from it."""
    return copy_example(tmp_path_factory.mktemp("user"))


@pytest.fixture(scope="module")
def recorded(project: Path) -> Path:
    """A run of the refund task with the project's own model (llm=keyword, its default), recorded inside the project."""
    result = agent("run", "--trace", "refund.jsonl", "hydra.run.dir=runs/refund", cwd=project, env=env_for(project))
    assert result.returncode == 0, result.stderr
    return project / "refund.jsonl"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder outside the project."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


class TestOwnProjectRuns:
    def test_run_uses_the_projects_config_tools_and_model(self, recorded: Path, project: Path) -> None:
        """`agent run` inside the project composes conf/support.yaml: its task, its tools, its KeywordLLM, its seed folder."""
        head = header(recorded)
        assert {group: head["choices"][group] for group in ("task", "tools", "llm")} == {"task": "refund", "tools": "helpdesk", "llm": "keyword"}
        assert head["project"] == {"name": "support-agent", "root": str(project), "config_dirs": ["conf"], "config_name": "support"}
        assert head["config"]["llm"]["_target_"] == "support_agent.llm.KeywordLLM"
        trace = read_trace(recorded)
        assert [c["name"] for step in trace.steps for c in step["tool_calls"]] == ["lookup_order", "search_kb", "set_priority", "send_reply"]
        assert {(s["model"], s["params"]["tone"]) for s in trace.steps} == {("keyword-1", "friendly")}
        lookup, _, priority, _ = (step["tool_calls"][0] for step in trace.steps[:4])
        assert lookup["output"]["status"] == "delivered"  # a dict output, recorded as data
        assert priority["memory_update"] == {"ticket": "T-1001", "priority": "urgent"}  # ToolOutput's memory update
        assert trace.end["answer"] == "Ticket T-1001 answered (urgent priority); the reply is in outbox/T-1001.md."
        reply = project / "runs" / "refund" / "workspace" / "outbox" / "T-1001.md"
        assert reply.read_text().startswith("Hi there,\n\nAbout your espresso machine (order A-1001, delivered): An item that arrived broken")
        assert not (project / "seeds" / "helpdesk" / "outbox").exists()  # the seed folder is copied, never changed

    def test_tool_schemas_come_from_the_type_hints(self, recorded: Path) -> None:
        """The Enum and Literal parameters reach the model as JSON schema enums, with the docstring's descriptions."""
        tools = {t["function"]["name"]: t["function"] for t in read_trace(recorded).steps[0]["tools"]}
        assert tools["set_priority"]["parameters"]["$defs"]["Priority"]["enum"] == ["low", "normal", "urgent"]
        assert tools["send_reply"]["parameters"]["properties"]["tone"]["enum"] == ["friendly", "formal"]
        assert tools["lookup_order"]["parameters"]["properties"]["order_id"]["description"] == "the order number, such as A-1001."

    def test_run_with_a_live_model_over_http(self, project: Path, tmp_path: Path) -> None:
        """llm=openai against a loopback server: the project's tools answer its calls; the trace replays with the server gone."""
        turns = [
            completion(tool_calls=[("c0", "lookup_order", '{"order_id": "A-1002"}')]),
            completion(tool_calls=[("c1", "search_kb", '{"query": "late delivery"}')]),
            completion(tool_calls=[("c2", "set_priority", '{"ticket_id": "T-1002", "priority": "urgent", "reason": "9 days"}')]),
            completion(tool_calls=[("c3", "send_reply", '{"ticket_id": "T-1002", "body": "A replacement is on its way.", "tone": "formal"}')]),
            completion(content="Replacement sent for order A-1002."),
        ]
        server = TurnServer(turns)
        trace = tmp_path / "live.jsonl"
        with server.running():
            run = agent(
                "run", "task=late_delivery", "llm=openai", f"llm.base_url={server.base_url}", "llm.model=test-model", "llm.max_retries=0",
                f"hydra.run.dir={tmp_path / 'live'}", "--trace", str(trace), cwd=project, env=env_for(project),
            )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert "answer: Replacement sent for order A-1002." in run.stdout
        sent = server.requests
        assert [r["turn"] for r in sent] == [0, 1, 2, 3, 4]
        assert [t["function"]["name"] for t in sent[0]["body"]["tools"]] == ["lookup_order", "search_kb", "set_priority", "send_reply"]
        assert json.loads(sent[1]["body"]["messages"][-1]["content"])["status"] == "in transit"  # the tool's dict, as JSON text
        assert (tmp_path / "live" / "workspace" / "outbox" / "T-1002.md").read_text().startswith("Dear customer,")
        for mode in ("recorded", "current"):  # the server is gone: nothing is asked again
            replay = agent("replay", str(trace), f"replay.config={mode}", cwd=project, env=env_for(project))
            assert (replay.returncode, replay.stdout.strip()) == (0, f"replay OK: 5 steps matched ({trace})"), replay.stderr


class TestOwnProjectReplays:
    def test_replay_recorded_and_current(self, recorded: Path, project: Path) -> None:
        """The recorded config and today's conf both replay every step, with no allowed_targets typed."""
        for extra in ((), ("replay.config=current",)):
            result = agent("replay", "refund.jsonl", *extra, cwd=project, env=env_for(project))
            assert (result.returncode, result.stdout.strip()) == (0, "replay OK: 5 steps matched (refund.jsonl)"), result.stderr

    def test_replay_with_the_projects_tools_run_live(self, recorded: Path, project: Path) -> None:
        """tools=helpdesk (the project's own option) runs today's tools against the recorded model answers."""
        result = agent("replay", "refund.jsonl", "tools=helpdesk", "hydra.run.dir=runs/mixed", cwd=project, env=env_for(project))
        assert result.returncode == 0, result.stdout + result.stderr
        assert (project / "runs" / "mixed" / "workspace" / "outbox" / "T-1001.md").is_file()

    def test_tools_live_means_the_projects_own_tools_in_a_replay(self, recorded: Path, project: Path) -> None:
        """tools=live (the README's mixed mode) runs the recorded option (helpdesk) live, not the harness's demo toolbox."""
        result = agent("replay", "refund.jsonl", "tools=live", "hydra.run.dir=runs/mixed-live", cwd=project, env=env_for(project))
        assert (result.returncode, result.stdout.strip()) == (0, "replay OK: 5 steps matched (refund.jsonl)"), result.stdout + result.stderr
        assert (project / "runs" / "mixed-live" / "workspace" / "outbox" / "T-1001.md").is_file()

    def test_replay_from_a_subfolder_of_the_project(self, recorded: Path, project: Path) -> None:
        """The project is found by walking up, as pytest and ruff find theirs."""
        result = agent("replay", "../refund.jsonl", "replay.config=current", cwd=project / "support_agent", env=env_for(project))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_sweep_of_two_model_settings_and_its_replay(self, project: Path) -> None:
        """-m llm.tone=friendly,formal: one trace per job, the replies differ, and the sweep replays job by job."""
        sweep = project / "multirun" / "tones"
        run = agent("run", "-m", "llm.tone=friendly,formal", "trace=true", f"hydra.sweep.dir={sweep}", cwd=project, env=env_for(project))
        assert run.returncode == 0, run.stderr
        greetings = [(sweep / str(job) / "workspace" / "outbox" / "T-1001.md").read_text().splitlines()[0] for job in (0, 1)]
        assert greetings == ["Hi there,", "Dear customer,"]
        inspect = agent("trace", "inspect", str(sweep), cwd=project, env=env_for(project))
        assert inspect.returncode == 0 and "totals: 2 finished" in inspect.stdout, inspect.stdout + inspect.stderr
        for extra in ((), ("replay.config=current",)):
            replay = agent("replay", str(sweep), *extra, cwd=project, env=env_for(project))
            assert replay.returncode == 0, replay.stdout + replay.stderr
            assert replay.stdout.splitlines()[-1] == f"sweep replay: 2 jobs, 2 matched, 0 diverged, 0 not replayable ({sweep})"

    def test_fork_then_diff(self, recorded: Path, project: Path) -> None:
        """A fork after step 2 with a formal tone differs from its parent first at step 3, in the reply's tone."""
        fork = agent("replay", "refund.jsonl", "replay.until=2", "llm.tone=formal", "hydra.run.dir=runs/fork", cwd=project, env=env_for(project))
        assert fork.returncode == 0, fork.stdout + fork.stderr
        assert fork.stdout.startswith("fork: steps 0-2 replayed as recorded (refund.jsonl), then live: finished after 5 steps")
        forked = project / "runs" / "fork" / "trace.jsonl"
        assert header(forked)["parent"]["step"] == 2
        diff = agent("trace", "diff", "refund.jsonl", str(forked), cwd=project, env=env_for(project))
        assert diff.returncode == 1, diff.stderr
        assert 'llm.tone: "friendly" -> "formal"' in diff.stdout
        assert "first difference at step 3" in diff.stdout
        assert 'tool_calls[0].arguments.tone: "friendly" -> "formal"' in diff.stdout
        again = agent("run", "--trace", "again.jsonl", "hydra.run.dir=runs/again", cwd=project, env=env_for(project))
        assert again.returncode == 0, again.stderr
        same = agent("trace", "diff", "refund.jsonl", "again.jsonl", cwd=project, env=env_for(project))
        assert (same.returncode, same.stdout.splitlines()[-1]) == (0, "identical apart from times and latencies"), same.stdout


class TestReplayFromOutside:
    def test_a_trace_from_elsewhere_builds_nothing_of_the_project_unless_allowed(self, recorded: Path, project: Path, elsewhere: Path) -> None:
        """Outside the project its package is not trusted: one line says which project recorded it; allowed_targets lets it replay."""
        refused = agent("replay", str(recorded), cwd=elsewhere, env=env_for(project))
        assert refused.returncode == 2
        line = one_line_error(refused)
        assert f"it was recorded in project support-agent at {project}" in line and "allowed_targets" in line
        allowed = agent("replay", str(recorded), f"allowed_targets=[{PACKAGE}]", cwd=elsewhere, env=env_for(project))
        assert (allowed.returncode, allowed.stdout.strip()) == (0, f"replay OK: 5 steps matched ({recorded})"), allowed.stderr

    def test_a_moved_trace_replays_with_cd_before_or_after_the_overrides(self, recorded: Path, project: Path, elsewhere: Path) -> None:
        """A copied trace replays its recorded config with allowed_targets, and today's config with -cd in any position."""
        moved = elsewhere / "moved.jsonl"
        shutil.copy(recorded, moved)
        runs = [
            ("moved.jsonl", f"allowed_targets=[{PACKAGE}]"),
            ("-cd", str(project / "conf"), "moved.jsonl", "replay.config=current"),
            ("moved.jsonl", "replay.config=current", "-cd", str(project / "conf")),
            ("moved.jsonl", f"--config-dir={project / 'conf'}", "replay.config=current"),
        ]
        for args in runs:
            result = agent("replay", *args, cwd=elsewhere, env=env_for(project))
            assert (result.returncode, result.stdout.strip()) == (0, "replay OK: 5 steps matched (moved.jsonl)"), (args, result.stderr)

    def test_current_config_from_outside_says_how_to_point_at_it(self, recorded: Path, project: Path, elsewhere: Path) -> None:
        """replay.config=current outside the project refuses in one line that names -cd with the project's conf folder."""
        result = agent("replay", str(recorded), "replay.config=current", cwd=elsewhere, env=env_for(project))
        assert result.returncode == 2
        assert f"-cd {project / 'conf'}" in one_line_error(result)

    def test_run_with_cd_from_outside_finds_the_project(self, project: Path, elsewhere: Path) -> None:
        """`agent run -cd PROJECT/conf` from anywhere is a run of that project: its config name, seed folder and header."""
        result = agent("run", "task=late_delivery", f"hydra.run.dir={elsewhere / 'run'}", "-cd", str(project / "conf"), "--trace", "t.jsonl", cwd=elsewhere, env=env_for(project))
        assert result.returncode == 0, result.stderr
        assert header(elsewhere / "t.jsonl")["project"]["name"] == "support-agent"
        assert (elsewhere / "run" / "workspace" / "orders.csv").is_file()  # seeds/helpdesk, from the project's root
        replay = agent("replay", "t.jsonl", "replay.config=current", "-cd", str(project / "conf"), cwd=elsewhere, env=env_for(project))
        assert replay.returncode == 0, replay.stdout + replay.stderr


class TestGoldenTests:
    def test_the_examples_own_suite_passes_from_its_folder_and_from_elsewhere(self, project: Path, elsewhere: Path) -> None:
        """Its golden traces replay (and replay with live tools) in the copy, whichever folder pytest starts in."""
        here = pytest_in(project, "-v", env=env_for(project))
        assert here.returncode == 0, here.stdout + here.stderr
        for test in ("test_agent_does_what_it_did[refund]", "test_tools_answer_what_they_answered[late_delivery]"):
            assert f"{test} PASSED" in here.stdout
        assert "skipped" not in here.stdout.splitlines()[-1]
        # Without PYTHONPATH: the project's own pytest settings make its package importable.
        there = pytest_in(elsewhere, str(project / "tests"), env=env_for(None))
        assert there.returncode == 0, there.stdout + there.stderr
        assert here.stdout.splitlines()[-1].split(" in ")[0] == there.stdout.splitlines()[-1].split(" in ")[0]  # same counts

    def test_a_changed_tool_output_fails_the_golden_test_at_its_step_and_call(self, tmp_path: Path) -> None:
        """The report names the step, the tool call and the field inside the tool's output; --record-traces accepts the change."""
        project = copy_example(tmp_path)
        tools = project / PACKAGE / "tools.py"
        source = tools.read_text()
        assert source.count('"status": row["status"],') == 1
        tools.write_text(source.replace('"status": row["status"],', '"status": row["status"].upper(),'))
        changed = pytest_in(project, "tests/test_golden.py", env=env_for(project))
        assert changed.returncode == 1, changed.stdout + changed.stderr
        out = changed.stdout
        assert "2 failed, 3 passed" in out.splitlines()[-1]  # only the live-tools tests: the recorded answers still replay
        trace = project / "tests" / "traces" / "refund.jsonl"
        assert f'replay DIVERGED at step 0, tool call 0 lookup_order(order_id="A-1001") ({trace})' in out
        assert '  messages[3].content.status: "delivered" -> "DELIVERED"' in out
        assert "likely cause: today's tools (tools=live) returned another output or memory update than the recorded ones" in out
        assert "FAILED tests/test_golden.py::test_tools_answer_what_they_answered[refund]" in out

        before = trace.read_bytes()
        record = pytest_in(project, "tests/test_golden.py", "--record-traces", env=env_for(project))
        assert record.returncode == 0, record.stdout + record.stderr
        assert trace.read_bytes() != before and b'"status":"DELIVERED"' in trace.read_bytes()
        accepted = pytest_in(project, "tests/test_golden.py", env=env_for(project))
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr

    def test_a_project_with_its_own_agent_and_tracing_modules_keeps_its_tests(self, tmp_path: Path) -> None:
        """The autoloaded plugin imports nothing of the harness: a top-level agent.py and tracing.py of the project's own still import."""
        folder = tmp_path / "mine"
        (folder / "tests").mkdir(parents=True)
        (folder / "pyproject.toml").write_text('[project]\nname = "mine"\n[tool.pytest.ini_options]\npythonpath = ["."]\n')
        (folder / "agent.py").write_text("def answer() -> int:\n    return 42\n")
        (folder / "tracing.py").write_text("SPANS = []\n")
        (folder / "tests" / "test_mine.py").write_text(
            "import agent, tracing\n\n"
            "def test_my_agent():\n    assert agent.answer() == 42 and tracing.SPANS == []\n\n"
            "def test_the_plugin_is_loaded(pytestconfig):\n    assert pytestconfig.pluginmanager.hasplugin('agent_harness')\n"
        )
        result = pytest_in(folder, "-q", env=env_for(None))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "2 passed" in result.stdout.splitlines()[-1]


class TestMinimalProject:
    def test_a_project_with_only_a_task_folder_uses_the_harness_config(self, tmp_path: Path) -> None:
        """config_dirs alone (config_name defaults to the harness's own config): run, record and replay its task."""
        folder = tmp_path / "tiny"
        (folder / "conf" / "task").mkdir(parents=True)
        (folder / "data").mkdir()
        (folder / "data" / "note.txt").write_text("hello\n")
        (folder / "pyproject.toml").write_text('[project]\nname = "tiny"\n\n[tool.agent-harness]\nconfig_dirs = ["conf"]\n')
        (folder / "conf" / "task" / "note.yaml").write_text(
            "name: note\nsystem_prompt: Read notes.\nprompt: Read note.txt.\nworkspace_seed: ./data\n"
            "script:\n  - tool_calls: [{name: read_file, arguments: {path: note.txt}}]\n  - content: It says hello.\n"
        )
        run = agent("run", "task=note", "--trace", "t.jsonl", "hydra.run.dir=runs/a", cwd=folder, env=env_for(None))
        assert run.returncode == 0, run.stderr
        assert read_trace(folder / "t.jsonl").steps[0]["tool_calls"][0]["output"] == "hello\n"
        replay = agent("replay", "../t.jsonl", "replay.config=current", cwd=folder / "conf", env=env_for(None))
        assert replay.returncode == 0, replay.stdout + replay.stderr

    def test_hydra_searchpath_adds_folders_to_the_projects(self, project: Path, tmp_path: Path) -> None:
        """A user's hydra.searchpath is searched too, without losing the project's folders or the harness's."""
        extra = tmp_path / "more" / "task"
        extra.mkdir(parents=True)
        (extra / "warranty.yaml").write_text((project / "conf" / "task" / "refund.yaml").read_text().replace("T-1001", "T-1003").replace("A-1001", "A-1003"))
        result = agent("run", f"hydra.searchpath=[{extra.parent}]", "task=warranty", f"hydra.run.dir={tmp_path / 'run'}", cwd=project, env=env_for(project))
        assert result.returncode == 0, result.stderr
        assert "answer: Ticket T-1003 answered" in result.stdout


class TestMistakes:
    @pytest.mark.parametrize(
        ("override", "hint"),
        [("task.promt=x", "(did you mean task.prompt?)"), ("llm=keywrd", "(did you mean llm=keyword?)"), ("tsk=refund", "(did you mean task?)")],
    )
    def test_a_typo_gets_did_you_mean(self, project: Path, override: str, hint: str) -> None:
        """Hydra's message, plus the closest key or option of the project's config, on one line."""
        result = agent("run", override, cwd=project, env=env_for(project))
        assert result.returncode == 2
        assert hint in one_line_error(result)

    def test_version(self, tmp_path: Path) -> None:
        """`agent --version` names the installed distribution's version."""
        result = agent("--version", cwd=tmp_path)
        assert (result.returncode, result.stdout.strip()) == (0, f"agent-harness {version('agent-harness')}")


def test_the_readme_shows_the_examples_real_files() -> None:
    """Every line of the README's YAML, TOML and Python excerpts of the example is in the example's files."""
    import re

    readme = (EXAMPLE.parents[1] / "README.md").read_text()
    section = readme.split("## Your own agent in your own project", 1)[1].split("\n## ", 1)[0]
    files = "\n".join(p.read_text() for p in EXAMPLE.rglob("*") if p.suffix in (".py", ".yaml", ".toml") and "__pycache__" not in p.parts)
    blocks = re.findall(r"```(yaml|toml|python)\n(.*?)```", section, re.S)
    excerpts = [body for _, body in blocks if "class LLM(Protocol)" not in body]  # the protocol is agent/llm/__init__.py, shortened
    assert len(excerpts) >= 7
    missing = [line for body in excerpts for line in body.splitlines() if line.strip() and line not in files]
    assert not missing


def test_the_main_suite_does_not_collect_the_example() -> None:
    """The example's tests run in their own project (above), never as part of this repository's suite."""
    import tomllib

    settings = tomllib.loads((EXAMPLE.parents[1] / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert settings["testpaths"] == ["tests"]


@pytest.fixture(autouse=True)
def _no_leftovers_in_the_example() -> Iterator[None]:
    """Nothing a test does writes into examples/ of this repository."""
    before = sorted(str(p.relative_to(EXAMPLE)) for p in EXAMPLE.rglob("*") if "__pycache__" not in p.parts and ".pytest_cache" not in p.parts)
    yield
    after = sorted(str(p.relative_to(EXAMPLE)) for p in EXAMPLE.rglob("*") if "__pycache__" not in p.parts and ".pytest_cache" not in p.parts)
    assert after == before
