"""Tests for ccnb.churn: hand-worked fixtures plus a seeded synthetic frame vs day-by-day pandas."""

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest

from ccnb import churn
from ccnb.windows import choose_windows

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


def flow_of(transactions, *, end=END, window_days=30, freq="M", warm_up_days=0):
    activity = churn.customer_activity(
        transactions, observation_end=end, churn_window_days=window_days
    )
    windows = choose_windows(
        data_start=activity.data_start,
        observation_end=end,
        churn_window_days=window_days,
        warm_up_days=warm_up_days,
    )
    return churn.customer_flow(activity, windows=windows, freq=freq)


def test_customer_flow_monthly(shop):
    result = flow_of(shop)
    # Jan: A, B new. Feb: C new; A (02-19) and B (02-24) lost -> C alone.
    # Mar: D new, A back, C lost -> A, D. Apr: A and D lost. Jun: F new, C back.
    # Every loss is of a customer active when the month opened, so lapsed_from_opening = lapsed.
    expected = pd.DataFrame(
        {
            "period": pd.date_range("2023-01-01", periods=6, freq="MS"),
            "period_end": pd.date_range("2023-01-31", periods=6, freq="ME"),
            # the data starts on 01-10: January is covered from then only
            "partial": [True, False, False, False, False, False],
            "start": pd.to_datetime(["2023-01-10", *pd.date_range("2023-02-01", None, 5, "MS")]),
            "end": pd.date_range("2023-01-31", periods=6, freq="ME"),
            "base_known": True,
            "opening": [0, 2, 1, 2, 0, 0],
            "new": [2, 1, 1, 0, 0, 1],
            "reactivated": [0, 0, 1, 0, 0, 1],
            "lapsed": [0, 2, 1, 2, 0, 0],
            "closing": [2, 1, 2, 0, 0, 2],
            "lapsed_from_opening": [0, 2, 1, 2, 0, 0],
            # no rate where the month opens with nobody; leaks where somebody is new
            "churn_rate": [NAN, 1.0, 1.0, 1.0, NAN, NAN],
            "leaky_bucket_ratio": [0.0, 2.0, 1.0, NAN, NAN, 0.0],
            "revenue": [45.0, 28.0, 35.0, 0.0, 0.0, 18.0],
        }
    ).astype(
        {
            "period": "datetime64[ns]",
            "period_end": "datetime64[ns]",
            "start": "datetime64[ns]",
            "end": "datetime64[ns]",
        }
    )
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
    result = flow_of(table, end="2023-03-31")
    assert result["lapsed"].tolist() == [1, 0, 2]
    assert result["reactivated"].tolist() == [0, 1, 0]
    # On 01-31 Y's last purchase is 30 days old, so Y is no longer active.
    assert result["closing"].tolist() == [1, 2, 0]


def test_partial_last_period_is_flagged_and_measured_at_observation_end(shop):
    result = flow_of(shop, end="2023-06-20")
    last = result.iloc[-1]
    # June to the 20th: F new; C's return on 06-30 is in the future.
    assert last["partial"] and last["end"] == pd.Timestamp("2023-06-20")
    assert last["period_end"] == pd.Timestamp("2023-06-30")
    assert (last["new"], last["reactivated"], last["lapsed"], last["closing"]) == (1, 0, 0, 1)
    assert last["revenue"] == 8.0
    assert not result["partial"].iloc[1:-1].any()


def test_customer_flow_quarterly_and_yearly(shop):
    quarters = flow_of(shop, freq="Q")
    # Q1: A, B, C, D new; A, B, C lost; A back. Q2 opens with A and D, loses both; F new, C back.
    assert quarters[["opening", "new", "reactivated", "lapsed", "closing"]].values.tolist() == [
        [0, 4, 1, 3, 2],
        [2, 1, 1, 2, 2],
    ]
    np.testing.assert_allclose(quarters["churn_rate"], [NAN, 1.0])
    np.testing.assert_allclose(quarters["leaky_bucket_ratio"], [0.75, 2.0])
    year = flow_of(shop, freq="Y").iloc[0]
    # 2023 to 06-30: 5 new, 5 losses (A twice, B, C, D), 2 returns -> 2 active; no opening base.
    assert (year["opening"], year["new"], year["lapsed"], year["closing"]) == (0, 5, 5, 2)
    assert year["partial"] and np.isnan(year["churn_rate"])


