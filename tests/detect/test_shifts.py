"""Shifts of one operation (vigil.detect.shifts): communities active in periods that do not overlap
merge when their standing hashtags are more alike than any two communities active together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from tests.detect._edges import Group, build
from vigil.detect.campaigns import find_campaigns
from vigil.detect.params import DetectParams, GraphParams
from vigil.detect.shifts import merge_shifts
from vigil.schema.tables import POSTS, conform

START = datetime(2024, 1, 1, tzinfo=UTC)


def _posts(
    groups: dict[str, tuple[int, list[str]]], id_prefix: str = ""
) -> tuple[pa.Table, list[str], np.ndarray]:
    """Six accounts per group, posting daily for 30 days from the group's first day, each post with
    the group's standing hashtags and the news hashtag of its week (shared by everyone that week)."""
    rows: list[dict[str, Any]] = []
    names: list[str] = []
    membership: list[int] = []
    for k, (group, (first_day, standing)) in enumerate(groups.items()):
        for i in range(6):
            names.append(f"tw:{id_prefix}{group}{i}")
            membership.append(k)
            for day in range(first_day, first_day + 30):
                rows.append(
                    {
                        "platform": "tw",
                        "post_id": f"{group}{i}-{day}",
                        "account_id": f"{id_prefix}{group}{i}",
                        "created_at": START + timedelta(days=day, minutes=7 * i),
                        "text": "post",
                        "hashtags": [standing[day % len(standing)], f"news{day // 7}"],
                    }
                )
    posts = conform(pa.Table.from_pylist(rows, schema=POSTS.schema), POSTS)
    return posts, names, np.array(membership, dtype=np.int64)


def test_shifts_with_the_same_standing_hashtags_merge_and_others_do_not() -> None:
    # a and c are active in January, b and d in March; a and b push the same slogans all along.
    posts, names, membership = _posts(
        {
            "a": (0, ["maga", "tcot", "pjnet"]),
            "c": (0, ["cats", "kittens"]),
            "b": (60, ["maga", "tcot", "pjnet"]),
            "d": (60, ["dogs", "puppies"]),
        }
    )
    merged, report = merge_shifts(posts, names, membership, 3)
    groups = {frozenset(n[3] for n, m in zip(names, merged, strict=True) if m == c) for c in set(merged)}
    assert groups == {frozenset("ab"), frozenset("c"), frozenset("d")}
    assert report.null_similarity is not None and len(report.merged_pairs) == 1


def test_account_ids_holding_a_colon_are_matched_to_their_posts() -> None:
    """Members are joined to their posts by (platform, account_id) split from "platform:id" names:
    an id with ':' in it (and a decoy platform "tw:x" whose ids would give the same names) must
    give the same merge as plain ids."""
    groups = {
        "a": (0, ["maga", "tcot", "pjnet"]),
        "c": (0, ["cats", "kittens"]),
        "b": (60, ["maga", "tcot", "pjnet"]),
        "d": (60, ["dogs", "puppies"]),
    }
    posts, names, membership = _posts(groups)
    colon_posts, colon_names, _ = _posts(groups, id_prefix="x:")
    plain, plain_report = merge_shifts(posts, names, membership, 3)
    merged, report = merge_shifts(colon_posts, colon_names, membership, 3)
    assert np.array_equal(merged, plain) and len(report.merged_pairs) == len(plain_report.merged_pairs) == 1
    assert report.merged_pairs[0][:2] == plain_report.merged_pairs[0][:2]
    # (DuckDB's sums may add in another order: the last bit of a cosine can differ.)
    assert report.merged_pairs[0][2] == pytest.approx(plain_report.merged_pairs[0][2], abs=1e-12)
    # Only the posts of the members count: a decoy platform's posts are not theirs.
    decoy = colon_posts.set_column(
        colon_posts.schema.get_field_index("platform"), "platform", pa.array(["tw:x"] * colon_posts.num_rows)
    )
    _, none = merge_shifts(decoy, colon_names, membership, 3)
    assert none.null_similarity is None and none.merged_pairs == ()


def test_nothing_merges_without_a_pair_active_together() -> None:
    # Three cohorts one after the other: no two overlap, so there is no null to compare with.
    posts, names, membership = _posts(
        {"a": (0, ["maga", "tcot"]), "b": (40, ["maga", "tcot"]), "c": (80, ["maga", "tcot"])}
    )
    merged, report = merge_shifts(posts, names, membership, 3)
    assert (merged == membership).all() and report.null_similarity is None


def test_small_communities_are_left_alone() -> None:
    posts, names, membership = _posts(
        {"a": (0, ["maga"]), "c": (0, ["cats"]), "b": (60, ["maga"]), "d": (60, ["dogs"])}
    )
    merged, _ = merge_shifts(posts, names, membership, 7)  # every community has 6 accounts
    assert (merged == membership).all()


def test_find_campaigns_joins_shifts_when_given_the_posts() -> None:
    groups = {
        "a": (0, ["maga", "tcot", "pjnet"]),
        "c": (0, ["cats", "kittens"]),
        "b": (60, ["maga", "tcot", "pjnet"]),
        "d": (60, ["dogs", "puppies"]),
    }
    posts, names, _ = _posts(groups)
    # Each cohort is a clique of co-actions among its own six accounts, none across cohorts.
    edges, evidence = build(
        [Group([n for n in names if n[3] == g], "co_link", ["u1", "u2", "u3"]) for g in groups]
    )
    params = DetectParams(graph=GraphParams(min_score=0.0))
    joined = find_campaigns(edges, evidence, params, posts=posts)
    assert sorted(joined.campaigns.column("n_accounts").to_pylist()) == [6, 6, 12]
    assert joined.graph["shift_merges"] == 1
    apart = find_campaigns(edges, evidence, params)  # no posts: no shift step
    assert sorted(apart.campaigns.column("n_accounts").to_pylist()) == [6, 6, 6, 6]
