"""Tell the exchange where partners' signals were seen: one sighting per signal and platform.

A match run's ``summary.parquet`` already aggregates matches per (signal, platform): how many
distinct posts, the first and last post time. Each row becomes a sighting posted through the
exchange's REST API (``POST /api/v1/signals/{id}/sightings``), the path the exchange supports
directly: it checks the caller may see the signal, records and audits the sighting, and shows it
to everyone who can see the signal (the contributor included) and to nobody else; TAXII readers
receive it as a STIX ``sighting`` on their next poll.

Reporting the same matches twice must not double the counts the owner sees: every sighting
reported is written to a ledger (``DIR/sightings.sqlite`` beside the index), and a draft identical
to one already reported (signal, platform, count, first and last seen) is skipped. Overlapping
runs over *different* post files are each reported; run ``vigil match`` on new posts only.

A signal that is no longer visible to the reporting key (revoked everywhere, or its marking
changed) answers 404; it is counted and skipped. A bad key or a role that may not write stops the
report at the first request, before anything is half-reported.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq

from vigil.core.errors import AuthenticationError, DataError, ExternalServiceError, PermissionDenied
from vigil.core.progress import NoProgress, Progress
from vigil.core.time import isoformat_z, utcnow
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


LEDGER_FILE = "sightings.sqlite"


class SightingLedger:
    """Sightings already reported, so a repeated run reports nothing twice."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), timeout=30)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS reported_sightings (signal_id TEXT NOT NULL, "
                "platform TEXT NOT NULL, count INTEGER NOT NULL, first_seen TEXT NOT NULL, "
                "last_seen TEXT NOT NULL, reported_at TEXT NOT NULL, "
                "UNIQUE (signal_id, platform, count, first_seen, last_seen))"
            )
        except sqlite3.DatabaseError as exc:
            raise DataError(f"not a usable sightings ledger: {exc}", file=str(self.path)) from exc

    @classmethod
    def of_index(cls, index_dir: Path) -> SightingLedger:
        return cls(Path(index_dir) / LEDGER_FILE)

    def _key(self, draft: SightingDraft) -> tuple[str, str, int, str, str]:
        body = draft.body()
        return draft.signal_id, draft.platform, draft.count, body["first_seen"], body["last_seen"]

    def seen(self, draft: SightingDraft) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM reported_sightings WHERE signal_id = ? AND platform = ? AND count = ? "
            "AND first_seen = ? AND last_seen = ?",
            self._key(draft),
        ).fetchone()
        return row is not None

    def record(self, draft: SightingDraft) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO reported_sightings VALUES (?, ?, ?, ?, ?, ?)",
                (*self._key(draft), isoformat_z(utcnow())),
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SightingLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class SightingsReport:
    reported: int = 0
    already_reported: int = 0  # skipped: the ledger holds an identical sighting
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
    ledger: SightingLedger | None = None,
    progress: Progress | None = None,
) -> SightingsReport:
    """POST each draft as a sighting of its signal, as the organisation owning ``api_key``; with a
    ``ledger``, skip drafts reported before and record the ones reported now."""
    base = f"{server_root(server)}/api/v1"
    report = SightingsReport()
    progress = progress or NoProgress()
    progress.start("reporting sightings", total=len(drafts))
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout, transport=transport
    ) as client:
        for draft in drafts:
            progress.advance(1)
            if ledger is not None and ledger.seen(draft):
                report.already_reported += 1
                continue
            url = f"/signals/{draft.signal_id}/sightings"
            try:
                response = client.post(url, json=draft.body())
            except httpx.HTTPError as exc:
                raise ExternalServiceError(f"exchange {base} unreachable: {exc}") from exc
            if response.status_code == 201:
                report.reported += 1
                report.posts += draft.count
                if ledger is not None:
                    ledger.record(draft)
            elif response.status_code == 404:
                report.not_visible.append(draft.signal_id)
            elif response.status_code == 401:
                raise AuthenticationError(f"the exchange refused the key: {_message(response)}")
            elif response.status_code == 403:
                raise PermissionDenied(f"this key may not report sightings: {_message(response)}")
            else:
                report.failed.append(f"{draft.signal_id}: HTTP {response.status_code} {_message(response)}")
    progress.finish()
    return report


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text[:200]))
    except ValueError:
        return response.text[:200]
