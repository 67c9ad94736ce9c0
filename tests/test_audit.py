"""The customer-base audit on a tiny shop whose every number is worked out by hand below.

Ten customers A-J, 2023-2025, observation end 2025-12-31; the two periods compared are 2024
(previous) and 2025 (current).

=====  ============================================================  ==================
cust.  transactions (order id, day, amount, category)               in 2024 / in 2025
=====  ============================================================  ==================
A      o1 2023-03-01 100 Books; o2 2024-02-01 50 Toys;               50 / 100 (2 orders)
       o3 2025-03-01 80 Books; o4 2025-06-01 20 Books
B      o5 2024-05-01 200 Toys; o6 2025-05-01 100 Toys                200 / 100
C      o7 2024-07-01 60 Books                                        60 / -
D      o8 2025-01-10 40 Toys; o9 2025-02-09 30 Books                 - / 70 (2 orders)
E      o10 2023-05-01 70 Garden; o11 2025-08-01 90 Garden            - / 90
F      o12 2025-11-01 10 Books                                       - / 10
G      o13 2024-03-01 30 Garden; o14 2024-04-01 30 Toys              60 (2 orders) / -
H      o15 2025-04-01 300 Toys; r1 2025-04-01 -50 Toys (a return)    - / 250 (1 order)
I      o16 2024-10-01 25 Books; o17 2025-10-01 25 Toys               25 / 25
J      o18 2025-12-01 5 Garden                                       - / 5
=====  ============================================================  ==================

Revenue: 2024 = 50 + 200 + 60 + 60 + 25 = 395; 2025 = 100 + 100 + 70 + 90 + 10 + 250 + 25 + 5
= 650.
"""

import ibis
import numpy as np
import pandas as pd
import pytest

from ccnb import audit

ROWS = [
    ("A", "o1", "2023-03-01", 100, "Books"),
    ("A", "o2", "2024-02-01", 50, "Toys"),
    ("A", "o3", "2025-03-01", 80, "Books"),
    ("A", "o4", "2025-06-01", 20, "Books"),
    ("B", "o5", "2024-05-01", 200, "Toys"),
    ("B", "o6", "2025-05-01", 100, "Toys"),
    ("C", "o7", "2024-07-01", 60, "Books"),
    ("D", "o8", "2025-01-10", 40, "Toys"),
    ("D", "o9", "2025-02-09", 30, "Books"),
    ("E", "o10", "2023-05-01", 70, "Garden"),
    ("E", "o11", "2025-08-01", 90, "Garden"),
    ("F", "o12", "2025-11-01", 10, "Books"),
    ("G", "o13", "2024-03-01", 30, "Garden"),
    ("G", "o14", "2024-04-01", 30, "Toys"),
    ("H", "o15", "2025-04-01", 300, "Toys"),
    ("H", "r1", "2025-04-01", -50, "Toys"),
    ("I", "o16", "2024-10-01", 25, "Books"),
    ("I", "o17", "2025-10-01", 25, "Toys"),
    ("J", "o18", "2025-12-01", 5, "Garden"),
]
END = "2025-12-31"
PREVIOUS, CURRENT = ("2024-01-01", "2024-12-31"), ("2025-01-01", "2025-12-31")


@pytest.fixture(scope="module")
def shop():
    frame = pd.DataFrame(ROWS, columns=["customer_id", "order_id", "date", "amount", "category"])
    return frame.assign(date=pd.to_datetime(frame["date"]), amount=frame["amount"].astype(float))


