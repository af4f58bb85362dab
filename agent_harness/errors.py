"""Errors of the composition layer (kept apart so the CLI can catch them without importing Hydra)."""


class ConfigError(ValueError):
    """A config or override the run cannot be built from; the message says which and why, in one line."""
