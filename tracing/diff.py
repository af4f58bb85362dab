"""``agent trace diff A B``: two traces compared, config first, then step by step.

Steps are aligned by index. Times, clock values, latencies and run ids are not compared: two
recordings of the same behaviour are identical. Each step is compared part by part with ``==`` on
the records (prompts by their digest), and only the first step that differs is diffed field by
field, so long traces compare in time linear in their size.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from agent.state import plain_copy
from tracing.reader import Trace
from tracing.replay import Difference, call_arguments, difference_rows, differences, message_differences
from tracing.replay_config import config_differences
from tracing.schema import state_hash_rule
from tracing.text import printable

PARTS = ("request", "response", "tool calls", "state")


def _parts(step: dict[str, Any], *, hashes: bool = True) -> dict[str, Any]:
    """What a step did, part by part, without what differs between any two recordings (times, latencies).

    Without ``hashes`` the state's sha256 is left out: traces of schema versions that hash the state
    by different rules (see tracing.schema.state_hash_rule) are compared by the state's fields.
    """
    return {
        "request": {"messages": step["messages"]["sha256"], "tools": step["tools"], "model": step["model"], "params": step["params"]},
        "response": {"message": step["response"]["message"], "usage": step["response"].get("usage")},
        # Arguments as data, so one changed argument shows as itself, not as a different JSON text.
        "tool calls": [{**{k: v for k, v in call.items() if k != "latency_s"}, "arguments": call_arguments(call["arguments"])} for call in step["tool_calls"]],
        # Memory as a dict: read_trace fills it in as a persistent Memory, which deepdiff would take for another type.
        "state": {k: plain_copy(v) if k == "memory" else v for k, v in step["state"].items() if hashes or k != "sha256"},
    }


@dataclass(frozen=True, slots=True)
class StepComparison:
    """How one step index compares: same, changed (which parts), only in A, only in B."""

    index: int
    verdict: str
    parts: tuple[str, ...] = ()


@dataclass
class TraceDiff:
    """The comparison of two traces."""

    a: Path
    b: Path
    config: list[Difference]
    steps: list[StepComparison]
    first: int | None = None
    """The first step that differs, if any."""
    first_differences: list[Difference] = field(default_factory=list)
    end: list[Difference] = field(default_factory=list)
    edited: dict[str, list[int]] = field(default_factory=dict)
    """Per side ("a", "b"), the steps whose messages do not match their recorded sha256 (edited after recording)."""

    @property
    def identical(self) -> bool:
        """Whether the traces record the same behaviour (times and latencies aside)."""
        return not self.config and self.first is None and not self.end

    def as_dict(self) -> dict[str, Any]:
        """The comparison as JSON data."""
        rows = lambda found: [{"path": d.path, "a": d.expected, "b": d.actual} for d in found]  # noqa: E731
        return {
            "result": "identical" if self.identical else "different",
            "a": str(self.a),
            "b": str(self.b),
            "config": rows(self.config),
            "first_step": self.first,
            "first_step_differences": rows(self.first_differences),
            "steps": [{"index": s.index, "verdict": s.verdict, "parts": list(s.parts)} for s in self.steps],
            "end": rows(self.end),
            "edited": self.edited,
        }


def _setting(config: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(config, dict) or part not in config:
            return "<missing>"
        config = config[part]
    return config


def _config_rows(a: dict[str, Any], b: dict[str, Any]) -> list[Difference]:
    """One row per setting that differs (a changed list item is its whole list's change), with both values."""
    keys = sorted({re.sub(r"\[\d+\].*$", "", d.path) for d in config_differences(a, b)})
    return [Difference(key, _setting(a, key), _setting(b, key)) for key in keys]


def compare(a: Trace, b: Trace) -> TraceDiff:
    """Compare two traces read with read_trace."""
    result = TraceDiff(a=a.path, b=b.path, config=_config_rows(a.header["config"], b.header["config"]), steps=[])
    result.edited = {side: t.edited for side, t in (("a", a), ("b", b)) if t.edited}
    hashes = state_hash_rule(a.header["schema_version"]) is state_hash_rule(b.header["schema_version"])
    for index in range(max(len(a.steps), len(b.steps))):
        if index >= len(a.steps) or index >= len(b.steps):
            result.steps.append(StepComparison(index, "only in B" if index >= len(a.steps) else "only in A"))
            result.first = index if result.first is None else result.first
            continue
        parts_a, parts_b = _parts(a.steps[index], hashes=hashes), _parts(b.steps[index], hashes=hashes)
        changed = tuple(part for part in PARTS if parts_a[part] != parts_b[part])
        result.steps.append(StepComparison(index, "changed" if changed else "same", changed))
        if changed and result.first is None:
            result.first = index
            result.first_differences = _step_differences(a, b, index, changed, hashes=hashes)
    ends = [{k: t.end.get(k) for k in ("status", "steps", "answer", "error")} if t.end else {"status": "cut off"} for t in (a, b)]
    result.end = differences(ends[0], ends[1], prefix="end") if ends[0] != ends[1] else []
    return result


def _step_differences(a: Trace, b: Trace, index: int, changed: tuple[str, ...], *, hashes: bool) -> list[Difference]:
    """Field-level differences of the parts that changed at one step; of the prompt, its first differing message."""
    found: list[Difference] = []
    parts_a, parts_b = _parts(a.steps[index], hashes=hashes), _parts(b.steps[index], hashes=hashes)
    for part in changed:
        if part == "request":
            request_a, request_b = parts_a["request"], parts_b["request"]
            if request_a["messages"] != request_b["messages"]:
                found += message_differences(a.prompts[index], b.prompts[index])
            found += differences({k: v for k, v in request_a.items() if k != "messages"}, {k: v for k, v in request_b.items() if k != "messages"})
        else:
            found += differences(parts_a[part], parts_b[part], prefix=part.replace(" ", "_"))
    if any(d.path.startswith("state.") and d.path != "state.sha256" for d in found):
        found = [d for d in found if d.path != "state.sha256"]  # the fields that differ say more than their hash
    return found


def _rows(found: list[Difference]) -> Iterator[str]:
    return iter(difference_rows(found))


def render(diff: TraceDiff, *, raw: bool = False) -> Iterator[str]:
    """The comparison as text: config, the first differing step in detail, one line per step, the ends.

    Unprintable code points from the traces are shown escaped (tracing.text.printable) unless ``raw``.
    """
    lines = _lines(diff)
    return lines if raw else map(printable, lines)


def _lines(diff: TraceDiff) -> Iterator[str]:
    yield f"diff  A {diff.a}"
    yield f"      B {diff.b}"
    if diff.config:
        yield "config differs (A -> B):"
        yield from _rows(diff.config)
    else:
        yield "config: same"
    if diff.first is not None:
        comparison = diff.steps[diff.first]
        what = ", ".join(comparison.parts) if comparison.parts else comparison.verdict
        yield f"first difference at step {diff.first}: {what}"
        yield from _rows(diff.first_differences)
    for side, steps in diff.edited.items():
        yield (
            f"{side.upper()} was edited after recording: the messages it holds for step {steps[0]} "
            f"{'and on ' if len(steps) > 1 else ''}do not match the sha256 recorded with them"
        )
    yield "steps:"
    for step in diff.steps:
        detail = f" ({', '.join(step.parts)})" if step.parts else ""
        yield f"  step {step.index}: {step.verdict}{detail}"
    if diff.end:
        yield "end differs (A -> B):"
        yield from _rows(diff.end)
    else:
        yield "end: same"
    yield "identical apart from times and latencies" if diff.identical else "the traces differ"
