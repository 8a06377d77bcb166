"""The generator's package data: phrase banks, translated messages and the synthetic world."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

LANGS = ("en", "fr", "ar", "de", "es")
SLOTS = ("opener", "subject", "predicate", "comment", "tail")


def _load(name: str) -> Any:
    return json.loads(resources.files("vigil.synth").joinpath("data", name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Message:
    """One message of the bank in its three languages."""

    id: str
    topic: str
    text: dict[str, str]  # lang -> text (en, fr, ar)


@dataclass(frozen=True)
class Locale:
    name: str
    lang: str
    tz: int  # hours east of UTC
    weight: float


@lru_cache(maxsize=1)
def phrases() -> dict[str, Any]:
    """Per-language phrase slots (``SLOTS``) and the shared ``emoji`` list."""
    data: dict[str, Any] = _load("phrases.json")
    return data


@lru_cache(maxsize=1)
def messages() -> tuple[Message, ...]:
    data = _load("messages.json")
    return tuple(
        Message(m["id"], m["topic"], {lang: m[lang] for lang in ("en", "fr", "ar")}) for m in data["messages"]
    )


@lru_cache(maxsize=1)
def world() -> dict[str, Any]:
    data: dict[str, Any] = _load("world.json")
    return data


def locales() -> tuple[Locale, ...]:
    return tuple(Locale(x["name"], x["lang"], int(x["tz"]), float(x["weight"])) for x in world()["locales"])
