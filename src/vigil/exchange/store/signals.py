"""Signals and their contributions: submission (dedup by normalized value), revocation, the
caller's view, search and paging, versions. The signal part of ``ExchangeStore``."""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from vigil.core.errors import Conflict, InputError, NotFound
from vigil.core.ids import stable_id
from vigil.core.time import ensure_utc, isoformat_z, parse_instant
from vigil.exchange import audit, warninglists
from vigil.exchange.access import (
    Permission,
    Principal,
    require,
)
from vigil.exchange.models import (
    ContributionRow,
    ContributionShareRow,
    ContributionTagRow,
    ContributionVersionRow,
    SignalRow,
)
from vigil.exchange.records import (
    TLP,
    Contribution,
    Marking,
    Signal,
    SignalKind,
)
from vigil.exchange.store.base import MAX_PAGE, StoreBase, check_range, clean_tags, like_pattern, parse_tlp
from vigil.exchange.store.feedback_counts import FeedbackCountsStore, score_at_least
from vigil.exchange.store.languages import clean_language, current_languages, signal_language
from vigil.exchange.values import normalize_value


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
    # decay score (vigil.signals.decay, default model): an active visible contribution scores at
    # least this, with the current opinions the reader sees (store.feedback_counts.score_at_least)
    min_score: float | None = None


@dataclass
class SignalPage:
    items: list[Signal]
    next_cursor: str | None  # pass back as ``cursor`` for the next page; None on the last page
    more: bool = field(default=False)


@dataclass
class LastSignalPage:
    """The last page of a listing (``SignalsStore.last_signals_page``)."""

    items: list[Signal]
    total: int  # what the reader may see under the filters
    pages: int
    cursor: str | None  # the cursor ``list_signals`` takes to this page (None: it is the first)
    previous_cursor: str | None  # the one to the page before it (None: that is the first page)


def encode_cursor(modified_at: datetime, signal_id: str) -> str:
    raw = f"{ensure_utc(modified_at).isoformat()}|{signal_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        instant, signal_id = raw.split("|", 1)
        if "\x00" in signal_id:  # PostgreSQL text holds no NUL: refused here, not a 500 there
            raise ValueError(signal_id)
        return parse_instant(instant), signal_id
    except (ValueError, binascii.Error, InputError, UnicodeDecodeError):
        raise InputError(f"invalid cursor {cursor!r}", field="cursor") from None


# The listing's sorts (``list_signals(sort=…, order=…)``). Each is a keyset over (key, id), so
# pages stay exact (no row twice or missed between pages). ``changed`` is the reader's latest
# visible change, ``first_seen`` its earliest visible contribution, ``tlp`` the strictest visible
# marking (the row's badge; CLEAR < GREEN < AMBER < AMBER+STRICT < RED, not alphabetical).
SIGNAL_SORTS = ("changed", "first_seen", "value", "type", "tlp")
_TLP_RANK = {t.value: n for n, t in enumerate(TLP)}


def check_sort(sort: str, order: str) -> None:
    if sort not in SIGNAL_SORTS:
        raise InputError(f"unknown sort column {sort!r}; known: {', '.join(SIGNAL_SORTS)}", field="sort")
    if order not in ("asc", "desc"):
        raise InputError(f"order must be asc or desc, got {order!r}", field="order")