def test_lens_1_deciles_lorenz_and_one_time_buyers(shop):
    """2025 buyers by revenue: H 250, A 100, B 100, E 90, D 70, I 25, F 10, J 5 (8 buyers:
    decile = position x 10 // 8 + 1 = 1, 2, 3, 4, 6, 7, 8, 9). Top 10% = ceil(0.8) = 1 buyer:
    250 / 650; top 20% = 2 buyers: 350 / 650. One order: B, E, F, H, I, J = 6 of 8. Lorenz
    (ascending 5, 10, 25, 70, 90, 100, 100, 250; cumulative 5 ... 650): Gini = 1 - (1720 +
    1070) / (650 x 8) = 2410 / 5200."""
    result = audit.customer_differences(shop, start=CURRENT[0], end=CURRENT[1], gross_margin=0.4)
    deciles = result.deciles.set_index("decile")
    assert result.buyers == 8 and result.returns_only == 0  # H returned, but also bought
    assert deciles["revenue"].tolist() == [250, 100, 100, 90, 0, 70, 25, 10, 5, 0]
    assert deciles["customers"].tolist() == [1, 1, 1, 1, 0, 1, 1, 1, 1, 0]
    assert deciles.loc[1, "gross_margin"] == pytest.approx(100)
    assert deciles["revenue_share"].sum() == pytest.approx(1)
    assert result.top_10_share == pytest.approx(250 / 650)
    assert result.top_20_share == pytest.approx(350 / 650)
    assert result.one_time_share == pytest.approx(6 / 8)
    assert result.gini == pytest.approx(2410 / 5200)
    assert result.orders["1"] == 6 and result.orders["2"] == 2
    assert result.lorenz["revenue_share"].iloc[-1] == pytest.approx(1)


def test_lens_1_draws_the_lorenz_curve_of_many_buyers_at_every_tenth_of_a_percent():
    """5,000 buyers, one order each: the curve at share k / 1,000 is the lowest 5k buyers'
    revenue over the total (a buyer's point, the curve being straight between them); the Gini
    is the per-buyer one, (2 sum_i i x_(i)) / (n sum x) - (n + 1) / n with x ascending."""
    revenue = np.random.default_rng(5).gamma(0.6, 80.0, 5_000).round(2) + 0.01
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{number:05d}" for number in range(5_000)],
            "order_id": [f"O{number:05d}" for number in range(5_000)],
            "date": pd.Timestamp("2025-06-01"),
            "amount": revenue,
        }
    )
    result = audit.customer_differences(frame, start=CURRENT[0], end=CURRENT[1], gross_margin=0.4)
    lorenz = result.lorenz
    assert len(lorenz) == audit.LORENZ_POINTS == 1_001
    ascending = np.sort(revenue)
    k = np.arange(1_001)
    np.testing.assert_allclose(lorenz["customer_share"], k / 1_000)
    lowest = np.concatenate([[0.0], np.cumsum(ascending)])[5 * k]
    np.testing.assert_allclose(lorenz["revenue_share"], lowest / ascending.sum(), atol=1e-12)
    n = len(ascending)
    gini = 2 * np.sum(np.arange(1, n + 1) * ascending) / (n * ascending.sum()) - (n + 1) / n
    assert result.gini == pytest.approx(gini, rel=1e-12)


