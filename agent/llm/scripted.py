"""The offline default backend: answers from a script that the task provides."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from agent.records import LLMRequest, LLMResponse, ToolCall, response_from_message
from agent.state import History


class ScriptExhausted(RuntimeError):
    """The agent asked for more turns than the script has."""


class ScriptedLLM:
    """Plays a list of assistant turns, each either ``{content: text}`` or ``{tool_calls: [...]}``.

    A turn with ``repeat: N`` is played N times in a row (long runs for tests and benchmarks).
    The turn is picked from the conversation it is given (the number of assistant messages
    already in it), not from a counter of its own, so a resumed or forked run gets the same
    answer at the same point.
    """

    def __init__(self, *, script: Sequence[Mapping[str, Any]], model: str = "scripted", **params: Any) -> None:
        self.script = list(script)
        self._ends = []  # _ends[i]: how many turns the script has played once turn i is done
        for number, turn in enumerate(self.script):
            if not isinstance(turn, Mapping) or not ({"content", "tool_calls"} & turn.keys()):
                msg = f"script turn {number} is {turn!r}; expected a mapping with 'content' or 'tool_calls'"
                raise ValueError(msg)
            repeat = turn.get("repeat", 1)
            if not isinstance(repeat, int) or repeat < 1:
                msg = f"script turn {number} has repeat={repeat!r}; expected a whole number >= 1"
                raise ValueError(msg)
            self._ends.append((self._ends[-1] if self._ends else 0) + repeat)
        self.model = model
        self.params = dict(params)
        self._counted: tuple[History, int] | None = None  # the last prompt and its assistant messages

    def _assistant_messages(self, messages: Sequence[Mapping[str, Any]]) -> int:
        """How many assistant messages ``messages`` holds; counting only those added since the last prompt when it grew from it."""
        counted = self._counted
        if counted is not None and isinstance(messages, History) and messages.continues(counted[0]):
            count = counted[1] + sum(1 for m in messages.since(counted[0]) if m.get("role") == "assistant")
        else:
            count = sum(1 for m in messages if m.get("role") == "assistant")
        if isinstance(messages, History):
            self._counted = (messages, count)  # a cache: the count is still the conversation's, whatever came before
        return count

    def complete(self, request: LLMRequest) -> LLMResponse:
        """The script's turn for this point of the conversation."""
        turn_index = self._assistant_messages(request.messages)
        played = self._ends[-1] if self._ends else 0
        if turn_index >= played:
            msg = f"the script has {played} turns and the agent asked for turn {turn_index + 1}; add turns to the task's script or lower agent.max_steps"
            raise ScriptExhausted(msg)
        turn = self.script[bisect.bisect_right(self._ends, turn_index)]
        calls = tuple(
            ToolCall(
                id=f"call_{turn_index}_{i}",
                name=str(call["name"]),
                # A script may give arguments as data or as raw text (to play a malformed model).
                arguments=raw if isinstance(raw := call.get("arguments", {}), str) else orjson.dumps(raw).decode(),
            )
            for i, call in enumerate(turn.get("tool_calls") or ())
        )
        message: dict[str, Any] = {"role": "assistant", "content": turn.get("content")}
        if calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
            ]
        return response_from_message(message)  # the rule every backend's answer enters by (a script may hold any YAML value)
