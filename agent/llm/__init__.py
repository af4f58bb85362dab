"""LLM backends. The loop talks to any object that satisfies the ``LLM`` protocol."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from agent.records import LLMRequest, LLMResponse


class LLM(Protocol):
    """A chat model backend (a Protocol: any object with these members will do)."""

    model: str
    """Model name, recorded with every request."""
    params: Mapping[str, Any]
    """Sampling parameters sent with every request."""

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Answer ``request``. An exception ends the run with status error."""
        ...