def test_warm_up_customers_are_the_existing_base_not_new(shop):
    # A warm-up of 30 days from the first transaction (01-10) ends on 02-08: A, B and C are
    # the existing base. Months start with the first one that begins after it, March, whose
    # opening base is C (lapses 03-05); D is March's only new customer.
    result = flow_of(shop, warm_up_days=30)
    assert result["period"].iloc[0] == pd.Timestamp("2023-03-01")
    march = result.iloc[0]
    assert (march["opening"], march["new"], march["reactivated"], march["lapsed"]) == (1, 1, 1, 1)
    assert march["churn_rate"] == 1.0


def test_churn_is_a_share_of_the_opening_base_even_when_the_base_collapses():
    # Ten customers buy once on 02-15 and lapse on 04-16 (W = 60); one of them is back on
    # 06-01. The old rate, losses over the average of the opening and closing base, was
    # 10 / 5.5 = 182%; the share of the opening base lost is 100%.
    rows = [(f"c{n}", "2023-02-15", 1.0) for n in range(10)] + [("c0", "2023-06-01", 1.0)]
    result = flow_of(transactions_table(rows), end="2023-06-30", window_days=60, freq="Q")
    q1, q2 = result.iloc[0], result.iloc[1]
    assert (q1["opening"], q1["new"], q1["closing"]) == (0, 10, 10)
    assert np.isnan(q1["churn_rate"])  # nobody to lose at the start
    assert (q2["opening"], q2["reactivated"], q2["lapsed"], q2["closing"]) == (10, 1, 10, 1)
    assert q2["lapsed_from_opening"] == 10 and q2["churn_rate"] == 1.0


def test_flow_over_any_window_reconciles_with_the_days(shop):
    activity = churn.customer_activity(shop, observation_end=END, churn_window_days=30)
    windows = choose_windows(
        data_start="2023-01-10", observation_end=END, churn_window_days=30, warm_up_days=0
    )
    spans = [("2023-02-15", "2023-04-10"), ("2023-01-10", "2023-06-30")]
    result = churn.flow_over(activity, spans=spans, windows=windows)
    # 02-15 to 04-10: opening (02-14) A? lost 02-19 -> yes; B (01-25, lapses 02-24) and C.
    # In it: B 02-24, A 02-19, C 03-05, A 04-04 lapse; D new; A back.
    first = result.iloc[0]
    assert (first["opening"], first["new"], first["reactivated"]) == (3, 1, 1)
    assert (first["lapsed"], first["closing"]) == (4, 1)
    # Losses up to 02-15 + 29 days = 03-15 are of the opening base: A, B, C (A's 04-04 is not).
    assert first["lapsed_from_opening"] == 3 and first["churn_rate"] == 1.0
    whole = result.iloc[1]
    assert whole["opening"] + whole["new"] + whole["reactivated"] - whole["lapsed"] == 2


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


def test_early_repeat_of_the_customers_new_in_a_window(shop):
    # First seen 02-01 to 03-31: C (next purchase 147 days later) and D (none): 0 of 2.
    window = churn.early_repeat_rate(
        shop, observation_end=END, by=None, acquired_from="2023-02-01", acquired_to="2023-03-31"
    )
    assert window[["acquired", "eligible", "repeaters"]].values.tolist() == [[2, 2, 0]]
    # Cohorts start with the first whole quarter after the warm-up: Q2, F alone (censored).
    cohorts = churn.early_repeat_rate(
        shop, observation_end=END, period="Q", acquired_from="2023-02-09"
    )
    assert cohorts["group"].tolist() == [pd.Timestamp("2023-04-01")]
    assert cohorts[["acquired", "censored"]].values.tolist() == [[1, 1]]


