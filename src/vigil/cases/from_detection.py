"""Open a case from a ``vigil detect`` result in one step.

``load_detected(DETECT_DIR, campaign_id)`` reads campaigns.json (and edges.parquet for the account
graph) into a ``DetectedCampaign``: its accounts, and the URLs, domains, hashtags and image hashes
behind its top items. ``open_case(service, detected, marking)`` then, in the caller's transaction:

1. creates an exchange campaign under the analyst's marking,
2. publishes every account, URL, domain, hashtag and PDQ hash as a signal linked to that campaign
   (same marking; the exchange deduplicates values other members already shared),
3. opens a case linked to the campaign and the signals, keeping the detection's account graph
   (nodes, edges) for the network picture.

The REST route takes the same ``DetectedCampaign`` as JSON, so the server never reads client paths.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vigil.cases.records import Case
from vigil.cases.service import CaseService
from vigil.core.errors import DataError, InputError, NotFound
from vigil.exchange.records import Marking, SignalKind

MAX_SIGNALS = 5_000

# Which detection trace's items are which signal kind (items of other traces, such as text
# digests, have no public value to share).
TRACE_KINDS: dict[str, SignalKind] = {
    "co_link": SignalKind.URL,
    "co_domain": SignalKind.DOMAIN,
    "co_domain_slow": SignalKind.DOMAIN,
    "co_hashtag": SignalKind.HASHTAG,
    "co_image": SignalKind.IMAGE_PDQ,
}


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


def _item_signal(trace: str, item: str) -> tuple[SignalKind, str] | None:
    base = trace.removesuffix("_slow")
    kind = TRACE_KINDS.get(trace) or TRACE_KINDS.get(base)
    if kind is None:
        return None
    if kind is SignalKind.IMAGE_PDQ:
        if not item.startswith("img:"):
            return None  # an image id, not a hash
        item = item.removeprefix("img:")
    return kind, item


def detected_from_document(
    document: dict[str, Any], campaign_id: str, *, source: str = "campaigns.json"
) -> DetectedCampaign:
    """The campaign ``campaign_id`` (or its rank, e.g. "1") of a campaigns.json document."""
    campaigns = document.get("campaigns")
    if not isinstance(campaigns, list):
        raise DataError("no 'campaigns' list", file=source, column="campaigns")
    chosen = next(
        (
            c
            for c in campaigns
            if c.get("campaign_id") == campaign_id or str(c.get("rank")) == str(campaign_id)
        ),
        None,
    )
    if chosen is None:
        known = ", ".join(f"{c.get('rank')}: {c.get('campaign_id')}" for c in campaigns[:10]) or "none"
        raise NotFound(f"{source} has no campaign {campaign_id!r}; campaigns (rank: id): {known}")
    items: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for top in chosen.get("top_items", []):
        found = _item_signal(str(top.get("trace", "")), str(top.get("item", "")))
        if found and (found[0].value, found[1]) not in seen:
            seen.add((found[0].value, found[1]))
            items.append({"kind": found[0].value, "value": found[1]})
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
    directory = Path(detect_dir)
    doc_path = directory / "campaigns.json"
    if not doc_path.is_file():
        raise DataError("not a detection output: campaigns.json is missing", file=str(doc_path))
    try:
        document = json.loads(doc_path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", file=str(doc_path), row=exc.lineno) from exc
    detected = detected_from_document(document, campaign_id, source=str(doc_path))
    edges_path = directory / "edges.parquet"
    if edges_path.is_file():
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        table = pq.read_table(edges_path, columns=["account_a", "account_b", "weight", "campaign_id"])
        table = table.filter(pc.equal(table.column("campaign_id"), detected.campaign_id))
        weights: dict[tuple[str, str], float] = {}
        for a, b, w in zip(
            table.column("account_a").to_pylist(),
            table.column("account_b").to_pylist(),
            table.column("weight").to_pylist(),
            strict=True,
        ):
            key = (a, b) if a < b else (b, a)
            weights[key] = weights.get(key, 0.0) + float(w)  # summed over traces
        detected.edges = [(a, b, round(w, 4)) for (a, b), w in sorted(weights.items())]
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
    signal_ids: list[str] = []
    for kind, value in values:
        signal = service.store.submit_signal(
            principal,
            kind,
            value,
            marking=marking,
            confidence=confidence,
            tags=("vigil-detect",),
            campaign_id=campaign.id,
        )
        signal_ids.append(signal.id)
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
