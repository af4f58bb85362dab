"""Secret values kept out of what Hydra writes about a job before it starts (.hydra/*.yaml, multirun.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def scrub_hydra_records(cfg: Any, hydra_cfg: Any) -> None:
    """Replace the secret values of ``cfg`` and of the job's overrides in the files Hydra wrote for it."""
    from hydra.utils import to_absolute_path
    from omegaconf import OmegaConf

    from tracing.secrets import scrub_files, secret_values

    try:
        config = OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # noqa: BLE001 - an unresolvable value is reported when the run is built; scrub what is there
        config = OmegaConf.to_container(cfg, resolve=False)
    secrets = secret_values(config, list(hydra_cfg.overrides.task))
    if not secrets:
        return
    records = [Path(to_absolute_path(hydra_cfg.sweep.dir)) / "multirun.yaml"]
    if hydra_cfg.output_subdir is not None:
        folder = Path(hydra_cfg.runtime.output_dir) / hydra_cfg.output_subdir
        records += [folder / name for name in ("config.yaml", "hydra.yaml", "overrides.yaml")]
    scrub_files(records, secrets)
