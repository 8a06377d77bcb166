"""A list or dict setting given as plain text in the environment is a ConfigError naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.core.errors import ConfigError
from vigil.core.settings import load_settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [("VIGIL_PUSH_ALLOWED_HOSTS", "hooks.example.org"), ("VIGIL_SIGNAL_THRESHOLDS", "image_pdq=24")],
)
def test_non_json_list_or_dict_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert f"{variable} must be JSON" in raised.value.message
    assert raised.value.exit_code == 78


def test_json_list_and_dict_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VIGIL_PUSH_ALLOWED_HOSTS", '["hooks.example.org"]')
    monkeypatch.setenv("VIGIL_SIGNAL_THRESHOLDS", '{"image_pdq": 24}')
    settings = load_settings()
    assert settings.push_allowed_hosts == ["hooks.example.org"]
    assert settings.signal_thresholds == {"image_pdq": 24.0}
