"""Twitter's information-operations archive (transparency.twitter.com, 2018-2021 releases).

Tweet files have one row per tweet with the author's profile repeated on every row (tweetid,
userid, user_screen_name, tweet_time "2018-01-01 12:34", is_retweet "True", hashtags "[vote, usa]",
urls "[http://...]", user_mentions "[12345, 67890]" ...). Users files have the profile columns
without tweetid and give accounts only. Releases hash the userid and screen name of accounts with
few followers; the hashes are kept as they are (equal hash, same account).

Mapping (docs/schema.md has the full table): hashtags and urls come from their list columns where
a row has a value there (``[]`` meaning none), else from the text; mentions are the handles
written in the text (the archive's user_mentions holds user ids, kept in ``extra``); reshare_of
is retweet_tweetid, reply_to is in_reply_to_tweetid; every other tweet column, known or not, goes
to ``extra``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa

from vigil.ingest.adapters.base import (
    Adapter,
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
    parse_bool,
    parse_id,
    parse_int,
    parse_list,
    parse_optional_time,
    parse_time,
)

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


class TwitterIOAdapter(Adapter):
    name: ClassVar[str] = "twitter-io"
    description: ClassVar[str] = "Twitter information-operations archive (tweets or users files)"

    def required_columns(self, column_names: list[str]) -> tuple[str, ...]:
        if "tweetid" not in column_names and "userid" in column_names:
            return ("userid",)  # a users file
        return ("tweetid", "userid", "tweet_time")

    @property
    def platform(self) -> str:
        return self.options.platform or PLATFORM

    def to_posts(self, batch: SourceBatch) -> pa.Table:
        builder = posts_builder()
        if "tweetid" not in batch.column_names:
            return builder.build()
        extra_columns = [c for c in batch.column_names if c not in POST_COLUMNS and c not in ACCOUNT_COLUMNS]
        time_format = self.options.time_format
        col = {name: batch.column(name) for name in POST_COLUMNS}
        extras = [(name, batch.column(name)) for name in extra_columns]
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
            lang = normalize_lang(col["tweet_language"][i])
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
                reshare_of=retweet_of if is_retweet is not False else None,
                reply_to=reply_to,
                extra={name: v for name, values in extras if (v := as_text(values[i])) is not None},
            )
        return builder.build()

    def to_accounts(self, batch: SourceBatch) -> pa.Table | None:
        names = set(batch.column_names)
        if not names.intersection(ACCOUNT_COLUMNS):
            return None
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
                "lang": normalize_lang(col["account_language"][i]),
                "extra": {c: v for c in ACCOUNT_EXTRA if (v := as_text(col[c][i])) is not None},
            }
        builder = accounts_builder()
        for row in rows.values():
            builder.add(**row)
        return builder.build()


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(item.lstrip("#").lower() for item in items if item.lstrip("#")))
