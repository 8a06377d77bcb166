"""The German federal election 2021 data set (CooRTweet's ``german_elections``): one row per
(post, shared object) with anonymized integer ids.

Columns: account_id ("fb_..." or "tw_..."), post_id, url_id, hashtag_id, domain_id, phash_id,
timestamp (POSIX seconds). A post's rows need not be adjacent, so rows are grouped into posts by
DuckDB (out of core: it spills to disk beyond the configured memory limit) rather than in Python.

Representation, chosen so that detection's co-URL, co-domain, co-hashtag and co-image traces work
on it unchanged (equal ids mean equal objects, nothing else):

* platform: ``facebook`` for ``fb_`` accounts, ``twitter`` for ``tw_``; account ids keep their prefix;
* urls: one struct per distinct (url_id, domain_id): url = canonical = ``url:<url_id>``, domain =
  ``domain:<domain_id>``; a row with a domain but no URL gives a struct whose url and canonical are
  null (the domain was shared, the URL is unknown);
* hashtags: ``hashtag:<hashtag_id>``; image_ids: ``phash:<phash_id>`` (anonymized ids, not PDQ hex);
* created_at: the timestamp (the earliest if a post's rows disagree); no text, so no language.

Rows without a post_id (three in the published file, each with no object) cannot be a post and
are skipped; the summary counts them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import DataError
from vigil.ingest.adapters.base import Adapter, posts_builder
from vigil.ingest.duck import connect, first_row, sql_string
from vigil.ingest.readers import SourceBatch, check_kind

REQUIRED = ("account_id", "post_id", "timestamp")
OBJECTS = ("url_id", "hashtag_id", "domain_id", "phash_id")
PLATFORMS = {"fb_": "facebook", "tw_": "twitter"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class GermanElectionsAdapter(Adapter):
    name: ClassVar[str] = "german-elections"
    description: ClassVar[str] = "CooRTweet's German election 2021 data: one row per (post, object)"

    def _source(self, con: duckdb.DuckDBPyConnection, path: Path, fmt: str) -> None:
        """A view ``src`` of the file with every object column (null if absent) and a 1-based ``row``."""
        if fmt == "parquet":
            scan = f"read_parquet({sql_string(path)})"
        elif fmt == "csv":
            scan = f"read_csv({sql_string(path)}, header = true)"
        else:
            scan = f"read_json({sql_string(path)}, format = 'newline_delimited')"
        try:
            names = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()]
        except duckdb.Error as exc:
            raise DataError(f"cannot read as {fmt}: {_first_line(exc)}", file=str(path)) from exc
        self.check_columns(str(path), names)
        objects = ", ".join(name if name in names else f"NULL::BIGINT AS {name}" for name in OBJECTS)
        con.execute(
            f"CREATE TEMP VIEW src AS SELECT account_id, post_id, timestamp, {objects}, "
            f"row_number() OVER () AS row FROM {scan}"
        )

    def required_columns(self, column_names: list[str]) -> tuple[str, ...]:
        return REQUIRED

    def _validate(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        checks = [
            ("account_id", "account_id IS NULL", "missing value", "an account id"),
            (
                "account_id",
                "NOT (starts_with(CAST(account_id AS VARCHAR), 'fb_') "
                "OR starts_with(CAST(account_id AS VARCHAR), 'tw_'))",
                "account id without a platform prefix: {value!r}",
                "fb_<id> or tw_<id>",
            ),
            ("timestamp", "timestamp IS NULL", "missing value", "POSIX seconds"),
            (
                "timestamp",
                "TRY_CAST(timestamp AS DOUBLE) IS NULL OR isnan(TRY_CAST(timestamp AS DOUBLE))",
                "not a timestamp: {value!r}",
                "POSIX seconds",
            ),
        ]
        for column, condition, message, expected in checks:
            found = first_row(
                con, f"SELECT row, CAST({column} AS VARCHAR) FROM src WHERE {condition} ORDER BY row LIMIT 1"
            )
            if found is not None:
                raise DataError(message.format(value=found[1]), file=str(path), row=int(found[0]),
                                column=column, expected=expected)  # fmt: skip
        clash = first_row(
            con,
            "SELECT post_id, min(account_id), max(account_id) FROM src WHERE post_id IS NOT NULL "
            "GROUP BY substr(CAST(account_id AS VARCHAR), 1, 3), post_id "
            "HAVING count(DISTINCT account_id) > 1 ORDER BY post_id LIMIT 1",
        )
        if clash is not None:
            raise DataError(
                f"post {clash[0]} appears under two accounts, {clash[1]} and {clash[2]}",
                file=str(path), column="post_id", expected="one account per post",
            )  # fmt: skip

    def batches(self, path: Path, fmt: str) -> Iterator[SourceBatch]:
        check_kind(path, fmt)
        con = connect(self.options.settings)
        try:
            self._source(con, path, fmt)
            self._validate(con, path)
            skipped = first_row(con, "SELECT count(*) FROM src WHERE post_id IS NULL")
            if skipped and skipped[0]:
                self.skipped["no post id"] = self.skipped.get("no post id", 0) + int(skipped[0])
            reader = con.sql(
                """
                SELECT CAST(account_id AS VARCHAR) AS account_id,
                       CAST(post_id AS VARCHAR) AS post_id,
                       min(CAST(timestamp AS DOUBLE)) AS ts,
                       list([url_id, domain_id] ORDER BY row)
                           FILTER (WHERE url_id IS NOT NULL OR domain_id IS NOT NULL) AS links,
                       list(hashtag_id ORDER BY row) FILTER (WHERE hashtag_id IS NOT NULL) AS hashtags,
                       list(phash_id ORDER BY row) FILTER (WHERE phash_id IS NOT NULL) AS phashes,
                       min(row) AS first_row,
                       count(*) AS rows
                FROM src WHERE post_id IS NOT NULL
                GROUP BY ALL
                ORDER BY first_row
                """
            ).to_arrow_reader(self.options.batch_size)
            for record_batch in reader:
                table = pa.Table.from_batches([record_batch])
                first = int(table.column("first_row")[0].as_py()) if table.num_rows else 1
                yield SourceBatch(
                    file=str(path), first_row=first, num_rows=table.num_rows,
                    column_names=list(table.column_names), table=table,
                )  # fmt: skip
        except duckdb.Error as exc:
            raise DataError(f"cannot read as {fmt}: {_first_line(exc)}", file=str(path)) from exc
        finally:
            con.close()

    def source_rows(self, batch: SourceBatch) -> int:
        """Source rows grouped into this batch's posts (progress counts source rows)."""
        assert batch.table is not None
        return int(pc.sum(batch.table.column("rows")).as_py() or 0)

    def to_posts(self, batch: SourceBatch) -> pa.Table:
        builder = posts_builder()
        col = batch.columns
        for account_id, post_id, ts, links, hashtags, phashes in zip(
            col["account_id"], col["post_id"], col["ts"], col["links"], col["hashtags"], col["phashes"],
            strict=True,
        ):  # fmt: skip
            builder.add(
                platform=PLATFORMS[account_id[:3]],
                post_id=post_id,
                account_id=account_id,
                created_at=_EPOCH + timedelta(seconds=ts),
                urls=_links(links or []),
                hashtags=_ids("hashtag", hashtags),
                image_ids=_ids("phash", phashes),
            )
        return builder.build()


def _first_line(exc: Exception) -> str:
    # DuckDB appends the failing SQL on further lines; the user needs only the reason.
    return str(exc).strip().splitlines()[0]


def _ids(kind: str, values: list[Any] | None) -> list[str]:
    return list(dict.fromkeys(f"{kind}:{value}" for value in values or []))


def _links(pairs: list[list[Any]]) -> list[dict[str, object]]:
    structs: dict[tuple[Any, Any], dict[str, object]] = {}
    for url_id, domain_id in pairs:
        url = None if url_id is None else f"url:{url_id}"
        domain = None if domain_id is None else f"domain:{domain_id}"
        structs.setdefault(
            (url_id, domain_id), {"url": url, "canonical": url, "domain": domain, "is_shortener": False}
        )
    return list(structs.values())
