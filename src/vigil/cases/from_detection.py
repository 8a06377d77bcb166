"""Open a case from a ``vigil detect`` result in one step.

``load_detected(DETECT_DIR, campaign_id)`` reads the run through :mod:`vigil.detect.runs`
(campaigns.json, and the edges for the account graph) into a ``DetectedCampaign``: its accounts,
and the signal values behind its top items. Detection names every item in the signal vocabulary
(``kind``, ``value``: a URL, a domain, a hashtag, a text's ``text_exact`` digest, a PDQ hash...),
so nothing is decoded here. ``open_case(service, detected, marking)`` then, in the caller's
transaction:

1. creates an exchange campaign under the analyst's marking,
2. publishes every account and item value as a signal linked to that campaign, in one bulk
   submission (same marking; the exchange deduplicates values other members already shared),
3. opens a case linked to the campaign and the signals, keeping the detection's account graph
   (nodes, edges) for the network picture.

The REST route takes the same ``DetectedCampaign`` as JSON, so the server never reads client paths.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vigil.cases.records import Case
from vigil.cases.service import CaseService
from vigil.core.errors import InputError
from vigil.detect import runs
from vigil.exchange.records import Marking, SignalKind
from vigil.exchange.store.bulk import SignalSubmission

MAX_SIGNALS = 5_000

# Item kinds a case publishes: every signal kind but accounts. The campaign's own accounts come from
# its member list; an account among its items is one it acted on (mentioned), often its target.
PUBLISHED_ITEM_KINDS = frozenset(SignalKind) - {SignalKind.ACCOUNT}


@dataclass
class DetectedCampaign:
    """What a case needs of one detected campaign."""

    campaign_id: str
    score: float
    platforms: list[str]
    languages: list[str]
    accounts: list[dict[str, Any]]  # {"account": "platform:id", "platform", "n_posts"}
    items: list[dict[str, str]]  # {"kind": signal kind, "value"}
    sample_posts: list[dict[str, Any]] = field(default_factory=list)
    edges: list[tuple[str, str, float]] = field(default_factory=list)
    first_seen: str | None = None
    last_seen: str | None = None
    run: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def detected_from_document(
    document: dict[str, Any], campaign_id: str, *, source: str = "campaigns.json"
) -> DetectedCampaign:
    """The campaign ``campaign_id`` (or its rank, e.g. "1") of a campaigns.json document."""
    chosen = runs.find_campaign(document, campaign_id, source=source)
    items: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for top in chosen.get("top_items", []):
        kind, value = top.get("kind"), str(top.get("item", ""))
        if kind in PUBLISHED_ITEM_KINDS and (kind, value) not in seen:
            seen.add((kind, value))
            items.append({"kind": kind, "value": value})
    accounts = [
        {
            "account": a["account"],
            "platform": a.get("platform", a["account"].split(":", 1)[0]),
            "n_posts": a.get("n_posts", 0),
        }
        for a in chosen.get("accounts", [])
    ]
    return DetectedCampaign(
        campaign_id=str(chosen["campaign_id"]),
        score=float(chosen.get("score", 0.0)),
        platforms=list(chosen.get("platforms") or []),
        languages=list(chosen.get("languages") or []),
        accounts=accounts,
        items=items,
        sample_posts=list(chosen.get("sample_posts") or [])[:20],
        first_seen=chosen.get("first_seen"),
        last_seen=chosen.get("last_seen"),
        run={k: v for k, v in (document.get("run") or {}).items() if k in {"n_posts", "traces"}}
        | {"generated_at": document.get("generated_at")},
    )


def load_detected(detect_dir: str | Path, campaign_id: str) -> DetectedCampaign:
    """Read one campaign of a ``vigil detect`` output directory (DataError naming a missing file)."""
    document = runs.read_document(detect_dir)
    source = str(Path(detect_dir) / runs.CAMPAIGNS_JSON)
    detected = detected_from_document(document, campaign_id, source=source)
    edges = runs.campaign_edges(detect_dir, detected.campaign_id)  # summed over traces
    detected.edges = [(a, b, round(w, 4)) for a, b, w in edges]
    return detected


def open_case(
    service: CaseService,
    detected: DetectedCampaign,
    marking: Marking,
    *,
    title: str | None = None,
    attribution: str | None = None,
    techniques: tuple[str, ...] = (),
    confidence: int = 50,
) -> Case:
    """Create the exchange campaign, publish its signals and open the linked case (one transaction)."""
    principal = service.require_principal()
    values: list[tuple[SignalKind, str]] = [(SignalKind.ACCOUNT, a["account"]) for a in detected.accounts]
    values += [(SignalKind(i["kind"]), i["value"]) for i in detected.items]
    if not values:
        raise InputError(f"detected campaign {detected.campaign_id} has no accounts or items to publish")
    if len(values) > MAX_SIGNALS:
        raise InputError(f"detected campaign has {len(values)} values; at most {MAX_SIGNALS} per case")
    name = (
        title
        or f"Detected campaign {detected.campaign_id.split('--')[-1][:8]} ({', '.join(detected.platforms)})"
    )
    campaign = service.store.create_campaign(
        principal,
        name,
        marking=marking,
        description=f"Opened from vigil detect campaign {detected.campaign_id} (score {detected.score:.2f})",
        attribution=attribution,
        techniques=techniques,
    )
    # One bulk submission (atomic: a bad value raises, naming it, and the caller's transaction
    # stores nothing). A value listed twice is submitted once.
    report = service.store.submit_signals(
        principal,
        [
            SignalSubmission(
                kind,
                value,
                marking=marking,
                confidence=confidence,
                tags=("vigil-detect",),
                campaign_id=campaign.id,
            )
            for kind, value in dict.fromkeys(values)
        ],
    )
    signal_ids = [item.signal_id for item in report.items if item.signal_id is not None]
    posts = {a["account"]: int(a.get("n_posts") or 0) for a in detected.accounts}
    graph = {
        "nodes": [{"id": a, "platform": a.split(":", 1)[0], "posts": n} for a, n in posts.items()],
        "edges": [[a, b, w] for a, b, w in detected.edges if a in posts and b in posts],
    }
    case = service.create_case(
        name,
        marking=marking,
        summary=(
            f"{len(detected.accounts)} accounts on {', '.join(detected.platforms) or 'unknown platforms'}, "
            f"languages {', '.join(detected.languages) or 'unknown'}, active {detected.first_seen} to "
            f"{detected.last_seen}; detection score {detected.score:.2f}."
        ),
        attribution=attribution or "unattributed",
        confidence=confidence,
        techniques=techniques,
        campaign_id=campaign.id,
        detection={
            "campaign_id": detected.campaign_id,
            "score": detected.score,
            "accounts": len(detected.accounts),
            "platforms": detected.platforms,
            "languages": detected.languages,
            "first_seen": detected.first_seen,
            "last_seen": detected.last_seen,
            "run": detected.run,
            "tlp": marking.tlp.value,
            "sample_posts": detected.sample_posts,
            "graph": graph,
        },
    )
    service.link_signals(case.id, signal_ids)
    return service.get_case(case.id)
