"""The run's workspace: a fresh copy of the task's seed folder, so the seed is never modified."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

_BUNDLED_SEEDS = "seeds"


def seed_folder(seed: str, base: Path | None = None) -> Path:
    """Where a task's seed folder is: a path (absolute, or with a '/': relative to ``base``) or the name of a bundled seed."""
    if "/" in seed or Path(seed).is_absolute():
        path = Path(seed).expanduser()
        return path if path.is_absolute() or base is None else base / path
    return Path(str(resources.files("agent").joinpath(_BUNDLED_SEEDS, seed)))


def prepare_workspace(seed: str | None, workspace: Path, base: Path | None = None) -> None:
    """Create ``workspace`` holding a copy of ``seed`` (nothing copied when seed is None).

    An existing workspace with files in it is refused: a run that starts from another run's
    leftovers is not the run its config describes.
    """
    if workspace.is_dir() and any(workspace.iterdir()):
        msg = f"workspace {workspace} already holds files (from an earlier run?); give the run a fresh hydra.run.dir"
        raise FileExistsError(msg)
    if seed is None:
        workspace.mkdir(parents=True, exist_ok=True)
        return
    source = seed_folder(seed, base)
    if not source.is_dir():
        msg = f"workspace seed {seed!r} is not a folder ({source}); set task.workspace_seed to a folder or a bundled seed name"
        raise FileNotFoundError(msg)
    shutil.copytree(source, workspace, dirs_exist_ok=True)
