"""What the model is told about a tool and how its arguments are checked, both from the function's type hints.

pydantic turns the signature into a standard JSON schema (``Literal``, ``Enum``, ``Optional``,
``list[str]``, ``dict[str, int]``, TypedDicts, dataclasses and pydantic models, defaults) and into
a validator built once per tool. Arguments are checked strictly, as JSON: ``"3"`` is not an
integer; an enum takes its values, a model or TypedDict takes an object. The tool receives the
validated values (enum members, model instances, ...). A pydantic model parameter is checked with
its own config, as everywhere else in its author's code.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any, NotRequired

import orjson

CONTEXT_PARAMETER = "ctx"
"""A tool parameter with this name receives the ToolContext and is not shown to the model."""

_MAX_PROBLEMS = 3  # per error message: enough to fix a call in one go, short enough for one line


class ArgumentError(ValueError):
    """The model's arguments for a tool do not fit its signature; the message is what the model reads."""


class ToolArguments:
    """One tool's JSON schema and argument check, built once from its signature and docstring.

    Raises ``TypeError`` naming the parameter when a parameter's annotation has no JSON schema, so a
    bad tool fails when the toolbox is built, not mid-run.
    """

    def __init__(self, name: str, function: Callable[..., Any]) -> None:
        # pydantic costs ~60 ms to import: paid by building a toolbox, not by commands that only read traces.
        import pydantic
        import pydantic_core
        from typing_extensions import TypedDict  # pydantic takes typing's only from Python 3.12

        target, bound_positional, bound_keywords = _unwrap(function)
        try:
            hints = typing.get_type_hints(target, include_extras=True)
        except (NameError, TypeError) as err:
            msg = f"cannot resolve the annotations of tool {name!r} ({err}); define the types it uses at module level"
            raise TypeError(msg) from None
        self.takes_context = False
        fields: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        for position, param in enumerate(inspect.signature(target).parameters.values()):
            if param.name == CONTEXT_PARAMETER:
                self.takes_context = True
                continue  # filled in by the toolbox, not by the model
            if position < bound_positional or param.name in bound_keywords:
                continue  # filled in by config (functools.partial), not by the model
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                msg = f"tool {name!r} takes {param} ({param.kind.description}); tools need named parameters so the model knows what to send"
                raise TypeError(msg)
            annotation = hints.get(param.name, Any)
            if param.default is param.empty:
                fields[param.name] = annotation
            else:
                fields[param.name] = NotRequired[annotation]
                defaults[param.name] = param.default
        # A TypedDict, so that validation returns the keyword arguments themselves, with absent optional
        # parameters left out: the function's own defaults apply, as they would in Python.
        arguments = TypedDict(f"{name}_arguments", fields)  # type: ignore[operator]
        arguments.__pydantic_config__ = pydantic.ConfigDict(strict=True, extra="forbid")  # type: ignore[attr-defined]
        try:
            adapter = pydantic.TypeAdapter(arguments)
            generated = adapter.json_schema(schema_generator=_compact_schema())
        except (pydantic.PydanticUserError, pydantic.PydanticUndefinedAnnotation) as err:
            raise TypeError(_unsupported(name, fields, err)) from None
        shown_defaults = {}
        for key, value in defaults.items():
            with contextlib.suppress(pydantic_core.PydanticSerializationError):  # a default with no JSON form is not shown, as pydantic does
                shown_defaults[key] = pydantic_core.to_jsonable_python(value)
        self.names = tuple(fields)
        required = [key for key in fields if key not in defaults]
        self.schema = _openai_tool(name, inspect.getdoc(target) or "", generated, required, shown_defaults)
        # For JSON-like types, checking the values orjson parsed is the same check as checking the text, and faster.
        self._check_parsed = adapter.validator.validate_python if _json_native(adapter.core_schema) else None
        self._check_text = adapter.validator.validate_json
        self._invalid = pydantic_core.ValidationError

    def validate(self, raw: str) -> dict[str, Any]:
        """The keyword arguments for the tool from the model's raw JSON ``raw``; ``ArgumentError`` when they do not fit."""
        try:
            # orjson is the JSON every other part of the harness reads and writes (trace, state hash):
            # a tool gets only what the trace can hold (no NaN, no 70-bit integers).
            parsed = orjson.loads(raw or "{}")
        except orjson.JSONDecodeError as err:
            msg = f"arguments are not valid JSON ({err}): {raw!r:.200}"
            raise ArgumentError(msg) from None
        try:
            if self._check_parsed:
                return self._check_parsed(parsed)  # type: ignore[no-any-return]
            return self._check_text(raw or "{}")  # type: ignore[no-any-return]
        except self._invalid as err:
            raise ArgumentError(_describe(err.errors(include_url=False, include_context=False), self.names)) from None


