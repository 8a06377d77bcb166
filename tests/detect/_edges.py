"""Hand-made EDGES/EVIDENCE tables for the graph and campaign tests: groups of accounts that all
acted on the same items, built consistently (every edge has its evidence rows)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pyarrow as pa

from vigil.detect.contract import EDGES, EVIDENCE


@dataclass(frozen=True)
class Group:
    accounts: list[str]
    trace: str
    items: list[str]
    t0: float = 0.0
    lag: float = 5.0  # seconds between consecutive members acting on an item
    gap: float = 3600.0  # seconds between items
    weight_per_item: float = 1.0
    repeats: int = 1  # matched post pairs per item (the same item pushed together again and again)


def build(groups: list[Group]) -> tuple[pa.Table, pa.Table]:
    edges: list[dict[str, object]] = []
    evidence: list[dict[str, object]] = []
    for g in groups:
        order = {a: i for i, a in enumerate(g.accounts)}
        for x, y in itertools.combinations(sorted(g.accounts), 2):
            stamps = []
            for k, item in enumerate(g.items):
                ta = g.t0 + k * g.gap + order[x] * g.lag
                tb = g.t0 + k * g.gap + order[y] * g.lag
                stamps += [ta, tb]
                evidence.append(
                    {
                        "trace": g.trace,
                        "account_a": x,
                        "account_b": y,
                        "item": item,
                        "post_a": f"{x}/{g.trace}/{item}",
                        "post_b": f"{y}/{g.trace}/{item}",
                        "ts_a": ta,
                        "ts_b": tb,
                    }
                )
            edges.append(
                {
                    "trace": g.trace,
                    "account_a": x,
                    "account_b": y,
                    "weight": g.weight_per_item * len(g.items),
                    "n_items": len(g.items),
                    "n_coactions": len(g.items) * g.repeats,
                    "first_ts": min(stamps),
                    "last_ts": max(stamps),
                }
            )
    return (
        pa.Table.from_pylist(edges, schema=EDGES),
        pa.Table.from_pylist(evidence, schema=EVIDENCE),
    )


def accounts(prefix: str, n: int, platform: str = "tw") -> list[str]:
    return [f"{platform}:{prefix}{i}" for i in range(n)]
