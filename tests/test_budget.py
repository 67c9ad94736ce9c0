import hashlib
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from ccnb import budget
from ccnb.budget import (
    ExponentialResponse,
    HillResponse,
    ResponseCurve,
    allocate_acquisition,
    allocation_by_decile,
    assign_holdout,
    best_allocation,
    break_even_budget,
    centric_gain,
    compare,
    customer_centric,
    customer_focused,
    sensitivity,
    sensitivity_summary,
    tier_rounding_step,
    tiered,
    tiers_from_optimum,
)

# budget.test_plan is called through the module: imported by name, pytest would collect it.

# The brief's example: one 1000 customer, one 10 customer; max_lift 0.2, spend_scale 50.
EXP50 = ExponentialResponse(spend_scale=50.0)


@pytest.fixture
def two_customers():
    return pd.DataFrame(
        {
            "customer_id": ["big", "small"],
            "rclv": [1000.0, 10.0],
            "segment": ["High-Value", "Low-Value"],
            "revenue": [800.0, 12.0],
        }
    )


def random_customers(rng, count, *, zero_share=0.0):
    rclv = rng.lognormal(mean=rng.uniform(2, 6), sigma=rng.uniform(0.3, 2.0), size=count)
    rclv[rng.random(count) < zero_share] = 0.0
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(count)], "rclv": rclv})


def assert_kkt(allocation, *, curve, max_lift, budget_total, rtol=1e-9):
    """KKT of max sum value s.t. sum s = B, s >= 0, checked from the returned table."""
    spend = allocation.table["spend"].to_numpy()
    base = np.maximum(allocation.table["rclv"].to_numpy(), 0) * max_lift
    shadow_price = allocation.shadow_price
    assert spend.min() >= 0
    assert spend.sum() == pytest.approx(budget_total, rel=1e-9)
    funded = spend > 0
    marginal = curve.marginal(base[funded], spend[funded])
    np.testing.assert_allclose(marginal, shadow_price, rtol=rtol)
    np.testing.assert_allclose(allocation.table["marginal_value"][funded], shadow_price, rtol=rtol)
    first_unit = curve.marginal(base[~funded], 0.0)
    assert np.all(first_unit <= shadow_price * (1 + rtol))


# --------------------------------------------------------------------------- response curves


def test_exponential_curve_hand_values():
    # base 200, scale 50: value(50) = 200 (1 - e^-1); marginal(0) = 200 / 50 = 4;
    # marginal(s) = 4 e^(-s/50) = 4 e^-2 at s = 100, so inverse_marginal(4 e^-2) = 100.
    assert EXP50.value(200.0, 50.0) == pytest.approx(200 * (1 - math.exp(-1)), rel=1e-15)
    assert EXP50.marginal(200.0, 0.0) == pytest.approx(4.0, rel=1e-15)
    assert EXP50.inverse_marginal(200.0, 4 * math.exp(-2)) == pytest.approx(100.0, rel=1e-14)
    # a level at or above the first unit's value: no spend; base 0: no spend
    np.testing.assert_array_equal(EXP50.inverse_marginal(np.array([200.0, 0.0]), 4.0), [0, 0])


def test_hill_curve_hand_values():
    hill = HillResponse(spend_scale=50.0, shape=1.0)
    # shape 1: value = base s / (s + 50); marginal = base 50 / (s + 50)^2
    assert hill.value(200.0, 50.0) == pytest.approx(100.0, rel=1e-15)
    assert hill.marginal(200.0, 0.0) == pytest.approx(4.0, rel=1e-15)
    assert hill.marginal(200.0, 50.0) == pytest.approx(1.0, rel=1e-15)
    assert hill.inverse_marginal(200.0, 1.0) == pytest.approx(50.0, rel=1e-14)
    assert hill.inverse_marginal(200.0, 4.0) == 0.0
    sqrt_hill = HillResponse(spend_scale=50.0, shape=0.5)
    assert sqrt_hill.value(200.0, 50.0) == pytest.approx(100.0, rel=1e-15)  # half at scale
    # shape 0.5 at s = 50: 200 * 0.5 / 50 * 1 / (1 + 1)^2 = 0.5
    assert sqrt_hill.marginal(200.0, 50.0) == pytest.approx(0.5, rel=1e-14)
    assert sqrt_hill.inverse_marginal(200.0, 0.5) == pytest.approx(50.0, rel=1e-12)
    np.testing.assert_array_equal(sqrt_hill.marginal(np.array([200.0, 0.0]), 0.0), [np.inf, 0])


@pytest.mark.parametrize(
    "curve",
    [
        ExponentialResponse(50.0),
        HillResponse(50.0, 1.0),
        HillResponse(50.0, 0.5),
        HillResponse(30.0, 0.9),
        HillResponse(80.0, 0.2),
    ],
    ids=repr,
)
def test_curve_marginal_is_derivative_and_inverse_round_trips(curve):
    rng = np.random.default_rng(7)
    base = rng.lognormal(3, 2, 500)
    spend = rng.uniform(0.5, 400, 500)
    step = 1e-4
    numeric = (curve.value(base, spend + step) - curve.value(base, spend - step)) / (2 * step)
    np.testing.assert_allclose(curve.marginal(base, spend), numeric, rtol=1e-6)
    assert isinstance(curve, ResponseCurve)
    for level in [1e-4, 0.05, 1.0, 20.0]:
        inverse = curve.inverse_marginal(base, level)
        funded = inverse > 0
        np.testing.assert_allclose(curve.marginal(base[funded], inverse[funded]), level, rtol=1e-12)
        assert np.all(curve.marginal(base[~funded], 0.0) <= level)


