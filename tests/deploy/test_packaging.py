"""What a plain install (``make serve``, the Docker image: ``pip install .``) brings."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _base_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        req.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
        for req in project["dependencies"]
    }


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:  # module level only: lazy imports are optional
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_storage_factory_imports_only_base_dependencies() -> None:
    # bootstrap opens either backend; a fresh `make serve` failed on a missing psycopg when
    # the driver was only in an extra.
    imported: set[str] = set()
    for package in ("bootstrap", "storage/postgres"):
        for path in (ROOT / "src" / "lycheemem" / package).rglob("*.py"):
            imported |= _top_level_imports(path)
    third_party = {"psycopg", "psycopg_pool", "numpy", "pyarrow", "lancedb"} & imported
    assert third_party, "the check no longer sees the storage imports"
    wanted = {name.replace("_", "-") for name in third_party}
    assert wanted <= _base_requirements(), wanted - _base_requirements()
