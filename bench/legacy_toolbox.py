"""The toolbox as it was before pydantic (commit 55838ea), kept as the baseline of bench_tools.py.

Its schemas came from a hand-written walk over annotations (str, int, float, bool, list, dict, Any,
Optional) and its argument check was a precompiled per-tool type test. Copied, not imported, so the
baseline does not move when agent/tools changes. Not used by the package.
"""

from __future__ import annotations

import functools
import inspect
import re
import time
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from agent.records import ToolCall, ToolResult
from agent.runtime import Runtime
from agent.tools import ToolContext, ToolError, ToolOutput

_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}
_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}
CONTEXT_PARAMETER = "ctx"
"""A tool parameter with this name receives the ToolContext and is not shown to the model."""


def _json_type(annotation: Any, where: str) -> dict[str, Any]:
    origin = typing.get_origin(annotation) or annotation
    if origin in _JSON_TYPES:
        return {"type": _JSON_TYPES[origin]}
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _json_type(members[0], where)
    if annotation is Any or annotation is inspect.Parameter.empty:
        return {}
    msg = f"{where} is annotated {annotation!r}; tool parameters must be str, int, float, bool, list, dict or Any"
    raise TypeError(msg)


def _param_docs(doc: str) -> dict[str, str]:
    """Descriptions of parameters from a Google-style ``Args:`` section."""
    section = re.search(r"^\s*Args:\s*\n((?:[ \t]+.*\n?)+)", doc, re.MULTILINE)
    if not section:
        return {}
    return {m[1]: m[2].strip() for m in re.finditer(r"^\s+(\w+)(?:\s*\([^)]*\))?:\s*(.+)$", section[1], re.MULTILINE)}


def tool_schema(name: str, function: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI ``tools`` entry for ``function``: description from its docstring, parameters from its signature."""
    bound = function.keywords if isinstance(function, functools.partial) else {}
    target = function.func if isinstance(function, functools.partial) else function
    doc = inspect.getdoc(target) or ""
    hints = typing.get_type_hints(target)
    docs = _param_docs(doc)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(target).parameters.values():
        if param.name == CONTEXT_PARAMETER or param.name in bound:
            continue  # filled in by the toolbox or by config, not by the model
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            msg = f"tool {name!r} takes *{param.name}; tools need named parameters so the model knows what to send"
            raise TypeError(msg)
        prop = _json_type(hints.get(param.name, param.annotation), f"parameter {param.name!r} of tool {name!r}")
        if param.name in docs:
            prop["description"] = docs[param.name]
        if param.default is param.empty:
            required.append(param.name)
        else:
            prop["default"] = param.default
        properties[param.name] = prop
    description = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required, "additionalProperties": False},
        },
    }


def check_arguments(schema: Mapping[str, Any], arguments: Any) -> str | None:
    """Why ``arguments`` do not fit the tool's ``schema``, or None when they do."""
    params = schema["function"]["parameters"]
    if not isinstance(arguments, dict):
        return f"arguments must be a JSON object, got {type(arguments).__name__}"
    properties = params["properties"]
    unknown = sorted(set(arguments) - set(properties))
    if unknown:
        return f"unknown argument(s) {', '.join(unknown)}; expected: {', '.join(properties) or 'none'}"
    missing = [p for p in params["required"] if p not in arguments]
    if missing:
        return f"missing required argument(s): {', '.join(missing)}"
    for key, value in arguments.items():
        expected = properties[key].get("type")
        if expected and not _CHECKS[expected](value):
            return f"argument {key!r} must be {expected}, got {type(value).__name__} {value!r:.60}"
    return None


def argument_check(schema: Mapping[str, Any]) -> Callable[[Any], str | None]:
    """``check_arguments`` for one tool, with what it needs looked up once: the toolbox runs it on every call."""
    params = schema["function"]["parameters"]
    names = frozenset(params["properties"])
    required = tuple(params["required"])
    typed = tuple((key, _CHECKS[prop["type"]]) for key, prop in params["properties"].items() if prop.get("type"))

    def check(arguments: Any) -> str | None:
        if type(arguments) is not dict or not arguments.keys() <= names:
            return check_arguments(schema, arguments)
        for key in required:
            if key not in arguments:
                return check_arguments(schema, arguments)
        for key, test in typed:
            if key in arguments and not test(arguments[key]):
                return check_arguments(schema, arguments)
        return None

    return check


class LegacyToolbox:
    """``agent.tools.Toolbox`` before pydantic: same constructor, schemas and ``call``."""

    def __init__(self, *, workspace: str | Path, tools: Mapping[str, Callable[..., Any]]) -> None:
        self.workspace = Path(workspace)
        self.functions = dict(tools)
        self.schemas = tuple(tool_schema(name, fn) for name, fn in self.functions.items())
        self._dispatch = {
            schema["function"]["name"]: (fn, argument_check(schema), _takes_context(fn)) for schema, fn in zip(self.schemas, self.functions.values(), strict=True)
        }

    def call(self, call: ToolCall, *, memory: Mapping[str, Any], runtime: Runtime) -> ToolResult:
        """Validate and run one call; unknown tools, bad arguments and exceptions become error results."""
        started = _clock()
        entry = self._dispatch.get(call.name)
        if entry is None:
            return ToolResult(call=call, error=f"unknown tool {call.name!r}; available: {', '.join(self.functions)}")
        function, check, wants_context = entry
        try:
            arguments = orjson.loads(call.arguments or "{}")
        except orjson.JSONDecodeError as err:
            return ToolResult(call=call, error=f"arguments are not valid JSON ({err}): {call.arguments!r:.200}")
        problem = check(arguments)
        if problem:
            return ToolResult(call=call, error=problem)
        if wants_context:
            arguments[CONTEXT_PARAMETER] = ToolContext(workspace=self.workspace, memory=memory, runtime=runtime)
        try:
            returned = function(**arguments)
        except Exception as err:  # a failing tool is something the model must see, not the end of the run
            error = str(err) if isinstance(err, ToolError) else f"{type(err).__name__}: {err}"
            return ToolResult(call=call, error=error, latency_s=_clock() - started)
        latency = _clock() - started
        if isinstance(returned, ToolOutput):
            return ToolResult(call=call, output=returned.output, memory_update=dict(returned.memory), latency_s=latency)
        return ToolResult(call=call, output=returned, latency_s=latency)


_clock = time.perf_counter


def _takes_context(function: Callable[..., Any]) -> bool:
    return CONTEXT_PARAMETER in inspect.signature(function).parameters
