"""The layer rule, checked by reading the imports: runtime <- trace library <- composition."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.MULTILINE)


def imported_packages(folder: str) -> dict[str, set[str]]:
    """For each module of ``folder``, the top-level packages it imports (at any depth of the file)."""
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        found[str(path.relative_to(ROOT))] = {(m[0] or m[1]).split(".")[0] for m in IMPORT.finditer(text)}
    return found


@pytest.mark.parametrize(("folder", "forbidden"), [("agent", {"tracing", "agent_harness"}), ("tracing", {"agent_harness"})])
def test_lower_layers_import_nothing_above_them(folder: str, forbidden: set[str]) -> None:
    """The runtime imports nothing of tracing or the composition; the trace library nothing of the composition."""
    offenders = {module: sorted(packages & forbidden) for module, packages in imported_packages(folder).items() if packages & forbidden}
    assert offenders == {}


def test_the_layers_exist_where_the_readme_says() -> None:
    """Each layer is a package of its own, and the composition is where the console script and the plugin live."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'agent = "agent_harness.cli:main"' in pyproject and 'agent_harness = "agent_harness.pytest_plugin"' in pyproject
    assert all((ROOT / package / "__init__.py").is_file() for package in ("agent", "tracing", "agent_harness"))
