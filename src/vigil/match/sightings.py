"""Tell the exchange where partners' signals were seen: one sighting per signal and platform.

A match run's ``summary.parquet`` already aggregates matches per (signal, platform): how many
distinct posts, the first and last post time. Each row becomes a sighting posted through the
exchange's REST API (``POST /api/v1/signals/{id}/sightings``), the path the exchange supports
directly: it checks the caller may see the signal, records and audits the sighting, and shows it
to everyone who can see the signal (the contributor included) and to nobody else; TAXII readers
receive it as a STIX ``sighting`` on their next poll.

A signal that is no longer visible to the reporting key (revoked everywhere, or its marking
changed) answers 404; it is counted and skipped. A bad key or a role that may not write stops the
report at the first request, before anything is half-reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq

from vigil.core.errors import AuthenticationError, DataError, ExternalServiceError, PermissionDenied
from vigil.core.time import isoformat_z
from vigil.match.fetch import server_root


@dataclass(frozen=True)
class SightingDraft:
    signal_id: str
    signal_type: str
    signal_value: str
    platform: str
    count: int
    first_seen: datetime
    last_seen: datetime

    def body(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "first_seen": isoformat_z(self.first_seen),
            "last_seen": isoformat_z(self.last_seen),
            "platform": self.platform,
        }


@dataclass
class SightingsReport:
    reported: int = 0
    posts: int = 0  # sum of counts reported
    not_visible: list[str] = field(default_factory=list)  # signal ids answering 404
    failed: list[str] = field(default_factory=list)  # "signal id: error"


def sightings_from_summary(summary_path: Path) -> list[SightingDraft]:
    """One draft per (signal, platform) row of a match summary."""
    try:
        rows = pq.read_table(str(summary_path)).to_pylist()
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read match summary: {exc}", file=str(summary_path)) from exc
    drafts = []
    for row in rows:
        if row["first_seen"] is None or row["last_seen"] is None or not row["posts"]:
            continue
        drafts.append(
            SightingDraft(
                signal_id=row["signal_id"],
                signal_type=row["signal_type"],
                signal_value=row["signal_value"],
                platform=row["platform"],
                count=int(row["posts"]),
                first_seen=row["first_seen"],
                last_seen=row["last_seen"],
            )
        )
    return drafts


def report_sightings(
    server: str,
    api_key: str,
    drafts: list[SightingDraft],
    *,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> SightingsReport:
    """POST each draft as a sighting of its signal, as the organisation owning ``api_key``."""
    base = f"{server_root(server)}/api/v1"
    report = SightingsReport()
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout, transport=transport
    ) as client:
        for draft in drafts:
            url = f"/signals/{draft.signal_id}/sightings"
            try:
                response = client.post(url, json=draft.body())
            except httpx.HTTPError as exc:
                raise ExternalServiceError(f"exchange {base} unreachable: {exc}") from exc
            if response.status_code == 201:
                report.reported += 1
                report.posts += draft.count
            elif response.status_code == 404:
                report.not_visible.append(draft.signal_id)
            elif response.status_code == 401:
                raise AuthenticationError(f"the exchange refused the key: {_message(response)}")
            elif response.status_code == 403:
                raise PermissionDenied(f"this key may not report sightings: {_message(response)}")
            else:
                report.failed.append(f"{draft.signal_id}: HTTP {response.status_code} {_message(response)}")
    return report


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text[:200]))
    except ValueError:
        return response.text[:200]
