"""Secrets kept out of what a Hydra job prints, logs and leaves in Hydra's own files.

Process-wide by nature (stdout, stderr, the logging record factory): for the CLI's entry and its
Hydra jobs only, never the library. The rules (which keys are secret, which values a run read, how
a value is scrubbed) are the trace library's, in tracing/secrets.py.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tracing.secrets import Scrubber, scrub_files, secrets_read


def _plain_config(cfg: Any) -> Any:
    """A config as plain data, resolved when it can be (a secret may come from ``${oc.env:...}``); Hydra's own node left out."""
    from omegaconf import Container, DictConfig, OmegaConf

    if not isinstance(cfg, DictConfig):
        return cfg
    plain = {}
    for key in cfg:  # key by key, not a copy without "hydra" converted whole: the copy costs twice the conversion
        if key == "hydra":
            continue
        node = cfg._get_node(key)  # noqa: SLF001 - the node itself, to convert a container without a copy
        try:
            plain[key] = OmegaConf.to_container(node, resolve=True) if isinstance(node, Container) else cfg[key]
        except Exception:  # noqa: BLE001 - an unresolvable value fails the job itself, with its own message
            plain[key] = OmegaConf.to_container(node, resolve=False) if isinstance(node, Container) else node._value()  # noqa: SLF001
    return plain


def task_overrides(hydra_cfg: Any) -> list[str]:
    """The job's overrides as given: iterating Hydra's list would resolve an override that holds ``${...}``, or fail on it."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(hydra_cfg.overrides.task, resolve=False)  # type: ignore[return-value]


def job_scrubber(cfg: Any, overrides: Sequence[str], environ: Mapping[str, str]) -> Scrubber:
    """The scrubber of one Hydra job: the secrets its config (a DictConfig or plain data) and overrides make it read."""
    return Scrubber(secrets_read(_plain_config(cfg), list(overrides), environ))


def scrub_hydra_records(scrubber: Scrubber, hydra_cfg: Any) -> None:
    """Scrub what Hydra wrote about a job before it started (.hydra/*.yaml, the sweep's multirun.yaml)."""
    if not scrubber:
        return
    from hydra.utils import to_absolute_path

    records = [Path(to_absolute_path(hydra_cfg.sweep.dir)) / "multirun.yaml"]
    if hydra_cfg.output_subdir is not None:
        folder = Path(hydra_cfg.runtime.output_dir) / hydra_cfg.output_subdir
        records += [folder / name for name in ("config.yaml", "hydra.yaml", "overrides.yaml")]
    scrub_files(records, scrubber)


class _ScrubbedStream:
    """A text stream that scrubs what is written to it; everything else is the wrapped stream's."""

    def __init__(self, stream: Any, scrubber: Scrubber) -> None:
        self._stream = stream
        self._scrubber = scrubber

    def write(self, text: str) -> int:
        self._stream.write(self._scrubber.text(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def scrubbed_output(scrubber: Scrubber) -> Iterator[None]:
    """Inside the block, what this process prints (stdout, stderr) and logs has the secret values replaced.

    Process-wide by nature: for the CLI's entry and its Hydra jobs only. Log records are scrubbed
    where they are made, so every handler (Hydra's console listing of a sweep's jobs, a job's log
    file) gets the scrubbed text; a handler Hydra reconfigures keeps it.
    """
    if not scrubber:
        yield
        return
    saved = sys.stdout, sys.stderr, logging.getLogRecordFactory()
    make_record = saved[2]

    def scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed call is logging's to report, when the record is emitted
            return record
        scrubbed = scrubber.text(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return record

    sys.stdout, sys.stderr = _ScrubbedStream(sys.stdout, scrubber), _ScrubbedStream(sys.stderr, scrubber)
    logging.setLogRecordFactory(scrubbed_record)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved[0], saved[1]
        logging.setLogRecordFactory(saved[2])


def command_line_scrubber(args: Sequence[str], environ: Mapping[str, str]) -> Scrubber:
    """The secrets a command line's overrides name (a secret key's value, a ``<secret>_env`` variable's value)."""
    return Scrubber(secrets_read({}, [a for a in args if "=" in a and not a.startswith("-")], environ))


def scrubbing_job(job: Callable[[Any], Any], environ: Mapping[str, str]) -> Callable[[Any], Any]:
    """``job`` (a Hydra task function) run with its printed output and logs scrubbed of the secrets its config reads."""

    @functools.wraps(job)
    def scrubbed_job(cfg: Any) -> Any:
        from hydra.core.hydra_config import HydraConfig

        hydra_cfg = HydraConfig.get()
        scrubber = job_scrubber(cfg, task_overrides(hydra_cfg), environ)
        scrub_hydra_records(scrubber, hydra_cfg)
        with scrubbed_output(scrubber):
            return job(cfg)

    return scrubbed_job