def encode_sorted_cursor(sort: str, order: str, key: Any, signal_id: str) -> str:
    """A cursor for one sort; the default sort's is the API's unchanged (time|id) cursor."""
    if (sort, order) == ("changed", "asc"):
        return encode_cursor(key, signal_id)
    text = ensure_utc(key).isoformat() if isinstance(key, datetime) else str(key)
    raw = f"{sort}.{order}|{text}|{signal_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_sorted_cursor(cursor: str, sort: str, order: str) -> tuple[Any, str]:
    """The (key, id) a cursor points after, refusing one handed out for another sort or order
    (its key would compare against the wrong column)."""
    if (sort, order) == ("changed", "asc"):
        return decode_cursor(cursor)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, rest = raw.split("|", 1)
        text, signal_id = rest.rsplit("|", 1)  # the id has no "|"; a value may
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InputError(f"invalid cursor {cursor!r}", field="cursor") from None
    if "\x00" in raw:  # PostgreSQL text holds no NUL: refused here, not a 500 there
        raise InputError(f"invalid cursor {cursor!r}", field="cursor")
    if prefix != f"{sort}.{order}":
        raise InputError(f"the cursor belongs to another sort than {sort} {order}", field="cursor")
    try:
        key: Any = parse_instant(text) if sort in ("changed", "first_seen") else text
        if sort == "tlp":
            key = int(text)
            if not 0 <= key <= len(_TLP_RANK):  # a rank; a huge one overflows PostgreSQL's integer
                raise ValueError(text)
    except (ValueError, InputError):
        raise InputError(f"invalid cursor {cursor!r}", field="cursor") from None
    return key, signal_id


