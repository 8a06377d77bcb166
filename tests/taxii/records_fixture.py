"""A small, fixed set of exchange records covering every signal kind, TLP level and relation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigil.exchange.records import (
    TLP,
    Campaign,
    Contribution,
    Marking,
    Opinion,
    OpinionValue,
    Organisation,
    OrgKind,
    Sighting,
    Signal,
    SignalKind,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

PLATFORM_A = Organisation(
    "identity--0b1c7a0e-5d1f-4f6e-9a11-000000000001", "Platform A", OrgKind.PLATFORM, T0
)
PLATFORM_B = Organisation(
    "identity--0b1c7a0e-5d1f-4f6e-9a11-000000000002", "Platform B", OrgKind.PLATFORM, T0
)
GOVERNMENT = Organisation(
    "identity--0b1c7a0e-5d1f-4f6e-9a11-000000000003", "Election Office", OrgKind.GOVERNMENT, T0
)
ORGS = [PLATFORM_A, PLATFORM_B, GOVERNMENT]

CAMPAIGN = Campaign(
    id="campaign--2f0c6f5e-8a4b-4c1d-9e3f-111111111111",
    name="Doppelganger-like cloned news sites",
    description="Cloned media domains pushing fabricated election stories.",
    attribution="Unattributed state-linked actor",
    org_id=PLATFORM_A.id,
    marking=Marking(TLP.GREEN),
    techniques=("T0049", "T0049.001"),
    created_at=T0,
    modified_at=T0 + timedelta(hours=1),
)

VALUES: dict[SignalKind, str] = {
    SignalKind.ACCOUNT: "twitter:@wahl_news_24",
    SignalKind.URL: "https://spiegel.ltd/politik/wahl-betrug?id=1",
    SignalKind.DOMAIN: "spiegel.ltd",
    SignalKind.HASHTAG: "wahlbetrug",
    SignalKind.TEXT_EXACT: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    SignalKind.TEXT_MINHASH: "mh1:00ff00ff00ff",
    SignalKind.IMAGE_PDQ: "f" * 16 + "0" * 48,
    SignalKind.IMAGE_MD5: "d41d8cd98f00b204e9800998ecf8427e",
    SignalKind.NARRATIVE: "Die Briefwahl ist 'manipuliert' \\ sagen sie",
    SignalKind.TECHNIQUE: "T0049.001",
}


def contribution(org: Organisation, tlp: TLP, *, hours: int = 0, **extra: object) -> Contribution:
    fields: dict[str, object] = {
        "org_id": org.id,
        "marking": Marking(tlp),
        "confidence": 70,
        "tags": ("election-2026", "cib"),
        "first_seen": T0 - timedelta(days=2),
        "last_seen": T0 - timedelta(days=1),
        "campaign_id": None,
        "description": f"seen by {org.name}",
        "created_at": T0 + timedelta(hours=hours),
        "modified_at": T0 + timedelta(hours=hours + 1),
    }
    fields.update(extra)
    return Contribution(**fields)  # type: ignore[arg-type]


def signals() -> list[Signal]:
    """One signal per kind contributed GREEN by platform A; the URL is also contributed RED by B."""
    result = []
    for i, (kind, value) in enumerate(VALUES.items()):
        signal = Signal(
            id=f"indicator--{i:08d}-0000-4000-8000-000000000000",
            kind=kind,
            value=value,
            language="de" if kind is SignalKind.NARRATIVE else None,
            contributions=[contribution(PLATFORM_A, TLP.GREEN, hours=i, campaign_id=CAMPAIGN.id)],
            created_at=T0,
            modified_at=T0,
        )
        result.append(signal)
    url = next(s for s in result if s.kind is SignalKind.URL)
    url.contributions.append(
        contribution(
            PLATFORM_B, TLP.RED, hours=5, description="internal takedown notes", tags=("secret-tag",)
        )
    )
    url.opinions.append(
        Opinion(GOVERNMENT.id, OpinionValue.CONFIRMED, "matches our report", T0 + timedelta(hours=3))
    )
    url.sightings.append(
        Sighting(GOVERNMENT.id, 12, T0 - timedelta(days=3), T0, "facebook", T0 + timedelta(hours=4))
    )
    domain = next(s for s in result if s.kind is SignalKind.DOMAIN)
    domain.contributions.append(
        contribution(PLATFORM_B, TLP.AMBER, hours=2, marking=Marking(TLP.AMBER, (GOVERNMENT.id,)))
    )
    hashtag = next(s for s in result if s.kind is SignalKind.HASHTAG)
    hashtag.contributions[0].revoked = True
    hashtag.contributions[0].valid_until = T0 + timedelta(days=30)
    domain.opinions.append(Opinion(PLATFORM_B.id, OpinionValue.FALSE_POSITIVE, None, T0 + timedelta(hours=6)))
    return result
