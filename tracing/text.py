"""Text from a trace made safe for a terminal.

A trace may come from someone else, and what it holds (a model's answer, a tool's output, a file
name) reaches the terminal through inspect, diff, replay reports and error lines. A control
character there is an instruction to the terminal: ESC starts sequences that clear the screen,
move the cursor, set the window title or rewrite lines; CR and BS overwrite what was printed; NUL
and BEL do their own things. ``printable`` shows every such code point as an escape instead.
"""

from __future__ import annotations


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every code point that ``str.isprintable`` refuses written as a visible escape.

    That is every control character (C0 and C1: ESC as ``\\x1b``, NUL as ``\\x00``, newline,
    carriage return and tab as ``\\n``, ``\\r``, ``\\t``), format characters (bidirectional overrides, zero-width joiners),
    line and paragraph separators (``\\u2028``), lone surrogates, unassigned and private-use code
    points, and every space but the plain one. ``\\x`` for code points below 0x100, ``\\u`` for
    the rest of the first plane, ``\\U`` beyond. Backslashes are left as they are. Printable text
    (nearly all) is returned as it is, at the cost of one ``isprintable`` pass.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)
