"""The runtime: the one source of time and randomness the agent and its tools may use.

Handed to the loop explicitly (never a global) so that a replay can hand over the recorded values.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RuntimeView:
    """What a tool sees of the run's runtime: clock reads and the run's random generator, nothing to rewrite.

    ``now`` goes through the runtime, so each read is recorded with its step and a replay hands the
    same value back; a tool cannot swap the clock, reseed the run or touch the recorded reads.
    """

    now: Callable[[], float]
    """The current time in seconds since the epoch, from the run's clock (recorded for replay)."""
    rng: random.Random
    """The run's random generator, seeded from the config: the only randomness a tool may use."""
    seed: int
    """The seed the run's generator started from."""


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
    view: RuntimeView = field(init=False, repr=False, compare=False)
    """The read-only view handed to tools (``ToolContext.runtime``)."""

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.view = RuntimeView(now=self.now, rng=self.rng, seed=self.seed)

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