def test_hill_refuses_s_shaped_and_bad_parameters():
    with pytest.raises(ValueError, match="S-shaped"):
        HillResponse(spend_scale=50.0, shape=2.0)
    with pytest.raises(ValueError, match="spend_scale must be a finite number > 0"):
        ExponentialResponse(spend_scale=0)
    with pytest.raises(ValueError, match="marginal_level must be > 0"):
        EXP50.inverse_marginal(1.0, 0.0)


# --------------------------------------------------------------------------- worked example


def test_worked_example_budget_goes_to_the_1000_customer(two_customers):
    # base = rclv * 0.2 = [200, 2]; first unit returns base / 50 = [4, 0.04].
    # All 100 on the 1000 customer: marginal 4 e^(-100/50) = 0.5413 > 0.04, so the
    # 10 customer stays unfunded and lam = 4 e^-2. Added value 200 (1 - e^-2) = 172.93.
    centric = customer_centric(two_customers, budget=100, curve=EXP50, max_lift=0.2)
    np.testing.assert_array_equal(centric.table["spend"], [100.0, 0.0])
    assert centric.shadow_price == pytest.approx(4 * math.exp(-2), rel=1e-14)
    np.testing.assert_allclose(centric.table["added_value"], [200 * (1 - math.exp(-2)), 0.0])
    # Focused: 50 each, value (200 + 2) (1 - e^-1) = 127.69; the gain is 45.24 (35.4%).
    focused = customer_focused(two_customers, budget=100, curve=EXP50, max_lift=0.2)
    np.testing.assert_array_equal(focused.table["spend"], [50.0, 50.0])
    focused_value = 202 * (1 - math.exp(-1))
    assert focused.table["added_value"].sum() == pytest.approx(focused_value, rel=1e-14)
    gain = centric_gain(focused, centric)
    assert gain["gain"] == pytest.approx(200 * (1 - math.exp(-2)) - focused_value, rel=1e-13)
    assert gain["gain_pct"] == pytest.approx(100 * gain["gain"] / focused_value, rel=1e-13)
    assert gain["gain_pct"] == pytest.approx(35.4336, abs=1e-4)
    # passthrough: same index and input columns first
    assert list(centric.table.columns[:4]) == list(two_customers.columns)
    pd.testing.assert_index_equal(centric.table.index, two_customers.index)


def test_worked_example_large_budget_funds_both_in_closed_form(two_customers):
    # Budget 400: both funded when lam < 0.04. s_i = 50 ln(b_i / (50 lam)) with
    # b/50 = [4, 0.04]: 50 (ln 4 + ln 0.04 - 2 ln lam) = 400, so
    # ln lam = (ln 0.16 - 8) / 2 = -4.9163 (lam = 0.00733 < 0.04: consistent).
    log_lam = (math.log(0.16) - 8) / 2
    centric = customer_centric(two_customers, budget=400, curve=EXP50, max_lift=0.2)
    expected = [50 * (math.log(4) - log_lam), 50 * (math.log(0.04) - log_lam)]
    np.testing.assert_allclose(centric.table["spend"], expected, rtol=1e-13)  # 315.13, 84.87
    assert centric.shadow_price == pytest.approx(math.exp(log_lam), rel=1e-13)
    assert any("break-even" in note for note in centric.notes)


# --------------------------------------------------------------------------- optimality


@pytest.mark.parametrize(
    "curve",
    [ExponentialResponse(40.0), HillResponse(40.0, 1.0), HillResponse(40.0, 0.5)],
    ids=repr,
)
def test_centric_satisfies_kkt_on_random_problems(curve):
    rng = np.random.default_rng(11)
    for _ in range(30):
        customers = random_customers(rng, int(rng.integers(1, 400)), zero_share=0.2)
        if customers["rclv"].max() == 0:
            continue
        max_lift = float(rng.uniform(0.05, 0.5))
        budget_total = float(10 ** rng.uniform(0, 5))
        allocation = customer_centric(
            customers, budget=budget_total, curve=curve, max_lift=max_lift
        )
        assert_kkt(allocation, curve=curve, max_lift=max_lift, budget_total=budget_total)


def test_centric_is_exact_on_100k_customers():
    rng = np.random.default_rng(5)
    customers = random_customers(rng, 100_000, zero_share=0.1)
    allocation = customer_centric(customers, budget=1e6, curve=EXP50, max_lift=0.2)
    assert allocation.table["spend"].sum() == pytest.approx(1e6, rel=1e-12)
    assert_kkt(allocation, curve=EXP50, max_lift=0.2, budget_total=1e6)


def slsqp_value(base, budget_total, curve):
    count = len(base)
    result = minimize(
        lambda spend: -curve.value(base, spend).sum(),
        np.full(count, budget_total / count),
        jac=lambda spend: -curve.marginal(base, spend),
        method="SLSQP",
        bounds=[(0, budget_total)] * count,
        constraints=[{"type": "eq", "fun": lambda spend: spend.sum() - budget_total}],
        options={"maxiter": 500, "ftol": 1e-12},
    )
    spend = np.clip(result.x, 0, None)
    spend *= budget_total / spend.sum()  # feasible point for a fair comparison
    return curve.value(base, spend).sum()


