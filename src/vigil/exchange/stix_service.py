"""STIX bundle export and import for one organisation: what ``vigil stix export|import`` calls.

Export writes what the organisation may see (the same catalog TAXII serves, latest versions only).
Import validates the whole bundle first and then submits it in the caller's transaction: invalid
objects always abort it, unsupported ones abort it unless ``allow_unsupported`` (then they are
listed in the report), so a failed import stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigil.core.errors import InputError
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Role
from vigil.exchange.stix_apply import MarkingPolicy, apply_plan
from vigil.exchange.stix_export import bundle
from vigil.exchange.stix_import import Problem, load_objects, plan_import
from vigil.exchange.store import ExchangeStore
from vigil.exchange.taxii import ObjectQuery, select_versions, served
from vigil.exchange.taxii_store import audit_delivered, load_catalog

LOCAL_KEY_ID = "local-cli"
_SHOWN_PROBLEMS = 20


def local_principal(store: ExchangeStore, org: str, role: Role = Role.ANALYST) -> Principal:
    """A principal for organisation ``org`` (id or name) acting through the CLI's database access."""
    found = store.get_org(None, org)
    return Principal(
        key_id=LOCAL_KEY_ID, org_id=found.id, org_kind=found.kind, role=role, operator=found.operator
    )


def export_for(store: ExchangeStore, principal: Principal) -> dict[str, Any]:
    """A STIX 2.1 bundle of everything ``principal``'s organisation may see (latest versions)."""
    catalog = load_catalog(store.session, principal)
    entries = select_versions([served(e) for e in catalog.entries], ObjectQuery())
    audit_delivered(store.session, principal, entries, store.now())
    return bundle(entry.obj for entry in entries)


@dataclass
class ImportReport:
    signals: int = 0
    campaigns: int = 0
    opinions: int = 0
    sightings: int = 0
    supporting: int = 0
    skipped: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _listing(problems: list[Problem]) -> str:
    lines = [f"  - {p}" for p in problems[:_SHOWN_PROBLEMS]]
    if len(problems) > _SHOWN_PROBLEMS:
        lines.append(f"  ... and {len(problems) - _SHOWN_PROBLEMS} more")
    return "\n".join(lines)


def import_bundle(
    store: ExchangeStore,
    principal: Principal,
    text: str | bytes,
    *,
    source: str = "input",
    default_tlp: TLP = TLP.GREEN,
    allow_unsupported: bool = False,
) -> ImportReport:
    """Submit a bundle as ``principal``'s organisation; InputError (nothing stored) on any problem."""
    plan = plan_import(load_objects(text, source))
    if plan.invalid:
        raise InputError(
            f"{source}: {len(plan.invalid)} invalid STIX object(s); nothing imported:\n"
            + _listing(plan.invalid)
        )
    if plan.unsupported and not allow_unsupported:
        raise InputError(
            f"{source}: {len(plan.unsupported)} object(s) Vigil cannot represent; nothing imported "
            f"(pass --allow-unsupported to import the rest):\n{_listing(plan.unsupported)}"
        )
    apply_plan(store, principal, plan, MarkingPolicy(default=default_tlp, where=source), atomic=True)
    return ImportReport(
        signals=len(plan.signals),
        campaigns=len(plan.campaigns),
        opinions=len(plan.opinions),
        sightings=len(plan.sightings),
        supporting=len(plan.supporting),
        skipped=plan.unsupported,
        warnings=sorted(plan.warnings),
    )
