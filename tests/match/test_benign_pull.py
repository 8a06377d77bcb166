"""The coalition's warning lists pulled into a member's benign bank (`vigil match benign
--pull-lists`), over a real exchange: a listed domain stops matching, and when the coalition
operator takes it off the list a re-pull lets it match again."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.cli_helpers import cli_fails, cli_ok
from tests.match.conftest import Coalition, post, write_posts
from vigil.core.time import utcnow
from vigil.match.benign import BenignBank
from vigil.match.fetch import fetch_signals


def _operator_key(ex: Coalition) -> str:
    def make(store: object) -> str:
        org = store.create_org(None, "operator", "research", operator=True)  # type: ignore[attr-defined]
        return str(store.create_key(None, org.id, "admin")[1])  # type: ignore[attr-defined]

    return str(ex.store(make))


def _matched(index: Path, posts: Path, out: Path) -> list[str]:
    cli_ok("match", "run", str(posts), "--index", str(index), "--out", str(out))
    return sorted(r["post_id"] for r in pq.read_table(out / "matches.parquet").to_pylist())


def test_pulled_warning_lists_suppress_matches_until_the_operator_removes_the_value(
    sqlite_exchange: Coalition,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ex = sqlite_exchange
    operator = _operator_key(ex)
    ex.submit("source", "domain", "daily-bugle-news.org", confidence=80)
    index = tmp_path / "index"
    fetch_signals(index, ex.base_url, ex.keys["us"])
    posts = write_posts(
        tmp_path / "posts.parquet",
        [post("p0", urls=["https://daily-bugle-news.org/story/1"]), post("p1", text="nothing here")],
    )
    assert _matched(index, posts, tmp_path / "o0") == ["p0"]

    with BenignBank.of_index(index) as bank:  # the member's own entry, also about to be listed
        bank.add("domain", ["our-portal.org"], label="ours", tlp="RED")
    with ex.api("source") as api:  # a member may read lists but not edit them
        assert api.post("/warninglists/news-domains/values", json={"add": ["x.org"]}).status_code == 403
    edit = {"add": ["daily-bugle-news.org", "our-portal.org"], "reason": "a real newspaper"}
    with ex.api("us") as api:
        api.headers["Authorization"] = f"Bearer {operator}"
        assert api.post("/warninglists/news-domains/values", json=edit).status_code == 200
        listed = api.get("/warninglists").json()

    out = cli_ok("match", "benign", "--index", str(index), "--pull-lists", "--server", ex.base_url,
              "--key", ex.keys["us"])  # fmt: skip
    size = {w["name"]: w["size"] for w in listed}["news-domains"]  # the shipped values and our two
    assert f"news-domains: {size} value(s), +{size - 1} new, -0 removed" in out.replace("\n", " ")
    with BenignBank.of_index(index) as bank:
        entries = {(e.kind, e.value): (e.source, e.tlp) for e in bank.entries()}
    assert entries[("domain", "daily-bugle-news.org")] == ("coalition:news-domains", "GREEN")
    assert entries[("domain", "our-portal.org")] == ("local", "RED")  # ours stays ours
    assert entries[("hashtag", "breakingnews")] == ("coalition:trending-hashtags", "GREEN")
    # Every block list came in; a flag list (too broad, not known benign) only when named.
    flagged = sorted(w["name"] for w in listed if w["action"] == "flag")
    note = "not pulled (flag lists: too broad, not known benign; name them with --list)"
    assert flagged and f"{note}: {', '.join(flagged)}" in " ".join(out.split())  # however Rich wrapped it
    assert {s.split(":", 1)[1] for s, _ in entries.values() if s.startswith("coalition:")} == {
        w["name"] for w in listed if w["action"] == "block"
    }
    assert _matched(index, posts, tmp_path / "o1") == []  # the listed domain no longer matches

    # The operator takes both values off the list; a re-pull of that list alone drops the
    # coalition's entry and leaves the member's own.
    edit = {"remove": ["daily-bugle-news.org", "our-portal.org"], "reason": "it was not"}
    with ex.api("us") as api:
        api.headers["Authorization"] = f"Bearer {operator}"
        assert api.post("/warninglists/news-domains/values", json=edit).status_code == 200
    before = len(entries)
    out = cli_ok("match", "benign", "--index", str(index), "--pull-lists", "--list", "news-domains",
              "--server", ex.base_url, "--key", ex.keys["us"])  # fmt: skip
    assert f"news-domains: {size - 2} value(s), +0 new, -1 removed" in out.replace("\n", " ")
    assert "warning list trending-hashtags" not in out  # only the named list was pulled
    with BenignBank.of_index(index) as bank:
        entries = {(e.kind, e.value): (e.source, e.tlp) for e in bank.entries()}
    assert ("domain", "daily-bugle-news.org") not in entries and len(entries) == before - 1
    assert entries[("domain", "our-portal.org")] == ("local", "RED")
    assert _matched(index, posts, tmp_path / "o2") == ["p0"]

    # Bad input: each error names what was wrong, exits non-zero, and the bank is untouched.
    monkeypatch.setenv("COLUMNS", "200")
    common = ["match", "benign", "--index", str(index), "--pull-lists", "--server", ex.base_url]
    err = cli_fails(monkeypatch, capsys, 3, *common, "--key", ex.keys["us"], "--list", "news-domains",
                 "--list", "no-such-list")  # fmt: skip
    assert "no warning list 'no-such-list'" in err
    err = cli_fails(monkeypatch, capsys, 4, *common, "--key", "not-a-key")
    assert "refused the API key" in err
    err = cli_fails(monkeypatch, capsys, 6, "match", "benign", "--index", str(index), "--pull-lists",
                 "--server", "http://127.0.0.1:9", "--key", ex.keys["us"])  # fmt: skip
    assert "cannot reach the exchange at http://127.0.0.1:9" in err
    err = cli_fails(monkeypatch, capsys, 2, *common)
    assert "--pull-lists needs --server and --key" in err
    with BenignBank.of_index(index) as bank:
        assert len(bank.entries()) == before - 1

    # Named, a flag list is pulled like any other.
    out = cli_ok("match", "benign", "--index", str(index), "--pull-lists", "--list", "too-broad",
              "--server", ex.base_url, "--key", ex.keys["us"])  # fmt: skip
    assert "warning list too-broad:" in out and "not pulled" not in out
    with BenignBank.of_index(index) as bank:
        assert ("domain", "youtube.com", "coalition:too-broad") in {
            (e.kind, e.value, e.source) for e in bank.entries()
        }


def test_a_value_on_two_lists_or_also_shared_stays_while_one_still_holds_it(tmp_path: Path) -> None:
    obj = {"id": "indicator--shared", "modified": "2026-12-07T10:00:00.000Z"}
    with BenignBank.of_index(tmp_path) as bank:
        bank.receive(obj, "domain", "both.org", "identity--a", "GREEN")  # a sharer's entry first
        assert bank.replace_list("one", {"domain": {"both.org", "one.org"}}) == (1, 0)
        assert bank.replace_list("two", {"domain": {"one.org"}}, tlp="CLEAR") == (0, 0)
        revoked = {**obj, "modified": "2026-12-07T11:00:00.000Z", "revoked": True}
        assert bank.receive(revoked, "domain", "both.org", "identity--a", None) == "unchanged"
        assert bank.replace_list("one", {}) == (0, 1)  # both.org leaves; one.org is list two's
        assert [(e.value, e.source, e.tlp) for e in bank.entries()] == [("one.org", "coalition:two", "CLEAR")]
        assert bank.to_publish("identity--me", utcnow()) == []  # the coalition's lists are not ours to share
        assert bank.replace_list("two", {}) == (0, 1)
        assert bank.entries() == []


def test_a_value_dropped_from_a_list_stays_while_a_member_still_shares_it(tmp_path: Path) -> None:
    obj = {"id": "indicator--shared", "modified": "2026-12-07T10:00:00.000Z"}
    with BenignBank.of_index(tmp_path) as bank:
        bank.replace_list("one", {"domain": {"both.org"}})
        assert bank.receive(obj, "domain", "both.org", "identity--a", "CLEAR") == "unchanged"
        assert bank.replace_list("one", {}) == (0, 0)
        assert [(e.value, e.source, e.tlp) for e in bank.entries()] == [
            ("both.org", "shared:identity--a", "CLEAR")
        ]