@pytest.mark.parametrize(
    ("curve", "slsqp_converges"),
    [
        (ExponentialResponse(50.0), True),
        # the marginal value is infinite at zero spend: SLSQP stalls short of the optimum
        (HillResponse(50.0, 0.7), False),
    ],
    ids=["exponential", "hill-0.7"],
)
def test_centric_beats_or_equals_slsqp(curve, slsqp_converges):
    rng = np.random.default_rng(2024)
    for _ in range(20):
        customers = random_customers(rng, int(rng.integers(5, 31)))
        max_lift = float(rng.uniform(0.05, 0.5))
        budget_total = float(rng.uniform(10, 2000))
        centric = customer_centric(customers, budget=budget_total, curve=curve, max_lift=max_lift)
        reference = slsqp_value(customers["rclv"].to_numpy() * max_lift, budget_total, curve)
        assert centric.table["added_value"].sum() >= reference * (1 - 1e-12)
        if slsqp_converges:  # the same optimum, not just better than a poor SLSQP run
            assert centric.table["added_value"].sum() == pytest.approx(reference, rel=1e-6)


def test_centric_beats_focused_on_a_random_grid():
    rng = np.random.default_rng(99)
    for _ in range(8):
        customers = random_customers(rng, int(rng.integers(2, 200)), zero_share=0.1)
        if customers["rclv"].max() == 0:
            continue
        grid = sensitivity(
            customers,
            budget=float(10 ** rng.uniform(0, 4)),
            budgets=list(10 ** rng.uniform(-1, 5, 3)),
            max_lifts=list(rng.uniform(0.01, 1.0, 3)),
            spend_scales=list(10 ** rng.uniform(0, 3, 3)),
        )
        assert len(grid) == 4 * 3 * 3
        assert np.all(grid["centric_value"] >= grid["focused_value"] * (1 - 1e-12))
        assert np.all(grid["gain_pct"] >= -1e-10)


# --------------------------------------------------------------------------- allocators


def test_focused_spends_evenly_and_passes_columns_through():
    customers = pd.DataFrame(
        {"customer_id": ["a", "b", "c", "d"], "rclv": [100.0, 0.0, -5.0, 40.0], "p_alive": 0.5},
        index=[10, 11, 12, 13],
    )
    allocation = customer_focused(customers, budget=20, curve=EXP50, max_lift=0.5)
    np.testing.assert_array_equal(allocation.table["spend"], [5.0] * 4)
    # value = rclv * 0.5 * (1 - e^(-5/50)), negative rCLV counts as 0
    factor = 1 - math.exp(-0.1)
    np.testing.assert_allclose(allocation.table["added_value"], [50 * factor, 0, 0, 20 * factor])
    assert list(allocation.table.index) == [10, 11, 12, 13]
    assert list(allocation.table.columns) == [
        "customer_id", "rclv", "p_alive", "spend", "added_value", "marginal_value",
    ]  # fmt: skip
    assert allocation.strategy == "customer_focused"
    assert "1 customers have negative rCLV" in allocation.notes[0]
    assert customers.columns.tolist() == ["customer_id", "rclv", "p_alive"]  # input untouched


def test_centric_with_zero_budget_and_with_no_value():
    customers = pd.DataFrame({"customer_id": ["a", "b"], "rclv": [100.0, 50.0]})
    allocation = customer_centric(customers, budget=0, curve=EXP50, max_lift=0.2)
    np.testing.assert_array_equal(allocation.table["spend"], [0.0, 0.0])
    assert allocation.shadow_price == pytest.approx(100 * 0.2 / 50)  # best first unit
    worthless = customers.assign(rclv=0.0)
    with pytest.raises(ValueError, match="every customer has rCLV 0"):
        customer_centric(worthless, budget=10, curve=EXP50, max_lift=0.2)


def test_hill_allocation_satisfies_kkt_and_funds_everyone_below_shape_one():
    rng = np.random.default_rng(3)
    customers = random_customers(rng, 300)
    curve = HillResponse(spend_scale=30.0, shape=0.6)
    allocation = customer_centric(customers, budget=5000, curve=curve, max_lift=0.3)
    assert_kkt(allocation, curve=curve, max_lift=0.3, budget_total=5000)
    assert (allocation.table["spend"] > 0).all()  # infinite first-unit value: everyone is funded


def test_tiered_scales_per_head_to_the_budget():
    customers = pd.DataFrame(
        {
            "customer_id": list("abcdef"),
            "rclv": [900.0, 1100.0, 20.0, 10.0, 30.0, 60.0],
            "segment": ["High-Value", "High-Value", "Low-Value", "Low-Value", "Low-Value",
                        "First-Time"],
        }
    )  # fmt: skip
    per_head = {"High-Value": 100.0, "Low-Value": 10.0, "Dormant": 5.0}
    # weights: 2 x 100 + 3 x 10 = 230 (First-Time missing: 0; Dormant absent: ignored);
    # budget 460 -> factor 2 -> 200 per High-Value, 20 per Low-Value, 0 per First-Time.
    allocation = tiered(customers, budget=460, spend_per_head=per_head, curve=EXP50, max_lift=0.2)
    np.testing.assert_allclose(allocation.table["spend"], [200, 200, 20, 20, 20, 0])
    assert allocation.scale_factor == pytest.approx(2.0)
    categorical = customers.assign(segment=customers["segment"].astype("category"))
    same = tiered(categorical, budget=460, spend_per_head=per_head, curve=EXP50, max_lift=0.2)
    np.testing.assert_allclose(same.table["spend"], allocation.table["spend"])
    assert allocation.notes == (
        "segment 'First-Time' (1 customers) has no spend_per_head: 0 spend",
    )
    np.testing.assert_allclose(
        allocation.table["added_value"],
        customers["rclv"] * 0.2 * -np.expm1(-allocation.table["spend"] / 50),
    )
    with pytest.raises(ValueError, match="no customer is in a segment with a positive"):
        tiered(customers, budget=10, spend_per_head={"Dormant": 5.0}, curve=EXP50, max_lift=0.2)
    with pytest.raises(ValueError, match="spend_per_head must be >= 0"):
        tiered(customers, budget=10, spend_per_head={"Low-Value": -1}, curve=EXP50, max_lift=0.2)


