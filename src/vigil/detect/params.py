"""One validated parameter set for a detection run (see docs/detection.md, "Graph and campaigns").

The engine's knobs (window, popularity cap, minimum co-actions, which traces) and the graph/campaign
knobs live in one immutable model, so a run is reproducible from the ``params`` block that
``vigil detect`` writes into campaigns.json.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vigil.core.errors import InputError

# Each objective's resolution: CPM's is a density in combined weight (a group must be tied by more
# than 0.03 per member pair), modularity's the usual gamma against the configuration model.
DEFAULT_RESOLUTION = {"CPM": 0.03, "modularity": 1.0}


class GraphParams(BaseModel):
    """How trace edges become an account graph and the graph becomes scored campaigns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_items: int = Field(
        default=2,
        ge=1,
        description="An edge of one trace needs this many distinct shared items (edge support).",
    )
    min_trace_items: dict[str, int] = Field(
        default_factory=dict,
        description="Per-trace override of min_items, e.g. {'co_hashtag': 4}.",
    )
    min_repeats: int = Field(
        default=3,
        ge=2,
        description="An edge with fewer distinct items is still supported when it has this many "
        "matched post pairs: the same item pushed together again and again (one hashtag, one message).",
    )
    min_edge_weight: float = Field(
        default=0.3,
        ge=0.0,
        description="Combined (normalised, summed over traces) weight an account pair needs to stay.",
    )
    objective: Literal["CPM", "modularity"] = Field(
        default="CPM", description="Leiden quality function on the combined graph."
    )
    resolution: float | None = Field(
        default=None,
        gt=0.0,
        description="Leiden resolution: for CPM the internal density (in combined weight) a community "
        "must exceed; for modularity the usual gamma. None: the objective's own default "
        "(CPM 0.03, modularity 1.0).",
    )
    min_member_links: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="A member needs at least this share of the links its community's median member "
        "has inside it (0: keep every member Leiden assigned).",
    )
    merge_inseparable: bool = Field(
        default=True,
        description="Merge candidate communities (at least min_campaign_size accounts) whose union "
        "raises modularity: their ties exceed what the configuration model expects by chance, so "
        "no test on the graph separates them (see docs/detection.md, 'Merging').",
    )
    merge_shifts: bool = Field(
        default=True,
        description="Merge candidate communities active in periods that do not overlap when their "
        "standing hashtag vocabulary is more alike than any two communities active together "
        "(one operation working in shifts; needs the posts; docs/detection.md, 'Shifts').",
    )
    min_campaign_size: int = Field(default=3, ge=2, description="Smallest community kept as a campaign.")
    min_score: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Campaigns scoring below this are dropped. None: the cut is set from the data "
        "(a far-out fence over all candidate communities' scores, within [0.45, 0.55]).",
    )
    seed: int = Field(default=42, description="Seed of Leiden's random choices (same seed, same result).")
    leiden_runs: int = Field(
        default=5,
        ge=1,
        description="Leiden runs (seeds seed, seed + 1, ...); the partition of highest quality is kept.",
    )
    leiden_runs_max_edges: int = Field(
        default=100_000,
        ge=0,
        description=(
            "Graphs with more edges than this get one Leiden run, not leiden_runs: the seeds' "
            "disagreement was seen on archive-sized graphs (IRA 2017: 4k edges); at 285k edges "
            "(1M generated posts) the extra four runs cost ~5 s of CPU and changed no campaign, "
            "and at platform scale a run costs tens of seconds."
        ),
    )

    @property
    def leiden_resolution(self) -> float:
        """The resolution Leiden runs with: the given one, else the objective's default."""
        if self.resolution is not None:
            return self.resolution
        return DEFAULT_RESOLUTION[self.objective]

    def items_threshold(self, trace: str) -> int:
        return self.min_trace_items.get(trace, self.min_items)


class DetectParams(BaseModel):
    """Everything a detection run needs, validated once (the engine's knobs, then the graph's)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: float | Literal["auto"] | None = Field(
        default=None,
        description="Seconds within which two accounts acting on the same item co-act, 'auto' to "
        "estimate it per trace from the data (CooRnet), or None for each trace's own default.",
    )
    traces: tuple[str, ...] | None = Field(
        default=None, description="Names of the traces to run; None runs every available trace."
    )
    popularity_cap: int | None = Field(
        default=1000,
        ge=2,
        description="Engine: items acted on by more distinct accounts are skipped (None: no cap).",
    )
    popularity_share: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Engine: items acted on by more than this share of a trace's accounts are skipped "
        "(None: off; the smallest cap wins).",
    )
    weighting: Literal["idf", "unit"] = Field(default="idf", description="Engine: item weight.")
    evidence_per_item: int = Field(default=3, ge=1, description="Engine: post pairs kept per edge item.")
    evidence_items_per_edge: int = Field(default=20, ge=1, description="Engine: items kept per edge.")
    graph: GraphParams = Field(default_factory=GraphParams)

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "auto":
                return text
            try:
                value = float(text.removesuffix("s"))
            except ValueError as exc:
                raise ValueError(f"window must be seconds or 'auto', not {value!r}") from exc
        if isinstance(value, int | float) and value < 0:
            raise ValueError("window must be >= 0 seconds")
        return value

    @property
    def engine_min_coactions(self) -> int:
        """The engine emits every edge with this many post pairs (and >= 1 item): the least any of the
        graph's support rules needs, so the graph step can apply them all."""
        return min([self.graph.min_items, *self.graph.min_trace_items.values(), self.graph.min_repeats])


def make_params(**values: Any) -> DetectParams:
    """Build DetectParams, turning validation failures into an InputError naming the field."""
    try:
        return DetectParams(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}" for err in exc.errors()
        )
        raise InputError(f"invalid detection parameters: {problems}") from exc
