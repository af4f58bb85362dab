"""Tool schemas and argument checks, from type hints through pydantic."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, Optional

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic takes typing's only from Python 3.12

from agent.records import ToolCall
from agent.runtime import Runtime
from agent.tools import Toolbox, ToolContext
from agent.tools.calculator import calculator
from agent.tools.files import list_files, read_file, write_file
from agent.tools.memory import recall, remember
from agent.tools.schema import ArgumentError, ToolArguments, tool_schema

TRACES = Path(__file__).parent / "traces"


class Unit(enum.Enum):
    """A temperature unit."""

    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Point(BaseModel):
    x: int
    y: int = 0


class Tag(TypedDict):
    name: str
    weight: NotRequired[float]


@dataclasses.dataclass
class Window:
    start: datetime.date
    days: int


class Book(TypedDict):
    title: str  # a field called "title" stays: only pydantic's own titles are dropped


def convert(
    ctx: ToolContext,
    mode: Literal["fast", "exact"],
    unit: Unit,
    tags: list[str],
    counts: dict[str, int],
    tag: Tag,
    point: Point,
    note: Optional[str] = None,  # noqa: UP045 - Optional is one of the spellings tool authors use
    limit: Annotated[int, Field(ge=1, description="how many at most")] = 10,
    target: Unit = Unit.FAHRENHEIT,
) -> dict[str, Any]:
    """Convert temperatures.

    Everything below the first paragraph stays out of the tool's description.

    Args:
        mode: how to round.
        unit: the unit the values are in,
            continued on a second line.
        tags: labels for the result.
        limit: ignored: the Field description wins.
    """
    del ctx
    # What the tool was handed is kept for the test to look at; its output must be JSON data (agent/jsondata.py).
    RECEIVED.append({"mode": mode, "unit": unit, "tags": tags, "counts": counts, "tag": tag, "point": point, "note": note, "limit": limit, "target": target})
    return "converted"


RECEIVED: list[dict[str, Any]] = []


def call(toolbox: Toolbox, name: str, arguments: Any) -> Any:
    raw = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
    return toolbox.call(ToolCall(id="c1", name=name, arguments=raw), memory={}, runtime=Runtime().view)


VALID = {"mode": "fast", "unit": "celsius", "tags": ["a"], "counts": {"a": 1}, "tag": {"name": "n"}, "point": {"x": 1}}


class TestSchema:
    def test_schema_comes_from_signature_and_docstring(self) -> None:
        """Parameter types, defaults and descriptions reach the model; ctx does not."""
        schema = tool_schema("list_files", list_files)["function"]
        assert schema["description"].startswith("List the files under a folder")
        assert schema["parameters"]["properties"] == {"path": {"type": "string", "description": "folder to list, relative to the workspace.", "default": "."}}
        assert schema["parameters"]["required"] == []

    def test_rich_annotations_become_standard_json_schema(self) -> None:
        """Literal, Enum, Optional, list[str], dict[str, int], TypedDict and model parameters, defaults and docs."""
        function = tool_schema("convert", convert)["function"]
        assert function["description"] == "Convert temperatures."
        parameters = function["parameters"]
        assert parameters["properties"] == {
            "mode": {"enum": ["fast", "exact"], "type": "string", "description": "how to round."},
            "unit": {"$ref": "#/$defs/Unit", "description": "the unit the values are in, continued on a second line."},
            "tags": {"type": "array", "items": {"type": "string"}, "description": "labels for the result."},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "tag": {"$ref": "#/$defs/Tag"},
            "point": {"$ref": "#/$defs/Point"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "limit": {"type": "integer", "minimum": 1, "description": "how many at most", "default": 10},
            "target": {"$ref": "#/$defs/Unit", "default": "fahrenheit"},
        }
        assert parameters["required"] == ["mode", "unit", "tags", "counts", "tag", "point"]
        assert parameters["additionalProperties"] is False
        assert parameters["$defs"] == {
            "Unit": {"description": "A temperature unit.", "enum": ["celsius", "fahrenheit"], "type": "string"},
            "Tag": {"type": "object", "properties": {"name": {"type": "string"}, "weight": {"type": "number"}}, "required": ["name"], "additionalProperties": False},
            "Point": {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "integer", "default": 0}}, "required": ["x"]},
        }

    def test_pydantic_titles_are_dropped_but_a_field_called_title_stays(self) -> None:
        """Titles are noise in every prompt; a parameter's own field named "title" is kept."""

        def shelve(book: Book) -> str:
            """Shelve a book."""
            return book["title"]

        schema = tool_schema("shelve", shelve)
        assert b'"title"' not in orjson.dumps(tool_schema("convert", convert))
        assert schema["function"]["parameters"]["$defs"]["Book"]["properties"] == {"title": {"type": "string"}}

    def test_partial_bound_parameters_are_hidden(self) -> None:
        """What config binds with functools.partial (by keyword or position) is not the model's to send."""

        def scale(factor: int, value: float, unit: str = "m") -> str:
            """Scale a value."""
            return f"{factor * value}{unit}"

        assert list(tool_schema("scale", functools.partial(scale, unit="km"))["function"]["parameters"]["properties"]) == ["factor", "value"]
        assert list(tool_schema("scale", functools.partial(scale, 3))["function"]["parameters"]["properties"]) == ["value", "unit"]

    def test_a_default_without_a_json_form_is_not_shown(self) -> None:
        """The parameter stays optional; only its default is left out of the schema, as pydantic does."""

        def stamp(text: str, clock: str = object()) -> str:  # type: ignore[assignment]  # noqa: B008
            """Stamp a text."""
            return text + str(clock)

        parameters = tool_schema("stamp", stamp)["function"]["parameters"]
        assert parameters["properties"]["clock"] == {"type": "string"} and parameters["required"] == ["text"]

    def test_built_in_tool_schemas_are_the_recorded_bytes(self) -> None:
        """The six built-in tools' schemas are byte for byte those in the committed golden traces."""
        recorded = next(orjson.loads(line) for line in (TRACES / "invoices.jsonl").read_bytes().splitlines() if b'"kind":"step"' in line)["tools"]
        built = [tool_schema(f.__name__, functools.partial(f)) for f in (calculator, list_files, read_file, write_file, remember, recall)]
        assert orjson.dumps(built) == orjson.dumps(recorded)

    def test_schemas_are_the_same_bytes_in_every_process(self) -> None:
        """Two processes with different hash seeds build the same schema bytes."""
        code = "import orjson, tests.test_tool_schema as t; from agent.tools.schema import tool_schema; print(orjson.dumps(tool_schema('convert', t.convert)).decode())"
        root = Path(__file__).parent.parent
        outputs = {
            subprocess.run([sys.executable, "-c", code], cwd=root, env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True).stdout
            for seed in ("1", "2")
        }
        assert len(outputs) == 1 and '"$defs"' in outputs.pop()

    @pytest.mark.parametrize(
        ("annotation", "problem"),
        [(ToolContext, "parameter 'when' of tool 'odd' is annotated"), (Runtime, "which has no JSON schema")],
    )
    def test_unsupported_annotation_is_refused_when_the_toolbox_is_built(self, tmp_path: Path, annotation: Any, problem: str) -> None:
        """A tool whose parameters cannot be described in JSON fails at start-up, not mid-run."""

        def odd(when: str) -> str:
            """Takes an odd type."""
            return when

        odd.__annotations__["when"] = annotation
        with pytest.raises(TypeError, match=problem):
            Toolbox(workspace=tmp_path, tools={"odd": odd})

    def test_var_and_positional_only_parameters_are_refused(self) -> None:
        """The model sends named arguments: *args, **kwargs and positional-only parameters cannot be filled."""

        def spread(*values: int) -> int:
            """Sum."""
            return sum(values)

        def positional(value: int, /) -> int:
            """Echo."""
            return value

        with pytest.raises(TypeError, match=r"tool 'spread' takes \*values"):
            tool_schema("spread", spread)
        with pytest.raises(TypeError, match="tool 'positional' takes value"):
            tool_schema("positional", positional)


