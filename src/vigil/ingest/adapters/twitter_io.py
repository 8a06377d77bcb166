"""Twitter's information-operations archive (transparency.twitter.com, 2018-2021 releases).

Tweet files have one row per tweet with the author's profile repeated on every row (tweetid,
userid, user_screen_name, tweet_time "2018-01-01 12:34", is_retweet "True", hashtags "[vote, usa]",
urls "[http://...]", user_mentions "[12345, 67890]" ...). Users files have the profile columns
without tweetid and give accounts only. Releases hash the userid and screen name of accounts with
few followers; the hashes are kept as they are (equal hash, same account).

Mapping (docs/schema.md has the full table): hashtags and urls come from their list columns where
a row has a value there (``[]`` meaning none), else from the text; mentions are the handles
written in the text (the archive's user_mentions holds user ids, kept in ``extra``); reply_to is
in_reply_to_tweetid; every other tweet column, known or not, goes to ``extra``.

Retweets: ``reshare_of`` is retweet_tweetid. Releases also ship retweets without it (withheld, or
lost on the way, as in the FiveThirtyEight IRA release); such a row keeps ``is_retweet`` in
``extra`` and its reshare is keyed on *what* was retweeted, so that accounts retweeting the same
tweet still share a key: ``rt:<retweet_userid>:<digest>`` when the retweeted account's id is given,
else ``rt:@<handle>:<digest>`` from an ``RT @handle:`` prefix of the text, else ``rt::<digest>``;
``<digest>`` is 16 hex digits of the SHA-1 of the text's normal form (vigil.ingest.text, prefix
removed). A retweet with neither id nor text has no key and is counted as unmapped.

Values that are present but cannot be mapped onto a field (a language that is no ISO 639-1 code,
a retweet without any key) are counted per column and value in ``unmapped`` and reported by
``vigil ingest``; bad values of typed fields (times, ids, counts, booleans) stop the run with an
error naming file, row and column.
"""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.ingest import columnar
from vigil.ingest.adapters.base import (
    Adapter,
    AdapterOptions,
    accounts_builder,
    need,
    posts_builder,
    url_structs,
)
from vigil.ingest.entities import extract_hashtags, extract_mentions, extract_urls
from vigil.ingest.readers import SourceBatch
from vigil.ingest.text import normalize_texts
from vigil.ingest.values import (
    BadValue,
    TimeFormat,
    as_text,
    is_missing,
    normalize_lang,
    parse_bool,
    parse_id,
    parse_int,
    parse_list,
    parse_optional_time,
    parse_time,
)
from vigil.schema.tables import POSTS

PLATFORM = "twitter"
# Profile columns: they describe the account, so they go to the accounts table, not to posts.
ACCOUNT_COLUMNS = (
    "user_display_name",
    "user_reported_location",
    "user_profile_description",
    "user_profile_url",
    "follower_count",
    "following_count",
    "account_creation_date",
    "account_language",
)
ACCOUNT_EXTRA = ("user_reported_location", "user_profile_description", "user_profile_url")
# Tweet columns mapped onto posts fields; all other columns of a tweet go to extra.
POST_COLUMNS = (
    "tweetid",
    "userid",
    "user_screen_name",
    "tweet_time",
    "tweet_text",
    "tweet_language",
    "hashtags",
    "urls",
    "is_retweet",
    "retweet_tweetid",
    "in_reply_to_tweetid",
)
# "RT @handle: original text", as the API wrote retweets' text.
_RT_PREFIX = re.compile(r"^\s*RT @(\w{1,50}):?\s*")
# The same rule for Arrow's RE2, whose \s and \w are ASCII: Python's \s on str (exactly the
# characters str.isspace() accepts, a test checks every code point) written out, and \w as ASCII
# word characters. Texts where Python's Unicode \w could take more of the handle (a non-ASCII
# character right after up to 49 ASCII word characters) keep the Python rule.
_PY_SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)
_SPACE_RE2 = "[" + "".join(f"\\x{{{ord(ch):04X}}}" for ch in _PY_SPACES) + "]"
_RT_PREFIX_RE2 = rf"^{_SPACE_RE2}*RT @(?P<handle>[0-9A-Za-z_]{{1,50}}):?{_SPACE_RE2}*"
_RT_UNICODE_HANDLE_RE2 = rf"^{_SPACE_RE2}*RT @[0-9A-Za-z_]{{0,49}}[^\x00-\x7F]"
# Language codes that mean "no language given": not worth reporting as unmapped.
_NO_LANGUAGE = frozenset({"und", "zxx", "mul", "mis", "xx", "unknown", "none"})


