"""Each planted style leaves its own signature in the posts (on the shared generated data set)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest

from tests.synth.conftest import Generated


@pytest.fixture(scope="module")
def by_campaign(generated: Generated) -> dict[str, list[dict[str, Any]]]:
    label = {(r["platform"], r["account_id"]): r["campaign_id"] for r in generated.labels.to_pylist()}
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in generated.posts.to_pylist():
        cid = label[(r["platform"], r["account_id"])]
        if cid is not None:
            out[cid].append(r)
    return out


def _campaigns(generated: Generated, style: str) -> list[dict[str, Any]]:
    found = [c for c in generated.campaigns["campaigns"] if c["style"] == style]
    assert found, f"no {style} campaign"
    return found


def _by_url(posts: list[dict[str, Any]], urls: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in posts:
        for u in p["urls"]:
            if u["canonical"] in urls:
                out[u["canonical"]].append(p)
    return out


def _median_gap(groups: list[list[dict[str, Any]]]) -> timedelta:
    gaps = sorted(
        b["created_at"] - a["created_at"]
        for group in groups
        for a, b in pairwise(group)
    )  # fmt: skip
    middle: timedelta = gaps[len(gaps) // 2]
    return middle


def test_link_burst_members_post_the_same_links_within_minutes(
    generated: Generated, by_campaign: dict[str, list[dict[str, Any]]]
) -> None:
    for c in _campaigns(generated, "link_burst"):
        groups = _by_url(by_campaign[c["id"]], c["items"]["urls"])
        assert max(len({p["account_id"] for p in g}) for g in groups.values()) >= 3
        assert _median_gap(list(groups.values())) < timedelta(minutes=5)
        assert all(u.split("/")[2] in c["items"]["domains"] for u in c["items"]["urls"])


def test_reshare_ring_members_reshare_the_seed_posts_quickly(
    generated: Generated, by_campaign: dict[str, list[dict[str, Any]]]
) -> None:
    for c in _campaigns(generated, "reshare_ring"):
        posts = by_campaign[c["id"]]
        seeds = {p["post_id"]: p for p in posts if p["post_id"] in c["items"]["post_ids"]}
        assert len(seeds) == len(c["items"]["post_ids"])
        reshares = [p for p in posts if p["reshare_of"] in seeds]
        assert len(reshares) >= 2 * len(seeds)
        delays = sorted(p["created_at"] - seeds[p["reshare_of"]]["created_at"] for p in reshares)
        assert delays[len(delays) // 2] < timedelta(minutes=5)
        assert all(
            p["text"] == seeds[p["reshare_of"]]["text"] or p["text"].startswith("RT @") for p in reshares
        )


def test_copy_paste_copies_are_near_duplicates_not_exact(
    generated: Generated, by_campaign: dict[str, list[dict[str, Any]]]
) -> None:
    for c in _campaigns(generated, "copy_paste"):
        lang = c["params"]["lang"]
        copies = [p for p in by_campaign[c["id"]] if p["lang"] == lang and len(p["text"]) > 60]
        texts = [p["text"] for p in copies]
        assert len(set(texts)) > 0.5 * len(texts)  # edited, so mostly distinct


def test_translated_pushes_mix_arabic_french_and_english(
    generated: Generated, by_campaign: dict[str, list[dict[str, Any]]]
) -> None:
    for c in _campaigns(generated, "translated"):
        langs = {p["lang"] for p in by_campaign[c["id"]]}
        assert {"ar", "fr", "en"} <= langs


def test_image_reuse_copies_are_near_but_not_always_exact(
    generated: Generated, by_campaign: dict[str, list[dict[str, Any]]]
) -> None:
    low, high = generated.config.profile.pdq_flips
    for c in _campaigns(generated, "image_reuse"):
        bases = [int(b, 16) for b in c["items"]["image_pdq"]]
        distances = [
            min(bin(int(code, 16) ^ b).count("1") for b in bases)
            for p in by_campaign[c["id"]]
            for code in p["image_pdq"]
        ]  # fmt: skip
        near = [d for d in distances if d <= high]
        assert len(near) >= 6
        assert min(near) >= low and max(near) > 0


def test_hashtag_push_keeps_the_same_sequence(
    generated: Generated, by_campaign: dict[str, list[dict[str, Any]]]
) -> None:
    for c in _campaigns(generated, "hashtag_push"):
        sequence = c["items"]["hashtags"]
        assert 2 <= len(sequence) <= 3
        pushed = [p for p in by_campaign[c["id"]] if p["hashtags"] == sequence]
        assert len(pushed) >= 6
        assert all(" ".join("#" + t for t in sequence).lower() in p["text"].lower() for p in pushed)


def test_slow_covert_spreads_each_item_over_hours(
    generated: Generated, by_campaign: dict[str, list[dict[str, Any]]]
) -> None:
    for c in _campaigns(generated, "slow_covert"):
        assert c["accounts"] <= 10
        groups = [g for g in _by_url(by_campaign[c["id"]], c["items"]["urls"]).values() if len(g) > 1]
        assert _median_gap(groups) > timedelta(minutes=30)


def test_cross_platform_posts_the_same_links_on_two_platforms(
    generated: Generated, by_campaign: dict[str, list[dict[str, Any]]]
) -> None:
    for c in _campaigns(generated, "cross_platform"):
        groups = _by_url(by_campaign[c["id"]], c["items"]["urls"])
        both = [g for g in groups.values() if len({p["platform"] for p in g}) == 2]
        assert len(both) >= 0.5 * len(groups)
