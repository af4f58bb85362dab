"""What a tool may return: JSON data, by one rule that cannot depend on the process.

The toolbox applies ``to_json_data`` to every tool's output and memory update, so a trace, the
message the model reads and the state hash hold the same data in every process, whatever its
hash seed:

- ``None``, ``bool``, ``str``, finite ``float`` and ``int`` within 64 bits pass as they are;
  lists and dicts pass with their items checked (dicts keep the order the tool built them in).
- A tuple becomes a list. A subclass of str, int, float, list, tuple or dict (a StrEnum, a
  namedtuple) becomes its plain base value; any other Enum member becomes its value, by the same
  rule (a tool that takes an Enum argument may hand the member back).
- A set or frozenset becomes a sorted list when its items are all strings or all numbers (a total
  order, so the result cannot depend on iteration order); any other set is refused.
- A dict key must be a string; an int key becomes its decimal text, as JSON writers do, unless
  that text is already a key of the same dict (then it is refused rather than merged).
- Anything else is refused: bytes, NaN and infinities, integers beyond 64 bits, other key types,
  custom objects. ``NotJSONData`` names the type and where it sits in the value (``output['raw']``).
"""

from __future__ import annotations

import enum
import math
from typing import Any

_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what orjson, the trace writer, can write
MAX_DEPTH = 64
"""Deepest nesting of containers a recorded value may have (tracing.schema refuses deeper on reading)."""


class NotJSONData(TypeError):
    """A value that is not JSON data by the rule of this module; the message names its type and place."""


class _Refused(Exception):
    """Raised deep in a value; each container on the way out adds its key, so paths cost nothing until a refusal."""

    def __init__(self, value: object, why: str) -> None:
        self.kind, self.why = type(value).__name__, why
        self.path: list[str] = []


def to_json_data(value: Any, where: str = "output") -> Any:
    """``value`` as JSON data (see the module's rule), or NotJSONData naming the type and its place under ``where``.

    Returns ``value`` itself when it already is JSON data, so a well-behaved tool's output is not copied.
    """
    if _plain(value):
        return value
    try:
        return _convert(value)
    except _Refused as refused:
        place = where + "".join(reversed(refused.path))
        msg = f"{refused.kind} at {place}, which is not JSON data ({refused.why})"
        raise NotJSONData(msg) from None


def _plain(value: Any) -> bool:
    """Whether ``value`` is JSON data already: one quick pass that builds nothing (most tools return such data)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return _INT_MIN <= value <= _INT_MAX
    if kind is float:
        return value - value == 0.0  # false for NaN and the infinities
    if kind is list:
        return all(map(_plain, value))
    if kind is dict:
        # A loop, not all() over a generator: most dicts here are a tool's small memory update of strings,
        # where setting up the generator cost more than the checks (~0.45 -> 0.15 µs for one key).
        for key, item in value.items():
            if type(key) is not str or (type(item) is not str and not _plain(item)):
                return False
        return True
    return False


def _convert(value: Any) -> Any:
    kind = type(value)
    if value is None or kind is str or kind is bool:
        return value
    if kind is int:
        if _INT_MIN <= value <= _INT_MAX:
            return value
        raise _Refused(value, "integers must fit in 64 bits; return it as a string")
    if kind is float:
        if math.isfinite(value):
            return value
        raise _Refused(value, f"{value} has no JSON form; return null or a string")
    if kind is list:
        items = _items(value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if kind is dict:
        return _object(value)
    if isinstance(value, set | frozenset):
        return _sorted_set(value)
    # Subclasses of JSON's types become their plain values: an enum's value, a namedtuple's items.
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return _convert(int.__index__(value))
    if isinstance(value, float):
        return _convert(float.__float__(value))
    if isinstance(value, list | tuple):
        return _items(value)
    if isinstance(value, dict):
        return _object(dict(value))
    if isinstance(value, enum.Enum):
        return _convert(value.value)
    raise _Refused(value, "return str, int, float, bool, None, or lists, tuples, sets and str-keyed dicts of them")


def _items(value: list[Any] | tuple[Any, ...]) -> list[Any]:
    try:
        return [_convert(item) for item in value]
    except _Refused as refused:
        # Found again only on the way out of a refusal: the first item that is refused.
        index = next(i for i, item in enumerate(value) if _refused(item))
        refused.path.append(f"[{index}]")
        raise


def _refused(value: Any) -> bool:
    try:
        _convert(value)
    except _Refused:
        return True
    return False


def _object(value: dict[Any, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    changed = False
    for key, item in value.items():
        if type(key) is not str:
            if isinstance(key, int) and not isinstance(key, bool):
                text = str(int(key))
                if text in value:
                    refused = _Refused(key, f"the key {key!r} would become {text!r}, which the dict already has")
                    refused.path.append(f"[{key!r}]")
                    raise refused
                key, changed = text, True
            elif isinstance(key, str):
                key, changed = str.__str__(key), True
            else:
                refused = _Refused(key, "a dict key must be a string (or an int, written as its text)")
                refused.path.append(f"[{key!r}]")
                raise refused
        try:
            converted = _convert(item)
        except _Refused as refused:
            refused.path.append(f"[{key!r}]")
            raise
        changed = changed or converted is not item
        result[key] = converted
    return result if changed or type(value) is not dict else value


def _sorted_set(value: set[Any] | frozenset[Any]) -> list[Any]:
    try:
        items = [_convert(item) for item in value]
    except _Refused as refused:
        refused.path.append("{...}")
        raise
    if all(type(item) is str for item in items) or all(type(item) in (int, float, bool) for item in items):
        return sorted(items)
    kinds = ", ".join(sorted({type(item).__name__ for item in value}))
    raise _Refused(value, f"only a set of strings or of numbers has one sorted order; this one holds {kinds}: return a sorted list")
