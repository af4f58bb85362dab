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

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def now(self) -> float:
        """The current time, from the runtime's clock."""
        return self.clock()
