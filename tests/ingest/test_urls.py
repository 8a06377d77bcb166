"""URL canonicalization and registrable domains: a table of cases, and proof that nothing is fetched."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import tldextract
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.ingest import urls
from vigil.ingest.urls import UrlInfo, canonicalize, registrable_domain

CASES = [
    # (as posted, canonical, domain, is_shortener)
    ("https://example.com/a", "https://example.com/a", "example.com", False),
    # case of scheme and host, default port, www, trailing slash, fragment, tracking, sorted query
    (
        "HTTP://WWW.Example.COM:80/a/b/?utm_source=x&b=2&a=1#frag",
        "https://example.com/a/b?a=1&b=2",
        "example.com",
        False,
    ),
    ("https://example.com/A/B", "https://example.com/A/B", "example.com", False),  # path case kept
    ("https://example.com:8443/x", "https://example.com:8443/x", "example.com", False),
    ("https://user:pw@example.com/x", "https://example.com/x", "example.com", False),
    ("https://www2.example.com/", "https://example.com", "example.com", False),
    ("https://example.com./", "https://example.com", "example.com", False),
    # tracking parameters of several kinds
    (
        "https://news.example.org/p?id=7&fbclid=IwAR0&gclid=x&igshid=y&mc_cid=1&mc_eid=2",
        "https://news.example.org/p?id=7",
        "example.org",
        False,
    ),
    (
        "https://example.com/v?si=share123&ref_src=twsrc&UTM_Medium=social",
        "https://example.com/v",
        "example.com",
        False,
    ),
    ("https://example.com/?b=&a", "https://example.com?a&b=", "example.com", False),
    # mobile hosts
    (
        "https://m.facebook.com/story.php?story_fbid=1&id=2",
        "https://facebook.com/story.php?id=2&story_fbid=1",
        "facebook.com",
        False,
    ),
    ("https://mobile.twitter.com/user/status/1", "https://twitter.com/user/status/1", "twitter.com", False),
    ("https://m.co/x", "https://m.co/x", "m.co", False),  # 'm.' kept when only a suffix would remain
    ("https://www.m.example.com/x", "https://example.com/x", "example.com", False),
    # no scheme, scheme-relative
    ("example.com/x", "https://example.com/x", "example.com", False),
    ("www.example.com", "https://example.com", "example.com", False),
    ("//example.com/x/", "https://example.com/x", "example.com", False),
    ("localhost:8000/x", "https://localhost:8000/x", None, False),
    # percent-encoding and dot segments
    (
        "https://fr.wikipedia.org/wiki/Élection",
        "https://fr.wikipedia.org/wiki/%C3%89lection",
        "wikipedia.org",
        False,
    ),
    (
        "https://fr.wikipedia.org/wiki/%c3%89lection",
        "https://fr.wikipedia.org/wiki/%C3%89lection",
        "wikipedia.org",
        False,
    ),
    ("https://example.com/%7Euser/a/./b/../c", "https://example.com/~user/a/c", "example.com", False),
    ("https://example.com/a b", "https://example.com/a%20b", "example.com", False),
    ("https://example.com/100%", "https://example.com/100%25", "example.com", False),
    ("https://example.com/a%2Fb", "https://example.com/a%2Fb", "example.com", False),  # escaped '/' stays
    # IDN hosts: punycode, whichever way they were written
    ("https://münchen.de/wahl", "https://xn--mnchen-3ya.de/wahl", "xn--mnchen-3ya.de", False),
    ("https://XN--MNCHEN-3YA.de/wahl", "https://xn--mnchen-3ya.de/wahl", "xn--mnchen-3ya.de", False),
    ("https://انتخابات.مصر/", "https://xn--mgbaadidy4q.xn--wgbh1c", "xn--mgbaadidy4q.xn--wgbh1c", False),
    # shorteners keep their (case-sensitive) path and are flagged
    ("https://bit.ly/AbC", "https://bit.ly/AbC", "bit.ly", True),
    ("http://t.co/xYz?amp=1", "https://t.co/xYz?amp=1", "t.co", True),
    ("ow.ly/abc", "https://ow.ly/abc", "ow.ly", True),
    ("https://tinyurl.com/y3k", "https://tinyurl.com/y3k", "tinyurl.com", True),
    ("https://on.ft.com/3xyz", "https://on.ft.com/3xyz", "ft.com", True),
    # youtu.be is an alias of the watch page, not a shortener
    (
        "https://youtu.be/dQw4w9WgXcQ?t=10&si=abc",
        "https://youtube.com/watch?t=10&v=dQw4w9WgXcQ",
        "youtube.com",
        False,
    ),
    (
        "https://m.youtube.com/watch?v=dQw4w9WgXcQ&feature=share",
        "https://youtube.com/watch?feature=share&v=dQw4w9WgXcQ",
        "youtube.com",
        False,
    ),
    # IP hosts
    ("http://1.2.3.4/", "https://1.2.3.4", "1.2.3.4", False),
    ("http://[::1]:8080/x", "https://[::1]:8080/x", "::1", False),
    # garbage comes back unchanged (stripped), without a domain, and never raises
    ("not a url", "not a url", None, False),
    ("  ", "", None, False),
    ("javascript:alert(1)", "javascript:alert(1)", None, False),
    ("mailto:a@b.c", "mailto:a@b.c", None, False),
    ("http://", "http://", None, False),
    ("https://example.com:99999/", "https://example.com:99999/", None, False),
    ("https://exa_mple..com/", "https://exa_mple..com/", None, False),
    ("ftp://example.com/file", "ftp://example.com/file", None, False),
    ("https://example.com/\udcff", "https://example.com/\udcff", None, False),
]


@pytest.mark.parametrize(("posted", "canonical", "domain", "short"), CASES)
def test_canonicalize(posted: str, canonical: str, domain: str | None, short: bool) -> None:
    assert canonicalize(posted) == UrlInfo(posted, canonical, domain, short)


def test_http_and_https_are_one_resource() -> None:
    assert canonicalize("http://example.com/a").canonical == canonicalize("https://example.com/a").canonical


def test_canonical_form_is_a_fixed_point() -> None:
    for posted, *_ in CASES:
        info = canonicalize(posted)
        if info.domain is not None:
            assert canonicalize(info.canonical).canonical == info.canonical, posted


def test_as_dict_matches_the_schema_struct() -> None:
    from vigil.schema.tables import URL_STRUCT

    assert list(canonicalize("https://example.com").as_dict()) == [f.name for f in URL_STRUCT]


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("www.bbc.co.uk", "bbc.co.uk"),
        ("news.bbc.co.uk", "bbc.co.uk"),
        ("example.com", "example.com"),
        ("a.b.c.example.com", "example.com"),
        ("WWW.Example.COM.", "example.com"),
        ("alice.github.io", "alice.github.io"),  # private suffix: each blog is its own site
        ("foo.blogspot.com", "foo.blogspot.com"),
        ("gov.uk", None),
        ("co.uk", None),
        ("localhost", None),
        ("", None),
        ("münchen.de", "xn--mnchen-3ya.de"),
        ("sub.münchen.de", "xn--mnchen-3ya.de"),
        ("1.2.3.4", "1.2.3.4"),
        ("city.kawasaki.jp", "city.kawasaki.jp"),  # an exception rule of the public suffix list
    ],
)
def test_registrable_domain(host: str, domain: str | None) -> None:
    assert registrable_domain(host) == domain


def _tldextract_domain(extract: tldextract.TLDExtract, host: str) -> str | None:
    """What registrable_domain returned when it called tldextract (before issue #22's lookup)."""
    host = host.strip().lower().rstrip(".")
    if not host:
        return None
    if urls._is_ip(host):
        return host.strip("[]")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    parts = extract(host)
    return f"{parts.domain}.{parts.suffix}" if parts.domain and parts.suffix else None


def test_registrable_domain_is_tldextracts() -> None:
    # The same bundled list, private suffixes included: every suffix of the list alone, under one
    # and two labels, wildcard and exception rules, punycode (valid and not), and hosts with the
    # parts tldextract cuts off (scheme, user, port, path, brackets).
    extract = tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True, include_psl_private_domains=True
    )
    suffixes = {m.group("suffix") for m in urls._SUFFIX_LINE.finditer(urls._snapshot())}
    assert len(suffixes) > 9000
    hosts = ["ck", "a.ck", "www.ck", "x.www.ck", "b.a.ck", "kawasaki.jp", "x.kawasaki.jp",
             "y.x.kawasaki.jp", "city.kawasaki.jp", "a.city.kawasaki.jp", "xn--fiqs8s", "a.xn--fiqs8s",
             "b.a.xn--fiqs8s", "a.xn--55qx5d.cn", "b.a.XN--55QX5D.CN", "a.xn--zz.com", "xn--zz",
             "xn--zz.xn--zz", "a..com", ".com", "a.com..", "http://a.b.com/x", "//a.b.co.uk/", "u@a.co.uk",
             "a.co.uk:80", "[a.co.uk]", "[::1]", "a.co.uk/p?q#f", "x:y@a.com", "a.com#x.org", "ab:cd",
             "1.2.3.4.com", "999.1.1.1", "é.fr", "a.公司.cn", "foo.bar.github.io", "-a.com",
             "a_b.com"]  # fmt: skip
    for suffix in sorted(suffixes):
        label = suffix.replace("*", "w").lstrip("!")
        hosts += [label, f"x.{label}", f"y.x.{label}"]
    differ = [(h, got, want) for h in hosts
              if (got := registrable_domain(h)) != (want := _tldextract_domain(extract, h))]  # fmt: skip
    assert differ == []


