import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

from ccnb.summary import (
    btyd_inputs_table,
    calibration_holdout,
    customer_patterns,
    customer_summary,
    first_purchase_values,
    repeat_purchases_by_period,
    revenue_between,
    summary_table,
)

BTYD = ["frequency", "recency", "T", "monetary_value"]


def engine_table(frame: pd.DataFrame):
    frame = frame.copy()
    for column in ("order_id", "channel"):
        if column not in frame:
            frame[column] = pd.Series([None] * len(frame), dtype="string")
    frame = frame[["customer_id", "date", "amount", "order_id", "channel"]]
    table = ibis.duckdb.connect().create_table("tx", ibis.memtable(frame))
    return table.mutate(date=table.date.cast("date"))


@pytest.fixture(scope="module")
def tiny():
    # A: purchases on Jan 1 (two orders), Jan 8, Jan 29; B: one purchase then a full return;
    # C: returns only (bought before the data starts).
    frame = pd.DataFrame(
        {
            "customer_id": ["A", "A", "A", "A", "B", "B", "C"],
            "date": pd.to_datetime(
                [
                    "2024-01-01",
                    "2024-01-01",
                    "2024-01-08",
                    "2024-01-29",
                    "2024-01-15",
                    "2024-01-20",
                    "2024-01-10",
                ]
            ),
            "amount": [10.0, 5.0, 20.0, 40.0, 30.0, -30.0, -8.0],
            "order_id": ["o1", "o2", "o3", "o4", "o5", "r1", "r2"],
        }
    )
    frame["order_id"] = frame["order_id"].astype("string")
    return engine_table(frame)


