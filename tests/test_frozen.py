"""Frozen records with a faster __init__ behave as the dataclasses they are."""

from __future__ import annotations

import dataclasses

import pytest

from agent.frozen import fast_init
from agent.records import LLMRequest, LLMResponse, Outcome, Step, ToolCall, ToolResult, Usage
from agent.state import AgentState
from agent.tools import ToolContext, ToolOutput

RECORDS = [LLMRequest, LLMResponse, Outcome, Step, ToolCall, ToolResult, Usage, AgentState, ToolContext, ToolOutput]


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    name: str
    count: int = 3
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True)
class Plain:
    name: str
    count: int = 3
    tags: list[str] = dataclasses.field(default_factory=list)


class TestFastInit:
    def test_builds_as_the_generated_init_does(self) -> None:
        """Positional, keyword and default arguments give the values the dataclass's own __init__ gives."""
        for args, kwargs in [(("a",), {}), (("a", 5), {}), ((), {"name": "a", "tags": ["x"]}), (("a",), {"count": 0, "tags": []})]:
            fast, plain = Sample(*args, **kwargs), Plain(*args, **kwargs)
            assert dataclasses.astuple(fast) == dataclasses.astuple(plain)
        assert repr(Sample("a")) == "Sample(name='a', count=3, tags=[])"

    def test_default_factory_gives_each_instance_its_own_value(self) -> None:
        """A default_factory is called per instance, never shared."""
        first, second = Sample("a"), Sample("b")
        assert first.tags == [] and first.tags is not second.tags

    def test_instances_stay_frozen_and_compare_by_value(self) -> None:
        """Assigning a field still raises; equal fields mean equal (and equally hashed) records."""
        sample = Sample("a")
        with pytest.raises(dataclasses.FrozenInstanceError):
            sample.name = "b"  # type: ignore[misc]
        assert Sample("a", 1) == Sample("a", 1) and hash(ToolCall("i", "n", "{}")) == hash(ToolCall("i", "n", "{}"))

    def test_missing_argument_is_a_type_error(self) -> None:
        """A required field left out fails as with any function call."""
        with pytest.raises(TypeError):
            Sample()  # type: ignore[call-arg]

    @pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
    def test_every_record_uses_it(self, cls: type) -> None:
        """The records built every step have the fast __init__ (it sets no field through __setattr__)."""
        assert "__setattr__" not in cls.__init__.__code__.co_names and dataclasses.is_dataclass(cls)

    def test_refuses_a_class_it_cannot_build(self) -> None:
        """A dataclass that is not frozen and slotted is refused with the reason."""
        with pytest.raises(TypeError, match="frozen, slotted dataclasses"):
            fast_init(dataclasses.dataclass(type("Loose", (), {"__annotations__": {"x": int}})))
