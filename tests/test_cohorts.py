"""Tests for ccnb.cohorts: hand-worked fixtures plus a seeded synthetic frame vs plain pandas."""

import ibis
import numpy as np
import pandas as pd
import pytest

from ccnb import cohorts

NAN = np.nan


@pytest.fixture(autouse=True)
def every_expression_compiles_for_pyspark(compile_for_pyspark):
    """Each expression a function executes must also compile for the PySpark backend."""


def transactions_frame(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["order_id"] = pd.Series([None] * len(frame), dtype="string")
    frame["channel"] = pd.Series([None] * len(frame), dtype="string")
    return frame


# The hand-worked shop of tests/conftest.py (fixtures shop, shop_frame, shop_customers).
END = "2023-06-30"


def test_assign_cohorts_monthly_with_channels(shop, shop_customers):
    result = cohorts.assign_cohorts(shop, customers=shop_customers, observation_end=END)
    assert list(result.columns) == [
        "customer_id",
        "first_purchase",
        "cohort",
        "acquisition_channel",
    ]
    assert result["customer_id"].tolist() == ["A", "B", "C", "D", "F"]  # no E (late), no G
    assert result["first_purchase"].tolist() == list(
        pd.to_datetime(["2023-01-10", "2023-01-25", "2023-02-03", "2023-03-15", "2023-06-10"])
    )
    assert result["cohort"].tolist() == list(
        pd.to_datetime(["2023-01-01", "2023-01-01", "2023-02-01", "2023-03-01", "2023-06-01"])
    )
    assert result["acquisition_channel"].tolist() == [
        "search",
        "social",
        "unknown",
        "unknown",
        "unknown",
    ]
    assert result["cohort"].dtype == "datetime64[ns]"


def test_assign_cohorts_quarter_and_year_without_observation_end(shop):
    quarterly = cohorts.assign_cohorts(shop, period="Q")
    # E (2023-07-02) is kept when no observation_end is given: Q3 cohort.
    cohort_of = quarterly.set_index("customer_id")["cohort"].dt.strftime("%Y-%m-%d")
    assert cohort_of.to_dict() == {
        "A": "2023-01-01",
        "B": "2023-01-01",
        "C": "2023-01-01",
        "D": "2023-01-01",
        "F": "2023-04-01",
        "E": "2023-07-01",
    }
    yearly = cohorts.assign_cohorts(shop, period="Y")
    assert set(yearly["cohort"]) == {pd.Timestamp("2023-01-01")}


def test_retention_triangle_monthly(shop):
    tidy = cohorts.retention_triangle(shop, observation_end=END, period="M")
    assert list(tidy.columns) == ["cohort", "age", "period", "cohort_size", "active", "retention"]
    assert tidy.dtypes.astype(str).tolist() == [
        "datetime64[ns]",
        "int64",
        "datetime64[ns]",
        "int64",
        "float64",
        "float64",
    ]
    triangle = cohorts.to_triangle(tidy)
    assert triangle.index.tolist() == list(
        pd.to_datetime(["2023-01-01", "2023-02-01", "2023-03-01", "2023-06-01"])
    )
    # Jan (A, B): Feb has only B's return (not a purchase) -> 0; Mar A -> 1/2; Apr-Jun none.
    # Feb (C): back on 06-30 (age 4); age 5 is July, not observed.
    # Mar (D): nothing after March; ages 4-5 are July/August.
    # Jun (F): only its acquisition month is observed.
    expected = [
        [1.0, 0.0, 0.5, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0, 1.0, NAN],
        [1.0, 0.0, 0.0, 0.0, NAN, NAN],
        [1.0, NAN, NAN, NAN, NAN, NAN],
    ]
    np.testing.assert_array_equal(triangle.to_numpy(), np.array(expected))
    assert tidy["cohort_size"].tolist()[::6] == [2, 1, 1, 1]
    assert cohorts.to_triangle(tidy, value="active").iloc[0].tolist() == [2, 0, 1, 0, 0, 0]


def test_retention_triangle_leaves_out_the_partial_period(shop):
    # On 2023-06-20 June is not complete: its cohort (F) and its cells are left out, and C's
    # purchase on 06-30 is in the future.
    tidy = cohorts.retention_triangle(shop, observation_end="2023-06-20")
    expected = [
        [1.0, 0.0, 0.5, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0, NAN],
        [1.0, 0.0, 0.0, NAN, NAN],
    ]
    np.testing.assert_array_equal(cohorts.to_triangle(tidy).to_numpy(), np.array(expected))

    partial = cohorts.retention_triangle(shop, observation_end="2023-06-20", complete_only=False)
    expected = [
        [1.0, 0.0, 0.5, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0, 0.0, NAN],
        [1.0, 0.0, 0.0, 0.0, NAN, NAN],
        [1.0, NAN, NAN, NAN, NAN, NAN],
    ]
    np.testing.assert_array_equal(cohorts.to_triangle(partial).to_numpy(), np.array(expected))


def test_retention_triangle_quarterly_on_a_backend_table(shop):
    con = ibis.duckdb.connect()
    table = con.create_table("transactions", shop)
    tidy = cohorts.retention_triangle(table, observation_end=END, period="Q")
    # Q1 cohort: A, B, C, D; in Q2 only C buys (06-30) -> 1/4. Q2 cohort: F.
    assert tidy["cohort_size"].tolist() == [4, 4, 1, 1]
    np.testing.assert_array_equal(
        cohorts.to_triangle(tidy).to_numpy(), np.array([[1.0, 0.25], [1.0, NAN]])
    )


def test_retention_triangle_split_by_channel(shop, shop_customers):
    tidy = cohorts.retention_triangle(shop, observation_end=END, customers=shop_customers)
    triangle = cohorts.to_triangle(tidy)
    assert triangle.index.names == ["acquisition_channel", "cohort"]
    search = triangle.loc[("search", pd.Timestamp("2023-01-01"))].tolist()
    social = triangle.loc[("social", pd.Timestamp("2023-01-01"))].tolist()
    unknown_feb = triangle.loc[("unknown", pd.Timestamp("2023-02-01"))].tolist()
    assert search == [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert social == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    np.testing.assert_array_equal(unknown_feb, [1.0, 0.0, 0.0, 0.0, 1.0, NAN])


def test_revenue_triangle_monthly(shop):
    tidy = cohorts.revenue_triangle(shop, observation_end=END)
    assert list(tidy.columns) == [
        "cohort",
        "age",
        "period",
        "cohort_size",
        "revenue",
        "revenue_per_customer",
        "cumulative_revenue_per_customer",
    ]
    jan = tidy[tidy["cohort"] == "2023-01-01"]
    # Jan cohort (2 customers): Jan 10+5+30, Feb -5 (B's return), Mar 20, then nothing.
    assert jan["revenue"].tolist() == [45.0, -5.0, 20.0, 0.0, 0.0, 0.0]
    assert jan["revenue_per_customer"].tolist() == [22.5, -2.5, 10.0, 0.0, 0.0, 0.0]
    assert jan["cumulative_revenue_per_customer"].tolist() == [22.5, 20.0, 30.0, 30.0, 30.0, 30.0]
    cumulative = cohorts.to_triangle(tidy, value="cumulative_revenue_per_customer")
    # Feb cohort (C): 40 then 10 at age 4; age 5 unobserved stays NaN.
    np.testing.assert_array_equal(cumulative.iloc[1], [40.0, 40.0, 40.0, 40.0, 50.0, NAN])
    np.testing.assert_array_equal(cumulative.iloc[3], [8.0, NAN, NAN, NAN, NAN, NAN])


def test_revenue_triangle_quarterly(shop):
    tidy = cohorts.revenue_triangle(shop, observation_end=END, period="Q")
    # Q1 cohort (4): Q1 10+5+20+30-5+40+15 = 115, Q2 C's 10. Q2 cohort (F): 8.
    np.testing.assert_array_equal(tidy["revenue"], [115.0, 10.0, 8.0, NAN])
    np.testing.assert_array_equal(tidy["cumulative_revenue_per_customer"], [28.75, 31.25, 8.0, NAN])


def test_to_triangle_rejects_unknown_column(shop):
    tidy = cohorts.retention_triangle(shop, observation_end=END)
    with pytest.raises(ValueError, match="'margin' not in the tidy grid"):
        cohorts.to_triangle(tidy, value="margin")


def test_cohort_by_channel_with_30_day_horizon(shop, shop_customers):
    result = cohorts.cohort_by_channel(shop, shop_customers, observation_end=END, horizon_days=30)
    # A: first 01-10, horizon to 02-09: 10 + 5, repeat 01-20; to date 35.
    # B: first 01-25, horizon to 02-24: 30 - 5 (return, no repeat); to date 25.
    # C: first 02-03, horizon to 03-05: 40, no repeat; to date 50 with a repeat on 06-30.
    # D: 15 only. F: first 06-10, horizon ends 07-10 > 06-30: not eligible.
    expected = pd.DataFrame(
        {
            "cohort": pd.to_datetime(
                ["2023-01-01", "2023-01-01", "2023-02-01", "2023-03-01", "2023-06-01"]
            ),
            "acquisition_channel": ["search", "social", "unknown", "unknown", "unknown"],
            "customers": [1, 1, 1, 1, 1],
            "eligible": [1, 1, 1, 1, 0],
            "repeaters": [1, 0, 0, 0, 0],
            "repeat_share": [1.0, 0.0, 0.0, 0.0, NAN],
            "revenue_per_customer": [15.0, 25.0, 40.0, 15.0, NAN],
            "repeat_share_to_date": [1.0, 0.0, 1.0, 0.0, 0.0],
            "revenue_per_customer_to_date": [35.0, 25.0, 50.0, 15.0, 8.0],
            "acquisition_cost_per_customer": [10.0, NAN, 5.0, NAN, NAN],
        }
    ).astype({"cohort": "datetime64[ns]", "acquisition_channel": "str"})
    pd.testing.assert_frame_equal(result, expected)


def test_cohort_by_channel_pooled(shop, shop_customers):
    result = cohorts.cohort_by_channel(
        shop, shop_customers, observation_end=END, horizon_days=30, period=None
    )
    assert result["acquisition_channel"].tolist() == ["search", "social", "unknown"]
    unknown = result.iloc[2]
    # C, D, F: eligible C and D; horizon revenue (40 + 15) / 2; to date (50 + 15 + 8) / 3.
    assert (unknown["customers"], unknown["eligible"], unknown["repeaters"]) == (3, 2, 0)
    assert unknown["revenue_per_customer"] == 27.5
    assert unknown["revenue_per_customer_to_date"] == pytest.approx(73 / 3)
    assert unknown["repeat_share_to_date"] == pytest.approx(1 / 3)
    assert unknown["acquisition_cost_per_customer"] == 5.0


def test_cohort_by_channel_accepts_an_ibis_customers_table_without_costs(shop, shop_customers):
    customers = ibis.memtable(shop_customers.drop(columns="acquisition_cost"))
    result = cohorts.cohort_by_channel(
        shop, customers, observation_end=END, horizon_days=30, period=None
    )
    assert result["acquisition_channel"].tolist() == ["search", "social", "unknown"]
    assert result["customers"].tolist() == [1, 1, 3]
    assert result["acquisition_cost_per_customer"].isna().all()


# Holiday buyers, observed until 2024-02-29 (February complete).
#   P: 2022-10-01 (100), 2022-11-10 (35)   acquired in October: not a holiday customer
#   H1: 2022-11-05 (50), 2022-11-20 (20), 2023-01-15 (30)
#   H2: 2022-12-10 (40), 2023-03-01 (10)
#   J: 2023-01-10 (25)
#   N1: 2023-11-11 (60)
#   N2: 2023-12-24 (80), 2024-01-05 (20)
#   N3: 2023-12-31 (10), 2024-03-05 (5: after observation_end)
HOLIDAY_ROWS = [
    ("P", "2022-10-01", 100.0),
    ("P", "2022-11-10", 35.0),
    ("H1", "2022-11-05", 50.0),
    ("H1", "2022-11-20", 20.0),
    ("H1", "2023-01-15", 30.0),
    ("H2", "2022-12-10", 40.0),
    ("H2", "2023-03-01", 10.0),
    ("J", "2023-01-10", 25.0),
    ("N1", "2023-11-11", 60.0),
    ("N2", "2023-12-24", 80.0),
    ("N2", "2024-01-05", 20.0),
    ("N3", "2023-12-31", 10.0),
    ("N3", "2024-03-05", 5.0),
]
HOLIDAY_END = "2024-02-29"


@pytest.fixture
def holidays():
    return ibis.memtable(transactions_frame(HOLIDAY_ROWS))


def test_seasonal_cohorts_compare_on_common_ages(holidays):
    result = cohorts.seasonal_cohorts(holidays, observation_end=HOLIDAY_END)
    # Nov-Dec 2023 buyers are observed through February 2024, two months after December: ages
    # 0..2 for both seasons.
    # 2022 (H1, H2): revenue by age 70+40, 0, 30 -> per customer 55, 0, 15; H1 repeats at 0.
    # 2023 (N1, N2, N3): 60+80+10, 20, 0 -> 50, 20/3, 0; N2 repeats at age 1.
    expected = pd.DataFrame(
        {
            "season_year": [2022, 2022, 2022, 2023, 2023, 2023],
            "season": ["Nov-Dec 2022"] * 3 + ["Nov-Dec 2023"] * 3,
            "age": [0, 1, 2, 0, 1, 2],
            "customers": [2, 2, 2, 3, 3, 3],
            "repeaters": [1.0, 1.0, 1.0, 0.0, 1.0, 1.0],
            "repeat_rate": [0.5, 0.5, 0.5, 0.0, 1 / 3, 1 / 3],
            "revenue_per_customer": [55.0, 0.0, 15.0, 50.0, 20 / 3, 0.0],
            "cumulative_revenue_per_customer": [55.0, 55.0, 70.0, 50.0, 170 / 3, 170 / 3],
        }
    ).astype({"season": "str"})
    pd.testing.assert_frame_equal(result, expected)


def test_seasonal_cohorts_longer_ages_are_nan_where_unobserved(holidays):
    result = cohorts.seasonal_cohorts(holidays, observation_end=HOLIDAY_END, max_age=3)
    age3 = result[result["age"] == 3].set_index("season_year")
    # 2022 at age 3: H2 buys in March 2023 (10): both customers have repeated.
    assert age3.loc[2022, "repeat_rate"] == 1.0
    assert age3.loc[2022, "cumulative_revenue_per_customer"] == 75.0
    # March 2024 is not observed for the 2023 season.
    assert np.isnan(age3.loc[2023, "repeat_rate"])
    assert np.isnan(age3.loc[2023, "cumulative_revenue_per_customer"])

    only_2023 = cohorts.seasonal_cohorts(holidays, observation_end=HOLIDAY_END, years=[2023])
    assert only_2023["season_year"].unique().tolist() == [2023]
    with pytest.raises(ValueError, match=r"season-year\(s\) \[2024\]"):
        cohorts.seasonal_cohorts(holidays, observation_end=HOLIDAY_END, years=[2024])


def test_seasonal_cohorts_across_the_turn_of_the_year(holidays):
    result = cohorts.seasonal_cohorts(holidays, observation_end=HOLIDAY_END, season_months=(12, 1))
    # Season 2022 = Dec 2022 + Jan 2023 buyers (H2, J); season 2023 = N2, N3 (no Jan 2024
    # buyers). The 2023 season ends in January 2024, so ages 0..1 are compared.
    assert result["season"].unique().tolist() == ["Dec 2022-Jan 2023", "Dec 2023-Jan 2024"]
    assert result["age"].unique().tolist() == [0, 1]
    assert result["customers"].tolist() == [2, 2, 2, 2]
    # 2022: 40 + 25 at age 0, nothing at age 1. 2023: 80 + 10, then N2's 20 at age 1.
    assert result["cumulative_revenue_per_customer"].tolist() == [32.5, 32.5, 45.0, 55.0]
    assert result["repeat_rate"].tolist() == [0.0, 0.0, 0.0, 0.5]


def test_seasonal_cohorts_rejects_non_consecutive_months(holidays):
    with pytest.raises(ValueError, match="consecutive calendar months"):
        cohorts.seasonal_cohorts(holidays, observation_end=HOLIDAY_END, season_months=(11, 1))


def test_layer_cake_yearly(holidays):
    result = cohorts.layer_cake(holidays, observation_end=HOLIDAY_END, period="Y")
    # 2022 cohort = P, H1, H2; 2023 cohort = J, N1, N2, N3. 2024 is not complete.
    # 2022: P 135 + H1 70 + H2 40. 2023: old layer H1 30 + H2 10; new layer 25+60+80+10.
    expected = pd.DataFrame(
        {
            "period": pd.to_datetime(["2022-01-01", "2023-01-01", "2023-01-01"]),
            "cohort": pd.to_datetime(["2022-01-01", "2022-01-01", "2023-01-01"]),
            "customers": [3, 2, 4],
            "revenue": [245.0, 40.0, 175.0],
        }
    ).astype({"period": "datetime64[ns]", "cohort": "datetime64[ns]"})
    pd.testing.assert_frame_equal(result, expected)

    partial = cohorts.layer_cake(
        holidays, observation_end=HOLIDAY_END, period="Y", complete_only=False
    )
    # 2024 to February: the 2022 layer is empty (0, not missing); N2 spends 20.
    assert partial.iloc[3:].to_dict("list") == {
        "period": [pd.Timestamp("2024-01-01")] * 2,
        "cohort": [pd.Timestamp("2022-01-01"), pd.Timestamp("2023-01-01")],
        "customers": [0, 1],
        "revenue": [0.0, 20.0],
    }


def test_layer_cake_quarters_by_quarterly_cohorts(holidays):
    result = cohorts.layer_cake(
        holidays, observation_end=HOLIDAY_END, period="Q", cohort_period="Q"
    )
    first_quarter_2023 = result[result["period"] == "2023-01-01"]
    # Q1 2023: Q4-2022 layer H1 30 + H2 10; the new Q1-2023 layer J 25.
    assert first_quarter_2023["cohort"].dt.strftime("%Y-%m").tolist() == [
        "2022-10",
        "2023-01",
    ]
    assert first_quarter_2023["revenue"].tolist() == [40.0, 25.0]


def test_the_warm_up_base_is_no_cohort(shop, shop_customers):
    # The base is known from 02-09: A, B (January) and C (02-03) are the existing base.
    # Monthly cohorts start with the first whole month after it, March: D, then F in June.
    retention = cohorts.retention_triangle(shop, observation_end=END, acquired_from="2023-02-09")
    sizes = retention.drop_duplicates("cohort").set_index("cohort")["cohort_size"]
    assert sizes.to_dict() == {pd.Timestamp("2023-03-01"): 1, pd.Timestamp("2023-06-01"): 1}
    revenue = cohorts.revenue_triangle(
        shop, observation_end=END, period="Q", acquired_from="2023-02-09"
    )
    # quarterly: Q1 is cut by the warm-up's end, so the first cohort is Q2 (F alone)
    assert revenue["cohort"].unique().tolist() == [pd.Timestamp("2023-04-01")]
    by_channel = cohorts.cohort_by_channel(
        shop, shop_customers, observation_end=END, period=None, acquired_from="2023-02-09"
    )
    assert by_channel["customers"].sum() == 2  # D and F


def test_layer_cake_gives_the_existing_base_its_own_layer(shop):
    result = cohorts.layer_cake(shop, observation_end=END, period="Q", acquired_from="2023-02-09")
    # Q1: existing base A 35 + B 25 + C 40 + G's return (no purchase: no layer) ; 2023 layer D
    # 15. Q2: existing C 10 (06-30); 2023 layer F 8 (D bought nothing).
    assert result["cohort"].isna().tolist() == [True, False, True, False]
    assert result["revenue"].tolist() == [100.0, 15.0, 10.0, 8.0]
    assert result["customers"].tolist() == [3, 1, 1, 1]
    newest = cohorts.newest_layer_share(result)
    assert newest["cohort"] == pd.Timestamp("2023-01-01")
    assert newest["share"] == pytest.approx(8 / 18)


def test_bad_inputs_name_the_problem(shop, shop_customers):
    with pytest.raises(ValueError, match=r"period must be one of \['M', 'Q', 'Y'\]; got 'W'"):
        cohorts.retention_triangle(shop, observation_end=END, period="W")
    with pytest.raises(ValueError, match="transactions is missing column 'amount'"):
        cohorts.assign_cohorts(shop.drop("amount"))
    duplicated = pd.concat([shop_customers, shop_customers.iloc[:1]])
    with pytest.raises(ValueError, match="more than one row"):
        cohorts.assign_cohorts(shop, customers=duplicated)
    with pytest.raises(ValueError, match="horizon_days must be a positive"):
        cohorts.cohort_by_channel(shop, shop_customers, observation_end=END, horizon_days=0)


def test_pandas_input_and_empty_result(shop_frame):
    frame = shop_frame
    tidy = cohorts.retention_triangle(frame, observation_end=END)
    assert tidy["cohort_size"].sum() == 2 * 6 + 1 * 6 + 1 * 6 + 1 * 6
    empty = cohorts.retention_triangle(frame, observation_end="2022-12-31")
    assert empty.empty
    assert empty.dtypes.astype(str).tolist() == [
        "datetime64[ns]",
        "int64",
        "datetime64[ns]",
        "int64",
        "float64",
        "float64",
    ]


# ---------------------------------------------------------------------------------------------
# A seeded synthetic shop (about 3,000 rows) against plain-pandas reference implementations.
# ---------------------------------------------------------------------------------------------

SYNTHETIC_END = pd.Timestamp("2023-10-15")  # mid-month and mid-quarter: partial periods


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
    rows += [("r0001", pd.Timestamp("2022-05-05"), -12.0)]  # a return without any purchase
    frame = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    channels = ["search", "social", "email"]
    customer_table = pd.DataFrame(
        {
            "customer_id": [f"c{n:04d}" for n in range(0, customers, 1) if n % 10],
            "acquisition_channel": [channels[n % 3] for n in range(customers) if n % 10],
        }
    )
    return frame, customer_table


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_frame()


def reference_rows(frame, period):
    """Rows of acquired customers with cohort start and age, computed with pandas periods."""
    frame = frame[frame["date"] <= SYNTHETIC_END]
    first = frame[frame["amount"] >= 0].groupby("customer_id")["date"].min().rename("first")
    rows = frame.join(first, on="customer_id", how="inner")
    rows = rows[rows["date"] >= rows["first"]].copy()
    cohort = rows["first"].dt.to_period(period)
    in_period = rows["date"].dt.to_period(period)
    rows["cohort"] = cohort.dt.start_time
    rows["age"] = [(later - earlier).n for later, earlier in zip(in_period, cohort, strict=True)]
    return rows


def last_complete(period):
    current = SYNTHETIC_END.to_period(period)
    return current if current.end_time.normalize() <= SYNTHETIC_END else current - 1


@pytest.mark.parametrize("period", ["M", "Q", "Y"])
def test_triangles_match_pandas_reference(synthetic, period):
    frame, _ = synthetic
    table = ibis.memtable(frame)
    retention = cohorts.retention_triangle(table, observation_end=SYNTHETIC_END, period=period)
    revenue = cohorts.revenue_triangle(table, observation_end=SYNTHETIC_END, period=period)

    rows = reference_rows(frame, period)
    last = last_complete(period)
    rows = rows[rows["cohort"] <= last.start_time]
    active = rows[rows["amount"] >= 0].groupby(["cohort", "age"])["customer_id"].nunique()
    money = rows.groupby(["cohort", "age"])["amount"].sum()
    sizes = rows.groupby("cohort")["customer_id"].nunique()

    assert retention["cohort"].unique().tolist() == sizes.index.tolist()
    for cell in retention.itertuples():
        observable = (pd.Period(cell.cohort, period) + cell.age) <= last
        assert cell.cohort_size == sizes[cell.cohort]
        if observable:
            assert cell.active == active.get((cell.cohort, cell.age), 0)
            assert cell.retention == pytest.approx(cell.active / sizes[cell.cohort])
        else:
            assert np.isnan(cell.active) and np.isnan(cell.retention)
    for cell in revenue.itertuples():
        observable = (pd.Period(cell.cohort, period) + cell.age) <= last
        if observable:
            assert cell.revenue == pytest.approx(money.get((cell.cohort, cell.age), 0.0))
            expected = money.loc[cell.cohort].loc[: cell.age].sum() / sizes[cell.cohort]
            assert cell.cumulative_revenue_per_customer == pytest.approx(expected)
        else:
            assert np.isnan(cell.revenue) and np.isnan(cell.cumulative_revenue_per_customer)


def test_cohort_by_channel_matches_pandas_reference(synthetic):
    frame, customer_table = synthetic
    result = cohorts.cohort_by_channel(
        ibis.memtable(frame), customer_table, observation_end=SYNTHETIC_END, period="Q"
    )
    rows = reference_rows(frame, "Q")
    rows = rows[rows["cohort"] <= last_complete("Q").start_time]
    channel = customer_table.set_index("customer_id")["acquisition_channel"]
    rows["acquisition_channel"] = rows["customer_id"].map(channel).fillna("unknown")
    horizon_end = rows["first"] + pd.Timedelta(days=365)
    rows["within"] = rows["date"] <= horizon_end
    rows["repeat"] = (rows["date"] > rows["first"]) & (rows["amount"] >= 0)
    per_customer = rows.groupby(["cohort", "acquisition_channel", "customer_id"]).agg(
        first=("first", "min"),
        revenue_to_date=("amount", "sum"),
        repeat_to_date=("repeat", "any"),
    )
    per_customer["revenue_horizon"] = (
        rows[rows["within"]]
        .groupby(["cohort", "acquisition_channel", "customer_id"])["amount"]
        .sum()
    )
    per_customer["repeat_horizon"] = (
        rows[rows["within"] & rows["repeat"]]
        .groupby(["cohort", "acquisition_channel", "customer_id"])["repeat"]
        .any()
        .reindex(per_customer.index, fill_value=False)
    )
    per_customer["eligible"] = per_customer["first"] + pd.Timedelta(days=365) <= SYNTHETIC_END
    eligible = per_customer[per_customer["eligible"]]
    grouped = per_customer.groupby(["cohort", "acquisition_channel"])
    eligible_grouped = eligible.groupby(["cohort", "acquisition_channel"])
    reference = pd.DataFrame(
        {
            "customers": grouped.size(),
            "eligible": grouped["eligible"].sum(),
            "repeat_share": eligible_grouped["repeat_horizon"].mean(),
            "revenue_per_customer": eligible_grouped["revenue_horizon"].mean(),
            "revenue_per_customer_to_date": grouped["revenue_to_date"].mean(),
            "repeat_share_to_date": grouped["repeat_to_date"].mean(),
        }
    )
    result = result.set_index(["cohort", "acquisition_channel"])
    assert result.index.tolist() == reference.index.tolist()
    for column in reference:
        np.testing.assert_allclose(
            result[column].to_numpy(dtype=float), reference[column].to_numpy(dtype=float)
        )
    assert result["eligible"].sum() < result["customers"].sum()  # recent cohorts are censored


def test_seasonal_and_layer_cake_match_pandas_reference(synthetic):
    frame, _ = synthetic
    table = ibis.memtable(frame)
    seasons = cohorts.seasonal_cohorts(table, observation_end=SYNTHETIC_END, season_months=(12, 1))
    # Seasons Dec 2020-Jan 2021 (January 2021 buyers only) ... Dec 2022-Jan 2023 are complete;
    # the last is observed through September 2023, 8 months after January -> ages 0..8.
    assert seasons["season_year"].unique().tolist() == [2020, 2021, 2022]
    assert seasons["age"].max() == 8
    rows = reference_rows(frame, "M")
    month = rows["first"].dt.month
    rows = rows[month.isin([12, 1])].copy()
    rows["season_year"] = rows["first"].dt.year - (rows["first"].dt.month == 1)
    rows["repeat"] = (rows["date"] > rows["first"]) & (rows["amount"] >= 0)
    for season in seasons.itertuples():
        members = rows[rows["season_year"] == season.season_year]
        upto = members[members["age"] <= season.age]
        size = members["customer_id"].nunique()
        assert season.customers == size
        assert season.repeaters == upto.loc[upto["repeat"], "customer_id"].nunique()
        assert season.cumulative_revenue_per_customer == pytest.approx(upto["amount"].sum() / size)

    cake = cohorts.layer_cake(table, observation_end=SYNTHETIC_END, period="Q")
    rows = reference_rows(frame, "Y")
    rows["period"] = rows["date"].dt.to_period("Q").dt.start_time
    rows = rows[rows["period"] <= pd.Timestamp("2023-07-01")]  # Q3 2023 is the last complete
    expected = rows.groupby(["period", "cohort"])["amount"].sum()
    observed = cake.set_index(["period", "cohort"])["revenue"]
    np.testing.assert_allclose(observed.loc[expected.index].to_numpy(), expected.to_numpy())
    assert observed.drop(expected.index).eq(0.0).all()
    assert cake["period"].max() == pd.Timestamp("2023-07-01")


def test_repeat_share_gap_compares_the_extremes_with_the_interval_of_their_difference():
    table = pd.DataFrame(
        {
            "acquisition_channel": ["A", "B", "C", "D"],
            "eligible": [100, 400, 50, 0],
            "repeat_share": [0.5, 0.3, 0.4, np.nan],
        }
    )
    gap = cohorts.repeat_share_gap(table)
    assert (gap["best_channel"], gap["worst_channel"]) == ("A", "B")
    # sqrt(0.5 * 0.5 / 100 + 0.3 * 0.7 / 400) = sqrt(0.003025) = 0.055; z(97.5%) = 1.959964
    assert gap["gap"] == pytest.approx(0.2)
    assert gap["gap_low"] == pytest.approx(0.2 - 1.959964 * 0.055, abs=1e-6)
    assert gap["gap_high"] == pytest.approx(0.2 + 1.959964 * 0.055, abs=1e-6)
    assert gap["clear"]
    # the same shares over 10 customers each: +-0.42, so chance alone could give the gap
    small = table.assign(eligible=[10, 10, 0, 0])
    assert not cohorts.repeat_share_gap(small)["clear"]
    with pytest.raises(ValueError, match="a comparison needs two"):
        cohorts.repeat_share_gap(table.assign(eligible=[10, 0, 0, 0]))


def test_new_customers_by_channel_counts_first_purchases_in_the_period(shop, shop_customers):
    # first purchases: A 01-10 search, B 01-25 social, C 02-03, D 03-15, F 06-10 (unknown);
    # E buys first after the end
    counted = cohorts.new_customers_by_channel(shop, shop_customers, start="2023-01-20", end=END)
    assert counted.to_dict("list") == {
        "acquisition_channel": ["social", "unknown"],
        "new_customers": [1, 3],
    }
    # the warm-up's existing base is never an acquisition: from March only D and F
    later = cohorts.new_customers_by_channel(
        shop, shop_customers, start="2023-01-20", end=END, acquired_from="2023-03-01"
    )
    assert later.to_dict("list") == {"acquisition_channel": ["unknown"], "new_customers": [2]}
