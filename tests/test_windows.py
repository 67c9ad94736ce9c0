"""Tests for ccnb.windows: which periods a report may compare, worked by hand."""

import pandas as pd
import pytest

from ccnb.windows import choose_windows, date_range_label

T = pd.Timestamp


@pytest.mark.parametrize(
    ("start", "end", "label"),
    [
        ("2025-01-01", "2025-12-31", "2025"),
        ("1997-07-01", "1998-06-30", "Jul 1997 – Jun 1998"),
        ("2025-03-01", "2025-03-31", "Mar 2025"),
        ("2024-12-10", "2025-12-09", "10 Dec 2024 – 9 Dec 2025"),
    ],
)
def test_date_range_label(start, end, label):
    assert date_range_label(start, end) == label


def test_two_years_of_data_compare_the_trailing_twelve_months_with_the_twelve_before():
    windows = choose_windows(
        data_start="2021-01-01", observation_end="2025-12-31", churn_window_days=365
    )
    assert [(w.start, w.end) for w in windows.comparison] == [
        (T("2024-01-01"), T("2024-12-31")),
        (T("2025-01-01"), T("2025-12-31")),
    ]
    assert windows.year_on_year and windows.last.label == "2025"
    # default warm-up = the churn window; history 1,826 days, so it is not capped
    assert windows.warm_up_days == 365 and not windows.warm_up_capped
    assert windows.base_known_from == T("2022-01-01")
    assert windows.churn_measurable_from == windows.base_known_from
    assert not windows.churn_window_too_long


def test_an_export_ending_mid_month_compares_day_ranges():
    # 2010-12-01 to 2011-12-09: 374 days, one window of the last 12 months, no comparison
    windows = choose_windows(
        data_start="2010-12-01", observation_end="2011-12-09", churn_window_days=90
    )
    (only,) = windows.comparison
    assert (only.start, only.end, only.days) == (T("2010-12-10"), T("2011-12-09"), 365)
    assert only.label == "10 Dec 2010 – 9 Dec 2011"
    assert not windows.year_on_year
    assert windows.base_known_from == T("2011-03-01")  # 90 days of warm-up


def test_less_than_a_year_is_one_window_over_the_whole_history():
    windows = choose_windows(
        data_start="2025-03-15", observation_end="2025-12-31", churn_window_days=30
    )
    (only,) = windows.comparison
    assert (only.start, only.end) == (T("2025-03-15"), T("2025-12-31"))


def test_a_churn_window_longer_than_half_the_history_caps_the_warm_up_and_is_flagged():
    windows = choose_windows(
        data_start="2024-12-01", observation_end="2025-12-09", churn_window_days=365
    )
    assert windows.history_days == 374
    assert windows.warm_up_days == 187 and windows.warm_up_capped
    assert windows.churn_window_too_long and not windows.base_fully_observed
    # losses of customers who bought before the data are visible only a window later
    assert windows.churn_measurable_from == T("2025-12-01")


def test_no_warm_up_when_the_business_starts_with_the_data():
    windows = choose_windows(
        data_start="1997-01-01",
        observation_end="1998-06-30",
        churn_window_days=180,
        warm_up_days=0,
    )
    assert windows.base_known_from == windows.data_start == windows.churn_measurable_from
    assert windows.base_fully_observed and not windows.churn_window_too_long


def test_bad_windows_are_refused():
    with pytest.raises(ValueError, match="before the first transaction"):
        choose_windows(data_start="2025-01-01", observation_end="2024-01-01", churn_window_days=9)
    with pytest.raises(ValueError, match="warm_up_days must be 0 or more"):
        choose_windows(
            data_start="2024-01-01",
            observation_end="2025-01-01",
            churn_window_days=9,
            warm_up_days=-1,
        )
