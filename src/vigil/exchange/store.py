"""The exchange's store: every read and write of organisations, keys, campaigns, signals, opinions,
sightings and the audit log goes through ``ExchangeStore``. REST routes, TAXII routes and the CLI
call it; it maps rows to ``vigil.exchange.records`` and enforces ``vigil.exchange.access``.

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

import base64
import binascii
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.core.errors import AuthenticationError, Conflict, InputError, NotFound, PermissionDenied
from vigil.core.ids import new_id, stable_id
from vigil.core.time import ensure_utc, isoformat_z, parse_instant, utcnow
from vigil.exchange import audit, keys
from vigil.exchange.access import (
    AUDITED_TLPS,
    Permission,
    Principal,
    can_manage_org,
    can_see,
    permissions,
    require,
    visible_clause,
)
from vigil.exchange.models import (
    ApiKeyRow,
    CampaignRow,
    CampaignShareRow,
    ContributionRow,
    ContributionShareRow,
    ContributionTagRow,
    ContributionVersionRow,
    OpinionHistoryRow,
    OpinionRow,
    OrgRow,
    SightingRow,
    SignalRow,
)
from vigil.exchange.records import (
    TLP,
    Campaign,
    Contribution,
    Marking,
    Opinion,
    OpinionValue,
    Organisation,
    OrgKind,
    Role,
    Sighting,
    Signal,
    SignalKind,
)
from vigil.exchange.values import normalize_value

MAX_TAGS = 50
MAX_TAG_CHARS = 200
MAX_PAGE = 10_000


@dataclass(frozen=True)
class ApiKey:
    """A key's public description (never its secret)."""

    id: str
    org_id: str
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    created_by: str | None


@dataclass(frozen=True)
class SignalFilter:
    """What ``list_signals`` keeps. Every field narrows; the empty filter keeps all visible signals.

    ``tlps``, ``tag``, ``org_id`` and ``campaign_id`` must hold for one and the same *visible*
    contribution; ``text`` matches the value or a visible contribution's description
    (case-insensitive substring).
    """

    kinds: tuple[SignalKind, ...] = ()
    tlps: tuple[TLP, ...] = ()
    tag: str | None = None
    campaign_id: str | None = None
    org_id: str | None = None
    text: str | None = None
    ids: tuple[str, ...] = ()
    modified_after: datetime | None = None
    include_revoked: bool = True


@dataclass
class SignalPage:
    items: list[Signal]
    next_cursor: str | None  # pass back as ``cursor`` for the next page; None on the last page
    more: bool = field(default=False)


# ---------------------------------------------------------------------------------------------
# parsing helpers (raise InputError naming the field)


def parse_tlp(value: str | TLP) -> TLP:
    try:
        return TLP(str(value).upper())
    except ValueError:
        known = ", ".join(t.value for t in TLP)
        raise InputError(f"unknown TLP {value!r}; known: {known}", field="tlp") from None


def parse_org_kind(value: str | OrgKind) -> OrgKind:
    try:
        return OrgKind(str(value).lower())
    except ValueError:
        known = ", ".join(k.value for k in OrgKind)
        raise InputError(f"unknown organisation kind {value!r}; known: {known}", field="kind") from None


def parse_role(value: str | Role) -> Role:
    try:
        return Role(str(value).lower())
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise InputError(f"unknown role {value!r}; known: {known}", field="role") from None


def parse_opinion(value: str | OpinionValue) -> OpinionValue:
    try:
        return OpinionValue(str(value).lower())
    except ValueError:
        known = ", ".join(v.value for v in OpinionValue)
        raise InputError(f"unknown opinion {value!r}; known: {known}", field="value") from None


def _clean_tags(tags: Iterable[str]) -> tuple[str, ...]:
    cleaned: list[str] = []
    for tag in tags:
        text = str(tag).strip()
        if not text:
            raise InputError("tags must not be empty", field="tags")
        if len(text) > MAX_TAG_CHARS:
            raise InputError(f"tag longer than {MAX_TAG_CHARS} characters: {text[:40]!r}...", field="tags")
        if text not in cleaned:
            cleaned.append(text)
    if len(cleaned) > MAX_TAGS:
        raise InputError(f"at most {MAX_TAGS} tags per contribution, got {len(cleaned)}", field="tags")
    return tuple(cleaned)


def _check_range(first: datetime | None, last: datetime | None, what: str) -> None:
    if first is not None and last is not None and ensure_utc(first) > ensure_utc(last):
        raise InputError(f"{what}: first_seen {isoformat_z(first)} is after last_seen {isoformat_z(last)}")


def encode_cursor(modified_at: datetime, signal_id: str) -> str:
    raw = f"{ensure_utc(modified_at).isoformat()}|{signal_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        instant, signal_id = raw.split("|", 1)
        return parse_instant(instant), signal_id
    except (ValueError, binascii.Error, InputError, UnicodeDecodeError):
        raise InputError(f"invalid cursor {cursor!r}", field="cursor") from None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


