"""Tool outputs are JSON data by one rule (agent/jsondata.py), the same in every process whatever its hash seed."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson
import pytest

from agent.jsondata import NotJSONData, to_json_data
from agent.records import ToolCall, ToolResult, recordable_result
from agent.runtime import Runtime
from agent.tools import Toolbox, ToolOutput
from tests import odd_tools
from tests.conftest import agent
from tracing.reader import read_trace

REPO = Path(__file__).resolve().parent.parent


class TestToJsonData:
    @pytest.mark.parametrize("value", [None, True, 0, -(2**63), 2**64 - 1, 1.5, -0.0, "text", [1, [2, "x"]], {"a": {"b": [None]}}])
    def test_json_values_pass_as_they_are(self, value: Any) -> None:
        """JSON data comes back equal, and the very same object: a well-behaved tool's output is not copied."""
        assert to_json_data(value) is value

    def test_tuples_become_lists_and_subclasses_their_plain_values(self) -> None:
        """A tuple, a namedtuple, a StrEnum and an OrderedDict become list, list, str and dict."""
        converted = to_json_data({"pair": (1, ("a",)), "at": odd_tools.Point(1, 2), "colour": odd_tools.Colour.RED, "ordered": OrderedDict(b=1)})
        assert converted == {"pair": [1, ["a"]], "at": [1, 2], "colour": "red", "ordered": {"b": 1}}
        assert [type(v) for v in converted.values()] == [list, list, str, dict]

    def test_sets_of_strings_or_numbers_become_sorted_lists(self) -> None:
        """A set has no order; sorted, it has one that no hash seed changes."""
        assert to_json_data(odd_tools.TAGS) == sorted(odd_tools.TAGS)
        assert to_json_data({3, 1.5, True, -2}) == [-2, True, 1.5, 3]
        assert to_json_data(set()) == []

    def test_int_keys_become_their_text_unless_the_text_is_taken(self) -> None:
        """{2024: 7} is written {"2024": 7}, as JSON writers do; {1: .., "1": ..} is refused rather than merged."""
        assert to_json_data({2024: 7, "x": {1: 2}}) == {"2024": 7, "x": {"1": 2}}
        with pytest.raises(NotJSONData, match=r"int at output\[1\].*would become '1', which the dict already has"):
            to_json_data({1: "a", "1": "b"})

    @pytest.mark.parametrize(
        ("value", "words"),
        [
            (b"\x00", "bytes at output,"),
            (math.nan, "float at output, .*nan has no JSON form"),
            ([1, math.inf], r"float at output\[1\], .*inf has no JSON form"),
            ({"n": 2**64}, r"int at output\['n'\], .*fit in 64 bits"),
            ({"x": odd_tools.Opaque()}, r"Opaque at output\['x'\]"),
            ({1, "a"}, "set at output, .*only a set of strings or of numbers"),
            ({frozenset({1}), frozenset({2})}, "set at output, .*holds frozenset"),
            ({(1, 2): "pair"}, r"tuple at output\[\(1, 2\)\], .*a dict key must be a string"),
            ({True: 1}, r"bool at output\[True\]"),
            ({None: 1}, r"NoneType at output\[None\]"),
        ],
    )
    def test_anything_else_is_refused_with_its_type_and_place(self, value: Any, words: str) -> None:
        """Bytes, NaN, infinities, huge integers, objects, unsortable sets and odd keys are refused, never turned into text."""
        with pytest.raises(NotJSONData, match=words):
            to_json_data(value)


