"""``vigil demo --no-serve`` end to end, then ``vigil serve`` on its data directory: every page
answers 200 and the planted campaigns are on the detection pages (real processes, real HTTP)."""

from __future__ import annotations

import re
import socket
import stat
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq

from tests.web.fixtures import run_vigil


def client(url: str, key: str) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    answer = c.post("/login", data={"api_key": key, "next": "/"})
    assert answer.status_code == 303, answer.text[:500]
    return c


def test_demo_summary_and_keys(demo_run: dict[str, Any]) -> None:
    summary = demo_run["demo"]["summary"]
    assert summary["generated"]["posts"] == 30_000
    assert summary["generated"]["planted_campaigns"] >= 5
    assert summary["detected_campaigns"] >= summary["generated"]["planted_campaigns"] - 1
    assert summary["cases"] == summary["detected_campaigns"]
    assert summary["government"] == {"narratives": 1, "opinions": 6}
    chirper = summary["chirper"]
    assert chirper["signals_fetched"] > 0 and chirper["posts_matched"] > 0
    assert chirper["sightings_reported"] == chirper["signals_matched"] > 0
    keys_file = demo_run["data_dir"] / "demo-keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    # every key is printed whole, for the person running the demo
    printed = demo_run["stdout"].replace("\n", "").replace("│", "").replace(" ", "")
    for roles in demo_run["keys"].values():
        for key in roles.values():
            assert key in printed


def test_demo_refuses_a_directory_holding_a_demo(demo_run: dict[str, Any]) -> None:
    marker = demo_run["data_dir"] / "demo.json"
    before = marker.read_bytes()
    again = run_vigil("demo", "--no-serve", "--posts", "5000", "--data-dir", str(demo_run["data_dir"]))
    assert again.returncode != 0
    assert "already holds a demo" in again.stderr
    assert marker.read_bytes() == before


def test_every_page_answers_and_shows_the_planted_campaigns(server: str, demo_run: dict[str, Any]) -> None:
    c = client(server, demo_run["keys"]["Examplebook"]["admin"])
    try:
        pages: dict[str, str] = {}
        for path in (
            "/",
            "/signals",
            "/campaigns",
            "/detections",
            "/cases",
            "/audit",
            "/signals?language=ar",
            "/briefings",
            "/briefings/document?since=3650d",
            "/playbooks",
        ):
            answer = c.get(path)
            assert answer.status_code == 200, (path, answer.text[:300])
            pages[path] = answer.text
        links = set()
        for html in pages.values():
            links |= set(re.findall(r'href="(/(?:cases|detections|campaigns|playbooks)/[^"]+)"', html))
        assert any(link.startswith("/cases/") for link in links)
        detection_html = []
        for link in sorted(links):
            answer = c.get(link)
            assert answer.status_code == 200, (link, answer.text[:300])
            if link.startswith("/detections/"):
                detection_html.append(answer.text)
    finally:
        c.close()
    assert len(detection_html) == demo_run["demo"]["summary"]["detected_campaigns"]

    labels = pq.read_table(demo_run["data_dir"] / "generated" / "labels.parquet").to_pylist()
    planted: dict[str, set[str]] = defaultdict(set)
    for row in labels:
        if row["campaign_id"]:
            planted[row["campaign_id"]].add(f"{row['platform']}:{row['account_id']}")
    shown = "\n".join(detection_html)
    found = [name for name, accounts in planted.items() if any(f">{a}<" in shown for a in accounts)]
    assert len(found) >= 0.75 * len(planted), (sorted(found), sorted(planted))


def test_sign_in_refuses_a_bad_key_and_a_forged_cookie(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as c:
        answer = c.post("/login", data={"api_key": "vigil_000000000000_nope", "next": "/"})
        assert answer.status_code == 401
        assert "unknown" in answer.text.lower() or "invalid" in answer.text.lower()
        c.cookies.set("vigil_session", "eyJrIjoidmlnaWxfeCJ9.forged.signature")
        answer = c.get("/signals", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")


def test_sign_in_redirects_only_to_local_paths(server: str, demo_run: dict[str, Any]) -> None:
    with httpx.Client(base_url=server, timeout=30) as c:
        key = demo_run["keys"]["Chirper"]["analyst"]
        answer = c.post("/login", data={"api_key": key, "next": "https://evil.example/"})
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        answer = c.post("/login", data={"api_key": key, "next": "//evil.example/"})
        assert answer.headers["location"] == "/"


def test_a_failed_demo_leaves_no_half_built_directory(tmp_path: Path) -> None:
    target = tmp_path / "fresh"
    failed = run_vigil("demo", "--no-serve", "--posts", "100", "--data-dir", str(target))
    assert failed.returncode == 2
    assert "at least 5,000" in failed.stderr
    assert not target.exists()
    # a directory holding something else is never removed
    keep = tmp_path / "busy"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    failed = run_vigil("demo", "--no-serve", "--posts", "100", "--data-dir", str(keep))
    assert failed.returncode == 2
    assert (keep / "notes.txt").read_text() == "mine"


def test_htmx_requests_without_a_session_are_sent_to_sign_in(server: str) -> None:
    answer = httpx.get(f"{server}/signals?kind=url", headers={"HX-Request": "true"}, timeout=30)
    assert answer.status_code == 200
    assert answer.headers["HX-Redirect"].startswith("/login?next=")
    assert "<table" not in answer.text


def test_a_busy_port_is_refused_before_any_work(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        target = tmp_path / "never"
        failed = run_vigil("demo", "--port", str(port), "--data-dir", str(target))
    assert failed.returncode == 5
    assert f"port {port}" in failed.stderr and "not free" in failed.stderr
    assert not target.exists()
