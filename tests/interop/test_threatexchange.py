"""The unmodified ``threatexchange`` CLI from PyPI against a running Vigil over HTTP, through the
``vigil_threatexchange`` extension: add the extension, configure a collaboration, fetch, match text and
URLs, label a match (an opinion and a sighting in Vigil), fetch again after a revocation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from threatexchange.signal_type.raw_text import RawTextSignal

from tests.exchange.conftest import start_server
from tests.interop.conftest import Coalition, make_coalition, new_database, seed
from vigil.exchange.records import TLP, Marking
from vigil.signals.text_exact import TextExactSignal
from vigil_threatexchange import (
    VigilCollabConfig,
    VigilCredentials,
    VigilDomainSignal,
    VigilSignalExchangeAPI,
    VigilTextExactSignal,
)
from vigil_threatexchange.client import VigilAPIError

POST = "Die Briefwahl wurde MANIPULIERT, teilt das bevor sie es löschen!"
TX = shutil.which("threatexchange") or str(Path(sys.executable).parent / "threatexchange")


@dataclass
class Vigil:
    url: str
    world: Coalition
    home: Path

    def tx(self, *args: str, key: str = "p2", ok: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "VIGIL_API_KEY": self.world.keys[key],
            "PYTHONWARNINGS": "ignore",
            "LANG": "C.UTF-8",
        }
        done = subprocess.run(
            [TX, *args], env=env, cwd=self.home, capture_output=True, text=True, timeout=60, check=False
        )
        if ok and done.returncode != 0:
            raise AssertionError(
                f"threatexchange {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vigil]:
    if not Path(TX).exists():
        pytest.skip("the threatexchange CLI is not installed (pip install 'vigil[tx]')")
    tmp = tmp_path_factory.mktemp("tx")
    db = new_database(tmp)
    world = make_coalition(db)
    seed(world)
    digest = TextExactSignal().hash_text(POST)
    p1 = world.principals["p1"]
    world.run(
        lambda s: s.submit_signal(p1, "text_exact", digest, marking=Marking(TLP.GREEN), tags=["briefwahl"])
    )
    # a second URL: the threatexchange CLI rebuilds no index for a type left with no signals, so a
    # revocation test needs the url index to keep one entry
    world.run(
        lambda s: s.submit_signal(p1, "url", "https://other-site.org/story", marking=Marking(TLP.GREEN))
    )
    # RED, shared with nobody: p2 must not receive it
    world.run(lambda s: s.submit_signal(p1, "url", "https://red-only.info/x", marking=Marking(TLP.RED)))
    server, thread, url = start_server(str(db.engine.url), tmp)
    home = tmp / "home"
    home.mkdir()
    try:
        found = Vigil(url, world, home)
        found.tx("config", "extensions", "add", "vigil_threatexchange")
        found.tx("config", "collab", "edit", "vigil_exchange", "coalition", "--create", "--server", url)
        yield found
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


def test_fetch_match_and_report_back(vigil: Vigil, tmp_path: Path) -> None:
    fetched = vigil.tx("fetch")
    assert "coalition" in fetched.stdout + fetched.stderr

    # exact text after Vigil's normalization (case, spacing, punctuation folded)
    post = tmp_path / "post.txt"
    post.write_text("die briefwahl wurde manipuliert   teilt das, bevor sie es LÖSCHEN", "utf-8")
    matched = vigil.tx("match", "text", str(post)).stdout
    assert "vigil_text_exact" in matched and "(coalition)" in matched and "briefwahl" in matched
    # a post linking to a sub-domain of a shared domain; and the shared URL itself
    assert "vigil_domain" in vigil.tx("match", "text", "--", "see https://www.cloned-news.info/a").stdout
    by_url = vigil.tx("match", "url", "--", "https://cloned-news.info/ballots").stdout
    assert "url" in by_url and "(coalition)" in by_url
    # vigil_url compares Vigil's canonical forms: tracking parameters, www. and fragments folded
    variant = vigil.tx("match", "url", "--", "https://WWW.cloned-news.info/ballots?utm_source=tw#top").stdout
    assert [line for line in variant.splitlines() if line.startswith("vigil_url ")]
    assert not [line for line in variant.splitlines() if line.startswith("url ")]
    # nothing for unrelated content, nor for the RED URL p2 may not see
    assert vigil.tx("match", "text", "--", "ein ganz anderer Text ohne Bezug").stdout.strip() == ""
    assert vigil.tx("match", "url", "--", "https://red-only.info/x").stdout.strip() == ""

    # report back: a true positive becomes p2's "confirmed" opinion and a sighting in Vigil
    vigil.tx(
        "label",
        "--as-hash",
        "url",
        "-l",
        "ballot,de",
        "coalition",
        "url",
        "--",
        "https://cloned-news.info/ballots",
    )
    p1 = vigil.world.principals["p1"]
    seen = vigil.world.run(lambda s: s.find_signal(p1, "url", "https://cloned-news.info/ballots"))
    p2_org = vigil.world.principals["p2"].org_id
    assert [(o.org_id, o.value.value) for o in seen.opinions] == [(p2_org, "confirmed")]
    assert "ballot, de" in (seen.opinions[0].comment or "")
    assert [(x.org_id, x.count) for x in seen.sightings] == [(p2_org, 1)]

    # incremental fetch: p1 revokes the URL; after the next fetch it no longer matches
    vigil.world.run(lambda s: s.revoke_signal(p1, seen.id))
    vigil.tx("fetch")
    after = vigil.tx("match", "url", "--", "https://cloned-news.info/ballots").stdout.splitlines()
    assert [line for line in after if line.startswith(("url ", "vigil_url "))] == []
    assert [line for line in after if line.startswith("vigil_domain ")]  # the domain is still shared
    assert "vigil_text_exact" in vigil.tx("match", "text", str(post)).stdout


def test_bad_key_is_reported_clearly(vigil: Vigil) -> None:
    vigil.world.keys["bad"] = "not-a-real-key"
    vigil.world.keys["none"] = ""
    # the CLI prints only "failed to fetch!" and exits 3; with -v it logs Vigil's own message
    done = vigil.tx("-v", "fetch", key="bad", ok=False)
    assert done.returncode == 3
    assert "Vigil answered 401" in done.stdout + done.stderr
    # no key at all: the CLI's own hint names where the extension looks for one
    missing = vigil.tx("-v", "fetch", key="none", ok=False)
    assert missing.returncode != 0 and "VIGIL_API_KEY" in missing.stdout + missing.stderr


def test_api_in_process_checkpoints_and_negative_opinions(vigil: Vigil) -> None:
    """The same extension used as a library (as Hasher-Matcher-Actioner would): a fetch resumed from
    its checkpoint returns only what changed; a false positive and a sighting reach Vigil."""
    collab = VigilCollabConfig(name="lib", server=vigil.url)
    api = VigilSignalExchangeAPI.for_collab(collab, VigilCredentials(vigil.world.keys["gov"]))
    try:
        types = [VigilDomainSignal, VigilTextExactSignal]
        first = list(api.fetch_iter(types, None))
        fetched = {k: v for d in first for k, v in d.updates.items()}
        assert ("vigil_domain", "cloned-news.info") in fetched
        assert all(k[0] in {"vigil_domain", "vigil_text_exact"} for k in fetched)
        checkpoint = first[-1].checkpoint
        again = {k for d in api.fetch_iter(types, checkpoint) for k in d.updates}
        assert ("vigil_domain", "cloned-news.info") not in again  # unchanged since the checkpoint

        api.report_false_positive(VigilDomainSignal, "cloned-news.info")
        api.report_seen(VigilDomainSignal, "cloned-news.info", count=3)
        gov = vigil.world.principals["gov"]
        signal = vigil.world.run(lambda s: s.find_signal(gov, "domain", "cloned-news.info"))
        assert (gov.org_id, "false_positive") in [(o.org_id, o.value.value) for o in signal.opinions]
        assert (gov.org_id, 3) in [(x.org_id, x.count) for x in signal.sightings]
        # a fresh fetch shows the coalition's view: p1 contributed it, gov says false positive
        full = {k: v for d in api.fetch_iter(types, None) for k, v in d.updates.items()}
        meta = full[("vigil_domain", "cloned-news.info")]
        assert meta is not None and str(meta).startswith("DISPUTED")
        with pytest.raises(VigilAPIError, match="no signal kind"):
            api.report_seen(RawTextSignal, "some text")
    finally:
        api.close()