class TwitterIOAdapter(Adapter):
    name: ClassVar[str] = "twitter-io"
    description: ClassVar[str] = "Twitter information-operations archive (tweets or users files)"
    parallel: ClassVar[bool] = True

    def __init__(self, options: AdapterOptions) -> None:
        super().__init__(options)
        # The columnar path's per-value rules, remembered across batches (vigil.ingest.columnar).
        self._text_rules = columnar.TextRules()
        self._hashtag_cells = columnar.Memo(lambda v: _unique(parse_list(v)))
        self._url_cells = columnar.Memo(lambda v: parse_list(v, urls=True))
        self._url_rules = columnar.UrlRules()
        # Link cells to their URL structs, kept across batches where cells repeat ("[]" and the like).
        self._url_lists = columnar.ArrayMemo(
            lambda cells: self._url_rules.lists(
                columnar.lists(
                    cells, self._url_cells, columnar.STRING_LIST, columnar.LIST_ITEM, columnar.URL_ITEM
                )
            ),
            columnar.URL_LIST,
        )
        self._booleans = columnar.Memo(parse_bool)
        self._retweet_keys = columnar.BatchMemo(_retweet_keys_of)

    def required_columns(self, column_names: list[str]) -> tuple[str, ...]:
        if "tweetid" not in column_names and "userid" in column_names:
            return ("userid",)  # a users file
        return ("tweetid", "userid", "tweet_time")

    @property
    def platform(self) -> str:
        return self.options.platform or PLATFORM

    def to_posts(self, batch: SourceBatch) -> pa.Table:
        if self.options.columnar and batch.table is not None and "tweetid" in batch.column_names:
            unmapped = {column: dict(values) for column, values in self.unmapped.items()}
            try:
                return self._columnar_posts(batch.table)
            except (columnar.NotColumnar, BadValue):
                self.unmapped = unmapped  # the row path counts this batch again
        return self._row_posts(batch)

    def _columnar_posts(self, table: pa.Table) -> pa.Table:
        """``to_posts`` a column at a time (vigil.ingest.columnar); same table as ``_row_posts``."""
        n = table.num_rows
        rules = self._text_rules

        def cells(name: str) -> pa.Array:
            return columnar.blank_to_null(columnar.text_column(table, name))

        text = cells("tweet_text")
        raw_lang = columnar.text_column(table, "tweet_language")
        lang = rules.languages(raw_lang)
        is_retweet = columnar.distinct_apply(cells("is_retweet"), self._booleans, pa.bool_())
        retweet_of = columnar.ids(cells("retweet_tweetid"))
        retweeted_user = columnar.ids(cells("retweet_userid"))
        hashtag_cells, url_cells = cells("hashtags"), cells("urls")
        columns = {
            "platform": columnar.constant(self.platform, n),
            "post_id": columnar.require(columnar.ids(cells("tweetid"))),
            "account_id": columnar.require(columnar.ids(cells("userid"))),
            "account_handle": cells("user_screen_name"),
            "created_at": rules.times(cells("tweet_time"), self.options.time_format),
            "text": text,
            "lang": lang,
            "lang_detected": pc.if_else(pc.is_valid(lang), False, pa.scalar(None, pa.bool_())),
            "urls": columnar.choose_by_cell(
                url_cells,
                self._url_lists,
                text,
                lambda texts: self._url_rules.lists(rules.urls(texts)),
                columnar.URL_LIST,
            ),
            "hashtags": columnar.choose(
                hashtag_cells,
                columnar.lists(
                    hashtag_cells, self._hashtag_cells, columnar.STRING_LIST, columnar.WORD_ITEM, lower=True
                ),
                text,
                rules.hashtags,
            ),
            "mentions": rules.mentions(text),
            "reshare_of": pc.if_else(
                pc.fill_null(pc.invert(is_retweet), False), pa.scalar(None, pa.string()), retweet_of
            ),
            "reply_to": columnar.ids(cells("in_reply_to_tweetid")),
            "image_pdq": pa.nulls(n, columnar.STRING_LIST),
            "image_ids": pa.nulls(n, columnar.STRING_LIST),
        }
        retweet = pc.fill_null(is_retweet, False)
        # Retweets without retweet_tweetid are keyed on what was retweeted (see the module docstring).
        keyless = pc.and_(retweet, pc.is_null(retweet_of))
        if pc.any(keyless).as_py():
            with_text = pc.fill_null(pc.and_(keyless, pc.is_valid(text)), False)
            if pc.any(with_text).as_py():
                keys = self._keys(pc.filter(retweeted_user, with_text), pc.filter(text, with_text))
                columns["reshare_of"] = pc.replace_with_mask(columns["reshare_of"], with_text, keys)
            no_text = pc.sum(pc.and_(keyless, pc.is_null(text)).cast(pa.int64())).as_py() or 0
            if no_text:
                self.count_unmapped("is_retweet", "retweet without retweet_tweetid or text", no_text)
        unknown = pc.and_(pc.is_null(lang), pc.is_valid(raw_lang))
        if pc.any(unknown).as_py():
            for item in pc.value_counts(pc.filter(raw_lang, unknown)).to_pylist():
                self._unmapped_language("tweet_language", item["values"], item["counts"])
        extra_columns = [c for c in table.column_names if c not in POST_COLUMNS and c not in ACCOUNT_COLUMNS]
        flag = pc.if_else(retweet, pa.scalar("true"), pa.scalar(None, pa.string()))
        columns["extra"] = columnar.extra_map(table, extra_columns, [("is_retweet", flag)])
        return pa.Table.from_arrays([columns[f.name] for f in POSTS.schema], schema=POSTS.schema)

    def _keys(self, userids: pa.Array, texts: pa.Array) -> pa.Array:
        """``retweet_keys`` of retweets (retweeted user id or null, text), vectorised.

        The prefix is found by RE2 (``_RT_PREFIX_RE2``), the normal forms by Arrow, the SHA-1 by
        DuckDB; texts where RE2's ASCII handle class could differ from Python's ``\\w`` go through
        ``retweet_keys`` (``self._retweet_keys``, once per distinct text and user id).
        """
        python = pc.fill_null(pc.match_substring_regex(texts, _RT_UNICODE_HANDLE_RE2), False)
        handle = pc.struct_field(pc.extract_regex(texts, _RT_PREFIX_RE2), "handle")
        bodies = pc.replace_substring_regex(texts, _RT_PREFIX_RE2, "", max_replacements=1)
        forms = _normal_array(bodies)
        basis = pc.if_else(
            pc.fill_null(pc.greater(pc.utf8_length(forms), 0), False),
            forms,
            pc.utf8_trim(bodies, _PY_SPACES),
        )
        given = pc.fill_null(pc.greater(pc.utf8_length(userids), 0), False)
        author = pc.if_else(
            given,
            userids,
            pc.fill_null(pc.binary_join_element_wise("@", pc.ascii_lower(handle), ""), ""),
        )
        con = self._text_rules.duck()
        con.register("vg_rt", pa.table({"author": author, "basis": basis}))
        try:
            keys = con.sql(
                "SELECT 'rt:' || author || ':' || left(sha1(basis), 16) AS k FROM vg_rt"
            ).to_arrow_table()
        finally:
            con.unregister("vg_rt")
        result = keys.column("k").combine_chunks()
        if pc.any(python).as_py():
            basis_py = pc.binary_join_element_wise(pc.fill_null(userids, ""), texts, "\x00")
            slow = columnar.distinct_apply(
                pc.if_else(python, basis_py, None), self._retweet_keys, pa.string()
            )
            result = pc.if_else(python, slow, result)
        return result

    def _row_posts(self, batch: SourceBatch) -> pa.Table:
        builder = posts_builder()
        if "tweetid" not in batch.column_names:
            return builder.build()
        extra_columns = [c for c in batch.column_names if c not in POST_COLUMNS and c not in ACCOUNT_COLUMNS]
        time_format = self.options.time_format
        col = {name: batch.column(name) for name in POST_COLUMNS}
        extras = [(name, batch.column(name)) for name in extra_columns]
        retweet_userids = batch.column("retweet_userid")
        # Retweets without retweet_tweetid: (builder row, retweeted user id or None, text), keyed
        # after the loop so the texts are normalised in one vectorised call.
        pending: list[tuple[int, str | None, str]] = []
        for i in range(batch.num_rows):
            # One try per row, not per cell: ``where`` names the column being read when it fails.
            where = "tweetid"
            try:
                post_id = need(parse_id(col["tweetid"][i]), "a tweet id")
                where = "userid"
                account_id = need(parse_id(col["userid"][i]), "a user id")
                where = "tweet_time"
                when = col["tweet_time"][i]
                need(None if is_missing(when) else when, "the time of the tweet")
                created_at = parse_time(when, time_format)
                where = "is_retweet"
                is_retweet = parse_bool(col["is_retweet"][i])
                where = "retweet_tweetid"
                retweet_of = parse_id(col["retweet_tweetid"][i])
                where = "retweet_userid"
                retweeted_user = parse_id(retweet_userids[i])
                where = "in_reply_to_tweetid"
                reply_to = parse_id(col["in_reply_to_tweetid"][i])
                text = as_text(col["tweet_text"][i])
                # A list cell ("[]" included) is trusted; an empty cell or no column: read the text.
                where = "hashtags"
                hashtags = col["hashtags"][i]
                hashtags = extract_hashtags(text) if is_missing(hashtags) else _unique(parse_list(hashtags))
                where = "urls"
                urls = col["urls"][i]
                urls = extract_urls(text) if is_missing(urls) else parse_list(urls, urls=True)
            except BadValue as exc:
                raise batch.error(i, where, exc.message, exc.expected) from None
            lang = normalize_lang(raw_lang := col["tweet_language"][i])
            if lang is None and raw_lang is not None:
                self._unmapped_language("tweet_language", raw_lang)
            extra = {name: v for name, values in extras if (v := as_text(values[i])) is not None}
            reshare_of = retweet_of if is_retweet is not False else None
            if is_retweet:
                extra["is_retweet"] = "true"
                if retweet_of is None:
                    if text is None or not text.strip():
                        self.count_unmapped("is_retweet", "retweet without retweet_tweetid or text")
                    else:
                        pending.append((builder.num_rows, retweeted_user, text))
            builder.add(
                platform=self.platform,
                post_id=post_id,
                account_id=account_id,
                account_handle=as_text(col["user_screen_name"][i]),
                created_at=created_at,
                text=text,
                lang=lang,
                lang_detected=False if lang else None,
                urls=url_structs(urls),
                hashtags=hashtags,
                mentions=extract_mentions(text),
                reshare_of=reshare_of,
                reply_to=reply_to,
                extra=extra,
            )
        if pending:
            for (row, _, _), key in zip(pending, retweet_keys(pending), strict=True):
                builder.set(row, "reshare_of", key)
        return builder.build()

    def _unmapped_language(self, column: str, value: Any, count: int = 1) -> None:
        text = as_text(value)
        if text is not None and text.strip().lower() not in _NO_LANGUAGE:
            self.count_unmapped(column, text, count)

    def to_accounts(self, batch: SourceBatch) -> pa.Table | None:
        names = set(batch.column_names)
        if not names.intersection(ACCOUNT_COLUMNS):
            return None
        if self.options.columnar and batch.table is not None and batch.num_rows:
            try:
                last = self._last_profiles(batch)
            except (columnar.NotColumnar, BadValue):
                pass  # the row path reads every row and names the bad cell
            else:
                # Unknown account languages count once per row, as on the row path.
                counted = {column: dict(values) for column, values in self.unmapped.items()}
                accounts = self._row_accounts(last)
                self.unmapped = counted
                if "account_language" in batch.column_names:
                    raw = columnar.text_column(batch.table, "account_language")
                    unknown = pc.and_(pc.is_null(self._text_rules.languages(raw)), pc.is_valid(raw))
                    for item in pc.value_counts(pc.filter(raw, unknown)).to_pylist():
                        self._unmapped_language("account_language", item["values"], item["counts"])
                return accounts
        return self._row_accounts(batch)

    def _last_profiles(self, batch: SourceBatch) -> SourceBatch:
        """One row per account, in order of first appearance, holding the account's last row.

        The profile repeats on every tweet; the row path keeps the last one per account. Every
        row's typed profile values are checked here first (once per distinct value), so a bad one
        anywhere still goes to the row path and its error.
        """
        table = batch.table
        assert table is not None
        auto = TimeFormat("auto")
        for name, rule, fine in (
            ("account_creation_date", lambda v: parse_optional_time(v, auto), None),
            ("follower_count", parse_int, columnar.PLAIN_COUNT),
            ("following_count", parse_int, columnar.PLAIN_COUNT),
        ):
            if name in table.column_names:
                columnar.check_each(columnar.text_column(table, name), rule, fine)
        userid = columnar.blank_to_null(columnar.text_column(table, "userid"))
        account = columnar.require(columnar.ids(userid))
        positions = pa.table({"account": account, "at": pa.array(np.arange(table.num_rows))})
        spans = positions.group_by("account", use_threads=False).aggregate([("at", "min"), ("at", "max")])
        order = np.argsort(spans.column("at_min").to_numpy(), kind="stable")
        last = pc.take(spans.column("at_max"), pa.array(order))
        return SourceBatch(
            file=batch.file, first_row=batch.first_row, num_rows=len(last),
            column_names=batch.column_names, table=table.take(last),
        )  # fmt: skip

    def _row_accounts(self, batch: SourceBatch) -> pa.Table:
        col = {name: batch.column(name) for name in ("userid", "user_screen_name", *ACCOUNT_COLUMNS)}
        auto = TimeFormat("auto")
        # The profile repeats on every tweet: keep one row per account per batch (the last).
        rows: dict[str, dict[str, Any]] = {}
        for i in range(batch.num_rows):
            where = "userid"
            try:
                account_id = need(parse_id(col["userid"][i]), "a user id")
                where = "account_creation_date"
                created_at = parse_optional_time(col["account_creation_date"][i], auto)
                where = "follower_count"
                followers = parse_int(col["follower_count"][i])
                where = "following_count"
                following = parse_int(col["following_count"][i])
            except BadValue as exc:
                raise batch.error(i, where, exc.message, exc.expected) from None
            rows[account_id] = {
                "platform": self.platform,
                "account_id": account_id,
                "handle": as_text(col["user_screen_name"][i]),
                "display_name": as_text(col["user_display_name"][i]),
                "created_at": created_at,
                "followers": followers,
                "following": following,
                "lang": self._account_lang(col["account_language"][i]),
                "extra": {c: v for c in ACCOUNT_EXTRA if (v := as_text(col[c][i])) is not None},
            }
        builder = accounts_builder()
        for row in rows.values():
            builder.add(**row)
        return builder.build()

    def _account_lang(self, value: Any) -> str | None:
        lang = normalize_lang(value)
        if lang is None and value is not None:
            self._unmapped_language("account_language", value)
        return lang


