"""What retention is worth: survival of an active customer, and equity under a retention change.

The survival check is independent of the posterior algebra: customers are simulated from the
models' own story (a purchase rate, a dropout at a purchase or after an exponential lifetime),
those with a given history still active at T are followed, and the share still active t later
is compared with ``survival_if_alive``.
"""

import numpy as np
import pandas as pd
import pytest

from ccnb import clv
from ccnb.clv.prediction import UNITS_PER_MONTH, _monthly_discount
from ccnb.datasets.btyd_population import CDNOW_ESTIMATES, CDNOW_PERIODS, simulate_population

AGE, LATER, N = 39.0, 52.0, 600_000


def simulated_survival(model, params, x, rng):
    """Share of customers with x repeat purchases by AGE, active at AGE, still active LATER on."""
    rate = rng.gamma(params["r"], 1 / params["alpha"], N)
    by_age = rng.poisson(rate * AGE)
    more = rng.poisson(rate * LATER)
    if model == "paretonbd":
        lifetime = rng.exponential(1 / rng.gamma(params["s"], 1 / params["beta"], N))
        active = (by_age == x) & (lifetime > AGE)
        survived = lifetime > AGE + LATER
    else:
        dropout = rng.beta(params["a"], params["b"], N)
        # the purchase after which the customer leaves (MBG/NBD: may leave at the first, 0)
        leaves_after = rng.geometric(dropout) - (1 if model == "mbgnbd" else 0)
        active = (by_age == x) & (leaves_after > x)
        survived = x + more < leaves_after
    return survived[active].mean(), active.sum()


def summary_of(frame):
    """The calibration columns as a customer summary (every customer spends 30 a purchase)."""
    columns = {"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"}
    summary = frame[list(columns)].rename(columns=columns)
    return summary.assign(customer_id=np.arange(len(frame)), monetary_value=30.0)


def priced(purchases, summary, *, horizon_months):
    """Predictions at a 30% margin and 10% discount rate (no draws), and survival paths."""
    predictions = clv.predict(
        summary,
        purchases=purchases,
        gross_margin=0.3,
        discount_rate_annual=0.1,
        horizon_months=horizon_months,
        time_unit="W",
        n_draws=0,
    )
    paths = clv.survival_paths(purchases, summary, horizon_months=horizon_months, time_unit="W")
    return predictions, paths


@pytest.fixture(scope="module", params=list(CDNOW_ESTIMATES))
def fitted(request):
    frame = simulate_population(
        request.param,
        CDNOW_ESTIMATES[request.param],
        spend_params={"p": 6.25, "q": 3.74, "v": 15.44},
        n_customers=2000,
        seed=4,
        **CDNOW_PERIODS,
    )
    purchases = clv.fit_purchases(frame, model=request.param)
    return request.param, purchases, frame


@pytest.mark.parametrize("model", list(CDNOW_ESTIMATES))
def test_survival_matches_customers_simulated_from_the_model(model):
    params = CDNOW_ESTIMATES[model]
    stand_in = clv.FittedModel.__new__(clv.FittedModel)
    stand_in.name, stand_in.params_ = model, pd.Series(params)
    rng = np.random.default_rng(8)
    for x in (0, 2, 5):
        observed, customers = simulated_survival(model, params, x, rng)
        exact = clv.survival_if_alive(stand_in, [x], [AGE], [LATER])[0, 0]
        error = np.sqrt(exact * (1 - exact) / customers)
        assert customers > 2000
        assert abs(observed - exact) < 4 * error, (model, x, observed, exact)


