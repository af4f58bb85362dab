"""The loop and what a recording of it holds, in process."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from agent_harness.build import build_run
from agent.llm.scripted import ScriptedLLM
from agent.loop import AgentRun, drive, start_state
from agent.records import LLMRequest, Step
from agent.runtime import Runtime
from agent.tools import Toolbox
from tracing.errors import TraceError
from tracing.reader import iter_records, read_trace
from tracing.schema import SCHEMA_VERSION, state_hash_rule
from tracing.secrets import REDACTED
from tracing.writer import TraceWriter, make_header

Compose = Callable[..., Any]


def header(config: dict[str, Any] | None = None) -> dict[str, Any]:
    return make_header(config=config or {}, overrides=[], choices={}, job={}, versions={})


def record(run: AgentRun, path: Path):  # noqa: ANN201
    with TraceWriter.create(path, header()) as writer:
        return writer.record(run)


class TestLoop:
    def test_default_task_uses_files_calculator_and_memory_and_answers(self, compose_config: Compose) -> None:
        """The default task runs at least 4 steps, writes its report and answers with the total."""
        run = build_run(compose_config())
        steps = list(run)
        used = {r.call.name for s in steps for r in s.results}
        assert run.outcome.status == "finished" and len(steps) >= 4
        assert {"read_file", "calculator", "remember", "write_file"} <= used
        assert "3949.74" in run.outcome.answer
        assert dict(run.outcome.state.memory) == {"invoice_total": "3949.74"}
        assert "3949.74" in (run.tools.workspace / "report.md").read_text()

    def test_seed_folder_is_copied_not_modified(self, compose_config: Compose) -> None:
        """The run writes in its workspace copy; the bundled seed keeps only its own files."""
        drive(build_run(compose_config()))
        seed = resources.files("agent").joinpath("seeds", "invoices")
        assert sorted(p.name for p in seed.iterdir()) == ["invoices.csv"]

    def test_run_ends_at_max_steps(self, compose_config: Compose) -> None:
        """The step limit ends the run with status max_steps and no answer."""
        outcome = drive(build_run(compose_config("agent.max_steps=3")))
        assert (outcome.status, outcome.steps, outcome.answer) == ("max_steps", 3, None)

    def test_script_that_runs_out_ends_the_run_with_a_clear_error(self, tmp_path: Path) -> None:
        """Asking for more turns than the script has is an error ending that says so."""
        llm = ScriptedLLM(script=[{"tool_calls": [{"name": "calculator", "arguments": {"expression": "1+1"}}]}])
        tools = Toolbox(workspace=tmp_path, tools={})
        outcome = drive(AgentRun(state=start_state(system_prompt="s", prompt="p"), llm=llm, tools=tools, runtime=Runtime(), max_steps=5))
        assert outcome.status == "error" and outcome.steps == 1
        assert "the script has 1 turns and the agent asked for turn 2" in outcome.error

    def test_failing_tool_is_shown_to_the_model_and_the_run_goes_on(self, tmp_path: Path) -> None:
        """An error result becomes a tool message in the next request."""
        script = [{"tool_calls": [{"name": "calculator", "arguments": {"expression": "os.system('x')"}}]}, {"content": "sorry"}]
        from agent.tools.calculator import calculator

        run = AgentRun(
            state=start_state(system_prompt="s", prompt="p"),
            llm=ScriptedLLM(script=script),
            tools=Toolbox(workspace=tmp_path, tools={"calculator": calculator}),
            runtime=Runtime(),
            max_steps=5,
        )
        steps = list(run)
        assert run.outcome.status == "finished" and run.outcome.answer == "sorry"
        tool_message = steps[1].request.messages[-1]
        assert tool_message["role"] == "tool" and tool_message["content"].startswith("error: ") and "not arithmetic" in tool_message["content"]

    def test_step_timestamps_come_from_the_runtime_clock(self, compose_config: Compose) -> None:
        """The loop reads time only from the runtime it is handed."""
        run = build_run(compose_config())
        ticks = iter(range(1000, 2000))
        run.runtime = Runtime(clock=lambda: float(next(ticks)))
        assert [s.timestamp for s in run] == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0, 1005.0]


class TestRecording:
    def test_each_message_is_written_once(self, compose_config: Compose, tmp_path: Path) -> None:
        """A step's prompt refers to the response and the text tool outputs its previous record holds instead of repeating them."""
        record(build_run(compose_config()), tmp_path / "t.jsonl")
        steps = [orjson.loads(line) for line in (tmp_path / "t.jsonl").read_bytes().splitlines()][1:-1]
        assert steps[0]["messages"]["new"][0]["role"] == "system"
        for before, after in zip(steps, steps[1:], strict=False):
            new = after["messages"]["new"]
            assert new[0] == {"ref": "response"}
            for index, call in enumerate(before["tool_calls"]):
                text = isinstance(call["output"], str) and call["error"] is None
                assert (new[index + 1] == {"ref": "tool_call", "index": index}) == text
                assert text or new[index + 1]["role"] == "tool"  # data outputs and errors are written as the message the model saw

    def test_version_1_traces_still_read_to_the_same_prompts(self, compose_config: Compose, tmp_path: Path) -> None:
        """A committed version-1 trace (every message in full) rebuilds the prompts a version-3 recording of the same run refers to.

        Each holds the state hashes of its own version's rule, and both rules are functions of the same states."""
        old = read_trace(Path(__file__).parent / "traces" / "invoices.jsonl")
        record(build_run(compose_config()), tmp_path / "t.jsonl")
        new = read_trace(tmp_path / "t.jsonl")
        assert (old.header["schema_version"], new.header["schema_version"]) == (1, SCHEMA_VERSION) == (1, 3)
        assert [list(p) for p in old.prompts] == [list(p) for p in new.prompts]
        states = [step.state for step in build_run(compose_config())]
        assert [s["state"]["sha256"] for s in old.steps] == [state_hash_rule(1)(state) for state in states]
        assert [s["state"]["sha256"] for s in new.steps] == [state.hash() for state in states]
        assert state_hash_rule(1)(states[-1]) != states[-1].hash()

    def test_every_step_reads_with_the_memory_it_left(self, compose_config: Compose, tmp_path: Path) -> None:
        """The writer leaves memory out where the step's updates explain it; reading fills it in, each step its own."""
        from agent.state import plain_copy
        from tracing.reader import TraceStream

        path = tmp_path / "t.jsonl"
        run = build_run(compose_config())
        with TraceWriter.create(path, header()) as writer:
            memories: list[dict[str, Any]] = []
            writer.record(run, lambda step: memories.append(plain_copy(step.state.memory)))
        assert any(memories) and any("memory" not in orjson.loads(line)["state"] for line in path.read_bytes().splitlines()[2:-1])
        whole = [plain_copy(step["state"]["memory"]) for step in read_trace(path).steps]  # kept: shared, persistent
        streamed = [dict(step["state"]["memory"]) for step, _ in TraceStream(path).steps()]  # let go: dict copies
        assert whole == streamed == memories

    def test_a_prompt_that_does_not_continue_the_previous_one_reads_whole(self, compose_config: Compose, tmp_path: Path) -> None:
        """A step record may start its prompt afresh (``kept`` short of the previous prompt): read and checked all the same."""
        path = tmp_path / "t.jsonl"
        record(build_run(compose_config()), path)
        whole = read_trace(path)
        lines = path.read_bytes().splitlines(keepends=True)
        step = orjson.loads(lines[2])
        step["messages"]["kept"], step["messages"]["new"] = 1, list(whole.prompts[1][1:])  # written afresh after the system prompt
        lines[2] = orjson.dumps(step) + b"\n"
        path.write_bytes(b"".join(lines))
        again = read_trace(path)  # prompts checked against their sha256
        assert [list(p) for p in again.prompts] == [list(p) for p in whole.prompts]
        assert list(read_trace(path, check_prompts=False).prompts[1]) == list(whole.prompts[1])

    def test_trace_holds_what_the_run_did(self, compose_config: Compose, tmp_path: Path) -> None:
        """Every step's tool calls, outputs, errors, prompt and state hash in the trace match the live run's."""
        live: list[Step] = list(build_run(compose_config()))
        outcome = record(build_run(compose_config()), tmp_path / "t.jsonl")
        trace = read_trace(tmp_path / "t.jsonl")
        assert len(trace.steps) == len(live) == outcome.steps
        for step, recorded, prompt in zip(live, trace.steps, trace.prompts, strict=True):
            assert recorded["index"] == step.index
            assert recorded["state"]["sha256"] == step.state.hash()
            assert recorded["state"]["memory"] == dict(step.state.memory)  # rebuilt from updates where left out
            assert list(prompt) == list(step.request.messages)
            assert recorded["tools"] == list(step.request.tools)
            assert recorded["response"]["message"] == step.response.message
            assert [(c["name"], c["arguments"], c["output"], c["error"]) for c in recorded["tool_calls"]] == [
                (r.call.name, r.call.arguments, r.output, r.error) for r in step.results
            ]
        assert trace.end["status"] == "finished" and trace.end["answer"] == outcome.answer
        assert not trace.cut_off and not trace.torn
        assert sum("memory" in line for line in (tmp_path / "t.jsonl").read_text().splitlines()[1:-1] if '"memory":{' in line) == 1

    def test_tracing_off_gives_the_same_answer_and_state_and_writes_nothing(self, compose_config: Compose, tmp_path: Path) -> None:
        """A traced and an untraced run end in the same state; the untraced one leaves no trace file."""
        traced = record(build_run(compose_config()), tmp_path / "t.jsonl")
        before = set(tmp_path.rglob("*.jsonl"))
        untraced = drive(build_run(compose_config()))
        assert (untraced.status, untraced.answer, untraced.state.hash()) == (traced.status, traced.answer, traced.state.hash())
        assert set(tmp_path.rglob("*.jsonl")) == before

    def test_every_record_fits_the_documented_json_schema(self, compose_config: Compose, tmp_path: Path) -> None:
        """tracing/trace.schema.json describes what the writer really writes."""
        record(build_run(compose_config()), tmp_path / "t.jsonl")
        schema = json.loads(resources.files("tracing").joinpath("trace.schema.json").read_text())
        kinds = []
        for _, rec in iter_records(tmp_path / "t.jsonl"):
            jsonschema.validate(rec, schema)
            kinds.append(rec["kind"])
        assert kinds == ["header", *["step"] * 6, "end"]

    def test_trace_size_grows_linearly_with_steps(self, tmp_path: Path) -> None:
        """With a history growing ~1 KB a step, twice the steps make about twice the bytes, not four times."""

        def echo(text: str) -> str:
            """Echo."""
            return text * 1000

        def size(n: int) -> int:
            script = [{"tool_calls": [{"name": "echo", "arguments": {"text": "x"}}]}] * n + [{"content": "done"}]
            run = AgentRun(
                state=start_state(system_prompt="s", prompt="p"),
                llm=ScriptedLLM(script=script),
                tools=Toolbox(workspace=tmp_path, tools={"echo": echo}),
                runtime=Runtime(),
                max_steps=n + 1,
            )
            record(run, tmp_path / f"{n}.jsonl")
            return (tmp_path / f"{n}.jsonl").stat().st_size

        small, large = size(100), size(200)
        assert 1.8 < large / small < 2.2

    def test_an_existing_trace_is_never_overwritten(self, tmp_path: Path) -> None:
        """Creating a trace where a file exists fails and leaves the file as it was."""
        path = tmp_path / "t.jsonl"
        path.write_text("precious\n")
        with pytest.raises(TraceError, match="already exists"):
            TraceWriter.create(path, header())
        assert path.read_text() == "precious\n"

    def test_secret_looking_config_values_are_redacted_in_the_header(self, tmp_path: Path) -> None:
        """Keys such as api_key, token or password never reach the trace with their values."""
        config = {"llm": {"api_key": "sk-live-123", "model": "m", "headers": {"Authorization": "Bearer abc"}}, "db_password": "hunter2"}
        TraceWriter.create(tmp_path / "t.jsonl", header(config)).close()
        text = (tmp_path / "t.jsonl").read_text()
        assert "sk-live-123" not in text and "Bearer abc" not in text and "hunter2" not in text
        written = orjson.loads(text)["config"]
        assert written["llm"] == {"api_key": REDACTED, "model": "m", "headers": {"Authorization": REDACTED}}

    def test_interrupted_run_ends_with_status_interrupted(self, compose_config: Compose, tmp_path: Path) -> None:
        """Ctrl-C during a recorded run still writes an end record saying so."""
        run = build_run(compose_config())
        calls = 0
        complete = run.llm.complete

        def interrupt_on_third(request):  # noqa: ANN001, ANN202
            nonlocal calls
            calls += 1
            if calls == 3:
                raise KeyboardInterrupt
            return complete(request)

        run.llm.complete = interrupt_on_third
        outcome = record(run, tmp_path / "t.jsonl")
        trace = read_trace(tmp_path / "t.jsonl")
        assert outcome.status == "interrupted" and len(trace.steps) == 2
        assert trace.end["status"] == "interrupted" and trace.end["steps"] == 2


