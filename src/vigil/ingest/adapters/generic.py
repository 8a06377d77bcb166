"""Any CSV, JSON Lines or Parquet file of posts, with its columns mapped onto Vigil's fields.

Each Vigil field is read from the column of the same name unless ``--map FIELD=COLUMN`` names
another. post_id, account_id and created_at are required; the platform comes from a column or from
``--platform``. Timestamps follow ``--time-format``; list fields (urls, hashtags, mentions,
image_pdq, image_ids) may be lists, JSON arrays or separator-joined strings. Where a row has no
hashtag, mention or URL value (an empty cell, or no such column) they are extracted from the text;
an empty list (``[]``) means none. Columns no field uses go to
``extra``. Account fields (display_name, followers, following, account_created_at, account_lang)
fill the accounts table.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import DataError, InputError
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
from vigil.ingest.values import (
    BadValue,
    TimeFormat,
    as_text,
    is_missing,
    normalize_lang,
    parse_id,
    parse_int,
    parse_list,
    parse_optional_time,
    parse_time,
)
from vigil.schema.tables import POSTS

POST_FIELDS = (
    "platform", "post_id", "account_id", "account_handle", "created_at", "text", "lang", "urls",
    "hashtags", "mentions", "reshare_of", "reply_to", "image_pdq", "image_ids",
)  # fmt: skip
ACCOUNT_FIELDS = ("display_name", "followers", "following", "account_created_at", "account_lang")
FIELDS = POST_FIELDS + ACCOUNT_FIELDS
REQUIRED_FIELDS = ("post_id", "account_id", "created_at")
_PDQ = re.compile(r"^[0-9a-f]{64}$")


def _pdq(value: str) -> str:
    code = value.strip().lower()
    if not _PDQ.match(code):
        raise BadValue(f"not a PDQ hash: {value!r}", "64 hexadecimal characters")
    return code


def _url_items(value: Any, separator: str | None) -> list[str]:
    # Vigil's own JSON gives URLs as objects {"url": ..., "canonical": ...}.
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [str(item.get("url") or item.get("canonical")) for item in value if isinstance(item, dict)]
    return parse_list(value, separator=separator, urls=True)


def _sigil_free(items: list[str], sigil: str) -> list[str]:
    return list(dict.fromkeys(item.lstrip(sigil).lower() for item in items if item.lstrip(sigil)))


class GenericAdapter(Adapter):
    name: ClassVar[str] = "generic"
    description: ClassVar[str] = "any CSV/JSONL/Parquet of posts; map columns with --map FIELD=COLUMN"
    parallel: ClassVar[bool] = True

    def __init__(self, options: AdapterOptions) -> None:
        super().__init__(options)
        unknown = sorted(set(options.mapping) - set(FIELDS))
        if unknown:
            raise InputError(
                f"--map {unknown[0]}=...: unknown field {unknown[0]!r}; fields are {', '.join(FIELDS)}"
            )
        self.columns = {name: options.mapping.get(name, name) for name in FIELDS}
        sep = options.list_separator
        # The columnar path's per-value rules, remembered across batches (vigil.ingest.columnar).
        lists = columnar.STRING_LIST
        self._rules = {
            "urls": columnar.ArrowMemo(lambda v: _url_items(v, sep), lists),
            "hashtags": columnar.ArrowMemo(lambda v: _sigil_free(parse_list(v, separator=sep), "#＃"), lists),
            "mentions": columnar.ArrowMemo(lambda v: _sigil_free(parse_list(v, separator=sep), "@＠"), lists),
            "image_pdq": columnar.ArrowMemo(
                lambda v: list(dict.fromkeys(_pdq(item) for item in parse_list(v, separator=sep))), lists
            ),
            "image_ids": columnar.ArrowMemo(
                lambda v: list(dict.fromkeys(parse_list(v, separator=sep))), lists
            ),
        }
        self._text_rules = columnar.TextRules()
        self._url_rules = columnar.UrlRules()
        # "[x, y]" list cells are split without Python only where no --list-sep changes them.
        split = sep is None
        self._url_item: str | None = columnar.LIST_ITEM if split else None
        self._url_more: str | None = columnar.URL_ITEM if split else None
        self._word_item = columnar.WORD_ITEM if split else None
        # Link cells to their URL structs, kept across batches (the same cells recur file-wide).
        self._url_lists = columnar.ArrayMemo(
            lambda cells: self._url_rules.lists(
                columnar.lists(
                    cells, self._rules["urls"], columnar.STRING_LIST, self._url_item, self._url_more
                )
            ),
            columnar.URL_LIST,
        )

    def required_columns(self, column_names: list[str]) -> tuple[str, ...]:
        return tuple(self.columns[name] for name in REQUIRED_FIELDS)

    def check_columns(self, file: str, column_names: list[str]) -> None:
        for name in REQUIRED_FIELDS:
            column = self.columns[name]
            if column not in column_names:
                raise DataError(
                    f"missing column for the field {name}",
                    file=file,
                    column=column,
                    expected=f"a column {column!r} or --map {name}=COLUMN",
                )
        if self.columns["platform"] not in column_names and not self.options.platform:
            raise InputError(
                f"{file}: no platform: the file has no {self.columns['platform']!r} column; "
                "give --platform NAME or --map platform=COLUMN"
            )

    def _present(self, batch: SourceBatch) -> dict[str, str]:
        names = set(batch.column_names)
        return {name: column for name, column in self.columns.items() if column in names}

    def to_posts(self, batch: SourceBatch) -> pa.Table:
        if self.options.columnar and batch.table is not None:
            try:
                return self._columnar_posts(batch.table, self._present(batch))
            except (columnar.NotColumnar, BadValue):
                pass  # the row path maps the batch, or names the bad cell
        return self._row_posts(batch)

    def _columnar_posts(self, table: pa.Table, present: dict[str, str]) -> pa.Table:
        """``to_posts`` a column at a time (vigil.ingest.columnar); same table as ``_row_posts``."""
        n = table.num_rows
        rules, text_rules = self._rules, self._text_rules

        def cells(name: str) -> pa.Array:
            if name not in present:
                return pa.nulls(n, pa.string())
            return columnar.blank_to_null(columnar.text_column(table, present[name]))

        platform = cells("platform")
        if self.options.platform:
            platform = pc.fill_null(platform, self.options.platform)
        text = cells("text")
        lang = text_rules.languages(cells("lang"))
        url_cells, tag_cells, mention_cells = cells("urls"), cells("hashtags"), cells("mentions")
        used = set(present.values())
        extras = [c for c in table.column_names if c not in used]
        pdq_cells, id_cells = cells("image_pdq"), cells("image_ids")
        columns = {
            "platform": columnar.require(platform),
            "post_id": columnar.require(columnar.ids(columnar.text_column(table, present["post_id"]))),
            "account_id": columnar.require(columnar.ids(columnar.text_column(table, present["account_id"]))),
            "account_handle": cells("account_handle"),
            "created_at": text_rules.times(cells("created_at"), self.options.time_format),
            "text": text,
            "lang": lang,
            "lang_detected": pc.if_else(pc.is_valid(lang), False, pa.scalar(None, pa.bool_())),
            "urls": columnar.choose_by_cell(
                url_cells,
                self._url_lists,
                text,
                lambda texts: self._url_rules.lists(text_rules.urls(texts)),
                columnar.URL_LIST,
            ),
            "reshare_of": columnar.ids(cells("reshare_of")),
            "reply_to": columnar.ids(cells("reply_to")),
            "image_pdq": columnar.lists(pdq_cells, rules["image_pdq"], columnar.STRING_LIST),
            "image_ids": columnar.lists(id_cells, rules["image_ids"], columnar.STRING_LIST),
            "extra": columnar.extra_map(table, extras),
        }
        if tag_cells.null_count == n and mention_cells.null_count == n:
            # Both from the text (the toolkit's layout has neither column): read the texts once.
            columns["hashtags"], columns["mentions"] = text_rules.hashtags_and_mentions(text)
        else:
            columns["hashtags"] = columnar.choose(
                tag_cells,
                columnar.lists(
                    tag_cells, rules["hashtags"], columnar.STRING_LIST, self._word_item, lower=True
                ),
                text,
                text_rules.hashtags,
            )
            columns["mentions"] = columnar.choose(
                mention_cells,
                columnar.lists(
                    mention_cells, rules["mentions"], columnar.STRING_LIST, self._word_item, lower=True
                ),
                text,
                text_rules.mentions,
            )
        return pa.Table.from_arrays([columns[f.name] for f in POSTS.schema], schema=POSTS.schema)

    def _row_posts(self, batch: SourceBatch) -> pa.Table:
        present = self._present(batch)
        used = set(present.values())
        extras = [(c, batch.column(c)) for c in batch.column_names if c not in used]
        fmt: TimeFormat = self.options.time_format
        time_expected = fmt.expected
        sep = self.options.list_separator
        default_platform = self.options.platform
        none = [None] * batch.num_rows
        col = {name: batch.column(present[name]) if name in present else none for name in POST_FIELDS}
        c = self.columns
        has_pdq, has_ids = "image_pdq" in present, "image_ids" in present
        builder = posts_builder()
        for i in range(batch.num_rows):
            # One try per row, not per cell: ``where`` names the column being read when it fails.
            where = c["platform"]
            try:
                platform = need(
                    as_text(col["platform"][i]) or default_platform, "a platform name, or --platform"
                )
                where = c["post_id"]
                post_id = need(parse_id(col["post_id"][i]), "a post id")
                where = c["account_id"]
                account_id = need(parse_id(col["account_id"][i]), "an account id")
                where = c["created_at"]
                created = col["created_at"][i]
                need(None if is_missing(created) else created, time_expected)
                created_at = parse_time(created, fmt)
                text = as_text(col["text"][i])
                # A list value ("[]" included) is trusted; no value (or no column): read the text.
                where = c["urls"]
                urls = col["urls"][i]
                urls = extract_urls(text) if is_missing(urls) else _url_items(urls, sep)
                where = c["hashtags"]
                hashtags = col["hashtags"][i]
                hashtags = (
                    extract_hashtags(text)
                    if is_missing(hashtags)
                    else _sigil_free(parse_list(hashtags, separator=sep), "#＃")
                )
                where = c["mentions"]
                mentions = col["mentions"][i]
                mentions = (
                    extract_mentions(text)
                    if is_missing(mentions)
                    else _sigil_free(parse_list(mentions, separator=sep), "@＠")
                )
                where = c["image_ids"]
                image_ids = parse_list(col["image_ids"][i], separator=sep) if has_ids else []
                where = c["image_pdq"]
                pdq = (
                    [_pdq(item) for item in parse_list(col["image_pdq"][i], separator=sep)] if has_pdq else []
                )
                where = c["reshare_of"]
                reshare_of = parse_id(col["reshare_of"][i])
                where = c["reply_to"]
                reply_to = parse_id(col["reply_to"][i])
            except BadValue as exc:
                raise batch.error(i, where, exc.message, exc.expected) from None
            lang = normalize_lang(col["lang"][i])
            builder.add(
                platform=platform,
                post_id=post_id,
                account_id=account_id,
                account_handle=as_text(col["account_handle"][i]),
                created_at=created_at,
                text=text,
                lang=lang,
                lang_detected=False if lang else None,
                urls=url_structs(urls),
                hashtags=hashtags,
                mentions=mentions,
                reshare_of=reshare_of,
                reply_to=reply_to,
                image_pdq=list(dict.fromkeys(pdq)),
                image_ids=list(dict.fromkeys(image_ids)),
                extra={name: v for name, values in extras if (v := as_text(values[i])) is not None},
            )
        return builder.build()

    def to_accounts(self, batch: SourceBatch) -> pa.Table | None:
        present = self._present(batch)
        if not any(name in present for name in ACCOUNT_FIELDS):
            return None
        c = self.columns

        def values(field: str) -> list[Any]:
            column = present.get(field)
            return batch.column(column) if column is not None else [None] * batch.num_rows

        get = {name: values(name) for name in ("platform", "account_id", "account_handle", *ACCOUNT_FIELDS)}
        fmt = self.options.time_format
        builder = accounts_builder()
        for i in range(batch.num_rows):
            where = c["platform"]
            try:
                platform = need(as_text(get["platform"][i]) or self.options.platform, "a platform name")
                where = c["account_id"]
                account_id = need(parse_id(get["account_id"][i]), "an account id")
                where = c["account_created_at"]
                created_at = parse_optional_time(get["account_created_at"][i], fmt)
                where = c["followers"]
                followers = parse_int(get["followers"][i])
                where = c["following"]
                following = parse_int(get["following"][i])
            except BadValue as exc:
                raise batch.error(i, where, exc.message, exc.expected) from None
            builder.add(
                platform=platform,
                account_id=account_id,
                handle=as_text(get["account_handle"][i]),
                display_name=as_text(get["display_name"][i]),
                created_at=created_at,
                followers=followers,
                following=following,
                lang=normalize_lang(get["account_lang"][i]),
            )
        return builder.build()