class TestSmallDictFastPath:
    """A flat dict of strings (the usual memory update) is checked by a quick pass; everything it lets through is JSON data."""

    @pytest.mark.parametrize("value", [{"k": "é ✓ \ud800"}, {"k": "a", "n": 2**64 - 1, "f": -0.0, "b": True, "z": None}, {"k": {"deep": ["x", {"y": 1}]}}, {}])
    def test_json_dicts_pass_as_they_are(self, value: dict[str, Any]) -> None:
        """Non-ASCII text and lone surrogates (cleaned later, by the loop), 64-bit ints and nested containers pass, the very same dict."""
        assert to_json_data(value, "memory") is value

    def test_a_str_subclass_value_becomes_a_plain_str(self) -> None:
        """A StrEnum member is not taken for a str by the quick pass: it is converted, as before."""
        converted = to_json_data({"colour": odd_tools.Colour.RED}, "memory")
        assert converted == {"colour": "red"} and type(converted["colour"]) is str

    @pytest.mark.parametrize(
        ("value", "words"),
        [
            ({"k": "a", "n": math.nan}, r"float at memory\['n'\], .*nan has no JSON form"),
            ({"k": "a", "n": 2**64}, r"int at memory\['n'\], .*fit in 64 bits"),
            ({"k": "a", "x": {"y": [math.inf]}}, r"float at memory\['x'\]\['y'\]\[0\], .*inf has no JSON form"),
            ({"k": "a", (1, 2): "pair"}, r"tuple at memory\[\(1, 2\)\], .*a dict key must be a string"),
            ({"k": "a", b"k": "v"}, r"bytes at memory\[b'k'\]"),
        ],
    )
    def test_what_is_not_json_is_refused_as_before(self, value: dict[Any, Any], words: str) -> None:
        """NaN, huge integers, deep infinities and odd keys beside plain strings are refused with their type and place."""
        with pytest.raises(NotJSONData, match=words):
            to_json_data(value, "memory")

    def test_an_int_key_beside_strings_becomes_its_text(self) -> None:
        """The quick pass refuses the int key; the conversion writes it as text, as before."""
        assert to_json_data({"k": "a", 3: "b"}, "memory") == {"k": "a", "3": "b"}


class TestRecordableResult:
    """The loop's check that a tool result can be recorded: a quick pass for plain results, the full walk for the rest."""

    def result(self, output: Any, update: dict[str, Any], error: str | None = None) -> ToolResult:
        return ToolResult(ToolCall("c", "t", "{}"), output, error, update, 0.0)

    @pytest.mark.parametrize("update", [{}, {"k": "ascii"}, {"k": "é ✓"}, {"n": 2**64 - 1, "f": 1.5, "b": False, "z": None}, {"k": {"nested": ["x"]}}])
    def test_a_recordable_result_is_returned_itself(self, update: dict[str, Any]) -> None:
        """Non-ASCII text, 64-bit ints and nested containers need no change: the same result comes back."""
        result = self.result("out ✓", update)
        assert recordable_result(result) is result

    def test_lone_surrogates_in_a_memory_value_are_replaced(self) -> None:
        """A lone surrogate, which UTF-8 cannot hold, becomes U+FFFD in the update; the other keys stay."""
        checked = recordable_result(self.result("out", {"a": "ok", "k": "x\ud800y"}))
        assert dict(checked.memory_update) == {"a": "ok", "k": "x\ufffdy"} and checked.output == "out"

    @pytest.mark.parametrize(
        ("update", "held"),
        [
            ({"a": "ok", "n": math.nan}, "a number that is not finite (nan)"),
            ({"a": "ok", "n": -(2**63) - 1}, "an integer beyond 64 bits"),
            ({"a": "ok", "x": {"y": [2**64]}}, "an integer beyond 64 bits"),
        ],
    )
    def test_an_unrecordable_memory_value_becomes_an_error_result(self, update: dict[str, Any], held: str) -> None:
        """NaN and integers beyond 64 bits, beside plain strings, make an error result with no memory update."""
        checked = recordable_result(self.result("out", update))
        assert checked.error == f"the tool's result cannot be recorded: it holds {held}"
        assert checked.output is None and not checked.memory_update


class TestToolboxAppliesTheRule:
    def toolbox(self, tmp_path: Path) -> Toolbox:
        tools = {name: getattr(odd_tools, name) for name in ("tags", "stats", "raw", "ratio", "opaque", "mixed")}
        return Toolbox(workspace=tmp_path, tools=tools | {"keep": lambda: ToolOutput("kept", memory={"seen": odd_tools.TAGS, 7: (1, 2)})})

    def call(self, toolbox: Toolbox, name: str) -> Any:
        return toolbox.call(ToolCall(id="c", name=name, arguments="{}"), memory={}, runtime=Runtime(seed=0).view)

    def test_outputs_and_memory_updates_are_converted(self, tmp_path: Path) -> None:
        """The toolbox hands back JSON data, output and memory update alike."""
        toolbox = self.toolbox(tmp_path)
        assert self.call(toolbox, "tags").output == sorted(odd_tools.TAGS)
        assert self.call(toolbox, "stats").output["by_year"] == {"2024": 7, "2023": 5}
        kept = self.call(toolbox, "keep")
        assert (kept.output, kept.memory_update) == ("kept", {"seen": sorted(odd_tools.TAGS), "7": [1, 2]})

    @pytest.mark.parametrize("name", ["raw", "ratio", "opaque", "mixed"])
    def test_a_value_that_is_not_json_becomes_an_error_the_model_reads(self, tmp_path: Path, name: str) -> None:
        """The error names the tool and the type; nothing of the value is recorded as text."""
        result = self.call(self.toolbox(tmp_path), name)
        kind = {"raw": "bytes", "ratio": "float", "opaque": "Opaque", "mixed": "set"}[name]
        assert result.output is None and result.error.startswith(f"tool {name!r} returned {kind} at output, which is not JSON data")


