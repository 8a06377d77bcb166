"""Flood quarantine: a signal whose matches explode for this member is held from the actioner.

A shared signal that is wrong in a popular way (the PDQ hash of a viral meme, a news site's
domain) matches a large part of a platform's posts at once; acted on automatically, it would
take down or ticket thousands of innocent posts. The :class:`FloodGuard` watches a match run
batch by batch and quarantines a signal as soon as it exceeds either limit of the
:class:`FloodPolicy`:

* more than ``max_per_hour`` distinct posts in one hour of post time (counts persist across
  runs in the store, so a flood spread over several post files is seen too), or
* more than ``max_share`` of the posts read so far in the run, once it matched at least
  ``min_posts`` posts (so a tiny run does not quarantine on two matches).

The check runs on every batch's rows before the next batch is read, and the actioner holds every
row of a quarantined signal, the rows of the batch that started the flood included: nothing of a
flood is acted on. Matches are still written to ``matches.parquet`` (nothing is lost) and the
quarantine lasts until someone reviews it and releases it (``vigil match quarantine --release``).

Quarantine and release are written to an append-only log in the same database (triggers refuse
UPDATE and DELETE, as the exchange's audit table does): the member's matcher runs on the member's
side with no connection to the exchange's database, so the exchange's ``audit.record`` cannot be
called from here.

**Coalition quarantine.** When several members report the same flood, the exchange publishes a
STIX ``note`` over TAXII whose ``object_refs`` are the signal's indicators, with
``x_vigil_quarantine`` (``active`` or ``released``), ``x_vigil_signal_id`` and
``x_vigil_reporters``; each transition is a new version of the same note. ``vigil match fetch``
applies it here (:meth:`QuarantineStore.apply_coalition`): a coalition quarantine is kept apart
from the member's own (table ``coalition_quarantine``), so a coalition release never lifts a
quarantine the member's own flood guard started, and the actioner holds a signal under either.
A reviewer of this member may still override a coalition quarantine for this member
(:meth:`QuarantineStore.release`) until the coalition's next transition.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from vigil.core.errors import InputError, NotFound
from vigil.core.time import isoformat_z, parse_instant, utcnow
from vigil.match.localdb import LocalDb

QUARANTINE_FILE = "quarantine.sqlite"
DEFAULT_MAX_PER_HOUR = 1_000
DEFAULT_MAX_SHARE = 0.02
DEFAULT_MIN_POSTS = 50

_SCHEMA = """
CREATE TABLE IF NOT EXISTS quarantine (
    signal_id TEXT PRIMARY KEY,
    signal_type TEXT NOT NULL,
    signal_value TEXT NOT NULL,
    org_ids TEXT NOT NULL,
    reason TEXT NOT NULL,
    run_id TEXT NOT NULL,
    posts INTEGER NOT NULL,
    quarantined_at TEXT NOT NULL,
    status TEXT NOT NULL,
    released_at TEXT,
    released_by TEXT,
    note TEXT
);
CREATE TABLE IF NOT EXISTS flood_hourly (
    signal_id TEXT NOT NULL,
    hour TEXT NOT NULL,
    posts INTEGER NOT NULL,
    PRIMARY KEY (signal_id, hour)
);
CREATE TABLE IF NOT EXISTS quarantine_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    signal_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS coalition_quarantine (
    signal_id TEXT PRIMARY KEY,
    note_id TEXT NOT NULL,
    note_modified TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    reporters INTEGER NOT NULL,
    signal_type TEXT NOT NULL,
    signal_value TEXT NOT NULL,
    org_ids TEXT NOT NULL,
    since TEXT NOT NULL,
    released_at TEXT,
    overridden_by TEXT,
    overridden_at TEXT,
    note TEXT
);
CREATE TRIGGER IF NOT EXISTS quarantine_log_no_update BEFORE UPDATE ON quarantine_log
BEGIN SELECT RAISE(ABORT, 'quarantine_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS quarantine_log_no_delete BEFORE DELETE ON quarantine_log
BEGIN SELECT RAISE(ABORT, 'quarantine_log is append-only'); END;
"""


@dataclass(frozen=True)
class FloodPolicy:
    """When a signal's matches count as a flood. ``None`` disables a limit."""

    max_per_hour: int | None = DEFAULT_MAX_PER_HOUR
    max_share: float | None = DEFAULT_MAX_SHARE
    min_posts: int = DEFAULT_MIN_POSTS

    def __post_init__(self) -> None:
        if self.max_per_hour is not None and self.max_per_hour < 1:
            raise InputError(
                f"max_per_hour must be at least 1, got {self.max_per_hour}", field="max_per_hour"
            )
        if self.max_share is not None and not 0 < self.max_share <= 1:
            raise InputError(f"max_share must be in (0, 1], got {self.max_share}", field="max_share")
        if self.min_posts < 1:
            raise InputError(f"min_posts must be at least 1, got {self.min_posts}", field="min_posts")


@dataclass(frozen=True)
class Quarantined:
    signal_id: str
    signal_type: str
    signal_value: str
    org_ids: list[str]
    reason: str
    run_id: str
    posts: int
    quarantined_at: str
    status: str
    released_at: str | None
    released_by: str | None
    note: str | None
    scope: str = "local"  # "local" (this member's flood guard) or "coalition" (the exchange's note)


@dataclass(frozen=True)
class CoalitionNote:
    """One version of the exchange's coalition quarantine note about a signal."""

    note_id: str
    signal_id: str
    state: str  # "active" or "released"
    reporters: int
    reason: str
    modified: datetime
    signal_type: str = ""
    signal_value: str = ""
    org_ids: tuple[str, ...] = ()


class QuarantineStore(LocalDb):
    """The quarantine table, hourly flood counts and the append-only log in ``quarantine.sqlite``."""

    SCHEMA = _SCHEMA
    WHAT = "quarantine database"

    @classmethod
    def of_index(cls, index_dir: Path) -> QuarantineStore:
        return cls(Path(index_dir) / QUARANTINE_FILE)

    def active(self) -> set[str]:
        """Ids of the signals quarantined now: by this member (not released) or by the coalition
        (active, and not overridden by this member's reviewer)."""
        local = {
            r[0] for r in self._db.execute("SELECT signal_id FROM quarantine WHERE status = 'quarantined'")
        }
        coalition = {
            r[0]
            for r in self._db.execute(
                "SELECT signal_id FROM coalition_quarantine WHERE status = 'active' AND overridden_by IS NULL"
            )
        }
        return local | coalition

    def items(self, status: str | None = "quarantined") -> list[Quarantined]:
        """Quarantines, this member's and the coalition's (``scope``), oldest first; ``status``
        ``quarantined`` (held now), ``released`` or None (all)."""
        sql = (
            "SELECT * FROM quarantine" + (" WHERE status = ?" if status else "") + " ORDER BY quarantined_at"
        )
        rows = self._db.execute(sql, (status,) if status else ())
        out = [Quarantined(**{**dict(r), "org_ids": json.loads(r["org_ids"])}) for r in rows]
        for r in self._db.execute("SELECT * FROM coalition_quarantine ORDER BY since"):
            held = r["status"] == "active" and r["overridden_by"] is None
            shown = "quarantined" if held else "released"
            if status is not None and status != shown:
                continue
            out.append(
                Quarantined(
                    signal_id=r["signal_id"],
                    signal_type=r["signal_type"],
                    signal_value=r["signal_value"],
                    org_ids=json.loads(r["org_ids"]),
                    reason=r["reason"],
                    run_id=r["note_id"],
                    posts=0,
                    quarantined_at=r["since"],
                    status=shown,
                    released_at=r["released_at"] or r["overridden_at"],
                    released_by=r["overridden_by"] or ("coalition" if r["released_at"] else None),
                    note=r["note"],
                    scope="coalition",
                )
            )
        return out

    def log(self, signal_id: str | None = None) -> list[dict[str, Any]]:
        """The quarantine log, oldest first."""
        sql = "SELECT * FROM quarantine_log" + (" WHERE signal_id = ?" if signal_id else "") + " ORDER BY id"
        return [
            {**dict(r), "detail": json.loads(r["detail"])}
            for r in self._db.execute(sql, (signal_id,) if signal_id else ())
        ]

    def _log(self, action: str, signal_id: str, actor: str, detail: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO quarantine_log (at, action, signal_id, actor, detail) VALUES (?, ?, ?, ?, ?)",
            (isoformat_z(utcnow()), action, signal_id, actor, json.dumps(detail, sort_keys=True)),
        )

    def quarantine(
        self,
        signal_id: str,
        *,
        signal_type: str,
        signal_value: str,
        org_ids: Iterable[str],
        reason: str,
        run_id: str,
        posts: int,
        actor: str = "flood-guard",
    ) -> bool:
        """Quarantine a signal (again, if it was released); False if it is quarantined already."""
        orgs = sorted(set(org_ids))
        with self._db:
            row = self._db.execute(
                "SELECT status FROM quarantine WHERE signal_id = ?", (signal_id,)
            ).fetchone()
            if row is not None and row["status"] == "quarantined":
                return False
            self._db.execute(
                "INSERT OR REPLACE INTO quarantine (signal_id, signal_type, signal_value, org_ids, reason, "
                "run_id, posts, quarantined_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'quarantined')",
                (
                    signal_id,
                    signal_type,
                    signal_value,
                    json.dumps(orgs),
                    reason,
                    run_id,
                    posts,
                    isoformat_z(utcnow()),
                ),
            )
            self._log(
                "quarantine",
                signal_id,
                actor,
                {
                    "reason": reason,
                    "run_id": run_id,
                    "posts": posts,
                    "org_ids": orgs,
                    "signal_type": signal_type,
                },
            )
        return True

    def release(self, signal_id: str, *, actor: str, note: str | None = None) -> Quarantined:
        """End this member's quarantine of a signal after review; if only the coalition holds it,
        override the coalition's quarantine for this member (until the coalition's next
        transition). NotFound if neither holds it."""
        if not actor.strip():
            raise InputError("a release names who reviewed it", field="actor")
        now = isoformat_z(utcnow())
        with self._db:
            cursor = self._db.execute(
                "UPDATE quarantine SET status = 'released', released_at = ?, released_by = ?, note = ? "
                "WHERE signal_id = ? AND status = 'quarantined'",
                (now, actor, note, signal_id),
            )
            if cursor.rowcount:
                # Its hourly counts start again: the reviewer judged the matches so far acceptable.
                self._db.execute("DELETE FROM flood_hourly WHERE signal_id = ?", (signal_id,))
                self._log("release", signal_id, actor, {"note": note})
                scope = "local"
            else:
                cursor = self._db.execute(
                    "UPDATE coalition_quarantine SET overridden_by = ?, overridden_at = ?, note = ? "
                    "WHERE signal_id = ? AND status = 'active' AND overridden_by IS NULL",
                    (actor, now, note, signal_id),
                )
                if cursor.rowcount == 0:
                    raise NotFound(f"signal {signal_id} is not quarantined")
                self._log("coalition-override", signal_id, actor, {"note": note})
                scope = "coalition"
        return next(q for q in self.items(status=None) if q.signal_id == signal_id and q.scope == scope)

    def apply_coalition(self, notes: Iterable[CoalitionNote]) -> dict[str, int]:
        """Apply coalition quarantine note versions (in one transaction; a version no newer than
        the one applied for its signal is ignored, so receiving it again is harmless). Returns
        counts: ``quarantined``, ``released``, ``unchanged`` (a newer version, same state),
        ``stale``."""
        counts = {"quarantined": 0, "released": 0, "unchanged": 0, "stale": 0}
        now = isoformat_z(utcnow())
        with self._db:
            for n in sorted(notes, key=lambda n: n.modified):
                if n.state not in ("active", "released"):
                    raise InputError(
                        f"note {n.note_id}: x_vigil_quarantine must be active or released, got {n.state!r}",
                        field="x_vigil_quarantine",
                    )
                row = self._db.execute(
                    "SELECT * FROM coalition_quarantine WHERE signal_id = ?", (n.signal_id,)
                ).fetchone()
                modified = isoformat_z(n.modified)
                if row is not None and n.modified <= parse_instant(row["note_modified"]):
                    counts["stale"] += 1
                    continue
                was_active = row is not None and row["status"] == "active"
                starts = n.state == "active" and not was_active
                ends = n.state == "released" and was_active
                if row is None and n.state == "released":
                    # A release of a quarantine we never saw active: remember the version only.
                    starts = False
                self._db.execute(
                    "INSERT OR REPLACE INTO coalition_quarantine (signal_id, note_id, note_modified, status, "
                    "reason, reporters, signal_type, signal_value, org_ids, since, released_at, "
                    "overridden_by, overridden_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        n.signal_id,
                        n.note_id,
                        modified,
                        n.state,
                        n.reason,
                        n.reporters,
                        n.signal_type or (row["signal_type"] if row is not None else ""),
                        n.signal_value or (row["signal_value"] if row is not None else ""),
                        json.dumps(sorted(set(n.org_ids))),
                        now if starts or row is None else row["since"],
                        now if n.state == "released" else None,
                        # A transition ends a reviewer's override; a repeat of the same state keeps it.
                        None if (starts or ends or row is None) else row["overridden_by"],
                        None if (starts or ends or row is None) else row["overridden_at"],
                        None if (starts or ends or row is None) else row["note"],
                    ),
                )
                detail = {
                    "note_id": n.note_id,
                    "note_modified": modified,
                    "reporters": n.reporters,
                    "reason": n.reason,
                }
                if starts:
                    self._log("coalition-quarantine", n.signal_id, "coalition", detail)
                    counts["quarantined"] += 1
                elif ends:
                    self._log("coalition-release", n.signal_id, "coalition", detail)
                    counts["released"] += 1
                else:
                    counts["unchanged"] += 1
        return counts

    def add_hourly(self, counts: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
        """Add distinct-post counts per (signal, hour); returns the totals for those keys."""
        with self._db:
            self._db.executemany(
                "INSERT INTO flood_hourly (signal_id, hour, posts) VALUES (?, ?, ?) "
                "ON CONFLICT (signal_id, hour) DO UPDATE SET posts = posts + excluded.posts",
                [(s, h, n) for (s, h), n in counts.items()],
            )
            return {
                (s, h): int(
                    self._db.execute(
                        "SELECT posts FROM flood_hourly WHERE signal_id = ? AND hour = ?", (s, h)
                    ).fetchone()[0]
                )
                for s, h in counts
            }


def _hour(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%dT%H") if at is not None else "unknown"


@dataclass
class FloodGuard:
    """Watches a match run batch by batch and quarantines flooding signals in ``store``."""

    store: QuarantineStore
    policy: FloodPolicy
    run_id: str
    posts_by_signal: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    newly_quarantined: list[str] = field(default_factory=list)

    def observe(self, rows: pa.Table, posts_read: int) -> list[str]:
        """Count a batch's match rows (``posts_read``: posts read in the run so far, this batch
        included); quarantine what floods; returns the signals quarantined by this batch."""
        hourly: dict[tuple[str, str], set[tuple[str, str]]] = {}
        info: dict[str, tuple[str, str, set[str]]] = {}
        for row in rows.select(
            ["signal_id", "signal_type", "signal_value", "platform", "post_id", "created_at", "org_id"]
        ).to_pylist():
            post = (row["platform"], row["post_id"])
            signal = row["signal_id"]
            self.posts_by_signal.setdefault(signal, set()).add(post)
            hourly.setdefault((signal, _hour(row["created_at"])), set()).add(post)
            entry = info.setdefault(signal, (row["signal_type"], row["signal_value"], set()))
            if row["org_id"]:
                entry[2].add(row["org_id"])
        reasons: dict[str, tuple[str, int]] = {}
        policy = self.policy
        if policy.max_per_hour is not None and hourly:
            totals = self.store.add_hourly({key: len(posts) for key, posts in hourly.items()})
            for (signal, hour), total in sorted(totals.items()):
                if total > policy.max_per_hour and signal not in reasons:
                    reasons[signal] = (
                        f"{total} posts in hour {hour} (limit {policy.max_per_hour}/hour)",
                        total,
                    )
        if policy.max_share is not None and posts_read:
            for signal in info:
                n = len(self.posts_by_signal[signal])
                if signal not in reasons and n >= policy.min_posts and n / posts_read > policy.max_share:
                    reasons[signal] = (
                        f"{n} of {posts_read} posts read "
                        f"({n / posts_read:.1%}; limit {policy.max_share:.1%})",
                        n,
                    )
        started = []
        for signal, (reason, posts) in reasons.items():
            kind, value, orgs = info[signal]
            if self.store.quarantine(
                signal,
                signal_type=kind,
                signal_value=value,
                org_ids=orgs,
                reason=reason,
                run_id=self.run_id,
                posts=posts,
            ):
                started.append(signal)
        self.newly_quarantined.extend(started)
        return started


def notify_sources(
    server: str,
    key: str,
    signal_id: str,
    action: str,
    *,
    posts: int = 0,
    reason: str | None = None,
    transport: Any = None,
) -> list[str]:
    """Tell the exchange (``POST /api/v1/signals/{id}/quarantine-notices``) that this member
    quarantined or released a signal; the exchange audits it for each source. Returns the
    organisations notified."""
    import httpx

    from vigil.core.errors import AuthenticationError, ExternalServiceError, PermissionDenied
    from vigil.exchange.taxii_client import server_root

    url = f"{server_root(server)}/api/v1/signals/{signal_id}/quarantine-notices"
    try:
        with httpx.Client(transport=transport, timeout=30) as client:
            answer = client.post(
                url,
                json={"action": action, "posts": posts, "reason": reason},
                headers={"Authorization": f"Bearer {key}"},
            )
    except httpx.HTTPError as exc:
        raise ExternalServiceError(f"cannot reach {url}: {exc}") from exc
    if answer.status_code == 401:
        raise AuthenticationError("the exchange refused the API key")
    if answer.status_code == 403:
        raise PermissionDenied("the API key may not write (analyst or admin role needed)")
    if answer.status_code == 404:
        raise NotFound(f"signal {signal_id} is not visible to this key")
    if answer.status_code != 202:
        raise ExternalServiceError(
            f"quarantine notice failed: HTTP {answer.status_code}: {answer.text[:200]}"
        )
    return list(answer.json().get("notified_orgs", []))
