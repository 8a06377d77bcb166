"""Scoring that account data cannot sink, the cut from the data, relative caps, the dominance warning."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.core.errors import ConfigError, InputError
from vigil.detect import score
from vigil.detect.campaigns import dominance_warnings
from vigil.detect.engine import EngineParams
from vigil.detect.params import GraphParams
from vigil.detect.traces import CO_HASHTAG, TraceSpec


def test_account_data_only_raises_a_score() -> None:
    behaviour = {"density": 1.0, "items": 0.2, "repetition": 1.0, "synchrony": 0.0, "size": 0.8}
    without = score.final({**behaviour, "creation": None})
    assert without == pytest.approx(score.total(behaviour))
    # older accounts (creation 0) would drag the weighted mean down: the behaviour's score stays
    assert score.final({**behaviour, "creation": 0.0}) == pytest.approx(without)
    assert score.total({**behaviour, "creation": 0.0}) < without
    # batch-created accounts raise it
    assert score.final({**behaviour, "creation": 1.0}) > without


def test_cut_is_the_middle_of_the_widest_gap_in_the_band() -> None:
    # chance groups up to 0.494, the weakest campaign at 0.527 (the seed-29 run without accounts)
    scores = [0.84, 0.66, 0.527, 0.494, 0.477, 0.46, 0.449, 0.40, 0.38]
    cut, method = score.data_cut(scores)
    assert cut == pytest.approx((0.527 + 0.494) / 2)
    assert "widest gap (0.494-0.527)" in method
    # nothing inside the band: its middle; a gap at the band's top edge counts too
    assert score.data_cut([0.9, 0.3])[0] == pytest.approx(0.5)
    assert score.data_cut([0.9, 0.46, 0.3])[0] == pytest.approx((0.55 + 0.46) / 2)


def test_resolution_follows_the_objective() -> None:
    assert GraphParams().leiden_resolution == 0.03
    assert GraphParams(objective="modularity").leiden_resolution == 1.0
    assert GraphParams(objective="modularity", resolution=0.5).leiden_resolution == 0.5


def test_relative_popularity_cap() -> None:
    params = EngineParams(max_item_share=0.05)
    assert params.cap_for(CO_HASHTAG, 400) == 20  # 5% of 400 beats the trace's 200
    assert params.cap_for(CO_HASHTAG, 100_000) == 200  # the absolute cap is smaller
    assert params.cap_for(CO_HASHTAG) == 200  # account count unknown: absolute caps only
    assert EngineParams(max_item_share=0.001).cap_for(TraceSpec("t", "", "SELECT 1"), 100) == 2
    with pytest.raises(InputError, match="max_item_share"):
        EngineParams(max_item_share=1.5)
    with pytest.raises(ConfigError, match="max_item_share"):
        TraceSpec("t", "", "SELECT 1", max_item_share=0.0)


def test_warning_when_one_campaign_holds_most_flagged_accounts() -> None:
    rows = [{"campaign_id": "c1", "n_accounts": 324}, {"campaign_id": "c2", "n_accounts": 20}]
    (warning,) = dominance_warnings(rows)
    assert "c1" in warning and "94%" in warning
    # a single campaign of 406 accounts (modularity at the wrong resolution) warns; small ones do not
    assert len(dominance_warnings([{"campaign_id": "m", "n_accounts": 406}])) == 1
    small = [{"campaign_id": "a", "n_accounts": 10}, {"campaign_id": "b", "n_accounts": 40}]
    assert dominance_warnings(small) == []
    balanced = [{"campaign_id": "a", "n_accounts": 60}, {"campaign_id": "b", "n_accounts": 60}]
    assert dominance_warnings(balanced) == []
    assert dominance_warnings([]) == []


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
        min_size=1,
        max_size=60,
    )
)
def test_median_is_numpys_bit_for_bit(values: list[float]) -> None:
    """score.median replaces np.median in scoring: the same value, to the last bit, odd or even counts."""
    array = np.asarray(values, dtype=np.float64)
    assert score.median(array) == float(np.median(array))
    assert math.isnan(score.median(np.append(array, math.nan)))
