"""The agent runtime: state, the one loop, LLM backends and tools.

Nothing in this package imports ``tracing``; recording and replay are composed from outside
(see ``agent.cli``, the composition root).
"""

__version__ = "0.1.0"
