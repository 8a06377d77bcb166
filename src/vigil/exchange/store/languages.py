"""A signal's language belongs to each contribution, not to the signal.

A signal row is shared by every organisation that submitted the value. When its language was a
column of that row, set by the first submitter, a second organisation submitting the same value
read the first one's language back: proof that another member held the value (even as unshared
RED), and what language it filed it under. So each contribution keeps its own language, in its
version snapshot (``snapshot["language"]``, which is also what TAXII versions are built from), and
a reader's view of a signal takes its language from the contributions it may see:

* a contribution's language is its current snapshot's ``language``;
* the signal's language in a view is the reader's own contribution's, else the language of the
  earliest visible contribution that has one.

Snapshots written before this rule have no ``language`` key; the old signal-level language is then
credited to the signal's earliest contribution (its first submitter set it), and to no other.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from vigil.exchange.models import ContributionRow, ContributionVersionRow, SignalRow
from vigil.exchange.records import Contribution

CHUNK = 500


def clean_language(language: str | None) -> str | None:
    return language.strip() if language and language.strip() else None


def legacy_languages(session: Session, signal_ids: Collection[str] | None = None) -> dict[int, str]:
    """contribution id -> language, for signals whose language was stored on the signal row
    (before per-contribution languages): credited to each such signal's earliest contribution."""
    stmt = (
        select(func.min(ContributionRow.id), SignalRow.language)
        .join(SignalRow, SignalRow.id == ContributionRow.signal_id)
        .where(SignalRow.language.is_not(None))
        .group_by(SignalRow.id, SignalRow.language)
    )
    if signal_ids is None:
        return {int(cid): str(lang) for cid, lang in session.execute(stmt)}
    ids = sorted(set(signal_ids))
    found: dict[int, str] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = stmt.where(SignalRow.id.in_(ids[start : start + CHUNK]))
        found.update((int(cid), str(lang)) for cid, lang in session.execute(chunk))
    return found


def snapshot_language(
    snapshot: Mapping[str, Any], contribution_id: int, legacy: Mapping[int, str]
) -> str | None:
    """The language one stored version of a contribution carries."""
    if "language" in snapshot:
        value = snapshot["language"]
        return str(value) if value else None
    return legacy.get(contribution_id)


def current_languages(session: Session, contribution_ids: Collection[int]) -> dict[int, str | None]:
    """contribution id -> the language of its current version."""
    ids = sorted(set(contribution_ids))
    snapshots: dict[int, tuple[str, Mapping[str, Any]]] = {}
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(ContributionRow.id, ContributionRow.signal_id, ContributionVersionRow.snapshot)
            .join(
                ContributionVersionRow,
                and_(
                    ContributionVersionRow.contribution_id == ContributionRow.id,
                    ContributionVersionRow.version == ContributionRow.version,
                ),
            )
            .where(ContributionRow.id.in_(ids[start : start + CHUNK]))
        )
        for cid, signal_id, snapshot in rows:
            snapshots[int(cid)] = (str(signal_id), snapshot or {})
    old = {signal_id for signal_id, snap in snapshots.values() if "language" not in snap}
    legacy = legacy_languages(session, old) if old else {}
    return {cid: snapshot_language(snap, cid, legacy) for cid, (_, snap) in snapshots.items()}


def earliest_languages(session: Session, signal_ids: Collection[str]) -> dict[str, str | None]:
    """signal id -> the language of its earliest contribution that has one: the view of a reader
    who may see every contribution (the local administrator), for whom no rule hides any."""
    ids = sorted(set(signal_ids))
    owners: dict[int, str] = {}
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(ContributionRow.id, ContributionRow.signal_id).where(
                ContributionRow.signal_id.in_(ids[start : start + CHUNK])
            )
        )
        owners.update((int(cid), str(sid)) for cid, sid in rows)
    found: dict[str, str | None] = dict.fromkeys(ids)
    languages = current_languages(session, owners)
    for cid in sorted(owners):  # oldest first: the first language found for a signal wins
        sid = owners[cid]
        if found[sid] is None and languages.get(cid):
            found[sid] = languages[cid]
    return found


def signal_language(contributions: Iterable[Contribution], viewer_org_id: str | None) -> str | None:
    """The language of a signal as one reader sees it (``contributions``: those it may see, oldest
    first): its own contribution's, else the earliest visible one that has a language."""
    listed = list(contributions)
    for c in listed:
        if c.org_id == viewer_org_id and c.language:
            return c.language
    return next((c.language for c in listed if c.language), None)
