"""Replay: the same loop with the recorded answers, every step checked, divergences reported."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from omegaconf import OmegaConf

from agent_harness.build import build_run
from agent.llm.scripted import ScriptedLLM
from agent.loop import AgentRun, drive, start_state
from agent.runtime import Runtime
from agent.tools import Toolbox, ToolContext, ToolOutput
from tests.conftest import agent, one_line_error
from tracing.reader import read_trace
from tracing.replay import Diverged, ReplayLLM, ReplaySession, ReplayTools
from tracing.writer import TraceWriter, make_header

Compose = Callable[..., Any]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trace of the default task, recorded through the CLI."""
    folder = tmp_path_factory.mktemp("recorded")
    assert agent("run", "--trace", "t.jsonl", cwd=folder).returncode == 0
    return folder / "t.jsonl"


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def replay_json(trace: Path, *overrides: str, cwd: Path) -> tuple[int, dict[str, Any]]:
    result = agent("replay", str(trace), "--json", *overrides, cwd=cwd)
    assert result.stdout, result.stderr
    return result.returncode, orjson.loads(result.stdout)


def record(run: AgentRun, path: Path) -> Path:
    with TraceWriter.create(path, make_header(config={}, overrides=[], choices={}, job={}, versions={})) as writer:
        writer.record(run)
    return path


def replaying(trace_path: Path, *, tools: dict[str, Any] | None = None, llm: Any = None, workspace: Path | None = None) -> tuple[AgentRun, ReplaySession]:
    """An in-process replay run: recorded answers unless a live llm or live tools are given."""
    trace = read_trace(trace_path)
    session = ReplaySession(trace)
    toolbox = Toolbox(workspace=workspace, tools=tools) if workspace is not None else ReplayTools(session=session, tools=tools or {})
    first = trace.prompts[0]
    run = AgentRun(
        state=start_state(system_prompt=first[0]["content"], prompt=first[1]["content"]),
        llm=llm or ReplayLLM(session=session),
        tools=toolbox,
        runtime=Runtime(clock=session.clock),
        max_steps=50,
    )
    return run, session


