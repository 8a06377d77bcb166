"""Feedback counted: per-member counts of matches (sightings), confirmations, false positives and
disputes for a signal and for each of its contributions, a daily history, and the feedback an
organisation received on its own contributions. The counting part of ``ExchangeStore``.

Everything is derived from the rows ``feedback.py`` writes (``opinion_history``: every opinion
ever set; ``opinions``: the current one per organisation; ``sightings``), with no table of its own:
counts cannot drift from what they count.

**Visibility.** A count includes only feedback the reader may see, by the same rule as reading the
feedback itself (``vigil.exchange.policy.may_see_feedback``): the giver always sees its own; anyone
else needs a basis contribution it sees *now* whose marking *then* it may see, and the giver's own
marking (the ``cap``), if any, must admit it. The rule is written here once more as one SQL
predicate (``_visible``) over the stored basis list, so counting is a ``GROUP BY`` in the database
rather than a Python loop over rows; ``tests/exchange/test_feedback_counts.py`` checks the SQL and
the Python rule agree on generated markings. A count therefore reveals nothing the reader could not
read one by one: hidden feedback is absent, not subtracted, and a member with only hidden feedback
does not appear.

**Per contribution.** Feedback is attributed to every basis contribution it was given on (the
giver's own contribution when it has one, else every contribution it saw), restricted to the
contributions the reader sees now whose marking then the reader may see.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)

from vigil.core.errors import InputError
from vigil.core.time import ensure_utc
from vigil.exchange.access import Permission, Principal, require, visible_clause
from vigil.exchange.models import (
    ContributionRow,
    OpinionHistoryRow,
    OpinionRow,
    OrgRow,
    SightingRow,
    SignalRow,
)
from vigil.exchange.records import OpinionValue
from vigil.exchange.store.base import MAX_PAGE, StoreBase
from vigil.signals.decay import DecayModel, Feedback

FeedbackModel = type[OpinionHistoryRow] | type[OpinionRow] | type[SightingRow]

SORTS = ("matches", "false_positives", "disputes", "confirmations", "sightings", "latest")
Sort = Literal["matches", "false_positives", "disputes", "confirmations", "sightings", "latest"]


@dataclass(frozen=True)
class Counts:
    """Counts of feedback events. ``sightings``: reports; ``matches``: the sum of their counts
    (posts matched); ``confirmations`` / ``false_positives`` / ``disputes``: opinions *set* to that
    value (history, so a member that changed its mind counts under both)."""

    sightings: int = 0
    matches: int = 0
    confirmations: int = 0
    false_positives: int = 0
    disputes: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.sightings + other.sightings,
            self.matches + other.matches,
            self.confirmations + other.confirmations,
            self.false_positives + other.false_positives,
            self.disputes + other.disputes,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "sightings": self.sightings,
            "matches": self.matches,
            "confirmations": self.confirmations,
            "false_positives": self.false_positives,
            "disputes": self.disputes,
        }


@dataclass(frozen=True)
class MemberCounts:
    """One member organisation's feedback (the giver), with its current opinion."""

    org_id: str
    counts: Counts
    current: OpinionValue | None = None  # its opinion now, if the reader may see it
    last_at: datetime | None = None  # its latest feedback counted here


@dataclass(frozen=True)
class DayCounts:
    day: str  # YYYY-MM-DD (UTC) of when the feedback was given
    counts: Counts


@dataclass(frozen=True)
class ContributionCounts:
    """The feedback attributed to one contribution (``org_id``: its contributor)."""

    org_id: str
    members: list[MemberCounts]
    total: Counts
    days: list[DayCounts] = field(default_factory=list)  # its history, oldest first


@dataclass(frozen=True)
class SignalFeedback:
    signal_id: str
    members: list[MemberCounts]  # per giver, busiest first
    contributions: list[ContributionCounts]  # per visible contribution
    days: list[DayCounts]  # oldest first; only days with feedback
    total: Counts
    current: Feedback  # current opinions by value (what the decay score uses)


@dataclass(frozen=True)
class ReceivedItem:
    """Feedback other members gave on one contribution of the reader's organisation."""

    signal_id: str
    kind: str
    value: str
    counts: Counts
    members: int  # distinct givers
    last_at: datetime


