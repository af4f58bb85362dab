"""Sweeps: the jobs of a multirun folder, found from the job folders themselves.

Hydra skips ``on_multirun_end`` when a job fails, so nothing here trusts an index written at the
end of a sweep: every job folder (one with Hydra's ``.hydra/`` record, a ``status.json`` or a
trace) is a job, and what it holds says how it ended. No Hydra import: inspect stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracing.errors import TraceError
from tracing.reader import DEFAULT_TRACE, TraceStream

STATUS_FILE = "status.json"  # written by agent_harness.callbacks.JobStatusFile at the end of each job
_SHORT = 48


@dataclass(frozen=True, slots=True)
class Job:
    """One job of a sweep, as its folder shows it."""

    number: int | None
    folder: Path
    overrides: list[str]
    status: str
    """finished, max_steps, error, interrupted (from the trace or status.json), failed (the job raised),
    cut off (a trace without end record), or unknown (no status and no trace: killed, or still running)."""
    steps: int | None
    tokens: int | None
    answer: str | None
    error: str | None
    trace: Path | None
    """The job's trace, when it has one that could be read."""


def is_sweep(path: Path) -> bool:
    """Whether ``path`` is a folder of jobs rather than a trace file."""
    return path.is_dir() and any(_job_folders(path))


def _job_folders(sweep: Path) -> Iterator[Path]:
    for folder in sweep.iterdir():
        if folder.is_dir() and ((folder / ".hydra").is_dir() or (folder / STATUS_FILE).is_file() or (folder / DEFAULT_TRACE).is_file()):
            yield folder


def _number(folder: Path, status: dict[str, Any]) -> int | None:
    if isinstance(status.get("job"), int):
        return status["job"]
    return int(folder.name) if folder.name.isdigit() else None


def _overrides(folder: Path, status: dict[str, Any]) -> list[str]:
    if isinstance(status.get("overrides"), list):
        return [str(o) for o in status["overrides"]]
    recorded = folder / ".hydra" / "overrides.yaml"  # a job killed before its status.json
    if recorded.is_file():
        import yaml  # PyYAML (OmegaConf's own parser): only for a job that left no status.json

        try:
            loaded = yaml.safe_load(recorded.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            return []
        return [str(o) for o in loaded] if isinstance(loaded, list) else []
    return []


def load_job(folder: Path) -> Job:
    """What one job folder says about its job: status.json first, then the trace, which wins where both speak."""
    status: dict[str, Any] = {}
    try:
        loaded = json.loads((folder / STATUS_FILE).read_text(encoding="utf-8"))
        status = loaded if isinstance(loaded, dict) else {}
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        pass
    trace_path = Path(status["trace"]) if isinstance(status.get("trace"), str) else folder / DEFAULT_TRACE
    usage = status.get("usage") if isinstance(status.get("usage"), dict) else {}
    job = {
        "status": str(status.get("status", "unknown")),
        "steps": status.get("steps"),
        "tokens": sum(v for v in usage.values() if isinstance(v, int)) if usage else None,
        "answer": status.get("answer"),
        "error": status.get("error"),
        "trace": None,
    }
    if trace_path.is_file():
        try:
            # Streamed: a sweep of long runs is listed in little memory. An edited trace is listed; its replay says where.
            trace = TraceStream(trace_path, check_prompts=False)
            steps = sum(1 for _ in trace.steps())
        except TraceError as err:
            job |= {"error": f"unreadable trace: {err}"}
        else:
            end = trace.end or {}
            total = (end.get("usage") or {}).get("total_tokens")
            job |= {"trace": trace_path, "steps": steps, "tokens": total if total is not None else job["tokens"]}
            if job["status"] != "failed":  # a job that raised says so in status.json, whatever its trace says
                job |= {"status": end["status"], "answer": end.get("answer"), "error": end.get("error")} if trace.end else {"status": "cut off"}
    return Job(number=_number(folder, status), folder=folder, overrides=_overrides(folder, status), **job)


def load_sweep(sweep: Path) -> list[Job]:
    """Every job of a sweep folder, in job order."""
    jobs = [load_job(folder) for folder in _job_folders(sweep)]
    return sorted(jobs, key=lambda j: (j.number is None, j.number if j.number is not None else 0, j.folder.name))


def _clip(text: str | None) -> str:
    if text is None:
        return "-"
    text = " ".join(str(text).split())
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"


def render_sweep(sweep: Path, jobs: list[Job]) -> Iterator[str]:
    """One row per job: number, status, steps, tokens, answer, overrides, trace."""
    yield f"sweep {sweep}: {len(jobs)} jobs"
    yield ""
    rows = [("job", "status", "steps", "tokens", "answer", "overrides", "trace")]
    for job in jobs:
        trace = str(job.trace) if job.trace else "(no trace)"
        answer = job.answer if job.status in ("finished", "max_steps", "interrupted") else job.error or job.answer
        rows.append(
            (
                "?" if job.number is None else str(job.number),
                job.status,
                "-" if job.steps is None else str(job.steps),
                "-" if not job.tokens else str(job.tokens),
                _clip(answer),
                " ".join(job.overrides) or "(none)",
                trace,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    yield ""
    yield "totals: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
