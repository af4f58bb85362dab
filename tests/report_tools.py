"""A tool with a structured output, for the report tests (a test changes what it returns)."""

from __future__ import annotations


def stats(values: list[float]) -> dict:
    """Count and sort values.

    Args:
        values: the numbers.
    """
    return {"count": len(values), "sorted": sorted(values)}


def fails(path: str) -> str:
    """Always fails.

    Args:
        path: anything.
    """
    raise FileNotFoundError(path)


def stats_descending(values: list[float]) -> dict:
    """Count and sort values.

    Args:
        values: the numbers.
    """
    return {"count": len(values), "sorted": sorted(values, reverse=True)}
