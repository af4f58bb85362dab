"""Tools and the toolbox: the single place where a tool is called.

A tool is a Python function with annotated parameters and a docstring; the toolbox turns its
signature into the JSON schema the model sees and checks the model's arguments against it
(``agent.tools.schema``, through pydantic). Tools never change the agent's state: a tool that
needs to returns a ``ToolOutput`` with the update, and the loop applies it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent.frozen import fast_init
from agent.jsondata import NotJSONData, to_json_data
from agent.records import ToolCall, ToolResult
from agent.runtime import RuntimeView
from agent.tools.schema import CONTEXT_PARAMETER, ArgumentError, ToolArguments


class ToolError(Exception):
    """Raised by a tool for a failure the model should read (bad path, bad expression, ...)."""


@fast_init
@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a tool may know besides its arguments; a tool gets it by taking a ``ctx`` parameter."""

    workspace: Path
    """The folder the file tools are confined to."""
    memory: Mapping[str, Any]
    """The agent's memory, read-only."""
    runtime: RuntimeView
    """The run's clock and random generator, read-only (``Runtime(seed=0).view`` in a test)."""


@fast_init
@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What a tool returns when it also changes the agent's memory."""

    output: Any
    """The output the model sees."""
    memory: Mapping[str, Any] = field(default_factory=dict)
    """Memory keys to set (None deletes)."""


class Tools(Protocol):
    """A toolbox as the loop sees it (a Protocol)."""

    schemas: tuple[Mapping[str, Any], ...]
    """The JSON schema of each tool, sent to the model."""

    def call(self, call: ToolCall, *, memory: Mapping[str, Any], runtime: RuntimeView) -> ToolResult:
        """Run ``call``; every failure becomes a ToolResult with ``error`` set, never an exception."""
        ...


class Toolbox:
    """Dispatches tool calls by name to Python functions, confined to a workspace folder."""

    def __init__(self, *, workspace: str | Path, tools: Mapping[str, Callable[..., Any]]) -> None:
        self.workspace = Path(workspace)
        self.functions = dict(tools)
        # Per tool, all that a call needs, found with one lookup: the function, and its schema and argument check.
        self._dispatch = {name: (fn, ToolArguments(name, fn)) for name, fn in self.functions.items()}
        self.schemas = tuple(arguments.schema for _, arguments in self._dispatch.values())

    def call(self, call: ToolCall, *, memory: Mapping[str, Any], runtime: RuntimeView) -> ToolResult:
        """Validate and run one call; unknown tools, bad arguments and exceptions become error results."""
        started = _clock()
        entry = self._dispatch.get(call.name)
        if entry is None:
            return ToolResult(call=call, error=f"unknown tool {call.name!r}; available: {', '.join(self.functions)}")
        function, signature = entry
        try:
            arguments = signature.validate(call.arguments)
        except ArgumentError as err:
            return ToolResult(call=call, error=str(err))
        if signature.takes_context:
            arguments[CONTEXT_PARAMETER] = ToolContext(workspace=self.workspace, memory=memory, runtime=runtime)
        try:
            returned = function(**arguments)
        except Exception as err:  # a failing tool is something the model must see, not the end of the run
            error = str(err) if isinstance(err, ToolError) else f"{type(err).__name__}: {err}"
            return ToolResult(call=call, error=error, latency_s=_clock() - started)
        latency = _clock() - started
        output, memory = (returned.output, returned.memory) if isinstance(returned, ToolOutput) else (returned, {})
        try:  # the one place a tool's return becomes JSON data (agent/jsondata.py has the rule)
            output, memory = to_json_data(output), to_json_data(dict(memory), "memory")
        except NotJSONData as err:
            return ToolResult(call=call, error=f"tool {call.name!r} returned {err}", latency_s=latency)
        # Positional (call, output, error, memory_update, latency_s), as in the loop: keywords cost ~0.04 µs each, every call.
        return ToolResult(call, output, None, memory, latency)


_clock = time.perf_counter  # latency only; what the agent sees of time comes from the runtime