@dataclass
class ReceivedPage:
    items: list[ReceivedItem]
    total: int  # contributions with feedback (under ``since``)
    offset: int
    limit: int
    totals: Counts = field(default_factory=Counts)  # over every item, not only this page


@dataclass(frozen=True)
class FeedbackEvent:
    """One opinion set or sighting reported (the row it was read from, for the caller to map)."""

    what: Literal["opinion", "sighting"]
    row_id: int
    signal_id: str
    org_id: str  # the giver
    created_at: datetime
    opinion: OpinionHistoryRow | None
    sighting: SightingRow | None


def _zero(value: Any) -> int:
    return int(value or 0)


# Built statements of ``feedback_counts`` per reader identity (see ``_signal_statements``): a few
# readers' worth is plenty, as each is rebuilt on a miss. Statements are immutable, so threads may
# share them; a race on a miss only builds one twice.
_STATEMENT_CACHE_SIZE = 256
_STATEMENTS: dict[tuple[Any, ...], Mapping[str, Any]] = {}


def _grouped_rows(opinions: Iterable[Any], sightings: Iterable[Any]) -> list[tuple[str, Counts, datetime]]:
    """Rows of the grouped opinion and sighting statements as (key, counts, latest time)."""
    found = [
        (str(key), Counts(0, 0, _zero(conf), _zero(fp), _zero(disp)), _utc(at))
        for key, conf, fp, disp, at in opinions
    ]
    found += [(str(key), Counts(_zero(n), _zero(matched)), _utc(at)) for key, n, matched, at in sightings]
    return found


