"""The one agent loop: the single place where the LLM is called and tools are dispatched."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson

from agent.llm import LLM
from agent.records import LLMRequest, Outcome, Status, Step, ToolResult, Usage, recordable_result
from agent.runtime import Runtime
from agent.state import AgentState, History, with_update
from agent.tools import Tools


class Abort(Exception):
    """Raised by a backend to stop the run at once, instead of ending it with status error."""


def start_state(*, system_prompt: str, prompt: str) -> AgentState:
    """The state a run starts from: the system prompt and the task's prompt."""
    return AgentState(messages=History([{"role": "system", "content": system_prompt}, {"role": "user", "content": prompt}]))


def tool_message(result: ToolResult) -> dict[str, Any]:
    """The message that hands a tool's result (or error) back to the model."""
    if result.error is not None:
        content = f"error: {result.error}"
    elif isinstance(result.output, str):
        content = result.output
    else:
        content = orjson.dumps(result.output).decode()  # JSON data: the toolbox made it so (agent/jsondata.py)
    return {"role": "tool", "tool_call_id": result.call.id, "content": content}


class AgentRun:
    """One run of the agent: iterate it for its Steps; afterwards ``outcome`` says how it ended.

    The run ends on data: a final answer (a reply without tool calls), ``max_steps`` reached, or an
    LLM backend error. A tool that fails does not end it: the model sees the error.
    """

    def __init__(self, *, state: AgentState, llm: LLM, tools: Tools, runtime: Runtime, max_steps: int) -> None:
        self.state = state
        self.llm, self.tools, self.runtime = llm, tools, runtime
        self.max_steps = max_steps
        # Token totals as two counters, not a Usage summed each step: building a Usage costs ~0.3 µs a step.
        self._prompt_tokens = self._completion_tokens = 0
        self.failed_tool_calls = 0
        self.outcome: Outcome | None = None

    @property
    def usage(self) -> Usage:
        """Token totals of the steps so far."""
        return Usage(self._prompt_tokens, self._completion_tokens)

    def ending(self, status: Status, error: str | None = None) -> Outcome:
        """The Outcome of ending the run now, with ``status``."""
        return Outcome(status, self.state, error, self.usage, self.failed_tool_calls)

    def __iter__(self) -> Iterator[Step]:
        llm, tools, runtime = self.llm, self.tools, self.runtime
        view = runtime.view  # tools get the read-only view, never the Runtime itself
        while self.state.step < self.max_steps:
            state = self.state
            # Records are built with positional arguments in this loop: keywords cost ~0.04 µs each, a step.
            request = LLMRequest(state.messages, tools.schemas, llm.model, llm.params)
            timestamp = runtime.now()
            try:
                response = llm.complete(request)
            except Abort:
                raise
            except Exception as err:
                self.outcome = self.ending("error", error=f"LLM call failed: {type(err).__name__}: {err}")
                return
            usage = response.usage
            if usage is not None:
                self._prompt_tokens += usage.prompt_tokens
                self._completion_tokens += usage.completion_tokens
            # Each tool sees the memory the calls before it left; the step's messages and memory
            # become one new state at the end (one History.append, one AgentState per step).
            added, memory, results = [response.message], state.memory, []
            for call in response.tool_calls:
                result = recordable_result(tools.call(call, memory=memory, runtime=view))
                memory = with_update(memory, result.memory_update)
                added.append(tool_message(result))
                results.append(result)
                if result.error is not None:
                    self.failed_tool_calls += 1
            done = not response.tool_calls
            answer = response.message.get("content") if done else None
            state = AgentState(state.messages.append(*added), memory, state.step + 1, done, answer)
            self.state = state
            yield Step(state.step - 1, timestamp, request, response, tuple(results), state, runtime.take_reads())
            if done:
                self.outcome = self.ending("finished")
                return
        self.outcome = self.ending("max_steps")



def drive(run: AgentRun, each_step: Callable[[Step], object] = lambda step: None) -> Outcome:
    """Run ``run`` to its end, handing every step to ``each_step``; Ctrl-C ends it as interrupted."""
    try:
        for step in run:
            each_step(step)
    except KeyboardInterrupt:
        run.outcome = run.ending("interrupted")
    assert run.outcome is not None  # the loop sets it whenever it stops
    return run.outcome
