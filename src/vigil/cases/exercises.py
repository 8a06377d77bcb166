"""Tabletop exercises (and real activations) of a playbook.

``run_exercise`` opens a case marked as an exercise with the playbook's techniques and its checklist
(each item with its owner, e.g. ``platform/analyst``); members then check items off with
``CaseService.check_item``, which records the principal and the time on the item and the timeline.
``exercise_report`` summarises who did what when.

The exercise schedule: a playbook may declare ``exercise: {every: 90d, before_elections: 30d}``.
``exercise_due`` is the pure rule (due when never exercised, when the last exercise is ``every``
old, or when an election day or early-voting start is within ``before_elections`` and the playbook
was not exercised within that lead); ``exercise_schedule`` applies it to every playbook of a
library, deriving each one's last exercise from the exercise cases the reader may see (an exercise
counts once completed: every checklist item checked, or the case closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from vigil.cases.models import CaseEventRow, ChecklistItemRow
from vigil.cases.playbooks import ExerciseSchedule, Playbook, PlaybookLibrary
from vigil.cases.records import Case, ChecklistItem, EventKind, Status
from vigil.cases.service import CaseService
from vigil.core.time import ensure_utc
from vigil.exchange.records import TLP, Marking

# Key dates of the election calendar that ``before_elections`` counts back from: the vote itself
# and the start of early voting (attacks on voting information start with the first ballots).
ELECTION_TRIGGERS = ("election_day", "early_voting")


def run_exercise(
    service: CaseService,
    playbook: Playbook,
    *,
    title: str | None = None,
    marking: Marking = Marking(TLP.GREEN),
    exercise: bool = True,
) -> Case:
    """Open a case from ``playbook`` with its checklist; ``exercise=False`` activates it for real."""
    label = "Exercise" if exercise else "Activation"
    case = service.create_case(
        title or f"{label}: {playbook.name}",
        marking=marking,
        summary=playbook.scenario.strip(),
        attribution="exercise" if exercise else "unattributed",
        techniques=playbook.techniques,
        playbook_id=playbook.id,
        exercise=exercise,
    )
    service.add_checklist(
        case.id,
        [
            (f"{s.text} (within {s.within})" if s.within else s.text, s.owner.label())
            for s in playbook.checklist
        ],
    )
    return case


@dataclass(frozen=True)
class ExerciseProgress:
    case_id: str
    done: int
    total: int
    items: list[ChecklistItem]
    started_at: datetime
    last_done_at: datetime | None


def exercise_report(service: CaseService, case_id: str) -> ExerciseProgress:
    """How far an exercise is: items checked, by whom and when."""
    case = service.get_case(case_id)
    items = service.checklist(case_id)
    done = [i for i in items if i.done_at is not None]
    return ExerciseProgress(
        case_id=case.id,
        done=len(done),
        total=len(items),
        items=items,
        started_at=case.created_at,
        last_done_at=max((i.done_at for i in done if i.done_at), default=None),
    )


# ---------------------------------------------------------------------------------------------
# the exercise schedule


def _span(value: timedelta) -> str:
    """``90 d``, ``36 h``: how the reasons print a cadence or a lead."""
    seconds = value.total_seconds()
    if seconds % 86400 == 0:
        return f"{int(seconds // 86400)} d"
    return f"{seconds / 3600:g} h"


@dataclass(frozen=True)
class Due:
    """Whether a playbook is due for an exercise, why (or when next), as ``exercise_due`` decides."""

    due: bool
    reason: str
    next_due: datetime | None  # when it next falls due; None when due now or never scheduled


def exercise_due(
    schedule: ExerciseSchedule | None,
    last: datetime | None,
    elections: Sequence[tuple[str, datetime]],
    now: datetime,
) -> Due:
    """The schedule rule (pure). ``last``: when the last completed exercise ended; ``elections``:
    key dates as (kind, at), of which only ``ELECTION_TRIGGERS`` kinds from today on count.

    Due when (first reason that applies): never exercised; ``last + every <= now``; or an election
    date ``E`` with ``E - before_elections <= now`` and ``last < E - before_elections`` (not
    exercised within the lead before it). Otherwise ``next_due`` is the earliest of
    ``last + every`` and ``E - before_elections`` for the coming elections.
    """
    if schedule is None:
        return Due(False, "no exercise schedule", None)
    now = ensure_utc(now)
    if last is None:
        return Due(True, "never exercised", None)
    last = ensure_utc(last)
    every = schedule.interval
    if last + every <= now:
        return Due(True, f"last exercised {last:%Y-%m-%d}, every {_span(every)}", None)
    candidates = [last + every]
    lead = schedule.election_lead
    if lead is not None:
        coming = sorted(
            ensure_utc(at)
            for kind, at in elections
            if kind in ELECTION_TRIGGERS and ensure_utc(at).date() >= now.date()
        )
        kinds = {ensure_utc(at): kind for kind, at in elections if kind in ELECTION_TRIGGERS}
        for at in coming:
            opens = at - lead
            if opens <= now and last < opens:
                days = (at.date() - now.date()).days
                when = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
                label = kinds[at].replace("_", " ")
                return Due(True, f"{label} {at:%Y-%m-%d} {when}, last exercised {last:%Y-%m-%d}", None)
            if opens > now:
                candidates.append(opens)
    next_due = min(candidates)
    return Due(False, f"next due {next_due:%Y-%m-%d}", next_due)


@dataclass(frozen=True)
class ExerciseRecord:
    """One exercise case of a playbook and, once completed, when."""

    case_id: str
    playbook_id: str
    title: str
    started_at: datetime
    done: int
    total: int
    completed_at: datetime | None  # every item checked (the last check) or closed (the closing)


def exercise_records(service: CaseService) -> list[ExerciseRecord]:
    """The exercise cases opened from a playbook that the service's principal may see."""
    cases = [c for c in service.list_cases(exercise=True) if c.playbook_id]
    if not cases:
        return []
    ids = [c.id for c in cases]
    counts = {
        case_id: (int(total), int(done), last)
        for case_id, total, done, last in service.session.execute(
            select(
                ChecklistItemRow.case_id,
                func.count(),
                func.count(ChecklistItemRow.done_at),
                func.max(ChecklistItemRow.done_at),
            )
            .where(ChecklistItemRow.case_id.in_(ids))
            .group_by(ChecklistItemRow.case_id)
        ).all()
    }
    closed: dict[str, datetime] = {}
    for event in service.session.scalars(
        select(CaseEventRow)
        .where(CaseEventRow.case_id.in_(ids), CaseEventRow.kind == EventKind.STATUS.value)
        .order_by(CaseEventRow.at)
    ):
        if (event.detail or {}).get("to") == Status.CLOSED.value:
            closed.setdefault(event.case_id, ensure_utc(event.at))
    records = []
    for c in cases:
        total, done, last_check = counts.get(c.id, (0, 0, None))
        ends = []
        if total and done == total and last_check is not None:
            ends.append(ensure_utc(last_check))
        if c.status is Status.CLOSED:
            ends.append(closed.get(c.id, ensure_utc(c.modified_at)))
        assert c.playbook_id is not None
        records.append(
            ExerciseRecord(
                case_id=c.id,
                playbook_id=c.playbook_id,
                title=c.title,
                started_at=ensure_utc(c.created_at),
                done=done,
                total=total,
                completed_at=min(ends) if ends else None,
            )
        )
    return records