def _forbid_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_registrable_domain_never_touches_the_network(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    attempts = _forbid_network(monkeypatch)
    # Control: tldextract's defaults would fetch the suffix list, so this guard does notice attempts.
    tldextract.TLDExtract(cache_dir=str(tmp_path), cache_fetch_timeout=1)("example.com")
    assert attempts, "the guard did not see tldextract's default fetch"
    attempts.clear()
    urls._suffix_trie.cache_clear()
    registrable_domain.cache_clear()
    canonicalize.cache_clear()
    try:
        assert registrable_domain("www.bbc.co.uk") == "bbc.co.uk"
        assert canonicalize("https://www.lemonde.fr/a/").domain == "lemonde.fr"
    finally:
        urls._suffix_trie.cache_clear()
        registrable_domain.cache_clear()
        canonicalize.cache_clear()
    assert attempts == []


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_any_text(text: str) -> None:
    info = canonicalize(text)
    assert info.url == text
    assert info.domain is None or info.canonical.startswith("https://")


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(_LABEL, min_size=1, max_size=3),
    st.sampled_from(["com", "co.uk", "de", "github.io"]),
    st.lists(st.text(min_size=1, max_size=6), max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=5), max_size=3),
)
def test_canonical_form_is_stable(
    labels: list[str], suffix: str, path: list[str], query: dict[str, str]
) -> None:
    from urllib.parse import quote, urlencode

    url = f"http://{'.'.join(labels)}.{suffix}/" + "/".join(quote(p, safe="") for p in path)
    if query:
        url += "?" + urlencode(query)
    info = canonicalize(url)
    # (the domain may be None: some names, such as x0.com, are themselves private suffixes)
    assert info.canonical.startswith("https://")
    assert canonicalize(info.canonical) == UrlInfo(
        info.canonical, info.canonical, info.domain, info.is_shortener
    )
