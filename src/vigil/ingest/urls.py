"""URL canonicalization: one spelling per web resource, so posts on different platforms match.

``canonicalize(url)`` returns a :class:`UrlInfo` (the posts table's URL struct). The rules, chosen
so that the same article shared on Facebook, Twitter and Telegram gets the same canonical string
(docs/schema.md lists them with examples):

* a bare ``example.com/x`` or scheme-relative ``//example.com/x`` gets ``https://``;
* ``http`` becomes ``https``: platforms and sites rewrite links between the two freely, and treating
  them as distinct (as CooRnet and the coordination-network-toolkit do) splits one resource in two;
* scheme and host are lower-cased, user/password, default ports, the fragment and a trailing dot
  of the host are dropped; ``www.`` (also ``www2.`` ...), ``m.`` and ``mobile.`` host prefixes are
  dropped unless what remains is only a public suffix;
* IDN hosts are written in punycode (ASCII), the form every platform's link expander emits;
* percent-encoding is normalized (unreserved characters decoded, other escapes upper-cased,
  non-ASCII characters encoded as UTF-8), ``.``/``..`` segments removed, trailing slashes dropped
  (the root path is written as nothing: ``https://example.com``); path case is kept because paths
  are case-sensitive (``bit.ly/AbC`` is not ``bit.ly/abc``);
* tracking parameters (``utm_*``, ``fbclid``, ``gclid``, ``igshid``, ``si`` ...) are dropped and the
  remaining query parameters sorted;
* ``youtu.be/ID`` is rewritten to ``youtube.com/watch?v=ID``: it is a fixed alias, not a shortener;
* links on known shorteners (``bit.ly``, ``t.co``, ``ow.ly`` ...) are flagged ``is_shortener``: their
  target is unknown offline, so they only match the same short link.

Malformed input never raises: a string that cannot be parsed as an http(s) URL with a valid host
comes back with ``canonical`` equal to the stripped input and ``domain`` None, so equal garbage
still compares equal and nothing is lost.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import SplitResult, quote, scheme_chars, urlsplit

# Query parameters that identify a campaign, click or share, never the resource itself.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "twclid", "ttclid", "li_fat_id",
        "igshid", "igsh", "mc_cid", "mc_eid", "ref_src", "ref_url", "si", "_ga", "_gl", "_hsenc",
        "_hsmi", "mkt_tok", "vero_id", "oly_enc_id", "oly_anon_id", "wickedid", "rb_clickid",
        "s_cid", "fb_action_ids", "fb_action_types", "fb_source", "fb_ref", "action_object_map",
        "action_type_map", "action_ref_map", "spm", "cmpid", "ncid", "sr_share",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "pk_", "hsa_", "mtm_")

# Services whose short links hide their target (generic and branded news shorteners).
SHORTENERS = frozenset(
    {
        "bit.ly", "bitly.com", "j.mp", "t.co", "ow.ly", "tinyurl.com", "goo.gl", "buff.ly", "dlvr.it",
        "is.gd", "v.gd", "fb.me", "tiny.cc", "trib.al", "lnkd.in", "shorturl.at", "rebrand.ly",
        "cutt.ly", "rb.gy", "t.ly", "bl.ink", "s.id", "ift.tt", "wp.me", "amzn.to", "tr.im", "qr.ae",
        "x.co", "snip.ly", "po.st", "su.pr", "shar.es", "dld.bz", "ht.ly", "u.to", "clck.ru",
        "vk.cc", "nyti.ms", "wapo.st", "bbc.in", "reut.rs", "cnn.it", "n.pr", "bloom.bg", "econ.st",
        "on.ft.com", "tgam.ca", "politi.co", "hill.cm", "apne.ws", "abcn.ws", "nbcnews.to", "aje.io",
        "ab.co", "lemde.fr", "frama.link",
    }
)  # fmt: skip

_HOST_PREFIXES = re.compile(r"^(?:www\d*|m|mobile)\.")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PLAIN = re.compile(r"^[A-Za-z0-9\-._~/:@!$&'()*+,;=]*$")  # only characters every component keeps
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters left as they are in a path / in a query key or value (sub-delims, ':' and '@').
_PATH_SAFE = "/:@!$&'()*+,;=%"
_QUERY_SAFE = ":@!$'()*+,;/?%"


@dataclass(frozen=True, slots=True)
class UrlInfo:
    """One URL of a post, as in the posts table's ``urls`` struct."""

    url: str  # as posted
    canonical: str
    domain: str | None  # registrable domain (punycode), or None when there is no valid host
    is_shortener: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "url": self.url,
            "canonical": self.canonical,
            "domain": self.domain,
            "is_shortener": self.is_shortener,
        }