def test_tiers_from_optimum_rounds_mean_spend_per_segment():
    optimum = pd.DataFrame(
        {
            "segment": pd.Categorical(["High", "High", "Low", "Low", "Low", "New"]),
            "spend": [150.0, 100.0, 22.5, 0.0, 0.0, 7.4],
        }
    )
    tiers = tiers_from_optimum(optimum, round_to=5)
    # means: High 125, Low 7.5 (rounds half up to 10), New 7.4 (rounds to 5)
    assert tiers.index.tolist() == ["High", "Low", "New"]
    np.testing.assert_allclose(tiers["mean_spend"], [125.0, 7.5, 7.4])
    np.testing.assert_array_equal(tiers["spend_per_head"], [125.0, 10.0, 5.0])
    np.testing.assert_array_equal(tiers["customers"], [2, 3, 1])
    np.testing.assert_array_equal(tiers["funded_customers"], [2, 1, 1])
    exact = tiers_from_optimum(optimum, round_to=None)
    np.testing.assert_allclose(exact["spend_per_head"], [125.0, 7.5, 7.4])


@pytest.mark.parametrize(
    ("largest", "step"),
    [(125.0, 5.0), (10.0, 5.0), (9.99, 1.0), (4.28, 1.0), (1.0, 0.5), (0.2, 0.1), (0.019, None)],
)
def test_tier_rounding_step_keeps_the_top_tier_at_two_steps(largest, step):
    assert tier_rounding_step(largest) == step


def test_a_million_customers_on_a_small_budget_still_get_a_tier():
    """At 0.20 a head a fixed step of 5 rounds every tier to 0; the adapted step does not."""
    optimum = pd.DataFrame(
        {"segment": pd.Categorical(["High"] * 3 + ["Low"] * 3), "spend": [0.4, 0.3, 0.2, 0, 0, 0.1]}
    )
    means = tiers_from_optimum(optimum, round_to=None)["mean_spend"]  # High 0.3, Low 0.0333
    assert (tiers_from_optimum(optimum, round_to=5)["spend_per_head"] == 0).all()
    rounded = tiers_from_optimum(optimum, round_to=tier_rounding_step(means.max()))
    np.testing.assert_allclose(rounded["spend_per_head"], [0.3, 0.0])  # step 0.1


def test_best_allocation_adds_most_value_and_keeps_the_first_on_a_tie(two_customers):
    args = {"budget": 100, "curve": EXP50, "max_lift": 0.2}
    focused = customer_focused(two_customers, **args)
    centric = customer_centric(two_customers, **args)
    assert best_allocation({"even": focused, "value-led": centric}) == "value-led"
    assert best_allocation({"a": focused, "b": focused}) == "a"
    with pytest.raises(ValueError, match="at least one"):
        best_allocation({})


def test_tiered_plan_from_the_optimum_recovers_most_of_the_gain():
    rng = np.random.default_rng(8)
    customers = random_customers(rng, 2000)
    ranks = customers["rclv"].rank(pct=True)
    customers["segment"] = np.select(
        [ranks > 0.8, ranks > 0.4], ["High-Value", "Medium-Value"], "Low-Value"
    )
    args = {"budget": 20_000.0, "curve": EXP50, "max_lift": 0.2}
    optimum = customer_centric(customers, **args)
    plan = tiers_from_optimum(optimum)
    tier_plan = tiered(customers, spend_per_head=plan["spend_per_head"], **args)
    focused = customer_focused(customers, **args)
    assert tier_plan.table["spend"].sum() == pytest.approx(20_000.0, rel=1e-12)
    values = [frame.table["added_value"].sum() for frame in (focused, tier_plan, optimum)]
    assert values[0] < values[1] <= values[2]


# --------------------------------------------------------------------------- comparison


def test_compare_reports_hand_numbers(two_customers):
    focused = customer_focused(two_customers, budget=100, curve=EXP50, max_lift=0.2)
    centric = customer_centric(two_customers, budget=100, curve=EXP50, max_lift=0.2)
    table = compare({"focused": focused, "centric": centric}, budget=100)
    assert table["strategy"].tolist() == ["focused", "centric"]
    np.testing.assert_array_equal(table["customers_reached"], [2, 1])
    np.testing.assert_allclose(table["spend"], [100, 100])
    np.testing.assert_allclose(table["unspent"], [0, 0], atol=1e-12)
    values = np.array([202 * (1 - math.exp(-1)), 200 * (1 - math.exp(-2))])
    np.testing.assert_allclose(table["added_value"], values)
    np.testing.assert_allclose(table["roi"], (values - 100) / 100)
    np.testing.assert_allclose(table["value_per_unit"], values / 100)


def test_allocation_by_decile_uses_top_rclv_first():
    # 20 customers, rCLV 1..20 (shuffled): decile 1 = the two highest (20, 19).
    rclv = np.arange(1.0, 21.0)
    order = np.random.default_rng(1).permutation(20)
    customers = pd.DataFrame(
        {"customer_id": [f"c{int(v)}" for v in rclv[order]], "rclv": rclv[order]}
    )
    # the allocation lists customers in another order and leaves out c1 (0 spend)
    spend = pd.DataFrame({"customer_id": [f"c{i}" for i in range(20, 1, -1)]})
    spend["spend"] = np.where(spend["customer_id"].isin(["c20", "c19"]), 30.0, 2.0)
    spend["added_value"] = 1.0
    table = allocation_by_decile(customers, {"plan": spend})
    assert table["decile"].tolist() == list(range(1, 11))
    np.testing.assert_array_equal(table["customers"], [2] * 10)
    np.testing.assert_array_equal(table["rclv_max"], rclv[::-1][::2])
    np.testing.assert_allclose(table["equity_share"].iloc[0], (20 + 19) / 210)
    # total spend 2 x 30 + 17 x 2 = 94: top decile 60 / 94; bottom decile (c2, c1) 2 / 94
    np.testing.assert_allclose(table["spend"].iloc[[0, -1]], [60.0, 2.0])
    np.testing.assert_allclose(table["budget_share"].iloc[[0, -1]], [60 / 94, 2 / 94])
    np.testing.assert_allclose(table["added_value"].iloc[[0, -1]], [2.0, 1.0])


