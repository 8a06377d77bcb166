"""Parsing of single source values (timestamps, integers, booleans, ids, list-like strings, languages).

Each parser takes whatever a reader produced (a CSV string, a JSON value, a Parquet value) and
either returns the typed value or raises :class:`BadValue` saying what was wrong and what was
expected; the adapter adds the file, row and column and turns it into a ``DataError``.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

from vigil.core.time import ensure_utc

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_TWITTER_API_TIME = "%a %b %d %H:%M:%S %z %Y"  # "Wed Oct 10 20:19:24 +0000 2018"
_NUMERIC_SPECS = frozenset({"auto", "unix", "unix_ms"})


class BadValue(ValueError):
    """One source value could not be read. ``expected`` says what would have been accepted."""

    def __init__(self, message: str, expected: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected


def is_missing(value: Any) -> bool:
    """None, an empty or blank string, or a float NaN (pandas' null) count as no value."""
    if value is None:
        return True
    if type(value) is str:
        return not value or value.isspace()
    return isinstance(value, float) and math.isnan(value)


@dataclass(frozen=True)
class TimeFormat:
    """How timestamps are written: ``auto``, ``iso``, ``unix``, ``unix_ms`` or a strptime pattern.

    ``auto`` accepts ISO 8601 (``2018-01-01 12:34``, ``2021-09-26T18:00:00Z``, a date alone), POSIX
    seconds and the Twitter API's ``Wed Oct 10 20:19:24 +0000 2018``. Instants without a zone are UTC.
    """

    spec: str = "auto"

    def __post_init__(self) -> None:
        if self.spec not in {"auto", "iso", "unix", "unix_ms"} and "%" not in self.spec:
            raise ValueError(
                f"unknown time format {self.spec!r}; use auto, iso, unix, unix_ms or a strptime pattern"
            )

    @cached_property
    def expected(self) -> str:
        return {
            "auto": "ISO 8601 or POSIX seconds",
            "iso": "ISO 8601",
            "unix": "POSIX seconds",
            "unix_ms": "POSIX milliseconds",
        }.get(self.spec, f"the time format {self.spec!r}")


def _from_number(number: float, scale: float, text: Any, expected: str) -> datetime:
    if math.isnan(number) or math.isinf(number):
        raise BadValue(f"not a timestamp: {text!r}", expected)
    try:
        return EPOCH + timedelta(seconds=number / scale)
    except OverflowError as exc:
        raise BadValue(f"timestamp out of range: {text!r}", expected) from exc


def parse_time(value: Any, fmt: TimeFormat) -> datetime:
    """An aware UTC datetime from a source value; raises BadValue."""
    expected = fmt.expected
    if isinstance(value, datetime):
        return ensure_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, bool):
        raise BadValue(f"not a timestamp: {value!r}", expected)
    if isinstance(value, int | float):
        if fmt.spec in {"auto", "unix", "unix_ms"}:
            return _from_number(float(value), 1000.0 if fmt.spec == "unix_ms" else 1.0, value, expected)
        raise BadValue(f"not a timestamp: {value!r}", expected)
    if not isinstance(value, str):
        raise BadValue(f"not a timestamp: {value!r}", expected)
    text = value.strip()
    if fmt.spec in _NUMERIC_SPECS and _NUMBER.match(text):
        return _from_number(float(text), 1000.0 if fmt.spec == "unix_ms" else 1.0, value, expected)
    if fmt.spec in {"auto", "iso"}:
        try:
            return ensure_utc(datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")))
        except ValueError:
            pass
    if fmt.spec == "auto":
        try:
            return ensure_utc(datetime.strptime(text, _TWITTER_API_TIME))
        except ValueError:
            pass
    if "%" in fmt.spec:
        try:
            return ensure_utc(datetime.strptime(text, fmt.spec))
        except ValueError:
            pass
    raise BadValue(f"not a timestamp: {value!r}", expected)


def parse_optional_time(value: Any, fmt: TimeFormat) -> datetime | None:
    """``parse_time``, or None for a missing value."""
    return None if is_missing(value) else parse_time(value, fmt)


def to_micros(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (what Arrow stores for timestamp[us])."""
    return (value - EPOCH) // _ONE_US


def parse_int(value: Any) -> int | None:
    """An integer from ``12``, ``"12"``, ``"12.0"`` (pandas writes counts as floats); None if missing."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise BadValue(f"not an integer: {value!r}", "a whole number")
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadValue(f"not an integer: {value!r}", "a whole number") from None
    if not number.is_integer():
        raise BadValue(f"not an integer: {value!r}", "a whole number")
    return int(number)


_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def parse_bool(value: Any) -> bool | None:
    """True/False from booleans, ``"True"``, ``"false"``, ``"1"``, ``0``...; None if missing."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadValue(f"not a boolean: {value!r}", "true or false")


def parse_id(value: Any) -> str | None:
    """An identifier as text: ``123`` and ``"123"`` and ``123.0`` are the same id; None if missing."""
    if type(value) is str:  # the common case first: CSV cells
        return value.strip() or None
    if is_missing(value):
        return None
    if isinstance(value, bool):
        raise BadValue(f"not an identifier: {value!r}", "a string or integer id")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        raise BadValue(f"not an identifier: {value!r}", "a string or integer id")
    if isinstance(value, str):
        return value.strip()
    raise BadValue(f"not an identifier: {value!r}", "a string or integer id")


def as_text(value: Any) -> str | None:
    """A source value as text for ``extra`` and free-text columns; None if missing."""
    if type(value) is str:  # the common case first
        return None if not value or value.isspace() else value
    if is_missing(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return ensure_utc(value).isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_SPLIT = re.compile(r"[\s,;|]+")
_URL_SPLIT = re.compile(r"[\s,;|]+(?=[a-zA-Z][a-zA-Z0-9+.-]*://|www\.)|\s+")


_LIST_EXPECTED = "a list, a JSON array or separated text"


def _item(item: Any) -> str:
    if isinstance(item, dict | list | tuple | bool):
        raise BadValue(f"not a list of strings: contains {item!r}", _LIST_EXPECTED)
    if isinstance(item, float) and item.is_integer():
        return str(int(item))
    return str(item).strip()


def parse_list(value: Any, *, separator: str | None = None, urls: bool = False) -> list[str]:
    """A list of strings from a list, a JSON array, a Python-style list (``[a, b]``, ``['a', 'b']``)
    or a separated string. Without ``separator``, items are split on spaces, ``,``, ``;`` and ``|``;
    URLs only where the next URL starts, since URLs may hold commas.
    """
    if is_missing(value):
        return []
    if isinstance(value, list | tuple):
        return [_item(item) for item in value if not is_missing(item)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [_item(value)]  # a single numeric id
    if not isinstance(value, str):
        raise BadValue(f"not a list: {value!r}", _LIST_EXPECTED)
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        if not inner:
            return []
        # Python-style lists only when quoted: ast warns (SyntaxWarning) on every "[a, b]" it cannot read.
        loaders = (json.loads, ast.literal_eval) if "'" in inner or '"' in inner else (json.loads,)
        for loader in loaders:
            try:
                parsed = loader(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue
            if isinstance(parsed, list):
                return [_item(item) for item in parsed if not is_missing(item)]
        text = inner  # "[vote, usa]": items without quotes
    splitter = _URL_SPLIT if urls else _SPLIT
    items = text.split(separator) if separator is not None else splitter.split(text)
    return [item.strip().strip("'\"") for item in items if item.strip().strip("'\"")]


# Language codes that mean "no language" (Twitter's und, zxx and q* codes) or old ISO 639-1 codes.
_NO_LANGUAGE = {"und", "zxx", "mul", "mis", "xx", "unknown", "none"}
_OLD_CODES = {"in": "id", "iw": "he", "ji": "yi", "jw": "jv", "mo": "ro"}


def normalize_lang(value: Any) -> str | None:
    """An ISO 639-1 code from ``"en"``, ``"EN-us"``, ``"pt_BR"``, ``"in"`` (-> id); None for
    missing, undetermined (``und``, ``zxx``, Twitter's ``qme``...) or anything not 639-1 shaped."""
    text = as_text(value)
    if text is None:
        return None
    code = re.split(r"[-_]", text.strip().lower(), maxsplit=1)[0]
    if code in _NO_LANGUAGE or (len(code) == 3 and code.startswith("q")):
        return None
    code = _OLD_CODES.get(code, code)
    if len(code) != 2 or not code.isalpha():
        return None
    return code
