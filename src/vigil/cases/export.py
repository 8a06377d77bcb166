"""Cases and meetings as a STIX 2.1 bundle and as a MISP feed, for the dashboard's list exports.

What an analyst who knows OpenCTI or MISP expects on import:

* **A case is a STIX ``grouping``** (context ``suspicious-activity``: the working set of an
  investigation, which OpenCTI imports as a Grouping) named by the case title, described by its
  summary, marked with the case's TLP, ``created_by_ref`` the opening organisation, confidence and
  status (``labels``: ``vigil-case``, ``status:<status>``). Its ``object_refs`` are the objects of
  the case's signals *the reader sees* (one indicator or attack-pattern per visible contribution,
  with their opinions and sightings, ``vigil.exchange.stix_export.signal_entries``) and the DISARM
  techniques of the case. A case whose signals the reader sees none of refers to its opener's
  identity, since a grouping must refer to something.
* **A case is one MISP event**: info the title, the visible signals as attributes (the same
  attributes as the signal feed: TLP tag each, ``vigil:signal-kind``), the summary as a
  ``comment`` attribute, the techniques as DISARM galaxy clusters, tags ``vigil:event="case"`` and
  ``vigil:case-status="<status>"``, the event's TLP the strictest of the case's and its signals'.
* **A meeting is a STIX ``note``** (title as ``abstract``; who convenes, when and who is invited as
  ``content``; ``object_refs`` the attending organisations' identities), marked TLP:AMBER with the
  attendees in ``x_vigil_shared_with_refs``: a meeting is visible to the organisations that convene
  or are invited and to no one else. Its minutes, when the reader may read them, are a second
  ``note`` about the first, carrying the minutes' own TLP.
* **A meeting is one MISP event** (tlp:amber, ``vigil:event="meeting"``): its start as a
  ``datetime`` attribute, each invited organisation as a ``text`` attribute with its role, and the
  minutes (when the reader may read them) as a ``comment`` attribute tagged with their TLP.

Everything here is built from records the services already filtered for the reader (the case list,
``CaseService.linked_signals``, the meeting list with its minutes withheld from non-readers), so the
files hold nothing the reader's dashboard would not show.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vigil.cases.calendar import Meeting
from vigil.cases.records import Case, Status
from vigil.core.time import isoformat_z
from vigil.exchange.misp import TLP_TAGS as MISP_TLP_TAGS
from vigil.exchange.misp import MispFeed, feed_of, misp_tag, signals_event
from vigil.exchange.records import TLP, Organisation, Signal
from vigil.exchange.stix_export import (
    VIGIL_EXTENSION_ID,
    StixEntry,
    bundle,
    identity_id,
    signal_entries,
    supporting_entries,
    technique_reference_id,
)
from vigil.exchange.stix_ids import stix_id
from vigil.exchange.stix_markings import marking_id

MEETING_TLP = TLP.AMBER  # a meeting reaches its attendees only (see the module docstring)
_NAMESPACE = uuid.UUID("0b6a4c8e-52f1-4d0e-8f7a-1c2d3e4f5a6b")  # Vigil's case/meeting MISP uuids


@dataclass(frozen=True)
class CaseExport:
    """One listed case with the signals of it the reader sees."""

    case: Case
    signals: Sequence[Signal]


def _ts(value: datetime) -> str:
    return isoformat_z(value)


def _attendees(meeting: Meeting) -> list[str]:
    return sorted({meeting.org_id, *meeting.invited})


def _assemble(
    organisations: Sequence[Organisation], body: list[StixEntry], techniques: Iterable[str]
) -> dict[str, Any]:
    """Supporting objects (markings, identities, extension, techniques) first, then ``body``,
    each id once."""
    levels = {e.tlp for e in body} | {TLP.CLEAR, TLP.GREEN}
    seen: set[str] = set()
    objects: list[dict[str, Any]] = []
    for entry in [*supporting_entries(organisations, techniques, levels), *body]:
        if entry.id not in seen:
            seen.add(entry.id)
            objects.append(entry.obj)
    return bundle(objects)


def case_grouping(case: Case, refs: Sequence[str]) -> dict[str, Any]:
    """The grouping standing for ``case`` over ``refs`` (the reader's objects of its signals)."""
    techniques = [technique_reference_id(t) for t in case.techniques]
    obj: dict[str, Any] = {
        "type": "grouping",
        "spec_version": "2.1",
        "id": stix_id("grouping", case.id),
        "created_by_ref": identity_id(case.org_id),
        "created": _ts(case.created_at),
        "modified": _ts(max(case.created_at, case.modified_at)),
        "name": case.title,
        "context": "suspicious-activity",
        "object_refs": list(dict.fromkeys([*refs, *techniques])) or [identity_id(case.org_id)],
        "confidence": case.confidence,
        "labels": ["vigil-case", f"status:{case.status.value}"],
        "object_marking_refs": [marking_id(case.marking.tlp)],
    }
    if case.summary:
        obj["description"] = case.summary
    return obj


def cases_bundle(organisations: Sequence[Organisation], cases: Sequence[CaseExport]) -> dict[str, Any]:
    """The listed cases (in list order) as groupings, with the objects they refer to."""
    body: list[StixEntry] = []
    for item in cases:
        entries = [e for s in item.signals for e in signal_entries(s, {})]
        grouping = case_grouping(item.case, [e.id for e in entries])
        body.append(StixEntry(obj=grouping, date_added=item.case.modified_at, tlp=item.case.marking.tlp))
        body.extend(entries)
    return _assemble(organisations, body, {t for item in cases for t in item.case.techniques})


def meeting_notes(meeting: Meeting, org_names: Mapping[str, str]) -> list[StixEntry]:
    """The meeting's note and, when the reader may read them, its minutes' note."""
    name = org_names.get(meeting.org_id, meeting.org_id)
    invited = ", ".join(f"{org_names.get(o, o)} ({role})" for o, role in sorted(meeting.invited.items()))
    when = _ts(meeting.starts_at)
    attendees = [identity_id(o) for o in _attendees(meeting)]
    header: dict[str, Any] = {
        "type": "note",
        "spec_version": "2.1",
        "id": stix_id("note", meeting.id),
        "created_by_ref": identity_id(meeting.org_id),
        "created": when,
        "modified": when,
        "abstract": meeting.title,
        "content": f"Coalition meeting convened by {name}, starting {when}"
        + (f" ({meeting.recurrence})" if meeting.recurrence else "")
        + (f". Invited: {invited}." if invited else "."),
        "authors": [name],
        "object_refs": attendees,
        "labels": ["vigil-meeting"],
        "object_marking_refs": [marking_id(MEETING_TLP)],
        "x_vigil_shared_with_refs": attendees,
        "extensions": {VIGIL_EXTENSION_ID: {"extension_type": "toplevel-property-extension"}},
    }
    entries = [StixEntry(obj=header, date_added=meeting.starts_at, tlp=MEETING_TLP)]
    if meeting.minutes is not None:
        minutes: dict[str, Any] = {
            "type": "note",
            "spec_version": "2.1",
            "id": stix_id("note", meeting.id, "minutes"),
            "created_by_ref": identity_id(meeting.org_id),
            "created": when,
            "modified": when,
            "abstract": f"Minutes: {meeting.title}",
            "content": meeting.minutes,
            "authors": [name],
            "object_refs": [header["id"]],
            "labels": ["vigil-minutes"],
            "object_marking_refs": [marking_id(meeting.minutes_marking.tlp)],
        }
        if meeting.minutes_marking.shared_with:
            minutes["x_vigil_shared_with_refs"] = [
                identity_id(o) for o in sorted(meeting.minutes_marking.shared_with)
            ]
            minutes["extensions"] = header["extensions"]
        entries.append(StixEntry(obj=minutes, date_added=meeting.starts_at, tlp=meeting.minutes_marking.tlp))
    return entries


def meetings_bundle(organisations: Sequence[Organisation], meetings: Sequence[Meeting]) -> dict[str, Any]:
    """The listed meetings (in list order) as notes, with the identities they refer to."""
    names = {o.id: o.name for o in organisations}
    body = [e for m in meetings for e in meeting_notes(m, names)]
    return _assemble(organisations, body, ())


# -------------------------------------------------------------------------------------------- MISP


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def _comment(event_uuid: str, field: str, value: str, timestamp: str, tags: Sequence[str]) -> dict[str, Any]:
    return {
        "uuid": _uuid("comment", event_uuid, field),
        "type": "comment",
        "category": "Other",
        "value": value,
        "to_ids": False,
        "distribution": "5",  # the event's
        "comment": field,
        "timestamp": timestamp,
        "Tag": [misp_tag(t) for t in (f'vigil:field="{field}"', *tags)],
    }


def cases_feed(reader: Organisation, cases: Sequence[CaseExport]) -> MispFeed:
    """One event per listed case, holding the signals of it the reader sees."""
    events: dict[str, dict[str, Any]] = {}
    org_uuid = _uuid("org", reader.id)
    for item in cases:
        case = item.case
        event_uuid = _uuid("case", case.id)
        event = signals_event(
            event_uuid,
            case.title,
            item.signals,
            org_name=reader.name,
            org_uuid=org_uuid,
            techniques=case.techniques,
            marking=case.marking.tlp,
        )
        body = event["Event"]
        # a case's own time, not only its signals'; MISP's analysis: 1 ongoing, 2 completed
        body["date"] = case.created_at.date().isoformat()
        latest = max([case.modified_at, *(s.modified_at for s in item.signals if s.modified_at)])
        stamp = str(int(latest.timestamp()))
        body["timestamp"] = body["publish_timestamp"] = stamp
        body["analysis"] = "2" if case.status in (Status.DISCLOSED, Status.CLOSED) else "1"
        body["Tag"].extend(
            misp_tag(t) for t in ('vigil:event="case"', f'vigil:case-status="{case.status.value}"')
        )
        if case.summary:
            body["Attribute"].append(_comment(event_uuid, "case-summary", case.summary, stamp, ()))
        events[event_uuid] = event
    return feed_of(events)


def meetings_feed(
    reader: Organisation, meetings: Sequence[Meeting], org_names: Mapping[str, str]
) -> MispFeed:
    """One event per listed meeting (tlp:amber, to its attendees)."""
    events: dict[str, dict[str, Any]] = {}
    org_uuid = _uuid("org", reader.id)
    for meeting in meetings:
        event_uuid = _uuid("meeting", meeting.id)
        stamp = str(int(meeting.starts_at.timestamp()))
        attributes: list[dict[str, Any]] = [
            {
                "uuid": _uuid("starts", event_uuid),
                "type": "datetime",
                "category": "Other",
                "value": _ts(meeting.starts_at),
                "to_ids": False,
                "distribution": "5",
                "comment": "meeting starts" + (f" ({meeting.recurrence})" if meeting.recurrence else ""),
                "timestamp": stamp,
                "Tag": [misp_tag('vigil:field="meeting-starts"')],
            }
        ]
        for org_id, role in sorted(meeting.invited.items()):
            attributes.append(
                {
                    "uuid": _uuid("invited", event_uuid, org_id),
                    "type": "text",
                    "category": "Other",
                    "value": org_names.get(org_id, org_id),
                    "to_ids": False,
                    "distribution": "5",
                    "comment": f"invited ({role})",
                    "timestamp": stamp,
                    "Tag": [misp_tag('vigil:field="meeting-invited"')],
                }
            )
        if meeting.minutes is not None:
            attributes.append(
                _comment(
                    event_uuid,
                    "meeting-minutes",
                    meeting.minutes,
                    stamp,
                    (MISP_TLP_TAGS[meeting.minutes_marking.tlp],),
                )
            )
        events[event_uuid] = {
            "Event": {
                "uuid": event_uuid,
                "info": meeting.title,
                "date": meeting.starts_at.date().isoformat(),
                "analysis": "2" if meeting.minutes is not None else "0",
                "threat_level_id": "4",
                "published": True,
                "distribution": "0",  # your organisation only: MISP has no "these organisations"
                "timestamp": stamp,
                "publish_timestamp": stamp,
                "Orgc": {"name": reader.name, "uuid": org_uuid},
                "Tag": [misp_tag(MISP_TLP_TAGS[MEETING_TLP]), misp_tag('vigil:event="meeting"')],
                "Attribute": attributes,
            }
        }
    return feed_of(events)