def test_allocation_by_decile_compares_strategies():
    rng = np.random.default_rng(4)
    customers = random_customers(rng, 1000)
    args = {"budget": 5000.0, "curve": EXP50, "max_lift": 0.2}
    allocations = {
        "focused": customer_focused(customers, **args),
        "centric": customer_centric(customers, **args),
    }
    table = allocation_by_decile(customers, allocations)
    assert len(table) == 20
    focused = table[table["strategy"] == "focused"]
    centric = table[table["strategy"] == "centric"]
    np.testing.assert_allclose(focused["budget_share"], 0.1)
    np.testing.assert_allclose(centric["budget_share"].sum(), 1.0)
    assert centric["budget_share"].is_monotonic_decreasing
    np.testing.assert_allclose(focused["equity_share"].sum(), 1.0)


def test_centric_gain_requires_equal_budgets(two_customers):
    focused = customer_focused(two_customers, budget=100, curve=EXP50, max_lift=0.2)
    centric = customer_centric(two_customers, budget=90, curve=EXP50, max_lift=0.2)
    with pytest.raises(ValueError, match="same budget"):
        centric_gain(focused, centric)


# --------------------------------------------------------------------------- sensitivity


def test_sensitivity_matches_the_allocators(two_customers):
    grid = sensitivity(
        two_customers, budget=100, budgets=[400], max_lifts=[0.2, 0.4], spend_scales=[50, 25]
    )
    assert grid.columns.tolist() == [
        "max_lift", "spend_scale", "budget", "focused_value", "centric_value", "gain",
        "gain_pct", "focused_roi", "centric_roi", "shadow_price",
    ]  # fmt: skip
    assert len(grid) == 8
    assert sorted(grid["budget"].unique()) == [100.0, 400.0]
    cell = grid[(grid.max_lift == 0.2) & (grid.spend_scale == 50) & (grid.budget == 100)].iloc[0]
    assert cell["centric_value"] == pytest.approx(200 * (1 - math.exp(-2)), rel=1e-14)
    assert cell["focused_value"] == pytest.approx(202 * (1 - math.exp(-1)), rel=1e-14)
    assert cell["shadow_price"] == pytest.approx(4 * math.exp(-2), rel=1e-14)
    # ROI: what each plan returns per unit spent beyond the spend (here both lose money)
    assert cell["centric_roi"] == pytest.approx((200 * (1 - math.exp(-2)) - 100) / 100)
    assert cell["focused_roi"] == pytest.approx((202 * (1 - math.exp(-1)) - 100) / 100)
    curve = HillResponse(25.0, 0.5)
    hill = sensitivity(
        two_customers, budget=100, max_lifts=[0.4], spend_scales=[25],
        curve=lambda scale: HillResponse(scale, shape=0.5),
    )  # fmt: skip
    centric = customer_centric(two_customers, budget=100, curve=curve, max_lift=0.4)
    assert hill["centric_value"].iloc[0] == pytest.approx(
        centric.table["added_value"].sum(), rel=1e-14
    )
    with pytest.raises(ValueError, match="curve must be one of"):
        sensitivity(two_customers, budget=100, max_lifts=[0.2], spend_scales=[50], curve="log")


def test_sensitivity_summary_names_the_assumption_that_moves_the_return_most(two_customers):
    grid = sensitivity(
        two_customers, budget=100, max_lifts=[0.1, 0.2, 0.4], spend_scales=[25, 50, 100]
    )
    summary = sensitivity_summary(grid, max_lift=0.2, spend_scale=50)
    column = grid[grid["spend_scale"] == 50]["centric_roi"]  # the lift varied
    row = grid[grid["max_lift"] == 0.2]["centric_roi"]  # the spend scale varied
    assert summary["roi_range_by_lift"] == pytest.approx(column.max() - column.min())
    assert summary["roi_range_by_scale"] == pytest.approx(row.max() - row.min())
    assert summary["driver"] == (
        "max_lift" if column.max() - column.min() >= row.max() - row.min() else "spend_scale"
    )
    assert summary["centric_roi_min"] == grid["centric_roi"].min()
    assert summary["centric_loses"] == int((grid["centric_roi"] < 0).sum())
    assert summary["lift_invariant"]  # both curves scale with the lift
    assert sensitivity_summary(grid)["driver"] is None


def test_break_even_budget_closed_form(two_customers):
    # base / scale = [4, 0.04]: only the first exceeds 1, so B* = 50 ln 4 = 69.31.
    break_even = break_even_budget(two_customers, curve=EXP50, max_lift=0.2)
    assert break_even == pytest.approx(50 * math.log(4), rel=1e-15)
    at_break_even = customer_centric(two_customers, budget=break_even, curve=EXP50, max_lift=0.2)
    assert at_break_even.shadow_price == pytest.approx(1.0, rel=1e-12)
    assert break_even_budget(two_customers, curve=EXP50, max_lift=0.01) == 0.0


