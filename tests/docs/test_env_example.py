"""Docs that cannot drift: every setting appears in .env.example with its default."""

from __future__ import annotations

from pathlib import Path

from lycheemem.config import Settings
from lycheemem.longdoc.config import LongDocSettings

ROOT = Path(__file__).resolve().parents[2]


def _documented() -> dict[str, str]:
    found = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith("# LYCHEEMEM_") and "=" in line:
            name, _, value = line[2:].partition("=")
            found[name] = value
    return found


def test_every_setting_is_in_env_example() -> None:
    documented = _documented()
    expected = {f"LYCHEEMEM_{name.upper()}" for name in Settings.model_fields}
    expected |= {f"LYCHEEMEM_LONGDOC_{name.upper()}" for name in LongDocSettings.model_fields}
    assert sorted(expected - set(documented)) == []
    assert sorted(set(documented) - expected) == []


def test_documented_defaults_match_the_code() -> None:
    documented = _documented()
    for name, field in Settings.model_fields.items():
        default = field.default
        text = str(default).lower() if isinstance(default, bool) else str(default)
        if name == "data_dir":
            text = "./data"
        assert documented[f"LYCHEEMEM_{name.upper()}"] == text, name


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme.index("make serve") < readme.index("make test")
    assert "make test" in (ROOT / ".ci" / "run").read_text()
