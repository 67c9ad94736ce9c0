"""Predictive distributions: exact conditional quantities, coverage on known truth, parts and whole.

The truth is known because the customers are simulated from fixed parameters
(``ccnb.datasets.btyd_population``); the exact quantities come from lifetimes.
"""

import numpy as np
import pandas as pd
import pytest

from ccnb import clv
from ccnb.clv import _btyd, predictive
from ccnb.datasets.btyd_population import (
    CDNOW_ESTIMATES,
    CDNOW_PERIODS,
    CDNOW_SPEND_ESTIMATES,
    simulate_population,
)


def population(model, *, n_customers, seed):
    return simulate_population(
        model,
        CDNOW_ESTIMATES[model],
        spend_params=CDNOW_SPEND_ESTIMATES,
        n_customers=n_customers,
        seed=seed,
        **CDNOW_PERIODS,
    )


def fitted_models(frame, model):
    purchases = clv.fit_purchases(frame, model=model)
    spend = clv.fit_spend(
        frame.rename(columns={"frequency_cal": "frequency", "monetary_value_cal": "monetary_value"})
    )
    return purchases, spend


@pytest.fixture(scope="module", params=list(CDNOW_ESTIMATES))
def simulated(request):
    """One population per model (2,000 customers) with both models fitted on calibration."""
    frame = population(request.param, n_customers=2000, seed=11)
    return request.param, frame, *fitted_models(frame, request.param)


def test_population_follows_the_model_it_was_drawn_from():
    """The simulated calibration data give back the true parameters (within 3 standard errors)."""
    frame = population("bgnbd", n_customers=20_000, seed=3)
    purchases, spend = fitted_models(frame, "bgnbd")
    for name, truth in CDNOW_ESTIMATES["bgnbd"].items():
        assert abs(purchases.params_[name] - truth) < 3 * purchases.standard_errors_[name], name
    for name, truth in CDNOW_SPEND_ESTIMATES.items():
        assert abs(spend.params_[name] - truth) < 3 * spend.standard_errors_[name], name
    assert (frame["frequency_cal"] >= 0).all() and (frame["recency_cal"] <= frame["T_cal"]).all()
    assert (frame["T_cal"] > 27).all() and (frame["T_cal"] <= 39).all()


def test_simulated_futures_match_the_exact_conditional_quantities(simulated):
    """At the estimates (no parameter draws), 400,000 futures of four histories reproduce
    lifetimes' conditional expectation, the exact P(no purchase) and Gamma-Gamma's conditional
    expected spend."""
    model, _, purchases, spend = simulated
    histories = np.array([[0, 0, 30], [2, 20, 38], [7, 35, 39], [1, 2, 39]], dtype=float)
    t, n = 39.0, 400_000
    monetary = np.array([0.0, 35.0, 60.0, 12.0])
    rng = np.random.default_rng(5)
    alive = _btyd.probability_alive(purchases.fitter, *histories.T)
    expected = _btyd.conditional_expected_purchases(purchases.fitter, t, *histories.T)
    none = 1 - clv.probability_of_purchase(purchases, *histories.T, np.full(4, t))
    spend_params = spend.params_.to_dict()
    for i, (x, _, age) in enumerate(histories):
        count = clv.future_purchases(
            model,
            purchases.params_.to_dict(),
            p_alive=np.full(n, alive[i]),
            frequency=np.full(n, x),
            age=np.full(n, age),
            duration=t,
            rng=rng,
        )
        assert count.mean() == pytest.approx(expected[i], rel=0.02, abs=2e-3), (model, i)
        assert (count == 0).mean() == pytest.approx(none[i], abs=3e-3), (model, i)
        total = clv.future_spend(
            count,
            frequency=np.full(n, x),
            monetary=np.full(n, monetary[i]),
            params=spend_params,
            rng=rng,
        )
        per_purchase = total[count > 0].sum() / count[count > 0].sum()
        p, q, v = (spend_params[k] for k in ("p", "q", "v"))
        exact = (
            spend.fitter.conditional_expected_average_profit(x, monetary[i])
            if x > 0
            else v * p / (q - 1)
        )
        assert per_purchase == pytest.approx(float(np.asarray(exact)), rel=0.03), (model, i)