class TestArguments:
    @pytest.fixture
    def toolbox(self, tmp_path: Path) -> Toolbox:
        return Toolbox(workspace=tmp_path, tools={"convert": convert})

    def test_the_tool_receives_validated_values(self, toolbox: Toolbox) -> None:
        """An Enum member, a TypedDict's dict, a model instance; absent optional arguments take the function's defaults."""
        result = call(toolbox, "convert", VALID)
        assert result.error is None and result.output == "converted"
        assert RECEIVED[-1] == {
            "mode": "fast",
            "unit": Unit.CELSIUS,
            "tags": ["a"],
            "counts": {"a": 1},
            "tag": {"name": "n"},
            "point": Point(x=1, y=0),
            "note": None,
            "limit": 10,
            "target": Unit.FAHRENHEIT,
        }

    @pytest.mark.parametrize(
        ("change", "problem"),
        [
            ({"mode": "slow"}, "argument 'mode' must be 'fast' or 'exact', got string \"slow\""),
            ({"unit": "kelvin"}, "argument 'unit' must be 'celsius' or 'fahrenheit', got string \"kelvin\""),
            ({"tags": ["a", 2]}, "argument 'tags[1]' must be a string, got integer 2"),
            ({"counts": {"a": "1"}}, "argument 'counts.a' must be an integer, got string \"1\""),
            ({"tag": {}}, "argument 'tag.name' is missing"),
            ({"tag": {"name": "n", "colour": "red"}}, "argument 'tag.colour' is not expected"),
            ({"point": {"x": 1.5}}, "argument 'point.x' must be an integer, got number 1.5"),
            ({"limit": 0}, "argument 'limit' must be greater than or equal to 1, got integer 0"),
            ({"limit": "3"}, "argument 'limit' must be an integer, got string \"3\""),
            ({"limit": True}, "argument 'limit' must be an integer, got boolean true"),
            ({"note": 5}, "argument 'note' must be a string, got integer 5"),
        ],
    )
    def test_bad_arguments_name_the_argument_what_was_expected_and_what_came(self, toolbox: Toolbox, change: dict[str, Any], problem: str) -> None:
        """Nested paths, JSON type names, one line; the tool is not called."""
        result = call(toolbox, "convert", VALID | change)
        assert (result.output, result.error) == (None, problem)

    def test_several_problems_are_reported_at_once_on_one_line(self, toolbox: Toolbox) -> None:
        """The model can fix a call in one go; past three problems the rest are counted."""
        error = call(toolbox, "convert", {"mode": "slow", "unit": 1, "tags": [1, 2], "counts": [], "tag": {}, "point": {"x": 1}, "zz": 0}).error
        assert error == (
            "unknown argument(s) zz; expected: mode, unit, tags, counts, tag, point, note, limit, target; "
            "argument 'mode' must be 'fast' or 'exact', got string \"slow\"; argument 'unit' must be 'celsius' or 'fahrenheit', got integer 1; "
            "argument 'tags[0]' must be a string, got integer 1; and 3 more"
        )

    @pytest.mark.parametrize(
        ("raw", "problem"),
        [
            ('{"mode": NaN}', "arguments are not valid JSON"),
            ('{"key": "k", "value": Infinity}', "arguments are not valid JSON"),
            ("", "missing required argument(s): mode, unit, tags, counts, tag, point"),
            ("null", "arguments must be a JSON object, got null null"),
        ],
    )
    def test_only_json_the_trace_can_hold_is_accepted(self, toolbox: Toolbox, raw: str, problem: str) -> None:
        """Arguments are read with the trace's JSON reader: NaN and Infinity are refused; no arguments is {}."""
        assert problem in call(toolbox, "convert", raw).error

    def test_plain_and_json_only_types_are_both_converted(self) -> None:
        """Types a JSON value only stands for (tuple, date, dataclass, dict[int, ...]) arrive converted."""

        def plan(span: tuple[int, int], window: Window, by_day: dict[int, str]) -> str:
            """Plan."""
            return f"{span} {window} {by_day}"

        values = ToolArguments("plan", plan).validate('{"span": [1, 2], "window": {"start": "2026-01-02", "days": 3}, "by_day": {"1": "x"}}')
        assert values == {"span": (1, 2), "window": Window(start=datetime.date(2026, 1, 2), days=3), "by_day": {1: "x"}}