# --------------------------------------------------------------------------- test plan


def tier_with(mean, sd, count, name):
    # revenue with exactly this sample mean and standard deviation (ddof=1)
    values = np.random.default_rng(count).normal(size=count)
    values = (values - values.mean()) / values.std(ddof=1)
    return pd.DataFrame(
        {"customer_id": [f"{name}{i}" for i in range(count)], "segment": name,
         "revenue": mean + sd * values}
    )  # fmt: skip


def test_test_plan_hand_worked_example():
    # mean 200, sd 100, lift 10% -> delta 20, d = 0.2. z = 1.959964 + 0.841621 = 2.801585,
    # n = 2 z^2 sd^2 / delta^2 = 2 * 7.848880 * 25 = 392.44 -> 393 per group (Cohen's 393).
    customers = pd.concat([tier_with(200, 100, 1000, "High"), tier_with(200, 100, 700, "Low")])
    plan = budget.test_plan(customers, lift=0.1)
    assert plan.columns.tolist() == [
        "segment", "customers", "mean_revenue", "sd_revenue", "lift", "absolute_lift",
        "holdout_needed", "treatment_needed", "total_needed", "holdout_size", "big_enough",
        "min_detectable_lift", "holdout_share_needed", "window_multiple_needed",
    ]  # fmt: skip
    high = plan.set_index("segment").loc["High"]
    assert high["mean_revenue"] == pytest.approx(200)
    assert high["sd_revenue"] == pytest.approx(100)
    assert high["absolute_lift"] == pytest.approx(20)
    assert (high["holdout_needed"], high["treatment_needed"], high["total_needed"]) == (
        393,
        393,
        786,
    )
    assert high["holdout_size"] == 500
    assert bool(high["big_enough"])
    # 700 customers split 350 / 350 < 393: too small; MDE = z * 100 * sqrt(2 / 350) / 200
    low = plan.set_index("segment").loc["Low"]
    assert not bool(low["big_enough"])
    assert low["min_detectable_lift"] == pytest.approx(
        2.801585 * 100 * math.sqrt(2 / 350) / 200, rel=1e-6
    )
    # no split of 700 detects it: h (1 - h) >= z^2 sd^2 / (n delta^2) = 7.848880 * 25 / 700
    # = 0.28031 > 1/4; the window would have to be (MDE / delta)^2 = 1.1214 times longer
    assert np.isnan(low["holdout_share_needed"])
    assert low["window_multiple_needed"] == pytest.approx(7.848880 * 25 * (2 / 350), rel=1e-5)
    # the big tier: h (1 - h) >= 7.848880 * 25 / 1000 = 0.19622 -> h = 0.27225
    assert high["holdout_share_needed"] == pytest.approx(
        (1 - math.sqrt(1 - 4 * 7.848880 * 25 / 1000)) / 2, rel=1e-5
    )
    assert high["window_multiple_needed"] == 1.0


def test_test_plan_on_the_expected_effect_of_the_planned_spend():
    # Outcome: window revenue, mean 200 and sd 100 in both tiers. The plan adds 30 a
    # customer to half of High (mean effect 15) and nothing to Low; pooled, the treated
    # customers are those 500 with effect 30.
    high = tier_with(200, 100, 1000, "High").assign(effect=[30.0, 0.0] * 500)
    low = tier_with(200, 100, 700, "Low").assign(effect=0.0)
    plan = budget.test_plan(
        pd.concat([high, low]), effect="effect", holdout_share=0.5, pool="treated"
    ).set_index("segment")
    assert plan.index.tolist() == ["High", "Low", "treated"]
    assert plan.loc["High", "absolute_lift"] == pytest.approx(15.0)
    assert plan.loc["High", "lift"] == pytest.approx(15.0 / 200)
    # n = 2 z^2 sd^2 / delta^2 = 2 * 7.848880 * 100^2 / 15^2 = 697.7 -> 698 per group > 500
    assert plan.loc["High", "holdout_needed"] == 698 and not plan.loc["High", "big_enough"]
    assert pd.isna(plan.loc["Low", "holdout_needed"])  # nothing to detect
    treated = plan.loc["treated"]
    sd = high["revenue"].iloc[::2].std()  # the treated half's own spread
    assert treated["customers"] == 500 and treated["absolute_lift"] == pytest.approx(30.0)
    assert treated["sd_revenue"] == pytest.approx(sd)
    assert treated["holdout_needed"] == math.ceil(2 * 7.848880 * sd**2 / 30**2)
    assert bool(treated["big_enough"])  # 250 per group
    with pytest.raises(ValueError, match="either lift"):
        budget.test_plan(high, lift=0.1, effect="effect")


def test_test_plan_unequal_split_hand_worked():
    # h = 0.2: n_holdout = z^2 sd^2 / ((1 - h) delta^2) = 7.848880 * 25 / 0.8 = 245.28 -> 246;
    # treatment = 245.28 * 0.8 / 0.2 = 981.11 -> 982.
    customers = tier_with(200, 100, 1300, "All")
    plan = budget.test_plan(customers, lift=0.1, holdout_share=0.2, by=None)
    row = plan.iloc[0]
    assert row["tier"] == "all"
    assert (row["holdout_needed"], row["treatment_needed"]) == (246, 982)
    assert row["holdout_size"] == 260  # 1300 * 0.2
    assert bool(row["big_enough"])  # 260 >= 246 and 1040 >= 982


