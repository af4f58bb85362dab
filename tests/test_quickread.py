"""tracing.quickread: a small trace read with the standard library gives what orjson gives, byte for byte."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.state import EMPTY_DIGEST, extend_digest
from agent_harness import api
from tracing import quickread, reader
from tracing.reader import TraceStream


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 and 1.0, 0.0 and -0.0 differ), keys in the same order."""
    pairs = [(a, b)]  # walked without recursion: a line may nest ~1,000 deep
    while pairs:
        a, b = pairs.pop()
        if type(a) is not type(b):
            return False
        if type(a) is float:
            if math.copysign(1.0, a) != math.copysign(1.0, b) or a != b:
                return False
        elif type(a) is dict:
            if list(a) != list(b):
                return False
            pairs.extend((a[key], b[key]) for key in a)
        elif type(a) is list:
            if len(a) != len(b):
                return False
            pairs.extend(zip(a, b, strict=True))
        elif a != b:
            return False
    return True


def _outcome(loads: Any, line: bytes) -> tuple[str, Any]:
    try:
        return "value", loads(line)
    except json.JSONDecodeError as err:  # orjson's error is one
        return "error", f"{type(err).__name__}: {err}"


def _assert_reads_alike(line: bytes) -> None:
    quick, exact = _outcome(quickread.loads, line), _outcome(orjson.loads, line)
    assert quick[0] == exact[0], (line, quick, exact)
    assert _same(quick[1], exact[1]) if quick[0] == "value" else quick == exact, (line, quick, exact)


# Integers around the edges of orjson's range, floats of every kind, text of any code point.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=()))  # lone surrogates too
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(values, st.booleans())
def test_a_line_reads_as_orjson_reads_it(value: Any, ascii_only: bool) -> None:
    # ensure_ascii writes astral characters as surrogate pairs and lone surrogates as escapes.
    _assert_reads_alike(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass") + b"\n")


@settings(max_examples=400, deadline=None)
@given(values, st.integers(min_value=0, max_value=200), st.binary(min_size=1, max_size=3))
def test_a_damaged_line_fails_or_reads_as_orjson_reads_it(value: Any, at: int, junk: bytes) -> None:
    line = json.dumps(value).encode()
    _assert_reads_alike(line[:at] + junk + line[at:])


@settings(max_examples=600, deadline=None)
@given(st.from_regex(r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,40})?([eE][+-]?[0-9]{1,3})?", fullmatch=True))
def test_a_number_reads_as_orjson_reads_it(number: str) -> None:
    # Every spelling JSON allows, rounding at the edges of a double included (subnormal, overflow).
    _assert_reads_alike(number.encode())
    _assert_reads_alike(b'{"n":[' + number.encode() + b"]}")


@pytest.mark.parametrize(
    "line",
    [
        b"1e400",  # a double's overflow: orjson refuses, the standard library reads inf
        b"[-1e400]",
        b"18446744073709551615",  # orjson's largest integer
        b"18446744073709551616",  # beyond it orjson reads a float
        b"-9223372036854775809",
        b"1" * 5000,  # beyond Python's default digit limit for int()
        b"NaN",
        b"[Infinity]",
        b'"\\ud800"',  # a lone surrogate: orjson refuses it
        b'"\\udc00 and \\uD83D"',
        b'"\\ud83d\\ude00"',  # a pair: one character for both
        b'"\xed\xa0\x80"',  # a surrogate written as UTF-8
        b'"\xff"',
        b"\xef\xbb\xbf{}",  # a byte-order mark
        b'{"a":1,"a":2}',
        b"[" * 1030 + b"]" * 1030,  # deeper than orjson nests
        b"[" * 990 + b"]" * 990,
        b'"\x1f"',
        b'"\x7f \xe2\x80\xa8"',
        b"-0",
        b"-0.0",
        b"1E2",
        b"0.1e-400",
        b" {}\r\n",
        b"{} x",
        b"",
    ],
    ids=lambda line: repr(line[:24]),
)
def test_lines_where_the_parsers_part_read_as_orjson_reads_them(line: bytes) -> None:
    _assert_reads_alike(line)


# What a message read from a trace can hold: orjson's integers, and text without surrogates.
text = st.text(st.characters(blacklist_categories=("Cs",)))
readable = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.dictionaries(text, readable, max_size=5), min_size=1, max_size=3))
def test_a_message_digests_as_the_runtime_digests_it(messages: list[dict[str, Any]]) -> None:
    quick = exact = EMPTY_DIGEST
    for message in messages:
        quick, exact = quickread.extend_digest(quick, message), extend_digest(exact, message)
        assert quick == exact, message


