"""The help desk's tools: plain functions with type hints and an ``Args:`` docstring.

The harness builds the JSON schema the model sees from each signature, checks the model's arguments
against it, and hands a tool that takes ``ctx`` the run's workspace (a fresh copy of the task's
seed folder) and a read-only view of the agent's memory. A tool changes the agent's memory only by
returning ``ToolOutput(output, memory={...})``; the loop applies it, so a replay reproduces it.
"""

from __future__ import annotations

import csv
import re
from enum import Enum
from typing import Any, Literal

from agent.tools import ToolContext, ToolError, ToolOutput


class Priority(Enum):
    """How soon a ticket must be answered."""

    LOW = "low"
    NORMAL = "normal"
    URGENT = "urgent"


def lookup_order(ctx: ToolContext, order_id: str) -> dict[str, Any]:
    """Look up an order in the shop's order book (orders.csv in the workspace).

    Args:
        order_id: the order number, such as A-1001.
    """
    with (ctx.workspace / "orders.csv").open(newline="", encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            if row["order_id"] == order_id:
                return {
                    "order_id": row["order_id"],
                    "customer": row["customer"],
                    "item": row["item"],
                    "total_eur": float(row["total_eur"]),
                    "status": row["status"],
                    "days_in_transit": int(row["days_in_transit"]),
                }
    msg = f"no order {order_id!r} in orders.csv; order numbers look like A-1001"
    raise ToolError(msg)


def search_kb(ctx: ToolContext, query: str) -> str:
    """Search the help-center articles (kb/*.md in the workspace) and return the best match.

    Args:
        query: words to look for, such as "refund broken".
    """
    words = set(re.findall(r"[a-z]+", query.lower()))
    best, best_score = None, 0
    for article in sorted((ctx.workspace / "kb").glob("*.md")):
        text = article.read_text(encoding="utf-8")
        score = len(words & set(re.findall(r"[a-z]+", text.lower())))
        if score > best_score:
            best, best_score = (article, text), score
    if best is None:
        msg = f"no article matches {query!r}; try other words"
        raise ToolError(msg)
    article, text = best
    return f"{article.relative_to(ctx.workspace)}:\n{text.strip()}"


def set_priority(ticket_id: str, priority: Priority, reason: str) -> ToolOutput:
    """Set a ticket's priority; the agent remembers it for the rest of the run.

    Args:
        ticket_id: the ticket, such as T-1001.
        priority: how soon the ticket must be answered.
        reason: why, in a few words.
    """
    return ToolOutput(
        output=f"ticket {ticket_id} is now {priority.value} ({reason})",
        memory={"ticket": ticket_id, "priority": priority.value},
    )


def send_reply(ctx: ToolContext, ticket_id: str, body: str, tone: Literal["friendly", "formal"] = "friendly") -> str:
    """Write the reply to a ticket into the outbox (outbox/TICKET.md in the workspace).

    Args:
        ticket_id: the ticket being answered.
        body: the text of the reply, without greeting.
        tone: friendly or formal greeting.
    """
    if not re.fullmatch(r"T-\d+", ticket_id):
        msg = f"ticket id {ticket_id!r} is not a ticket number; ticket numbers look like T-1001"
        raise ToolError(msg)
    greeting = "Hi there," if tone == "friendly" else "Dear customer,"
    outbox = ctx.workspace / "outbox"
    outbox.mkdir(exist_ok=True)
    reply = outbox / f"{ticket_id}.md"
    text = f"{greeting}\n\n{body}\n"
    reply.write_text(text, encoding="utf-8")
    return f"reply to {ticket_id} saved as outbox/{reply.name} ({len(text)} characters)"