class FeedbackCountsStore(StoreBase):
    """Counting what members said about signals, strictly within what the reader may see."""

    # The decay model of the settings this store serves under: whoever holds settings sets it
    # (the app's store dependency: ``DecayModel.from_settings(app settings)``, which may be
    # overrides given to ``create_app``). None: the process's settings, for callers that hold
    # none of their own (the CLI's are the process's).
    decay: DecayModel | None = None

    def decay_model(self) -> DecayModel:
        """The decay model of the signal listing's score filter and the feedback panel."""
        return self.decay or DecayModel.configured()

    # ------------------------------------------------------------------------------------------
    # the SQL form of may_see_feedback

    def _json(self) -> _Json:
        return _Json(self.session.get_bind().dialect.name == "postgresql")

    def _element_then_visible(self, principal: Principal, el: Any, j: _Json) -> ColumnElement[bool]:
        """A basis element's marking *then* admits the reader (TLP rule on its stored marking)."""
        owner = j.text(el, "org")
        return visible_clause(
            principal.org_id,
            principal.org_kind,
            tlp_col=j.text(el, "tlp"),
            source_org_col=owner,
            listed=j.lists(el, "to", principal.org_id),
            same_kind=owner.in_(select(OrgRow.id).where(OrgRow.kind == principal.org_kind.value)),
        )

    def _cap_ok(self, principal: Principal, model: FeedbackModel, j: _Json) -> ColumnElement[bool]:
        """No marking chosen by the giver, or one that admits the reader."""
        el = j.elements(model.basis, "cap_el")
        cap_tlp = j.text(el, "cap", "tlp")
        admits = visible_clause(
            principal.org_id,
            principal.org_kind,
            tlp_col=cap_tlp,
            source_org_col=model.org_id,
            listed=j.lists(el, ("cap", "to"), principal.org_id),
            same_kind=model.org_id.in_(select(OrgRow.id).where(OrgRow.kind == principal.org_kind.value)),
        )
        return not_(exists(select(literal(1)).select_from(el).where(cap_tlp.is_not(None), not_(admits))))

    def _visible(self, principal: Principal, model: FeedbackModel) -> ColumnElement[bool]:
        """``may_see_feedback`` for every row of ``model`` at once (see the module docstring)."""
        j = self._json()
        el = j.elements(model.basis, "basis_el")
        basis_ok = exists(
            select(literal(1))
            .select_from(el)
            .join(ContributionRow, ContributionRow.id == j.integer(el, "c"))
            .where(
                ContributionRow.signal_id == model.signal_id,
                self._contribution_visible(principal),
                self._element_then_visible(principal, el, j),
            )
        )
        return or_(model.org_id == principal.org_id, and_(self._cap_ok(principal, model, j), basis_ok))

    def _attributed(self, principal: Principal, model: FeedbackModel) -> tuple[Any, ColumnElement[bool]]:
        """A basis-element join of ``model`` (one row per contribution the feedback was given on)
        and the condition that the reader may see the feedback *through that contribution*."""
        j = self._json()
        el = j.elements(model.basis, "attr_el")
        through = and_(
            ContributionRow.id == j.integer(el, "c"),
            ContributionRow.signal_id == model.signal_id,
            self._contribution_visible(principal),
            or_(
                model.org_id == principal.org_id,
                and_(self._element_then_visible(principal, el, j), self._cap_ok(principal, model, j)),
            ),
        )
        return el, through

    # ------------------------------------------------------------------------------------------
    # one signal

    def feedback_counts(
        self, principal: Principal, signal_id: str, *, since: datetime | None = None
    ) -> SignalFeedback:
        """Counts of the feedback on one signal the reader may see: per member, per contribution
        and per day (``since``: feedback given at or after that instant). NotFound when the
        reader sees no contribution of the signal (the same answer as for no signal)."""
        require(principal, Permission.READ)
        self._require_visible(principal, signal_id)
        after = ensure_utc(since) if since is not None else None
        statements = self._signal_statements(principal, after is not None)
        params = {"signal_id": signal_id, "after": after}

        def rows(name: str) -> Any:
            return self.session.execute(statements[name], params)

        # per member
        per_member: dict[str, Counts] = defaultdict(Counts)
        last: dict[str, datetime] = {}
        by_member = _grouped_rows(rows("opinions_by_member"), rows("sightings_by_member"))
        # the latest visible sighting per member restarts the decay age (DecayModel.age_days)
        sightings_at = [(org_id, at) for org_id, counts, at in by_member if counts.sightings]
        for org_id, counts, at in by_member:
            per_member[org_id] = per_member[org_id] + counts
            last[org_id] = max(at, last.get(org_id, at))
        current: dict[str, OpinionValue] = {
            org: OpinionValue(value) for org, value in rows("current_opinions")
        }
        members = _members(per_member, current, last)

        # per day
        per_day: dict[str, Counts] = defaultdict(Counts)
        for day, counts, _ in _grouped_rows(rows("opinions_by_day"), rows("sightings_by_day")):
            per_day[day] = per_day[day] + counts
        days = [DayCounts(d, per_day[d]) for d in sorted(per_day)]

        # per contribution, per member
        by_contribution: dict[str, dict[str, Counts]] = defaultdict(lambda: defaultdict(Counts))
        per_contribution_day: dict[str, dict[str, Counts]] = defaultdict(lambda: defaultdict(Counts))
        attributed: list[tuple[tuple[str, str, str], Counts]] = [
            ((contributor, giver, str(day)), Counts(0, 0, _zero(conf), _zero(fp), _zero(disp)))
            for contributor, giver, day, conf, fp, disp in rows("opinions_attributed")
        ] + [
            ((contributor, giver, str(day)), Counts(_zero(n), _zero(matched)))
            for contributor, giver, day, n, matched in rows("sightings_attributed")
        ]
        for (contributor, giver, day), counts in attributed:
            by_contribution[contributor][giver] = by_contribution[contributor][giver] + counts
            per_contribution_day[contributor][day] = per_contribution_day[contributor][day] + counts
        contributions = [
            ContributionCounts(
                org_id=contributor,
                members=_members(givers, current, {}),
                total=sum(givers.values(), Counts()),
                days=[DayCounts(d, c) for d, c in sorted(per_contribution_day[contributor].items())],
            )
            for contributor, givers in sorted(by_contribution.items())
        ]
        values = list(current.values())
        sighted = [at for _, at in sightings_at]
        return SignalFeedback(
            signal_id=signal_id,
            members=members,
            contributions=contributions,
            days=days,
            total=sum((m.counts for m in members), Counts()),
            current=Feedback(
                confirmations=values.count(OpinionValue.CONFIRMED),
                false_positives=values.count(OpinionValue.FALSE_POSITIVE),
                disputes=values.count(OpinionValue.DISPUTED),
                last_sighting=max(sighted) if sighted else None,
            ),
        )

    def _signal_statements(self, principal: Principal, since: bool) -> Mapping[str, Any]:
        """The seven statements of ``feedback_counts`` for this reader, the signal id and the
        ``since`` instant left as bound parameters (``:signal_id``, ``:after``).

        Built once per reader identity and kept: building them (the visibility predicate is a
        large expression) cost about three times as much as running them, on every signal page
        and feedback request. The key holds every field of the principal a predicate reads
        (organisation, its kind, role, operator; not the key id), and the dialect."""
        j = self._json()
        key = (j.postgres, principal.org_id, principal.org_kind, principal.role, principal.operator, since)
        found = _STATEMENTS.get(key)
        if found is None:
            found = self._build_signal_statements(principal, since, j)
            if len(_STATEMENTS) >= _STATEMENT_CACHE_SIZE:
                _STATEMENTS.pop(next(iter(_STATEMENTS)))  # the oldest reader's
            _STATEMENTS[key] = found
        return found

    def _build_signal_statements(self, principal: Principal, since: bool, j: _Json) -> dict[str, Any]:
        # untyped: each comparison gives them its column's type
        signal_id: BindParameter[str] = bindparam("signal_id")
        after: BindParameter[datetime] = bindparam("after")
        o, s = OpinionHistoryRow, SightingRow

        def when(model: FeedbackModel) -> list[ColumnElement[bool]]:
            found = [model.signal_id == signal_id, self._visible(principal, model)]
            if since:
                found.append(model.created_at >= after)
            return found

        def opinions(key: Any) -> Any:
            return (
                select(
                    key,
                    func.sum(case((o.value == OpinionValue.CONFIRMED.value, 1), else_=0)),
                    func.sum(case((o.value == OpinionValue.FALSE_POSITIVE.value, 1), else_=0)),
                    func.sum(case((o.value == OpinionValue.DISPUTED.value, 1), else_=0)),
                    func.max(o.created_at),
                )
                .where(*when(o))
                .group_by(key)
            )

        def sightings(key: Any) -> Any:
            return (
                select(key, func.count(), func.sum(s.count), func.max(s.created_at))
                .where(*when(s))
                .group_by(key)
            )

        o_day, s_day = j.day(o.created_at), j.day(s.created_at)
        el, through = self._attributed(principal, o)
        opinions_attributed = (
            select(
                ContributionRow.org_id,
                o.org_id,
                o_day,
                func.sum(case((o.value == OpinionValue.CONFIRMED.value, 1), else_=0)),
                func.sum(case((o.value == OpinionValue.FALSE_POSITIVE.value, 1), else_=0)),
                func.sum(case((o.value == OpinionValue.DISPUTED.value, 1), else_=0)),
            )
            .select_from(o)
            .join(el, true())
            .join(ContributionRow, through)
            .where(o.signal_id == signal_id, *([o.created_at >= after] if since else []))
            .group_by(ContributionRow.org_id, o.org_id, o_day)
        )
        el, through = self._attributed(principal, s)
        sightings_attributed = (
            select(ContributionRow.org_id, s.org_id, s_day, func.count(), func.sum(s.count))
            .select_from(s)
            .join(el, true())
            .join(ContributionRow, through)
            .where(s.signal_id == signal_id, *([s.created_at >= after] if since else []))
            .group_by(ContributionRow.org_id, s.org_id, s_day)
        )
        return {
            "opinions_by_member": opinions(o.org_id),
            "sightings_by_member": sightings(s.org_id),
            "opinions_by_day": opinions(o_day),
            "sightings_by_day": sightings(s_day),
            # the current opinion per member (no ``since``: the current one is the current one)
            "current_opinions": select(OpinionRow.org_id, OpinionRow.value).where(
                OpinionRow.signal_id == signal_id, self._visible(principal, OpinionRow)
            ),
            "opinions_attributed": opinions_attributed,
            "sightings_attributed": sightings_attributed,
        }

    # ------------------------------------------------------------------------------------------
    # what an organisation's contributions received

    def feedback_received(
        self,
        principal: Principal,
        *,
        since: datetime | None = None,
        sort: str = "matches",
        limit: int = 50,
        offset: int = 0,
    ) -> ReceivedPage:
        """Feedback *other* members gave on the reader organisation's contributions, one item per
        contribution (signal), within what the reader may see; sorted by ``sort`` (highest first,
        ``latest``: most recent feedback first), then by signal id; paged by ``offset``."""
        require(principal, Permission.READ)
        if sort not in SORTS:
            raise InputError(f"sort must be one of {', '.join(SORTS)}; got {sort!r}", field="sort")
        if not 1 <= limit <= MAX_PAGE:
            raise InputError(f"limit must be 1-{MAX_PAGE}, got {limit}", field="limit")
        if not 0 <= offset <= 2_000_000_000:
            raise InputError(f"offset must be 0 or more, got {offset}", field="offset")
        after = ensure_utc(since) if since is not None else None
        parts = []
        for model in (OpinionHistoryRow, SightingRow):
            el, through = self._attributed(principal, model)
            is_opinion = model is OpinionHistoryRow

            def value_is(v: OpinionValue, m: Any = model, op: bool = is_opinion) -> Any:
                return case((m.value == v.value, 1), else_=0) if op else literal(0)

            parts.append(
                select(
                    ContributionRow.signal_id.label("signal_id"),
                    model.org_id.label("giver"),
                    (literal(0) if is_opinion else literal(1)).label("sightings"),
                    (literal(0) if is_opinion else SightingRow.count).label("matches"),
                    value_is(OpinionValue.CONFIRMED).label("confirmations"),
                    value_is(OpinionValue.FALSE_POSITIVE).label("false_positives"),
                    value_is(OpinionValue.DISPUTED).label("disputes"),
                    model.created_at.label("at"),
                )
                .select_from(model)
                .join(el, true())
                .join(ContributionRow, through)
                .where(
                    ContributionRow.org_id == principal.org_id,
                    model.org_id != principal.org_id,
                    *([model.created_at >= after] if after else []),
                )
            )
        events = parts[0].union_all(parts[1]).subquery("events")
        grouped = (
            select(
                events.c.signal_id,
                func.sum(events.c.sightings).label("sightings"),
                func.sum(events.c.matches).label("matches"),
                func.sum(events.c.confirmations).label("confirmations"),
                func.sum(events.c.false_positives).label("false_positives"),
                func.sum(events.c.disputes).label("disputes"),
                func.count(func.distinct(events.c.giver)).label("members"),
                func.max(events.c.at).label("last_at"),
            )
            .group_by(events.c.signal_id)
            .subquery("received")
        )
        summary = self.session.execute(
            select(
                func.count(),
                func.sum(grouped.c.sightings),
                func.sum(grouped.c.matches),
                func.sum(grouped.c.confirmations),
                func.sum(grouped.c.false_positives),
                func.sum(grouped.c.disputes),
            )
        ).one()
        order = grouped.c.last_at if sort == "latest" else grouped.c[sort]
        rows = self.session.execute(
            select(grouped, SignalRow.kind, SignalRow.value)
            .join(SignalRow, SignalRow.id == grouped.c.signal_id)
            .order_by(order.desc(), grouped.c.signal_id)
            .limit(limit)
            .offset(offset)
        ).all()
        items = [
            ReceivedItem(
                signal_id=r.signal_id,
                kind=r.kind,
                value=r.value,
                counts=Counts(
                    _zero(r.sightings),
                    _zero(r.matches),
                    _zero(r.confirmations),
                    _zero(r.false_positives),
                    _zero(r.disputes),
                ),
                members=_zero(r.members),
                last_at=_utc(r.last_at),
            )
            for r in rows
        ]
        return ReceivedPage(
            items=items,
            total=_zero(summary[0]),
            offset=offset,
            limit=limit,
            totals=Counts(*(_zero(v) for v in summary[1:])),
        )

    # ------------------------------------------------------------------------------------------
    # new feedback on the reader's contributions (push webhooks)

    def feedback_given_to(
        self, principal: Principal, *, after: datetime, until: datetime
    ) -> list[FeedbackEvent]:
        """Opinions set and sightings reported by *other* members in (``after``, ``until``] on
        a contribution of the reader's organisation, that the reader may see, oldest first. No
        limit: the push scan moves its window past ``until`` afterwards, so a cut would lose events
        (a window holds one push round's feedback, seconds to minutes of it)."""
        require(principal, Permission.READ)
        found: list[FeedbackEvent] = []
        for model in (OpinionHistoryRow, SightingRow):
            el, through = self._attributed(principal, model)
            # the ids first (a feedback row given on several of the reader's contributions joins
            # once per contribution), then the rows: an uncorrelated IN
            on_mine = (
                select(model.id)
                .select_from(model)
                .join(el, true())
                .join(ContributionRow, through)
                .where(
                    ContributionRow.org_id == principal.org_id,
                    model.org_id != principal.org_id,
                    model.created_at > ensure_utc(after),
                    model.created_at <= ensure_utc(until),
                )
            )
            rows = self.session.scalars(
                select(model).where(model.id.in_(on_mine)).order_by(model.created_at, model.id)
            )
            for row in rows:
                if isinstance(row, OpinionHistoryRow):
                    found.append(
                        FeedbackEvent("opinion", row.id, row.signal_id, row.org_id, row.created_at, row, None)
                    )
                elif isinstance(row, SightingRow):
                    found.append(
                        FeedbackEvent(
                            "sighting", row.id, row.signal_id, row.org_id, row.created_at, None, row
                        )
                    )
        found.sort(key=lambda e: (e.created_at, e.what, e.row_id))
        return found

    # ------------------------------------------------------------------------------------------
    # current opinions per signal (the decay score's feedback)

    def current_feedback(self, principal: Principal, signal_ids: Sequence[str]) -> dict[str, Feedback]:
        """Current opinions by value on each signal, as the reader may see them."""
        require(principal, Permission.READ)
        if not signal_ids:
            return {}
        found: dict[str, Feedback] = {}
        for signal_id, conf, fp, disp in self.session.execute(
            self._current_feedback_query(principal, signal_ids)
        ):
            found[signal_id] = Feedback(_zero(conf), _zero(fp), _zero(disp))
        return found

    def _current_feedback_query(self, principal: Principal, signal_ids: Sequence[str] | None = None) -> Any:
        o = OpinionRow
        stmt = select(
            o.signal_id,
            func.sum(case((o.value == OpinionValue.CONFIRMED.value, 1), else_=0)).label("confirmations"),
            func.sum(case((o.value == OpinionValue.FALSE_POSITIVE.value, 1), else_=0)).label(
                "false_positives"
            ),
            func.sum(case((o.value == OpinionValue.DISPUTED.value, 1), else_=0)).label("disputes"),
        ).where(self._visible(principal, o))
        if signal_ids is not None:
            stmt = stmt.where(o.signal_id.in_(list(signal_ids)))
        return stmt.group_by(o.signal_id)


