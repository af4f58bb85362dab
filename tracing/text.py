"""Text from traces made safe for a terminal."""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with control characters and other unprintable code points shown as escapes (``\\x1b``); newlines kept."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\n" else c.encode("unicode_escape").decode("ascii") for c in text)
