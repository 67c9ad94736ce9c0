import datetime as dt

import ibis
import pandas as pd
import pytest

from ccnb import churn
from ccnb.kpi import KPI_UNITS, early_repeat_acquired_to, kpi_changes, kpi_overview
from ccnb.windows import choose_windows

ROWS = [
    ("A", "2023-01-10", 100.0, "o1"),
    ("A", "2023-02-01", 50.0, "o2"),
    ("A", "2024-03-01", 80.0, "o3"),
    ("B", "2023-06-01", 40.0, "o4"),
    ("B", "2023-06-01", -10.0, "r1"),
    ("C", "2024-05-01", 60.0, "o5"),
    ("C", "2024-05-01", 20.0, "o6"),
    ("D", "2022-12-01", 30.0, "o7"),
]


@pytest.fixture(scope="module")
def shop():
    frame = pd.DataFrame(ROWS, columns=["customer_id", "date", "amount", "order_id"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["channel"] = pd.Series([None] * len(frame), dtype="string")
    table = ibis.duckdb.connect().create_table("tx", ibis.memtable(frame))
    return table.mutate(date=table.date.cast("date"))


def overview(shop, *, end, warm_up_days=0, survey=None):
    activity = churn.customer_activity(shop, observation_end=end, churn_window_days=365)
    windows = choose_windows(
        data_start="2022-12-01",
        observation_end=end,
        churn_window_days=365,
        warm_up_days=warm_up_days,
    )
    return kpi_overview(
        shop, windows=windows, activity=activity, early_repeat_days=90, survey=survey
    )


def test_kpis_worked_by_hand(shop):
    survey = pd.DataFrame(
        {
            "customer_id": ["A", "B", "D", "C"],
            "date": pd.to_datetime(["2023-03-01", "2023-07-01", "2023-01-05", "2024-06-01"]),
            "nps": pd.array([10, 9, 3, 7], dtype="Int64"),
            "csat": pd.array([5, 4, 2, 3], dtype="Int64"),
        }
    )
    # Two years of data before 2024-12-31: the windows are the calendar years 2023 and 2024.
    table = overview(shop, end=dt.date(2024, 12, 31), survey=survey)
    assert list(table["kpi"].unique()) == list(KPI_UNITS)
    assert list(table["window"].unique()) == ["2023", "2024"]
    wide = table.pivot(index="kpi", columns="window", values="value")
    expected = {
        # D was acquired in 2022; A and B in 2023; C in 2024.
        "customers_total": (3, 4),
        "customers_acquired": (2, 1),
        # End 2023: A and B bought within 365 days, D lapsed on 2023-12-01.
        # End 2024: A (bought 2024-03-01) and C; B lapsed on 2024-05-31.
        "customers_active": (2, 2),
        "revenue": (180.0, 160.0),  # the same-day return nets B's 40 to 30
        "orders_per_customer": (1.5, 1.5),  # 3 orders / 2 buyers in each year
        "average_order_value": (60.0, 160 / 3),
        # Share of the opening base lost. 2023 opens with D, lost 2023-12-01: 1 / 1.
        # 2024 opens with A and B: A lapsed 2024-02-01 (394 days between purchases) and came
        # back, B lapsed 2024-05-31: 2 / 2.
        "churn_rate": (1.0, 1.0),
        "leaky_bucket_ratio": (1 / 2, 2 / 1),
        # 2023 cohort: A repeats within 90 days, B does not; 2024: C does not.
        "early_repeat_rate": (0.5, 0.0),
        "nps": (100 * (2 / 3 - 1 / 3), 0.0),
        "csat": (100 * 2 / 3, 0.0),
    }
    for kpi, (previous, last) in expected.items():
        assert wide.loc[kpi, "2023"] == pytest.approx(previous), kpi
        assert wide.loc[kpi, "2024"] == pytest.approx(last), kpi
    changes = kpi_changes(table).set_index("kpi")
    assert changes.loc["revenue", "change"] == pytest.approx(160 / 180 - 1)
    assert changes.loc["churn_rate", "change_unit"] == "points"


def test_one_year_of_data_gives_one_window_and_no_flow_before_the_base_is_known(shop):
    # 578 days of data to 2024-06-30: one window, Jul 2023 - Jun 2024, no comparison.
    table = overview(shop, end=dt.date(2024, 6, 30), warm_up_days=None)
    assert list(table["window"].unique()) == ["Jul 2023 – Jun 2024"]
    wide = table.set_index("kpi")["value"]
    # The warm-up (the churn window, capped at half of 578 days: 289) ends 2023-09-16, after
    # the window opens: first-time buyers before it are the existing base, so new customers,
    # churn, early repeat and leaks are not measured.
    assert wide[["customers_acquired", "churn_rate", "early_repeat_rate"]].isna().all()
    assert wide["leaky_bucket_ratio"] != wide["leaky_bucket_ratio"]
    # Trading numbers are: A 80 (2024-03-01) and C 60 + 20 (2024-05-01).
    assert wide["revenue"] == pytest.approx(160.0)
    assert wide[["nps", "csat"]].isna().all()  # no survey
    assert kpi_changes(table)["change"].isna().all()  # nothing to compare with


def test_early_repeat_compares_new_customers_acquired_over_the_same_part_of_each_year():
    # End 2024-12-31, 90-day window: 2024's last countable customer was first seen on
    # 2024-10-02 (followed to 2024-12-31); 2023 is cut as many days before its end, 2023-10-02.
    rows = [
        ("A", "2023-01-10", 100.0),
        ("A", "2023-02-01", 50.0),  # repeats within 90 days
        ("B", "2023-06-01", 40.0),  # never repeats
        ("E", "2023-11-15", 30.0),  # holiday customer: repeats, but after 2023's cut
        ("E", "2023-12-20", 30.0),
        ("C", "2024-05-01", 60.0),
        ("C", "2024-06-15", 60.0),  # repeats within 90 days
        ("F", "2024-10-02", 20.0),  # the last day followed for the whole window: counted
        ("G", "2024-10-03", 20.0),  # one day later: not followed 90 days, left out
        ("G", "2024-10-10", 20.0),
        ("D", "2022-12-01", 30.0),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["order_id"] = [f"o{i}" for i in range(len(frame))]
    frame["channel"] = pd.Series([None] * len(frame), dtype="string")
    table = ibis.duckdb.connect().create_table("tx", ibis.memtable(frame))
    shop = table.mutate(date=table.date.cast("date"))
    table = overview(shop, end=dt.date(2024, 12, 31))
    wide = table.pivot(index="kpi", columns="window", values="value")
    # 2023: A and B (E is after 2023-10-02): 1 of 2. Without the cut E would make it 2 of 3.
    assert wide.loc["early_repeat_rate", "2023"] == pytest.approx(1 / 2)
    # 2024: C and F (G is after 2024-10-02): 1 of 2.
    assert wide.loc["early_repeat_rate", "2024"] == pytest.approx(1 / 2)
    windows = choose_windows(
        data_start="2022-12-01", observation_end="2024-12-31", churn_window_days=365
    )
    assert early_repeat_acquired_to(windows, early_repeat_days=90) == [
        pd.Timestamp("2023-10-02"),
        pd.Timestamp("2024-10-02"),
    ]
