"""Vigil's settings: one validated class, built on demand by a cached factory.

Values come, in order of precedence, from keyword arguments, ``VIGIL_*`` environment variables,
a ``.env`` file in the working directory, and a TOML settings file named by ``VIGIL_CONFIG``.
Nothing is read at import time, so tests can build their own ``Settings`` freely.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from vigil.core.errors import ConfigError


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "vigil"


class Settings(BaseSettings):
    """Everything configurable in Vigil. See docs/configuration.md for each field."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIL_",
        env_file=".env",
        extra="ignore",
        validate_default=True,
    )

    data_dir: Path = Field(default_factory=_default_data_dir, description="Where embedded databases live.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the exchange database; default: SQLite file in data_dir.",
    )
    host: str = Field(default="127.0.0.1", description="Address `vigil serve` binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `vigil serve` listens on.")
    public_url: str | None = Field(default=None, description="Base URL clients reach the server at.")
    max_request_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Largest request body the API accepts."
    )
    taxii_page_size: int = Field(default=1000, ge=1, le=100_000, description="Largest TAXII page.")
    log_level: str = Field(default="INFO", description="Python logging level.")
    duckdb_memory_limit: str = Field(default="3GB", description="DuckDB memory_limit for detection.")
    duckdb_threads: int = Field(default=2, ge=1, description="DuckDB worker threads.")
    temp_dir: Path | None = Field(default=None, description="Where DuckDB may spill; default: system temp.")
    playbook_dirs: list[Path] = Field(
        default_factory=list,
        description="Directories of coalition playbooks (YAML), loaded after the shipped ones.",
    )
    warninglist_dirs: list[Path] = Field(
        default_factory=list,
        description="Directories of extra warning lists (YAML), read after the shipped ones "
        "(see docs/lifecycle.md).",
    )
    push_max_attempts: int = Field(default=8, ge=1, description="Webhook attempts before a dead letter.")
    push_backoff_s: float = Field(
        default=30.0, gt=0, description="First webhook retry delay (seconds), doubled each attempt."
    )
    push_timeout_s: float = Field(default=10.0, gt=0, description="Webhook request timeout (seconds).")
    push_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names webhooks may go to (exact or wildcard, e.g. *.example.org); "
        "empty: any host that resolves to public addresses only.",
    )
    push_allow_private: bool = Field(
        default=False,
        description="Allow webhooks to loopback, link-local, private (RFC 1918), multicast and "
        "reserved addresses (off: refused at subscription and at delivery).",
    )
    push_allow_http: bool = Field(
        default=False, description="Allow webhook URLs over plain http (off: https only)."
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s) sealing webhook secrets and peer API keys in the database, "
        "comma-separated: the first seals, every one opens (rotation). Default: secret_key_file.",
    )
    secret_key_file: Path | None = Field(
        default=None,
        description="File of Fernet keys, one a line (first seals); default data_dir/secret.key, "
        "created with mode 0600 on first use.",
    )
    meeting_reminder_lead_h: float = Field(
        default=24.0,
        ge=0,
        description="Action items due within this many hours are 'due soon' (dashboard, "
        "action_item.due_soon webhooks).",
    )
    flood_coalition_min_reporters: int = Field(
        default=2,
        ge=1,
        le=1000,
        description="Members whose matchers must report the same signal flooding before the exchange "
        "quarantines it coalition-wide (see docs/matching.md).",
    )
    # The decay model (vigil.signals.decay) the dashboard, the signal list's score filter and the
    # matcher share: a coalition that tunes it must tune it on both sides at once.
    decay_lifetime_days: float = Field(
        default=90.0, gt=0, description="Decay: days after which a signal's score reaches 0."
    )
    decay_speed: float = Field(
        default=2.0,
        gt=0,
        description="Decay: the polynomial's speed (1 linear; above 1 falls fast at first).",
    )
    decay_threshold: float = Field(
        default=20.0, ge=0, le=100, description="Decay: a score under this counts as decayed."
    )
    decay_confirm_bonus: float = Field(
        default=5.0, ge=0, le=100, description="Decay: added to the base per confirmation."
    )
    decay_false_positive_penalty: float = Field(
        default=25.0, ge=0, le=100, description="Decay: taken from the base per false-positive opinion."
    )
    decay_dispute_penalty: float = Field(
        default=10.0, ge=0, le=100, description="Decay: taken from the base per dispute."
    )
    signal_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Match thresholds by signal type, overriding the type's default, e.g. "
        '{"image_pdq": 24, "text_minhash": 0.8} (see docs/signals.md).',
    )

    session_max_age_s: int = Field(
        default=12 * 3600,
        ge=60,
        le=30 * 86400,
        description="A dashboard session ends this long after sign-in, whatever the activity (seconds).",
    )
    session_idle_s: int = Field(
        default=30 * 60,
        ge=60,
        le=30 * 86400,
        description="A dashboard session ends after this long without a page view (seconds).",
    )
    session_cookie_secure: bool | None = Field(
        default=None,
        description="Mark the dashboard's session cookie Secure; default: when the request came over "
        "https or public_url is https (set true behind a TLS proxy that forwards plain http).",
    )

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return upper

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'vigil.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        config_file = os.environ.get("VIGIL_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Build and validate settings, turning validation failures into a ConfigError users can read."""
    config_file = os.environ.get("VIGIL_CONFIG")
    if config_file and not Path(config_file).is_file():
        raise ConfigError(f"VIGIL_CONFIG names {config_file!r}, which is not a file")
    try:
        return Settings(**overrides)
    except SettingsError as exc:
        # A list or dict setting whose environment value is not JSON: pydantic-settings names the
        # field but not the variable, nor that JSON is expected.
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"VIGIL_{found.group(1).upper()}" if found else "a VIGIL_* variable"
        raise ConfigError(
            f"invalid settings: {name} must be JSON (a list such as '[\"a.example\"]' or an object "
            f"such as '{{\"image_pdq\": 24}}')"
        ) from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built once on first use (call ``get_settings.cache_clear()`` to reload)."""
    return load_settings()
