"""A sample post and account that every signal type can derive something from (where it derives at all)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import numpy as np
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


def synthetic_image(seed: int = 7, size: int = 128) -> np.ndarray:
    """A synthetic photo-like image: coloured blocks under a diagonal wave (edges give PDQ quality)."""
    rng = np.random.default_rng(seed)
    blocks = np.kron(rng.uniform(0, 255, (8, 8, 3)), np.ones((size // 8, size // 8, 1)))
    y, x = np.mgrid[0:size, 0:size] / size
    wave = 60 * np.sin(rng.uniform(5, 15) * x + rng.uniform(5, 15) * y)
    return np.clip(0.7 * blocks + wave[:, :, None], 0, 255).astype(np.uint8)


def png_bytes(seed: int = 7) -> bytes:
    """``synthetic_image`` encoded as PNG (Pillow is a test dependency)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(synthetic_image(seed)).save(buffer, format="PNG")
    return buffer.getvalue()
