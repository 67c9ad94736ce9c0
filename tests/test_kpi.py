import datetime as dt

import ibis
import pandas as pd
import pytest

from ccnb.kpi import KPI_UNITS, kpi_overview, last_full_years

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


def test_last_full_years():
    assert last_full_years(dt.date(2024, 12, 31)) == [2023, 2024]
    assert last_full_years(dt.date(1998, 6, 30)) == [1996, 1997]


def test_kpis_worked_by_hand(shop):
    survey = pd.DataFrame(
        {
            "customer_id": ["A", "B", "D", "C"],
            "date": pd.to_datetime(["2023-03-01", "2023-07-01", "2023-01-05", "2024-06-01"]),
            "nps": pd.array([10, 9, 3, 7], dtype="Int64"),
            "csat": pd.array([5, 4, 2, 3], dtype="Int64"),
        }
    )
    table = kpi_overview(
        shop,
        observation_end=dt.date(2024, 12, 31),
        churn_window_days=365,
        early_repeat_days=90,
        survey=survey,
    )
    assert list(table["kpi"].unique()) == list(KPI_UNITS)
    wide = table.pivot(index="kpi", columns="year", values="value")
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
        # 2023: D lost, base 1 -> 2: 1 / 1.5. 2024: A lapsed 2024-02-01 (394 days between
        # purchases) and came back, B lapsed: 2 lost over a base of 2 -> 2.
        "churn_rate": (1 / 1.5, 1.0),
        "leaky_bucket_ratio": (1 / 2, 2 / 1),
        # 2023 cohort: A repeats within 90 days, B does not; 2024: C does not.
        "early_repeat_rate": (0.5, 0.0),
        "nps": (100 * (2 / 3 - 1 / 3), 0.0),
        "csat": (100 * 2 / 3, 0.0),
    }
    for kpi, (previous, last) in expected.items():
        assert wide.loc[kpi, 2023] == pytest.approx(previous), kpi
        assert wide.loc[kpi, 2024] == pytest.approx(last), kpi


def test_years_without_data_or_survey_are_nan(shop):
    table = kpi_overview(
        shop,
        observation_end=dt.date(2024, 12, 31),
        churn_window_days=365,
        early_repeat_days=90,
        years=[2021, 2024],
    )
    wide = table.pivot(index="kpi", columns="year", values="value")
    assert wide[2021].drop("customers_total").isna().all()
    assert wide.loc[["nps", "csat"], 2024].isna().all()
