"""The value ranking (the fallback when no model fits), on a hand-worked table."""

import pandas as pd
import pytest

from ccnb.value_ranking import ranking_summary, value_ranking

CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["A", "B", "C", "D", "E"],
        "orders": [3, 1, 2, 2, 0],  # E only returned something
        "revenue": [300.0, 500.0, 80.0, 120.0, -20.0],
        "days_since_last": [10, 400, 5, 5, 30],
    }
)
LAST_YEAR = pd.DataFrame(
    {"customer_id": ["A", "C", "D", "E"], "revenue": [150.0, 80.0, 80.0, -20.0]}
)


def test_customers_are_ranked_by_last_year_then_recency_then_total():
    ranking = value_ranking(CUSTOMERS, LAST_YEAR, active_within_days=365)
    # C and D tie on last year's revenue and recency: D's larger total wins;
    # B bought nothing last year (0), E returned more than it bought (-20)
    assert ranking["customer_id"].tolist() == ["A", "D", "C", "B", "E"]
    assert ranking["rank"].tolist() == [1, 2, 3, 4, 5]
    assert ranking["revenue_last_year"].tolist() == [150.0, 80.0, 80.0, 0.0, -20.0]
    # active: a purchase fewer than 365 days ago (E has no purchase at all)
    assert ranking["active"].tolist() == [True, True, True, False, False]
    # E's 30 days count from a return: no purchase to count from, so no days are given
    assert ranking["days_since_last"].tolist()[:4] == [10.0, 5.0, 5.0, 400.0]
    assert pd.isna(ranking["days_since_last"].iloc[4])


def test_the_summary_counts_last_years_buyers_and_the_top_tenths_share():
    summary = ranking_summary(value_ranking(CUSTOMERS, LAST_YEAR, active_within_days=365))
    # buyers: A, D, C (310 in all); the top 10% of 3 rounds up to 1 customer, A
    assert summary["buyers_last_year"] == 3
    assert summary["revenue_last_year"] == pytest.approx(310.0)
    assert summary["top_customers"] == 1
    assert summary["top_revenue_share"] == pytest.approx(150 / 310)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="active_within_days"):
        value_ranking(CUSTOMERS, LAST_YEAR, active_within_days=0)
    with pytest.raises(ValueError, match="lacks columns"):
        value_ranking(CUSTOMERS.drop(columns="orders"), LAST_YEAR, active_within_days=30)
    with pytest.raises(ValueError, match="top_share"):
        ranking_summary(value_ranking(CUSTOMERS, LAST_YEAR, active_within_days=30), top_share=0)
