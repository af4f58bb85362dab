"""Shared helpers: the real `agent` command as a subprocess, and runs built from conf/ in process."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

AGENT = shutil.which("agent") or pytest.fail("the `agent` command is not installed; run pip install -e '.[dev]'")


def agent(*args: str, cwd: Path, timeout: float = 120, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run the installed `agent` console script for real and capture what it prints."""
    return subprocess.run([AGENT, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload]


@pytest.fixture
def compose_config(tmp_path: Path) -> Iterator[object]:
    """compose_config(*overrides) -> the run's config from conf/, with its workspace under tmp_path."""
    with initialize_config_module(config_module="agent.conf", version_base="1.3"):

        def _compose(*overrides: str) -> DictConfig:
            run_dir = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}"
            return compose("config", overrides=[f"run_dir={run_dir}", *overrides])

        yield _compose


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command; fails the test on a traceback or several lines."""
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


PYTHON = sys.executable


def run_in_process(*args: str) -> tuple[int, str, str]:
    """`agent ARGS` in this process (no interpreter start-up), as (exit status, stdout, stderr): for fuzzing the CLI fast."""
    from agent_harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(list(args))
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue(), err.getvalue()