# Building a visibility clause costs milliseconds of Python; the expression is immutable and
# reusable across sessions, so it is built once per viewer.
@lru_cache(maxsize=1024)
def _contribution_clause(org_id: str, org_kind: OrgKind) -> ColumnElement[bool]:
    source_kind = select(OrgRow.kind).where(OrgRow.id == ContributionRow.org_id).scalar_subquery()
    listed = exists().where(
        ContributionShareRow.contribution_id == ContributionRow.id, ContributionShareRow.org_id == org_id
    )
    return visible_clause(
        org_id,
        org_kind,
        tlp_col=ContributionRow.tlp,
        source_org_col=ContributionRow.org_id,
        source_kind_col=source_kind,
        listed=listed,
    )


@lru_cache(maxsize=1024)
def _campaign_clause(org_id: str, org_kind: OrgKind) -> ColumnElement[bool]:
    source_kind = select(OrgRow.kind).where(OrgRow.id == CampaignRow.org_id).scalar_subquery()
    listed = exists().where(CampaignShareRow.campaign_id == CampaignRow.id, CampaignShareRow.org_id == org_id)
    return visible_clause(
        org_id,
        org_kind,
        tlp_col=CampaignRow.tlp,
        source_org_col=CampaignRow.org_id,
        source_kind_col=source_kind,
        listed=listed,
    )


