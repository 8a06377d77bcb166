"""Parameters of a generated data set, and the difficulty presets that shape planted campaigns."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from vigil.core.errors import InputError

PLATFORMS = ("twitter", "facebook", "telegram")
# Relative sizes of the platforms' organic populations (renormalized over the chosen ones).
PLATFORM_SHARE = {"twitter": 0.55, "facebook": 0.30, "telegram": 0.15}
STYLE_NAMES = (
    "link_burst",
    "reshare_ring",
    "copy_paste",
    "translated",
    "image_reuse",
    "hashtag_push",
    "slow_covert",
    "cross_platform",
)
MIN_POSTS = 5_000
DEFAULT_START = datetime(2024, 10, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Difficulty:
    """How hard planted campaigns are to tell from the organic population.

    Every campaign style reads the fields it needs; docs/generator.md explains each one.
    """

    name: str
    campaign_share: float  # share of all posts written by campaign accounts
    accounts: tuple[int, int]  # campaign size range (accounts), inclusive
    participation: float  # probability that a member joins a given push
    jitter_s: float  # scale (s) of a member's delay after the push starts (exponential)
    filler_ratio: float  # share of a campaign's posts that are organic-looking filler
    edits: tuple[int, int]  # copy_paste: edit operations per copy, inclusive range
    pdq_flips: tuple[int, int]  # image_reuse: bits flipped per re-post, inclusive range
    creation_burst_days: float  # campaign accounts are created within this many days
    slow_spread_h: float  # slow_covert: a push is spread over this many hours
    camouflage: float  # share of pushes timed inside organic event bursts
    url_variants: float  # share of campaign links posted with tracking params / www / shortener
    amplification: float  # share of campaign originals that organic accounts may reshare (go viral)


DIFFICULTIES = {
    "easy": Difficulty("easy", 0.06, (25, 60), 0.9, 20.0, 0.2, (0, 1), (0, 4), 3.0, 6.0, 0.0, 0.1, 0.0),
    "normal": Difficulty(
        "normal", 0.04, (12, 40), 0.75, 90.0, 0.5, (1, 3), (2, 8), 14.0, 24.0, 0.15, 0.3, 0.03
    ),
    "hard": Difficulty("hard", 0.03, (6, 25), 0.6, 300.0, 0.7, (2, 5), (4, 12), 90.0, 72.0, 0.35, 0.5, 0.1),
}


def default_campaign_count(posts: int, styles: int) -> int:
    """About 10 campaigns at 100k posts, growing with the square root of the size; never fewer than styles."""
    return max(styles, round(10 * math.sqrt(posts / 100_000)))


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that determines a generated data set: equal configs give byte-identical files."""

    posts: int
    seed: int = 0
    platforms: tuple[str, ...] = PLATFORMS
    styles: tuple[str, ...] = STYLE_NAMES
    campaigns: int | None = None
    difficulty: str = "normal"
    start: datetime = DEFAULT_START
    days: int = 14
    chunk_posts: int = 200_000

    def __post_init__(self) -> None:
        if self.posts < MIN_POSTS:
            raise InputError(f"--posts must be at least {MIN_POSTS:,} (got {self.posts:,})")
        if self.seed < 0:
            raise InputError(f"--seed must be >= 0 (got {self.seed})")
        if not self.platforms:
            raise InputError("--platforms is empty")
        for name in self.platforms:
            if name not in PLATFORMS:
                raise InputError(f"unknown platform {name!r}; known: {', '.join(PLATFORMS)}")
        if len(set(self.platforms)) != len(self.platforms):
            raise InputError("--platforms lists a platform twice")
        if not self.styles:
            raise InputError("--styles is empty")
        for name in self.styles:
            if name not in STYLE_NAMES:
                raise InputError(f"unknown campaign style {name!r}; known: {', '.join(STYLE_NAMES)}")
        if len(set(self.styles)) != len(self.styles):
            raise InputError("--styles lists a style twice")
        if "cross_platform" in self.styles and len(self.platforms) < 2:
            raise InputError("the cross_platform style needs at least two --platforms")
        if self.campaigns is not None and not 0 <= self.campaigns <= 10_000:
            raise InputError(f"--campaigns must be between 0 and 10000 (got {self.campaigns})")
        if self.difficulty not in DIFFICULTIES:
            raise InputError(f"unknown difficulty {self.difficulty!r}; known: {', '.join(DIFFICULTIES)}")
        if not 1 <= self.days <= 3650:
            raise InputError(f"--days must be between 1 and 3650 (got {self.days})")
        if self.start.tzinfo is None:
            raise InputError("start must be timezone-aware")
        if self.chunk_posts < 1_000:
            raise InputError("chunk_posts must be at least 1000")

    @property
    def profile(self) -> Difficulty:
        return DIFFICULTIES[self.difficulty]

    @property
    def campaign_count(self) -> int:
        if self.campaigns is not None:
            return self.campaigns
        return default_campaign_count(self.posts, len(self.styles))

    def describe(self) -> dict[str, object]:
        """The parameters as JSON-friendly values (written into campaigns.json)."""
        return {
            "posts": self.posts,
            "seed": self.seed,
            "platforms": list(self.platforms),
            "styles": list(self.styles),
            "campaigns": self.campaign_count,
            "difficulty": self.difficulty,
            "start": self.start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "days": self.days,
        }