def test_lens_1_ranked_in_the_engine_equals_every_buyer_ranked_by_hand():
    """2,345 buyers (not a multiple of ten) with tied revenues, some net negative, and 30
    customers with returns only: deciles cut by position with ties broken by id, the Lorenz
    curve at every 0.1% interpolated between buyers' points, the Gini and top shares, each
    computed here from every buyer sorted in pandas."""
    rng = np.random.default_rng(11)
    n = 2_345
    revenue = rng.choice([-20.0, 0.0, 15.0, 40.0, 40.0, 99.5, 250.0], n) + rng.integers(0, 3, n)
    orders = rng.integers(1, 14, n)
    ids = rng.permutation([f"K{number:05d}" for number in range(n)])
    rows = []
    for customer, total, count in zip(ids, revenue, orders, strict=True):
        # the first order carries the revenue: sums in any order are exact, ties stay ties
        rows += [(customer, f"{customer}-{k}", total if k == 0 else 0.0) for k in range(count)]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "amount"])
    frame["purchase"] = True
    returns = pd.DataFrame(
        {
            "customer_id": [f"R{k:02d}" for k in range(30)],
            "order_id": [f"R{k:02d}" for k in range(30)],
            "amount": -5.0,
            "purchase": False,
        }
    )
    frame = pd.concat([frame, returns], ignore_index=True).assign(date=pd.Timestamp("2025-06-01"))
    result = audit.customer_differences(frame, start=CURRENT[0], end=CURRENT[1], gross_margin=0.4)

    buyers = pd.DataFrame({"customer_id": ids, "revenue": revenue, "orders": orders})
    buyers = buyers.sort_values(["revenue", "customer_id"], ascending=[False, True])
    buyers["decile"] = np.arange(n) * 10 // n + 1
    by_decile = buyers.groupby("decile")
    deciles = result.deciles.set_index("decile")
    assert deciles["customers"].tolist() == by_decile.size().tolist()
    assert deciles["orders"].tolist() == by_decile["orders"].sum().tolist()
    np.testing.assert_allclose(deciles["revenue"], by_decile["revenue"].sum(), rtol=1e-12)
    ascending = np.sort(buyers["revenue"].clip(lower=0).to_numpy())
    cumulative = np.concatenate([[0.0], np.cumsum(ascending)]) / ascending.sum()
    shares = np.linspace(0, 1, audit.LORENZ_POINTS)
    expected = np.interp(shares, np.arange(n + 1) / n, cumulative)
    np.testing.assert_allclose(result.lorenz["revenue_share"], expected, atol=1e-12)
    gini = 1 - np.sum(cumulative[1:] + cumulative[:-1]) / n
    assert result.gini == pytest.approx(gini, rel=1e-12)
    assert result.top_10_share == pytest.approx(ascending[-235:].sum() / ascending.sum())
    assert result.top_20_share == pytest.approx(ascending[-469:].sum() / ascending.sum())
    assert result.buyers == n and result.returns_only == 30
    assert result.returns_only_revenue == pytest.approx(-150.0)
    assert result.one_time_share == pytest.approx((orders == 1).mean())
    shown = np.minimum(orders, 10)
    assert result.orders.tolist() == [int((shown == k).sum()) for k in range(1, 11)]


def test_lens_2_flows_and_a_bridge_that_adds_up_exactly(shop):
    """Retained A, B, I (275 -> 225); lost C, G (120); new D, F, H, J (335); reactivated E
    (first seen 2023, nothing in 2024: 90). Bridge: 395 - 120 - 100 (B) + 50 (A) + 90 + 335
    = 650. Same-customer growth (225 - 275) / 275."""
    result = audit.revenue_bridge(shop, previous=PREVIOUS, current=CURRENT)
    flows = result.flows.set_index("status")
    assert flows["customers"].to_dict() == {"retained": 3, "new": 4, "reactivated": 1, "lost": 2}
    assert flows.loc["retained", "previous_revenue"] == 275
    assert flows.loc["retained", "current_revenue"] == 225
    assert flows.loc["lost", "previous_revenue"] == 120
    assert flows.loc["new", "current_revenue"] == 335
    assert flows.loc["reactivated", "current_revenue"] == 90
    assert result.bridge["amount"].tolist() == [395, -120, -100, 50, 90, 335, 650]
    steps = result.bridge["amount"].to_numpy()
    assert steps[0] + steps[1:-1].sum() == steps[-1]  # exactly
    assert result.same_customer_growth == pytest.approx(-50 / 275)


def test_a_bridge_between_periods_without_customers_is_all_zero(shop):
    result = audit.revenue_bridge(
        shop, previous=("2019-01-01", "2019-12-31"), current=("2020-01-01", "2020-12-31")
    )
    assert result.flows["customers"].tolist() == [0, 0, 0, 0]
    assert result.bridge["amount"].abs().sum() == 0
    assert not np.signbit(result.bridge["amount"]).any()  # no "-0" step in the report
    assert np.isnan(result.same_customer_growth)


