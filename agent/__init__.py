"""The agent runtime: state, the one loop, LLM backends and tools.

Nothing in this package imports ``tracing``; recording and replay are composed from outside
(see ``agent_harness``, the composition and its public API).
"""

__version__ = "0.1.0"