def retweet_keys(retweets: list[tuple[int, str | None, str]]) -> list[str]:
    """Reshare keys of retweets without retweet_tweetid: (row, retweeted user id, text) each.

    ``rt:<userid>:<digest>``, ``rt:@<handle>:<digest>`` (from an ``RT @handle:`` prefix) or
    ``rt::<digest>``; the digest is of the text's normal form without the prefix (the raw text
    when nothing is left of it, e.g. a retweet of a bare link).
    """
    authors: list[str] = []
    bodies: list[str] = []
    for _, userid, text in retweets:
        match = _RT_PREFIX.match(text)
        if match is not None:
            text = text[match.end() :]
        authors.append(userid if userid else f"@{match.group(1).lower()}" if match else "")
        bodies.append(text)
    normal = _normal_forms(bodies)
    keys = []
    for author, body, form in zip(authors, bodies, normal, strict=True):
        basis = form if form else body.strip()
        digest = hashlib.sha1(basis.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]
        keys.append(f"rt:{author}:{digest}")
    return keys


def _normal_forms(texts: list[str]) -> list[str | None]:
    """``normalize_texts`` of many texts, in two threads (Arrow's kernels release the GIL)."""
    array = pa.array(texts, pa.string())
    if len(texts) < 4_000:
        return normalize_texts(array).to_pylist()  # type: ignore[no-any-return]
    half = len(texts) // 2
    with ThreadPoolExecutor(2) as pool:
        parts = list(pool.map(normalize_texts, (array.slice(0, half), array.slice(half))))
    return [*parts[0].to_pylist(), *parts[1].to_pylist()]


def _normal_array(texts: pa.Array) -> pa.Array:
    """``normalize_texts`` of a string array, in two threads when large (Arrow releases the GIL)."""
    if len(texts) < 4_000:
        return normalize_texts(texts)
    half = len(texts) // 2
    with ThreadPoolExecutor(2) as pool:
        parts = list(pool.map(normalize_texts, (texts.slice(0, half), texts.slice(half))))
    return pa.concat_arrays(parts)


def _retweet_keys_of(bases: list[str]) -> list[str]:
    """``retweet_keys`` of retweets given as ``"<retweeted user id>\\x00<text>"``."""
    parts = [basis.partition("\x00") for basis in bases]
    return retweet_keys([(0, userid or None, text) for userid, _, text in parts])


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(item.lstrip("#").lower() for item in items if item.lstrip("#")))
