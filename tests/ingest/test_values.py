"""Parsing of single source values: timestamps, integers, booleans, ids, lists, languages."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from vigil.ingest.values import (
    BadValue,
    TimeFormat,
    normalize_lang,
    parse_bool,
    parse_id,
    parse_int,
    parse_list,
    parse_time,
)

AUTO = TimeFormat("auto")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2018-01-01 12:34", datetime(2018, 1, 1, 12, 34, tzinfo=UTC)),
        ("2021-09-26T18:00:00Z", datetime(2021, 9, 26, 18, tzinfo=UTC)),
        ("2021-09-26T20:00:00+02:00", datetime(2021, 9, 26, 18, tzinfo=UTC)),
        ("2016-03-14", datetime(2016, 3, 14, tzinfo=UTC)),
        ("1630000000", datetime(2021, 8, 26, 17, 46, 40, tzinfo=UTC)),
        ("1630000000.5", datetime(2021, 8, 26, 17, 46, 40, 500000, tzinfo=UTC)),
        (1630000000, datetime(2021, 8, 26, 17, 46, 40, tzinfo=UTC)),
        ("Wed Oct 10 20:19:24 +0000 2018", datetime(2018, 10, 10, 20, 19, 24, tzinfo=UTC)),
        (datetime(2020, 1, 1, 5), datetime(2020, 1, 1, 5, tzinfo=UTC)),
        (date(2020, 1, 2), datetime(2020, 1, 2, tzinfo=UTC)),
    ],
)
def test_parse_time_auto(value: object, expected: datetime) -> None:
    assert parse_time(value, AUTO) == expected


def test_parse_time_formats() -> None:
    assert parse_time("1630000000000", TimeFormat("unix_ms")) == datetime(2021, 8, 26, 17, 46, 40, tzinfo=UTC)
    assert parse_time("26/09/2021 18:00", TimeFormat("%d/%m/%Y %H:%M")) == datetime(
        2021, 9, 26, 18, tzinfo=UTC
    )
    with pytest.raises(BadValue, match="not a timestamp: '1630000000'") as info:
        parse_time("1630000000", TimeFormat("iso"))
    assert info.value.expected == "ISO 8601"


@pytest.mark.parametrize("value", ["yesterday", "", "nan", float("nan"), True, "2021-13-45"])
def test_parse_time_rejects(value: object) -> None:
    with pytest.raises(BadValue) as info:
        parse_time(value, AUTO)
    assert info.value.expected == "ISO 8601 or POSIX seconds"


def test_unknown_time_format() -> None:
    with pytest.raises(ValueError, match="unknown time format 'seconds'"):
        TimeFormat("seconds")


def test_scalars() -> None:
    assert [parse_int(v) for v in ("12", "30.0", 7, None, "")] == [12, 30, 7, None, None]
    with pytest.raises(BadValue, match=r"not an integer: '1\.5'"):
        parse_int("1.5")
    assert [parse_bool(v) for v in ("True", "false", "1", 0, None)] == [True, False, True, False, None]
    with pytest.raises(BadValue, match="not a boolean: 'maybe'"):
        parse_bool("maybe")
    assert [parse_id(v) for v in (123, "123", 123.0, " 7 ", None)] == ["123", "123", "123", "7", None]
    with pytest.raises(BadValue):
        parse_id(1.5)


@pytest.mark.parametrize(
    ("value", "items"),
    [
        ("[vote, usa]", ["vote", "usa"]),
        ("['vote', 'usa']", ["vote", "usa"]),
        ('["vote", "usa"]', ["vote", "usa"]),
        ("[]", []),
        ("vote,usa", ["vote", "usa"]),
        ("vote usa", ["vote", "usa"]),
        (["a", None, "b"], ["a", "b"]),
        (None, []),
        ("[12345, 67890]", ["12345", "67890"]),
    ],
)
def test_parse_list(value: object, items: list[str]) -> None:
    assert parse_list(value) == items


def test_parse_list_of_urls_keeps_commas_inside_urls() -> None:
    value = "[http://a.example/x?a=1,2, https://b.example/y]"
    assert parse_list(value, urls=True) == ["http://a.example/x?a=1,2", "https://b.example/y"]
    assert parse_list("a|b c", separator="|") == ["a", "b c"]


@pytest.mark.parametrize(
    ("value", "code"),
    [("en", "en"), ("EN-us", "en"), ("pt_BR", "pt"), ("in", "id"), ("iw", "he"), ("und", None),
     ("zxx", None), ("qme", None), ("", None), (None, None), ("english", None)],
)  # fmt: skip
def test_normalize_lang(value: str | None, code: str | None) -> None:
    assert normalize_lang(value) == code
