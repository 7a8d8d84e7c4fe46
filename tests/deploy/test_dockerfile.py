"""The Dockerfile: what it copies exists and is not ignored, and it runs what the README says.

No image is built here (no engine, no registry); these checks keep the file in step with the tree.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments) pairs, continuations joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").removeprefix("**/")
        parts = Path(path).parts
        hit = any(
            fnmatch.fnmatch("/".join(parts[: n + 1]), pattern) or fnmatch.fnmatch(parts[n], pattern)
            for n in range(len(parts))
        )
        if hit:
            ignored = not negate
    return ignored


def test_copy_sources_exist_and_are_sent_to_the_builder() -> None:
    copies = [args for name, args in instructions() if name == "COPY" and "--from" not in args]
    assert copies
    for args in copies:
        *sources, _destination = args.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not _ignored(source.rstrip("/")), f"{source} is excluded by .dockerignore"


def test_dockerignore_keeps_environments_data_and_caches_out() -> None:
    for path in (".venv", "web-demo/node_modules", "data", "web-demo/dist", ".env", ".git"):
        assert _ignored(path), path
    for path in ("src/lycheemem/app.py", "pyproject.toml", "web-demo/src", ".env.example"):
        assert not _ignored(path), path


def test_two_stages_node_then_slim_python() -> None:
    stages = [args for name, args in instructions() if name == "FROM"]
    assert stages[0].startswith("node:20-slim AS ")
    assert stages[-1].startswith("python:3.11-slim")
    assert any(
        name == "COPY" and args.startswith("--from=") and "dist" in args
        for name, args in instructions()
    )


def test_runtime_promises() -> None:
    runtime = instructions()
    runtime = runtime[max(i for i, (name, _) in enumerate(runtime) if name == "FROM") :]
    by_name: dict[str, list[str]] = {}
    for name, args in runtime:
        by_name.setdefault(name, []).append(args)
    assert by_name["USER"] == ["lycheemem"]
    assert json.loads(by_name["VOLUME"][0]) == ["/data"]
    env = " ".join(by_name["ENV"])
    assert "LYCHEEMEM_HOST=0.0.0.0" in env and "LYCHEEMEM_DATA_DIR=/data" in env
    assert by_name["EXPOSE"] == ["8000"]
    assert "/ready" in by_name["HEALTHCHECK"][0]
    assert "disable_download=True" in " ".join(by_name["RUN"])


def test_cmd_is_what_the_readme_documents() -> None:
    cmd = [args for name, args in instructions() if name == "CMD"]
    assert len(cmd) == 1
    command = " ".join(json.loads(cmd[0]))
    readme = (ROOT / "README.md").read_text()
    docker_section = re.search(r"^## Docker\n(.*?)^## ", readme, re.S | re.M)
    assert docker_section, "README has no '## Docker' section"
    assert f"`{command}`" in docker_section.group(1)


def test_top_level_parts_exist() -> None:
    parts = [
        "pyproject.toml",
        "main.py",
        "src",
        "web-demo",
        "openclaw-plugin",
        "examples",
        "tests",
        ".env.example",
        "docker-compose.yml",
        "Dockerfile",
        ".dockerignore",
    ]
    assert [part for part in parts if not (ROOT / part).exists()] == []
