"""Every document carries its marking (issue #15, failure 4): briefings, meeting packs, minutes
and disclosure reports, in HTML, PDF and Markdown, rendered for every reader kind, carry a
document TLP equal to the most restrictive content included for that reader: on every PDF page's
header and footer, as an HTML banner (and the PDF margin boxes in its CSS), as Markdown front
matter.

One coalition world holds a planted token per marking in every kind of item (case titles, member
updates, action items, decisions, minutes, signals). For each document x format x reader:

* the document's marking is where it belongs in that format;
* it is the expected one for that reader (e.g. the government's pack is not headed GREEN while
  listing AMBER case titles; the source platform's pack listing its RED case is headed RED);
* no token the reader may not see appears, and every token that appears is no more restrictive
  than the document's marking; the same holds for every ``TLP:`` label inside the document.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from vigil.cases.briefing import BriefingService
from vigil.cases.disclosure import DisclosureService
from vigil.cases.meetings import MeetingService
from vigil.cases.meetings_render import render_minutes, render_pack
from vigil.cases.render import render_briefing
from vigil.cases.service import CaseService
from vigil.core.time import utcnow
from vigil.exchange.access import most_restrictive
from vigil.exchange.records import TLP, Marking, Role
from vigil.exchange.store import ExchangeStore

from ..exchange.conftest import start_server
from .conftest import Coalition

LABEL = re.compile(r"TLP:(CLEAR|GREEN|AMBER\+STRICT|AMBER|RED)")
ORDER = list(TLP)
READERS = [("plat_a", Role.ANALYST), ("plat_b", Role.READ_ONLY), ("gov", Role.ANALYST), ("res", Role.ADMIN)]
FORMATS = ("html", "pdf", "md")


def _at_most(tlp: TLP, ceiling: TLP) -> bool:
    return ORDER.index(tlp) <= ORDER.index(ceiling)


@dataclass
class World:
    meeting_id: str
    green_case: str
    amber_case: str
    tokens: dict[str, TLP]  # planted token -> marking of the item holding it
    seen_by: dict[str, set[str]]  # reader label -> tokens it may see


def _world(c: Coalition) -> World:
    now = utcnow()
    a, b = c.principal("plat_a"), c.principal("plat_b")
    with c.db.session() as s:
        cases = CaseService(s, a)
        green = cases.create_case("tok-case-green", marking=Marking(TLP.GREEN))
        amber = cases.create_case("tok-case-amber", marking=Marking(TLP.AMBER))
        red = cases.create_case("tok-case-red", marking=Marking(TLP.RED))
        cases.set_embargo(red.id, now + timedelta(days=2))  # listed in the packs' "near embargo"
        cases.set_embargo(amber.id, now + timedelta(days=3))
        store = ExchangeStore(s)
        store.submit_signal(a, "domain", "toksiggreen.com", marking=Marking(TLP.GREEN))
        store.submit_signal(a, "domain", "toksigamber.com", marking=Marking(TLP.AMBER))
        [meeting] = MeetingService(s, a).create_meeting(
            "Weekly sync",
            now + timedelta(days=1),
            invited={c.orgs["plat_b"]: "member", c.orgs["gov"]: "member", c.orgs["res"]: "observer"},
        )
        m = MeetingService(s, a)
        # a GREEN update whose pre-filled figures list all three of plat_a's new cases
        m.file_update(meeting.id, asks="tok-update-green", marking=Marking(TLP.GREEN))
        m.add_action(meeting.id, "tok-action-green", marking=Marking(TLP.GREEN))
        m.add_action(meeting.id, "tok-action-amber", marking=Marking(TLP.AMBER))
        m.add_action(meeting.id, "tok-action-strict-gov", marking=Marking(TLP.AMBER_STRICT, (c.orgs["gov"],)))
        m.add_action(meeting.id, "tok-decision-green", kind="decision", marking=Marking(TLP.GREEN))
        m.record_minutes(meeting.id, "tok-minutes-amber", marking=Marking(TLP.AMBER))
        MeetingService(s, b).file_update(meeting.id, asks="tok-update-amber-b", marking=Marking(TLP.AMBER))
    tokens = {
        "tok-case-green": TLP.GREEN,
        "tok-case-amber": TLP.AMBER,
        "tok-case-red": TLP.RED,
        "toksiggreen.com": TLP.GREEN,
        "toksigamber.com": TLP.AMBER,
        "tok-update-green": TLP.GREEN,
        "tok-action-green": TLP.GREEN,
        "tok-action-amber": TLP.AMBER,
        "tok-action-strict-gov": TLP.AMBER_STRICT,
        "tok-decision-green": TLP.GREEN,
        "tok-minutes-amber": TLP.AMBER,
        "tok-update-amber-b": TLP.AMBER,
    }
    green_tokens = {t for t, tlp in tokens.items() if tlp is TLP.GREEN}
    amber_platform = {t for t, tlp in tokens.items() if tlp is TLP.AMBER}
    seen_by = {
        "plat_a": set(tokens),  # its own items, and plat_b's AMBER update (the same kind)
        "plat_b": green_tokens | amber_platform,
        "gov": green_tokens | {"tok-action-strict-gov"},
        "res": green_tokens,
    }
    return World(meeting.id, green.id, amber.id, tokens, seen_by)


# The document TLP each reader's copy must carry (the most restrictive item it may see in it).
EXPECTED = {
    "briefing": {"plat_a": TLP.RED, "plat_b": TLP.AMBER, "gov": TLP.GREEN, "res": TLP.GREEN},
    "pack": {"plat_a": TLP.RED, "plat_b": TLP.AMBER, "gov": TLP.AMBER_STRICT, "res": TLP.GREEN},
    "minutes": {"plat_a": TLP.AMBER_STRICT, "plat_b": TLP.AMBER, "gov": TLP.AMBER_STRICT, "res": TLP.GREEN},
    "disclosure": {"plat_a": TLP.CLEAR, "plat_b": TLP.CLEAR, "gov": TLP.CLEAR, "res": TLP.CLEAR},
}


def _pdf_pages(pdf: bytes) -> list[list[str]]:
    # -layout: lines in their place on the page, so the margin boxes come first and last
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout
    pages = text.decode("utf-8").split("\f")
    found = [[line.strip() for line in page.splitlines() if line.strip()] for page in pages]
    return [lines for lines in found if lines]


def _marking_of(body: bytes, fmt: str) -> tuple[TLP, str]:
    """The document TLP where the format puts it (asserting it is in every place), and the text."""
    if fmt == "md":
        text = body.decode("utf-8")
        head = re.match(r'---\ntlp: "TLP:([A-Z+]+)"\n(?:[a-z]+: .*\n)+---\n\n\*\*TLP:([A-Z+]+)\*\*\n', text)
        assert head, text[:300]
        assert head.group(1) == head.group(2)
        assert text.rstrip().splitlines()[-1] == f"**TLP:{head.group(1)}**"
        return TLP(head.group(1)), text
    if fmt == "html":
        text = body.decode("utf-8")
        top = re.search(r'<body>\s*<div class="tlp-banner top" role="note" data-tlp="([A-Z+]+)">', text)
        assert top, text[:600]
        tlp = top.group(1)
        bottom = f'<div class="tlp-banner bottom" role="note" data-tlp="{tlp}">TLP:{tlp}</div>\n</body>'
        assert bottom in text
        assert f'@top-center {{ content: "TLP:{tlp}"' in text  # the PDF margin boxes
        assert f'@bottom-center {{ content: "TLP:{tlp}' in text
        return TLP(tlp), text
    assert body.startswith(b"%PDF")
    pages = _pdf_pages(body)
    assert pages
    tlp = pages[0][0]
    assert LABEL.fullmatch(tlp), pages[0][:3]
    for number, lines in enumerate(pages, 1):
        assert lines[0] == tlp, (number, lines[:2])  # header of every page
        assert lines[-1].startswith(f"{tlp} · page {number} of {len(pages)}"), (number, lines[-2:])
    return TLP(tlp.removeprefix("TLP:")), "\n".join("\n".join(p) for p in pages)


def _documents(c: Coalition, w: World, reader: str, role: Role) -> dict[str, Callable[[str], bytes]]:
    principal = c.principal(reader, role)
    name = f"{reader} org"

    def briefing(fmt: str) -> bytes:
        with c.db.session() as s:
            return render_briefing(BriefingService(s, principal).build(timedelta(days=7)), fmt)

    def pack(fmt: str) -> bytes:
        with c.db.session() as s:
            return render_pack(MeetingService(s, principal), w.meeting_id, fmt, name)

    def minutes(fmt: str) -> bytes:
        with c.db.session() as s:
            return render_minutes(MeetingService(s, principal), w.meeting_id, fmt, name)

    def disclosure(fmt: str) -> bytes:
        with c.db.session() as s:
            return DisclosureService(s, principal).render(w.green_case, fmt, draft=True)

    return {"briefing": briefing, "pack": pack, "minutes": minutes, "disclosure": disclosure}


@pytest.mark.parametrize(("reader", "role"), READERS, ids=[r for r, _ in READERS])
def test_every_document_in_every_format_carries_the_marking_of_its_content(
    coalition: Coalition, request: pytest.FixtureRequest, reader: str, role: Role
) -> None:
    w = _world(coalition)
    formats = list(FORMATS)
    # PDF rendering does not depend on the database: once (on SQLite) is enough, and it is slow.
    if "postgresql" in request.node.callspec.id or not shutil.which("pdftotext"):
        formats.remove("pdf")
    for document, render in _documents(coalition, w, reader, role).items():
        for fmt in formats:
            _check(w, document, fmt, reader, render(fmt))


def _check(w: World, document: str, fmt: str, reader: str, body: bytes) -> None:
    where = (document, fmt, reader)
    tlp, text = _marking_of(body, fmt)
    assert tlp is EXPECTED[document][reader], (*where, tlp)
    present = {t for t in w.tokens if t in text}
    assert present <= w.seen_by[reader], (*where, present - w.seen_by[reader])
    for token in present:
        assert _at_most(w.tokens[token], tlp), (*where, token)
    for label in LABEL.findall(text):
        assert _at_most(TLP(label), tlp), (*where, label)
    if document != "disclosure":
        # what the reader may see is really there (the filter is not merely "show nothing")
        assert "tok-case-green" in text or document == "minutes", where


def test_every_document_over_rest_in_every_format_for_every_reader(
    coalition: Coalition, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The same documents fetched over REST (briefing, meeting pack, minutes, disclosure; HTML,
    PDF and Markdown with the marking as front matter) by each reader with its own key: the
    routes serve every format with its media type, marked for that reader."""
    w = _world(coalition)
    keys = {}
    with coalition.db.session() as s:
        store = ExchangeStore(s)
        for reader, role in READERS:
            keys[reader] = store.create_key(None, coalition.orgs[reader], role.value)[1]
    formats = list(FORMATS)
    if "postgresql" in request.node.callspec.id or not shutil.which("pdftotext"):
        formats.remove("pdf")  # as above: PDF rendering does not depend on the database
    paths = {
        "briefing": "/api/v1/briefings?since=7d",
        "pack": f"/api/v1/meetings/{w.meeting_id}/pack",
        "minutes": f"/api/v1/meetings/{w.meeting_id}/minutes",
        "disclosure": f"/api/v1/cases/{w.green_case}/disclosure?draft=true",
    }
    media = {"html": "text/html", "pdf": "application/pdf", "md": "text/markdown"}
    server, thread, base_url = start_server(coalition.db.url, tmp_path)
    try:
        for reader, _ in READERS:
            with httpx.Client(
                base_url=base_url, headers={"Authorization": f"Bearer {keys[reader]}"}, timeout=120
            ) as client:
                for document, path in paths.items():
                    for fmt in formats:
                        if fmt == "pdf" and reader != "gov":
                            continue  # PDFs of every reader are checked above; one over REST is the wiring
                        answer = client.get(path, params={"format": fmt})
                        assert answer.status_code == 200, (document, fmt, reader, answer.text[:300])
                        assert answer.headers["content-type"].startswith(media[fmt])
                        _check(w, document, fmt, reader, answer.content)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_packs_of_the_reported_failures(coalition: Coalition) -> None:
    """The government partner's pack listed AMBER case titles under TLP:GREEN; a platform's pack
    headed AMBER listed a RED case; briefings had no document TLP at all."""
    w = _world(coalition)
    with coalition.db.session() as s:
        gov = MeetingService(s, coalition.principal("gov")).agenda(w.meeting_id)
        platform = MeetingService(s, coalition.principal("plat_a")).agenda(w.meeting_id)
        briefing = BriefingService(s, coalition.principal("plat_b")).build(timedelta(days=7))
    gov_titles = [c["title"] for u in gov.updates for c in u.figures["cases_opened"]]
    assert gov_titles == ["tok-case-green"]
    # nor do the figures count what the government may not see (plat_a's AMBER signal)
    [figures] = [u.figures for u in gov.updates]
    assert figures["signals_total"] == 1 and len(figures["signal_ids"]) == 1
    [own] = [u.figures for u in platform.updates if u.org_id == coalition.orgs["plat_a"]]
    assert own["signals_total"] == 2 and len(own["cases_opened"]) == 3
    assert all(c["tlp"] == "GREEN" for u in gov.updates for c in u.figures["cases_opened"])
    platform_marks = [TLP(c["tlp"]) for u in platform.updates for c in u.figures["cases_opened"]]
    assert TLP.RED in platform_marks and platform.tlp is TLP.RED
    assert most_restrictive(platform_marks) is TLP.RED
    assert briefing.tlp is TLP.AMBER


def test_disclosure_of_a_restricted_case_is_clear_and_withholds_it(coalition: Coalition) -> None:
    w = _world(coalition)
    for reader in ("plat_a", "plat_b"):
        with coalition.db.session() as s:
            service = DisclosureService(s, coalition.principal(reader))
            for fmt in ("html", "md"):
                tlp, text = _marking_of(service.render(w.amber_case, fmt, draft=True), fmt)
                assert tlp is TLP.CLEAR and "tok-case-amber" not in text and "withheld" in text
