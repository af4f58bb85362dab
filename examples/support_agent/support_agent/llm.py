"""An LLM backend of our own: a small rule-based "model" that works support tickets, deterministically.

Any class with ``model``, ``params`` and ``complete(request) -> LLMResponse`` is an LLM backend (the
``agent.llm.LLM`` protocol): select it with ``llm=keyword`` (conf/llm/keyword.yaml names this class
as ``_target_``), record runs with it and replay them like runs of the built-in backends.

Like a real chat model it sees only the request: it decides from the conversation what to do
next (which tools were called already, what they answered), never from a counter of its own, so a
forked or resumed run gets the same answer at the same point.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import orjson

from agent.records import LLMRequest, LLMResponse, ToolCall, Usage

PLAN = ("lookup_order", "search_kb", "set_priority", "send_reply")
"""The tools a ticket is worked with, in order."""

TOPICS = {  # a word of the ticket -> the words searched for in the help center (the first listed wins)
    "broken": "refund broken damaged",
    "damaged": "refund broken damaged",
    "refund": "refund",
    "late": "late delivery transit",
    "arrived": "late delivery transit",
    "warranty": "warranty faulty",
}


class KeywordLLM:
    """Works a ticket in four tool calls (look up the order, search the help center, set the priority,
    send a reply), then answers with a one-line summary.

    ``tone`` is the reply's tone (friendly or formal); ``urgent_words`` make a ticket urgent. Both are
    this model's "sampling parameters": they go into ``params`` and so into every recorded request.
    """

    def __init__(self, *, model: str = "keyword-1", tone: Literal["friendly", "formal"] = "friendly", urgent_words: Sequence[str] = ("broken", "damaged")) -> None:
        if tone not in ("friendly", "formal"):
            msg = f"tone={tone!r}; expected friendly or formal"
            raise ValueError(msg)
        self.model = model
        self.params: Mapping[str, Any] = {"tone": tone, "urgent_words": list(urgent_words)}

    def complete(self, request: LLMRequest) -> LLMResponse:
        """The next tool call of the plan, or the final answer once every tool has answered."""
        messages = list(request.messages)
        ticket = next((m["content"] for m in messages if m["role"] == "user"), "")
        answers = _tool_answers(messages)  # tool name -> the text it answered (or its error)
        offered = {tool["function"]["name"] for tool in request.tools}
        turn = sum(1 for m in messages if m["role"] == "assistant")
        no_order = answers.get("lookup_order", "").startswith("error:")  # nothing more to do but say so
        for name in () if no_order else PLAN:
            if name not in answers and name in offered:
                arguments = self._arguments(name, ticket, answers)
                call = ToolCall(id=f"call_{turn}_{name}", name=name, arguments=orjson.dumps(arguments).decode())
                # The assistant message in the OpenAI shape (appended to the history as is), and the same calls parsed.
                message = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}],
                }
                return LLMResponse(message=message, tool_calls=(call,), usage=_usage(messages, call.arguments))
        text = self._summary(ticket, answers)
        return LLMResponse(message={"role": "assistant", "content": text}, usage=_usage(messages, text))

    def _arguments(self, name: str, ticket: str, answers: Mapping[str, str]) -> dict[str, Any]:
        ticket_id = _find(r"T-\d+", ticket)
        if name == "lookup_order":
            return {"order_id": _find(r"A-\d+", ticket)}
        if name == "search_kb":
            words = set(re.findall(r"[a-z]+", ticket.lower()))
            topic = next((query for word, query in TOPICS.items() if word in words), ticket[:60])  # the first topic listed wins
            return {"query": topic}
        if name == "set_priority":
            urgent = [w for w in self.params["urgent_words"] if w in ticket.lower()]
            return {"ticket_id": ticket_id, "priority": "urgent" if urgent else "normal", "reason": f"mentions {urgent[0]}" if urgent else "routine"}
        order = orjson.loads(answers["lookup_order"])
        article = answers.get("search_kb", "")
        paragraphs = [" ".join(p.split()) for p in article.split("\n\n")[1:] if p.strip()]  # after the file name and title
        advice = paragraphs[0] if paragraphs else "We are looking into it."
        body = f"About your {order['item']} (order {order['order_id']}, {order['status']}): {advice}"
        return {"ticket_id": ticket_id, "body": body, "tone": self.params["tone"]}

    def _summary(self, ticket: str, answers: Mapping[str, str]) -> str:
        ticket_id = _find(r"T-\d+", ticket)
        if answers.get("lookup_order", "").startswith("error:"):
            return f"Ticket {ticket_id}: {answers['lookup_order']}"
        priority = re.search(r"is now (\w+)", answers.get("set_priority", ""))
        return f"Ticket {ticket_id} answered ({priority[1] if priority else 'no'} priority); the reply is in outbox/{ticket_id}.md."


def _tool_answers(messages: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """What each tool called so far answered, by tool name (from the tool messages and the calls they answer)."""
    names = {c["id"]: c["function"]["name"] for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or ()}
    return {names[m["tool_call_id"]]: m["content"] for m in messages if m["role"] == "tool" and m["tool_call_id"] in names}


def _find(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    return found[0] if found else "unknown"


def _usage(messages: Sequence[Mapping[str, Any]], answer: str) -> Usage:
    """Words in and out, as this model's token count."""
    words_in = sum(len(str(m.get("content") or "").split()) for m in messages)
    return Usage(prompt_tokens=words_in, completion_tokens=len(answer.split()))