def score_at_least(
    store: FeedbackCountsStore, principal: Principal, min_score: float, model: DecayModel | None = None
) -> tuple[Any, ColumnElement[bool]]:
    """The decay-score filter of the signal listing, in SQL: a signal stays when one of its
    active contributions the reader sees scores at least ``min_score`` (``model``, else the
    store's ``decay_model()``: the settings it serves under), with the
    current opinions the reader sees as feedback and its age counted from its last change or the
    latest sighting the reader sees, whichever is later. The score is inverted into an age cutoff per base
    (``DecayModel.max_age_days``: ``age <= lifetime * (1 - min/base) ** speed``), so the database
    compares ages, and counting and paging stay exact. Returns the per-signal feedback subquery to
    outer-join on ``signals.id`` and the condition."""
    model = model or store.decay_model()
    fb = store._current_feedback_query(principal).subquery("decay_fb")
    raw = (
        ContributionRow.confidence
        + model.confirm_bonus * func.coalesce(fb.c.confirmations, 0)
        - model.false_positive_penalty * func.coalesce(fb.c.false_positives, 0)
        - model.dispute_penalty * func.coalesce(fb.c.disputes, 0)
    )
    base = case((raw > 100, 100.0), (raw < 0, 0.0), else_=raw * 1.0)
    now = store.now()
    # The age restarts at the latest sighting of the signal the reader may see (DecayModel.age_days);
    # a sighting's time is the exchange's (created_at), never after now.
    s = SightingRow
    sighted = (
        select(func.max(s.created_at))
        .where(s.signal_id == ContributionRow.signal_id, store._visible(principal, s))
        .scalar_subquery()
    )
    if store.session.get_bind().dialect.name == "postgresql":
        start = func.greatest(
            ContributionRow.modified_at, func.coalesce(sighted, ContributionRow.modified_at)
        )
        age = func.extract("epoch", literal(now) - start) / 86_400.0
    else:
        # SQLite's two-argument max() is the scalar one; stored instants compare as ISO text
        start = func.max(ContributionRow.modified_at, func.coalesce(sighted, ContributionRow.modified_at))
        age = func.julianday(literal(now.replace(tzinfo=None))) - func.julianday(start)
    # the CASE keeps the division and the power away from bases under the minimum (never kept)
    fall = func.power(1.0 - min_score / func.nullif(base, 0), model.decay_speed)
    max_age = case((base >= min_score, model.lifetime_days * fall), else_=-1.0)
    condition = exists(
        select(literal(1)).where(
            ContributionRow.signal_id == SignalRow.id,
            store._contribution_visible(principal),
            ContributionRow.revoked_at.is_(None),
            or_(ContributionRow.valid_until.is_(None), ContributionRow.valid_until > now),
            age <= max_age,
        )
    )
    return fb, condition