def test_first_purchase_values_by_hand(tiny):
    # A's first day holds two orders (10 + 5); B's first day 30 (its return is later);
    # C bought nothing in the data: no first purchase.
    table = first_purchase_values(tiny, observation_end=dt.date(2024, 12, 31))
    assert table.to_dict("list") == {
        "customer_id": ["A", "B"],
        "first_purchase": [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-15")],
        "first_value": [15.0, 30.0],
    }


def test_revenue_between_by_hand(tiny):
    # Jan 8 to Jan 20: A 20 (Jan 8), B 30 - 30 = 0, C -8 (Jan 10)
    table = revenue_between(tiny, start=dt.date(2024, 1, 8), end=dt.date(2024, 1, 20))
    assert table.to_dict("list") == {"customer_id": ["A", "B", "C"], "revenue": [20.0, 0.0, -8.0]}


def test_hand_worked_weekly_summary(tiny):
    summary = customer_summary(tiny, observation_end=dt.date(2024, 2, 26), time_unit="W")
    a, b, c = (summary.set_index("customer_id").loc[key] for key in "ABC")
    # A: purchase days Jan 1, 8, 29 -> frequency 2, recency 28 days, T 56 days,
    # monetary mean of the repeat days (20 + 40) / 2; two orders on Jan 1 count as 2 orders.
    assert (a.frequency, a.recency, a["T"], a.monetary_value) == (2, 4.0, 8.0, 30.0)
    assert (a.orders, a.revenue, a.days_since_last) == (4, 75.0, 28)
    # B: one purchase day (the return day is not a purchase), net revenue 0.
    assert (b.frequency, b.recency, b["T"], b.monetary_value) == (0, 0.0, 42 / 7, 0.0)
    assert (b.orders, b.revenue, b.days_since_last) == (1, 0.0, 42)
    # C: returns only: kept for RFM with no purchase, aged from the first row.
    assert (c.frequency, c.recency, c["T"], c.orders, c.revenue) == (0, 0.0, 47 / 7, 0, -8.0)
    assert list(summary["customer_id"]) == ["A", "B", "C"]


def test_hand_worked_monthly_and_daily_units(tiny):
    end = dt.date(2024, 2, 26)
    months = customer_summary(tiny, observation_end=end, time_unit="M").set_index("customer_id")
    days = customer_summary(tiny, observation_end=end, time_unit="D").set_index("customer_id")
    month = 365.25 / 12
    assert months.loc["A", "recency"] == pytest.approx(28 / month, rel=1e-12)
    assert months.loc["A", "T"] == pytest.approx(56 / month, rel=1e-12)
    assert (days.loc["A", "recency"], days.loc["A", "T"]) == (28.0, 56.0)


def test_monthly_period_bucket_by_hand(tiny):
    summary = customer_summary(
        tiny, observation_end=dt.date(2024, 3, 15), time_unit="M", bucket="period"
    ).set_index("customer_id")
    # A buys in January only -> one purchase month; T = March - January = 2 months.
    assert (summary.loc["A", "frequency"], summary.loc["A", "T"]) == (0, 2.0)


def test_money_that_cancels_is_plus_zero():
    # 0.3 - 0.1 - 0.2 is -2.8e-17 in floating point: rounded, -0.0, which a CSV writes as "-0"
    # or "0" depending on the order the engine adds in. Settled money is always +0.0.
    frame = pd.DataFrame(
        {
            "customer_id": ["A", "A", "A"],
            "date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "amount": [0.3, -0.1, -0.2],
        }
    )
    summary = customer_summary(engine_table(frame), observation_end=dt.date(2024, 1, 31))
    revenue = summary["revenue"].to_numpy()
    assert revenue[0] == 0 and not np.signbit(revenue[0])


def test_customer_patterns_count_the_customers_by_hand(tiny):
    """Weekly BTYD inputs at 2024-01-31: A bought on three days (frequency 2, recency 4 weeks,
    T 30/7), B once on 15 January (T 16/7), C has returns only (T 21/7, no purchase): three
    patterns of one customer each; by frequency alone, two customers share frequency 0."""
    end = dt.date(2024, 1, 31)
    inputs = btyd_inputs_table(summary_table(tiny, observation_end=end))
    patterns = customer_patterns(inputs, columns=["frequency", "recency", "T"])
    assert patterns.to_dict("list") == {
        "frequency": [0.0, 0.0, 2.0],
        "recency": [0.0, 0.0, 4.0],
        "T": [16 / 7, 21 / 7, 30 / 7],
        "customers": [1, 1, 1],
    }
    by_frequency = customer_patterns(inputs, columns=["frequency"])
    assert by_frequency.to_dict("list") == {"frequency": [0.0, 2.0], "customers": [2, 1]}
    with pytest.raises(ValueError, match="at least one column"):
        customer_patterns(inputs, columns=[])


def test_observation_end_cuts_later_rows(tiny):
    summary = customer_summary(tiny, observation_end=dt.date(2024, 1, 8), time_unit="D")
    a = summary.set_index("customer_id").loc["A"]
    assert (a.frequency, a["T"], a.revenue) == (1, 7.0, 35.0)
    assert set(summary["customer_id"]) == {"A"}


@pytest.mark.parametrize("bucket", ["day", "period"])
def test_orders_are_distinct_order_ids_of_purchase_rows(bucket):
    # D: order o1 has two lines on Jan 1, o2 a line on Jan 2 and one on Jan 3, r1 is a
    # return and one purchase row has no order id; F reuses the id o1; E has no order ids.
    frame = pd.DataFrame(
        {
            "customer_id": ["D"] * 6 + ["E"] * 4 + ["F"],
            "date": pd.to_datetime(
                ["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
                + ["2024-01-05", "2024-01-01", "2024-01-01", "2024-01-09", "2024-01-12"]
                + ["2024-01-02"]
            ),
            "amount": [10.0, 5.0, 20.0, 4.0, -5.0, 7.0, 1.0, 2.0, 3.0, 4.0, 6.0],
            "order_id": ["o1", "o1", "o2", "o2", "r1", None, None, None, None, None, "o1"],
        }
    )
    frame["order_id"] = frame["order_id"].astype("string")
    summary = customer_summary(
        engine_table(frame), observation_end=dt.date(2024, 1, 31), time_unit="W", bucket=bucket
    ).set_index("customer_id")
    # D: ids o1 and o2; E: none, so its purchase days (Jan 1, 9, 12) count; F: o1.
    assert summary["orders"].to_dict() == {"D": 2, "E": 3, "F": 1}


def test_acquisition_channel_is_joined(tiny):
    customers = pd.DataFrame({"customer_id": ["A"], "acquisition_channel": ["Referral"]})
    summary = customer_summary(
        tiny, observation_end=dt.date(2024, 2, 26), customers=customers
    ).set_index("customer_id")
    assert summary["acquisition_channel"].tolist() == ["Referral", "unknown", "unknown"]


def lifetimes_input(frame: pd.DataFrame) -> pd.DataFrame:
    """Per customer-day net revenue without return-only days: ccnb's purchase days."""
    daily = frame.groupby(["customer_id", "date"], as_index=False).agg(
        amount=("amount", "sum"), purchases=("amount", lambda a: (a >= 0).sum())
    )
    return daily[daily["purchases"] > 0].drop(columns="purchases")


@pytest.mark.parametrize(("unit", "multiplier"), [("D", 1), ("W", 7)])
def test_equals_lifetimes_on_cdnow_master(cdnow_master, unit, multiplier):
    frame, table = cdnow_master
    ours = customer_summary(table, observation_end=dt.date(1998, 6, 30), time_unit=unit)
    theirs = summary_data_from_transaction_data(
        frame,
        "customer_id",
        "date",
        monetary_value_col="amount",
        observation_period_end="1998-06-30",
        freq="D",
        freq_multiplier=multiplier,
    )
    assert len(ours) == len(theirs) == 23570
    pd.testing.assert_frame_equal(
        ours.set_index("customer_id")[BTYD], theirs[BTYD], check_exact=False, rtol=1e-9, atol=1e-9
    )


def test_period_bucket_equals_lifetimes_weekly_periods(cdnow_master):
    frame, table = cdnow_master
    ours = customer_summary(
        table, observation_end=dt.date(1998, 6, 30), time_unit="W", bucket="period"
    )
    theirs = summary_data_from_transaction_data(
        frame,
        "customer_id",
        "date",
        monetary_value_col="amount",
        observation_period_end="1998-06-30",
        freq="W",
    )
    pd.testing.assert_frame_equal(
        ours.set_index("customer_id")[BTYD], theirs[BTYD], check_exact=False, rtol=1e-9, atol=1e-9
    )


def test_calibration_holdout_equals_lifetimes(cdnow_master):
    frame, table = cdnow_master
    ours = calibration_holdout(
        table,
        calibration_end=dt.date(1997, 9, 30),
        observation_end=dt.date(1998, 6, 30),
        time_unit="W",
    )
    theirs = calibration_and_holdout_data(
        lifetimes_input(frame),  # lifetimes averages rows, ccnb averages purchase days
        "customer_id",
        "date",
        calibration_period_end="1997-09-30",
        observation_period_end="1998-06-30",
        freq="D",
        freq_multiplier=7,
        monetary_value_col="amount",
    )
    pd.testing.assert_frame_equal(
        ours, theirs[ours.columns], check_exact=False, rtol=1e-9, atol=1e-9, check_names=False
    )
    assert ours["duration_holdout"].iloc[0] == pytest.approx(273 / 7)


def test_calibration_holdout_without_spend_data(cdnow_master):
    frame, table = cdnow_master
    no_spend = table.mutate(amount=ibis.literal(0.0))
    ours = calibration_holdout(
        no_spend,
        calibration_end=dt.date(1997, 9, 30),
        observation_end=dt.date(1998, 6, 30),
        time_unit="M",
    )
    with_spend = calibration_holdout(
        table,
        calibration_end=dt.date(1997, 9, 30),
        observation_end=dt.date(1998, 6, 30),
        time_unit="M",
    )
    counts = ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"]
    pd.testing.assert_frame_equal(ours[counts], with_spend[counts])
    assert (ours["monetary_value_cal"] == 0).all()
    month = 365.25 / 12
    assert ours["duration_holdout"].iloc[0] == pytest.approx(273 / month)


def test_repeat_purchases_by_period(tiny):
    frame = repeat_purchases_by_period(
        tiny,
        calibration_end=dt.date(2024, 1, 10),
        observation_end=dt.date(2024, 2, 4),
        time_unit="W",
    )
    # Cohort: A (first Jan 1) and C has no purchase day; B first buys after Jan 10.
    # A's repeat days Jan 8 (week 2) and Jan 29 (week 5); weeks run from Jan 1.
    assert frame["repeat_purchases"].tolist() == [0, 1, 0, 0, 1]
    assert frame["period_start"].tolist() == [dt.date(2024, 1, d) for d in (1, 8, 15, 22, 29)]


def test_repeat_purchases_match_cdnow_counts(cdnow_master):
    frame, table = cdnow_master
    series = repeat_purchases_by_period(
        table,
        calibration_end=dt.date(1997, 9, 30),
        observation_end=dt.date(1998, 6, 30),
        time_unit="W",
    )["repeat_purchases"]
    days = frame.drop_duplicates(["customer_id", "date"])
    first = days.groupby("customer_id")["date"].transform("min")
    repeats = days[days["date"] > first]
    week = (repeats["date"] - pd.Timestamp("1997-01-01")).dt.days // 7 + 1
    expected = week.value_counts().sort_index()
    assert series.sum() == len(repeats)
    np.testing.assert_array_equal(series.loc[expected.index].to_numpy(), expected.to_numpy())