@dataclass(frozen=True)
class PlaybookSchedule:
    """One playbook's exercise schedule as one reader sees it."""

    playbook_id: str
    name: str
    every: str | None
    before_elections: str | None
    last_exercised: datetime | None
    last_case_id: str | None
    due: bool
    reason: str
    next_due: datetime | None
    in_progress: list[str] = field(default_factory=list)  # ids of exercise cases under way


def exercise_schedule(
    service: CaseService,
    library: PlaybookLibrary,
    elections: Sequence[tuple[str, datetime]],
    *,
    now: datetime | None = None,
) -> list[PlaybookSchedule]:
    """Every playbook of ``library`` with its last exercise (from the exercise cases the reader may
    see), whether it is due and why; due ones first, then by next due date."""
    now = ensure_utc(now) if now is not None else service.now()
    records = exercise_records(service)
    found = []
    for loaded in library.all():
        book = loaded.playbook
        mine = [r for r in records if r.playbook_id == book.id]
        completed = [r for r in mine if r.completed_at is not None and r.completed_at <= now]
        last = max(completed, key=lambda r: r.completed_at or now, default=None)
        last_at = last.completed_at if last is not None else None
        verdict = exercise_due(book.exercise, last_at, elections, now)
        found.append(
            PlaybookSchedule(
                playbook_id=book.id,
                name=book.name,
                every=book.exercise.every if book.exercise else None,
                before_elections=book.exercise.before_elections if book.exercise else None,
                last_exercised=last_at,
                last_case_id=last.case_id if last is not None else None,
                due=verdict.due,
                reason=verdict.reason,
                next_due=verdict.next_due,
                in_progress=[r.case_id for r in mine if r.completed_at is None],
            )
        )
    far = now + timedelta(days=365_000)
    return sorted(found, key=lambda s: (not s.due, s.next_due or far, s.playbook_id))
