"""Resume: a run cut off by a kill, or interrupted, goes on from its trace without sending a recorded step again."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.conftest import AGENT, agent, one_line_error
from tests.openai_server import TurnServer, counting_turns
from tracing.reader import read_trace

KEY = "sk-test-resume"
STEPS = 8


def live(server: TurnServer, *args: str) -> list[str]:
    return ["run", "llm=openai", f"llm.base_url={server.base_url}", "llm.model=test-model", "llm.max_retries=0", "task=invoices", *args]


def env() -> dict[str, str]:
    return {**os.environ, "OPENAI_API_KEY": KEY}


def start(server: TurnServer, folder: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([AGENT, *live(server, *args)], cwd=folder, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stopped_at(held: int, folder: Path, *, how: signal.Signals, args: tuple[str, ...] = ()) -> tuple[TurnServer, Path]:
    """A run stopped by ``how`` while its request for step ``held`` is in flight (steps 0..held-1 recorded)."""
    server = TurnServer(counting_turns(STEPS), hold_from=held)
    server_context = server.running()
    server_context.__enter__()
    process = start(server, folder, "--trace", "t.jsonl", "hydra.run.dir=run", *args)
    assert server.arrived.wait(60), process.communicate(timeout=60)
    process.send_signal(how)
    process.communicate(timeout=60)
    server.release()
    server.context = server_context  # type: ignore[attr-defined]
    return server, folder / "t.jsonl"


class TestResume:
    def test_kill_at_ten_random_moments_then_resume_sends_no_recorded_step_again(self, tmp_path: Path) -> None:
        """After kill -9 with step K in flight, resume sends steps K.. only, finishes, and the trace replays whole."""
        moments = random.Random(15).choices(range(STEPS), k=10)
        for number, held in enumerate(moments):
            folder = tmp_path / f"kill-{number}"
            folder.mkdir()
            server, trace = stopped_at(held, folder, how=signal.SIGKILL)
            try:
                assert len(read_trace(trace).steps) == held and read_trace(trace).cut_off
                sent_before = len(server.requests)
                resumed = agent("resume", str(trace), cwd=folder, env=env())
                assert resumed.returncode == 0, resumed.stderr
                assert f"resumed: steps 0-{held - 1} replayed from the trace" in resumed.stdout
                assert [r["turn"] for r in server.requests[sent_before:]] == list(range(held, STEPS))
            finally:
                server.context.__exit__(None, None, None)  # type: ignore[attr-defined]
            whole = read_trace(trace)
            assert len(whole.steps) == STEPS and whole.end["status"] == "finished" and whole.end["steps"] == STEPS
            assert [r["after_step"] for r in whole.resumes] == [held - 1]
            assert agent("replay", str(trace), cwd=folder).returncode == 0

    def test_interrupted_run_resumes_and_equals_an_uninterrupted_one(self, tmp_path: Path) -> None:
        """Ctrl-C ends a run interrupted; resume finishes it; `trace diff` finds it identical to a run never stopped."""
        server, trace = stopped_at(3, tmp_path, how=signal.SIGINT)
        try:
            assert read_trace(trace).end["status"] == "interrupted"
            assert agent("resume", str(trace), cwd=tmp_path, env=env()).returncode == 0
            whole_run = agent(*live(server, "--trace", "whole.jsonl", "hydra.run.dir=whole"), cwd=tmp_path, env=env())
            assert whole_run.returncode == 0, whole_run.stderr
        finally:
            server.context.__exit__(None, None, None)  # type: ignore[attr-defined]
        assert read_trace(trace).resumes[0]["reason"] == "interrupted"
        inspect = agent("trace", "inspect", str(trace), cwd=tmp_path)
        assert "resumed   after step 2 (interrupted)" in inspect.stdout and "end       finished after 8 steps" in inspect.stdout
        diff = agent("trace", "diff", str(trace), "whole.jsonl", cwd=tmp_path)
        assert diff.returncode == 0, diff.stdout

    def test_a_finished_run_is_never_resumed(self, tmp_path: Path) -> None:
        """Resuming a finished trace is refused with one line, exit 2, and the trace is left as it was."""
        assert agent("run", "--trace", "t.jsonl", cwd=tmp_path).returncode == 0
        before = (tmp_path / "t.jsonl").read_bytes()
        result = agent("resume", "t.jsonl", cwd=tmp_path)
        assert result.returncode == 2 and "already ended (finished after 6 steps)" in one_line_error(result)
        assert (tmp_path / "t.jsonl").read_bytes() == before


class TestRequeue:
    def test_resume_true_goes_on_with_the_unfinished_trace_of_the_same_config(self, tmp_path: Path) -> None:
        """A job started again with resume=true (a requeue) finishes its run; again, or with another config, it is refused."""
        server, trace = stopped_at(4, tmp_path, how=signal.SIGTERM, args=("resume=true",))
        try:
            other = agent(*live(server, "--trace", "t.jsonl", "hydra.run.dir=run", "resume=true", "task.prompt=Other."), cwd=tmp_path, env=env())
            assert other.returncode == 2 and "recorded with another config (task.prompt differ)" in one_line_error(other)
            sent_before = len(server.requests)
            again = agent(*live(server, "--trace", "t.jsonl", "hydra.run.dir=run", "resume=true"), cwd=tmp_path, env=env())
            assert again.returncode == 0, again.stderr
            assert [r["turn"] for r in server.requests[sent_before:]] == list(range(4, STEPS))
            finished = agent(*live(server, "--trace", "t.jsonl", "hydra.run.dir=run", "resume=true"), cwd=tmp_path, env=env())
            assert finished.returncode == 2 and "a finished one is never run again" in one_line_error(finished)
        finally:
            server.context.__exit__(None, None, None)  # type: ignore[attr-defined]
        assert agent("replay", "t.jsonl", cwd=tmp_path).returncode == 0
        assert orjson.loads((tmp_path / "t.jsonl").read_bytes().splitlines()[-1])["status"] == "finished"

    def test_without_resume_an_existing_trace_is_still_refused(self, tmp_path: Path) -> None:
        """The default stays: a trace path in the way is never written to."""
        assert agent("run", "--trace", "t.jsonl", "agent.max_steps=2", cwd=tmp_path).returncode == 1
        again = agent("run", "--trace", "t.jsonl", cwd=tmp_path)
        assert again.returncode == 2 and "already exists" in one_line_error(again)


@pytest.mark.parametrize("status", ["interrupted"])
def test_resume_of_a_sweep_folder_resumes_every_unfinished_job(tmp_path: Path, status: str) -> None:
    """`agent resume SWEEP` finds the jobs whose traces were cut off or interrupted and finishes each."""
    done = agent("run", "-m", "task=invoices,recipes", "trace=true", "agent.max_steps=3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (sweep,) = (tmp_path / "multirun").glob("*/*")
    for trace in sweep.glob("*/trace.jsonl"):  # make each job look interrupted after its third step
        lines = trace.read_bytes().splitlines()
        end = orjson.loads(lines[-1]) | {"status": "interrupted"}
        trace.write_bytes(b"\n".join([*lines[:-1], orjson.dumps(end)]) + b"\n")
    resumed = agent("resume", str(sweep), "agent.max_steps=20", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "2 unfinished jobs resumed, 2 finished" in resumed.stdout
    for trace in sweep.glob("*/trace.jsonl"):
        assert read_trace(trace).end["status"] == "finished"


def _cut_after_step_0(trace: Path) -> None:
    lines = trace.read_bytes().splitlines(keepends=True)
    trace.write_bytes(b"".join(lines[:2]))  # the header and step 0: as a kill after that step leaves it


def test_a_resumed_run_goes_on_live_with_the_collector_on_and_what_was_read_frozen(tmp_path: Path) -> None:
    """`agent resume` reads the trace with the cyclic collector paused, then turns it on for the live part, where tools run."""
    from tests.blocking_tools import environment

    tool = "tools.tools.read_file._target_=tests.odd_tools.collector_state"  # read_file runs at step 1 of the invoices task
    recorded = agent("run", "--trace", "t.jsonl", "hydra.run.dir=run", tool, cwd=tmp_path, env=environment())
    assert recorded.returncode == 0, recorded.stderr
    _cut_after_step_0(tmp_path / "t.jsonl")
    resumed = agent("resume", "t.jsonl", "allowed_targets=[tests.odd_tools]", cwd=tmp_path, env=environment())
    assert resumed.returncode == 0, resumed.stderr
    step_1 = orjson.loads((tmp_path / "t.jsonl").read_bytes().splitlines()[3])  # header, step 0, resume record, step 1
    assert step_1["index"] == 1 and step_1["tool_calls"][0]["output"] == {"enabled": True, "frozen": True}


def test_a_trace_read_unchecked_and_edited_is_not_resumed(tmp_path: Path) -> None:
    import agent_harness as ah
    from tracing.errors import TraceError

    trace = tmp_path / "t.jsonl"
    ah.run("task=invoices", trace=trace, run_dir=tmp_path / "run")
    lines = trace.read_bytes().splitlines(keepends=True)
    step = orjson.loads(lines[1])
    step["messages"]["new"][1]["content"] = "an edited task"
    trace.write_bytes(lines[0] + orjson.dumps(step) + b"\n")
    with pytest.raises(TraceError, match="step 0's prompt does not match its recorded sha256"):
        ah.resume(read_trace(trace, check_prompts=False))
    assert len(trace.read_bytes().splitlines()) == 2  # nothing appended