def test_bad_inputs_name_the_problem(shop):
    with pytest.raises(ValueError, match=r"freq must be one of \['M', 'Q', 'Y'\]; got 'W'"):
        flow_of(shop, freq="W")
    with pytest.raises(ValueError, match="churn_window_days must be a positive"):
        churn.customer_activity(shop, observation_end=END, churn_window_days=0)
    with pytest.raises(ValueError, match="observation_end is not a date"):
        churn.customer_activity(shop, observation_end="not a day", churn_window_days=30)


def test_empty_history_gives_empty_activity_with_dtypes(shop):
    activity = churn.customer_activity(shop, observation_end="2022-12-31", churn_window_days=30)
    assert activity.spells.empty and activity.daily_revenue.empty
    assert activity.data_start is None
    assert activity.spells.dtypes.astype(str).tolist() == [
        "datetime64[ns]",
        "datetime64[ns]",
        "bool",
        "int64",
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


@pytest.mark.parametrize(
    ("freq", "window_days", "warm_up_days"),
    [("M", 90, 0), ("Q", 180, 0), ("Y", 45, 0), ("Q", 45, None), ("M", 120, None)],
)
def test_customer_flow_matches_day_by_day_reference(synthetic, freq, window_days, warm_up_days):
    frame, _ = synthetic
    activity = churn.customer_activity(
        ibis.memtable(frame), observation_end=SYNTHETIC_END, churn_window_days=window_days
    )
    windows = choose_windows(
        data_start=frame["date"].min(),
        observation_end=SYNTHETIC_END,
        churn_window_days=window_days,
        warm_up_days=warm_up_days,
    )
    result = churn.customer_flow(activity, windows=windows, freq=freq)
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

    first_period = pd.Timestamp(result["period"].iloc[0])
    if warm_up_days == 0:
        assert first_period == period_of_day[0].start_time
    else:  # the first period that starts after the warm-up of one churn window
        assert first_period >= windows.base_known_from
        assert first_period - pd.offsets.MonthBegin(1) < windows.base_known_from + pd.Timedelta(
            days=92
        )
    assert result["end"].iloc[-1] == SYNTHETIC_END and result["partial"].iloc[-1]
    for row in result.itertuples():
        in_period = np.asarray(period_of_day == pd.Period(row.period, freq))
        first_day, last_day = np.flatnonzero(in_period)[[0, -1]]
        opening = active[:, first_day - 1] if first_day else np.zeros(len(active), dtype=bool)
        assert row.opening == opening.sum()
        assert row.closing == active[:, last_day].sum()
        assert row.lapsed == losses[in_period].sum()
        assert row.new == acquisitions[in_period].sum()
        assert row.reactivated == returns[in_period].sum()
        assert row.opening + row.new + row.reactivated - row.lapsed == row.closing
        # lost from the opening base: opening customers inactive on some day of the period
        lost_from_opening = (opening & ~active[:, first_day : last_day + 1].all(axis=1)).sum()
        assert row.lapsed_from_opening == lost_from_opening
        if row.opening:
            assert row.churn_rate == pytest.approx(lost_from_opening / row.opening)
        assert row.revenue == pytest.approx(revenue.get(pd.Period(row.period, freq), 0.0))
    assert result["lapsed"].sum() > 0 and result["reactivated"].sum() > 0
    assert result["churn_rate"].dropna().between(0, 1).all()
    # with a churn window shorter than a quarter some customers are won and lost in one
    if freq == "Q" and window_days == 45:
        assert (result["lapsed"] > result["lapsed_from_opening"]).any()


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


def test_last_followed_first_purchase():
    """The last first-purchase day followed for the whole window: observation end - window."""
    assert churn.last_followed_first_purchase("2025-12-31", early_repeat_days=90) == dt.date(
        2025, 10, 2
    )
    # 2024 is a leap year: 2024-12-31 - 90 days = 2024-10-02 as well
    assert churn.last_followed_first_purchase(dt.date(2024, 12, 31)) == dt.date(2024, 10, 2)
    with pytest.raises(ValueError, match="early_repeat_days must be a positive whole number"):
        churn.last_followed_first_purchase("2025-12-31", early_repeat_days=0)
