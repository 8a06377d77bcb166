"""Fetch the signals a member may see from a TAXII 2.1 server into a match index, incrementally.

Two parts, kept apart on purpose: :class:`vigil.exchange.taxii_client.TaxiiClient` (shared with
federation) speaks raw TAXII 2.1 over HTTP (discovery, collections, object pages with
``added_after`` and ``next``) and knows nothing of Vigil's records; :func:`fetch_signals` adapts
what it receives (STIX indicators, campaigns, ``indicates`` relationships) to the match index and
saves it with the new checkpoints.

Checkpoints: for each collection, the ``X-TAXII-Date-Added-Last`` header of the last page received
(the server's own ``date_added`` clock, microsecond precision). The next fetch asks
``added_after=<it>``, so it downloads only object versions added since, including new versions
that revoke a contribution. Checkpoints are saved together with the index in one atomic switch
(see :mod:`vigil.match.state`), so a fetch that fails half-way changes nothing and is simply run
again.

Besides contributions, a fetch keeps what the coalition says about signals and applies what it
decides (see docs/matching.md, "Signal quality"):

* ``opinion`` and ``sighting`` objects go into the index's :class:`FeedbackLedger` (saved with the
  index and its checkpoints), whose per-signal counts ``vigil match run`` feeds to the decay score;
* ``note`` objects carrying ``x_vigil_quarantine`` put a signal in (or out of) coalition
  quarantine in ``quarantine.sqlite``;
* indicators whose ``indicator_types`` contain ``benign`` are another member's benign-bank entries:
  they go into ``benign.sqlite`` (with their source and TLP), never into the match index; a
  revoked version takes the entry out;
* the signals that arrived (a new or changed active contribution) are recorded per fetch in the
  index's :class:`ArrivalLog`, for retroactive matching.

The two SQLite files are written before the index is saved, and a version is applied only if it
is newer than the one applied before: if the save then fails, the next fetch receives the same
versions again and they change nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from vigil.core.errors import (
    Conflict,
    InputError,
    VigilError,
)
from vigil.core.progress import NoProgress, Progress
from vigil.core.settings import Settings
from vigil.core.time import isoformat_z, parse_instant, utcnow
from vigil.exchange.stix_apply import signal_id_for
from vigil.exchange.stix_export import VIGIL_IDENTITY_ID
from vigil.exchange.stix_markings import TLP_BY_MARKING_ID, most_restrictive
from vigil.exchange.stix_patterns import signal_of_pattern
from vigil.exchange.taxii_client import DEFAULT_PAGE, TaxiiClient, server_root
from vigil.match.benign import BENIGN_INDICATOR_TYPE, BenignBank
from vigil.match.feedback import ArrivalLog, FeedbackLedger
from vigil.match.quarantine import CoalitionNote, QuarantineStore
from vigil.match.state import ContributionRecord, MatchIndex, locked, matchable_types, open_index
from vigil.signals.registry import normalize

__all__ = ["DEFAULT_PAGE", "FetchReport", "TaxiiClient", "contribution_of", "fetch_signals", "server_root"]


# ---------------------------------------------------------------------------------------------
# STIX objects -> match index records


def contribution_of(obj: dict[str, Any], collection: str | None) -> ContributionRecord | str:
    """The contribution an indicator (or attack-pattern) stands for, or why it cannot be used."""
    kind, value = obj.get("x_vigil_kind"), obj.get("x_vigil_value")
    if not (isinstance(kind, str) and isinstance(value, str)):
        parsed = signal_of_pattern(str(obj.get("pattern", "")))
        if parsed is None:
            return f"pattern not understood: {str(obj.get('pattern'))[:80]!r}"
        kind, value = parsed[0].value, parsed[1]
    try:
        signal_id = signal_id_for(kind, value)
        modified = parse_instant(str(obj.get("modified") or obj.get("created")))
        valid_until = parse_instant(obj["valid_until"]) if obj.get("valid_until") else None
    except VigilError as exc:
        return f"{kind}: {exc.message}"
    levels = [
        TLP_BY_MARKING_ID[ref] for ref in obj.get("object_marking_refs") or [] if ref in TLP_BY_MARKING_ID
    ]
    confidence = obj.get("confidence")
    labels = obj.get("labels") or []
    return ContributionRecord(
        stix_id=str(obj["id"]),
        signal_id=signal_id,
        kind=kind,
        value=normalize(kind, value),
        org_id=obj.get("created_by_ref"),
        tlp=most_restrictive(levels).value if levels else None,
        confidence=int(confidence) if isinstance(confidence, int) else None,
        labels=[str(label) for label in labels],
        modified=modified,
        valid_until=valid_until,
        revoked=bool(obj.get("revoked", False)),
        collection=collection,
    )


@dataclass
class FetchReport:
    """What one fetch transferred and what it changed. Counts of contributions are STIX indicator
    versions; counts of signals are index entries (a signal contributed by two members is one)."""

    server: str
    collections: dict[str, int] = field(default_factory=dict)  # alias -> objects received
    objects_received: int = 0
    objects_by_type: Counter[str] = field(default_factory=Counter)
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    revoked: int = 0  # contributions that arrived revoked (newly, or a revocation of one we held)
    not_matchable: int = 0  # narratives, techniques: kept out of the index
    unusable: list[str] = field(default_factory=list)
    index_added: int = 0
    index_removed_revoked: int = 0
    index_removed_expired: int = 0
    index_removed_invisible: int = 0  # full re-sync: signals the key no longer sees
    full: bool = False
    forgotten: int = 0  # full re-sync: contributions no longer visible, dropped from the record
    signals_indexed: int = 0
    by_type: dict[str, int] = field(default_factory=dict)  # signals in the index per type
    checkpoints: dict[str, str] = field(default_factory=dict)  # alias -> added_after for next time
    first_fetch: bool = False
    opinions: int = 0  # opinion versions stored (new or changed)
    sightings: int = 0  # sighting versions stored
    feedback_unresolved: int = 0  # opinions/sightings about no contribution we hold
    coalition: dict[str, int] = field(default_factory=dict)  # quarantined, released, unchanged, stale
    benign_added: int = 0  # shared benign entries added to the bank
    benign_removed: int = 0  # ... and removed by a revoked version
    arrived: int = 0  # signals with a new or changed active contribution


def fetch_signals(
    index_dir: Path,
    server: str,
    api_key: str,
    *,
    collections: Sequence[str] = (),
    page_size: int = DEFAULT_PAGE,
    now: datetime | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    transport: httpx.BaseTransport | None = None,
    full: bool = False,
) -> FetchReport:
    """Bring the index in ``index_dir`` up to date with what ``api_key`` may read on ``server``.

    ``collections`` (ids or aliases) default to every collection the key can read. Creates the
    index on first use. Revoked and expired signals leave the index, and the report counts them.

    ``full`` ignores the checkpoints and downloads everything again; contributions the server no
    longer shows (their marking was tightened past us, or our organisation lost access) are then
    dropped too. Incremental polling cannot see those: nothing new is added for us to receive.
    """
    root = server_root(server)
    progress = progress or NoProgress()
    report = FetchReport(server=root, full=full)
    with locked(index_dir, exclusive=True):
        index = open_index(index_dir, create=True, settings=settings)
        if index.server is not None and index.server != root:
            raise Conflict(
                f"match index {index_dir} was built from {index.server}; use another --index for {root}"
            )
        report.first_fetch = not index.checkpoints
        applier = _Applier(index, report)
        with TaxiiClient(root, api_key, transport=transport) as client:
            api_root = client.api_root()
            chosen = _choose(client.collections(api_root), collections)
            progress.start("fetching signals", total=None)
            for spec in chosen:
                alias = str(spec.get("alias") or spec["id"])
                index.collections[spec["id"]] = alias
                checkpoint = None if full else index.checkpoints.get(spec["id"])
                count = 0
                for page in client.object_pages(
                    api_root, spec["id"], added_after=checkpoint, limit=page_size
                ):
                    applier.page(alias, page.objects)  # per page: memory stays bounded on big feeds
                    count += len(page.objects)
                    progress.advance(len(page.objects))
                    if page.date_added_last:
                        checkpoint = _later(checkpoint, page.date_added_last)
                report.collections[alias] = count
                if checkpoint:
                    index.checkpoints[spec["id"]] = checkpoint
                    report.checkpoints[alias] = checkpoint
            progress.finish()
        applier.finish()
        if full:
            report.forgotten = index.forget_except(applier.seen_ids)
            applier.ledger.forget_except(applier.seen_feedback)
        applier.apply_local(index_dir, settings)
        ArrivalLog.of_index(index).record(now or utcnow(), applier.arrived)
        report.arrived = len(applier.arrived)
        changes = index.reconcile(now)
        report.index_removed_invisible = changes.removed_invisible
        report.index_added = changes.added
        report.index_removed_revoked = changes.removed_revoked
        report.index_removed_expired = changes.removed_expired
        report.by_type = index.indexed_count()
        report.signals_indexed = sum(report.by_type.values())
        index.server = root
        index.last_fetch = isoformat_z(now or utcnow())
        index.save()
    return report


def _later(a: str | None, b: str) -> str:
    if a is None:
        return b
    return b if parse_instant(b) > parse_instant(a) else a


def _choose(listed: list[dict[str, Any]], wanted: Sequence[str]) -> list[dict[str, Any]]:
    readable = [c for c in listed if c.get("can_read", True) and isinstance(c.get("id"), str)]
    if not wanted:
        return readable
    chosen = []
    for name in wanted:
        spec = next((c for c in readable if name in (c["id"], c.get("alias"))), None)
        if spec is None:
            names = ", ".join(str(c.get("alias") or c["id"]) for c in readable)
            raise InputError(
                f"no readable collection {name!r} for this key; readable: {names}", collection=name
            )
        if spec not in chosen:
            chosen.append(spec)
    return chosen


class _Applier:
    """Applies received objects page by page. Contributions and campaigns go in at once; the
    ``indicates`` links wait for the end of the fetch, since a link may arrive on an earlier page
    than its indicator (the exchange dates both by the indicator's version, and within a fetch
    they always both arrive)."""

    def __init__(self, index: MatchIndex, report: FetchReport) -> None:
        self.index = index
        self.report = report
        self.matchable = set(matchable_types())
        self.links: list[tuple[str, str, datetime]] = []
        self.seen_ids: set[str] = set()  # every contribution object received (for --full)
        self.seen_feedback: set[str] = set()  # every opinion and sighting received (for --full)
        self.ledger = FeedbackLedger.of_index(index)
        self.feedback: list[dict[str, Any]] = []  # opinions and sightings not resolved yet
        self.notes: dict[str, dict[str, Any]] = {}  # coalition quarantine notes, latest version
        self.benign: list[tuple[dict[str, Any], ContributionRecord]] = []
        self.arrived: set[str] = set()

    def page(self, collection: str, objects: list[dict[str, Any]]) -> None:
        report = self.report
        # One batched lookup of the page's contributions we already hold (the record is columnar).
        self.index.contributions.load(
            str(obj.get("id")) for obj in objects if obj.get("type") in ("indicator", "attack-pattern")
        )
        for obj in objects:
            stix_type = str(obj.get("type"))
            report.objects_received += 1
            report.objects_by_type[stix_type] += 1
            if stix_type == "indicator" and BENIGN_INDICATOR_TYPE in (obj.get("indicator_types") or []):
                self._benign(obj, collection)  # another member's benign entry: not a signal to match
            elif stix_type == "indicator" or (stix_type == "attack-pattern" and obj.get("x_vigil_kind")):
                self.seen_ids.add(str(obj.get("id")))
                self._contribution(obj, collection)
            elif stix_type in ("opinion", "sighting"):
                self.seen_feedback.add(str(obj.get("id")))
                self.feedback.append(obj)
            elif stix_type == "note" and "x_vigil_quarantine" in obj:
                held = self.notes.get(str(obj.get("id")))
                if held is None or _version(obj) > _version(held):
                    self.notes[str(obj["id"])] = obj
            elif stix_type == "campaign":
                modified = parse_instant(str(obj.get("modified") or obj.get("created")))
                self.index.set_campaign(str(obj["id"]), str(obj.get("name") or ""), modified)
            elif stix_type == "relationship" and obj.get("relationship_type") == "indicates":
                target = str(obj.get("target_ref"))
                if target.startswith("campaign--"):
                    when = parse_instant(str(obj.get("modified") or obj.get("created")))
                    self.links.append((str(obj.get("source_ref")), target, when))
        if self.feedback:
            # Resolve this page's feedback now (its contributions are usually held already or on
            # this page); only what is still unresolved waits for the end, so memory stays bounded.
            pending, self.feedback = self.feedback, []
            self.index.contributions.load(ref for obj in pending for ref in _refs(obj))
            self.feedback = [obj for obj in pending if not self._feedback(obj, final=False)]

    def _contribution(self, obj: dict[str, Any], collection: str) -> None:
        report = self.report
        record = contribution_of(obj, collection)
        if isinstance(record, str):
            report.unusable.append(f"{obj.get('id')}: {record}")
            return
        if record.kind not in self.matchable:
            report.not_matchable += 1
            return
        before = self.index.contributions.get(record.stix_id)
        outcome = self.index.upsert(record)
        if outcome == "new":
            report.new += 1
        elif outcome == "updated":
            report.updated += 1
        else:
            report.unchanged += 1
        if outcome != "stale" and record.revoked and (before is None or not before.revoked):
            report.revoked += 1
        if outcome in ("new", "updated") and not record.revoked:
            self.arrived.add(record.signal_id)

    def _benign(self, obj: dict[str, Any], collection: str) -> None:
        record = contribution_of(obj, collection)
        if isinstance(record, str):
            self.report.unusable.append(f"{obj.get('id')} (benign): {record}")
        elif record.kind not in self.matchable:
            self.report.unusable.append(f"{obj.get('id')} (benign): {record.kind} cannot be matched")
        else:
            self.benign.append((obj, record))

    def finish(self) -> None:
        self.index.contributions.load(
            [source for source, _, _ in self.links]
            + [ref for obj in self.feedback for ref in _refs(obj)]  # the unresolved ones
            + [ref for obj in self.notes.values() for ref in _refs(obj)]
        )
        for source, target, when in self.links:
            self.index.link_campaign(source, target, when)
        for obj in self.feedback:
            self._feedback(obj, final=True)
        self.feedback = []

    def _feedback(self, obj: dict[str, Any], *, final: bool) -> bool:
        """Store an opinion or sighting if we hold a contribution it is about; False if we do not
        (at the end of the fetch, ``final``, it is then counted as unresolved)."""
        report = self.report
        signals = self._signals_of(_refs(obj))
        if not signals:
            if final:
                report.feedback_unresolved += 1
            return False
        if obj.get("type") == "opinion":
            outcome = self.ledger.opinion(obj, signals)
            report.opinions += outcome in ("new", "updated", "removed")
        else:
            outcome = self.ledger.sighting(obj, signals[0])
            report.sightings += outcome in ("new", "updated", "removed")
        return True

    def _signals_of(self, refs: list[str]) -> list[str]:
        found: list[str] = []
        for ref in refs:
            record = self.index.contributions.get(ref)
            if record is not None and record.signal_id not in found:
                found.append(record.signal_id)
        return found

    def apply_local(self, index_dir: Path, settings: Settings | None) -> None:
        """Apply coalition quarantine notes and shared benign entries to the member's SQLite files."""
        report = self.report
        notes = []
        for obj in self.notes.values():
            note = self._coalition_note(obj)
            if isinstance(note, str):
                report.unusable.append(f"{obj.get('id')}: {note}")
            else:
                notes.append(note)
        if notes:
            with QuarantineStore.of_index(index_dir) as store:
                report.coalition = store.apply_coalition(notes)
        if self.benign:
            with BenignBank.of_index(index_dir, settings) as bank:
                for obj, record in self.benign:
                    outcome = bank.receive(obj, record.kind, record.value, record.org_id, record.tlp)
                    report.benign_added += outcome == "added"
                    report.benign_removed += outcome == "removed"

    def _coalition_note(self, obj: dict[str, Any]) -> CoalitionNote | str:
        if obj.get("created_by_ref") != VIGIL_IDENTITY_ID:
            # Only the exchange decides a coalition quarantine (it refuses members' objects in its
            # name); a member's own note saying so would hold, or free, every member's actioner.
            author = obj.get("created_by_ref")
            return f"coalition quarantine note not written by the exchange (created_by_ref {author!r})"
        state = obj.get("x_vigil_quarantine")
        if state not in ("active", "released"):
            return f"x_vigil_quarantine must be 'active' or 'released', got {state!r}"
        signal_id = obj.get("x_vigil_signal_id")
        refs = _refs(obj)
        if not isinstance(signal_id, str) or not signal_id:
            resolved = self._signals_of(refs)
            if not resolved:
                return "coalition quarantine note names no signal we hold (x_vigil_signal_id, object_refs)"
            signal_id = resolved[0]
        held = [r for r in (self.index.contributions.get(ref) for ref in refs) if r is not None]
        held += [
            r for r in self.index.contributions.by_signal([signal_id]).get(signal_id, []) if r not in held
        ]
        reporters = obj.get("x_vigil_reporters")
        count = reporters if isinstance(reporters, int) and not isinstance(reporters, bool) else 0
        reason = str(obj.get("abstract") or obj.get("content") or "").strip()
        return CoalitionNote(
            note_id=str(obj["id"]),
            signal_id=signal_id,
            state=state,
            reporters=count,
            reason=reason or f"coalition quarantine: {count} member(s) reported a flood",
            modified=_version(obj),
            signal_type=held[0].kind if held else "",
            signal_value=held[0].value if held else "",
            org_ids=tuple(sorted({r.org_id for r in held if r.org_id})),
        )


def _refs(obj: dict[str, Any]) -> list[str]:
    """The contribution ids an opinion, note or sighting points at."""
    if obj.get("type") == "sighting":
        ref = obj.get("sighting_of_ref")
        return [ref] if isinstance(ref, str) else []
    return [str(r) for r in obj.get("object_refs") or [] if isinstance(r, str)]


def _version(obj: dict[str, Any]) -> datetime:
    return parse_instant(str(obj.get("modified") or obj.get("created")))
