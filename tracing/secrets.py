"""Keeping secrets out of everything written: traces, stored configs, reports.

A value is secret when its key looks secret (api_key, token, secret, password, authorization).
Configs are redacted by key before they are written; Hydra's own records of a run (.hydra/*.yaml,
multirun.yaml), which are written before the job starts, are scrubbed of the secret values after.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REDACTED = "***redacted***"
_SECRET_KEY = re.compile(r"^(?:.*[._-])?(?:api[_-]?key|token|access[_-]?token|secret|password|passwd|authorization|credentials?)$", re.IGNORECASE)
_OVERRIDE = re.compile(r"^(?P<key>[~+]*[^=]+)=(?P<value>.*)$", re.DOTALL)


def looks_secret(key: object) -> bool:
    """Whether a config key names a secret."""
    return bool(_SECRET_KEY.search(str(key)))


def redact(value: Any) -> Any:
    """``value`` with every entry whose key looks secret replaced by a fixed placeholder."""
    if isinstance(value, Mapping):
        return {k: REDACTED if v is not None and looks_secret(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def redact_overrides(overrides: Iterable[str]) -> list[str]:
    """Command-line overrides with the values of secret-looking keys replaced."""
    redacted = []
    for override in overrides:
        match = _OVERRIDE.match(override)
        redacted.append(f"{match['key']}={REDACTED}" if match and looks_secret(match["key"]) else override)
    return redacted


def secret_values(config: Any, overrides: Sequence[str] = ()) -> set[str]:
    """The values (as text) under secret-looking keys of a config, and of overrides."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if looks_secret(key) and item not in (None, "", REDACTED) and not isinstance(item, Mapping | list):
                    found.add(str(item))
                else:
                    walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(config)
    for override in overrides:
        match = _OVERRIDE.match(override)
        if match and looks_secret(match["key"]) and match["value"].strip("'\""):
            found.add(match["value"].strip("'\""))
    return found


def scrub_files(paths: Iterable[Path], secrets: set[str]) -> None:
    """Replace every secret value in the given text files, each rewritten whole (write then rename)."""
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            continue
        scrubbed = text
        for secret in sorted(secrets, key=len, reverse=True):
            scrubbed = scrubbed.replace(secret, REDACTED)
        if scrubbed != text:
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_text(scrubbed, encoding="utf-8")
            os.replace(temporary, path)  # parallel jobs may scrub the same multirun.yaml
