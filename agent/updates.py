"""A memory update on plain data: each key is set, and a None value deletes it.

``agent.state.Memory.updated`` applies the same rule to the persistent memory a run carries; this
is the rule on the dicts a trace holds, kept apart from the state module so that reading a trace
does not import what hashing a state needs (orjson, hashlib, immutables).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def updated_memory(memory: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``memory`` with ``update`` applied, as a new dict."""
    result = dict(memory)
    for key, value in update.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result
