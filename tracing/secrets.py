"""Keeping secrets out of everything written or printed, and nothing else.

Two rules, applied together:

- By name: a config key is secret when its last segment, case- and separator-insensitive
  (``apiKey``, ``api-key``, ``API_KEY`` are all ``api_key``), is one of ``SECRET_NAMES`` or ends
  with one of ``SECRET_SUFFIXES``. Whole names only: ``max_tokens``, ``token_budget`` and
  ``api_key_env`` (which names an environment variable; the name is not the secret) are ordinary
  settings, recorded as they are. A trace's config and overrides have secret keys' values replaced
  by ``REDACTED``.
- By value: the secret values a run actually read (a secret key's value from the config or the
  command line, and the environment variable that a ``<secret>_env`` key names, such as
  ``llm.api_key_env``) are replaced wherever they appear: trace records, Hydra's ``.hydra/*.yaml``
  and ``multirun.yaml``, status files, error messages, printed output and log lines.

A value shorter than ``MIN_SECRET_LENGTH`` characters is redacted by name but not scrubbed by value:
no real credential is that short, and replacing every ``EMPTY`` or ``ollama`` (placeholder keys of
local servers) would alter ordinary text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

REDACTED = "***redacted***"
MIN_SECRET_LENGTH = 8

SECRET_NAMES = frozenset(
    {
        "api_key", "apikey", "api_token", "api_secret",
        "password", "passwd", "passphrase",
        "secret", "client_secret", "secret_key", "secret_access_key", "access_key",
        "token", "access_token", "refresh_token", "auth_token", "id_token", "bearer_token", "session_token",
        "authorization", "bearer", "credential", "credentials", "private_key",
    }
)  # fmt: skip
"""Whole key names (normalised: lower case, ``_`` between words) whose values are secret."""

SECRET_SUFFIXES = ("_api_key", "_apikey", "_password", "_passwd", "_secret", "_secret_key", "_private_key", "_access_token", "_auth_token")
"""Endings that make a longer name secret too: ``openai_api_key``, ``db_password``, ``hf_access_token``."""

_OVERRIDE = re.compile(r"^(?P<key>[~+]*[^=]+)=(?P<value>.*)$", re.DOTALL)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _normalised(key: object) -> str:
    """The last segment of a key, snake-cased: ``llm.apiKey`` -> ``api_key``, ``X-Api-Key`` -> ``x_api_key``."""
    last = str(key).lstrip("~+").split("@", 1)[0].rsplit(".", 1)[-1]
    return _CAMEL.sub("_", last).replace("-", "_").lower()


def looks_secret(key: object) -> bool:
    """Whether a config key (or an override's dotted key) names a secret, by its whole last segment."""
    name = _normalised(key)
    return name in SECRET_NAMES or name.endswith(SECRET_SUFFIXES)


def _names_secret_variable(key: object) -> bool:
    """Whether a key holds the *name* of an environment variable that holds a secret (``api_key_env``)."""
    name = _normalised(key)
    return name.endswith("_env") and looks_secret(name.removesuffix("_env"))


def redact(value: Any) -> Any:
    """``value`` with the value of every secret key (see ``looks_secret``) replaced by ``REDACTED``; all else as is."""
    if isinstance(value, Mapping):
        return {k: REDACTED if v not in (None, "") and looks_secret(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def redact_overrides(overrides: Iterable[str]) -> list[str]:
    """Command-line overrides with the values of secret keys replaced; every other override as given."""
    redacted = []
    for override in overrides:
        match = _OVERRIDE.match(override)
        redacted.append(f"{match['key']}={REDACTED}" if match and looks_secret(match["key"]) else override)
    return redacted


def is_redacted_override(override: str) -> bool:
    """Whether an override is one a recording redacted: a replay must not set the placeholder as a value."""
    return override.endswith(f"={REDACTED}")


def _override_values(value: str) -> list[str]:
    """The values an override's text may hand a job: itself, and for a sweep (``a,b``) each item."""
    value = value.strip()
    items = [value]
    if "," in value:
        inner = re.sub(r"^(?:choice|range|glob)\((.*)\)$", r"\1", value)
        items += [item.strip().strip("'\"") for item in inner.split(",")]
    return [item.strip("'\"") for item in items]


def secrets_read(config: Any, overrides: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> set[str]:
    """The secret values a run with this resolved ``config`` and these ``overrides`` reads.

    Values under secret keys of the config and of the overrides, and, when ``environ`` is given,
    the value of each environment variable that a ``<secret>_env`` key (``api_key_env``) names.
    """
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if looks_secret(key):
                    found.update(_leaves(item))
                elif environ is not None and _names_secret_variable(key) and isinstance(item, str):
                    found.add(environ.get(item, ""))
                else:
                    walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(config)
    for override in overrides:
        match = _OVERRIDE.match(override)
        if match and looks_secret(match["key"]):
            found.update(_override_values(match["value"]))
        elif match and environ is not None and _names_secret_variable(match["key"]):
            found.update(environ.get(name, "") for name in _override_values(match["value"]))
    return {value for value in found if len(value) >= MIN_SECRET_LENGTH and value != REDACTED}


def _leaves(value: Any) -> Iterator[str]:
    """Every string or number inside ``value``, as text: all of what a secret key holds is secret."""
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield str(value)


class Scrubber:
    """Replaces known secret values by ``REDACTED`` in text, bytes and data; with no values, changes nothing.

    Each value is also looked for in its JSON-escaped form (how a trace record or status file
    holds it), and the longest form is tried first at each place.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = frozenset(v for v in values if len(v) >= MIN_SECRET_LENGTH)
        forms = {form for value in self.values for form in (value, orjson.dumps(value).decode()[1:-1])}
        ordered = sorted(forms, key=lambda form: (-len(form), form))
        self._text = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._bytes = re.compile(b"|".join(re.escape(form.encode()) for form in ordered)) if ordered else None

    def __bool__(self) -> bool:
        return bool(self.values)

    def __or__(self, other: Scrubber) -> Scrubber:
        return Scrubber(self.values | other.values)

    def text(self, text: str) -> str:
        """``text`` with every secret value replaced."""
        return self._text.sub(REDACTED, text) if self._text is not None else text

    def bytes(self, data: bytes) -> bytes:
        """UTF-8 ``data`` (a trace record, a file) with every secret value replaced."""
        return self._bytes.sub(REDACTED.encode(), data) if self._bytes is not None else data

    def data(self, value: Any) -> Any:
        """Plain data (mappings, lists, strings) with every string, keys included, scrubbed."""
        if self._text is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def scrub_files(paths: Iterable[Path], scrubber: Scrubber) -> None:
    """Replace every secret value in the given files, each rewritten whole (write then rename)."""
    if not scrubber:
        return
    for path in paths:
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            continue
        scrubbed = scrubber.bytes(data)
        if scrubbed != data:
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_bytes(scrubbed)
            os.replace(temporary, path)  # parallel jobs may scrub the same multirun.yaml
