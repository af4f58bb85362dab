"""The replay toolbox's tool schemas: built once per function, yet always today's schema of the tool as it is now."""

from __future__ import annotations

import functools
from unittest import mock

from agent.tools.schema import tool_schema
from tracing.replay import known_schema


def _note(text: str, times: int = 1) -> str:
    """Write a note.

    Args:
        text: what to write.
        times: how often.
    """
    return text * times


class TestKnownSchema:
    def test_is_the_tools_schema(self) -> None:
        """The remembered schema is the one tool_schema builds, for plain functions and partials alike."""
        assert known_schema("note", _note) == tool_schema("note", _note)
        assert known_schema("note", functools.partial(_note)) == tool_schema("note", functools.partial(_note))

    def test_hands_out_copies(self) -> None:
        """Changing a schema a replay got does not change the next replay's."""
        first = known_schema("note", _note)
        first["function"]["description"] = "changed"
        assert known_schema("note", _note) == tool_schema("note", _note)

    def test_follows_what_a_partial_binds_and_the_name(self) -> None:
        """A partial that binds a parameter hides it from the model; another name is another tool."""
        bound = known_schema("note", functools.partial(_note, times=2))
        assert "times" not in bound["function"]["parameters"]["properties"]
        assert "times" in known_schema("note", _note)["function"]["parameters"]["properties"]
        assert known_schema("other", _note)["function"]["name"] == "other"

    def test_builds_a_methods_schema_once_for_every_instance(self) -> None:
        """A tool that is a bound method (a new object at each access) is remembered by its function, without self."""

        class Notes:
            def note(self, text: str, times: int = 1) -> str:
                """Write a note.

                Args:
                    text: what to write.
                    times: how often.
                """
                return text * times

        first = known_schema("note", Notes().note)
        assert first == tool_schema("note", Notes().note) == tool_schema("note", _note)
        with mock.patch("tracing.replay.tool_schema", side_effect=AssertionError("built again")):
            assert known_schema("note", Notes().note) == first
        assert known_schema("note", Notes.note) != first  # the plain function takes self

    def test_sees_a_tool_changed_in_the_same_process(self) -> None:
        """A tool defined again (reloaded code) or given another docstring is described as it is now."""

        def tool(text: str) -> str:
            """Old words."""
            return text

        assert known_schema("tool", tool)["function"]["description"] == "Old words."
        tool.__doc__ = "New words."
        assert known_schema("tool", tool)["function"]["description"] == "New words."

        def tool(text: str, loud: bool = False) -> str:  # noqa: F811 - the same tool, edited
            """New words."""
            return text

        assert "loud" in known_schema("tool", tool)["function"]["parameters"]["properties"]
