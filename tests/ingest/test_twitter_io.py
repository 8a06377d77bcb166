"""The Twitter information-operations layout on small archive-shaped files."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.ingest.conftest import by_key, read_rows
from vigil.core.errors import DataError
from vigil.ingest.pipeline import ingest


def _digest(normal_form: str) -> str:
    return hashlib.sha1(normal_form.encode(), usedforsecurity=False).hexdigest()[:16]


@pytest.fixture(scope="module")
def ingested(fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("twitter_io")
    ingest(
        [fixtures / "twitter_io_tweets.csv", fixtures / "twitter_io_users.csv"],
        layout="twitter-io",
        out_dir=out,
    )
    return out


def test_posts(ingested: Path) -> None:
    posts = by_key(read_rows(ingested / "posts.parquet"))
    assert list(posts) == ["1001", "1002", "1003", "1004"]
    first = posts["1001"]
    assert first["platform"] == "twitter"
    assert first["account_id"] == "5001"
    assert first["account_handle"] == "PatriotNews"
    assert first["created_at"] == datetime(2022, 4, 8, 18, 5, tzinfo=UTC)
    assert (first["lang"], first["lang_detected"]) == ("fr", False)
    assert first["hashtags"] == ["élection2022", "vote"]
    assert first["urls"] == [
        {
            "url": "https://www.lemonde.fr/politique/article/?utm_source=twitter&id=7",
            "canonical": "https://lemonde.fr/politique/article?id=7",
            "domain": "lemonde.fr",
            "is_shortener": False,
        },
        {
            "url": "http://bit.ly/3xYz",
            "canonical": "https://bit.ly/3xYz",
            "domain": "bit.ly",
            "is_shortener": True,
        },
    ]
    # columns Vigil has no field for, including ones the layout does not know, are kept in extra
    assert first["extra"] == {
        "tweet_client_name": "Twitter Web Client",
        "latitude": "absent",
        "longitude": "absent",
        "quote_count": "1",
        "reply_count": "0",
        "like_count": "12",
        "retweet_count": "30.0",
        "user_mentions": "[]",
        "campaign": "france_0422",
    }


def test_retweet_reply_quote_and_detected_language(ingested: Path) -> None:
    posts = by_key(read_rows(ingested / "posts.parquet"))
    retweet = posts["1002"]
    assert retweet["reshare_of"] == "1001"
    assert retweet["mentions"] == ["patriotnews"]
    assert retweet["hashtags"] == ["الانتخابات"]
    assert (retweet["lang"], retweet["lang_detected"]) == ("ar", True)  # tweet_language was empty
    assert retweet["extra"]["user_mentions"] == "[5001]"  # type: ignore[index]
    reply = posts["1003"]
    assert reply["reply_to"] == "1001"
    assert reply["reshare_of"] is None
    assert reply["text"].endswith("\nCheck https://www.elections.example.gov/hours")  # type: ignore[union-attr]
    # empty urls cell: URLs come from the text
    assert [u["canonical"] for u in reply["urls"]] == ["https://elections.example.gov/hours"]  # type: ignore[union-attr]
    quote = posts["1004"]
    assert (quote["lang"], quote["lang_detected"]) == ("fr", True)  # "und" means not given
    assert quote["extra"]["quoted_tweet_tweetid"] == "1003"  # type: ignore[index]


def test_accounts_deduplicated_with_profiles(ingested: Path) -> None:
    accounts = by_key(read_rows(ingested / "accounts.parquet"), "account_id")
    assert sorted(accounts) == sorted(
        ["5001", "5002", "5003", "4a7f1c0e2b9d8a6f5e3c1b0a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e"]
    )
    patriot = accounts["5001"]
    # the users file comes last, so its profile wins
    assert patriot["followers"] == 15400
    assert patriot["handle"] == "PatriotNews"
    assert patriot["created_at"] == datetime(2016, 3, 14, tzinfo=UTC)
    assert patriot["extra"] == {"user_reported_location": "Lyon"}
    assert accounts["5003"]["display_name"] == "Silent Account"  # only in the users file
    assert accounts["5002"]["lang"] == "en"


def test_bad_timestamp_names_file_row_and_column(fixtures: Path, tmp_path: Path) -> None:
    path = fixtures / "twitter_io_bad_time.csv"
    with pytest.raises(DataError) as info:
        ingest([path], layout="twitter-io", out_dir=tmp_path / "out")
    # row 3 is the third record after the header, although its text spans two lines
    assert str(info.value) == (
        f"{path}, row 3, column 'tweet_time': not a timestamp: 'yesterday'; "
        "expected ISO 8601 or POSIX seconds"
    )
    assert info.value.exit_code == 2
    assert not (tmp_path / "out" / "posts.parquet").exists()


def test_missing_required_column(fixtures: Path, tmp_path: Path) -> None:
    path = fixtures / "twitter_io_no_time.csv"
    with pytest.raises(DataError) as info:
        ingest([path], layout="twitter-io", out_dir=tmp_path)
    assert str(info.value) == f"{path}, column 'tweet_time': missing column required by the twitter-io layout"


def test_missing_tweet_id(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("tweetid,userid,tweet_time\n1,2,2020-01-01\n,3,2020-01-01\n")
    with pytest.raises(DataError) as info:
        ingest([path], layout="twitter-io", out_dir=tmp_path / "out")
    assert str(info.value) == f"{path}, row 2, column 'tweetid': missing value; expected a tweet id"


def test_bad_profile_value(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text(
        "userid,user_screen_name,follower_count,account_creation_date\n1,a,10,2020-01-01\n2,b,many,2020-01-01\n"
    )
    with pytest.raises(DataError) as info:
        ingest([path], layout="twitter-io", out_dir=tmp_path / "out")
    assert (
        str(info.value)
        == f"{path}, row 2, column 'follower_count': not an integer: 'many'; expected a whole number"
    )


def test_archive_shaped_rows(fixtures: Path, tmp_path: Path) -> None:
    # As published: base64-hashed ids, Python-repr lists, counts written as floats, "absent" geo,
    # a retweet whose retweet_tweetid was withheld.
    summary = ingest([fixtures / "twitter_io_archive_shape.csv"], layout="twitter-io", out_dir=tmp_path)
    assert (summary.posts, summary.accounts, summary.shorteners) == (2, 2, 1)
    first, second = read_rows(tmp_path / "posts.parquet")
    assert first["account_id"] == "Qk3x9VtYp2Lr8aZ0cWmN4sDfGh7JkLzXcVbNm1QwErT="
    assert first["lang"] == "bn"
    assert first["urls"] == [
        {
            "url": "http://dlvr.it/PgB3PP",
            "canonical": "https://dlvr.it/PgB3PP",
            "domain": "dlvr.it",
            "is_shortener": True,
        }
    ]
    assert first["extra"]["like_count"] == "0.0"  # type: ignore[index]  # extra keeps the text as written
    assert second["hashtags"] == ["uno", "dos"]
    # retweet_tweetid withheld: keyed on the "RT @someone:" prefix and the text's normal form
    assert second["reshare_of"] == f"rt:@someone:{_digest('another post')}"
    assert second["extra"]["is_retweet"] == "true"  # type: ignore[index]
    assert second["mentions"] == ["someone"]
    accounts = by_key(read_rows(tmp_path / "accounts.parquet"), "account_id")
    assert accounts["Qk3x9VtYp2Lr8aZ0cWmN4sDfGh7JkLzXcVbNm1QwErT="]["followers"] == 17
    assert accounts["Qk3x9VtYp2Lr8aZ0cWmN4sDfGh7JkLzXcVbNm1QwErT="]["extra"] == {
        "user_reported_location": "Dhaka, Bangladesh",
        "user_profile_description": "Only news portal",
    }


HEADER = (
    "tweetid,userid,user_screen_name,tweet_language,tweet_text,tweet_time,"
    "is_retweet,retweet_userid,retweet_tweetid"
)
RETWEETS = f"""{HEADER}
1,u1,a,en,"Vote NOW! https://t.co/x",2017-01-01 00:00,True,,
2,u2,b,en,"vote now https://t.co/y",2017-01-01 00:01,True,,
3,u3,c,en,"RT @Origin: Vote now!",2017-01-01 00:02,true,,
4,u4,d,en,"Vote now!",2017-01-01 00:03,True,u9,
5,u5,e,english,"Vote now!",2017-01-01 00:04,False,,
6,u6,f,en,,2017-01-01 00:05,True,,
7,u7,g,xx-klingon,"RT @x: hi",2017-01-01 00:06,True,u8,77
"""


def test_retweets_without_ids_are_keyed_on_what_was_retweeted(tmp_path: Path) -> None:
    path = tmp_path / "tweets.csv"
    path.write_text(RETWEETS)
    summary = ingest([path], layout="twitter-io", out_dir=tmp_path / "out")
    posts = by_key(read_rows(tmp_path / "out" / "posts.parquet"))
    key = f"rt::{_digest('vote now')}"
    # the same text, however cased and whatever link: one key, so they co-reshare
    assert posts["1"]["reshare_of"] == posts["2"]["reshare_of"] == key
    assert posts["3"]["reshare_of"] == f"rt:@origin:{_digest('vote now')}"
    assert posts["4"]["reshare_of"] == f"rt:u9:{_digest('vote now')}"
    assert posts["5"]["reshare_of"] is None and "is_retweet" not in (posts["5"]["extra"] or {})
    assert posts["6"]["reshare_of"] is None and posts["6"]["extra"] == {"is_retweet": "true"}
    assert posts["7"]["reshare_of"] == "77"  # an id wins
    assert all(posts[i]["extra"]["is_retweet"] == "true" for i in "12346")  # type: ignore[index]
    # every value no field could take is counted and reported
    assert summary.unmapped == {
        "tweet_language": {"english": 1, "xx-klingon": 1},
        "is_retweet": {"retweet without retweet_tweetid or text": 1},
    }
    assert summary.as_dict()["unmapped"]["tweet_language"] == {"english": 1, "xx-klingon": 1}


def test_zip_and_gzip_archives(tmp_path: Path) -> None:
    archive = tmp_path / "release.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("release/tweets_1.csv", RETWEETS)
        zf.writestr("release/tweets_2.csv", RETWEETS.replace("\n1,u1", "\n101,u1"))
        zf.writestr("__MACOSX/release/._tweets_1.csv", "junk")
    summary = ingest([archive], layout="twitter-io", out_dir=tmp_path / "out", keep_duplicates=True)
    assert summary.posts == 14
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("t.csv", RETWEETS.replace("2017-01-01 00:03", "soon"))
    with pytest.raises(DataError) as info:
        ingest([bad], layout="twitter-io", out_dir=tmp_path / "out2")
    assert str(info.value).startswith(f"{bad}!t.csv, row 4, column 'tweet_time'")