@pytest.mark.parametrize(
    ("sd", "lift", "alpha", "power", "holdout_share"),
    [
        (100, 0.1, 0.05, 0.8, None),
        (250, 0.05, 0.05, 0.9, None),
        (80, 0.03, 0.01, 0.8, 0.1),
        (300, 0.2, 0.10, 0.95, 0.3),
        (50, 0.02, 0.05, 0.8, 0.75),
    ],
)
def test_test_plan_matches_statsmodels(sd, lift, alpha, power, holdout_share):
    from statsmodels.stats.power import NormalIndPower

    mean = 150.0
    customers = tier_with(mean, sd, 500, "Tier")
    plan = budget.test_plan(
        customers, lift=lift, alpha=alpha, power=power, holdout_share=holdout_share
    )
    share = 0.5 if holdout_share is None else holdout_share
    ratio = (1 - share) / share  # statsmodels: nobs2 = ratio * nobs1, nobs1 = holdout
    holdout = NormalIndPower().solve_power(
        effect_size=lift * mean / sd, alpha=alpha, power=power, ratio=ratio,
        alternative="two-sided",
    )  # fmt: skip
    # statsmodels also counts the (negligible) opposite tail, so its n is a hair smaller
    needed = plan["holdout_needed"].iloc[0]
    assert holdout <= needed < holdout + 1
    assert needed == math.ceil(holdout)
    treatment = plan["treatment_needed"].iloc[0]
    assert holdout * ratio <= treatment < holdout * ratio + 1.01


def test_test_plan_flags_tiers_it_cannot_size():
    customers = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "segment": ["One", "Zero", "Zero"],
         "revenue": [100.0, 0.0, 0.0]}
    )  # fmt: skip
    plan = budget.test_plan(customers, lift=0.05).set_index("segment")
    assert plan["holdout_needed"].isna().all()
    assert not plan["big_enough"].any()
    with pytest.raises(ValueError, match="lift must be a relative lift"):
        budget.test_plan(customers, lift=0)


def test_assign_holdout_exact_counts_and_deterministic():
    sizes = {"High": 15, "Medium": 25, "Low": 4, "New": 100}
    customers = pd.concat(
        [
            pd.DataFrame({"customer_id": [f"{name}{i}" for i in range(size)], "segment": name})
            for name, size in sizes.items()
        ],
        ignore_index=True,
    )
    groups = assign_holdout(customers, holdout_share=0.1, seed=42)
    assert groups.columns.tolist() == ["customer_id", "segment", "group"]
    assert groups["customer_id"].tolist() == customers["customer_id"].tolist()
    holdout = groups[groups["group"] == "holdout"].groupby("segment").size()
    # round(n * 0.1), halves up: 1.5 -> 2, 2.5 -> 3, 0.4 -> 0, 10 -> 10
    assert holdout.to_dict() == {"High": 2, "Medium": 3, "New": 10}
    assert set(groups["group"]) == {"holdout", "treatment"}
    again = assign_holdout(customers, holdout_share=0.1, seed=42)
    pd.testing.assert_frame_equal(groups, again)
    shuffled = customers.sample(frac=1, random_state=3)
    reordered = assign_holdout(shuffled, holdout_share=0.1, seed=42).set_index("customer_id")
    assert reordered.loc[groups["customer_id"], "group"].tolist() == groups["group"].tolist()
    other = assign_holdout(customers, holdout_share=0.1, seed=43)
    assert other["group"].tolist() != groups["group"].tolist()
    # customers without a segment form a stratum of their own: 10 of them -> 1 held out
    unlabelled = pd.DataFrame({"customer_id": [f"u{i}" for i in range(10)], "segment": None})
    mixed = assign_holdout(pd.concat([customers, unlabelled]), holdout_share=0.1, seed=42)
    assert (mixed["group"][mixed["segment"].isna()] == "holdout").sum() == 1
    plain = assign_holdout(customers, holdout_share=0.25, seed=1, by=None)
    assert plain.columns.tolist() == ["customer_id", "group"]
    assert (plain["group"] == "holdout").sum() == 36  # 144 * 0.25
    # the holdout is the 36 smallest MD5 keys of "<seed>:holdout:<id>", worked with hashlib
    keys = {
        customer: hashlib.md5(f"1:holdout:{customer}".encode()).hexdigest()
        for customer in customers["customer_id"]
    }
    smallest = sorted(keys, key=keys.get)[:36]
    assert set(plain.loc[plain["group"] == "holdout", "customer_id"]) == set(smallest)


def test_assign_holdout_matches_test_plan_sizes():
    customers = pd.concat([tier_with(200, 100, 1234, "A"), tier_with(50, 20, 77, "B")])
    groups = assign_holdout(customers, holdout_share=0.15, seed=0)
    plan = budget.test_plan(customers, lift=0.1, holdout_share=0.15).set_index("segment")
    holdout = groups[groups["group"] == "holdout"].groupby("segment").size()
    assert holdout.to_dict() == plan["holdout_size"].to_dict()


# --------------------------------------------------------------------------- acquisition


@pytest.fixture
def channels():
    return pd.DataFrame(
        {
            "channel": ["tv", "search", "affiliate", "social"],
            "mean_clv": [150.0, 300.0, 90.0, 200.0],
            "cac": [100.0, 50.0, 100.0, 80.0],
            "capacity": [50.0, 100.0, np.nan, np.nan],
        }
    )


def test_acquisition_funds_best_ratio_first_up_to_capacity(channels):
    # ratios: search 6, social 2.5, tv 1.5, affiliate 0.9 (never funded: CLV < CAC).
    # 20000: search 100 x 50 = 5000 (capacity), social (unlimited) the remaining 15000.
    plan = allocate_acquisition(channels, budget=20_000)
    assert plan.table["channel"].tolist() == ["search", "social", "tv", "affiliate"]
    np.testing.assert_allclose(plan.table["value_per_cost"], [6, 2.5, 1.5, 0.9])
    np.testing.assert_allclose(plan.table["spend"], [5000, 15000, 0, 0])
    np.testing.assert_allclose(plan.table["new_customers"], [100, 187.5, 0, 0])
    np.testing.assert_allclose(plan.table["expected_value"], [30000, 37500, 0, 0])
    np.testing.assert_allclose(plan.table["net_value"], [25000, 22500, 0, 0])
    assert plan.unspent == 0


