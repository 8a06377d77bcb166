"""The exchange's domain vocabulary, independent of storage (SQLAlchemy) and of wire formats (STIX).

Storage maps its rows to these records and STIX/TAXII map these records to STIX objects, so the two
can evolve apart. Values here are the stable names used in the database, the API and STIX custom
properties: never rename one without a migration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# The largest value an SQL ``integer`` column holds on every backend (PostgreSQL: 2^31-1). Every
# integer that reaches the database from outside is checked against it (an InputError, not a 500).
MAX_DB_INT = 2_147_483_647


class OrgStatus(StrEnum):
    """An organisation's membership: ``suspended`` refuses its keys at once (its contributions stay
    visible as marked); ``offboarded`` is final (keys revoked, contributions revoked)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    OFFBOARDED = "offboarded"


class OrgKind(StrEnum):
    PLATFORM = "platform"
    GOVERNMENT = "government"
    RESEARCH = "research"


class Role(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    READ_ONLY = "read-only"


class TLP(StrEnum):
    """TLP 2.0 (FIRST). Order matters: later is more restricted."""

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER+STRICT"
    RED = "RED"


class SignalKind(StrEnum):
    """Types of indicator of an influence operation (see vigil.signals for each one's behaviour)."""

    ACCOUNT = "account"  # value: "platform:account_id" or "platform:@handle"
    URL = "url"  # canonical URL
    DOMAIN = "domain"  # registrable domain
    HASHTAG = "hashtag"  # lower-case, no '#'
    TEXT_EXACT = "text_exact"  # hex digest of normalized text
    TEXT_MINHASH = "text_minhash"  # MinHash signature of normalized text (see vigil.signals)
    IMAGE_PDQ = "image_pdq"  # 64 hex chars
    IMAGE_MD5 = "image_md5"  # 32 hex chars
    NARRATIVE = "narrative"  # free text (with a language)
    TECHNIQUE = "technique"  # DISARM id, e.g. T0049 or T0049.001


class OpinionValue(StrEnum):
    CONFIRMED = "confirmed"
    DISPUTED = "disputed"
    FALSE_POSITIVE = "false_positive"


@dataclass(frozen=True)
class Marking:
    """A TLP marking; ``shared_with`` lists organisation ids an AMBER/AMBER+STRICT/RED item may reach."""

    tlp: TLP
    shared_with: tuple[str, ...] = ()


@dataclass
class Organisation:
    id: str
    name: str
    kind: OrgKind
    created_at: datetime
    operator: bool = False  # the coalition operator: its admins onboard members and read all audit
    status: OrgStatus = OrgStatus.ACTIVE


@dataclass
class Contribution:
    """One member's submission of a signal: the same (kind, value) from two members is two of these."""

    org_id: str
    marking: Marking
    confidence: int  # 0-100
    tags: tuple[str, ...]
    first_seen: datetime | None
    last_seen: datetime | None
    campaign_id: str | None
    description: str | None
    created_at: datetime
    modified_at: datetime
    valid_until: datetime | None = None
    revoked: bool = False  # withdrawn by its organisation (STIX ``revoked``)
    version: int = 1  # bumped on every change; history in the store's contribution versions
    # The language this member filed the value under (its own: another member's contribution to
    # the same signal never sets or reveals it; vigil.exchange.store.languages).
    language: str | None = None


@dataclass
class Opinion:
    org_id: str
    value: OpinionValue
    comment: str | None
    created_at: datetime
    marking: Marking | None = None  # chosen by the giver: narrows who sees it (None: as given on)


@dataclass
class Sighting:
    org_id: str
    count: int
    first_seen: datetime
    last_seen: datetime
    platform: str | None
    created_at: datetime
    marking: Marking | None = None  # chosen by the giver: narrows who sees it (None: as given on)


@dataclass
class Signal:
    id: str
    kind: SignalKind
    value: str
    language: str | None = None
    contributions: list[Contribution] = field(default_factory=list)
    opinions: list[Opinion] = field(default_factory=list)
    sightings: list[Sighting] = field(default_factory=list)
    revoked: bool = False
    valid_until: datetime | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass
class Campaign:
    id: str
    name: str
    description: str | None
    attribution: str | None
    org_id: str
    marking: Marking
    techniques: tuple[str, ...] = ()
    created_at: datetime | None = None
    modified_at: datetime | None = None
