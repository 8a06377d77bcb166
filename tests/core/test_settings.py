"""Settings: validated, documented, and read from env and a TOML file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vigil.core.errors import ConfigError
from vigil.core.settings import Settings, load_settings
from vigil.core.time import parse_duration

REPO = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented() -> None:
    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"`VIGIL_{name.upper()}`" not in text]
    assert not missing, f"add these settings to docs/configuration.md: {missing}"


def test_readme_links_to_existing_docs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)]+)\)", readme)
    assert links
    assert [link for link in links if not (REPO / link).is_file()] == []


def test_env_and_toml_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text('port = 9100\nlog_level = "debug"\n', encoding="utf-8")
    monkeypatch.setenv("VIGIL_CONFIG", str(config))
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    assert settings.port == 9100
    assert settings.log_level == "DEBUG"
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'data' / 'vigil.db'}"
    monkeypatch.setenv("VIGIL_PORT", "9200")  # the environment wins over the file
    assert load_settings().port == 9200


def test_invalid_values_name_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_PORT", "70000")
    with pytest.raises(ConfigError, match="port"):
        load_settings()
    monkeypatch.delenv("VIGIL_PORT")
    monkeypatch.setenv("VIGIL_CONFIG", "/nonexistent/vigil.toml")
    with pytest.raises(ConfigError, match="not a file"):
        load_settings()


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("60s", 60), ("15m", 900), ("2h", 7200), ("7d", 604800)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds
