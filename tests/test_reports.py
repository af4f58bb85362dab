"""Reports point at the difference (issue 14): paths inside structured outputs, steps and calls by name,
a likely cause derived from what differs; closing lines count failed tool calls; one count of steps."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import orjson
import pytest
from omegaconf import OmegaConf

import agent_harness as ah
import tests.report_tools
from agent_harness.compose import compose
from tests.conftest import AGENT, agent
from tests.openai_server import TurnServer, counting_turns
from tracing.reader import read_trace

SCRIPT = [{"tool_calls": [{"name": "stats", "arguments": {"values": [3.7, 2.1]}}]}, {"content": "done"}]


def stats_run(tmp_path: Path) -> Path:
    """A recorded run whose one tool returns a dict."""
    config = compose(["allowed_targets=[tests]"]).config
    OmegaConf.set_struct(config, False)
    config.tools.tools = {"stats": {"_target_": "tests.report_tools.stats", "_partial_": True}}
    config.task.script = SCRIPT
    config.task.workspace_seed = None
    done = ah.run(config=config, trace=tmp_path / "t.jsonl", run_dir=tmp_path / "run")
    assert done.ok
    return done.trace


class TestStructuredOutputReport:
    def test_a_changed_structured_output_is_named_by_its_path_call_and_cause(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Today's tool sorts the other way: the report names step 0, call 0 stats(values=...), the path inside the JSON, and the tools as cause."""
        trace = stats_run(tmp_path)
        assert ah.replay(trace, "tools=live", "allowed_targets=[tests]", run_dir=tmp_path / "same").ok
        monkeypatch.setattr(tests.report_tools, "stats", tests.report_tools.stats_descending)  # same signature and docstring: only the output differs
        result = ah.replay(trace, "tools=live", "allowed_targets=[tests]", run_dir=tmp_path / "changed")
        divergence = result.divergence
        assert (divergence.step, divergence.call, divergence.what) == (0, 0, "state")
        assert divergence.call_text == "stats(values=[3.7,2.1])"
        rows = {d.path: (d.expected, d.actual) for d in divergence.found}
        assert rows["messages[3].content.sorted[0]"] == (2.1, 3.7)
        assert "tools=live" in divergence.likely_cause and "mixed mode" not in divergence.likely_cause
        report = str(result)
        assert report.splitlines()[0].startswith("replay DIVERGED at step 0, tool call 0 stats(values=[3.7,2.1])")
        assert "sha256" not in report and "digest" not in report  # a field explains it: no hash line

    def test_the_trace_diff_names_the_same_path(self, tmp_path: Path) -> None:
        """`agent trace diff` shows the change inside the tool's output (an edited copy of the trace)."""
        trace = stats_run(tmp_path)
        assert agent("trace", "edit", str(trace), "--step", "0", "--output", '{"count": 2, "sorted": [3.7, 2.1]}', "-o", "e.jsonl", cwd=tmp_path).returncode == 0
        diff = agent("trace", "diff", str(trace), "e.jsonl", cwd=tmp_path)
        assert "tool_calls[0].output.sorted[0]: 2.1 -> 3.7" in diff.stdout


def test_failed_tool_calls_are_counted_in_the_closing_lines(tmp_path: Path) -> None:
    """A run where every tool call failed still finishes, and says how many calls failed."""
    config = compose(["allowed_targets=[tests]"]).config
    OmegaConf.set_struct(config, False)
    config.tools.tools = {"fails": {"_target_": "tests.report_tools.fails", "_partial_": True}}
    config.task.script = [{"tool_calls": [{"name": "fails", "arguments": {"path": str(i)}}]} for i in range(3)] + [{"content": "gave up"}]
    config.task.workspace_seed = None
    done = ah.run(config=config, run_dir=tmp_path / "run")
    assert done.ok and done.failed_tool_calls == 3
    assert "3 tool calls failed (the model saw the errors; `agent trace inspect` shows them)" in done.lines()


def test_status_json_counts_the_steps_the_trace_holds_after_sigint(tmp_path: Path) -> None:
    """Ctrl-C while step 3's request is in flight: status.json, the end record and inspect all say 3 steps."""
    server = TurnServer(counting_turns(8), hold_from=3)
    with server.running():
        args = ["run", "llm=openai", f"llm.base_url={server.base_url}", "llm.model=m", "llm.max_retries=0", "--trace", "t.jsonl", "hydra.run.dir=run"]
        process = subprocess.Popen([AGENT, *args], cwd=tmp_path, env={**os.environ, "OPENAI_API_KEY": "k"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert server.arrived.wait(60)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        server.release()
    assert process.returncode == 1, err
    status = orjson.loads((tmp_path / "run" / "status.json").read_bytes())
    end = read_trace(tmp_path / "t.jsonl").end
    assert (status["status"], status["steps"]) == (end["status"], end["steps"]) == ("interrupted", 3)
    assert "interrupted after 3 steps" in out
    assert "end       interrupted after 3 steps" in agent("trace", "inspect", "t.jsonl", cwd=tmp_path).stdout


def test_a_sweep_with_a_job_that_ended_in_error_exits_1_naming_it(tmp_path: Path) -> None:
    """One job's model is unreachable (status error): the sweep runs both jobs, then exits 1 with one line naming the job."""
    result = agent("run", "-m", "llm=scripted,openai", "++llm.base_url=http://127.0.0.1:9/v1", "++llm.max_retries=0", "trace=true", cwd=tmp_path, env={**os.environ, "OPENAI_API_KEY": "k"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("agent: error: 1 job of the sweep did not finish: job 1 ended in error")
