"""The offline default backend: answers from a script that the task provides."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from agent.records import LLMRequest, LLMResponse, ToolCall


class ScriptExhausted(RuntimeError):
    """The agent asked for more turns than the script has."""


class ScriptedLLM:
    """Plays a list of assistant turns, each either ``{content: text}`` or ``{tool_calls: [...]}``.

    The turn is picked from the conversation it is given (the number of assistant messages
    already in it), not from a counter of its own, so a resumed or forked run gets the same
    answer at the same point.
    """

    def __init__(self, *, script: Sequence[Mapping[str, Any]], model: str = "scripted", **params: Any) -> None:
        for number, turn in enumerate(script):
            if not isinstance(turn, Mapping) or not ({"content", "tool_calls"} & turn.keys()):
                msg = f"script turn {number} is {turn!r}; expected a mapping with 'content' or 'tool_calls'"
                raise ValueError(msg)
        self.script = list(script)
        self.model = model
        self.params = dict(params)

    def complete(self, request: LLMRequest) -> LLMResponse:
        """The script's turn for this point of the conversation."""
        turn_index = sum(1 for m in request.messages if m.get("role") == "assistant")
        if turn_index >= len(self.script):
            msg = (
                f"the script has {len(self.script)} turns and the agent asked for turn {turn_index + 1}; "
                "add turns to the task's script or lower agent.max_steps"
            )
            raise ScriptExhausted(msg)
        turn = self.script[turn_index]
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
        return LLMResponse(message=message, tool_calls=calls)