def _members(
    per_member: dict[str, Counts], current: dict[str, OpinionValue], last: dict[str, datetime]
) -> list[MemberCounts]:
    members = [
        MemberCounts(org, counts, current.get(org), last.get(org)) for org, counts in per_member.items()
    ]
    for org, value in current.items():  # a current opinion given before ``since`` still shows
        if org not in per_member:
            members.append(MemberCounts(org, Counts(), value, None))
    members.sort(key=lambda m: (-(m.counts.matches + m.counts.sightings), m.org_id))
    return members


def _utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite aggregates over a union lose the column type
        value = datetime.fromisoformat(value)
    return ensure_utc(value)


class _Json:
    """JSON access to a stored basis list on SQLite (``json_each``/``json_extract``) and
    PostgreSQL (``json_array_elements``/``->>``)."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres

    def elements(self, column: Any, name: str) -> Any:
        if self.postgres:
            return func.json_array_elements(column).table_valued("value").alias(name)
        return func.json_each(column).table_valued("value").alias(name)

    def text(self, el: Any, *path: str) -> ColumnElement[str]:
        if self.postgres:
            node = el.c.value
            for key in path[:-1]:
                node = node.op("->")(key)
            return node.op("->>", return_type=String)(path[-1])  # type: ignore[no-any-return]
        return func.json_extract(el.c.value, "$." + ".".join(path), type_=String)

    def integer(self, el: Any, key: str) -> ColumnElement[int]:
        if self.postgres:
            return cast(el.c.value.op("->>")(key), Integer)
        return func.json_extract(el.c.value, f"$.{key}", type_=Integer)

    def lists(self, el: Any, path: str | tuple[str, ...], org_id: str) -> ColumnElement[bool]:
        """The org id is in the JSON list at ``path`` of the element."""
        keys = (path,) if isinstance(path, str) else path
        if self.postgres:
            node = el.c.value
            for key in keys:
                node = node.op("->")(key)
            items = func.json_array_elements_text(node).table_valued("value").alias("to_el")
        else:
            items = func.json_each(el.c.value, "$." + ".".join(keys)).table_valued("value").alias("to_el")
        return exists(select(literal(1)).select_from(items).where(items.c.value == org_id))

    def day(self, column: Any) -> ColumnElement[str]:
        if self.postgres:
            return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD", type_=String)
        return func.strftime("%Y-%m-%d", column, type_=String)


__all__ = [
    "SORTS",
    "ContributionCounts",
    "Counts",
    "DayCounts",
    "FeedbackCountsStore",
    "FeedbackEvent",
    "MemberCounts",
    "ReceivedItem",
    "ReceivedPage",
    "SignalFeedback",
    "score_at_least",
]
