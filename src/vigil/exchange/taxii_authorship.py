"""Who may add an object over TAXII: a member speaks only for itself.

A collection stores any STIX object as sent, so the envelope could otherwise put words in another
member's mouth: sign an object with another organisation's identity (``created_by_ref``), replace
that identity, or add a later version of an object another organisation created, such as a
``revoked`` version of the indicator Vigil serves for its contribution, which every reader and
every member's matcher would take as the latest word. STIX 2.1 (section 3.6) lets only an object's
creator version it; this module finds, before anything is stored, the objects that break that rule
and says why. Identities outside the exchange (the authors an OpenCTI or MISP instance pushes along
with its objects) are the sender's own business and pass.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.exchange.access import Principal
from vigil.exchange.models import OrgRow
from vigil.exchange.stix_export import VIGIL_IDENTITY_ID, identity_id
from vigil.exchange.taxii_models import TaxiiObjectRow

__all__ = ["authorship_failures"]

FEEDBACK_TYPES = frozenset({"opinion", "sighting"})
_BATCH = 500  # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits


def authorship_failures(
    session: Session, principal: Principal, objects: Sequence[tuple[int, dict[str, Any]]]
) -> dict[int, str]:
    """For each (position, object) the caller may not add, why; the others are absent."""
    if not objects:
        return {}
    names = {identity_id(org_id): name for org_id, name in session.execute(select(OrgRow.id, OrgRow.name))}
    names[VIGIL_IDENTITY_ID] = "the exchange"
    own = identity_id(principal.org_id)
    owners = _owners(session, principal.org_id, sorted({str(obj["id"]) for _, obj in objects}))
    failures: dict[int, str] = {}
    for index, obj in objects:
        object_id = str(obj["id"])
        signer = obj.get("created_by_ref")
        if obj.get("type") in FEEDBACK_TYPES and signer is not None and signer != own:
            # Members' matchers count opinions and sightings per author: feedback in the name of
            # an author outside the exchange would let one member cast as many votes as it likes.
            failures[index] = (
                f"an {obj.get('type')} is your organisation's own feedback: its created_by_ref must be "
                f"your identity ({own}) or absent, not {signer}"
            )
        elif isinstance(signer, str) and signer != own and signer in names:
            failures[index] = (
                f"created_by_ref {signer} is another organisation's identity ({names[signer]}): "
                f"add objects as yourself ({own}) or as an author outside this exchange"
            )
        elif object_id != own and object_id in names:
            failures[index] = (
                f"{object_id} is another organisation's identity ({names[object_id]}); "
                "only the exchange keeps it"
            )
        elif object_id in owners and owners[object_id] != principal.org_id:
            owner = owners[object_id]
            failures[index] = (
                f"{object_id} was created by another organisation ({names.get(identity_id(owner), owner)}): "
                "only an object's creator may add versions of it (STIX 2.1, section 3.6)"
            )
    return failures


def _owners(session: Session, org_id: str, ids: list[str]) -> dict[str, str]:
    """Each already stored id's creator: the organisation that posted it or whose contribution it
    is, or ``VIGIL_IDENTITY_ID`` for what the exchange writes under its own name (flood notes are
    filed under the contributor whose marking they carry, so their body says who wrote them)."""
    owners: dict[str, str] = {}
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        rows = session.execute(
            select(TaxiiObjectRow.stix_id, TaxiiObjectRow.org_id, TaxiiObjectRow.contribution_id).where(
                TaxiiObjectRow.stix_id.in_(chunk)
            )
        )
        mine_posted: set[str] = set()
        for stix_id, owner, contribution_id in rows:
            if owner != org_id:
                owners[stix_id] = owner  # another organisation holds a version: it is not the caller's
                continue
            owners.setdefault(stix_id, owner)
            if contribution_id is None:
                mine_posted.add(stix_id)
        if mine_posted:
            # Only the caller's own posted rows can hide an object the exchange wrote for it.
            for stix_id, body in session.execute(
                select(TaxiiObjectRow.stix_id, TaxiiObjectRow.body).where(
                    TaxiiObjectRow.stix_id.in_(sorted(mine_posted)),
                    TaxiiObjectRow.contribution_id.is_(None),
                )
            ):
                if owners[stix_id] == org_id and json.loads(body).get("created_by_ref") == VIGIL_IDENTITY_ID:
                    owners[stix_id] = VIGIL_IDENTITY_ID
    return owners