def test_script_turn_with_repeat_is_played_that_many_times(tmp_path: Path) -> None:
    """repeat: N plays a turn N times in a row, then the script goes on."""
    script = [{"tool_calls": [{"name": "calculator", "arguments": {"expression": "1+1"}}], "repeat": 3}, {"content": "done"}]
    from agent.tools.calculator import calculator

    run = AgentRun(state=start_state(system_prompt="s", prompt="p"), llm=ScriptedLLM(script=script), tools=Toolbox(workspace=tmp_path, tools={"calculator": calculator}), runtime=Runtime(), max_steps=10)
    steps = list(run)
    assert [len(s.results) for s in steps] == [1, 1, 1, 0] and run.outcome.answer == "done"
    with pytest.raises(ValueError, match="repeat=0"):
        ScriptedLLM(script=[{"content": "x", "repeat": 0}])


def test_scripted_turn_depends_on_the_conversation_alone() -> None:
    """Counting incrementally along one growing history gives the turn a fresh backend finds for any prompt, forks included."""
    script = [{"content": f"turn {i}"} for i in range(6)]
    llm = ScriptedLLM(script=script)
    history = start_state(system_prompt="s", prompt="p").messages
    prompts = []
    for i in range(4):
        prompts.append(history)
        history = history.append({"role": "assistant", "content": f"turn {i}"}, {"role": "user", "content": "go on"})
    fork = prompts[2].append({"role": "assistant", "content": "elsewhere"})  # grows from an earlier prompt: not a continuation
    for prompt in [*prompts, fork, prompts[1], history, [dict(m) for m in history]]:
        request = LLMRequest(messages=prompt, tools=(), model="scripted", params={})
        assert llm.complete(request).message["content"] == ScriptedLLM(script=script).complete(request).message["content"]
    assert llm.complete(LLMRequest(messages=fork, tools=(), model="scripted", params={})).message["content"] == "turn 3"


def test_the_json_schema_and_the_readers_checks_describe_the_same_records() -> None:
    """trace.schema.json is tested equal to tracing.schema.RECORDS: the same record kinds, the same required fields."""
    from tracing.schema import RECORDS

    schema = json.loads(resources.files("tracing").joinpath("trace.schema.json").read_text())
    kinds = {ref["$ref"].rsplit("/", 1)[1] for ref in schema["oneOf"]}
    assert kinds == set(RECORDS)
    for kind in kinds:
        required = set(schema["$defs"][kind]["required"]) - {"kind"}
        probe = {"kind": kind}
        missing = RECORDS[kind](probe) or ""
        assert missing.lstrip(".").split(":")[0] in required, (kind, missing)
