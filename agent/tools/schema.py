"""What the model is told about a tool and how its arguments are checked, both from the function's type hints.

pydantic turns the signature into a standard JSON schema (``Literal``, ``Enum``, ``Optional``,
``list[str]``, ``dict[str, int]``, TypedDicts, dataclasses and pydantic models, defaults) and into
a validator built once per tool. For plain JSON types (str, int, float, bool, None, Any, list,
dict, Optional, Literal) the same core schema is built here and handed to pydantic_core directly,
which saves importing pydantic's schema generator. Arguments are checked strictly, as JSON: ``"3"`` is not an
integer; an enum takes its values, a model or TypedDict takes an object. The tool receives the
validated values (enum members, model instances, ...). A pydantic model parameter is checked with
its own config, as everywhere else in its author's code.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import types
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
        import pydantic_core

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
            fields[param.name] = hints.get(param.name, Any)
            if param.default is not param.empty:
                defaults[param.name] = param.default
        generated, validator, native = _plain_checks(name, fields, defaults) or _pydantic_checks(name, fields, defaults)
        shown_defaults = {}
        for key, value in defaults.items():
            with contextlib.suppress(pydantic_core.PydanticSerializationError):  # a default with no JSON form is not shown, as pydantic does
                shown_defaults[key] = pydantic_core.to_jsonable_python(value)
        self.names = tuple(fields)
        required = [key for key in fields if key not in defaults]
        self.schema = _openai_tool(name, inspect.getdoc(target) or "", generated, required, shown_defaults)
        # For JSON-like types, checking the values orjson parsed is the same check as checking the text, and faster.
        self._check_parsed = validator.validate_python if native else None
        self._check_text = validator.validate_json
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


def _pydantic_checks(name: str, fields: Mapping[str, Any], defaults: Mapping[str, Any]) -> tuple[dict[str, Any], Any, bool]:
    """pydantic's JSON schema of the parameters, its validator, and whether that validator checks only JSON-like types."""
    # pydantic costs ~60 ms to import: paid by a toolbox with a parameter type beyond plain JSON (see _plain_checks).
    import pydantic
    from typing_extensions import TypedDict  # pydantic takes typing's only from Python 3.12

    # A TypedDict, so that validation returns the keyword arguments themselves, with absent optional
    # parameters left out: the function's own defaults apply, as they would in Python.
    typed = {key: NotRequired[annotation] if key in defaults else annotation for key, annotation in fields.items()}
    arguments = TypedDict(f"{name}_arguments", typed)  # type: ignore[operator]
    arguments.__pydantic_config__ = pydantic.ConfigDict(strict=True, extra="forbid")  # type: ignore[attr-defined]
    try:
        adapter = pydantic.TypeAdapter(arguments)
        generated = adapter.json_schema(schema_generator=_compact_schema())
    except (pydantic.PydanticUserError, pydantic.PydanticUndefinedAnnotation) as err:
        raise TypeError(_unsupported(name, typed, err)) from None
    return generated, adapter.validator, _json_native(adapter.core_schema)


def _plain_checks(name: str, fields: Mapping[str, Any], defaults: Mapping[str, Any]) -> tuple[dict[str, Any], Any, bool] | None:
    """What ``_pydantic_checks`` gives when every parameter has a plain JSON type (see ``_plain``), else None.

    Built from the core schemas pydantic makes for these types (tests/test_tool_schema.py holds them
    equal), straight on pydantic_core: its validator is the one pydantic would build, with the same
    errors, for ~12 ms of imports instead of pydantic's ~70 (a fifth of a minimal Hydra app's start-up).
    pydantic's plugins, which wrap the validators pydantic builds, do not see these.
    """
    from pydantic_core import SchemaValidator

    core: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for key, annotation in fields.items():
        plain = _plain(annotation)
        if plain is None:
            return None
        core[key] = {"type": "typed-dict-field", "schema": plain[0], "required": key not in defaults}
        properties[key] = plain[1]
    config = {"strict": True, "extra_fields_behavior": "forbid", "title": f"{name}_arguments"}
    validator = SchemaValidator({"type": "typed-dict", "fields": core, "extra_behavior": "forbid", "config": config}, config)  # type: ignore[arg-type]
    return {"properties": properties}, validator, True


_PLAIN_SCALARS: dict[Any, tuple[str, str]] = {str: ("str", "string"), int: ("int", "integer"), float: ("float", "number"), bool: ("bool", "boolean"), type(None): ("none", "null")}


def _plain(annotation: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """pydantic's core schema and (compact) JSON schema for a plain JSON type; None for any other type.

    Plain: str, int, float, bool, None, Any, list and list[T], dict and dict[str, T], T | None, and a
    Literal of values of one of str, int, bool, where T is plain too.
    """
    if annotation is Any:
        return {"type": "any"}, {}
    if isinstance(annotation, type) and annotation in _PLAIN_SCALARS:
        core, kind = _PLAIN_SCALARS[annotation]
        return {"type": core}, {"type": kind}
    if annotation is list or annotation is dict:
        annotation = annotation[Any] if annotation is list else dict[Any, Any]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and len(args) == 1 and (item := _plain(args[0])):
        return {"type": "list", "items_schema": item[0]}, {"type": "array", "items": item[1]}
    if origin is dict and len(args) == 2 and args[0] in (str, Any) and (value := _plain(args[1])):
        keys = "str" if args[0] is str else "any"
        return {"type": "dict", "keys_schema": {"type": keys}, "values_schema": value[0]}, {"type": "object", "additionalProperties": value[1] or True}
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        other = _plain(args[0] if args[1] is type(None) else args[1])
        return None if other is None else ({"type": "nullable", "schema": other[0]}, {"anyOf": [other[1], {"type": "null"}]})
    if origin is typing.Literal and len({type(value) for value in args}) == 1 and type(args[0]) in (str, int, bool):
        kind = _PLAIN_SCALARS[type(args[0])][1]
        shown = {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
        return {"type": "literal", "expected": list(args)}, {**shown, "type": kind}
    return None


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