# The registrable domain is tldextract's answer (its bundled Public Suffix List snapshot, private
# suffixes included), found here without importing tldextract: its package imports `requests`
# and parses the list on first use, ~0.3 CPU-s of every ingest's start (issue #22). The list is
# read from tldextract's own data file, so both give the same domains
# (tests/ingest/test_urls.py compares them on every suffix of the list and odd hosts).
_SUFFIX_LINE = re.compile(r"^(?P<suffix>[.*!]*\w[\S]*)", re.UNICODE | re.MULTILINE)
_SCHEME_CHARS = frozenset(scheme_chars)


@dataclass(slots=True)
class _Suffixes:
    """A node of the suffix trie: the labels that may precede it, right to left, and whether a
    suffix ends here."""

    below: dict[str, _Suffixes] = field(default_factory=dict)
    end: bool = False


def _snapshot() -> str:
    """The text of tldextract's bundled Public Suffix List (its package is not imported)."""
    spec = importlib.util.find_spec("tldextract")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("tldextract is not installed: its Public Suffix List snapshot is needed")
    return (Path(next(iter(spec.submodule_search_locations))) / ".tld_set_snapshot").read_text("utf-8")


@lru_cache(maxsize=1)
def _suffix_trie() -> _Suffixes:
    root = _Suffixes()
    # Public and private suffixes alike (private ones count: two blogs on github.io are two domains).
    for suffix in {m.group("suffix") for m in _SUFFIX_LINE.finditer(_snapshot())}:
        node = root
        for label in reversed(suffix.split(".")):
            node = node.below.setdefault(label, _Suffixes())
        node.end = True
    return root


def _label_key(label: str) -> str:
    """A host label as the list writes it: lower case, punycode decoded (the list is in Unicode)."""
    lowered = label.lower()
    if lowered.startswith("xn--"):
        import idna  # only for punycode labels (tldextract decodes them with it too)

        try:
            return str(idna.decode(lowered))
        except (UnicodeError, IndexError):
            pass
    return lowered


def _suffix_start(labels: list[str]) -> int | None:
    """Index of the first label of the longest public suffix of ``labels``, or None."""
    node, index, start = _suffix_trie(), len(labels), None
    for label in reversed(labels):
        key = _label_key(label)
        below = node.below.get(key)
        if below is not None:
            index -= 1
            node = below
            if node.end:
                start = index
            continue
        if "*" in node.below:  # "*.ck": any label is part of the suffix, unless "!www.ck" excepts it
            return index if "!" + key in node.below else index - 1
        break
    return start


def _lenient_host(text: str) -> str:
    """The host part of ``text``: after a scheme and user info, before a port, path, query or fragment."""
    slashes = text.find("//")
    if slashes == 0:
        text = text[2:]
    elif slashes >= 2 and text[slashes - 1] == ":" and not set(text[: slashes - 1]) - _SCHEME_CHARS:
        text = text[slashes + 2 :]
    authority = text.partition("/")[0].partition("?")[0].partition("#")[0].rpartition("@")[2]
    if authority.startswith("["):
        inside, bracket, _ = authority.partition("]")
        if bracket:
            return inside + bracket
    return authority.partition(":")[0].strip().rstrip(".\u3002\uff0e\uff61")


@lru_cache(maxsize=1 << 18)
def registrable_domain(host: str) -> str | None:
    """The registrable domain (public suffix plus one label) of ``host``, or None if it has none.

    ``www.bbc.co.uk`` -> ``bbc.co.uk``; ``alice.github.io`` -> ``alice.github.io`` (private suffix);
    an IP address is its own domain; ``localhost`` or a bare suffix like ``co.uk`` -> None.
    """
    host = host.strip().lower().rstrip(".")
    if not host:
        return None
    if _is_ip(host):
        return host.strip("[]")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = _lenient_host(host).split(".")
    start = _suffix_start(labels)
    if not start:  # no suffix, or the whole host is one
        return None
    domain, suffix = labels[start - 1], ".".join(labels[start:])
    if not domain or not suffix:
        return None
    return f"{domain}.{suffix}"


