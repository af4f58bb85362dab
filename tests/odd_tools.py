"""Tools that return values which are not plain JSON, for tests of the rule in agent/jsondata.py.

Tests add them to a run through a tools config of their own and PYTHONPATH; a replay that builds
them lists ``tests`` in ``allowed_targets``.
"""

from __future__ import annotations

from collections import namedtuple
from enum import StrEnum
from typing import Any

TAGS = frozenset({"eu", "capital", "river", "north", "port", "alpine"})
"""Six strings: iterating them gives another order under almost every hash seed."""


class Colour(StrEnum):
    RED = "red"


Point = namedtuple("Point", "x y")


class Opaque:
    """An object with no JSON form; its repr holds its address, which differs in every process."""


def tags() -> set[str]:
    """The city's tags."""
    return set(TAGS)


def stats() -> dict[str, Any]:
    """Numbers about the city: a set of numbers, a tuple, an enum, a namedtuple, counts by year."""
    return {"sizes": frozenset({3, 1.5, 2}), "pair": (1, "a"), "colour": Colour.RED, "at": Point(1, 2), "by_year": {2024: 7, 2023: 5}}


def raw() -> bytes:
    """The city's raw record."""
    return b"\x00\x01"


def ratio() -> float:
    """A ratio that cannot be computed."""
    return float("nan")


def opaque() -> Opaque:
    """An object the model cannot read."""
    return Opaque()


def mixed() -> set[Any]:
    """A set of things that do not sort together."""
    return {1, "a", None}


def collector_state(path: str = ".") -> dict[str, bool]:
    """What the cyclic garbage collector is doing while a run's tools run (takes list_files' arguments).

    Args:
        path: ignored.
    """
    import gc

    return {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count() > 0}
