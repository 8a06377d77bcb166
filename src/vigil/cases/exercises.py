"""Tabletop exercises (and real activations) of a playbook.

``run_exercise`` opens a case marked as an exercise with the playbook's techniques and its checklist
(each item with its owner, e.g. ``platform/analyst``); members then check items off with
``CaseService.check_item``, which records the principal and the time on the item and the timeline.
``exercise_report`` summarises who did what when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vigil.cases.playbooks import Playbook
from vigil.cases.records import Case, ChecklistItem
from vigil.cases.service import CaseService
from vigil.exchange.records import TLP, Marking


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
