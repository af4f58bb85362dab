"""Errors of the tracing layer."""

from tracing.text import printable


class TraceError(Exception):
    """A trace that cannot be used: missing, corrupt, not a trace, too new, or in the way (exit 2).

    Its message may quote the trace (a field, a file name): it reads with terminal control
    characters escaped (tracing.text.printable), so printing it cannot drive the terminal.
    """

    def __str__(self) -> str:
        return printable(super().__str__())


class TraceWriteError(TraceError):
    """A record could not be written whole (disk full, I/O error): the run stopped and the trace ends before it."""