def test_lenses_3_and_4_cohorts_by_age_and_their_factors(shop):
    """Cohort 2023 (A, E): age 0 revenue 170 (2 orders), age 1 A's 50 (1 order), age 2 A 100
    (2 orders) + E 90 = 190 (3 orders). Cohort 2024 (B, C, G, I): age 0 345 from 5 orders (G
    two), age 1 B 100 + I 25 = 125. Cohort 2025 (D, F, H, J): age 0 335 from 5 orders.
    At age 0, 2025 against 2024: size 4/4, share buying 1/1, orders per buyer 5/4 / 5/4,
    order value 67 / 69. At age 1, 2024 against 2023: size 4/2 = 2, share 0.5/0.5, orders per
    buyer 1/1, order value 62.5/50 = 1.25; revenue 125/50 = 2.5 = 2 x 1.25."""
    table = audit.cohort_evolution(shop, observation_end=END, period="Y")
    cells = table.set_index([table["cohort"].dt.year, "age"])
    assert cells["revenue"].to_dict() == {
        (2023, 0): 170,
        (2023, 1): 50,
        (2023, 2): 190,
        (2024, 0): 345,
        (2024, 1): 125,
        (2025, 0): 335,
    }
    assert cells.loc[(2023, 2), "orders"] == 3 and cells.loc[(2023, 2), "active"] == 2
    assert cells.loc[(2024, 1), "active_share"] == 0.5
    assert cells.loc[(2024, 0), "orders_per_active"] == 1.25
    assert cells.loc[(2025, 0), "average_order_value"] == 67
    assert cells.loc[(2023, 1), "calendar_period"] == pd.Timestamp("2024-01-01")
    identity = cells["size"] * cells["active_share"] * cells["orders_per_active"]
    np.testing.assert_allclose(identity * cells["average_order_value"], cells["revenue"])
    first = audit.cohort_comparison(table, age=0).set_index("factor")["ratio"]
    assert first["size"] == 1 and first["orders_per_active"] == 1
    assert first["average_order_value"] == pytest.approx(67 / 69)
    assert first["revenue"] == pytest.approx(335 / 345)
    later = audit.cohort_comparison(table, age=1).set_index("factor")
    assert later["ratio"].to_dict() == pytest.approx(
        {
            "size": 2,
            "active_share": 1,
            "orders_per_active": 1,
            "average_order_value": 1.25,
            "revenue": 2.5,
        }
    )
    assert later.loc[list(audit.FACTORS), "log_ratio"].sum() == pytest.approx(np.log(2.5))


def test_lens_5_revenue_by_acquisition_year(shop):
    """2025 revenue by first purchase year: 2023 A 100 + E 90 = 190; 2024 B 100 + I 25 = 125;
    2025 D, F, H, J = 335 (new share 335 / 650 >= 40%: depends on new customers)."""
    result = audit.base_health(shop, start=CURRENT[0], end=CURRENT[1])
    layers = result.layers.set_index("layer")
    assert layers["revenue"].to_dict() == {"2023": 190, "2024": 125, "2025": 335}
    assert layers["revenue"].sum() == 650
    assert result.new_share == pytest.approx(335 / 650)
    assert result.verdict == "depends on new customers"
    # with a warm-up to 2025-02-01 everyone first seen before is the existing base, D too:
    # A 100 + B 100 + D 70 + E 90 + I 25 = 385; new F, H, J = 265
    warm = audit.base_health(shop, start=CURRENT[0], end=CURRENT[1], acquired_from="2025-02-01")
    assert warm.layers.set_index("layer")["revenue"].to_dict() == {
        "existing base": 385,
        "2025": 265,
    }
    assert warm.new_share == pytest.approx(265 / 650) and warm.verdict == "depends on new customers"
    # D, first seen 2025-01-10 inside both the period and the warm-up, may be new: 70 / 650;
    # at most (265 + 70) / 650 new, the same verdict
    assert warm.unknown_share == pytest.approx(70 / 650)
    # a warm-up to 2025-06-01 leaves F and J new (10 + 5), D and H unknown (70 + 250): between
    # 2% (rests on existing customers) and 52% (depends on new ones) - not a verdict to give
    late = audit.base_health(shop, start=CURRENT[0], end=CURRENT[1], acquired_from="2025-06-01")
    assert late.new_share == pytest.approx(15 / 650)
    assert late.unknown_share == pytest.approx(320 / 650)
    assert late.verdict == "undetermined"
    # the whole year before the period: nothing unknown
    assert result.unknown_share == 0
    # June-July 2025: only A's order (first seen 2023) - nobody new
    summer = audit.base_health(shop, start="2025-06-01", end="2025-07-31")
    assert summer.verdict == "no new customers" and summer.new_share == 0


