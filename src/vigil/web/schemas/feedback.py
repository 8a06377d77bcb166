"""Response schemas of the feedback counts (``routes.feedback``): what members said about signals,
counted per member, per contribution and per day, within what the reader may see."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from vigil.exchange.records import OpinionValue
from vigil.exchange.store.feedback_counts import (
    ContributionCounts,
    Counts,
    MemberCounts,
    ReceivedItem,
    ReceivedPage,
    SignalFeedback,
)


class CountsOut(BaseModel):
    sightings: int = Field(description="sighting reports")
    matches: int = Field(description="posts matched: the sum of the sightings' counts")
    confirmations: int = Field(description="opinions set to confirmed (history)")
    false_positives: int = Field(description="opinions set to false_positive (history)")
    disputes: int = Field(description="opinions set to disputed (history)")

    @classmethod
    def of(cls, counts: Counts) -> CountsOut:
        return cls(**counts.to_dict())


class MemberCountsOut(BaseModel):
    org_id: str = Field(description="the member that gave the feedback")
    counts: CountsOut
    current: OpinionValue | None = Field(description="its opinion now, if you may see it")
    last_at: datetime | None

    @classmethod
    def of(cls, m: MemberCounts) -> MemberCountsOut:
        return cls(org_id=m.org_id, counts=CountsOut.of(m.counts), current=m.current, last_at=m.last_at)


class DayCountsOut(BaseModel):
    day: str = Field(description="YYYY-MM-DD (UTC) the feedback was given")
    counts: CountsOut


class ContributionCountsOut(BaseModel):
    org_id: str = Field(description="the contributor of the contribution the feedback was given on")
    total: CountsOut
    members: list[MemberCountsOut]
    days: list[DayCountsOut] = Field(description="its history, oldest first (days with feedback)")

    @classmethod
    def of(cls, c: ContributionCounts) -> ContributionCountsOut:
        return cls(
            org_id=c.org_id,
            total=CountsOut.of(c.total),
            members=[MemberCountsOut.of(m) for m in c.members],
            days=[DayCountsOut(day=d.day, counts=CountsOut.of(d.counts)) for d in c.days],
        )


class CurrentOut(BaseModel):
    confirmed: int
    false_positive: int
    disputed: int


class SignalFeedbackOut(BaseModel):
    signal_id: str
    total: CountsOut
    current: CurrentOut = Field(description="members' current opinions by value")
    members: list[MemberCountsOut]
    contributions: list[ContributionCountsOut]
    days: list[DayCountsOut]

    @classmethod
    def of(cls, f: SignalFeedback) -> SignalFeedbackOut:
        return cls(
            signal_id=f.signal_id,
            total=CountsOut.of(f.total),
            current=CurrentOut(
                confirmed=f.current.confirmations,
                false_positive=f.current.false_positives,
                disputed=f.current.disputes,
            ),
            members=[MemberCountsOut.of(m) for m in f.members],
            contributions=[ContributionCountsOut.of(c) for c in f.contributions],
            days=[DayCountsOut(day=d.day, counts=CountsOut.of(d.counts)) for d in f.days],
        )


class ReceivedItemOut(BaseModel):
    signal_id: str
    kind: str
    value: str
    counts: CountsOut
    members: int = Field(description="distinct members that gave feedback")
    last_at: datetime

    @classmethod
    def of(cls, i: ReceivedItem) -> ReceivedItemOut:
        return cls(
            signal_id=i.signal_id,
            kind=i.kind,
            value=i.value,
            counts=CountsOut.of(i.counts),
            members=i.members,
            last_at=i.last_at,
        )


class ReceivedPageOut(BaseModel):
    org_id: str
    items: list[ReceivedItemOut]
    total: int = Field(description="your contributions with feedback from other members")
    totals: CountsOut = Field(description="summed over all of them, not only this page")
    offset: int
    limit: int
    next_offset: int | None

    @classmethod
    def of(cls, org_id: str, page: ReceivedPage) -> ReceivedPageOut:
        following = page.offset + page.limit
        return cls(
            org_id=org_id,
            items=[ReceivedItemOut.of(i) for i in page.items],
            total=page.total,
            totals=CountsOut.of(page.totals),
            offset=page.offset,
            limit=page.limit,
            next_offset=following if following < page.total else None,
        )