class SignalsStore(StoreBase):
    """Signals: submit, revoke, read (the caller's view), search, versions."""

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
        # Known-benign values (warning lists) are refused with a 409 naming the list unless the
        # organisation recorded an override; broad values get a warninglist:<name> tag.
        flags = warninglists.screen(self.session, principal, parsed_kind, normalized, at=self.now())
        tag_list = clean_tags([*tags, *flags])
        check_range(first_seen, last_seen, "signal")
        if campaign_id is not None and not self._visible_campaign_ids(principal, [campaign_id]):
            raise InputError(f"no campaign {campaign_id!r} visible to you", field="campaign_id")
        if language is not None and not (0 < len(language.strip()) <= 16):
            raise InputError("language must be a short code such as 'en' or 'ar'", field="language")

        signal_id = stable_id("indicator", parsed_kind.value, normalized)
        now = self.now()
        signal = self._get_or_create_signal(signal_id, parsed_kind, normalized, now)
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
        self._replace_children(contribution.id, shared, tag_list)
        # the language is this contribution's own (in its snapshot), never the shared signal row's
        self._snapshot(contribution, shared, tag_list, clean_language(language))
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

    def _get_or_create_signal(self, signal_id: str, kind: SignalKind, value: str, now: datetime) -> SignalRow:
        # The same statements whether or not the signal exists: the insert below is a no-op on a
        # conflict, so submitting a value another member holds (hidden) takes as long as a fresh
        # one (bench/oracle_timing.py); skipping it for existing rows was measurable.
        values = {
            "id": signal_id,
            "kind": kind.value,
            "value": value,
            "language": None,  # per contribution (vigil.exchange.store.languages)
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

    def _revoke_contribution(
        self, signal: SignalRow, contribution: ContributionRow, now: datetime
    ) -> datetime:
        """Revoke one contribution (its signal row locked by the caller) as a new version, with
        the snapshot of its audience and tags; returns the stamp, later than the signal's last
        change so versions stay ordered."""
        stamp = max(now, signal.modified_at + timedelta(microseconds=1))
        # read before the bump: the language is the current version's, and after it the current
        # version is the one this writes (a revocation used to lose the contribution's language)
        language = current_languages(self.session, [contribution.id]).get(contribution.id)
        contribution.revoked_at = stamp
        self._bump(signal, contribution, stamp)
        shared = tuple(
            self.session.scalars(
                select(ContributionShareRow.org_id)
                .where(ContributionShareRow.contribution_id == contribution.id)
                .order_by(ContributionShareRow.org_id)  # the same order on every backend
            )
        )
        tags = tuple(
            self.session.scalars(
                select(ContributionTagRow.tag)
                .where(ContributionTagRow.contribution_id == contribution.id)
                .order_by(ContributionTagRow.tag)
            )
        )
        self._snapshot(contribution, shared, tags, language)
        return stamp

    def _snapshot(
        self, row: ContributionRow, shared: Sequence[str], tags: Sequence[str], language: str | None
    ) -> None:
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
                    "language": language,
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
        stamp = self._revoke_contribution(signal, contribution, self.now())
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
        sort: str = "changed",
        order: str = "asc",
    ) -> SignalPage:
        """One page of signals visible to the caller, by default oldest change first (see module
        docstring); ``sort`` is one of ``SIGNAL_SORTS``, ties by id, so pages never overlap."""
        require(principal, Permission.READ)
        if not 1 <= limit <= MAX_PAGE:
            raise InputError(f"limit must be 1-{MAX_PAGE}, got {limit}", field="limit")
        check_sort(sort, order)
        ordered = self._ordered_query(principal, filters or SignalFilter(), sort)
        if ordered is None:
            return SignalPage(items=[], next_cursor=None)
        stmt, key = ordered
        if cursor:
            after, after_id = decode_sorted_cursor(cursor, sort, order)
            if order == "asc":
                stmt = stmt.where(or_(key > after, and_(key == after, SignalRow.id > after_id)))
            else:
                stmt = stmt.where(or_(key < after, and_(key == after, SignalRow.id < after_id)))
        by = (key, SignalRow.id) if order == "asc" else (key.desc(), SignalRow.id.desc())
        found: list[Any] = list(self.session.execute(stmt.order_by(*by).limit(limit + 1)))
        more = len(found) > limit
        found = found[:limit]
        rows: list[SignalRow] = [r[0] for r in found]
        items = self._read_views(principal, rows)
        next_cursor = encode_sorted_cursor(sort, order, found[-1][1], rows[-1].id) if more else None
        return SignalPage(items=items, next_cursor=next_cursor, more=more)

    def first_pages(
        self, principal: Principal, queries: Sequence[tuple[SignalFilter, int]]
    ) -> list[list[Signal]]:
        """The first page of ``list_signals`` (default order) for each (filter, limit), read in one
        pass: each filter's rows come from its own query, then the views of their union are built,
        and their reads audited, once. For a page that shows several short lists of signals (a
        signal's related ones): a signal in two lists is read (and audited) once, and the views'
        seven queries run once instead of once per list."""
        require(principal, Permission.READ)
        picked: list[list[str]] = []
        rows: dict[str, SignalRow] = {}
        for filters, limit in queries:
            if not 1 <= limit <= MAX_PAGE:
                raise InputError(f"limit must be 1-{MAX_PAGE}, got {limit}", field="limit")
            ordered = self._ordered_query(principal, filters, "changed")
            if ordered is None:
                picked.append([])
                continue
            stmt, key = ordered
            found = [r[0] for r in self.session.execute(stmt.order_by(key, SignalRow.id).limit(limit))]
            picked.append([r.id for r in found])
            rows.update((r.id, r) for r in found)
        views = {s.id: s for s in self._read_views(principal, list(rows.values()))}
        return [[views[i] for i in ids if i in views] for ids in picked]

    def last_signals_page(
        self,
        principal: Principal,
        filters: SignalFilter | None = None,
        *,
        limit: int = 100,
        sort: str = "changed",
        order: str = "asc",
    ) -> LastSignalPage:
        """The last page ``list_signals`` would reach with this ``limit``, without walking there.

        Keyset cursors run forward only, so this reads the order backwards (a reverse keyset:
        newest change first), takes the last page's rows (``total % limit`` of them, or a whole
        page) and one page more, and turns them round. It also gives the cursors a forward walk
        would have handed out for the last page and the one before it, so "previous" from the
        last page works with ``list_signals``' unchanged cursors. Same visibility as the listing
        (and the same read audit), so the last page holds only what the reader may see.
        """
        require(principal, Permission.READ)
        if not 1 <= limit <= MAX_PAGE:
            raise InputError(f"limit must be 1-{MAX_PAGE}, got {limit}", field="limit")
        check_sort(sort, order)
        f = filters or SignalFilter()
        total = self.count_signals(principal, f)
        ordered = self._ordered_query(principal, f, sort)
        if ordered is None or total == 0:
            return LastSignalPage(items=[], total=0, pages=1, cursor=None, previous_cursor=None)
        stmt, key = ordered
        pages = -(-total // limit)
        tail = total - (pages - 1) * limit  # rows on the last page
        # the listing's order turned round
        by = (key.desc(), SignalRow.id.desc()) if order == "asc" else (key, SignalRow.id)
        backwards: list[Any] = list(self.session.execute(stmt.order_by(*by).limit(tail + limit + 1)))
        rows: list[SignalRow] = [r[0] for r in reversed(backwards[:tail])]

        def cursor_at(index: int) -> str | None:
            # a forward cursor points at the row just before the page it starts
            if index >= len(backwards):
                return None
            return encode_sorted_cursor(sort, order, backwards[index][1], backwards[index][0].id)

        return LastSignalPage(
            items=self._read_views(principal, rows),
            total=total,
            pages=pages,
            cursor=cursor_at(tail) if pages > 1 else None,
            previous_cursor=cursor_at(tail + limit) if pages > 2 else None,
        )

    def _ordered_query(
        self, principal: Principal, f: SignalFilter, sort: str = "changed"
    ) -> tuple[Select[Any], Any] | None:
        """The listing's query with its sort key as second column (None: nothing can match)."""
        stmt = self._signal_query(principal, f)
        if stmt is None:
            return None
        # Ordered by the reader's own change time of each signal: its latest *visible* contribution
        # (the view's modified_at). The signal row's time moves when any member changes its
        # contribution, hidden ones included: ordering (and the cursor) by it showed a member that
        # someone else holds a value and is changing it.
        # The other sorts: first_seen and tlp are likewise over the reader's visible contributions
        # only (a hidden contribution's time or marking would place the row, and so show it).
        aggregate = {
            "first_seen": func.min(ContributionRow.created_at),
            "tlp": func.max(case(_TLP_RANK, value=ContributionRow.tlp, else_=len(_TLP_RANK))),
        }.get(sort, func.max(ContributionRow.modified_at))
        latest = (
            select(ContributionRow.signal_id, aggregate.label("seen_at"))
            .where(self._contribution_visible(principal))
            .group_by(ContributionRow.signal_id)
            .subquery("latest")
        )
        key: Any = {"value": SignalRow.value, "type": SignalRow.kind}.get(sort, latest.c.seen_at)
        return stmt.add_columns(key).join(latest, latest.c.signal_id == SignalRow.id), key

    def _read_views(self, principal: Principal, rows: list[SignalRow]) -> list[Signal]:
        items = self._views(principal, rows)
        self._audit_reads(
            principal,
            "signal.read",
            # one entry per restricted contribution read, naming whose material it was
            [("signal", s.id, c.marking.tlp, c.org_id) for s in items for c in s.contributions],
        )
        return items

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
        if f.min_score is not None and f.min_score > 0:
            if not isinstance(self, FeedbackCountsStore):  # ExchangeStore is both
                raise TypeError("the decay-score filter needs the feedback counts of ExchangeStore")
            fb, scored = score_at_least(self, principal, f.min_score)
            stmt = stmt.outerjoin(fb, fb.c.signal_id == SignalRow.id).where(scored)
        if f.text:
            pattern = like_pattern(f.text)
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
        languages = current_languages(self.session, cids)
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
                    language=languages.get(c.id),
                )
            )
        seen: dict[str, set[int]] = defaultdict(set)
        for c in contributions:
            seen[c.signal_id].add(c.id)
        opinions = self._opinions(principal, seen)
        sightings = self._sightings(principal, seen)
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
                    language=signal_language(mine, principal.org_id),
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