def odd_config(folder: Path) -> list[str]:
    """A task calling every odd tool, and a toolbox holding them, in a config folder of its own; the overrides that pick them."""
    conf = folder / "conf"
    (conf / "task").mkdir(parents=True)
    (conf / "tools").mkdir()
    names = ["tags", "stats", "raw", "ratio", "opaque", "mixed"]
    script = [{"tool_calls": [{"name": name, "arguments": {}} for name in names]}, {"content": "done"}]
    task = {"name": "odd", "system_prompt": "Look.", "prompt": "Describe the city.", "workspace_seed": None, "script": script}
    # The live tools come first: a plain replay lists today's live tools before the recorded ones.
    tools = {"defaults": ["live", "_self_"], "tools": {n: {"_target_": f"tests.odd_tools.{n}", "_partial_": True} for n in names}}
    (conf / "task" / "odd.yaml").write_bytes(orjson.dumps(task))  # JSON is YAML
    (conf / "tools" / "odd.yaml").write_bytes(orjson.dumps(tools))
    return [f"hydra.searchpath=[file://{conf}]", "task=odd", "tools=odd"]


def seeded(seed: int) -> dict[str, str]:
    """The environment of a process with this hash seed that can import the tests' tool module."""
    return {**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


SEEDS = (1, 2, 3, 4)


def test_set_bytes_nan_and_object_outputs_record_and_replay_alike_under_every_hash_seed(tmp_path: Path) -> None:
    """Recorded under PYTHONHASHSEED 1..4 the traces are the same; each replays under another seed, and with its tools run again under every seed."""
    show = [sys.executable, "-c", "from tests.odd_tools import tags; print(list(tags()))"]
    orders = {subprocess.run(show, env=seeded(s), capture_output=True, text=True, check=True).stdout for s in SEEDS}
    assert len(orders) > 1  # the set's own order does change with the seed: the test can fail
    overrides = odd_config(tmp_path)
    runs = [agent("run", *overrides, "--trace", f"t{s}.jsonl", cwd=tmp_path, env=seeded(s)) for s in SEEDS]
    assert [r.returncode for r in runs] == [0] * 4, [r.stderr for r in runs]
    calls = {c["name"]: c for c in read_trace(tmp_path / "t1.jsonl").steps[0]["tool_calls"]}
    assert calls["tags"]["output"] == sorted(odd_tools.TAGS) and calls["tags"]["error"] is None
    assert calls["stats"]["output"] == {"sizes": [1.5, 2, 3], "pair": [1, "a"], "colour": "red", "at": [1, 2], "by_year": {"2024": 7, "2023": 5}}
    for name, kind in (("raw", "bytes"), ("ratio", "float"), ("opaque", "Opaque"), ("mixed", "set")):
        assert calls[name]["output"] is None and calls[name]["error"].startswith(f"tool {name!r} returned {kind} at output, which is not JSON data")
    messages = read_trace(tmp_path / "t1.jsonl").prompts[1]
    assert orjson.loads(messages[3]["content"]) == sorted(odd_tools.TAGS)  # what the model read: the sorted list
    for seed in SEEDS[1:]:
        diff = agent("trace", "diff", "t1.jsonl", f"t{seed}.jsonl", cwd=tmp_path)
        assert diff.returncode == 0, diff.stdout
    replays = [agent("replay", "t1.jsonl", "tools=odd", "allowed_targets=[tests]", *overrides[:1], cwd=tmp_path, env=seeded(s)) for s in SEEDS]
    replays += [agent("replay", f"t{s}.jsonl", "allowed_targets=[tests]", cwd=tmp_path, env=seeded(s % 4 + 1)) for s in SEEDS]
    assert [r.stdout.split(" (")[0] for r in replays] == ["replay OK: 2 steps matched"] * 8, [r.stdout + r.stderr for r in replays]
