"""The runtime: the one source of time and randomness the agent and its tools may use.

Handed to the loop explicitly (never a global) so that a replay can hand over the recorded values.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Runtime:
    """Clock and seeded random generator of one run."""

    seed: int = 0
    """Seed of ``rng``; set from the config so a run is reproducible."""
    clock: Callable[[], float] = time.time
    """Returns the current time in seconds since the epoch."""
    rng: random.Random = field(init=False)
    """The run's random generator: the only randomness the agent and its tools may use."""
    reads: list[float] = field(init=False, default_factory=list)
    """Clock values handed out since the loop last took them: a trace keeps them per step so a
    replay can hand the same values to the same reads."""

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def now(self) -> float:
        """The current time, from the runtime's clock."""
        value = self.clock()
        self.reads.append(value)
        return value

    def take_reads(self) -> tuple[float, ...]:
        """The clock values handed out since the last call, oldest first."""
        reads = tuple(self.reads)
        self.reads.clear()
        return reads
