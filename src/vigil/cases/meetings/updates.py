"""Member updates: each invited organisation's update for a meeting, with figures pre-filled from
its own activity and counted again for each reader over what that reader may see."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from vigil.cases.calendar import clean_text
from vigil.cases.meetings.base import MeetingBase, MemberUpdate
from vigil.cases.meetings_models import MeetingUpdateRow
from vigil.cases.models import CaseActionRow, CaseRow
from vigil.core.errors import InputError
from vigil.core.time import ensure_utc
from vigil.exchange.access import Permission, require
from vigil.exchange.models import ContributionRow, ContributionShareRow, SignalRow
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store.languages import current_languages


class MemberUpdates(MeetingBase):
    """Pre-filled figures, filing an update, and the updates a reader may see."""

    def prefill(
        self, meeting_id: str, org_id: str | None = None, *, until: datetime | None = None
    ) -> dict[str, Any]:
        """Figures of one organisation's own activity in Vigil since the last meeting, counted
        over what the principal may see: the filer sees all its own activity, another reader only
        the contributions, cases and case actions whose marking lets it see them (so no figure,
        count, technique or id reveals an item hidden from that reader). ``until`` (default now)
        is capped at the meeting's start: a past meeting's figures stay what they were."""
        require(self.principal, Permission.READ)
        org = org_id or self.acting_org()
        since = self.since_last(meeting_id)
        end = min(ensure_utc(until) if until else self.now(), ensure_utc(self._row(meeting_id).starts_at))
        contributions = self.session.execute(
            select(ContributionRow.id, ContributionRow.tlp, ContributionRow.signal_id, SignalRow.kind)
            .join(SignalRow, ContributionRow.signal_id == SignalRow.id)
            .where(
                ContributionRow.org_id == org,
                ContributionRow.created_at >= since,
                ContributionRow.created_at <= end,
            )
            .order_by(ContributionRow.created_at.desc(), ContributionRow.id.desc())
        ).all()
        shares: dict[int, list[str]] = {}
        if self.principal is not None and self.principal.org_id != org:
            for contribution_id, share_org in self.session.execute(
                select(ContributionShareRow.contribution_id, ContributionShareRow.org_id).where(
                    ContributionShareRow.contribution_id.in_([r[0] for r in contributions])
                )
            ):
                shares.setdefault(contribution_id, []).append(share_org)
        seen = [r for r in contributions if self.sees(org, Marking(TLP(r[1]), tuple(shares.get(r[0], ()))))]
        kinds = Counter(str(r[3]) for r in seen)
        # the organisation's own language for each contribution, never another member's
        own_languages = current_languages(self.session, [r[0] for r in seen])
        languages = Counter(lang for r in seen if (lang := own_languages.get(r[0])) is not None)
        case_rows = [
            r
            for r in self.session.scalars(
                select(CaseRow)
                .where(CaseRow.org_id == org, CaseRow.created_at >= since, CaseRow.created_at <= end)
                .order_by(CaseRow.created_at)
            )
            if self.sees(r.org_id, Marking(TLP(r.tlp), tuple(r.shared_with or ())))
        ]
        actions: Counter[str] = Counter()
        for action in self.session.scalars(
            select(CaseActionRow).where(
                CaseActionRow.org_id == org,
                CaseActionRow.created_at >= since,
                CaseActionRow.created_at <= end,
            )
        ):
            if self.sees(action.org_id, Marking(TLP(action.tlp), tuple(action.shared_with or ()))):
                actions[action.action] += action.count
        techniques = sorted({t for r in case_rows for t in (r.techniques or [])})
        return {
            "since": since.isoformat(),
            "until": end.isoformat(),
            "signals_total": len(seen),
            "signals_by_kind": dict(sorted(kinds.items())),
            "signals_by_language": dict(languages.most_common()),
            "signal_ids": [r[2] for r in seen[:20]],
            "cases_opened": [{"id": r.id, "title": r.title, "tlp": r.tlp} for r in case_rows],
            "techniques": techniques,
            "actions": dict(sorted(actions.items())),
        }

    def file_update(
        self,
        meeting_id: str,
        *,
        sees: dict[str, Any] | None = None,
        expects: list[dict[str, Any]] | None = None,
        asks: str | None = None,
        marking: Marking | None = None,
    ) -> MemberUpdate:
        """File (or replace) the acting organisation's update; figures are pre-filled afresh."""
        require(self.principal, Permission.WRITE)
        org = self.acting_org()
        row = self._row(meeting_id)
        marking = marking or Marking(TLP.AMBER)
        self.check_orgs(list(marking.shared_with), "shared_with")
        events = []
        for i, event in enumerate(expects or []):
            if not isinstance(event, dict) or not str(event.get("event", "")).strip():
                raise InputError(f"expects[{i}] needs an 'event'", field=f"expects[{i}]")
            events.append({k: str(v) for k, v in event.items() if k in ("on", "event", "risk")})
        now = self.now()
        figures = self.prefill(row.id, org)  # before any pending row could autoflush half-filled
        update = self.session.scalar(
            select(MeetingUpdateRow).where(
                MeetingUpdateRow.meeting_id == row.id, MeetingUpdateRow.org_id == org
            )
        )
        if update is None:
            update = MeetingUpdateRow(meeting_id=row.id, org_id=org, created_at=now)
            self.session.add(update)
        update.sees = dict(sees or {})
        update.figures = figures
        update.expects = {"events": events}
        update.asks = clean_text(asks, "asks")
        update.tlp = marking.tlp.value
        update.shared_with = list(marking.shared_with)
        update.modified_at = now
        self.session.flush()
        return self._update(update)

    def updates(self, meeting_id: str) -> list[MemberUpdate]:
        """The updates of one meeting the principal may see."""
        require(self.principal, Permission.READ)
        row = self._row(meeting_id)
        rows = self.session.scalars(
            select(MeetingUpdateRow)
            .where(MeetingUpdateRow.meeting_id == row.id)
            .order_by(MeetingUpdateRow.id)
        )
        found = [self._update(r) for r in rows]
        return [self._for_reader(u) for u in found if self.sees(u.org_id, u.marking)]

    def _for_reader(self, update: MemberUpdate) -> MemberUpdate:
        """The update with its pre-filled figures as the reader may see them. The figures are
        taken from the filer's whole activity when it files, whatever the update's own marking;
        each reader's copy is counted again over the same period (up to the filing) from only the
        contributions, cases (each listed with its own TLP) and actions that reader may see."""
        figures = self.prefill(update.meeting_id, update.org_id, until=update.modified_at)
        return replace(update, figures=figures)
