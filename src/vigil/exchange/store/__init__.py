"""The exchange's store: every read and write of organisations, keys, campaigns, signals, opinions,
sightings and the audit log goes through ``ExchangeStore``. REST routes, TAXII routes and the CLI
call it; it maps rows to ``vigil.exchange.records`` and enforces ``vigil.exchange.access``.

The parts live beside this file: ``members`` (organisations, keys, authentication, audit
queries), ``orgs`` (suspend, reactivate, offboard), ``campaigns``, ``signals`` (submission,
views, search, versions), ``feedback`` (opinions, sightings), ``feedback_counts`` (per-member
counts of them, within TLP), ``bulk`` (``submit_signals``: many
submissions in batched SQL, the same checks, versions and audit entries), ``signals_revoke``
(``revoke_signals``: many revocations, all or nothing), ``signals_rows`` (their multi-row
statements below the ORM) and ``base`` (visibility
clauses, locks, parsing, row-to-record mapping).

Usage::

    db = Database(url)
    with db.session() as session:               # one transaction: commit on success, else rollback
        store = ExchangeStore(session)
        principal = store.authenticate(key)      # AuthenticationError for bad/revoked/expired keys
        signal = store.submit_signal(principal, "domain", "Example.COM", marking=Marking(TLP.GREEN))

Conventions the TAXII layer relies on:

* ``Signal.id`` is ``stable_id("indicator", kind, normalized value)``: the same for every member
  and every server, so it is the STIX indicator id.
* What a caller receives is its **view**: only contributions it may see (with their markings, tags,
  campaign links, descriptions); ``Signal.created_at`` / ``modified_at`` are the earliest creation /
  latest modification among *those* contributions; ``Signal.revoked`` is true when every visible
  contribution is revoked; ``valid_until`` the latest visible one (None if any has none).
* ``list_signals`` orders by the signal's internal change time then id, and pages with an opaque
  cursor. ``SignalFilter.modified_after`` keeps signals with a *visible* contribution modified after
  the instant: TAXII ``added_after`` maps onto it (a signal's "date added" for a caller is its
  ``modified_at`` in that caller's view).
* ``list_versions`` gives the modification instants of every version of every visible
  contribution (a contribution keeps an append-only version history), i.e. the TAXII "versions".
* Organisation ids are ``identity--<uuid>`` (usable as STIX ``created_by_ref``); campaign ids are
  ``campaign--<uuid>``.
* A principal of ``None`` means the trusted local administrator (CLI with database access); it is
  accepted only by the organisation, key and audit methods.
"""

from __future__ import annotations

from vigil.exchange.access import Principal, can_see
from vigil.exchange.records import Contribution, OrgKind
from vigil.exchange.store.base import (
    MAX_PAGE,
    StoreBase,
    parse_opinion,
    parse_org_kind,
    parse_role,
    parse_tlp,
)
from vigil.exchange.store.bulk import BulkItem, BulkReport, BulkSignalsStore, SignalSubmission
from vigil.exchange.store.campaigns import CampaignsStore
from vigil.exchange.store.feedback import FeedbackStore
from vigil.exchange.store.feedback_counts import FeedbackCountsStore
from vigil.exchange.store.members import ApiKey, MembersStore
from vigil.exchange.store.orgs import OrgLifecycleStore
from vigil.exchange.store.signals import (
    SIGNAL_SORTS,
    SignalFilter,
    SignalPage,
    SignalsStore,
    decode_cursor,
    encode_cursor,
)
from vigil.exchange.store.signals_revoke import Revoked, RevokeSignalsStore


class ExchangeStore(
    OrgLifecycleStore,
    MembersStore,
    CampaignsStore,
    BulkSignalsStore,
    RevokeSignalsStore,
    SignalsStore,
    FeedbackStore,
    FeedbackCountsStore,
    StoreBase,
):
    """All exchange operations on one session (one transaction; the caller commits)."""


def visible_to(principal: Principal, contribution: Contribution, source_kind: OrgKind) -> bool:
    """Whether ``principal`` may see ``contribution`` (the pure rule, for callers holding records)."""
    return can_see(
        principal.org_id,
        principal.org_kind,
        source_org_id=contribution.org_id,
        source_kind=source_kind,
        tlp=contribution.marking.tlp,
        shared_with=contribution.marking.shared_with,
    )


__all__ = [
    "MAX_PAGE",
    "SIGNAL_SORTS",
    "ApiKey",
    "BulkItem",
    "BulkReport",
    "ExchangeStore",
    "Revoked",
    "SignalFilter",
    "SignalPage",
    "SignalSubmission",
    "decode_cursor",
    "encode_cursor",
    "parse_opinion",
    "parse_org_kind",
    "parse_role",
    "parse_tlp",
    "visible_to",
]