class ExchangeStore:
    """All exchange operations on one session (one transaction; the caller commits)."""

    def __init__(self, session: Session, *, now: datetime | None = None) -> None:
        self.session = session
        self._now = now  # fixed clock for tests; None means the real clock

    def now(self) -> datetime:
        return self._now if self._now is not None else utcnow()

    # -----------------------------------------------------------------------------------------
    # organisations

    def create_org(
        self, actor: Principal | None, name: str, kind: str | OrgKind, *, operator: bool = False
    ) -> Organisation:
        """A new member organisation (operator admins or the local administrator only)."""
        require(actor, Permission.OPERATE)
        clean = name.strip()
        if not clean or len(clean) > 200:
            raise InputError("organisation name must be 1-200 characters", field="name")
        parsed_kind = parse_org_kind(kind)
        if self.session.scalar(select(OrgRow.id).where(OrgRow.name == clean)) is not None:
            raise Conflict(f"an organisation named {clean!r} already exists", field="name")
        row = OrgRow(
            id=new_id("identity"),
            name=clean,
            kind=parsed_kind.value,
            operator=operator,
            created_at=self.now(),
        )
        self.session.add(row)
        try:
            self.session.flush()
        except IntegrityError as exc:  # a concurrent request took the name first
            raise Conflict(f"an organisation named {clean!r} already exists", field="name") from exc
        audit.record(
            self.session,
            actor,
            "org.create",
            at=row.created_at,
            target_type="org",
            target_id=row.id,
            detail={"name": clean, "kind": parsed_kind.value, "operator": operator},
        )
        return _org(row)

    def list_orgs(self, actor: Principal | None) -> list[Organisation]:
        """Every member organisation (members need the directory to address AMBER/RED shares)."""
        if actor is not None:
            require(actor, Permission.READ)
        return [_org(r) for r in self.session.scalars(select(OrgRow).order_by(OrgRow.name))]

    def get_org(self, actor: Principal | None, id_or_name: str) -> Organisation:
        if actor is not None:
            require(actor, Permission.READ)
        return _org(self._org_row(id_or_name))

    def _org_row(self, id_or_name: str) -> OrgRow:
        row = self.session.get(OrgRow, id_or_name) or self.session.scalar(
            select(OrgRow).where(OrgRow.name == id_or_name)
        )
        if row is None:
            raise NotFound(f"no organisation {id_or_name!r}", org=id_or_name)
        return row

    # -----------------------------------------------------------------------------------------
    # keys

    def create_key(
        self,
        actor: Principal | None,
        org: str,
        role: str | Role,
        *,
        name: str = "",
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key for organisation ``org`` (id or name). Returns (description, the key itself):
        the key is not stored and cannot be shown again."""
        org_row = self._org_row(org)
        if not can_manage_org(actor, org_row.id):
            require(actor, Permission.MANAGE_KEYS)
            raise PermissionDenied("admins may manage only their own organisation's keys", org=org_row.id)
        parsed_role = parse_role(role)
        now = self.now()
        if expires_at is not None and ensure_utc(expires_at) <= now:
            raise InputError("expires_at must be in the future", field="expires_at")
        key_id, secret = keys.generate_key()
        row = ApiKeyRow(
            id=key_id,
            org_id=org_row.id,
            name=name.strip()[:200],
            role=parsed_role.value,
            secret_hash=keys.hash_key(secret),
            created_at=now,
            created_by=actor.key_id if actor else audit.LOCAL_ADMIN,
            expires_at=ensure_utc(expires_at) if expires_at else None,
            revoked_at=None,
        )
        self.session.add(row)
        self.session.flush()
        audit.record(
            self.session,
            actor,
            "key.create",
            at=now,
            target_type="key",
            target_id=key_id,
            detail={"org_id": org_row.id, "role": parsed_role.value, "name": row.name},
        )
        return _key(row), secret

    def list_keys(self, actor: Principal | None, org: str | None = None) -> list[ApiKey]:
        """Keys of ``org`` (default: the actor's own; all keys for the local administrator)."""
        stmt = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        if org is not None:
            org_id = self._org_row(org).id
        elif actor is not None:
            org_id = actor.org_id
        else:
            org_id = None
        if org_id is not None:
            if not can_manage_org(actor, org_id):
                require(actor, Permission.MANAGE_KEYS)
                raise PermissionDenied("admins may list only their own organisation's keys", org=org_id)
            stmt = stmt.where(ApiKeyRow.org_id == org_id)
        return [_key(r) for r in self.session.scalars(stmt)]

    def revoke_key(self, actor: Principal | None, key_id: str) -> ApiKey:
        """Revoke a key at once; revoking twice is a Conflict (the first revocation time stands)."""
        row = self.session.get(ApiKeyRow, key_id)
        if row is None or not can_manage_org(actor, row.org_id):
            if actor is not None:
                require(actor, Permission.MANAGE_KEYS)
            raise NotFound(f"no key {key_id!r} in your organisation", key=key_id)
        if row.revoked_at is not None:
            raise Conflict(f"key {key_id!r} was already revoked at {isoformat_z(row.revoked_at)}")
        row.revoked_at = self.now()
        audit.record(
            self.session, actor, "key.revoke", at=row.revoked_at, target_type="key", target_id=key_id
        )
        self.session.flush()
        return _key(row)

    def authenticate(self, key: str) -> Principal:
        """The principal a presented key acts as; AuthenticationError if unknown, revoked or expired."""
        key_id = keys.key_id_of(key.strip())
        row = self.session.get(ApiKeyRow, key_id)
        if row is None or not keys.matches(key.strip(), row.secret_hash):
            raise AuthenticationError("unknown API key")
        if row.revoked_at is not None:
            raise AuthenticationError(f"API key {key_id} was revoked at {isoformat_z(row.revoked_at)}")
        if row.expires_at is not None and row.expires_at <= self.now():
            raise AuthenticationError(f"API key {key_id} expired at {isoformat_z(row.expires_at)}")
        org = self.session.get(OrgRow, row.org_id)
        assert org is not None  # foreign key
        return Principal(
            key_id=row.id,
            org_id=org.id,
            org_kind=OrgKind(org.kind),
            role=Role(row.role),
            operator=org.operator,
        )

    # -----------------------------------------------------------------------------------------
    # markings

    def _check_marking(self, marking: Marking) -> tuple[TLP, tuple[str, ...]]:
        tlp = parse_tlp(marking.tlp)
        if tlp in (TLP.CLEAR, TLP.GREEN):
            return tlp, ()  # every member sees it anyway; keep the record honest
        shared = tuple(dict.fromkeys(str(s) for s in marking.shared_with))
        if shared:
            found = set(self.session.scalars(select(OrgRow.id).where(OrgRow.id.in_(shared))))
            missing = [s for s in shared if s not in found]
            if missing:
                raise InputError(f"shared_with names unknown organisations: {', '.join(missing)}")
        return tlp, shared

    def _contribution_visible(self, principal: Principal) -> ColumnElement[bool]:
        return _contribution_clause(principal.org_id, principal.org_kind)

    def _campaign_visible(self, principal: Principal) -> ColumnElement[bool]:
        return _campaign_clause(principal.org_id, principal.org_kind)

    # -----------------------------------------------------------------------------------------
    # campaigns

    def create_campaign(
        self,
        principal: Principal,
        name: str,
        *,
        marking: Marking,
        description: str | None = None,
        attribution: str | None = None,
        techniques: Sequence[str] = (),
    ) -> Campaign:
        require(principal, Permission.WRITE)
        clean = name.strip()
        if not clean or len(clean) > 300:
            raise InputError("campaign name must be 1-300 characters", field="name")
        tlp, shared = self._check_marking(marking)
        normalized = tuple(dict.fromkeys(normalize_value(SignalKind.TECHNIQUE, t)[1] for t in techniques))
        now = self.now()
        row = CampaignRow(
            id=new_id("campaign"),
            org_id=principal.org_id,
            name=clean,
            description=description,
            attribution=attribution,
            tlp=tlp.value,
            techniques=list(normalized),
            created_at=now,
            modified_at=now,
        )
        self.session.add(row)
        self.session.flush()
        self.session.add_all(CampaignShareRow(campaign_id=row.id, org_id=o) for o in shared)
        audit.record(
            self.session,
            principal,
            "campaign.create",
            at=now,
            target_type="campaign",
            target_id=row.id,
            tlp=tlp.value,
            detail={"name": clean},
        )
        self.session.flush()
        return _campaign(row, shared)

    def update_campaign(
        self,
        principal: Principal,
        campaign_id: str,
        *,
        name: str | None = None,
        marking: Marking | None = None,
        description: str | None = None,
        attribution: str | None = None,
        techniques: Sequence[str] | None = None,
    ) -> Campaign:
        """Change a campaign of the caller's own organisation (fields left None stay as they are)."""
        require(principal, Permission.WRITE)
        row = self.session.scalar(
            select(CampaignRow)
            .where(CampaignRow.id == campaign_id, self._campaign_visible(principal))
            .with_for_update()
        )
        if row is None:
            raise NotFound(f"no campaign {campaign_id!r}", campaign=campaign_id)
        if row.org_id != principal.org_id:
            raise PermissionDenied("only the organisation that created a campaign may change it")
        if name is not None:
            clean = name.strip()
            if not clean or len(clean) > 300:
                raise InputError("campaign name must be 1-300 characters", field="name")
            row.name = clean
        if description is not None:
            row.description = description
        if attribution is not None:
            row.attribution = attribution
        if techniques is not None:
            row.techniques = list(
                dict.fromkeys(normalize_value(SignalKind.TECHNIQUE, t)[1] for t in techniques)
            )
        if marking is not None:
            tlp, shared = self._check_marking(marking)
            row.tlp = tlp.value
            for share in self.session.scalars(
                select(CampaignShareRow).where(CampaignShareRow.campaign_id == row.id)
            ):
                self.session.delete(share)
            self.session.flush()
            self.session.add_all(CampaignShareRow(campaign_id=row.id, org_id=o) for o in shared)
        row.modified_at = max(self.now(), row.modified_at + timedelta(microseconds=1))
        audit.record(
            self.session,
            principal,
            "campaign.update",
            at=row.modified_at,
            target_type="campaign",
            target_id=row.id,
            tlp=row.tlp,
        )
        self.session.flush()
        (result,) = self._campaigns([row])
        return result

    def list_campaigns(self, principal: Principal) -> list[Campaign]:
        require(principal, Permission.READ)
        rows = list(
            self.session.scalars(
                select(CampaignRow)
                .where(self._campaign_visible(principal))
                .order_by(CampaignRow.created_at, CampaignRow.id)
            )
        )
        result = self._campaigns(rows)
        self._audit_reads(
            principal, "campaign.read", [("campaign", c.id, c.marking.tlp, c.org_id) for c in result]
        )
        return result

    def get_campaign(self, principal: Principal, campaign_id: str) -> Campaign:
        require(principal, Permission.READ)
        row = self.session.scalar(
            select(CampaignRow).where(CampaignRow.id == campaign_id, self._campaign_visible(principal))
        )
        if row is None:
            raise NotFound(f"no campaign {campaign_id!r}", campaign=campaign_id)
        (result,) = self._campaigns([row])
        self._audit_reads(
            principal, "campaign.read", [("campaign", result.id, result.marking.tlp, result.org_id)]
        )
        return result

    def _campaigns(self, rows: list[CampaignRow]) -> list[Campaign]:
        shares: dict[str, list[str]] = defaultdict(list)
        if rows:
            for share in self.session.scalars(
                select(CampaignShareRow).where(CampaignShareRow.campaign_id.in_([r.id for r in rows]))
            ):
                shares[share.campaign_id].append(share.org_id)
        return [_campaign(r, tuple(sorted(shares[r.id]))) for r in rows]

    def _visible_campaign_ids(self, principal: Principal, ids: Iterable[str]) -> set[str]:
        wanted = set(ids)
        if not wanted:
            return set()
        return set(
            self.session.scalars(
                select(CampaignRow.id).where(CampaignRow.id.in_(wanted), self._campaign_visible(principal))
            )
        )

    # -----------------------------------------------------------------------------------------
    # signals

    def submit_signal(
        self,
        principal: Principal,
        kind: str | SignalKind,
        value: str,
        *,
        marking: Marking,
        confidence: int = 50,
        tags: Sequence[str] = (),
        first_seen: datetime | None = None,
        last_seen: datetime | None = None,
        campaign_id: str | None = None,
        description: str | None = None,
        language: str | None = None,
        valid_until: datetime | None = None,
    ) -> Signal:
        """Add or update the caller organisation's contribution to the signal (kind, value).

        The value is normalized first, so the same indicator from two members is one signal with
        two contributions. Resubmitting replaces the caller's contribution (new version) and
        un-revokes it. Returns the caller's view of the signal.
        """
        require(principal, Permission.WRITE)
        parsed_kind, normalized = normalize_value(kind, value)
        tlp, shared = self._check_marking(marking)
        if isinstance(confidence, bool) or not isinstance(confidence, int) or not 0 <= confidence <= 100:
            raise InputError(f"confidence must be an integer 0-100, got {confidence!r}", field="confidence")
        clean_tags = _clean_tags(tags)
        _check_range(first_seen, last_seen, "signal")
        if campaign_id is not None and not self._visible_campaign_ids(principal, [campaign_id]):
            raise InputError(f"no campaign {campaign_id!r} visible to you", field="campaign_id")
        if language is not None and not (0 < len(language.strip()) <= 16):
            raise InputError("language must be a short code such as 'en' or 'ar'", field="language")

        signal_id = stable_id("indicator", parsed_kind.value, normalized)
        now = self.now()
        signal = self._get_or_create_signal(signal_id, parsed_kind, normalized, language, now)
        # Strictly increasing change times, so versions stay distinct even within one clock tick.
        stamp = max(now, signal.modified_at + timedelta(microseconds=1))
        contribution = self.session.scalar(
            select(ContributionRow)
            .where(ContributionRow.signal_id == signal_id, ContributionRow.org_id == principal.org_id)
            .execution_options(populate_existing=True)
        )
        if contribution is None:
            contribution = ContributionRow(
                signal_id=signal_id, org_id=principal.org_id, version=0, created_at=stamp, modified_at=stamp
            )
            self.session.add(contribution)
        contribution.tlp = tlp.value
        contribution.confidence = confidence
        contribution.first_seen = ensure_utc(first_seen) if first_seen else None
        contribution.last_seen = ensure_utc(last_seen) if last_seen else None
        contribution.campaign_id = campaign_id
        contribution.description = description
        contribution.valid_until = ensure_utc(valid_until) if valid_until else None
        contribution.revoked_at = None
        self._bump(signal, contribution, stamp)
        self._replace_children(contribution.id, shared, clean_tags)
        self._snapshot(contribution, shared, clean_tags)
        if language and not signal.language:
            signal.language = language.strip()
        audit.record(
            self.session,
            principal,
            "signal.submit",
            at=stamp,
            target_type="signal",
            target_id=signal_id,
            tlp=tlp.value,
            detail={"kind": parsed_kind.value, "version": contribution.version},
        )
        self.session.flush()
        return self._views(principal, [signal])[0]

    def _get_or_create_signal(
        self, signal_id: str, kind: SignalKind, value: str, language: str | None, now: datetime
    ) -> SignalRow:
        if self.session.get(SignalRow, signal_id) is not None:
            return self._lock_signal(signal_id)
        values = {
            "id": signal_id,
            "kind": kind.value,
            "value": value,
            "language": language.strip() if language else None,
            "created_at": now,
            "modified_at": now - timedelta(microseconds=1),
        }
        dialect = self.session.get_bind().dialect.name
        if dialect in ("sqlite", "postgresql"):
            # INSERT ... ON CONFLICT DO NOTHING: if another transaction inserted the same signal
            # first, reuse theirs (cheaper than a savepoint per submission).
            insert = sqlite_insert if dialect == "sqlite" else pg_insert
            self.session.execute(
                insert(SignalRow).values(**values).on_conflict_do_nothing(index_elements=["id"])
            )
        else:  # pragma: no cover - other databases: a savepoint does the same
            try:
                with self.session.begin_nested():
                    self.session.add(SignalRow(**values))
            except IntegrityError:
                pass
        return self._lock_signal(signal_id)

    def _lock_signal(self, signal_id: str) -> SignalRow:
        """The signal row, locked until the transaction ends (PostgreSQL ``FOR UPDATE``; SQLite
        transactions are already exclusive): changes to one signal's contributions and opinions
        are serialized, so versions and upserts never race."""
        signal = self.session.scalar(
            select(SignalRow)
            .where(SignalRow.id == signal_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if signal is None:
            raise NotFound(f"no signal {signal_id!r}", signal=signal_id)
        return signal

    def _bump(self, signal: SignalRow, contribution: ContributionRow, stamp: datetime) -> None:
        contribution.version = (contribution.version or 0) + 1
        contribution.modified_at = stamp
        signal.modified_at = stamp
        self.session.flush()

    def _replace_children(self, contribution_id: int, shared: tuple[str, ...], tags: tuple[str, ...]) -> None:
        for model in (ContributionShareRow, ContributionTagRow):
            for child in self.session.scalars(select(model).where(model.contribution_id == contribution_id)):
                self.session.delete(child)
        self.session.flush()
        self.session.add_all(ContributionShareRow(contribution_id=contribution_id, org_id=o) for o in shared)
        self.session.add_all(ContributionTagRow(contribution_id=contribution_id, tag=t) for t in tags)

    def _snapshot(self, row: ContributionRow, shared: Sequence[str], tags: Sequence[str]) -> None:
        def iso(value: datetime | None) -> str | None:
            return isoformat_z(value) if value else None

        self.session.add(
            ContributionVersionRow(
                contribution_id=row.id,
                version=row.version,
                modified_at=row.modified_at,
                snapshot={
                    "org_id": row.org_id,
                    "tlp": row.tlp,
                    "shared_with": list(shared),
                    "confidence": row.confidence,
                    "tags": list(tags),
                    "first_seen": iso(row.first_seen),
                    "last_seen": iso(row.last_seen),
                    "campaign_id": row.campaign_id,
                    "description": row.description,
                    "valid_until": iso(row.valid_until),
                    "revoked": row.revoked_at is not None,
                },
            )
        )

    def revoke_signal(self, principal: Principal, signal_id: str) -> Signal:
        """Withdraw the caller organisation's contribution (STIX ``revoked``); others' stay."""
        require(principal, Permission.WRITE)
        contribution = self.session.scalar(
            select(ContributionRow).where(
                ContributionRow.signal_id == signal_id, ContributionRow.org_id == principal.org_id
            )
        )
        if contribution is None:
            raise NotFound(f"your organisation has no contribution to signal {signal_id!r}", signal=signal_id)
        signal = self._lock_signal(signal_id)
        self.session.refresh(contribution)  # the state after any change we waited for
        if contribution.revoked_at is not None:
            raise Conflict(f"your contribution to {signal_id!r} is already revoked")
        stamp = max(self.now(), signal.modified_at + timedelta(microseconds=1))
        contribution.revoked_at = stamp
        self._bump(signal, contribution, stamp)
        shared = tuple(
            self.session.scalars(
                select(ContributionShareRow.org_id).where(
                    ContributionShareRow.contribution_id == contribution.id
                )
            )
        )
        tags = tuple(
            self.session.scalars(
                select(ContributionTagRow.tag).where(ContributionTagRow.contribution_id == contribution.id)
            )
        )
        self._snapshot(contribution, shared, tags)
        audit.record(
            self.session,
            principal,
            "signal.revoke",
            at=stamp,
            target_type="signal",
            target_id=signal_id,
            tlp=contribution.tlp,
            detail={"version": contribution.version},
        )
        self.session.flush()
        return self._views(principal, [signal])[0]

    def get_signal(self, principal: Principal, signal_id: str) -> Signal:
        """The caller's view of one signal; NotFound if it does not exist *or* is invisible to it."""
        page = self.list_signals(principal, SignalFilter(ids=(signal_id,)), limit=1)
        if not page.items:
            raise NotFound(f"no signal {signal_id!r}", signal=signal_id)
        return page.items[0]

    def find_signal(self, principal: Principal, kind: str | SignalKind, value: str) -> Signal:
        """The caller's view of the signal for (kind, value), normalizing the value first."""
        parsed, normalized = normalize_value(kind, value)
        return self.get_signal(principal, stable_id("indicator", parsed.value, normalized))

    def list_signals(
        self,
        principal: Principal,
        filters: SignalFilter | None = None,
        *,
        limit: int = 100,
        cursor: str | None = None,
    ) -> SignalPage:
        """One page of signals visible to the caller, oldest change first (see module docstring)."""
        require(principal, Permission.READ)
        if not 1 <= limit <= MAX_PAGE:
            raise InputError(f"limit must be 1-{MAX_PAGE}, got {limit}", field="limit")
        f = filters or SignalFilter()
        stmt = self._signal_query(principal, f)
        if stmt is None:
            return SignalPage(items=[], next_cursor=None)
        if cursor:
            after_time, after_id = decode_cursor(cursor)
            stmt = stmt.where(
                or_(
                    SignalRow.modified_at > after_time,
                    and_(SignalRow.modified_at == after_time, SignalRow.id > after_id),
                )
            )
        rows = list(self.session.scalars(stmt.order_by(SignalRow.modified_at, SignalRow.id).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        items = self._views(principal, rows)
        self._audit_reads(
            principal,
            "signal.read",
            # one entry per restricted contribution read, naming whose material it was
            [("signal", s.id, c.marking.tlp, c.org_id) for s in items for c in s.contributions],
        )
        next_cursor = encode_cursor(rows[-1].modified_at, rows[-1].id) if more else None
        return SignalPage(items=items, next_cursor=next_cursor, more=more)

    def count_signals(self, principal: Principal, filters: SignalFilter | None = None) -> int:
        """How many signals ``list_signals`` would page through (no audit entry: no content read)."""
        require(principal, Permission.READ)
        stmt = self._signal_query(principal, filters or SignalFilter())
        if stmt is None:
            return 0
        return int(self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)

    def _signal_query(self, principal: Principal, f: SignalFilter) -> Select[SignalRow] | None:
        visible = self._contribution_visible(principal)
        mine = ContributionRow.signal_id == SignalRow.id
        same: list[ColumnElement[bool]] = [mine, visible]
        if f.tlps:
            same.append(ContributionRow.tlp.in_([parse_tlp(t).value for t in f.tlps]))
        if f.org_id:
            same.append(ContributionRow.org_id == f.org_id)
        if f.campaign_id:
            if not self._visible_campaign_ids(principal, [f.campaign_id]):
                return None  # filtering by an invisible campaign must not reveal its signals
            same.append(ContributionRow.campaign_id == f.campaign_id)
        if f.tag:
            same.append(
                exists().where(
                    ContributionTagRow.contribution_id == ContributionRow.id, ContributionTagRow.tag == f.tag
                )
            )
        stmt = select(SignalRow).where(exists().where(*same))
        if f.kinds:
            stmt = stmt.where(SignalRow.kind.in_([SignalKind(k).value for k in f.kinds]))
        if f.ids:
            stmt = stmt.where(SignalRow.id.in_(list(f.ids)))
        if f.modified_after is not None:
            stmt = stmt.where(exists().where(mine, visible, ContributionRow.modified_at > f.modified_after))
        if not f.include_revoked:
            stmt = stmt.where(exists().where(mine, visible, ContributionRow.revoked_at.is_(None)))
        if f.text:
            pattern = _like(f.text)
            stmt = stmt.where(
                or_(
                    func.lower(SignalRow.value).like(pattern, escape="\\"),
                    exists().where(
                        mine, visible, func.lower(ContributionRow.description).like(pattern, escape="\\")
                    ),
                )
            )
        return stmt

    def _views(self, principal: Principal, signals: Sequence[SignalRow]) -> list[Signal]:
        """Build the caller's view of each signal: visible contributions only, derived times."""
        if not signals:
            return []
        ids = [s.id for s in signals]
        contributions = list(
            self.session.scalars(
                select(ContributionRow)
                .where(ContributionRow.signal_id.in_(ids), self._contribution_visible(principal))
                .order_by(ContributionRow.created_at, ContributionRow.id)
            )
        )
        cids = [c.id for c in contributions]
        shares: dict[int, list[str]] = defaultdict(list)
        tags: dict[int, list[str]] = defaultdict(list)
        if cids:
            for sh in self.session.scalars(
                select(ContributionShareRow).where(ContributionShareRow.contribution_id.in_(cids))
            ):
                shares[sh.contribution_id].append(sh.org_id)
            for tg in self.session.scalars(
                select(ContributionTagRow).where(ContributionTagRow.contribution_id.in_(cids))
            ):
                tags[tg.contribution_id].append(tg.tag)
        campaigns = self._visible_campaign_ids(
            principal, {c.campaign_id for c in contributions if c.campaign_id}
        )
        by_signal: dict[str, list[Contribution]] = defaultdict(list)
        for c in contributions:
            by_signal[c.signal_id].append(
                Contribution(
                    org_id=c.org_id,
                    marking=Marking(TLP(c.tlp), tuple(sorted(shares[c.id]))),
                    confidence=c.confidence,
                    tags=tuple(sorted(tags[c.id])),
                    first_seen=c.first_seen,
                    last_seen=c.last_seen,
                    campaign_id=c.campaign_id if c.campaign_id in campaigns else None,
                    description=c.description,
                    created_at=c.created_at,
                    modified_at=c.modified_at,
                    valid_until=c.valid_until,
                    revoked=c.revoked_at is not None,
                    version=c.version,
                )
            )
        opinions = self._opinions(ids)
        sightings = self._sightings(ids)
        views = []
        for s in signals:
            mine = by_signal.get(s.id, [])
            if not mine:
                continue  # defensive: callers only pass signals with a visible contribution
            until = [c.valid_until for c in mine]
            views.append(
                Signal(
                    id=s.id,
                    kind=SignalKind(s.kind),
                    value=s.value,
                    language=s.language,
                    contributions=mine,
                    opinions=opinions.get(s.id, []),
                    sightings=sightings.get(s.id, []),
                    revoked=all(c.revoked for c in mine),
                    valid_until=None if any(u is None for u in until) else max(u for u in until if u),
                    created_at=min(c.created_at for c in mine),
                    modified_at=max(c.modified_at for c in mine),
                )
            )
        return views

    def _opinions(self, signal_ids: Sequence[str]) -> dict[str, list[Opinion]]:
        result: dict[str, list[Opinion]] = defaultdict(list)
        for row in self.session.scalars(
            select(OpinionRow).where(OpinionRow.signal_id.in_(signal_ids)).order_by(OpinionRow.created_at)
        ):
            result[row.signal_id].append(_opinion(row))
        return result

    def _sightings(self, signal_ids: Sequence[str]) -> dict[str, list[Sighting]]:
        result: dict[str, list[Sighting]] = defaultdict(list)
        for row in self.session.scalars(
            select(SightingRow).where(SightingRow.signal_id.in_(signal_ids)).order_by(SightingRow.id)
        ):
            result[row.signal_id].append(_sighting(row))
        return result

    def _require_visible(self, principal: Principal, signal_id: str) -> None:
        visible = self.session.scalar(
            select(ContributionRow.id)
            .where(ContributionRow.signal_id == signal_id, self._contribution_visible(principal))
            .limit(1)
        )
        if visible is None:
            raise NotFound(f"no signal {signal_id!r}", signal=signal_id)

    def list_versions(self, principal: Principal, signal_id: str) -> list[datetime]:
        """Modification instants of every version of the caller's visible contributions, oldest first."""
        require(principal, Permission.READ)
        self._require_visible(principal, signal_id)
        stmt = (
            select(ContributionVersionRow.modified_at)
            .join(ContributionRow, ContributionRow.id == ContributionVersionRow.contribution_id)
            .where(ContributionRow.signal_id == signal_id, self._contribution_visible(principal))
            .order_by(ContributionVersionRow.modified_at)
        )
        return list(dict.fromkeys(self.session.scalars(stmt)))

    # -----------------------------------------------------------------------------------------
    # opinions and sightings

    def set_opinion(
        self, principal: Principal, signal_id: str, value: str | OpinionValue, comment: str | None = None
    ) -> Opinion:
        """Set the caller organisation's current opinion of a visible signal (history is kept)."""
        require(principal, Permission.WRITE)
        parsed = parse_opinion(value)
        self._require_visible(principal, signal_id)
        self._lock_signal(signal_id)
        now = self.now()
        row = self.session.get(OpinionRow, (signal_id, principal.org_id), populate_existing=True)
        if row is None:
            row = OpinionRow(signal_id=signal_id, org_id=principal.org_id)
            self.session.add(row)
        row.value, row.comment, row.created_at = parsed.value, comment, now
        self.session.add(
            OpinionHistoryRow(
                signal_id=signal_id,
                org_id=principal.org_id,
                value=parsed.value,
                comment=comment,
                created_at=now,
            )
        )
        audit.record(
            self.session,
            principal,
            "opinion.set",
            at=now,
            target_type="signal",
            target_id=signal_id,
            detail={"value": parsed.value},
        )
        self.session.flush()
        return _opinion(row)

    def list_opinions(self, principal: Principal, signal_id: str, *, history: bool = False) -> list[Opinion]:
        """Current opinions of every organisation (or the full history, oldest first)."""
        require(principal, Permission.READ)
        self._require_visible(principal, signal_id)
        if not history:
            return self._opinions([signal_id]).get(signal_id, [])
        rows = self.session.scalars(
            select(OpinionHistoryRow)
            .where(OpinionHistoryRow.signal_id == signal_id)
            .order_by(OpinionHistoryRow.id)
        )
        return [
            Opinion(org_id=r.org_id, value=OpinionValue(r.value), comment=r.comment, created_at=r.created_at)
            for r in rows
        ]

    def add_sighting(
        self,
        principal: Principal,
        signal_id: str,
        *,
        count: int,
        first_seen: datetime,
        last_seen: datetime,
        platform: str | None = None,
    ) -> Sighting:
        """Report that the caller organisation saw a visible signal ``count`` times in a time range."""
        require(principal, Permission.WRITE)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InputError(f"count must be a positive integer, got {count!r}", field="count")
        _check_range(first_seen, last_seen, "sighting")
        self._require_visible(principal, signal_id)
        now = self.now()
        row = SightingRow(
            signal_id=signal_id,
            org_id=principal.org_id,
            count=count,
            first_seen=ensure_utc(first_seen),
            last_seen=ensure_utc(last_seen),
            platform=platform,
            created_at=now,
        )
        self.session.add(row)
        audit.record(
            self.session,
            principal,
            "sighting.add",
            at=now,
            target_type="signal",
            target_id=signal_id,
            detail={"count": count},
        )
        self.session.flush()
        return _sighting(row)

    def list_sightings(self, principal: Principal, signal_id: str) -> list[Sighting]:
        require(principal, Permission.READ)
        self._require_visible(principal, signal_id)
        return self._sightings([signal_id]).get(signal_id, [])

    # -----------------------------------------------------------------------------------------
    # audit

    def _audit_reads(
        self, principal: Principal, action: str, targets: Sequence[tuple[str, str, TLP, str]]
    ) -> None:
        audited: list[audit.Target] = [
            (kind, tid, tlp.value, owner) for kind, tid, tlp, owner in targets if tlp in AUDITED_TLPS
        ]
        audit.record_many(self.session, principal, action, audited, at=self.now())

    def query_audit(self, actor: Principal | None, filters: audit.AuditFilter) -> list[audit.AuditEntry]:
        """Audit entries, newest first. An org admin sees the entries involving its organisation
        (what its keys did, and every read of its AMBER/RED material by anyone); the operator's
        admins and the local administrator see everything."""
        if actor is not None:
            require(actor, Permission.READ_AUDIT)
            if Permission.OPERATE not in permissions(actor):
                if filters.involving_org_id not in (None, actor.org_id):
                    raise PermissionDenied("admins may read only audit entries involving their organisation")
                filters = replace(filters, involving_org_id=actor.org_id)
        if not 1 <= filters.limit <= MAX_PAGE:
            raise InputError(f"limit must be 1-{MAX_PAGE}", field="limit")
        return audit.query(self.session, filters)


# ---------------------------------------------------------------------------------------------
# row -> record


def _org(row: OrgRow) -> Organisation:
    return Organisation(
        id=row.id, name=row.name, kind=OrgKind(row.kind), created_at=row.created_at, operator=row.operator
    )


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        role=Role(row.role),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        created_by=row.created_by,
    )


def _campaign(row: CampaignRow, shared: tuple[str, ...]) -> Campaign:
    return Campaign(
        id=row.id,
        name=row.name,
        description=row.description,
        attribution=row.attribution,
        org_id=row.org_id,
        marking=Marking(TLP(row.tlp), shared),
        techniques=tuple(row.techniques or ()),
        created_at=row.created_at,
        modified_at=row.modified_at,
    )


def _opinion(row: OpinionRow) -> Opinion:
    return Opinion(
        org_id=row.org_id, value=OpinionValue(row.value), comment=row.comment, created_at=row.created_at
    )


def _sighting(row: SightingRow) -> Sighting:
    return Sighting(
        org_id=row.org_id,
        count=row.count,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        platform=row.platform,
        created_at=row.created_at,
    )


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
    "ApiKey",
    "ExchangeStore",
    "SignalFilter",
    "SignalPage",
    "decode_cursor",
    "encode_cursor",
    "parse_opinion",
    "parse_org_kind",
    "parse_role",
    "parse_tlp",
    "visible_to",
]