class TestReplayMatches:
    def test_recorded_run_replays_with_every_state_hash(self, recorded: Path, tmp_path: Path) -> None:
        """`agent replay` re-executes the run and says so in one line; the replay's own trace has the same hashes."""
        result = agent("replay", str(recorded), "trace=true", "tracePath=again.jsonl", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"replay OK: 6 steps matched ({recorded})\n"
        original, again = lines(recorded), lines(tmp_path / "again.jsonl")
        assert [r["state"]["sha256"] for r in again[1:-1]] == [r["state"]["sha256"] for r in original[1:-1]]
        assert (again[-1]["status"], again[-1]["answer"], again[-1]["steps"]) == (original[-1]["status"], original[-1]["answer"], 6)

    def test_replay_writes_nothing_and_leaves_the_trace_alone(self, recorded: Path, tmp_path: Path) -> None:
        """The original trace is byte for byte and time for time the same after a replay, which writes no file of its own."""
        before = (recorded.read_bytes(), recorded.stat().st_mtime_ns)
        assert agent("replay", str(recorded), cwd=tmp_path).returncode == 0
        assert (recorded.read_bytes(), recorded.stat().st_mtime_ns) == before
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize("mode", [["tools=live"], ["llm=scripted"], ["replay.config=current"]])
    def test_mixed_modes_and_current_config_replay_an_unchanged_agent(self, recorded: Path, tmp_path: Path, mode: list[str]) -> None:
        """Today's tools, a scripted model asked again, or today's conf/ all reproduce the recording."""
        code, report = replay_json(recorded, *mode, cwd=tmp_path)
        assert code == 0 and report == {"result": "ok", "trace": str(recorded), "steps": 6, "cut_off": False, "config_drift": []}

    def test_cut_off_trace_replays_up_to_its_last_whole_step(self, recorded: Path, tmp_path: Path) -> None:
        """A trace cut mid-record replays every complete step and says the recording ends there."""
        raw = recorded.read_bytes().splitlines(keepends=True)
        cut = tmp_path / "cut.jsonl"
        cut.write_bytes(b"".join(raw[:4]) + raw[4][:40])
        result = agent("replay", str(cut), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "replay OK: 3 steps matched; the recording ends there (the run was cut off or interrupted)" in result.stdout

    def test_replay_passes_with_sockets_blocked_and_no_key(self, recorded: Path, tmp_path: Path) -> None:
        """Nothing in a replay opens a network connection: with every socket refused it still matches."""
        code = (
            "import socket, sys\n"
            "def refuse(*args, **kwargs):\n"
            "    raise OSError('network use during replay')\n"
            "socket.socket = refuse; socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
            "from agent_harness.cli import main\n"
            f"sys.argv = ['agent', 'replay', {str(recorded)!r}]\n"
            "main()\n"
        )
        env = {k: v for k, v in os.environ.items() if "KEY" not in k and "TOKEN" not in k}
        import subprocess

        result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("replay OK: 6 steps matched")

    def test_agent_using_clock_and_random_replays_exactly(self, tmp_path: Path) -> None:
        """Time and random choices that reach the state through the runtime come back the same in replay."""

        def stamp(ctx: ToolContext, label: str) -> ToolOutput:
            """Remember when and a random draw."""
            value = {"at": ctx.runtime.now(), "draw": ctx.runtime.rng.random()}
            return ToolOutput(output=value, memory={label: value})

        script = [{"tool_calls": [{"name": "stamp", "arguments": {"label": "a"}}]}, {"tool_calls": [{"name": "stamp", "arguments": {"label": "b"}}]}, {"content": "done"}]
        live = AgentRun(
            state=start_state(system_prompt="s", prompt="p"),
            llm=ScriptedLLM(script=script),
            tools=Toolbox(workspace=tmp_path, tools={"stamp": stamp}),
            runtime=Runtime(seed=7, clock=time.time),
            max_steps=5,
        )
        record(live, tmp_path / "t.jsonl")
        time.sleep(0.01)  # the clock has moved on: only the recorded values can match
        for tools_live in (False, True):
            run, session = replaying(tmp_path / "t.jsonl", tools={"stamp": stamp}, workspace=tmp_path if tools_live else None)
            run.runtime = Runtime(seed=7, clock=session.clock)
            outcome = drive(run, session.check_step)
            assert session.finish(outcome).steps == 3
            assert dict(outcome.state.memory) == dict(live.outcome.state.memory)


class TestDivergence:
    def test_edited_tool_output_is_named_at_its_step(self, recorded: Path, tmp_path: Path) -> None:
        """A tool output changed in the trace makes the history after that step differ; the report names the edit.

        The trace holds the output once (the next step's prompt refers to it), so the recorded digests are
        what is left of the original: the report shows the history digest and says the trace was edited.
        """
        records = lines(recorded)
        assert records[4]["messages"]["new"][1] == {"ref": "tool_call", "index": 0}  # step 3's prompt holds no copy
        records[3]["tool_calls"][0]["output"] = "9999.99"  # step 2: the calculator
        code, report = replay_json(write(tmp_path / "edited.jsonl", records), cwd=tmp_path)
        assert code == 1
        assert (report["result"], report["step"], report["what"]) == ("diverged", 2, "state")
        recorded_digest, now = {d["path"]: (d["expected"], d["actual"]) for d in report["differences"]}["state.messages.digest"]
        assert recorded_digest == records[3]["state"]["messages"]["digest"] != now
        assert "the trace was edited after recording" in report["likely_cause"] and "step 3" in report["likely_cause"]
        assert report["trace"] == str(tmp_path / "edited.jsonl")

    def test_edited_message_the_run_does_not_reproduce_is_unusable(self, recorded: Path, tmp_path: Path) -> None:
        """A system prompt changed in the trace alone (the agent still sends the recorded one) is a damaged trace: exit 2."""
        records = lines(recorded)
        records[1]["messages"]["new"][0]["content"] = "You are someone else."
        result = agent("replay", str(write(tmp_path / "edited.jsonl", records)), cwd=tmp_path)
        assert result.returncode == 2
        assert "messages it holds for step 0 do not match the sha256 recorded with them" in one_line_error(result)

    def test_edited_state_hash_is_named(self, recorded: Path, tmp_path: Path) -> None:
        """A state hash changed in the trace is reported as just that."""
        records = lines(recorded)
        original = records[2]["state"]["sha256"]
        records[2]["state"]["sha256"] = "0" * 64
        code, report = replay_json(write(tmp_path / "edited.jsonl", records), cwd=tmp_path)
        assert code == 1 and (report["step"], report["what"]) == (1, "state")
        assert report["differences"] == [{"path": "state.sha256", "expected": "0" * 64, "actual": original}]

    def test_state_the_code_now_computes_otherwise_is_named(self, compose_config: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """When the loop now turns a tool result into another message, the first step's state differs there."""
        record(build_run(compose_config()), tmp_path / "t.jsonl")
        import agent.loop

        original = agent.loop.tool_message
        monkeypatch.setattr(agent.loop, "tool_message", lambda result: {**original(result), "content": f"result: {original(result)['content']}"})
        run, session = replaying(tmp_path / "t.jsonl", tools=dict(build_run(compose_config()).tools.functions))
        with pytest.raises(Diverged) as caught:
            drive(run, session.check_step)
        assert (caught.value.divergence.step, caught.value.divergence.what) == (0, "state")
        changed = {d.path: (d.expected, d.actual) for d in caught.value.divergence.found}
        assert changed["messages[3].content"] == ('["invoices.csv"]', 'result: ["invoices.csv"]')

    def test_tool_memory_update_the_code_now_computes_otherwise_is_named(self, tmp_path: Path) -> None:
        """With today's tools (tools=live), a tool that now stores another value shows as a memory difference."""

        def keep(key: str, value: str) -> ToolOutput:
            """Store a value."""
            return ToolOutput(output="ok", memory={key: value})

        def keep_upper(key: str, value: str) -> ToolOutput:
            """Store a value."""
            return ToolOutput(output="ok", memory={key: value.upper()})

        keep_upper.__name__ = "keep"
        script = [{"tool_calls": [{"name": "keep", "arguments": {"key": "k", "value": "abc"}}]}, {"content": "done"}]
        record(AgentRun(state=start_state(system_prompt="s", prompt="p"), llm=ScriptedLLM(script=script), tools=Toolbox(workspace=tmp_path, tools={"keep": keep}), runtime=Runtime(), max_steps=3), tmp_path / "t.jsonl")
        run, session = replaying(tmp_path / "t.jsonl", tools={"keep": keep_upper}, workspace=tmp_path)
        with pytest.raises(Diverged) as caught:
            drive(run, session.check_step)
        assert caught.value.divergence.step == 0 and [(d.path, d.expected, d.actual) for d in caught.value.divergence.found] == [("state.memory.k", "abc", "ABC")]

    def test_system_prompt_changed_under_current_config_is_named_with_drift(self, recorded: Path, tmp_path: Path) -> None:
        """Today's config with another system prompt diverges at step 0's request and names the drifted key."""
        code, report = replay_json(recorded, "replay.config=current", "task.system_prompt=Be quick.", cwd=tmp_path)
        assert code == 1 and (report["step"], report["what"]) == (0, "llm_request")
        assert report["differences"][0]["path"] == "messages[0].content" and report["differences"][0]["actual"] == "Be quick."
        assert report["config_drift"] == ["task.system_prompt"]
        assert "config" in report["likely_cause"]

    def test_tool_argument_sent_otherwise_is_named_with_its_call(self, compose_config: Compose, tmp_path: Path) -> None:
        """A model that now asks for another calculation diverges at that call, naming the argument."""
        cfg = compose_config()
        record(build_run(cfg), tmp_path / "t.jsonl")
        script = OmegaConf.to_container(cfg.task.script, resolve=True)
        script[2] = {"tool_calls": [{"name": "calculator", "arguments": {"expression": "1 + 1"}}]}
        run, session = replaying(tmp_path / "t.jsonl", tools=dict(build_run(compose_config()).tools.functions), llm=ScriptedLLM(script=script))
        with pytest.raises(Diverged) as caught:
            drive(run, session.check_step)
        found = caught.value.divergence
        assert (found.step, found.call, found.what) == (2, 0, "tool_call")
        assert [(d.path, d.actual) for d in found.found] == [("arguments.expression", "1 + 1")]
        assert "step 2, tool call 0" in found.report()

    def test_extra_step_is_named(self, recorded: Path, tmp_path: Path) -> None:
        """An agent that goes on past the recorded last step diverges there."""
        records = lines(recorded)
        del records[-2]  # the final-answer step; the end record stays
        code, report = replay_json(write(tmp_path / "short.jsonl", records), cwd=tmp_path)
        assert code == 1 and (report["step"], report["what"]) == (5, "end")
        assert "goes on to step 5" in report["summary"]

    def test_missing_step_is_named(self, recorded: Path, tmp_path: Path) -> None:
        """An agent that stops before the recorded end diverges at its end, naming status and step count."""
        code, report = replay_json(recorded, "agent.max_steps=4", cwd=tmp_path)
        assert code == 1 and (report["step"], report["what"]) == (4, "end")
        changed = {d["path"]: (d["expected"], d["actual"]) for d in report["differences"]}
        assert changed["steps"] == (6, 4) and changed["status"] == ("finished", "max_steps")

    def test_text_report_names_step_field_trace_and_cause(self, recorded: Path, tmp_path: Path) -> None:
        """The human report says where, what, recorded -> now per field, the trace and the likely cause."""
        result = agent("replay", str(recorded), "replay.config=current", "task.prompt=Do nothing.", cwd=tmp_path)
        assert result.returncode == 1
        assert result.stdout.splitlines()[0] == f"replay DIVERGED at step 0 ({recorded})"
        assert '  messages[1].content: "Total the invoices' in result.stdout and '-> "Do nothing."' in result.stdout
        assert "config drift: task.prompt" in result.stdout and "likely cause: the config differs" in result.stdout


class TestUntrustedTraces:
    @pytest.mark.parametrize("where", ["tools", "task", "llm"])
    def test_trace_naming_foreign_code_is_refused_before_anything_is_built(self, recorded: Path, tmp_path: Path, where: str) -> None:
        """A _target_ outside the project's packages, anywhere in the trace's config, stops the replay with exit 2."""
        records = lines(recorded)
        marker = tmp_path / "pwned"
        payload = {"_target_": "os.system", "_args_": [f"touch {marker}"]}
        config = records[0]["config"]
        if where == "tools":
            config["tools"]["tools"]["calculator"] = payload
        else:
            config[where]["hook"] = payload
        result = agent("replay", str(write(tmp_path / "hostile.jsonl", records)), cwd=tmp_path)
        assert result.returncode == 2
        assert "os.system" in one_line_error(result) and "nothing was built" in result.stderr
        assert not marker.exists()

    def test_recorded_interpolations_are_taken_as_text(self, recorded: Path, tmp_path: Path) -> None:
        """A `${...}` in a trace's config is not resolved: the replay uses the text as recorded and diverges on it."""
        records = lines(recorded)
        records[0]["config"]["task"]["system_prompt"] = "${oc.env:HOME}"
        code, report = replay_json(write(tmp_path / "t.jsonl", records), cwd=tmp_path)
        assert code == 1 and report["differences"][0]["actual"] == "${oc.env:HOME}"

    @pytest.mark.parametrize(
        ("args", "words"),
        [
            (["nothere.jsonl"], "no trace at nothere.jsonl"),
            ([], "replay needs one trace file"),
            (["{trace}", "replay.config=yesterday"], "expected one of: recorded, current"),
            (["{trace}", "nosuchkey=1"], "Could not override 'nosuchkey'"),
        ],
    )
    def test_unusable_input_exits_2_with_one_line(self, recorded: Path, tmp_path: Path, args: list[str], words: str) -> None:
        """Missing traces, bad modes and bad overrides are unusable input."""
        result = agent("replay", *(a.format(trace=recorded) for a in args), cwd=tmp_path)
        assert result.returncode == 2 and words in one_line_error(result)


class TestRecordedEndings:
    def test_run_that_ended_in_an_llm_error_replays_to_the_same_error(self, tmp_path: Path) -> None:
        """A script that ran out is replayed as the same error ending after the same steps."""
        result = agent("run", "--trace", "t.jsonl", "task.script=[{content: null, tool_calls: [{name: list_files, arguments: {}}]}]", cwd=tmp_path)
        assert result.returncode == 1 and lines(tmp_path / "t.jsonl")[-1]["status"] == "error"
        replay = agent("replay", "t.jsonl", cwd=tmp_path)
        assert replay.returncode == 0, replay.stdout + replay.stderr
        assert replay.stdout.startswith("replay OK: 1 steps matched")

    def test_interrupted_recording_replays_up_to_where_it_stopped(self, compose_config: Compose, tmp_path: Path) -> None:
        """Ctrl-C during the recording: the replay checks every recorded step and says the recording ends there."""
        run = build_run(compose_config())
        complete = run.llm.complete

        def interrupt_at_third(request: Any) -> Any:
            if sum(m["role"] == "assistant" for m in request.messages) == 2:
                raise KeyboardInterrupt
            return complete(request)

        run.llm.complete = interrupt_at_third
        record(run, tmp_path / "t.jsonl")
        assert lines(tmp_path / "t.jsonl")[-1]["status"] == "interrupted"
        result = agent("replay", "t.jsonl", cwd=tmp_path)
        assert result.returncode == 0 and "replay OK: 2 steps matched; the recording ends there" in result.stdout
