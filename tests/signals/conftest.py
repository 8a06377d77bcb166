"""A sample post and account that every signal type can derive something from (where it derives at all)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "9e107d9d372bb6826bd81d3542a419d6"


def sample_post() -> dict[str, Any]:
    return {
        "platform": "twitter",
        "post_id": "1001",
        "account_id": "12345",
        "account_handle": "Vote_Bot_77",
        "created_at": datetime(2021, 9, 20, 12, 0, tzinfo=UTC),
        "text": "Les votes par correspondance ont été comptés deux fois à Berlin #Wahl2021 https://t.co/x",
        "lang": "fr",
        "lang_detected": True,
        "urls": [
            {
                "url": "http://www.Example.com/news/?utm_source=tw",
                "canonical": "https://example.com/news",
                "domain": "example.com",
                "is_shortener": False,
            }
        ],
        "hashtags": ["wahl2021"],
        "mentions": [],
        "reshare_of": None,
        "reply_to": None,
        "image_pdq": [PDQ.upper()],
        "image_ids": [MD5, "not-an-md5"],
        "extra": None,
    }


def sample_account() -> dict[str, Any]:
    return {
        "platform": "twitter",
        "account_id": "12345",
        "handle": "@Vote_Bot_77",
        "display_name": "Bot",
        "created_at": None,
        "followers": 3,
        "following": 4000,
        "lang": "de",
        "extra": None,
    }


@pytest.fixture
def post() -> dict[str, Any]:
    return sample_post()


@pytest.fixture
def account() -> dict[str, Any]:
    return sample_account()