def test_time_to_second_purchase_counts_the_censored_as_still_possible(shop):
    """Days to a second purchase day: A 337, B 365, D 30, E 823, G 31, I 365; censored at the
    end: C 548, F 60, H 274 (the return is not a purchase), J 30. Kaplan-Meier: day 30, 10 at
    risk, 1 repeat: S = 0.9; day 31, 8 at risk (D and J left): 0.9 x 7/8 = 0.7875; day 337,
    5 at risk: x 4/5 = 0.63; day 365, 4 at risk, 2 repeats: x 1/2 = 0.315; day 823: 0.
    Within 30 days 0.1, within 60 .. 180 days 0.2125; within a year 0.685, half of it
    (0.3425) reached on day 337."""
    second = audit.second_purchases(shop, observation_end=END).set_index("customer_id")
    assert second["days"].to_dict() == {
        "A": 337,
        "B": 365,
        "C": 548,
        "D": 30,
        "E": 823,
        "F": 60,
        "G": 31,
        "H": 274,
        "I": 365,
        "J": 30,
    }
    assert second["repeated"].sum() == 6 and not second.loc["H", "repeated"]
    curve = audit.repeat_curve(second["days"], second["repeated"])
    assert curve["day"].tolist() == [30, 31, 337, 365, 823]
    assert curve["at_risk"].tolist() == [10, 8, 5, 4, 1]
    np.testing.assert_allclose(curve["repeated_share"], [0.1, 0.2125, 0.37, 0.685, 1.0])
    timing = audit.repeat_timing(second.reset_index()).iloc[0]
    assert timing["within_30"] == pytest.approx(0.1)
    assert timing["within_180"] == pytest.approx(0.2125)
    assert timing["eventual_share"] == pytest.approx(0.685)
    assert timing["half_of_repeaters_day"] == 337


def test_the_repeat_curve_agrees_with_statsmodels_kaplan_meier():
    from statsmodels.duration.survfunc import SurvfuncRight

    rng = np.random.default_rng(3)
    days = rng.integers(1, 400, size=500)
    repeated = rng.random(500) < 0.6
    curve = audit.repeat_curve(days, repeated)
    reference = SurvfuncRight(days, repeated.astype(int))
    np.testing.assert_allclose(curve["day"], reference.surv_times)
    np.testing.assert_allclose(curve["repeated_share"], 1 - reference.surv_prob)