def tool_schema(name: str, function: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI ``tools`` entry for ``function``: description from its docstring, parameters from its signature."""
    return ToolArguments(name, function).schema


def _unwrap(function: Callable[..., Any]) -> tuple[Callable[..., Any], int, frozenset[str]]:
    """The function behind a ``functools.partial`` (as Hydra's ``_partial_`` makes), and what the partial binds."""
    if isinstance(function, functools.partial):  # partials of partials are flattened by functools itself
        return function.func, len(function.args), frozenset(function.keywords)
    return function, 0, frozenset()


def _openai_tool(name: str, doc: str, generated: dict[str, Any], required: list[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI ``tools`` entry: pydantic's property schemas, compacted, with the docstring's descriptions and the defaults."""
    docs = _param_docs(doc)
    properties: dict[str, Any] = {}
    for key, prop in generated.get("properties", {}).items():
        prop = _without_titles(prop)
        if key in docs:
            prop.setdefault("description", docs[key])  # a Field(description=...) is more specific than the docstring
        if key in defaults:
            prop["default"] = defaults[key]
        properties[key] = prop
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if "$defs" in generated:
        # Nested models and enums stay as pydantic names them, referenced as "#/$defs/Name": standard
        # JSON Schema, accepted by the OpenAI API, and needed for recursive models.
        parameters["$defs"] = {key: _without_titles(value) for key, value in generated["$defs"].items()}
    return {"type": "function", "function": {"name": name, "description": _summary(doc), "parameters": parameters}}


def _summary(doc: str) -> str:
    """The docstring's first paragraph, on one line."""
    first = doc.split("\n\n", 1)[0]
    first = re.split(r"^(?:Args|Arguments):\s*$", first, maxsplit=1, flags=re.MULTILINE)[0]
    return first.replace("\n", " ").strip()


def _param_docs(doc: str) -> dict[str, str]:
    """Descriptions of parameters from a Google-style ``Args:`` section; more-indented lines continue one."""
    section = re.search(r"^\s*(?:Args|Arguments):\s*\n((?:[ \t]+.*\n?)+)", doc, re.MULTILINE)
    if not section:
        return {}
    docs: dict[str, str] = {}
    name, indent = "", 0
    for line in section[1].splitlines():
        entry = re.match(r"^(\s+)(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", line)
        if entry and (not name or len(entry[1]) <= indent):
            name, indent = entry[2], len(entry[1])
            docs[name] = entry[3].strip()
        elif name:
            docs[name] = f"{docs[name]} {line.strip()}".strip()
    return docs


def _without_titles(node: Any) -> Any:
    """``node`` without "title" keys (pydantic adds one to every field, model and enum): noise in every prompt."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "title":
                continue
            if key in ("properties", "$defs", "patternProperties"):  # maps of names (a field may be called "title")
                out[key] = {name: _without_titles(schema) for name, schema in value.items()}
            elif key in ("default", "enum", "const", "examples"):  # values, not schemas
                out[key] = value
            else:
                out[key] = _without_titles(value)
        return out
    if isinstance(node, list):
        return [_without_titles(item) for item in node]
    return node


def _unsupported(name: str, fields: Mapping[str, Any], error: Exception) -> str:
    """The one-line message for a tool whose parameters have no JSON schema, naming the first such parameter."""
    import pydantic

    for key, annotation in fields.items():
        try:
            pydantic.TypeAdapter(annotation).json_schema()
        except (pydantic.PydanticUserError, pydantic.PydanticUndefinedAnnotation) as err:
            reason = str(err).splitlines()[0]
            return (
                f"parameter {key!r} of tool {name!r} is annotated {annotation!r}, which has no JSON schema ({reason}); "
                "use str, int, float, bool, Literal, an Enum, list[...], dict[str, ...], a TypedDict, a dataclass, a pydantic model or Any"
            )
    return f"the parameters of tool {name!r} have no JSON schema: {str(error).splitlines()[0]}"


@functools.cache
def _compact_schema() -> type:
    """pydantic's JSON schema generator without field titles, keys in the order pydantic writes them ("type" first)."""
    from pydantic.json_schema import GenerateJsonSchema

    class CompactSchema(GenerateJsonSchema):
        def field_title_should_be_set(self, schema: Any) -> bool:  # noqa: ARG002
            return False

        def sort(self, value: Any, parent_key: str | None = None) -> Any:  # noqa: ARG002
            return value

    return CompactSchema


# Python-strict validation of values parsed from JSON agrees with JSON-strict validation for these
# core schema types; an Enum, tuple, date, dataclass or model (instances in Python, plain JSON in
# JSON) needs the JSON check. tests/test_tool_schema.py fuzzes the agreement.
_NATIVE = frozenset({"any", "none", "bool", "int", "float", "str", "literal", "list", "dict", "nullable", "union", "default", "typed-dict", "typed-dict-field", "definitions", "definition-ref"})
_SCALARS = (str, int, float, bool, type(None))
_NOT_SCHEMAS = frozenset({"metadata", "serialization", "default", "expected", "config", "cls", "ref", "schema_ref"})


def _json_native(node: Any) -> bool:
    """Whether ``node`` (a pydantic core schema) checks only JSON-like types, so Python values may be checked."""
    if isinstance(node, dict):
        kind = node.get("type")
        if isinstance(kind, str):
            if kind not in _NATIVE:
                return False
            if kind == "literal" and not all(type(v) in _SCALARS for v in node["expected"]):
                return False  # an enum member as a literal: JSON sends its value
            if kind == "dict" and node.get("keys_schema", {}).get("type", "str") not in ("str", "any"):
                return False  # JSON keys are strings: dict[int, ...] converts them in JSON mode
        return all(_json_native(value) for key, value in node.items() if key not in _NOT_SCHEMAS)
    if isinstance(node, list | tuple):
        return all(_json_native(item) for item in node)
    return True


_JSON_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",  # the parsing and fractional cases come from lax models
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "bool_parsing": "a boolean",
    "float_type": "a number",
    "bool_type": "a boolean",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dataclass_type": "an object",
    "none_required": "null",
}
_JSON_KINDS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null", list: "array", dict: "object"}


def _describe(problems: list[Any], names: tuple[str, ...]) -> str:
    """One line for the model from pydantic's error list: what was expected, what came, for which argument."""
    unknown, missing, others = [], [], []
    for problem in problems:
        loc, kind = problem["loc"], problem["type"]
        if len(loc) == 1 and kind == "extra_forbidden":
            unknown.append(loc[0])
        elif len(loc) == 1 and kind == "missing":
            missing.append(loc[0])
        else:
            others.append(problem)
    parts = []
    if unknown:
        parts.append(f"unknown argument(s) {', '.join(sorted(unknown))}; expected: {', '.join(names) or 'none'}")
    if missing:
        parts.append(f"missing required argument(s): {', '.join(missing)}")
    parts += [_problem(problem) for problem in others[:_MAX_PROBLEMS]]
    if len(others) > _MAX_PROBLEMS:
        parts.append(f"and {len(others) - _MAX_PROBLEMS} more")
    return "; ".join(parts).replace("\n", " ")


def _problem(problem: Mapping[str, Any]) -> str:
    kind, loc = problem["type"], problem["loc"]
    if not loc and kind == "dict_type":
        return f"arguments must be a JSON object, got {_shown(problem['input'])}"
    where = f"argument {_path(loc)!r}" if loc else "arguments"
    if kind == "missing":
        return f"{where} is missing"
    if kind == "extra_forbidden":
        return f"{where} is not expected"
    message = problem["msg"]
    if kind in _JSON_WORDS:
        text = f" must be {_JSON_WORDS[kind]}"
    elif message.startswith("Input should be "):
        text = f" must be {message.removeprefix('Input should be ')}"
    else:
        text = f": {message.removeprefix('Value error, ')}"
    return f"{where}{text}, got {_shown(problem['input'])}"


def _path(loc: tuple[Any, ...]) -> str:
    """``("point", "x")`` -> ``point.x``; ``("tags", 2)`` -> ``tags[2]``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def _shown(value: Any) -> str:
    try:
        text = orjson.dumps(value, default=str).decode()
    except TypeError:  # orjson refuses some values (integers beyond 64 bits) even with default=str
        text = repr(value)
    text = text if len(text) <= 60 else f"{text[:57]}..."
    return f"{_JSON_KINDS.get(type(value), type(value).__name__)} {text}"
