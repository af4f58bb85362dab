"""Reading a small trace with the standard library only, byte for byte as orjson reads it.

A command that reads one trace and exits (``agent trace inspect``) spends more on imports than on
reading: importing orjson costs ~13 ms (it imports dataclasses, inspect, uuid, datetime and json
to know their types), hashlib's OpenSSL ~3 ms, against ~1 ms for a six-step trace's reading. The
standard library's json and built-in sha256 start in ~1 ms and are slower per byte, so the reader
uses them for a file of at most ``QUICK_MAX_BYTES`` and orjson above it (tracing.reader).

Both ways give the same records and digests, or the same error: where the two parsers could
differ, the line goes to orjson. Those are lines orjson refuses (not JSON, NaN, a lone surrogate,
a number out of its range, nested too deep) or reads differently (an integer beyond 64 bits becomes a
float); and a message holding a float is digested through orjson's encoding, whose short exponents
(``1e-5``) the standard library writes otherwise (``1e-05``). Every other value encodes to the same
canonical bytes in both (tests/test_quickread.py fuzzes that).
"""

from __future__ import annotations

import json
import re
from typing import Any

try:  # CPython's own sha256 (hashlib's fallback): no OpenSSL to load
    from _sha256 import sha256 as _sha256  # Python 3.11
except ImportError:  # pragma: no cover - the module's name from Python 3.12 on, or a build without it
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[no-redef]
    except ImportError:
        from hashlib import sha256 as _sha256  # type: ignore[assignment]

QUICK_MAX_BYTES = 1 << 20
"""Largest file read this way (1 MiB): above it, orjson's faster parsing repays its import."""

_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # orjson's integers; beyond them it reads a float
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")  # a surrogate escape: orjson refuses one that is not paired


class _OrjsonsCall(Exception):
    """A line, or a value in it, on which the standard library could read otherwise than orjson."""


def _integer(text: str) -> int:
    value = int(text)
    if not _INT_MIN <= value <= _INT_MAX:
        raise _OrjsonsCall
    return value


def _finite(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # too large for a double: orjson refuses it
        raise _OrjsonsCall
    return value


def _refuse(text: str) -> Any:
    raise _OrjsonsCall  # NaN, Infinity: not JSON


_decode = json.JSONDecoder(parse_int=_integer, parse_float=_finite, parse_constant=_refuse).decode
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")).encode


def loads(line: bytes) -> Any:
    """The value of one JSON line, as ``orjson.loads(line)`` gives it (or raises)."""
    # Guards where the two could part: a surrogate escape, and more containers than orjson nests (1,024).
    if (b"\\u" not in line or _SURROGATE.search(line) is None) and line.count(b"[") + line.count(b"{") <= 1000:
        try:
            return _decode(line.decode())
        except (ValueError, RecursionError, _OrjsonsCall):  # ValueError: not UTF-8, or not JSON
            pass
    import orjson

    return orjson.loads(line)


def _has_float(value: Any) -> bool:
    kind = type(value)
    if kind is float:
        return True
    if kind is dict:
        return any(map(_has_float, value.values()))
    if kind is list:
        return any(map(_has_float, value))
    return False


def extend_digest(digest: bytes, message: dict[str, Any]) -> bytes:
    """``agent.state.extend_digest`` for a message read by ``loads``."""
    if _has_float(message):
        from agent.state import extend_digest as exact

        return exact(digest, message)
    return _sha256(digest + _sha256(_encode(message).encode()).digest()).digest()


EMPTY_DIGEST = _sha256(b"").digest()
"""The chain digest of no messages (``agent.state.EMPTY_DIGEST``)."""