def test_the_product_lens_by_first_category(shop):
    """First categories: Books A, C, F, I; Toys B, D, H; Garden E, G, J. First-year value of
    those first seen by 2025-01-01 (365 days from the first purchase, first day included): A
    100 + 50 = 150, C 60, I 25 (o17 falls on day 366) -> Books 78.33; B 200 (o6 on day 366)
    -> Toys 200; E 70, G 60 -> Garden 65. Revenue: Books 325, Toys 695 (return included),
    Garden 195 of 1215. Second purchase days: A and I Books -> Toys, B Toys -> Toys, D Toys
    -> Books, E Garden -> Garden, G Garden -> Toys."""
    result = audit.product_lens(shop, observation_end=END)
    categories = result.categories.set_index("category")
    assert list(categories.index) == ["Toys", "Books", "Garden"]
    assert categories["value_12m"].to_dict() == pytest.approx(
        {"Toys": 200, "Books": 235 / 3, "Garden": 65}
    )
    assert categories["new_customers"].to_dict() == {"Toys": 3, "Books": 4, "Garden": 3}
    assert categories["observed_customers"].to_dict() == {"Toys": 1, "Books": 3, "Garden": 2}
    assert result.observed_through == pd.Timestamp("2025-01-01")
    assert categories["revenue_share"].to_dict() == pytest.approx(
        {"Toys": 695 / 1215, "Books": 325 / 1215, "Garden": 195 / 1215}
    )
    counts = result.transition_counts
    assert counts.loc["Books", "Toys"] == 2 and counts.loc["Toys", "Books"] == 1
    assert counts.loc["Garden", "Toys"] == 1 and counts.loc["Garden", "Garden"] == 1
    assert result.transitions.loc["Toys"].to_dict() == {"Books": 0.5, "Garden": 0.0, "Toys": 0.5}


def test_a_days_category_is_its_largest_and_ties_go_alphabetically():
    """a: 2024-01-01 X 10 and Y 10 (a tie: X), 2024-02-01 Z 5. b: 2024-01-05 Y 5 and a line
    without a category 20: "(none)". c: 2024-01-03 X 5 + 6 = 11 against Y 10: X; 2024-03-01
    Y 1. Only a's first day (2024-01-01) is by 2024-01-02, a year before the end: value 25."""
    lines = [
        ("a", "2024-01-01", 10.0, "X"),
        ("a", "2024-01-01", 10.0, "Y"),
        ("a", "2024-02-01", 5.0, "Z"),
        ("b", "2024-01-05", 5.0, "Y"),
        ("b", "2024-01-05", 20.0, None),
        ("c", "2024-01-03", 5.0, "X"),
        ("c", "2024-01-03", 6.0, "X"),
        ("c", "2024-01-03", 10.0, "Y"),
        ("c", "2024-03-01", 1.0, "Y"),
    ]
    frame = pd.DataFrame(lines, columns=["customer_id", "date", "amount", "category"])
    frame["date"] = pd.to_datetime(frame["date"])
    rclv = pd.Series({"a": 10.0, "b": 4.0, "c": 30.0})
    result = audit.product_lens(frame, observation_end="2024-12-31", rclv=rclv)
    categories = result.categories.set_index("category")
    assert list(categories.index) == ["X", "(none)"]
    assert categories["new_customers"].to_dict() == {"X": 2, "(none)": 1}
    assert categories["observed_customers"].to_dict() == {"X": 1, "(none)": 0}
    assert categories.loc["X", "value_12m"] == 25.0
    assert np.isnan(categories.loc["(none)", "value_12m"])
    assert categories["rclv"].to_dict() == {"X": 20.0, "(none)": 4.0}
    assert categories["revenue_share"].to_dict() == pytest.approx({"X": 21 / 72, "(none)": 20 / 72})
    assert result.transition_counts.to_dict(orient="index") == {"X": {"Y": 1, "Z": 1}}
    # the rCLV as a table of the engine (Spark's executors' values): averaged there, the same;
    # a customer without a value is left out of the mean (c: X's mean is a's alone)
    for values, expected in ((rclv, {"X": 20.0, "(none)": 4.0}), (rclv.drop("c"), None)):
        table = ibis.memtable(values.rename("rclv").rename_axis("customer_id").reset_index())
        in_engine = audit.product_lens(frame, observation_end="2024-12-31", rclv=table)
        in_pandas = audit.product_lens(frame, observation_end="2024-12-31", rclv=values)
        pd.testing.assert_frame_equal(in_engine.categories, in_pandas.categories)
        if expected is not None:
            assert in_engine.categories.set_index("category")["rclv"].to_dict() == expected
    assert in_engine.categories.set_index("category")["rclv"].to_dict() == {
        "X": 10.0,
        "(none)": 4.0,
    }


