"""Submit an ``ImportPlan`` to the exchange store as the calling principal's organisation.

Two modes: ``atomic`` (the CLI: any failure raises and the caller's transaction rolls back, so
nothing is stored) and per-object (TAXII add-objects: each draft in its own savepoint, failures
reported next to successes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.core.errors import InputError, VigilError
from vigil.core.ids import stable_id
from vigil.exchange.access import Principal
from vigil.exchange.records import TLP, Marking
from vigil.exchange.stix_import import CampaignDraft, ImportPlan, OpinionDraft, SightingDraft, SignalDraft
from vigil.exchange.stix_markings import tlp_rank
from vigil.exchange.store import ExchangeStore
from vigil.exchange.values import normalize_value

DEFAULT_CONFIDENCE = 50


@dataclass(frozen=True)
class MarkingPolicy:
    """How imported objects are marked: unmarked ones get ``default``; marked ones keep their TLP
    if it is in ``allowed`` (else they fail: Vigil never loosens or silently tightens a marking)."""

    default: TLP
    allowed: frozenset[TLP] = frozenset(TLP)
    where: str = "this import"

    def resolve(self, tlp: TLP | None) -> TLP:
        chosen = self.default if tlp is None else tlp
        if chosen not in self.allowed:
            accepted = ", ".join(f"TLP:{t.value}" for t in sorted(self.allowed, key=tlp_rank))
            raise InputError(f"marked TLP:{chosen.value}, but {self.where} takes only {accepted}")
        return chosen


@dataclass
class Outcome:
    source_id: str
    ok: bool
    message: str | None = None


@dataclass
class ApplyResult:
    outcomes: list[Outcome] = field(default_factory=list)
    signal_ids: dict[str, str] = field(default_factory=dict)  # source object id -> Vigil signal id
    campaign_ids: dict[str, str] = field(default_factory=dict)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


Resolver = Callable[[str], str | None]


class _Applier:
    def __init__(
        self,
        store: ExchangeStore,
        principal: Principal,
        policy: MarkingPolicy,
        resolve: Resolver,
        atomic: bool,
    ) -> None:
        self.store = store
        self.principal = principal
        self.policy = policy
        self.resolve = resolve
        self.atomic = atomic
        self.result = ApplyResult()

    def attempt(self, source_id: str, action: Callable[[], str | None]) -> None:
        if self.atomic:
            message = action()
            self.result.outcomes.append(Outcome(source_id, True, message))
            return
        try:
            with self.store.session.begin_nested():
                message = action()
        except VigilError as exc:
            self.result.outcomes.append(Outcome(source_id, False, exc.message))
            return
        self.result.outcomes.append(Outcome(source_id, True, message))

    def campaign(self, draft: CampaignDraft) -> str | None:
        tlp = self.policy.resolve(draft.tlp)
        # Re-importing the same bundle must not duplicate the organisation's campaigns.
        for existing in self.store.list_campaigns(self.principal):
            if existing.org_id == self.principal.org_id and existing.name == draft.name.strip():
                self.result.campaign_ids[draft.source_id] = existing.id
                return f"already present as {existing.id}"
        created = self.store.create_campaign(
            self.principal,
            draft.name,
            marking=Marking(tlp),
            description=draft.description,
            attribution=draft.attribution,
            techniques=draft.techniques,
        )
        self.result.campaign_ids[draft.source_id] = created.id
        return None

    def signal(self, draft: SignalDraft) -> str | None:
        tlp = self.policy.resolve(draft.tlp)
        campaign_id = self.result.campaign_ids.get(draft.campaign_ref or "")
        submitted = self.store.submit_signal(
            self.principal,
            draft.kind,
            draft.value,
            marking=Marking(tlp),
            confidence=DEFAULT_CONFIDENCE if draft.confidence is None else draft.confidence,
            tags=draft.tags,
            first_seen=draft.first_seen,
            last_seen=draft.last_seen,
            campaign_id=campaign_id,
            description=draft.description,
            language=draft.language,
            valid_until=draft.valid_until,
        )
        self.result.signal_ids[draft.source_id] = submitted.id
        if draft.revoked:
            # submit_signal un-revokes; the imported object says it is withdrawn.
            self.store.revoke_signal(self.principal, submitted.id)
        return None

    def _target(self, ref: str) -> str | None:
        return self.result.signal_ids.get(ref) or self.resolve(ref)

    def opinion(self, draft: OpinionDraft) -> str | None:
        targets = list(dict.fromkeys(t for t in (self._target(r) for r in draft.target_refs) if t))
        if not targets:
            raise InputError(f"none of {', '.join(draft.target_refs)} is a signal you can see")
        for signal_id in targets:
            # The object's TLP (or the collection's) is the giver's choice for the opinion: it
            # narrows who sees it; a TLP wider than the contribution changes nothing.
            self.store.set_opinion(
                self.principal,
                signal_id,
                draft.value,
                draft.comment,
                marking=Marking(self.policy.resolve(draft.tlp)),
                clamp_marking=True,
            )
        return None

    def sighting(self, draft: SightingDraft) -> str | None:
        signal_id = self._target(draft.target_ref)
        if signal_id is None:
            raise InputError(f"sighting_of_ref {draft.target_ref} is not a signal you can see")
        self.store.add_sighting(
            self.principal,
            signal_id,
            count=max(1, draft.count),
            first_seen=draft.first_seen,
            last_seen=draft.last_seen,
            platform=draft.platform,
            marking=Marking(self.policy.resolve(draft.tlp)),  # narrows only, as for opinions
            clamp_marking=True,
        )
        return None


def apply_plan(
    store: ExchangeStore,
    principal: Principal,
    plan: ImportPlan,
    policy: MarkingPolicy,
    *,
    resolve: Resolver = lambda _ref: None,
    atomic: bool = True,
    known: ApplyResult | None = None,
) -> ApplyResult:
    """Submit every draft (campaigns first, so signals can link to them). In atomic mode the
    first failure raises an InputError naming the object; the caller's transaction then rolls back.
    ``known``: the result of an earlier part of the same input, applied in its own transaction."""
    applier = _Applier(store, principal, policy, resolve, atomic)
    if known is not None:
        # An earlier chunk of the same input: its campaigns and signals can be referred to.
        applier.result.signal_ids.update(known.signal_ids)
        applier.result.campaign_ids.update(known.campaign_ids)
    steps: list[tuple[str, Callable[[], str | None]]] = [
        *((d.source_id, lambda d=d: applier.campaign(d)) for d in plan.campaigns),
        *((d.source_id, lambda d=d: applier.signal(d)) for d in plan.signals),
        *((d.source_id, lambda d=d: applier.opinion(d)) for d in plan.opinions),
        *((d.source_id, lambda d=d: applier.sighting(d)) for d in plan.sightings),
    ]
    for source_id, step in steps:
        if atomic:
            try:
                applier.attempt(source_id, step)
            except VigilError as exc:
                raise InputError(f"{source_id}: {exc.message}", object_id=source_id) from exc
        else:
            applier.attempt(source_id, step)
    return applier.result


def signal_id_for(kind: str, value: str) -> str:
    """The store's id of a (kind, value) signal, normalizing the value as the store does."""
    parsed, normalized = normalize_value(kind, value)
    return stable_id("indicator", parsed.value, normalized)
