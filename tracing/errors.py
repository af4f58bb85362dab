"""Errors of the tracing layer."""


class TraceError(Exception):
    """A trace that cannot be used: missing, corrupt, not a trace, too new, or in the way (exit 2)."""