def test_the_demo_product_lens_finds_the_category_of_the_best_customers():
    """The generator gives each customer a favourite category by their true value (lambda x
    mean spend): the lens, which sees only the transactions, must rank first the category
    whose first-time customers have the highest true value."""
    import ccnb
    from ccnb.datasets import simulate

    analysis = ccnb.ClientAnalysis(ccnb.load_params("params/demo.yaml"), cache_dir=None)
    lens = audit.product_lens(analysis.data.transactions, observation_end=END)
    truth = simulate().truth.set_index("customer_id")
    value = truth["lambda"] * truth["mean_spend"]
    first = (
        analysis.data.transactions.filter(analysis.data.transactions.amount > 0)
        .order_by(["customer_id", "date", "order_id"])
        .to_pandas()
        .drop_duplicates("customer_id")
        .set_index("customer_id")["category"]
    )
    truest = value.groupby(first.reindex(value.index)).mean().idxmax()
    assert lens.categories["category"].iloc[0] == truest == "Electronics"


def test_the_audit_reconciles_with_the_kpi_overview():
    """On the demo: the bridge starts and ends at the KPI table's revenues, the health lens
    adds up to the current one, and the cohorts' revenue in the current year plus the
    layers outside any cohort (existing base, returns only) is that revenue again."""
    import ccnb

    analysis = ccnb.ClientAnalysis(ccnb.load_params("params/demo.yaml"), cache_dir=None)
    revenue = analysis.kpis[analysis.kpis["kpi"] == "revenue"]["value"].tolist()
    steps = analysis.revenue_bridge.bridge["amount"]
    assert [steps.iloc[0], steps.iloc[-1]] == pytest.approx(revenue, abs=1e-6)
    layers = analysis.base_health.layers.set_index("layer")["revenue"]
    assert layers.sum() == pytest.approx(revenue[-1], abs=1e-6)
    cohorts = analysis.cohort_evolution
    current = cohorts[cohorts["calendar_period"] == analysis.windows.last.start]
    outside = layers.drop(index=[str(y) for y in current["cohort"].dt.year], errors="ignore")
    assert current["revenue"].sum() + outside.sum() == pytest.approx(revenue[-1], abs=1e-6)


def test_second_purchases_counted_in_the_engine_time_the_repeats_as_every_customer_does():
    """The demo, with its acquisition channels: the counts per (cohort, channel, days,
    repeated) add up to the per-customer table's groups, and the repeat timing and the
    Kaplan-Meier curves made from them are the per-customer ones, whole and by group."""
    import ccnb

    analysis = ccnb.ClientAnalysis(ccnb.load_params("params/demo.yaml"), cache_dir=None)
    second = analysis.second_purchases
    counts = analysis.second_purchase_counts
    keys = ["cohort", "channel", "days", "repeated"]
    expected = second.groupby(keys).size().rename("customers").reset_index()
    pd.testing.assert_frame_equal(counts, expected, check_dtype=False)
    assert counts["customers"].sum() == len(second) and second["channel"].nunique() > 1
    for by in (None, "cohort", "channel"):
        pd.testing.assert_frame_equal(
            audit.repeat_timing(counts, by=by, min_customers=30),
            audit.repeat_timing(second, by=by, min_customers=30),
        )
    for name, group in second.groupby("channel"):
        counted = counts[counts["channel"] == name]
        pd.testing.assert_frame_equal(
            audit.repeat_curve(
                counted["days"], counted["repeated"], customers=counted["customers"]
            ),
            audit.repeat_curve(group["days"], group["repeated"]),
        )
    assert analysis._read_by_no_report("second_purchases")  # the reports read the counts
