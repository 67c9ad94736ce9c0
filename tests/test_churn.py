"""Tests for ccnb.churn: hand-worked fixtures plus a seeded synthetic frame vs day-by-day pandas."""

import ibis
import numpy as np
import pandas as pd
import pytest

from ccnb import churn

NAN = np.nan


@pytest.fixture(autouse=True)
def every_expression_compiles_for_pyspark(compile_for_pyspark):
    """Each expression a function executes must also compile for the PySpark backend."""


def transactions_table(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    frame["date"] = pd.to_datetime(frame["date"])
    return ibis.memtable(frame)


# The hand-worked shop of tests/conftest.py, observed until 2023-06-30, with a 30-day churn
# window. Lapse date = purchase day + 30 when no purchase follows on or before it:
#   A: 01-10, 01-20, 03-05  -> lost 02-19 (01-20 + 30), reactivated 03-05, lost 04-04
#   B: 01-25 (02-14 return) -> the return is not a purchase: lost 02-24
#   C: 02-03, 06-30         -> lost 03-05 (28 days of February + 2), reactivated 06-30
#   D: 03-15                -> lost 04-14
#   E: 07-02                -> after observation_end, ignored
#   F: 06-10                -> lapse 07-10 is after observation_end: still active
#   G: 02-20 return only    -> never acquired; its -7 is still February revenue
END = "2023-06-30"


def test_active_base_monthly(shop):
    result = churn.active_base(shop, observation_end=END, churn_window_days=30, freq="M")
    # Jan: A, B acquired. Feb: C acquired; A (02-19) and B (02-24) lost -> C alone.
    # Mar: D acquired, A back, C lost -> A, D. Apr: A and D lost. Jun: F acquired, C back.
    expected = pd.DataFrame(
        {
            "period": pd.date_range("2023-01-01", periods=6, freq="MS"),
            "period_end": pd.date_range("2023-01-31", periods=6, freq="ME"),
            "active_start": [0, 2, 1, 2, 0, 0],
            "acquired": [2, 1, 1, 0, 0, 1],
            "reactivated": [0, 0, 1, 0, 0, 1],
            "lost": [0, 2, 1, 2, 0, 0],
            "active": [2, 1, 2, 0, 0, 2],
            "revenue": [45.0, 28.0, 35.0, 0.0, 0.0, 18.0],
        }
    ).astype({"period": "datetime64[ns]", "period_end": "datetime64[ns]"})
    pd.testing.assert_frame_equal(result, expected)


def test_purchase_exactly_at_the_window_keeps_the_customer():
    # W = 30. X buys 01-01 and 01-31 (30 days later): never lost in between; lapses 03-02.
    # Y buys 01-01 and 02-01 (31 days): lost on 01-31, reactivated on 02-01, lapses 03-03.
    table = transactions_table(
        [
            ("X", "2023-01-01", 1.0),
            ("X", "2023-01-31", 1.0),
            ("Y", "2023-01-01", 1.0),
            ("Y", "2023-02-01", 1.0),
        ]
    )
    result = churn.active_base(table, observation_end="2023-03-31", churn_window_days=30)
    assert result["lost"].tolist() == [1, 0, 2]
    assert result["reactivated"].tolist() == [0, 1, 0]
    # On 01-31 Y's last purchase is 30 days old, so Y is no longer active.
    assert result["active"].tolist() == [1, 2, 0]


def test_active_base_partial_period_is_measured_at_observation_end(shop):
    complete = churn.active_base(shop, observation_end="2023-06-20", churn_window_days=30)
    assert complete["period"].max() == pd.Timestamp("2023-05-01")
    partial = churn.active_base(
        shop, observation_end="2023-06-20", churn_window_days=30, complete_only=False
    )
    last = partial.iloc[-1]
    # June to the 20th: F acquired; C's return on 06-30 is in the future.
    assert last["period_end"] == pd.Timestamp("2023-06-20")
    assert (last["acquired"], last["reactivated"], last["lost"], last["active"]) == (1, 0, 0, 1)
    assert last["revenue"] == 8.0


def test_churn_rate_monthly_average_and_start(shop):
    average = churn.churn_rate(shop, observation_end=END, churn_window_days=30, freq="M")
    assert list(average.columns) == [
        "period",
        "period_end",
        "active_start",
        "active_end",
        "acquired",
        "lost",
        "churn_rate",
    ]
    # lost / mean(start, end): 2/1.5, 1/1.5, 2/1; NaN where the month opens with no active
    # customer (months 1, 5 and 6: there is no opening base to churn from).
    np.testing.assert_allclose(
        average["churn_rate"], [NAN, 4 / 3, 2 / 3, 2.0, NAN, NAN], equal_nan=True
    )
    start = churn.churn_rate(
        shop, observation_end=END, churn_window_days=30, freq="M", denominator="start"
    )
    # lost / start: 0/0, 2/2, 1/1, 2/2, 0/0, 0/0.
    np.testing.assert_allclose(start["churn_rate"], [NAN, 1.0, 1.0, 1.0, NAN, NAN], equal_nan=True)


def test_churn_rate_yearly_reports_only_complete_years(shop):
    assert churn.churn_rate(shop, observation_end=END, churn_window_days=30).empty
    partial = churn.churn_rate(shop, observation_end=END, churn_window_days=30, complete_only=False)
    # 2023 to 06-30: 5 acquired, 5 losses (A twice, B, C, D), 2 returns -> 2 active.
    # The year opens with no active customer, so its churn rate is undefined (NaN).
    assert partial.drop(columns="churn_rate").to_dict("records") == [
        {
            "period": pd.Timestamp("2023-01-01"),
            "period_end": pd.Timestamp("2023-06-30"),
            "active_start": 0,
            "active_end": 2,
            "acquired": 5,
            "lost": 5,
        }
    ]
    assert partial["churn_rate"].isna().all()
    with pytest.raises(ValueError, match="denominator must be"):
        churn.churn_rate(shop, observation_end=END, churn_window_days=30, denominator="end")


def test_leaky_bucket_quarterly(shop):
    result = churn.leaky_bucket(shop, observation_end=END, churn_window_days=30)
    # Q1: A, B, C, D acquired; A, B, C lost. Q2: F acquired; A, D lost.
    expected = pd.DataFrame(
        {
            "period": pd.to_datetime(["2023-01-01", "2023-04-01"]),
            "period_end": pd.to_datetime(["2023-03-31", "2023-06-30"]),
            "acquired": [4, 1],
            "lost": [3, 2],
            "ratio": [0.75, 2.0],
            "net_change": [1, -1],
        }
    ).astype({"period": "datetime64[ns]", "period_end": "datetime64[ns]"})
    pd.testing.assert_frame_equal(result, expected)
    monthly = churn.leaky_bucket(shop, observation_end=END, churn_window_days=30, freq="M")
    np.testing.assert_array_equal(monthly["ratio"], [0.0, 2.0, 1.0, NAN, NAN, 0.0])


def test_early_repeat_rate_by_cohort(shop):
    result = churn.early_repeat_rate(shop, observation_end=END, early_repeat_days=30)
    # Jan: A repeats after 10 days; B's second row is a return -> 1 of 2. Feb (C): repeats
    # after 147 days. Mar (D): no repeat. Jun (F): 06-10 + 30 > 06-30, censored.
    expected = pd.DataFrame(
        {
            "group": pd.to_datetime(["2023-01-01", "2023-02-01", "2023-03-01", "2023-06-01"]),
            "acquired": [2, 1, 1, 1],
            "censored": [0, 0, 0, 1],
            "eligible": [2, 1, 1, 0],
            "repeaters": [1, 0, 0, 0],
            "early_repeat_rate": [0.5, 0.0, 0.0, NAN],
        }
    ).astype({"group": "datetime64[ns]"})
    pd.testing.assert_frame_equal(result, expected)


def test_early_repeat_rate_by_channel_and_overall(shop, shop_customers):
    by_channel = churn.early_repeat_rate(
        shop, observation_end=END, early_repeat_days=30, by="channel", customers=shop_customers
    )
    assert by_channel["group"].tolist() == ["search", "social", "unknown"]
    assert by_channel["acquired"].tolist() == [1, 1, 3]
    assert by_channel["censored"].tolist() == [0, 0, 1]
    assert by_channel["early_repeat_rate"].tolist() == [1.0, 0.0, 0.0]
    overall = churn.early_repeat_rate(shop, observation_end=END, early_repeat_days=30, by=None)
    assert overall.to_dict("records") == [
        {
            "group": "all",
            "acquired": 5,
            "censored": 1,
            "eligible": 4,
            "repeaters": 1,
            "early_repeat_rate": 0.25,
        }
    ]
    with pytest.raises(ValueError, match="needs the customers table"):
        churn.early_repeat_rate(shop, observation_end=END, by="channel")


def test_early_repeat_window_edges():
    # E = 30, observed until 01-31.
    # P: 01-01 and 01-31 (exactly 30 days): eligible (01-01 + 30 = 01-31) and a repeater.
    # Q: 01-01 twice on one day and 02-05: same-day orders are one purchase; no repeat.
    # R: 01-02 and 01-05: repeats, but 01-02 + 30 > 01-31, so censored and not counted.
    table = transactions_table(
        [
            ("P", "2023-01-01", 1.0),
            ("P", "2023-01-31", 1.0),
            ("Q", "2023-01-01", 1.0),
            ("Q", "2023-01-01", 1.0),
            ("R", "2023-01-02", 1.0),
            ("R", "2023-01-05", 1.0),
        ]
    )
    result = churn.early_repeat_rate(
        table, observation_end="2023-01-31", early_repeat_days=30, by=None
    )
    assert result.iloc[0].to_dict() == {
        "group": "all",
        "acquired": 3,
        "censored": 1,
        "eligible": 2,
        "repeaters": 1,
        "early_repeat_rate": 0.5,
    }


def test_bad_inputs_name_the_problem(shop):
    with pytest.raises(ValueError, match=r"freq must be one of \['M', 'Q', 'Y'\]; got 'W'"):
        churn.active_base(shop, observation_end=END, churn_window_days=30, freq="W")
    with pytest.raises(ValueError, match="churn_window_days must be a positive"):
        churn.leaky_bucket(shop, observation_end=END, churn_window_days=0)
    with pytest.raises(ValueError, match="observation_end is not a date"):
        churn.active_base(shop, observation_end="not a day", churn_window_days=30)


def test_empty_history_gives_empty_frames_with_dtypes(shop):
    result = churn.active_base(shop, observation_end="2022-12-31", churn_window_days=30)
    assert result.empty
    assert result.dtypes.astype(str).tolist() == [
        "datetime64[ns]",
        "datetime64[ns]",
        "int64",
        "int64",
        "int64",
        "int64",
        "int64",
        "float64",
    ]


# ---------------------------------------------------------------------------------------------
# A seeded synthetic shop (about 3,000 rows) against a day-by-day pandas reference: each
# customer's active status is evaluated on every calendar day straight from the definition.
# ---------------------------------------------------------------------------------------------

SYNTHETIC_END = pd.Timestamp("2023-10-15")


def synthetic_frame(seed=20240601, customers=700):
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2021-01-01")
    rows = []
    for number in range(customers):
        customer = f"c{number:04d}"
        day = start + pd.Timedelta(days=int(rng.integers(0, 3 * 365)))
        for purchase in range(int(rng.geometric(0.3))):
            if purchase:
                day += pd.Timedelta(days=int(rng.exponential(70)))
            amount = round(float(rng.gamma(2.0, 30.0)), 2)
            rows.append((customer, day, amount))
            if rng.random() < 0.08:  # a partial return a few days later
                rows.append(
                    (customer, day + pd.Timedelta(days=int(rng.integers(0, 25))), -amount / 2)
                )
    frame = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    customer_table = pd.DataFrame(
        {
            "customer_id": [f"c{n:04d}" for n in range(customers) if n % 10],
            "acquisition_channel": [
                ("search", "social", "email")[n % 3] for n in range(customers) if n % 10
            ],
        }
    )
    return frame, customer_table


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_frame()


def daily_status(frame, window_days):
    """Boolean matrix customers x days: active on that day (a purchase in the last W days)."""
    frame = frame[(frame["date"] <= SYNTHETIC_END) & (frame["amount"] >= 0)]
    days = pd.date_range(frame["date"].min(), SYNTHETIC_END, freq="D")
    customers = sorted(frame["customer_id"].unique())
    purchases = np.zeros((len(customers), len(days)), dtype=int)
    rows = frame.drop_duplicates(["customer_id", "date"])
    purchases[
        rows["customer_id"].map({c: i for i, c in enumerate(customers)}).to_numpy(),
        (rows["date"] - days[0]).dt.days.to_numpy(),
    ] = 1
    so_far = np.cumsum(purchases, axis=1)
    before_window = np.zeros_like(so_far)
    before_window[:, window_days:] = so_far[:, :-window_days]
    return days, purchases, (so_far - before_window) > 0


@pytest.mark.parametrize(("freq", "window_days"), [("M", 90), ("Q", 180), ("Y", 45)])
def test_active_base_matches_day_by_day_reference(synthetic, freq, window_days):
    frame, _ = synthetic
    result = churn.active_base(
        ibis.memtable(frame),
        observation_end=SYNTHETIC_END,
        churn_window_days=window_days,
        freq=freq,
        complete_only=False,
    )
    days, purchases, active = daily_status(frame, window_days)
    was_active = np.zeros_like(active)
    was_active[:, 1:] = active[:, :-1]
    ever_bought = np.cumsum(purchases, axis=1) > 0
    ever_bought_before = np.zeros_like(ever_bought)
    ever_bought_before[:, 1:] = ever_bought[:, :-1]
    losses = (was_active & ~active).sum(axis=0)
    acquisitions = (ever_bought & ~ever_bought_before).sum(axis=0)
    returns = (active & ~was_active & ever_bought_before).sum(axis=0)
    period_of_day = days.to_period(freq)
    in_range = frame[frame["date"] <= SYNTHETIC_END]
    revenue = in_range.groupby(in_range["date"].dt.to_period(freq))["amount"].sum()

    assert result["period"].iloc[0] == period_of_day[0].start_time
    assert result["period_end"].iloc[-1] == SYNTHETIC_END
    for row in result.itertuples():
        in_period = np.asarray(period_of_day == pd.Period(row.period, freq))
        last_day = np.flatnonzero(in_period)[-1]
        assert row.active == active[:, last_day].sum()
        assert row.lost == losses[in_period].sum()
        assert row.acquired == acquisitions[in_period].sum()
        assert row.reactivated == returns[in_period].sum()
        assert row.revenue == pytest.approx(revenue.get(pd.Period(row.period, freq), 0.0))
    assert result["lost"].sum() > 0 and result["reactivated"].sum() > 0


def test_churn_rate_and_leaky_bucket_agree_with_the_active_base(synthetic):
    frame, _ = synthetic
    table = ibis.memtable(frame)
    options = {"observation_end": SYNTHETIC_END, "churn_window_days": 120, "freq": "Q"}
    base = churn.active_base(table, **options)
    rates = churn.churn_rate(table, **options)
    bucket = churn.leaky_bucket(table, **options)
    # Only complete quarters: the last is Q3 2023.
    assert base["period"].iloc[-1] == pd.Timestamp("2023-07-01")
    np.testing.assert_array_equal(rates["active_end"], base["active"])
    np.testing.assert_array_equal(rates["active_start"].iloc[1:], base["active"].iloc[:-1])
    expected_rate = base["lost"] / ((base["active_start"] + base["active"]) / 2)
    expected_rate = expected_rate.where(base["active_start"] > 0)  # no opening base: undefined
    np.testing.assert_allclose(rates["churn_rate"], expected_rate)
    np.testing.assert_allclose(bucket["ratio"], base["lost"] / base["acquired"])
    np.testing.assert_array_equal(bucket["net_change"], base["acquired"] - base["lost"])


@pytest.mark.parametrize("by", ["cohort", "channel", None])
def test_early_repeat_rate_matches_per_customer_reference(synthetic, by):
    frame, customer_table = synthetic
    window = pd.Timedelta(days=90)
    result = churn.early_repeat_rate(
        ibis.memtable(frame),
        observation_end=SYNTHETIC_END,
        early_repeat_days=90,
        by=by,
        period="Q",
        customers=customer_table,
    )
    purchases = frame[(frame["date"] <= SYNTHETIC_END) & (frame["amount"] >= 0)]
    records = []
    for customer, dates in purchases.groupby("customer_id")["date"]:
        first = dates.min()
        records.append(
            {
                "customer_id": customer,
                "cohort": first.to_period("Q").start_time,
                "eligible": first + window <= SYNTHETIC_END,
                "repeater": bool(((dates > first) & (dates <= first + window)).any()),
            }
        )
    per_customer = pd.DataFrame(records)
    channel = customer_table.set_index("customer_id")["acquisition_channel"]
    per_customer["channel"] = per_customer["customer_id"].map(channel).fillna("unknown")
    per_customer["all"] = "all"
    key = {"cohort": "cohort", "channel": "channel", None: "all"}[by]
    if by == "cohort":  # Q4 2023 is not complete
        per_customer = per_customer[per_customer["cohort"] < pd.Timestamp("2023-10-01")]
    eligible = per_customer[per_customer["eligible"]]
    reference = pd.DataFrame(
        {
            "acquired": per_customer.groupby(key).size(),
            "eligible": eligible.groupby(key).size(),
            "early_repeat_rate": eligible.groupby(key)["repeater"].mean(),
        }
    )
    result = result.set_index("group")
    assert result.index.tolist() == reference.index.tolist()
    np.testing.assert_array_equal(result["acquired"], reference["acquired"])
    np.testing.assert_array_equal(result["eligible"], reference["eligible"].fillna(0))
    np.testing.assert_allclose(
        result["early_repeat_rate"], reference["early_repeat_rate"], equal_nan=True
    )


def test_recent_trend_counts_losses_without_acquisitions_as_leaking():
    # CDNOW acquired nobody after its first quarter: ratio lost / acquired is undefined, yet
    # every such quarter with losses shrinks the base and must count as leaking.
    quarters = pd.date_range("2023-01-01", periods=4, freq="QS")
    base = pd.DataFrame(
        {
            "period": quarters,
            "period_end": quarters + pd.offsets.QuarterEnd(0),
            "active": [100, 80, 60, 60],
            "revenue": [10.0, 8.0, 6.0, 6.0],
        }
    )
    rate = pd.DataFrame({"period": quarters, "churn_rate": [np.nan, 0.2, 0.25, 0.0]})
    leaks = pd.DataFrame(
        {
            "period": quarters,
            "acquired": [100, 0, 5, 0],
            "lost": [0, 20, 25, 0],
            "ratio": [0.0, np.nan, 5.0, np.nan],
        }
    )
    trend = churn.recent_trend(base, rate, leaks, periods=4)
    assert trend["periods_losing"] == 2  # Q2 (20 lost, none acquired) and Q3 (25 vs 5)
    assert trend["mean_churn_rate"] == pytest.approx((0.2 + 0.25 + 0.0) / 3)