def test_the_empty_digest_is_the_runtimes() -> None:
    assert quickread.EMPTY_DIGEST == EMPTY_DIGEST


def _recorded(tmp_path: Path) -> Path:
    path = tmp_path / "t.jsonl"
    api.run("task=recipes", trace=path, run_dir=tmp_path / "run")
    return path


def test_a_small_trace_streams_the_same_records_as_through_orjson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _recorded(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    third = orjson.loads(lines[3])
    third["messages"]["sha256"] = "0" * 64  # damaged: found both ways, at the same step
    lines[3] = orjson.dumps(third) + b"\n"
    path.write_bytes(b"".join(lines))

    def read() -> tuple[list[Any], list[int]]:
        stream = TraceStream(path, check_prompts=False)
        return [record for record, _ in stream.steps()], stream.edited

    quick = read()
    monkeypatch.setattr(quickread, "QUICK_MAX_BYTES", 0)  # every file through orjson
    exact = read()
    assert len(quick[0]) > 3 and _same(quick[0], exact[0])
    assert quick[1] == exact[1] == [2]


def test_a_message_holding_a_float_is_digested_as_orjson_writes_it(tmp_path: Path) -> None:
    path = _recorded(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    first = orjson.loads(lines[1])
    # orjson writes 1e-05 as 1e-5, the standard library as 1e-05: the digest must be orjson's.
    first["messages"]["new"][1]["content"] = [{"type": "text", "text": "hi", "weight": 1e-05}]
    lines[1] = orjson.dumps(first) + b"\n"
    path.write_bytes(b"".join(lines))
    prompts = reader.read_trace(path, check_prompts=False).prompts  # the runtime's digests of the edited prompts
    for number, prompt in enumerate(prompts, start=1):
        record = orjson.loads(lines[number])
        record["messages"]["sha256"] = prompt.digest()
        lines[number] = orjson.dumps(record) + b"\n"
    path.write_bytes(b"".join(lines))
    stream = TraceStream(path)  # small: read quickly, every prompt checked against its digest
    assert [record["index"] for record, _ in stream.steps()] == list(range(len(prompts)))


def test_inspecting_a_small_trace_imports_neither_orjson_nor_openssl_nor_dataclasses(tmp_path: Path) -> None:
    path = _recorded(tmp_path)
    code = (
        "import sys\n"
        "from agent_harness.cli import main\n"
        f"main(['trace', 'inspect', {str(path)!r}])\n"
        "print(sorted(m for m in ('orjson', '_hashlib', 'dataclasses', 'immutables', 'agent.state') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "end       finished after" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_trace_over_the_quick_size_is_read_through_orjson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _recorded(tmp_path)
    used: list[bytes] = []
    monkeypatch.setattr(quickread, "loads", lambda line: used.append(line) or orjson.loads(line))
    list(TraceStream(path).steps())
    assert used  # small: the quick parser
    used.clear()
    monkeypatch.setattr(quickread, "QUICK_MAX_BYTES", path.stat().st_size - 1)
    list(TraceStream(path).steps())
    assert not used
    list(reader.read_trace(path).steps)  # a whole trace (replay, diff) is always read through orjson
    assert not used
