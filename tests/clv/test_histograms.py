"""Customers per bin of P(alive) and of residual CLV, against counts made by hand."""

import numpy as np
import pandas as pd
import pytest

from ccnb import clv


def test_p_alive_bins_are_five_points_wide_and_hold_their_lower_edge():
    table = pd.DataFrame({"p_alive": [0.0, 0.04, 0.05, 0.5, 0.99, 1.0, np.nan]})
    histogram = clv.p_alive_histogram(table)
    bins = histogram.bins
    assert len(bins) == 20 and not histogram.log and histogram.below == 0
    assert bins["low"].iloc[1] == pytest.approx(0.05) and bins["high"].iloc[-1] == 1.0
    counts = dict(zip(bins.index, bins["customers"], strict=True))
    # 0 and 0.04 in [0, 0.05); 0.05 in [0.05, 0.1); 0.5 in [0.5, 0.55); 0.99 and 1 in the last
    assert {k: v for k, v in counts.items() if v} == {0: 2, 1: 1, 10: 1, 19: 2}
    assert histogram.customers == 6  # the missing value is left out


def test_rclv_even_values_get_linear_bins_from_min_to_max():
    table = pd.DataFrame({"rclv": [10.0, 12.0, 14.0, 16.0, 18.0, 20.0]})
    histogram = clv.rclv_histogram(table, bins=5)
    assert not histogram.log
    assert histogram.bins["low"].tolist() == pytest.approx([10, 12, 14, 16, 18])
    assert histogram.bins["customers"].tolist() == [1, 1, 1, 1, 2]


def test_skewed_rclv_gets_log_bins_and_the_tiny_values_join_the_first():
    # 99th percentile over 10x the median: log. Largest 1e4, so the bins start at 1;
    # the two values below 1 are counted in the first bin.
    values = [1e-6, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1e4, 1e4]
    histogram = clv.rclv_histogram(pd.DataFrame({"rclv": values}), bins=4)
    assert histogram.log and histogram.below == 2
    assert histogram.bins["low"].tolist() == pytest.approx([1, 10, 100, 1000])
    assert histogram.bins["customers"].tolist() == [8, 0, 0, 2]


def test_zero_or_negative_rclv_keeps_linear_bins_and_log_needs_a_positive_value():
    table = pd.DataFrame({"rclv": [-1.0, 0.0, 1.0, 1000.0]})
    assert not clv.rclv_histogram(table).log  # not every value is positive
    with pytest.raises(ValueError, match="positive"):
        clv.rclv_histogram(pd.DataFrame({"rclv": [-1.0, 0.0]}), log=True)
    with pytest.raises(ValueError, match="at least one customer"):
        clv.rclv_histogram(pd.DataFrame({"rclv": [np.nan]}))