def _is_ip(host: str) -> bool:
    if not host or not (host[0].isdigit() or host[0] == "[" or ":" in host):
        return False  # fast path: names start with a letter (IPv4 with a digit, IPv6 has ':')
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _normalize_escapes(text: str, safe: str) -> str:
    """Percent-encode what must be, decode escaped unreserved characters, upper-case the rest."""
    if _PLAIN.match(text):
        return text  # fast path: nothing escaped, nothing to escape
    text = _LONE_PERCENT.sub("%25", text)
    text = quote(text, safe=safe, encoding="utf-8", errors="strict")

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _ESCAPE.sub(fix, text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, on a path that starts with '/' (or is empty)."""
    if "/." not in path:
        return path if path.startswith("/") or not path else "/" + path
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    result = "/".join(output)
    return result if result.startswith("/") or not result else "/" + result


@lru_cache(maxsize=1 << 16)
def _canonical_host(raw_host: str) -> str | None:
    """The host as written in canonical forms, or None if it is not a valid host (cached: hosts
    repeat far more than URLs)."""
    host = raw_host.lower().rstrip(".")
    if not host:
        return None
    if _is_ip(host):
        return host
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if not all(_LABEL.match(label) for label in host.split(".")):
        return None
    # Repeatedly ("www.m.example.com"), so that the canonical form is a fixed point.
    while (stripped := _HOST_PREFIXES.sub("", host, count=1)) != host and registrable_domain(stripped):
        host = stripped
    return host


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    # Parts of a query with nothing escaped and nothing to escape are kept as they are.
    plain = _PLAIN.match(query) is not None
    pairs: list[tuple[str, str | None]] = []
    for part in query.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not plain:
            key = _normalize_escapes(key, _QUERY_SAFE)
        name = key.lower()
        if name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES):
            continue
        if sep and not plain:
            value = _normalize_escapes(value, _QUERY_SAFE + "=")
        pairs.append((key, value if sep else None))
    pairs.sort(key=lambda kv: (kv[0], kv[1] or ""))
    return "&".join(key if value is None else f"{key}={value}" for key, value in pairs)


def _split(url: str) -> SplitResult | None:
    text = url
    if text.startswith("//"):
        text = "https:" + text
    elif not _SCHEME.match(text):
        if ":" in text.split("/", 1)[0] and not re.match(r"^[^/:]+:\d+(?:/|$)", text):
            return None  # "mailto:x", "javascript:..." and other non-web schemes
        text = "https://" + text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        return None
    return parts


def _garbage(url: str, text: str) -> UrlInfo:
    return UrlInfo(url=url, canonical=text, domain=None, is_shortener=False)


# Most links as posted: http(s), an ASCII host without port or user, a path and a query of
# characters every component keeps as they are (no escape, nothing to escape), any fragment. For
# these urlsplit's parts are the regex groups, so the URL skips it (the rules that follow are the
# same for every URL).
_PLAIN_URL = re.compile(
    r"(?:[Hh][Tt][Tt][Pp]([Ss]?))://([A-Za-z0-9.-]+)(/[A-Za-z0-9\-._~/:@!$&'()*+,;=]*)?"
    r"(?:\?([A-Za-z0-9\-._~/:@!$&'()*+,;=]*))?(?:#.*)?",
    re.DOTALL,
)


@lru_cache(maxsize=1 << 16)
def canonicalize(url: str) -> UrlInfo:
    """Canonicalize one URL as posted; see the module docstring for the rules. Never raises."""
    text = url.strip()
    plain = _PLAIN_URL.fullmatch(text)
    if plain is not None:
        secure, hostname, raw_path, raw_query = plain.groups()
        scheme = "https" if secure else "http"
        port = None
        raw_path = raw_path or ""
        raw_query = raw_query or ""
    else:
        parts = _split(text)
        if parts is None or parts.scheme.lower() not in _DEFAULT_PORTS:
            return _garbage(url, text)
        scheme, hostname, port = parts.scheme.lower(), parts.hostname or "", parts.port
        raw_path, raw_query = parts.path, parts.query
    host = _canonical_host(hostname)
    if host is None:
        return _garbage(url, text)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    try:
        path = _normalize_escapes(raw_path, _PATH_SAFE)
        query = _canonical_query(raw_query)
    except UnicodeError:  # lone surrogates cannot be UTF-8 encoded
        return _garbage(url, text)
    path = _remove_dot_segments(path).rstrip("/")
    domain = registrable_domain(host)
    if domain == "youtu.be" and len(path) > 1:
        # youtu.be/ID is a fixed alias of the watch page, not a shortener with a hidden target.
        video = path[1:].split("/", 1)[0]
        query = _canonical_query("&".join(p for p in (f"v={video}", raw_query) if p))
        host, netloc, path, domain = "youtube.com", "youtube.com", "/watch", "youtube.com"
    canonical = f"https://{netloc}{path}" + (f"?{query}" if query else "")
    is_shortener = domain in SHORTENERS or host in SHORTENERS
    return UrlInfo(url=url, canonical=canonical, domain=domain, is_shortener=is_shortener)


def canonicalize_many(urls: list[str]) -> list[UrlInfo]:
    """Canonicalize a batch of URLs (cached per distinct URL)."""
    return [canonicalize(url) for url in urls]