def test_acquisition_leaves_unprofitable_budget_unspent(channels):
    # social capped at 100: 5000 + 8000 + tv 50 x 100 = 5000 -> 18000; affiliate gets none.
    capped = channels.assign(capacity=[50.0, 100.0, np.nan, 100.0])
    plan = allocate_acquisition(capped, budget=20_000)
    by_channel = plan.table.set_index("channel")
    np.testing.assert_allclose(by_channel.loc[["search", "social", "tv", "affiliate"], "spend"],
                               [5000, 8000, 5000, 0])  # fmt: skip
    assert plan.unspent == pytest.approx(2000)
    strict = allocate_acquisition(capped, budget=20_000, min_value_per_cost=3)
    np.testing.assert_allclose(strict.table["spend"], [5000, 0, 0, 0])
    assert strict.unspent == pytest.approx(15000)
    with pytest.raises(ValueError, match="cac must be > 0"):
        allocate_acquisition(channels.assign(cac=0.0), budget=10)


# --------------------------------------------------------------------------- bad input


def test_bad_customer_tables_name_the_problem(two_customers):
    args = {"budget": 100, "curve": EXP50, "max_lift": 0.2}
    with pytest.raises(ValueError, match=r"missing column 'rclv'.*did you mean 'rCLV'"):
        customer_centric(two_customers.rename(columns={"rclv": "rCLV"}), **args)
    with pytest.raises(ValueError, match="customer_id must be unique"):
        customer_centric(two_customers.assign(customer_id="x"), **args)
    with pytest.raises(ValueError, match="rclv is missing or infinite for 1 customers"):
        customer_centric(two_customers.assign(rclv=[1.0, np.nan]), **args)
    with pytest.raises(ValueError, match="already has column"):
        customer_centric(customer_focused(two_customers, **args).table, **args)
    with pytest.raises(ValueError, match="budget must be a finite number >= 0"):
        customer_centric(two_customers, budget=-1, curve=EXP50, max_lift=0.2)
    with pytest.raises(ValueError, match="max_lift must be"):
        customer_centric(two_customers, budget=1, curve=EXP50, max_lift=0)
    with pytest.raises(TypeError, match="curve must be a ResponseCurve"):
        customer_centric(two_customers, budget=1, curve="exponential", max_lift=0.2)
    with pytest.raises(ValueError, match="customers is empty"):
        customer_focused(two_customers.iloc[:0], **args)


@pytest.mark.parametrize(
    ("curve", "start"),
    [
        (ExponentialResponse(spend_scale=40.0), 2_500 * 0.3 / 40.0),  # the best first unit
        (ExponentialResponse(spend_scale=40.0), 1e-3),  # a guess below: searched upwards
        (HillResponse(spend_scale=40.0, shape=0.7), 1.0),  # every first unit infinite
    ],
)
def test_the_shadow_price_searched_over_totals_alone_is_the_allocators(curve, start):
    """What a partitioned allocation sees of the customers is the total spend at a few
    prices a pass; the price it finds is the one `customer_centric` finds with every
    customer in hand."""
    from ccnb._response import (
        budget_weight,
        equal_marginal_spend,
        narrowed_bracket,
        shadow_price_bracket,
    )

    rng = np.random.default_rng(11)
    base = np.concatenate([[2_500.0], rng.gamma(0.6, 120.0, 2_000), np.zeros(300)]) * 0.3
    passes = []

    def total_spends(levels):
        passes.append(len(levels))
        return np.array([curve.inverse_marginal(base, level).sum() for level in levels])

    bracket = narrowed_bracket(total_spends, budget=20_000.0, start=start)
    (lo_level, lo_total), (hi_level, hi_total) = bracket
    assert lo_level < hi_level and lo_total >= 20_000.0 > hi_total
    lo, hi = shadow_price_bracket(
        lambda level: total_spends([level])[0], budget=20_000.0, start=start, bracket=bracket
    )
    weight = budget_weight(lo, hi, budget=20_000.0)
    _, expected = equal_marginal_spend(base, 20_000.0, curve)
    assert hi.level - weight * (hi.level - lo.level) == pytest.approx(expected, rel=1e-12)
    assert len(passes) <= 15


def test_acquisition_against_history_flags_plans_beyond_what_a_channel_brought():
    plan = pd.DataFrame(
        {
            "channel": ["Referral", "Search", "Display", "Idle"],
            "capacity": [600.0, np.nan, 100.0, np.nan],
            "new_customers": [600.0, 300.0, 100.0, 0.0],
        }
    )
    table = budget.acquisition_against_history(plan, {"Referral": 189, "Search": 250})
    assert table["acquired"].tolist() == [189, 250, 0, 0]
    # 600 / 189 = 3.17 > 1.5; 300 / 250 = 1.2 within; 100 from a channel that brought none
    assert table["ratio"].iloc[:3].tolist() == pytest.approx([600 / 189, 1.2, math.inf])
    assert np.isnan(table["ratio"].iloc[3])
    assert table["beyond_history"].tolist() == [True, False, True, False]
    assert budget.acquisition_against_history(plan, {"Referral": 189}, stretch=4.0)[
        "beyond_history"
    ].tolist() == [False, True, True, False]
