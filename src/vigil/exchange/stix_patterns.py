"""STIX patterns for Vigil's signal kinds, both ways.

Each observable kind has exactly one pattern shape, so an indicator we exported parses back to the
same (kind, value). Kinds STIX has no cyber-observable for (hashtags, text fingerprints, narratives)
use custom observable types ``x-vigil-*``; STIX 2.1 allows custom observable types in patterns and
stix2-validator accepts them. Technique signals are not indicators: they travel as attack-patterns.
"""

from __future__ import annotations

import re

from vigil.core.errors import InputError
from vigil.exchange.records import SignalKind

# The object path of the one comparison each observable kind's pattern holds.
_PATHS: dict[SignalKind, str] = {
    SignalKind.URL: "url:value",
    SignalKind.DOMAIN: "domain-name:value",
    SignalKind.HASHTAG: "x-vigil-hashtag:value",
    SignalKind.TEXT_EXACT: "x-vigil-text:digest",
    SignalKind.TEXT_MINHASH: "x-vigil-text:minhash",
    SignalKind.IMAGE_MD5: "file:hashes.MD5",
    # PDQ is not in STIX's hash-algorithm-ov; the vocabulary is open and the validator accepts it.
    SignalKind.IMAGE_PDQ: "file:hashes.PDQ",
    SignalKind.NARRATIVE: "x-vigil-narrative:value",
}
_KIND_BY_PATH = {path: kind for kind, path in _PATHS.items()}
# Spellings other producers use for the same hashes.
_KIND_BY_PATH.update(
    {
        "file:hashes.'MD5'": SignalKind.IMAGE_MD5,
        "file:hashes.'PDQ'": SignalKind.IMAGE_PDQ,
        "file:hashes.x_pdq": SignalKind.IMAGE_PDQ,
        "file:hashes.'x_pdq'": SignalKind.IMAGE_PDQ,
    }
)

_COMPARISON = re.compile(r"\s*([a-z0-9-]+:[A-Za-z0-9_.'\-]+)\s*=\s*'((?:[^'\\]|\\.)*)'\s*")


def quote(value: str) -> str:
    """A STIX pattern string literal: backslash and quote escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _unquote(body: str) -> str:
    return re.sub(r"\\(.)", r"\1", body)


def pattern_for(kind: SignalKind, value: str) -> str:
    """The STIX pattern of a signal; InputError for kinds that are not indicators (technique)."""
    if kind is SignalKind.ACCOUNT:
        platform, sep, account = value.partition(":")
        if not sep or not platform or not account:
            raise InputError(f"account signal {value!r} is not 'platform:account_id' or 'platform:@handle'")
        if account.startswith("@"):
            return (
                f"[user-account:account_type = {quote(platform)} AND "
                f"user-account:account_login = {quote(account[1:])}]"
            )
        return f"[user-account:account_type = {quote(platform)} AND user-account:user_id = {quote(account)}]"
    path = _PATHS.get(kind)
    if path is None:
        raise InputError(f"{kind.value} signals are not STIX indicators")
    return f"[{path} = {quote(value)}]"


def _comparisons(pattern: str) -> dict[str, str] | None:
    """``{object_path: literal}`` of a single observation of ANDed equalities, else None."""
    text = pattern.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    parts: dict[str, str] = {}
    body = text[1:-1]
    position = 0
    while True:
        match = _COMPARISON.match(body, position)
        if match is None:
            return None
        parts[match.group(1)] = _unquote(match.group(2))
        position = match.end()
        if position == len(body):
            return parts
        if not body.startswith("AND", position):
            return None
        position += 3


def signal_of_pattern(pattern: str) -> tuple[SignalKind, str] | None:
    """(kind, value) of a pattern Vigil understands, or None (the caller reports it as unsupported)."""
    parts = _comparisons(pattern)
    if not parts:
        return None
    if "user-account:account_type" in parts and len(parts) == 2:
        platform = parts["user-account:account_type"]
        if "user-account:account_login" in parts:
            return SignalKind.ACCOUNT, f"{platform}:@{parts['user-account:account_login']}"
        if "user-account:user_id" in parts:
            return SignalKind.ACCOUNT, f"{platform}:{parts['user-account:user_id']}"
        return None
    if len(parts) != 1:
        return None
    ((path, value),) = parts.items()
    kind = _KIND_BY_PATH.get(path)
    if kind is None:
        return None
    return kind, value
