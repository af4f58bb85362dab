"""The built wheel carries conf/, the seeds and the schema, and its `agent` command runs from them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_runs_the_default_task_from_its_own_files(tmp_path: Path) -> None:
    """A wheel unpacked on its own finds pkg://agent.conf and the bundled seed, not the repository's."""
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (tmp_path / "dist").glob("agent_harness-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"agent/conf/config.yaml", "agent/conf/task/invoices.yaml", "agent/seeds/invoices/invoices.csv", "tracing/trace.schema.json"} <= set(names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "work"
    work.mkdir()
    code = (
        "import sys, agent, tracing; from agent_harness.cli import main;"
        "assert agent.__file__.startswith(sys.argv[1]), agent.__file__;"
        "sys.argv = ['agent', 'run', '--trace', 't.jsonl']; main()"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}  # the unpacked wheel comes before the editable install
    result = subprocess.run([sys.executable, "-c", code, str(site)], cwd=work, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "answer: The 4 invoices in invoices.csv total 3949.74 EUR" in result.stdout
    assert (work / "t.jsonl").is_file()
