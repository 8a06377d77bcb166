"""Properties of one generated data set: schema, counts, labels, planted items, organic realism."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

import pyarrow.compute as pc
import pytest

from tests.synth.conftest import POSTS_N, Generated
from vigil.schema.io import iter_table
from vigil.schema.tables import ACCOUNTS, LABELS, POSTS
from vigil.synth import STYLE_NAMES
from vigil.synth.banks import messages, world


@pytest.fixture(scope="module")
def rows(generated: Generated) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = generated.posts.to_pylist()
    return rows


@pytest.fixture(scope="module")
def label_of(generated: Generated) -> dict[tuple[str, str], str | None]:
    return {(r["platform"], r["account_id"]): r["campaign_id"] for r in generated.labels.to_pylist()}


def _hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def _tokens(text: str) -> set[str]:
    return {w.strip(".,!?:;…").lower() for w in text.split()}


# --- files and counts ----------------------------------------------------------------------------


def test_files_pass_schema_validation_and_post_count_is_exact(generated: Generated) -> None:
    out = generated.out
    assert sum(b.num_rows for b in iter_table(out / "posts.parquet", POSTS)) == POSTS_N
    assert (
        sum(b.num_rows for b in iter_table(out / "accounts.parquet", ACCOUNTS)) == generated.summary.accounts
    )
    assert sum(b.num_rows for b in iter_table(out / "labels.parquet", LABELS)) == generated.summary.accounts
    assert generated.summary.chunks >= 4  # the fixture exercises several chunks
    assert sorted(p.name for p in out.iterdir()) == [
        "accounts.parquet", "campaigns.json", "labels.parquet", "posts.parquet",
    ]  # fmt: skip


def test_keys_are_unique_and_times_are_ordered_within_the_period(generated: Generated) -> None:
    posts = generated.posts
    keys = pc.binary_join_element_wise(posts["platform"], posts["post_id"], "|")
    assert pc.count_distinct(keys).as_py() == posts.num_rows
    times = posts["created_at"].to_pylist()
    assert times == sorted(times)
    start = generated.config.start
    assert start <= times[0] and times[-1] < start + timedelta(days=generated.config.days)
    accounts = generated.accounts
    acc_keys = pc.binary_join_element_wise(accounts["platform"], accounts["account_id"], "|")
    assert pc.count_distinct(acc_keys).as_py() == accounts.num_rows
    handles = pc.binary_join_element_wise(accounts["platform"], accounts["handle"], "|")
    assert pc.count_distinct(handles).as_py() == accounts.num_rows


def test_platform_specific_id_formats(rows: list[dict[str, Any]]) -> None:
    seen = set()
    for r in rows:
        if r["platform"] == "twitter":
            assert r["account_id"].isdigit() and r["post_id"].isdigit() and len(r["post_id"]) == 19
        elif r["platform"] == "facebook":
            page, _, number = r["post_id"].partition("_")
            assert page == r["account_id"] and number.isdigit() and len(page) == 15
        else:
            channel, _, number = r["post_id"].partition("/")
            assert channel == r["account_id"] and channel.startswith("-100") and number.isdigit()
        seen.add(r["platform"])
    assert seen == {"twitter", "facebook", "telegram"}


# --- labels and campaigns ------------------------------------------------------------------------


def test_labels_cover_exactly_the_accounts_that_posted(
    generated: Generated, rows: list[dict[str, Any]], label_of: dict[tuple[str, str], str | None]
) -> None:
    posters = {(r["platform"], r["account_id"]) for r in rows}
    assert set(label_of) == posters
    accounts = {(r["platform"], r["account_id"]) for r in generated.accounts.to_pylist()}
    assert accounts == posters


def test_campaigns_json_agrees_with_labels(generated: Generated) -> None:
    campaigns = generated.campaigns["campaigns"]
    assert generated.campaigns["generator"]["posts"] == POSTS_N
    members: Counter[str] = Counter()
    styles: dict[str, str] = {}
    for r in generated.labels.to_pylist():
        if r["campaign_id"] is not None:
            members[r["campaign_id"]] += 1
            styles[r["campaign_id"]] = r["campaign_style"]
        else:
            assert r["campaign_style"] is None
    assert {c["id"]: c["accounts"] for c in campaigns} == dict(members)
    assert {c["id"]: c["style"] for c in campaigns} == styles
    assert {c["style"] for c in campaigns} == set(STYLE_NAMES)
    organic = sum(1 for r in generated.labels.to_pylist() if r["campaign_id"] is None)
    assert organic > 10 * sum(members.values())  # campaigns are a small minority


def test_campaign_post_counts_and_platforms_match_the_posts(
    generated: Generated, rows: list[dict[str, Any]], label_of: dict[tuple[str, str], str | None]
) -> None:
    posts_by: Counter[str] = Counter()
    platforms_by: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        cid = label_of[(r["platform"], r["account_id"])]
        if cid is not None:
            posts_by[cid] += 1
            platforms_by[cid].add(r["platform"])
    for c in generated.campaigns["campaigns"]:
        assert posts_by[c["id"]] == c["posts"], c["id"]
        assert sorted(platforms_by[c["id"]]) == c["platforms"], c["id"]
        if c["style"] == "cross_platform":
            assert len(c["platforms"]) == 2


def _carries(
    post: dict[str, Any], campaign: dict[str, Any], message_texts: dict[str, list[set[str]]]
) -> bool:
    """Does ``post`` carry one of the items ``campaign`` says it pushed?"""
    items = campaign["items"]
    canon = {u["canonical"] for u in post["urls"]}
    if canon & set(items.get("urls", [])):
        return True
    tags = items.get("hashtags", [])
    if tags and post["hashtags"][: len(tags)] == tags:
        return True
    if post["reshare_of"] in set(items.get("post_ids", [])) or post["post_id"] in set(
        items.get("post_ids", [])
    ):
        return True
    bases = items.get("image_pdq", [])
    if any(_hamming(code, base) <= 12 for code in post["image_pdq"] for base in bases):
        return True
    words = _tokens(post["text"] or "")
    for mid in items.get("message_ids", []):
        for variant in message_texts[mid]:
            if len(words & variant) >= 0.6 * len(variant):
                return True
    return False


def test_every_campaign_account_posted_the_campaign_items_within_its_span(
    generated: Generated, rows: list[dict[str, Any]], label_of: dict[tuple[str, str], str | None]
) -> None:
    message_texts = {m.id: [_tokens(t) for t in m.text.values()] for m in messages()}
    campaigns = {c["id"]: c for c in generated.campaigns["campaigns"]}
    carriers: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for r in rows:
        cid = label_of[(r["platform"], r["account_id"])]
        if cid is None:
            continue
        c = campaigns[cid]
        if _carries(r, c, message_texts):
            stamp = r["created_at"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if c["first_post"] <= stamp <= c["last_post"]:
                carriers[cid].add((r["platform"], r["account_id"]))
    for cid, c in campaigns.items():
        assert len(carriers[cid]) == c["accounts"], f"{cid} ({c['style']}): not every member posted its items"


def test_items_are_rare_outside_their_campaign(
    generated: Generated, rows: list[dict[str, Any]], label_of: dict[tuple[str, str], str | None]
) -> None:
    """Campaign URLs are posted by members only; organic accounts at most reshare them."""
    urls = {u: c["id"] for c in generated.campaigns["campaigns"] for u in c["items"].get("urls", [])}
    for r in rows:
        if r["reshare_of"] is not None:
            continue
        for u in r["urls"]:
            if u["canonical"] in urls:
                assert label_of[(r["platform"], r["account_id"])] == urls[u["canonical"]]


def test_some_organic_accounts_reshare_campaign_posts(
    generated: Generated, rows: list[dict[str, Any]], label_of: dict[tuple[str, str], str | None]
) -> None:
    campaign_posts = {
        (r["platform"], r["post_id"]) for r in rows if label_of[(r["platform"], r["account_id"])] is not None
    }
    amplified = [
        r for r in rows
        if r["reshare_of"] is not None and (r["platform"], r["reshare_of"]) in campaign_posts
        and label_of[(r["platform"], r["account_id"])] is None
    ]  # fmt: skip
    assert amplified  # normal difficulty lets a few campaign posts reach organic accounts
    assert len(amplified) < 0.2 * len(campaign_posts)


def test_reshares_and_replies_point_to_earlier_posts_of_the_same_platform(rows: list[dict[str, Any]]) -> None:
    by_id = {(r["platform"], r["post_id"]): r for r in rows}
    reshares = replies = 0
    for r in rows:
        for column in ("reshare_of", "reply_to"):
            if r[column] is not None:
                target = by_id[(r["platform"], r[column])]
                assert target["created_at"] < r["created_at"]
                reshares += column == "reshare_of"
                replies += column == "reply_to"
        if r["reshare_of"] is not None and r["platform"] == "twitter":
            assert r["text"].startswith("RT @")
    assert reshares > 0.1 * len(rows) and replies > 0.03 * len(rows)


def test_campaign_accounts_were_created_in_bursts(generated: Generated) -> None:
    labels = {(r["platform"], r["account_id"]): r["campaign_id"] for r in generated.labels.to_pylist()}
    created: dict[str, list[Any]] = defaultdict(list)
    for r in generated.accounts.to_pylist():
        cid = labels[(r["platform"], r["account_id"])]
        if cid is not None:
            created[cid].append(r["created_at"])
    burst = timedelta(days=generated.config.profile.creation_burst_days)
    for cid, times in created.items():
        assert max(times) - min(times) <= burst, cid


# --- organic realism -----------------------------------------------------------------------------


def test_popular_organic_items_are_shared_by_many_unrelated_accounts(
    rows: list[dict[str, Any]], label_of: dict[tuple[str, str], str | None]
) -> None:
    url_accounts: dict[str, set[str]] = defaultdict(set)
    tag_accounts: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if label_of[(r["platform"], r["account_id"])] is not None or r["reshare_of"] is not None:
            continue
        for u in r["urls"]:
            url_accounts[u["canonical"]].add(r["account_id"])
        for t in r["hashtags"]:
            tag_accounts[t].add(r["account_id"])
    organic_accounts = sum(1 for cid in label_of.values() if cid is None)
    top_url = max(len(a) for a in url_accounts.values())
    top_tag = max(len(a) for a in tag_accounts.values())
    assert top_url >= 0.03 * organic_accounts and top_tag >= 0.1 * organic_accounts
    # ... and the long tail is long: most links are posted by one or two accounts.
    assert sum(1 for a in url_accounts.values() if len(a) <= 2) > 0.5 * len(url_accounts)


def test_event_bursts_make_many_organic_accounts_post_one_hashtag_within_minutes(
    rows: list[dict[str, Any]], label_of: dict[tuple[str, str], str | None]
) -> None:
    debate = next(e for e in world()["events"] if e["name"] == "first_debate")
    tags = {t.lower() for t in debate["hashtags"].values()}
    burst = [
        r for r in rows
        if tags & set(r["hashtags"]) and label_of[(r["platform"], r["account_id"])] is None
    ]  # fmt: skip
    start = min(r["created_at"] for r in burst)
    within = {r["account_id"] for r in burst if r["created_at"] - start <= timedelta(minutes=30)}
    assert len(within) >= 150
    # Outside events the same tags are nowhere: the burst is what makes them trend.
    assert all(r["created_at"] - start <= timedelta(hours=12) for r in burst if r["reshare_of"] is None)


def test_organic_texts_rarely_coincide_and_span_languages(
    rows: list[dict[str, Any]], label_of: dict[tuple[str, str], str | None]
) -> None:
    texts = [
        r["text"] for r in rows
        if r["reshare_of"] is None and label_of[(r["platform"], r["account_id"])] is None
    ]  # fmt: skip
    duplicates = len(texts) - len(set(texts))
    assert duplicates <= 0.005 * len(texts)
    langs = Counter(r["lang"] for r in rows)
    assert {"ar", "fr", "en", "de", "es"} <= set(langs)
    assert all(r["lang_detected"] is False for r in rows)
    assert langs["ar"] > 0.1 * len(rows) and langs["fr"] > 0.1 * len(rows)


def test_links_come_in_several_spellings_and_canonicalization_matters(rows: list[dict[str, Any]]) -> None:
    urls = [u for r in rows for u in r["urls"]]
    changed = sum(1 for u in urls if u["url"] != u["canonical"])
    shortened = sum(1 for u in urls if u["is_shortener"])
    assert changed > 0.2 * len(urls) and shortened > 0.05 * len(urls)
    by_canonical: dict[str, set[str]] = defaultdict(set)
    for u in urls:
        by_canonical[u["canonical"]].add(u["url"])
    assert max(len(s) for s in by_canonical.values()) >= 3


def test_organic_images_include_near_duplicate_memes(rows: list[dict[str, Any]]) -> None:
    codes = [c for r in rows if r["reshare_of"] is None for c in r["image_pdq"]]
    assert all(len(c) == 64 and c == c.lower() for c in codes)
    prefix: Counter[str] = Counter(c[:16] for c in codes)
    assert prefix.most_common(1)[0][1] >= 10  # a popular meme re-posted many times
