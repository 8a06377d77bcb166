from __future__ import annotations

from pathlib import Path

import pytest

from vigil.core.errors import InputError
from vigil.synth import GeneratorConfig, generate
from vigil.synth.config import default_campaign_count


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"posts": 100}, "--posts must be at least"),
        ({"platforms": ("twitter", "myspace")}, "unknown platform 'myspace'"),
        ({"styles": ("link_burst", "astroturf")}, "unknown campaign style 'astroturf'"),
        ({"difficulty": "extreme"}, "unknown difficulty 'extreme'"),
        ({"platforms": ("twitter",)}, "cross_platform style needs at least two"),
        ({"days": 0}, "--days must be between"),
        ({"platforms": ("twitter", "twitter")}, "lists a platform twice"),
    ],
)
def test_bad_parameters_are_input_errors_naming_the_problem(kwargs: dict[str, object], message: str) -> None:
    params: dict[str, object] = {"posts": 10_000, **kwargs}
    with pytest.raises(InputError, match=message):
        GeneratorConfig(**params)  # type: ignore[arg-type]


def test_too_many_campaigns_for_the_size_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="too many for --posts"):
        generate(GeneratorConfig(posts=5_000, campaigns=400), tmp_path / "out")
    assert not (tmp_path / "out" / "posts.parquet").exists()


def test_default_campaign_count_grows_with_size_and_covers_every_style() -> None:
    assert default_campaign_count(10_000, 8) == 8
    assert default_campaign_count(100_000, 8) == 10
    assert default_campaign_count(10_000_000, 8) == 100
    assert default_campaign_count(1_000_000, 8) > default_campaign_count(100_000, 8)


def test_single_platform_without_cross_platform_works(tmp_path: Path) -> None:
    styles = ("link_burst", "hashtag_push")
    summary = generate(GeneratorConfig(posts=6_000, platforms=("telegram",), styles=styles), tmp_path)
    assert summary.posts_by_platform == {"telegram": 6_000}
    assert {c["style"] for c in summary.campaigns} == set(styles)
