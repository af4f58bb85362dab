"""Tools, their schemas and the toolbox."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from agent.llm.scripted import ScriptedLLM
from agent.loop import AgentRun, start_state
from agent.records import ToolCall
from agent.runtime import Runtime
from agent.tools import Toolbox, ToolContext, ToolError, ToolOutput
from agent.tools.calculator import calculator
from agent.tools.files import list_files, read_file, write_file
from agent.tools.memory import recall, remember


def call(toolbox: Toolbox, name: str, arguments: Any, memory: dict[str, Any] | None = None):  # noqa: ANN201
    raw = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
    return toolbox.call(ToolCall(id="c1", name=name, arguments=raw), memory=memory or {}, runtime=Runtime().view)


@pytest.fixture
def toolbox(tmp_path: Path) -> Toolbox:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "notes.txt").write_text("hello")
    tools = {f.__name__: f for f in (calculator, list_files, read_file, write_file, remember, recall)}
    return Toolbox(workspace=workspace, tools=tools)


class TestWorkspaceConfinement:
    @pytest.mark.parametrize("tool", ["read_file", "write_file", "list_files"])
    @pytest.mark.parametrize("path", ["/etc/passwd", "../outside.txt", "sub/../../outside.txt"])
    def test_paths_outside_the_workspace_are_refused(self, toolbox: Toolbox, tool: str, path: str) -> None:
        """Absolute paths and .. escapes become error results and touch nothing outside."""
        arguments = {"path": path, "content": "x"} if tool == "write_file" else {"path": path}
        result = call(toolbox, tool, arguments)
        assert result.output is None
        assert "absolute" in result.error or "outside the workspace" in result.error
        assert not (toolbox.workspace.parent / "outside.txt").exists()

    def test_symlink_out_of_the_workspace_is_refused(self, toolbox: Toolbox, tmp_path: Path) -> None:
        """A symlink inside the workspace that points outside it cannot be read or written through."""
        secret = tmp_path / "secret.txt"
        secret.write_text("do not read")
        os.symlink(secret, toolbox.workspace / "link.txt")
        assert "outside the workspace" in call(toolbox, "read_file", {"path": "link.txt"}).error
        assert "outside the workspace" in call(toolbox, "write_file", {"path": "link.txt", "content": "x"}).error
        assert secret.read_text() == "do not read"

    def test_files_inside_the_workspace_are_read_written_and_listed(self, toolbox: Toolbox) -> None:
        """The file tools work on workspace-relative paths."""
        assert call(toolbox, "write_file", {"path": "out/report.md", "content": "total 5"}).error is None
        assert call(toolbox, "read_file", {"path": "out/report.md"}).output == "total 5"
        assert call(toolbox, "list_files", {}).output == ["notes.txt", "out/report.md"]


class TestCalculator:
    @pytest.mark.parametrize(
        ("expression", "value"),
        [("1200.00 + 349.99 + 89.50 + 2310.25", "3949.74"), ("0.1 + 0.2", "0.3"), ("300 * 6 / 4", "450"), ("-(2 ** 10) + 1024 % 7", "-1022"), ("7 // 2", "3")],
    )
    def test_computes_arithmetic_exactly(self, expression: str, value: str) -> None:
        """Decimal arithmetic: sums of prices come out exact."""
        assert calculator(expression) == value

    @pytest.mark.parametrize(
        "expression",
        ["__import__('os').system('true')", "open('x')", "x + 1", "[1, 2]", "'a' * 3", "1 if 1 else 2", "(lambda: 1)()", "2 ** 100000", "1 +"],
    )
    def test_refuses_anything_but_arithmetic(self, expression: str) -> None:
        """Names, calls, strings, containers and huge powers are refused with a ToolError, never evaluated."""
        with pytest.raises(ToolError):
            calculator(expression)

    def test_division_by_zero_is_a_tool_error(self) -> None:
        """The model is told, the run goes on."""
        with pytest.raises(ToolError, match="division by zero"):
            calculator("1 / (2 - 2)")


class TestToolbox:
    def test_unknown_tool_becomes_an_error_result(self, toolbox: Toolbox) -> None:
        """The model sees which tools exist."""
        result = call(toolbox, "delete_everything", {})
        assert "unknown tool 'delete_everything'" in result.error and "calculator" in result.error

    @pytest.mark.parametrize(
        ("arguments", "problem"),
        [
            ("{not json", "not valid JSON"),
            ("[1, 2]", "arguments must be a JSON object, got array [1,2]"),
            ({}, "missing required argument(s): expression"),
            ({"expression": 5}, "argument 'expression' must be a string, got integer 5"),
            ({"expression": "1", "extra": 1}, "unknown argument(s) extra; expected: expression"),
        ],
    )
    def test_bad_arguments_become_error_results(self, toolbox: Toolbox, arguments: Any, problem: str) -> None:
        """Malformed or ill-typed arguments are reported to the model, the tool is not called."""
        result = call(toolbox, "calculator", arguments)
        assert result.output is None and problem in result.error

    def test_a_tool_that_raises_becomes_an_error_result(self, tmp_path: Path) -> None:
        """An unexpected exception names its type; the toolbox does not raise."""

        def broken(x: int) -> int:
            """Always fails."""
            raise KeyError(x)

        result = call(Toolbox(workspace=tmp_path, tools={"broken": broken}), "broken", {"x": 3})
        assert result.error == "KeyError: 3"

    def test_memory_tools_return_updates_and_never_touch_memory(self, toolbox: Toolbox) -> None:
        """remember returns an update; recall reads the memory it is handed."""
        memory: dict[str, Any] = {}
        stored = call(toolbox, "remember", {"key": "total", "value": "5"}, memory)
        assert stored.memory_update == {"total": "5"} and memory == {}
        assert call(toolbox, "recall", {"key": "total"}, {"total": "5"}).output == "5"
        assert "nothing remembered under 'total'" in call(toolbox, "recall", {"key": "total"}, {}).error

    def test_tool_output_carries_memory(self) -> None:
        """ToolOutput is how a tool asks for a state change."""
        assert remember("k", 1) == ToolOutput(output="remembered k", memory={"k": 1})


class TestRuntimeView:
    def test_a_tool_reads_the_clock_and_rng_but_cannot_rewrite_the_runtime(self, tmp_path: Path) -> None:
        """ctx.runtime is a read-only view: reads are recorded with the step; clock, seed and reads stay the run's."""
        seen: dict[str, Any] = {}

        def meddle(ctx: ToolContext) -> str:
            """Tries to change what it should only read."""
            seen["now"], seen["draw"] = ctx.runtime.now(), ctx.runtime.rng.random()
            for name, value in (("now", lambda: 0.0), ("rng", None), ("seed", 9)):
                with pytest.raises(AttributeError):  # frozen: FrozenInstanceError is an AttributeError
                    setattr(ctx.runtime, name, value)
            seen["has_reads"] = hasattr(ctx.runtime, "reads") or hasattr(ctx.runtime, "take_reads")
            return "tried"

        ticks = iter(float(n) for n in range(100, 200))
        runtime = Runtime(seed=5, clock=lambda: next(ticks))
        script = [{"tool_calls": [{"name": "meddle", "arguments": {}}]}, {"content": "done"}]
        run = AgentRun(state=start_state(system_prompt="s", prompt="p"), llm=ScriptedLLM(script=script), tools=Toolbox(workspace=tmp_path, tools={"meddle": meddle}), runtime=runtime, max_steps=3)
        steps = list(run)
        assert run.outcome is not None and run.outcome.failed_tool_calls == 0
        assert seen == {"now": 101.0, "draw": Runtime(seed=5).rng.random(), "has_reads": False}
        assert steps[0].clock == (100.0, 101.0)  # the step's own timestamp read, then the tool's
        assert steps[1].clock == (102.0,) and runtime.seed == 5 and runtime.clock() == 103.0  # still the run's clock