def typed(text: str, count: int, ratio: float, flag: bool, items: list, extra: dict, tags: list[str], counts: dict[str, int], mode: Literal["a", "b", 1], tag: Tag, number: float | int | str, anything: Any = None, opt: Optional[int] = 0) -> str:  # noqa: UP045, ARG001
    """A tool with every JSON-like parameter type."""
    return ""


INT64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # orjson reads larger integers as floats
JSON = st.recursive(
    st.none() | st.booleans() | INT64 | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
FITTING = st.fixed_dictionaries(  # mostly arguments that fit, so the passing path is explored too
    {
        "text": st.text(max_size=5),
        "count": INT64,
        "ratio": st.floats(allow_nan=False, allow_infinity=False) | INT64,
        "flag": st.booleans(),
        "items": st.lists(JSON, max_size=2),
        "extra": st.dictionaries(st.text(max_size=3), JSON, max_size=2),
        "tags": st.lists(st.text(max_size=2) | JSON, max_size=2),
        "counts": st.dictionaries(st.text(max_size=2), INT64 | JSON, max_size=2),
        "mode": st.sampled_from(["a", "b", 1, True, 1.0, "c"]),
        "tag": st.fixed_dictionaries({"name": st.text(max_size=2) | JSON}, optional={"weight": st.floats(allow_nan=False, allow_infinity=False) | JSON}),
        "number": JSON,
    },
    optional={"anything": JSON, "opt": INT64 | JSON},
)
NAMES = st.sampled_from(["text", "count", "ratio", "flag", "items", "extra", "tags", "counts", "mode", "tag", "number", "anything", "opt", "other"])
SHORTCUT = ToolArguments("typed", typed)
REFERENCE = ToolArguments("typed", typed)
REFERENCE._check_parsed = None  # the full check: pydantic's strict JSON mode on the raw text  # noqa: SLF001


def outcome(arguments: ToolArguments, raw: str) -> Any:
    try:
        return ("ok", arguments.validate(raw))
    except ArgumentError as err:
        return ("error", str(err))


class TestShortcut:
    def test_json_like_tools_take_the_shortcut_and_others_do_not(self) -> None:
        """Checking parsed values is used only where it is the same check as checking the JSON text."""
        assert SHORTCUT._check_parsed is not None  # noqa: SLF001
        assert ToolArguments("convert", convert)._check_parsed is None  # noqa: SLF001 - an Enum and a model need JSON mode

    @given(st.dictionaries(NAMES, JSON, max_size=12) | JSON | FITTING)
    def test_checking_parsed_values_agrees_with_checking_the_json_text(self, arguments: Any) -> None:
        """For JSON-like parameter types the shortcut accepts, converts and refuses exactly as the full check, with the same message."""
        raw = orjson.dumps(arguments).decode()
        assert repr(outcome(SHORTCUT, raw)) == repr(outcome(REFERENCE, raw))  # repr: 3 == 3.0 == True, but not for the tool


def test_reading_traces_does_not_import_pydantic() -> None:
    """pydantic is imported when a toolbox is built, not by the loop, the reader, inspect or diff."""
    code = "import sys, agent.loop, tracing.diff, tracing.inspection, tracing.replay; print(sorted(m for m in sys.modules if m.startswith('pydantic')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# Every spelling of the plain JSON types (agent/tools/schema.py's _plain), nested too.
PLAIN_TYPES = [
    str, int, float, bool, Any, None, list, dict, list[int], list[Any], dict[str, int], dict[str, Any], dict[Any, int],
    dict[str, list[str]], Optional[int], int | None, None | int, Optional[list[str]], Optional[Any],  # noqa: UP045
    Literal["x"], Literal["x", "y"], Literal[1, 2], Literal[True], Optional[Literal["a", "b"]],  # noqa: UP045
    list[dict[str, Optional[float]]], list[list[Optional[dict[str, Any]]]],  # noqa: UP045
]


def plain(text: str, count: int, ratio: float, flag: bool, items: list, extra: dict[str, Any], tags: list[str], counts: dict[str, int], mode: Literal["a", "b"], pick: Literal[1, 2], anything: Any = None, opt: Optional[int] = 0, nested: list[dict[str, list[int] | None]] | None = None) -> str:  # noqa: UP045, ARG001
    """A tool whose parameters are all plain JSON types, checked without pydantic's schema generator."""
    return ""


# Values a lax check would convert ("3" to 3, 1.0 to 1, "true" to True): a strict one refuses them.
TRICKY = st.sampled_from(["3", 3, 3.0, 1.5, True, 1, 0, "true", "1.5", "a", "x", None, [], {}, ["1"], {"a": "1"}, [None], {"a": None}])
PLAIN_FITTING = st.fixed_dictionaries(  # mostly arguments that fit, with now and then a value a lax check would take
    {
        "text": st.text(max_size=3) | TRICKY,
        "count": INT64 | TRICKY,
        "ratio": st.floats(allow_nan=False, allow_infinity=False) | TRICKY,
        "flag": st.booleans() | TRICKY,
        "items": st.lists(JSON, max_size=2) | TRICKY,
        "extra": st.dictionaries(st.text(max_size=2), JSON, max_size=2) | TRICKY,
        "tags": st.lists(st.text(max_size=2) | TRICKY, max_size=2),
        "counts": st.dictionaries(st.text(max_size=2), INT64 | TRICKY, max_size=2),
        "mode": st.sampled_from(["a", "b", "c", 1]) | TRICKY,
        "pick": st.sampled_from([1, 2, 3, "1", 1.0, True]),
    },
    optional={"anything": JSON, "opt": INT64 | TRICKY, "nested": st.lists(st.dictionaries(st.text(max_size=1), st.none() | st.lists(INT64 | TRICKY, max_size=2), max_size=2), max_size=2) | TRICKY},
)


class TestPlainTypes:
    """Plain JSON types skip pydantic's schema generator (~70 ms of imports) for pydantic_core alone: same schemas, same checks."""

    @pytest.mark.parametrize("annotation", PLAIN_TYPES, ids=repr)
    def test_plain_types_get_the_core_schema_and_json_schema_pydantic_makes(self, annotation: Any) -> None:
        from pydantic import TypeAdapter

        from agent.tools import schema

        hint = type(None) if annotation is None else annotation
        core, shown = schema._plain(hint)  # noqa: SLF001
        assert core == TypeAdapter(hint).core_schema
        for defaults in ({}, {"a": None}):
            fast = schema._plain_checks("t", {"a": hint}, defaults)  # noqa: SLF001
            full = schema._pydantic_checks("t", {"a": hint}, defaults)  # noqa: SLF001
            assert fast is not None and full[2]
            assert orjson.dumps(fast[0]["properties"]) == orjson.dumps(full[0]["properties"]) == orjson.dumps({"a": shown})

    @pytest.mark.parametrize("annotation", [Unit, Tag, Point, tuple[int, int], int | str, dict[int, str], Literal["a", 1], Annotated[int, Field(ge=1)], list[Unit]], ids=repr)
    def test_other_types_go_to_pydantic(self, annotation: Any) -> None:
        from agent.tools import schema

        assert schema._plain(annotation) is None  # noqa: SLF001

    def test_a_tool_of_plain_types_has_the_schema_pydantic_gives_it(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from agent.tools import schema

        fast = ToolArguments("plain", plain).schema
        monkeypatch.setattr(schema, "_plain_checks", lambda *_: None)
        assert orjson.dumps(fast) == orjson.dumps(ToolArguments("plain", plain).schema)

    @given(st.dictionaries(st.sampled_from(["text", "count", "ratio", "flag", "items", "extra", "tags", "counts", "mode", "pick", "anything", "opt", "nested", "other"]), JSON | TRICKY, max_size=14) | JSON | PLAIN_FITTING)
    def test_plain_checks_accept_convert_and_refuse_as_pydantic_does(self, arguments: Any) -> None:
        """The same outcome and message as pydantic's own validator checking the JSON text."""
        raw = orjson.dumps(arguments).decode()
        assert repr(outcome(PLAIN, raw)) == repr(outcome(PLAIN_REFERENCE, raw))

    def test_building_the_default_tools_does_not_import_pydantic(self) -> None:
        code = (
            "import sys; from agent.tools import Toolbox; from agent.tools.calculator import calculator; "
            "from agent.tools.files import list_files, read_file, write_file; from agent.tools.memory import recall, remember; "
            "Toolbox(workspace='.', tools=dict(calculator=calculator, list_files=list_files, read_file=read_file, write_file=write_file, remember=remember, recall=recall)); "
            "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('pydantic')}))"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert done.stdout.strip() == "['pydantic_core']"


PLAIN = ToolArguments("plain", plain)


def _reference(name: str, function: Any) -> ToolArguments:
    """``function``'s arguments checked by pydantic's own validator, on the JSON text."""
    from agent.tools import schema

    saved, schema._plain_checks = schema._plain_checks, lambda *_: None  # noqa: SLF001
    try:
        reference = ToolArguments(name, function)
    finally:
        schema._plain_checks = saved  # noqa: SLF001
    reference._check_parsed = None  # noqa: SLF001
    return reference


PLAIN_REFERENCE = _reference("plain", plain)
