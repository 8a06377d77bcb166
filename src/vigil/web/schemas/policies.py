"""Request schema of the policy register routes (``vigil.web.routes.policies``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from vigil.web.schemas import In, MarkingIn


class PolicyIn(In):
    area: str = Field(min_length=1, max_length=64, examples=["political_ads"])
    status: Literal["none", "announced", "in_force", "in force", "changed", "withdrawn"]
    effective_from: datetime | None = None
    effective_until: datetime | None = None
    source_url: str | None = Field(default=None, max_length=2000)
    summary: str | None = Field(default=None, max_length=20_000)
    language: Literal["en", "fr", "ar"] | None = None
    marking: MarkingIn | None = Field(default=None, description="The policy's marking (default GREEN).")
    note: str | None = Field(default=None, max_length=20_000)
    note_marking: MarkingIn | None = Field(
        default=None, description="The note's own marking (default AMBER)."
    )