def test_per_customer_intervals_cover_the_held_out_futures(simulated):
    """Fit on calibration, predict the holdout: 90% of customers' realised purchases and spend
    fall inside their own 90% interval (randomised PIT; ±4 points on 2,000 customers). The
    parameter-only interval, which leaves out the customer's own randomness, covers almost
    nobody, and plainly-inside matches what the intervals state."""
    model, frame, purchases, spend = simulated
    actual = {
        "actual_purchases": frame["frequency_holdout"],
        "actual_value": frame["value_holdout"],
    }
    predictive = clv.interval_coverage(
        clv.predictive_distribution(frame, purchases=purchases, spend=spend, seed=1), **actual
    )
    parameter_only = clv.interval_coverage(
        clv.predictive_distribution(
            frame, purchases=purchases, spend=spend, seed=1, own_randomness=False
        ),
        **actual,
    )
    for name in ("purchases", "value"):
        assert 0.86 <= predictive[f"{name}_pit_inside"] <= 0.94, (model, name)
        assert predictive[f"{name}_inside"] == pytest.approx(
            predictive[f"{name}_stated_content"], abs=0.02
        ), (model, name)
        assert parameter_only[f"{name}_pit_inside"] < 0.1, (model, name)
        assert parameter_only[f"{name}_inside"] < 0.1, (model, name)


def test_total_interval_covers_the_realised_total_across_replicates():
    """BG/NBD, 30 replicates of 1,000 customers: the realised holdout total lies inside the 90%
    predictive interval of the total in at least 75% of them (90% expected; 75% is 2.7 binomial
    standard deviations below)."""
    inside = []
    for seed in range(30):
        frame = population("bgnbd", n_customers=1000, seed=100 + seed)
        purchases, spend = fitted_models(frame, "bgnbd")
        coverage = clv.interval_coverage(
            clv.predictive_distribution(frame, purchases=purchases, spend=spend, seed=seed),
            actual_purchases=frame["frequency_holdout"],
            actual_value=frame["value_holdout"],
        )
        inside.append(coverage[["total_purchases_inside", "total_value_inside"]])
    shares = pd.DataFrame(inside).mean()
    assert (shares >= 0.75).all(), shares


def test_totals_are_sums_of_the_customers_draws(simulated):
    """Any group's total and the whole's come from the same draws: they add up draw by draw."""
    _, frame, purchases, spend = simulated
    distribution = clv.predictive_distribution(
        frame, purchases=purchases, spend=spend, seed=2, n_draws=50
    )
    half = np.arange(len(frame)) < len(frame) // 2
    for value in (False, True):
        draws = distribution.value_draws if value else distribution.purchase_draws
        first = draws[:, half].sum(axis=1, dtype=float)
        second = draws[:, ~half].sum(axis=1, dtype=float)
        mean, low, high = distribution.total(value=value)
        assert mean == pytest.approx((first + second).mean())
        assert (low, high) == pytest.approx(tuple(np.quantile(first + second, [0.05, 0.95])))
        part_mean, _, _ = distribution.total(value=value, members=np.flatnonzero(half))
        assert part_mean == pytest.approx(first.mean())


def test_intervals_are_seeded_and_whole_for_purchases(simulated):
    _, frame, purchases, spend = simulated
    first = clv.predictive_distribution(frame, purchases=purchases, spend=spend, seed=4, n_draws=40)
    again = clv.predictive_distribution(frame, purchases=purchases, spend=spend, seed=4, n_draws=40)
    pd.testing.assert_frame_equal(first.table, again.table)
    bounds = first.table[["purchases_low", "purchases_high"]].to_numpy()
    np.testing.assert_array_equal(bounds, np.round(bounds))
    assert (first.table["purchases_low"] <= first.table["purchases_high"]).all()
    assert "own randomness and parameters" in repr(first)


def _monthly(peak_month, peak_ratio):
    ratio = np.ones(12)
    ratio[peak_month - 1] = peak_ratio
    return pd.DataFrame(
        {"month": range(1, 13), "actual": ratio * 100, "expected": 100.0, "ratio": ratio}
    )