def test_retention_scenarios_by_hand(fitted):
    """Equity at 0 is the predictions' total; each row's factor moves the P(alive)-weighted
    one-year survival by exactly the change, and equity is the survival-scaled margin."""
    _, purchases, frame = fitted
    summary = summary_of(frame)
    predictions, paths = priced(purchases, summary, horizon_months=24)
    table = clv.retention_scenarios(predictions, paths, changes=[-3, 2])
    assert table["change_points"].tolist() == [-3, 0, 2]
    base = table.set_index("change_points")
    # exactly the rCLV total (and so the customer equity every page shows), not float32 margins
    assert base.loc[0, "equity"] == predictions.table["rclv"].sum()
    assert base.loc[0, "equity_change"] == 0 and not np.signbit(base.loc[0, "equity_change"])
    month = UNITS_PER_MONTH["W"]
    middles = (np.arange(24) + 0.5) * month
    survival = clv.survival_if_alive(
        purchases, summary["frequency"], summary["T"], [*middles, 12 * month]
    )
    weight = predictions.table["p_alive"].to_numpy()
    discount = _monthly_discount(24, 0.1)
    for _, row in base.iterrows():
        factor = row["hazard_factor"]
        retained = weight @ survival[:, -1] ** factor / weight.sum()
        assert retained == pytest.approx(row["retention"], abs=1e-9)
        margin = predictions.monthly_margin.astype(float) * survival[:, :-1] ** (factor - 1)
        assert row["equity"] == pytest.approx(float((margin @ discount).sum()), rel=1e-6)
    assert base.loc[2, "retention"] - base.loc[0, "retention"] == pytest.approx(0.02)
    assert base.loc[-3, "equity"] < base.loc[0, "equity"] < base.loc[2, "equity"]
    assert base.loc[2, "hazard_factor"] < 1 < base.loc[-3, "hazard_factor"]


def test_scenarios_of_summed_patterns_are_the_customers_scenarios(fitted):
    """What the executors send back, each (frequency, T)'s summed P(alive) and monthly
    margins, gives the scenarios of the customers themselves."""
    _, purchases, frame = fitted
    summary = summary_of(frame)
    summary["T"] = np.ceil(summary["T"])  # whole weeks, so that customers share patterns
    predictions, paths = priced(purchases, summary, horizon_months=24)
    expected = clv.retention_scenarios(predictions, paths, changes=[-3, 2])
    months = clv.margin_columns(24)
    customers = pd.DataFrame(predictions.monthly_margin.astype(float), columns=months).assign(
        frequency=summary["frequency"].to_numpy(),
        T=summary["T"].to_numpy(),
        p_alive=predictions.table["p_alive"].to_numpy(),
    )
    patterns = customers.groupby(["frequency", "T"], as_index=False).sum()
    assert len(patterns) < len(customers) / 2
    ours = clv.retention_scenarios_of_patterns(
        patterns.sample(frac=1.0, random_state=2),
        purchases,
        equity=float(predictions.table["rclv"].sum()),
        discount_rate_annual=0.1,
        horizon_months=24,
        time_unit="W",
        changes=[-3, 2],
    )
    pd.testing.assert_frame_equal(ours, expected, rtol=1e-9)
    with pytest.raises(ValueError, match="margin_month_24"):
        clv.retention_scenarios_of_patterns(
            patterns.drop(columns="margin_month_24"),
            purchases,
            equity=1.0,
            discount_rate_annual=0.1,
            horizon_months=24,
            time_unit="W",
        )


def test_a_change_past_certainty_is_refused(fitted):
    _, purchases, frame = fitted
    predictions, paths = priced(purchases, summary_of(frame), horizon_months=12)
    with pytest.raises(ValueError, match="outside"):
        clv.retention_scenarios(predictions, paths, changes=[99])


def test_reprice_equals_predicting_at_the_other_margin(fitted):
    _, purchases, frame = fitted
    summary = summary_of(frame)
    options = dict(
        purchases=purchases,
        discount_rate_annual=0.1,
        horizon_months=12,
        time_unit="W",
        n_draws=40,
        seed=3,
    )
    at_30 = clv.predict(summary, gross_margin=0.3, **options)
    at_45 = clv.predict(summary, gross_margin=0.45, **options)
    repriced = clv.reprice(at_30, gross_margin=0.45)
    money = ["rclv", "rclv_low", "rclv_high", "rclv_param_low", "rclv_param_high"]
    pd.testing.assert_frame_equal(repriced.table[money], at_45.table[money], rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(repriced.rclv_draws), np.asarray(at_45.rclv_draws), rtol=1e-5, atol=1e-6
    )
    assert repriced.new_customer_value == pytest.approx(at_45.new_customer_value)
    assert repriced.settings["gross_margin"] == 0.45 and at_30.settings["gross_margin"] == 0.3
    assert clv.customer_equity(repriced).high == pytest.approx(
        clv.customer_equity(at_45).high, rel=1e-5
    )
