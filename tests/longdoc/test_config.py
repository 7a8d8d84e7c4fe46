"""Settings: defaults, environment prefix and validation."""

from __future__ import annotations

import pytest

from lycheemem.errors import ConfigError
from lycheemem.longdoc.config import load_longdoc_settings


def test_defaults_are_the_documented_ones() -> None:
    settings = load_longdoc_settings(env_file=None)
    assert settings.backend == "heuristic"
    assert (settings.chunk_tokens, settings.ratio, settings.memory_tokens) == (4096, 4, 1024)
    assert settings.max_doc_bytes == 8 * 1024 * 1024
    assert settings.memagent_chunk_tokens == 5000


def test_environment_prefix_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYCHEEMEM_LONGDOC_RATIO", "8")
    monkeypatch.setenv("LYCHEEMEM_LONGDOC_GATE_THRESHOLD", "0.7")
    settings = load_longdoc_settings(env_file=None)
    assert settings.ratio == 8 and settings.gate_threshold == 0.7


@pytest.mark.parametrize(
    "overrides",
    [{"ratio": 0}, {"ratio": 33}, {"backend": "vllm"}, {"backend": "transformers"}],
)
def test_invalid_settings_raise_config_error(overrides: dict) -> None:
    with pytest.raises(ConfigError, match="LYCHEEMEM_LONGDOC_"):
        load_longdoc_settings(env_file=None, **overrides)