@pytest.mark.parametrize(
    ("inside", "peak", "ratio", "calibration_end", "observation_end", "cause", "mechanism"),
    [
        (1.0, 12, 2.0, "2024-12-31", "2025-12-31", "none", "ends_after_peak"),
        (0.0, 12, 2.0, "2024-12-31", "2025-12-31", "seasonality", "ends_after_peak"),
        (0.0, 11, 2.0, "2025-06-30", "2025-12-31", "seasonality", "holdout_has_peak"),
        (0.0, 11, 2.0, "2024-06-30", "2025-06-30", "unexplained", None),  # a whole year
        (0.0, 3, 1.4, "2025-03-31", "2025-09-30", "unexplained", None),  # too weak a peak
    ],
)
def test_likely_miss_cause_by_hand(
    inside, peak, ratio, calibration_end, observation_end, cause, mechanism
):
    total = pd.Series({"inside": inside, "actual": 90.0, "low": 100.0, "high": 120.0})
    result = clv.likely_miss_cause(
        total,
        _monthly(peak, ratio),
        calibration_end=pd.Timestamp(calibration_end).date(),
        observation_end=pd.Timestamp(observation_end).date(),
    )
    assert result["cause"] == cause
    assert result["mechanism"] == mechanism
    assert result["direction"] == (None if inside else "below")
    assert result["peak_month"] == peak and result["peak_ratio"] == pytest.approx(ratio)


def test_monthly_tracking_ratio_needs_a_year_of_calibration():
    periods = pd.Series(pd.date_range("2024-01-01", periods=60, freq="7D"), index=range(1, 61))
    tracking = pd.DataFrame(
        {
            "period": range(1, 61),
            "actual": np.where(periods.dt.month.to_numpy() == 12, 30.0, 10.0),
            "expected": 10.0,
            "in_calibration": True,
        }
    )
    table = clv.monthly_tracking_ratio(tracking, periods).set_index("month")
    assert table.loc[12, "ratio"] == pytest.approx(3.0) and table.loc[6, "ratio"] == 1.0
    short = clv.monthly_tracking_ratio(tracking.head(20), periods)
    assert short.empty


@pytest.mark.parametrize("method", ["linear", "inverted_cdf"])
@pytest.mark.parametrize("n_draws", [1, 7, 200])
def test_column_quantiles_equal_numpy(method, n_draws):
    """The partitioned quantiles are numpy's, ties and zeros included, across block edges."""
    rng = np.random.default_rng(3)
    draws = rng.gamma(0.5, 100.0, size=(n_draws, 40_000)).astype(np.float32)
    draws[:, ::3] = 0.0
    draws[:, 1::5] = np.round(draws[:, 1::5])
    low, high = predictive.column_quantiles(draws, [0.05, 0.95], method=method)
    expected = np.quantile(draws.astype(float), [0.05, 0.95], axis=0, method=method)
    np.testing.assert_allclose(low, expected[0], rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(high, expected[1], rtol=1e-6, atol=1e-4)


def test_holdout_total_sums_the_predictive_distributions_draws(simulated):
    """The holdout total streams the same draws predictive_distribution keeps, summed per draw."""
    import warnings

    _, frame, purchases, _ = simulated
    filters = list(warnings.filters)
    total = clv.holdout_total(frame, purchases, n_draws=60, seed=4)
    # its two threads call lifetimes without touching the process' warning filters
    # (warnings.catch_warnings is not thread-safe on this Python)
    assert warnings.filters == filters
    kept = clv.predictive_distribution(frame, purchases=purchases, n_draws=60, seed=4)
    parameter_only = clv.predictive_distribution(
        frame, purchases=purchases, n_draws=60, seed=4, own_randomness=False
    )
    expected, low, high = kept.total()
    _, parameter_low, parameter_high = parameter_only.total()
    assert total["expected"] == pytest.approx(kept.table["expected_purchases"].sum(), rel=1e-12)
    assert (total["low"], total["high"]) == pytest.approx((low, high), rel=1e-12)
    assert (total["parameter_low"], total["parameter_high"]) == pytest.approx(
        (parameter_low, parameter_high), rel=1e-12
    )
    assert total["actual"] == frame["frequency_holdout"].sum()
