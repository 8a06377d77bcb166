from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from statistics import median

from vigil.schema.io import read_table
from vigil.schema.tables import LABELS, POSTS
from vigil.synth import GeneratorConfig, generate


def _push_gaps(out: Path) -> tuple[float, int]:
    """Median seconds between consecutive member posts of one campaign URL, and members per campaign."""
    labels = {
        (r["platform"], r["account_id"]): r["campaign_id"]
        for r in read_table(out / "labels.parquet", LABELS).to_pylist()
    }
    times: dict[str, list[float]] = defaultdict(list)
    for r in read_table(out / "posts.parquet", POSTS).to_pylist():
        if labels[(r["platform"], r["account_id"])] is not None:
            for u in r["urls"]:
                times[u["canonical"]].append(r["created_at"].timestamp())
    gaps = [b - a for ts in times.values() for a, b in zip(sorted(ts), sorted(ts)[1:], strict=False)]
    campaigns = json.loads((out / "campaigns.json").read_text())["campaigns"]
    return median(gaps), sum(c["accounts"] for c in campaigns) // len(campaigns)


def test_hard_campaigns_are_smaller_and_slower_than_easy_ones(tmp_path: Path) -> None:
    common = {"posts": 20_000, "seed": 4, "styles": ("link_burst",), "campaigns": 3}
    generate(GeneratorConfig(difficulty="easy", **common), tmp_path / "easy")  # type: ignore[arg-type]
    generate(GeneratorConfig(difficulty="hard", **common), tmp_path / "hard")  # type: ignore[arg-type]
    easy_gap, easy_size = _push_gaps(tmp_path / "easy")
    hard_gap, hard_size = _push_gaps(tmp_path / "hard")
    assert hard_gap > 3 * easy_gap
    assert hard_size < easy_size
