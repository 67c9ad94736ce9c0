"""Tests for ccnb.clv: checked against published results, lifetimes itself, or hand-worked sums.

Most tests use the CDNOW sample shipped with lifetimes (2357 customers, weekly time,
calibration end 1997-09-30, observation end 1998-06-30), built with lifetimes' own summary
functions so the inputs do not depend on ccnb.summary.
"""

import dataclasses
import warnings
from pathlib import Path

import autograd
import ibis
import lifetimes
import lifetimes.datasets
import numpy as np
import pandas as pd
import pytest
from lifetimes.utils import (
    _customer_lifetime_value,
    calibration_and_holdout_data,
    expected_cumulative_transactions,
    summary_data_from_transaction_data,
)

from ccnb import clv
from ccnb.clv import _btyd

CALIBRATION_END = "1997-09-30"
OBSERVATION_END = "1998-06-30"
WEEKS_PER_MONTH = 365.25 / 12 / 7


def relative_difference(ours, theirs):
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    return float(np.max(np.abs(ours / theirs - 1)))


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def cdnow_transactions():
    path = Path(lifetimes.datasets.__file__).parent / "CDNOW_sample.txt"
    names = ["customer_id", "sample_id", "date", "number_of_cds", "dollar_value"]
    raw = pd.read_csv(path, sep=r"\s+", header=None, names=names, dtype=str)
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "date": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "dollar_value": raw["dollar_value"].astype(float),
        }
    )


@pytest.fixture(scope="module")
def calibration(cdnow_transactions):
    return calibration_and_holdout_data(
        cdnow_transactions,
        "customer_id",
        "date",
        calibration_period_end=CALIBRATION_END,
        observation_period_end=OBSERVATION_END,
        freq="D",
        freq_multiplier=7,
        monetary_value_col="dollar_value",
    )


@pytest.fixture(scope="module")
def summary(cdnow_transactions):
    """Whole-period summary in ccnb's shape: RangeIndex and a customer_id column."""
    frame = summary_data_from_transaction_data(
        cdnow_transactions,
        "customer_id",
        "date",
        monetary_value_col="dollar_value",
        observation_period_end=OBSERVATION_END,
        freq="D",
        freq_multiplier=7,
    )
    return frame.reset_index()


@pytest.fixture(scope="module")
def actual_weekly(cdnow_transactions):
    """Repeat purchase days per week since the first purchase, plain pandas."""
    days = cdnow_transactions[["customer_id", "date"]].drop_duplicates()
    days = days[days["date"] <= OBSERVATION_END]
    first = days.groupby("customer_id")["date"].transform("min")
    repeats = days[days["date"] > first]
    week = (repeats["date"] - first.min()).dt.days // 7 + 1
    return week.value_counts().sort_index().reindex(range(1, 79), fill_value=0)


@pytest.fixture(scope="module")
def validation(calibration, actual_weekly):
    return clv.validate(calibration, actual_repeat_by_period=actual_weekly)


@pytest.fixture(scope="module")
def purchases(summary):
    return clv.fit_purchases(summary, model="bgnbd")


@pytest.fixture(scope="module")
def spend(summary):
    return clv.fit_spend(summary)


@pytest.fixture(scope="module")
def predictions(summary, purchases, spend):
    return clv.predict(
        summary,
        purchases=purchases,
        spend=spend,
        gross_margin=0.3,
        discount_rate_annual=0.1,
        horizon_months=12,
        time_unit="W",
        n_draws=200,
        seed=7,
    )


def simulate_bgnbd(n_customers, *, seed, r=0.25, alpha=4.0, a=0.8, b=2.5, days=84, end=546):
    """BG/NBD customers born over `days`, observed to day `end`, one purchase per day, weeks."""
    rng = np.random.default_rng(seed)
    birth = rng.integers(0, days, n_customers)
    rate = rng.gamma(r, 1 / alpha, n_customers)
    dropout = rng.beta(a, b, n_customers)
    rows = []
    for i in range(n_customers):
        t, purchase_days, horizon = 0.0, set(), (end - birth[i]) / 7
        while True:
            t += rng.exponential(1 / rate[i])
            if t >= horizon:
                break
            purchase_days.add(int(t * 7))
            if rng.random() < dropout[i]:
                break
        purchase_days.discard(0)
        recency = max(purchase_days) / 7 if purchase_days else 0.0
        rows.append((f"c{i}", len(purchase_days), recency, horizon))
    return pd.DataFrame(rows, columns=["customer_id", "frequency", "recency", "T"])


class LinearPurchases:
    """A stand-in purchase model: c purchases per time unit for everyone, always alive."""

    def __init__(self, rate):
        self.rate = rate
        self.params_ = pd.Series({"rate": rate})

    def conditional_expected_number_of_purchases_up_to_time(self, t, frequency, recency, T):
        return self.rate * np.asarray(t, dtype=float) * np.ones_like(np.asarray(frequency, float))

    def conditional_probability_alive(self, frequency, recency, T):
        return np.ones_like(np.asarray(frequency, dtype=float))

    def expected_number_of_purchases_up_to_time(self, t):
        return self.rate * np.asarray(t, dtype=float)


def linear_model(rate):
    names = ["rate"]
    return clv.FittedModel(
        name="linear",
        label="linear stand-in",
        params_=pd.Series({"rate": rate}),
        standard_errors_=pd.Series({"rate": 0.0}),
        log_params_covariance_=pd.DataFrame(0.0, index=names, columns=names),
        log_likelihood_=0.0,
        aic_=0.0,
        n_customers_=0,
        n_unique_=0,
        converged_=True,
        convergence_="converged",
        penalizer=0.0,
        fitter=LinearPurchases(rate),
    )


def geometric_sum(rate, months):
    """sum_{k=1..months} (1 + d_m) ** -k for the monthly rate of an annual rate."""
    factor = 1 / (1 + rate) ** (1 / 12)
    return factor * (1 - factor**months) / (1 - factor)


# ---------------------------------------------------------------------------------------------
# simple CLV


def test_simple_clv_is_the_briefs_formula():
    assert clv.simple_clv(1000, 10, 1000) == 9000
    np.testing.assert_allclose(clv.simple_clv(np.array([100.0, 50.0]), 2, 10), [190.0, 90.0])
    with pytest.raises(ValueError, match="lifespan_years"):
        clv.simple_clv(1000, -1, 0)


def naive_summary():
    # A: 4 years observed (2018-01-01 to 2022-01-01 is 1461 days), 800 revenue -> 200 a year.
    # B: 184 days observed, floored to 1 year -> 150 a year.
    return pd.DataFrame(
        {
            "customer_id": ["A", "B"],
            "revenue": [800.0, 150.0],
            "first_purchase": pd.to_datetime(["2018-01-01", "2021-07-01"]),
            "last_purchase": pd.to_datetime(["2021-12-01", "2021-12-31"]),
            "days_since_last": [31, 1],
            "acquisition_channel": ["search", "search"],
        }
    )


def test_naive_clv_per_customer_by_hand():
    table = clv.naive_clv(naive_summary(), annual_churn_rate=0.25, acquisition_cost=100.0)
    assert list(table.columns) == [
        "customer_id",
        "revenue",
        "years_observed",
        "naive_annual_revenue",
        "naive_lifespan_years",
        "acquisition_cost",
        "naive_clv",
    ]
    np.testing.assert_allclose(table["years_observed"], [4.0, 1.0])
    np.testing.assert_allclose(table["naive_annual_revenue"], [200.0, 150.0])
    np.testing.assert_allclose(table["naive_clv"], [200 * 4 - 100, 150 * 4 - 100])
    explicit = clv.naive_clv(
        naive_summary().drop(columns=["last_purchase", "days_since_last"]),
        annual_churn_rate=0.25,
        observation_end="2022-01-01",
    )
    np.testing.assert_allclose(explicit["naive_clv"], [800.0, 600.0])


def test_naive_annual_revenue_in_engine_is_the_mean_of_naive_clvs():
    # A: 800 over 4 years = 200 a year; B: 150 over 184 days, floored to a year: mean 175
    customers = naive_summary()[["customer_id", "revenue", "first_purchase"]]
    # dates, as the summary's engine expression has them
    table = ibis.memtable(customers.assign(first_purchase=customers["first_purchase"].dt.date))
    assert clv.naive_annual_revenue_in_engine(table, observation_end="2022-01-01") == pytest.approx(
        175.0, rel=1e-12
    )
    # with no floor B's 184 days count as 184 / 365.25 years
    unfloored = clv.naive_annual_revenue_in_engine(
        table, observation_end="2022-01-01", min_years_observed=0.0
    )
    assert unfloored == pytest.approx((200.0 + 150.0 / (184 / 365.25)) / 2, rel=1e-12)


def test_naive_versus_model_by_hand():
    compared = clv.naive_versus_model(naive_annual_revenue=175.0, rclv=42.0, annual_churn_rate=0.25)
    assert compared.to_dict() == {
        "annual_churn_rate": 0.25,
        "naive_lifespan_years": 4.0,
        "naive_annual_revenue": 175.0,
        "naive_clv": 700.0,
        "rclv": 42.0,
    }
    with pytest.raises(ValueError, match="annual_churn_rate"):
        clv.naive_versus_model(naive_annual_revenue=175.0, rclv=42.0, annual_churn_rate=0.0)


def test_naive_clv_by_channel_pools_customer_years():
    table = clv.naive_clv(
        naive_summary(),
        annual_churn_rate={"search": 0.5},
        acquisition_cost={"search": 20.0},
        by="acquisition_channel",
    )
    row = table.iloc[0]
    assert row["n_customers"] == 2
    assert row["customer_years"] == pytest.approx(5.0)
    assert row["naive_annual_revenue"] == pytest.approx(950 / 5)
    assert row["naive_clv"] == pytest.approx(950 / 5 * 2 - 20)


# ---------------------------------------------------------------------------------------------
# fitting


def test_bgnbd_reproduces_fader_hardie_lee_2005(calibration):
    fitted = clv.fit_purchases(calibration, model="bgnbd")
    params = fitted.params_
    assert round(params["r"], 3) == 0.243
    assert round(params["alpha"], 3) == 4.414
    assert round(params["a"], 3) == 0.793
    assert round(params["b"], 3) == 2.426
    assert round(fitted.log_likelihood_, 1) == -9582.4  # published log-likelihood
    assert fitted.aic_ == pytest.approx(8 + 2 * 9582.4292, abs=1e-3)
    assert fitted.converged_ and fitted.n_customers_ == 2357
    assert fitted.n_unique_ < fitted.n_customers_  # condensed to distinct patterns


def lifetimes_fit(model, calibration):
    frequency, recency, age = (
        calibration[column] for column in ("frequency_cal", "recency_cal", "T_cal")
    )
    if model == "bgnbd":
        return lifetimes.BetaGeoFitter().fit(frequency, recency, age)
    if model == "mbgnbd":
        return lifetimes.ModifiedBetaGeoFitter().fit(frequency, recency, age)
    # lifetimes' Nelder-Mead stops at tol=1e-4 about 1e-4 short of the optimum on the
    # Pareto/NBD ridge; a tight tolerance from a fixed start makes it a reference to 1e-6.
    return lifetimes.ParetoNBDFitter().fit(
        frequency, recency, age, initial_params=np.ones(4), tol=1e-10, maxiter=20000
    )


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "paretonbd"])
def test_purchase_models_equal_lifetimes_fit_on_every_row(model, validation, calibration):
    ours = validation.fitted[model]
    theirs = lifetimes_fit(model, calibration)
    assert relative_difference(ours.params_, theirs.params_[ours.params_.index]) < 1e-4


def test_pareto_nbd_log_likelihood_matches_published_and_beats_lifetimes_default(
    validation, calibration
):
    ours = validation.fitted["paretonbd"]
    assert round(ours.log_likelihood_, 1) == -9595.0  # Fader, Hardie & Lee (2005)
    default = lifetimes.ParetoNBDFitter().fit(
        calibration["frequency_cal"],
        calibration["recency_cal"],
        calibration["T_cal"],
        initial_params=np.ones(4),
    )
    columns = [calibration[c].to_numpy() for c in ("frequency_cal", "recency_cal", "T_cal")]
    theirs_ll = -lifetimes.ParetoNBDFitter._negative_log_likelihood(
        default.params_.to_numpy(), *columns, np.ones(len(calibration)), 0.0
    )
    assert ours.log_likelihood_ >= theirs_ll - 1e-9
    assert len(ours.starts_) >= 3


def test_gamma_gamma_equals_lifetimes_fit_on_every_row(summary, spend):
    repeat = summary[summary["frequency"] > 0]
    theirs = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    assert relative_difference(spend.params_, theirs.params_) < 1e-4
    assert relative_difference(spend.standard_errors_, theirs.standard_errors_) < 1e-4
    assert spend.excluded_ == {"no_repeat_purchase": 1218, "non_positive_spend": 0}
    expected_r = np.corrcoef(repeat["frequency"], repeat["monetary_value"])[0, 1]
    assert spend.correlation_ == pytest.approx(expected_r)
    assert spend.independence_ok_ is True


def test_weighted_fit_equals_unweighted_lifetimes_on_synthetic_data():
    customers = simulate_bgnbd(3000, seed=11)
    fitted = clv.fit_purchases(customers, model="bgnbd")
    theirs = lifetimes.BetaGeoFitter().fit(
        customers["frequency"], customers["recency"], customers["T"]
    )
    assert fitted.n_unique_ < 0.6 * fitted.n_customers_
    assert relative_difference(fitted.params_, theirs.params_) < 1e-4
    assert relative_difference(fitted.standard_errors_, theirs.standard_errors_) < 1e-4
    columns = [customers[c].to_numpy() for c in ("frequency", "recency", "T")]
    theirs_ll = -lifetimes.BetaGeoFitter._negative_log_likelihood(
        np.log(theirs.params_.to_numpy()), *columns, np.ones(len(customers)), 0.0
    ) * len(customers)
    assert fitted.log_likelihood_ == pytest.approx(theirs_ll, rel=1e-9)


def _patterns(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The customers' distinct values of ``columns`` counted, as the engine returns them."""
    counted = frame.groupby(columns, sort=True).size().rename("customers").reset_index()
    return counted.sample(frac=1.0, random_state=0)  # order must not matter


@pytest.mark.parametrize("model", ["bgnbd", "paretonbd"])
def test_a_fit_on_counted_patterns_is_the_fit_on_the_customers(summary, model):
    """What the engine sends back on Spark: distinct patterns and how many customers share
    each; lifetimes fitted on every customer is the independent check."""
    patterns = _patterns(summary, ["frequency", "recency", "T"])
    assert len(patterns) == 1218  # of 2,357 customers
    ours = clv.fit_purchases(patterns, model=model, weights="customers")
    on_rows = clv.fit_purchases(summary, model=model)
    assert ours.n_customers_ == on_rows.n_customers_ == len(summary) == 2357
    assert ours.n_unique_ == on_rows.n_unique_ == len(patterns)
    pd.testing.assert_series_equal(ours.params_, on_rows.params_, rtol=1e-12)
    assert ours.log_likelihood_ == pytest.approx(on_rows.log_likelihood_, rel=1e-12)
    if model == "bgnbd":
        theirs = lifetimes.BetaGeoFitter().fit(
            summary["frequency"], summary["recency"], summary["T"]
        )
        assert relative_difference(ours.params_, theirs.params_) < 1e-4


def test_a_spend_fit_on_counted_patterns_counts_the_customers(summary, spend):
    """Gamma-Gamma on (frequency, monetary value) patterns: the customers without a repeat
    purchase are excluded by their count, the correlation is the customers' own."""
    patterns = _patterns(summary, ["frequency", "monetary_value"])
    ours = clv.fit_spend(patterns, weights="customers")
    assert ours.excluded_ == {"no_repeat_purchase": 1218, "non_positive_spend": 0}
    assert ours.n_customers_ == spend.n_customers_ == 2357 - 1218
    pd.testing.assert_series_equal(ours.params_, spend.params_, rtol=1e-12)
    repeat = summary[summary["frequency"] > 0]
    expected_r = np.corrcoef(repeat["frequency"], repeat["monetary_value"])[0, 1]
    assert ours.correlation_ == pytest.approx(expected_r, rel=1e-12)
    assert spend.correlation_ == pytest.approx(expected_r, rel=1e-12)
    # a pattern without a spend (three customers) is excluded by its count, as a row would be
    unknown = pd.DataFrame({"frequency": [2.0], "monetary_value": [np.nan], "customers": [3]})
    with_unknown = clv.fit_spend(pd.concat([patterns, unknown]), weights="customers")
    assert with_unknown.excluded_ == {"no_repeat_purchase": 1218, "non_positive_spend": 3}
    pd.testing.assert_series_equal(with_unknown.params_, spend.params_, rtol=1e-12)


def test_counted_patterns_are_checked_against_their_minimums_by_count():
    """Minimums count customers, not rows: 49 customers on one row are too few; a count that
    is not a whole number of customers is refused."""
    one_row = pd.DataFrame({"frequency": [2.0], "recency": [3.0], "T": [9.0], "customers": [49]})
    with pytest.raises(clv.InsufficientDataError, match="at least 50 customers") as error:
        clv.fit_purchases(one_row, weights="customers")
    assert error.value.observed == 49
    two_rows = pd.DataFrame(
        {"frequency": [0.0, 2.0], "recency": [0.0, 3.0], "T": [9.0, 9.0], "customers": [100, 19]}
    )
    with pytest.raises(clv.InsufficientDataError, match="at least 20 repeat buyers") as error:
        clv.fit_purchases(two_rows, weights="customers")
    assert error.value.observed == 19
    for bad in (0, 1.5, -1):
        with pytest.raises(ValueError, match="'customers' must count customers"):
            clv.fit_spend(
                two_rows.assign(monetary_value=5.0, customers=[100, bad]), weights="customers"
            )
    with pytest.raises(ValueError, match="customers"):
        clv.fit_purchases(two_rows.drop(columns="customers"), weights="customers")


def test_bgnbd_standard_errors_match_lifetimes_and_finite_differences(validation, calibration):
    ours = validation.fitted["bgnbd"]
    theirs = lifetimes_fit("bgnbd", calibration)
    assert relative_difference(ours.standard_errors_, theirs.standard_errors_) < 1e-4
    # ccnb's analytic Hessian against autograd's Hessian of lifetimes' own likelihood
    columns = [calibration[c].to_numpy() for c in ("frequency_cal", "recency_cal", "T_cal")]
    weights = np.ones(len(calibration))
    objective = _btyd.Objective(_btyd.MODEL_SPECS["bgnbd"], tuple(columns), weights, 0.0)
    theta = np.log(ours.params_.to_numpy())
    exact = objective.hessian(theta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # lifetimes' likelihood sets a filter
        theirs = autograd.hessian(lifetimes.BetaGeoFitter._negative_log_likelihood)(
            theta, *columns, weights, 0.0
        )
    assert np.max(np.abs(theirs - exact)) < 1e-9 * np.max(np.abs(exact))


def test_pareto_nbd_standard_errors_match_an_independent_hessian(validation, calibration):
    """Central differences of lifetimes' likelihood in the parameters (not their logs)."""
    ours = validation.fitted["paretonbd"]
    data = tuple(calibration[c].to_numpy() for c in ("frequency_cal", "recency_cal", "T_cal"))
    weights = np.ones(len(calibration))

    def total_nll(params):
        return lifetimes.ParetoNBDFitter._negative_log_likelihood(params, *data, weights, 0.0)

    params = ours.params_.to_numpy()
    steps = params * 1e-4
    hessian = np.empty((4, 4))
    for i in range(4):
        for j in range(4):
            ei, ej = np.eye(4)[i] * steps[i], np.eye(4)[j] * steps[j]
            hessian[i, j] = (
                total_nll(params + ei + ej)
                - total_nll(params + ei - ej)
                - total_nll(params - ei + ej)
                + total_nll(params - ei - ej)
            ) / (4 * steps[i] * steps[j])
    independent = np.sqrt(np.diag(np.linalg.inv(hessian)))
    assert relative_difference(ours.standard_errors_, independent) < 1e-3


def test_summary_table_has_lifelines_shape(validation):
    table = validation.fitted["bgnbd"].summary
    assert list(table.columns) == ["coef", "se", "lower 95%", "upper 95%"]
    assert list(table.index) == ["r", "alpha", "a", "b"]
    assert (table["lower 95%"] < table["coef"]).all() and (table["coef"] < table["upper 95%"]).all()


def test_too_few_customers_or_repeat_buyers_names_the_minimum():
    customers = simulate_bgnbd(400, seed=3)
    with pytest.raises(clv.InsufficientDataError, match="at least 50 customers"):
        clv.fit_purchases(customers.head(49))
    one_timers = customers[customers["frequency"] == 0].head(60)
    few_repeat = pd.concat([one_timers, customers[customers["frequency"] > 0].head(19)])
    with pytest.raises(clv.InsufficientDataError, match="at least 20 repeat buyers") as error:
        clv.fit_purchases(few_repeat, model="paretonbd")
    assert (error.value.minimum, error.value.observed) == (20, 19)
    few_spenders = few_repeat.assign(monetary_value=np.where(few_repeat["frequency"] > 0, 9.0, 0))
    with pytest.raises(clv.InsufficientDataError, match="20 repeat buyers with positive spend"):
        clv.fit_spend(few_spenders)


def test_unidentified_model_raises_fit_error_instead_of_garbage():
    # Every repeat buyer bought on the last day: nobody is seen to drop out, so the dropout
    # parameters run off to the boundary (lifetimes returns a ~ 5e-6 with se ~ 4e8).
    rng = np.random.default_rng(0)
    age = rng.integers(10, 52, 200).astype(float)
    frequency = np.where(np.arange(200) < 60, rng.integers(1, 5, 200), 0).astype(float)
    customers = pd.DataFrame(
        {"frequency": frequency, "recency": np.where(frequency > 0, age, 0.0), "T": age}
    )
    with pytest.raises(clv.FitError, match="not identified") as error:
        clv.fit_purchases(customers, model="bgnbd")
    assert error.value.fitted.converged_ is False


def test_validate_reports_every_failure_when_no_model_converges():
    rng = np.random.default_rng(0)
    age = rng.integers(10, 52, 200).astype(float)
    frequency = np.where(np.arange(200) < 60, rng.integers(1, 5, 200), 0).astype(float)
    calibration = pd.DataFrame(
        {
            "frequency_cal": frequency,
            "recency_cal": np.where(frequency > 0, age, 0.0),
            "T_cal": age,
            "frequency_holdout": rng.integers(0, 3, 200).astype(float),
            "duration_holdout": 26.0,
        }
    )
    with pytest.raises(clv.FitError, match="no candidate converged.*bgnbd.*mbgnbd.*paretonbd"):
        clv.validate(calibration)


def test_bad_btyd_inputs_are_rejected_with_the_column_name():
    bad = pd.DataFrame({"frequency": [1.0] * 60, "recency": [5.0] * 60, "T": [4.0] * 60})
    with pytest.raises(ValueError, match="recency > T"):
        clv.fit_purchases(bad)
    with pytest.raises(ValueError, match="needs columns frequency, recency, T"):
        clv.fit_purchases(bad.rename(columns={"T": "age"}))


def test_gamma_gamma_excludes_and_flags_dependence():
    # Gamma-Gamma spend whose scale grows with frequency: the independence assumption fails.
    rng = np.random.default_rng(1)
    frequency = np.concatenate([rng.integers(1, 10, 200), np.zeros(15)]).astype(float)
    purchases = np.maximum(frequency, 1)
    rate = rng.gamma(4.0, 1 / 20.0, 215) / (1 + 0.5 * frequency)
    monetary = np.where(frequency > 0, rng.gamma(3.0 * purchases, 1 / (rate * purchases)), 0.0)
    monetary[:3] = [-5.0, 0.0, np.nan]  # net returns and a missing value
    fitted = clv.fit_spend(pd.DataFrame({"frequency": frequency, "monetary_value": monetary}))
    assert fitted.excluded_ == {"no_repeat_purchase": 15, "non_positive_spend": 3}
    assert fitted.n_customers_ == 197
    used = (frequency > 0) & (monetary > 0)
    assert fitted.correlation_ == pytest.approx(np.corrcoef(frequency[used], monetary[used])[0, 1])
    assert fitted.correlation_ > 0.3 and fitted.independence_ok_ is False


# ---------------------------------------------------------------------------------------------
# validation


def test_validation_table_scores_the_holdout(validation, calibration):
    table = validation.table
    actual = calibration["frequency_holdout"]
    assert set(table.index) == {"bgnbd", "mbgnbd", "paretonbd"}
    assert (table["holdout_actual"] == actual.sum()).all()
    bg = validation.fitted["bgnbd"].fitter
    predicted = bg.conditional_expected_number_of_purchases_up_to_time(
        calibration["duration_holdout"],
        calibration["frequency_cal"],
        calibration["recency_cal"],
        calibration["T_cal"],
    )
    row = table.loc["bgnbd"]
    assert row["holdout_predicted"] == pytest.approx(predicted.sum())
    assert row["mae"] == pytest.approx(np.mean(np.abs(predicted - actual)))
    assert row["rmse"] == pytest.approx(np.sqrt(np.mean((predicted - actual) ** 2)))
    assert row["aggregate_error_pct"] == pytest.approx(
        100 * (predicted.sum() - actual.sum()) / actual.sum()
    )
    assert row["log_likelihood"] == pytest.approx(validation.fitted["bgnbd"].log_likelihood_)


def test_validation_choice_follows_the_documented_rule(validation):
    table = validation.table
    best = table["mae"].min()
    tied = table[table["mae"] <= 1.01 * best]
    order = {"bgnbd": 0, "mbgnbd": 1, "paretonbd": 2}
    expected = min(
        tied.index, key=lambda m: (round(abs(tied.loc[m, "aggregate_error_pct"]), 2), order[m])
    )
    assert validation.chosen == expected
    assert table["chosen"].sum() == 1 and table.loc[expected, "chosen"]
    assert validation.failures == {}


def test_conditional_expectations_by_calibration_frequency(validation, calibration):
    table = validation.conditional_expectations["bgnbd"]
    assert list(table["frequency_cal"]) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert table["n_customers"].sum() == len(calibration)
    bucket = calibration["frequency_cal"].clip(upper=7)
    np.testing.assert_allclose(
        table["actual"], calibration.groupby(bucket)["frequency_holdout"].mean()
    )
    assert table.loc[0, "n_customers"] == (calibration["frequency_cal"] == 0).sum()


@pytest.mark.parametrize("model", ["bgnbd", "paretonbd"])
def test_tracking_matches_lifetimes_expected_cumulative_transactions(
    model, validation, cdnow_transactions
):
    ours = validation.tracking[model]
    theirs = expected_cumulative_transactions(
        validation.fitted[model].fitter,
        cdnow_transactions,
        "date",
        "customer_id",
        546,
        freq="D",
        freq_multiplier=7,
    )
    assert len(ours) == 78
    np.testing.assert_allclose(ours["expected_cumulative"], theirs["predicted"], rtol=1e-9)
    np.testing.assert_array_equal(ours["actual_cumulative"], theirs["actual"])
    np.testing.assert_allclose(ours["expected"].cumsum(), ours["expected_cumulative"])
    # the calibration period ends on 1997-09-30, the last day of week 39
    assert ours["in_calibration"].sum() == 39


def test_refit_uses_the_chosen_model(summary, validation):
    refitted = clv.refit(summary, validation)
    assert refitted.name == validation.chosen
    assert refitted.n_customers_ == len(summary)


# ---------------------------------------------------------------------------------------------
# predictions


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "paretonbd"])
def test_purchase_path_equals_lifetimes_at_every_month(model, validation, calibration):
    """The P(alive) x G(frequency, T, t) factorisation is exact for every model."""
    fitter = validation.fitted[model].fitter
    columns = [calibration[c].to_numpy() for c in ("frequency_cal", "recency_cal", "T_cal")]
    edges = np.arange(1, 13) * WEEKS_PER_MONTH
    path = _btyd.PurchasePath(edges, *columns).cumulative(fitter)
    for k, edge in enumerate(edges):
        direct = fitter.conditional_expected_number_of_purchases_up_to_time(edge, *columns)
        np.testing.assert_allclose(path[k], direct, rtol=1e-9, atol=1e-14)


def test_predictions_match_lifetimes(summary, purchases, spend, predictions):
    fitter = purchases.fitter
    horizon = 12 * WEEKS_PER_MONTH
    np.testing.assert_allclose(
        predictions.table["expected_purchases"],
        fitter.conditional_expected_number_of_purchases_up_to_time(
            horizon, summary["frequency"], summary["recency"], summary["T"]
        ),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        predictions.table["p_alive"],
        fitter.conditional_probability_alive(
            summary["frequency"], summary["recency"], summary["T"]
        ),
        rtol=1e-12,
    )
    repeat = summary["frequency"] > 0
    np.testing.assert_allclose(
        predictions.table.loc[repeat, "expected_spend"],
        spend.fitter.conditional_expected_average_profit(
            summary.loc[repeat, "frequency"], summary.loc[repeat, "monetary_value"]
        ),
    )
    p, q, v = spend.params_
    np.testing.assert_allclose(predictions.table.loc[~repeat, "expected_spend"], v * p / (q - 1))
    np.testing.assert_array_equal(predictions.table["customer_id"], summary["customer_id"])
    assert list(predictions.table.columns) == [
        "customer_id",
        "p_alive",
        "p_no_purchase",
        "expected_purchases",
        "purchases_low",
        "purchases_high",
        "expected_spend",
        "rclv",
        "rclv_low",
        "rclv_high",
        "rclv_param_low",
        "rclv_param_high",
        "decile",
    ]


def test_rclv_discounting_equals_lifetimes_clv_with_its_month(summary, purchases, spend):
    """lifetimes discounts at months of 4.345 weeks and a monthly rate; same core, same result."""
    edges = np.arange(1, 13) * 4.345
    discount = 1.01 ** -np.arange(1, 13)
    columns = [summary[c].to_numpy() for c in ("frequency", "recency", "T")]
    monthly = _btyd.PurchasePath(edges, *columns).per_period(purchases.fitter)
    ours = spend.fitter.conditional_expected_average_profit(
        summary["frequency"], summary["monetary_value"]
    ) * (discount @ monthly)
    indexed = summary.set_index("customer_id")
    theirs = _customer_lifetime_value(
        purchases.fitter,
        indexed["frequency"],
        indexed["recency"],
        indexed["T"],
        spend.fitter.conditional_expected_average_profit(
            indexed["frequency"], indexed["monetary_value"]
        ),
        time=12,
        discount_rate=0.01,
        freq="W",
    )
    np.testing.assert_allclose(ours, theirs.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("time_unit", ["D", "W", "M"])
def test_rclv_is_a_geometric_series_when_purchases_are_constant(time_unit):
    rate = 0.5  # purchases per model time unit
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "frequency": [2, 0],
            "recency": [3.0, 0.0],
            "T": [10.0, 10.0],
            "monetary_value": [40.0, 0.0],
        }
    )
    result = clv.predict(
        customers,
        purchases=linear_model(rate),
        gross_margin=0.25,
        discount_rate_annual=0.12,
        horizon_months=24,
        time_unit=time_unit,
        n_draws=0,
    )
    per_month = rate * clv.UNITS_PER_MONTH[time_unit]
    expected = 0.25 * 40.0 * per_month * geometric_sum(0.12, 24)  # spend: mean of repeat buyers
    np.testing.assert_allclose(result.table["rclv"], [expected, expected])
    np.testing.assert_allclose(result.table["expected_purchases"], [per_month * 24] * 2)
    assert result.table["rclv_low"].isna().all()


def test_interval_contains_the_estimate_and_is_deterministic(
    summary, purchases, spend, predictions
):
    table = predictions.table
    assert (table["rclv_param_low"] <= table["rclv"]).all()
    assert (table["rclv"] <= table["rclv_param_high"]).all()
    assert (table["rclv_param_high"] > table["rclv_param_low"]).all()
    # The predictive interval adds each customer's own randomness: wider for everyone, and
    # [0, 0] for a customer who most likely buys nothing (P(no purchase) >= 95%).
    width = table["rclv_high"] - table["rclv_low"]
    assert (width >= table["rclv_param_high"] - table["rclv_param_low"]).mean() > 0.95
    nothing = table["p_no_purchase"] > 0.99
    assert nothing.any() and (table.loc[nothing, "rclv_high"] == 0).all()
    # Realised draws average to the expected value (Monte Carlo error of 200 draws).
    assert predictions.rclv_draws.row_sums().mean() == pytest.approx(table["rclv"].sum(), rel=0.02)
    options = dict(
        purchases=purchases,
        spend=spend,
        gross_margin=0.3,
        discount_rate_annual=0.1,
        horizon_months=12,
        time_unit="W",
        n_draws=20,
    )
    first = clv.predict(summary.head(300), seed=1, **options)
    again = clv.predict(summary.head(300), seed=1, **options)
    other = clv.predict(summary.head(300), seed=2, **options)
    pd.testing.assert_frame_equal(first.table, again.table)
    np.testing.assert_array_equal(np.asarray(first.rclv_draws), np.asarray(again.rclv_draws))
    np.testing.assert_array_equal(
        np.asarray(first.rclv_parameter_draws), np.asarray(again.rclv_parameter_draws)
    )
    assert not np.allclose(first.table["rclv_param_low"], other.table["rclv_param_low"])
    np.testing.assert_allclose(first.table["rclv"], predictions.table["rclv"].head(300))


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "paretonbd"])
def test_draws_expansion_equals_exact_evaluation_per_draw(model, validation, calibration):
    """The quadratic path of the draws agrees with lifetimes evaluated at each drawn parameter."""
    fitted = validation.fitted[model]
    columns = [calibration[c].to_numpy() for c in ("frequency_cal", "recency_cal", "T_cal")]
    path = _btyd.PurchasePath(np.arange(1, 13) * WEEKS_PER_MONTH, *columns)
    # the rCLV's two sums: discounted purchases (10% a year) and all purchases of the horizon
    weights = np.vstack([1.1 ** -(np.arange(1, 13) / 12), np.ones(12)])
    expansion = _btyd.PathExpansion(
        path, weights, fitted.fitter, fitted.params_, fitted.log_params_covariance_
    )
    assert expansion.usable
    z, draws = _btyd.draw_log_params(
        fitted.params_, fitted.log_params_covariance_, 200, np.random.default_rng(3)
    )
    exact_sums = [
        path.weighted_sums(_btyd.with_params(fitted.fitter, d, fitted.params_.index), weights)
        for d in draws
    ]
    # the total equals the path's last cumulative value, the discounted sum its weighted months
    first = path.cumulative(_btyd.with_params(fitted.fitter, draws[0], fitted.params_.index))
    np.testing.assert_allclose(exact_sums[0][1], first[-1], rtol=1e-12)
    monthly = np.diff(first, axis=0, prepend=0.0)
    np.testing.assert_allclose(exact_sums[0][0], weights[0] @ monthly, rtol=1e-12)
    approximate = np.array([expansion.weighted_sums(row)[0] for row in z])
    exact = np.array([sums[0] for sums in exact_sums])
    assert np.median(np.abs(approximate - exact) / exact) < 1e-3
    assert np.max(np.abs(approximate - exact) / exact) < 0.1
    # The 5% and 95% bounds move by a small fraction of the interval's width: at most 6.5%
    # (Pareto/NBD, log-parameter SDs up to 0.53 on this small calibration set), typically under
    # 1%, against a Monte Carlo standard error of ~4.6% of the width for a 5% quantile of 200
    # normal draws.
    bounds = [np.quantile(values, [0.05, 0.95], axis=0) for values in (approximate, exact)]
    shift = np.abs(bounds[0] - bounds[1]) / (bounds[1][1] - bounds[1][0])
    assert np.median(shift) < 0.01
    assert np.max(shift) < 0.08


def test_draws_fall_back_to_exact_evaluation_when_the_expansion_fails(summary, purchases, spend):
    """With a covariance so wide that lifetimes' expectation overflows at an expansion point
    (b * exp(+-4)), each draw is evaluated exactly: draw 0 equals lifetimes at its parameters."""
    covariance = purchases.log_params_covariance_ * 0 + np.diag([0.01, 0.01, 0.01, 4.0])
    wide = dataclasses.replace(purchases, log_params_covariance_=covariance)
    columns = [summary[c].to_numpy() for c in ("frequency", "recency", "T")]
    path = _btyd.PurchasePath(np.arange(1, 13) * WEEKS_PER_MONTH, *columns)
    weights = np.ones((1, 12))
    assert not _btyd.PathExpansion(path, weights, wide.fitter, wide.params_, covariance).usable

    head = summary.head(200)
    result = clv.predict(
        head,
        purchases=wide,
        spend=spend,
        gross_margin=0.3,
        discount_rate_annual=0.1,
        horizon_months=12,
        time_unit="W",
        n_draws=5,
        seed=5,
    )
    assert result.settings["n_draws"] == 5 == result.n_draws
    rng = np.random.default_rng(5)
    _, purchase_draws = _btyd.draw_log_params(wide.params_, covariance, 5, rng)
    _, spend_draws = _btyd.draw_log_params(spend.params_, spend.log_params_covariance_, 5, rng)
    fitter = lifetimes.BetaGeoFitter()
    fitter.params_ = pd.Series(purchase_draws[0], index=wide.params_.index)
    cumulative = np.array(
        [
            fitter.conditional_expected_number_of_purchases_up_to_time(
                month * WEEKS_PER_MONTH, head["frequency"], head["recency"], head["T"]
            )
            for month in range(1, 13)
        ]
    )
    spend_fitter = lifetimes.GammaGammaFitter()
    spend_fitter.params_ = pd.Series(spend_draws[0], index=spend.params_.index)
    p, q, v = spend_draws[0]
    repeat = (head["frequency"] > 0) & (head["monetary_value"] > 0)
    expected_spend = np.where(
        repeat,
        spend_fitter.conditional_expected_average_profit(
            head["frequency"].clip(lower=1), head["monetary_value"].where(repeat, 1.0)
        ),
        v * p / (q - 1),
    )
    discount = (1.1 ** (1 / 12)) ** -np.arange(1, 13)
    expected = 0.3 * expected_spend * (discount @ np.diff(cumulative, axis=0, prepend=0.0))
    np.testing.assert_allclose(np.asarray(result.rclv_parameter_draws)[0], expected, rtol=1e-5)


def test_predictions_round_trip_through_parquet_with_the_same_equity(predictions, tmp_path):
    path = tmp_path / "predictions.parquet"
    predictions.to_parquet(path)
    reloaded = clv.Predictions.read_parquet(path)
    pd.testing.assert_frame_equal(reloaded.table, predictions.table)
    np.testing.assert_array_equal(
        np.asarray(reloaded.rclv_draws), np.asarray(predictions.rclv_draws)
    )
    np.testing.assert_array_equal(
        np.asarray(reloaded.rclv_parameter_draws), np.asarray(predictions.rclv_parameter_draws)
    )
    np.testing.assert_array_equal(reloaded.monthly_margin, predictions.monthly_margin)
    assert reloaded.settings == predictions.settings
    before = clv.customer_equity(predictions, new_customers_per_period=10)
    after = clv.customer_equity(reloaded, new_customers_per_period=10)
    assert after == before
    segments = predictions.table[["customer_id"]].assign(segment="all")
    pd.testing.assert_frame_equal(
        clv.clv_by(reloaded, by="segment", segments=segments),
        clv.clv_by(predictions, by="segment", segments=segments),
    )
    assert len(pd.read_parquet(path)) == len(predictions)  # plain parquet for any other tool
    predictions.table.to_parquet(tmp_path / "plain.parquet")
    with pytest.raises(ValueError, match="not written by Predictions.to_parquet"):
        clv.Predictions.read_parquet(tmp_path / "plain.parquet")


def test_predict_rejects_repeated_customer_ids():
    with pytest.raises(ValueError, match="unique"):
        clv.predict(
            pd.DataFrame(
                {
                    "customer_id": ["a", "a"],
                    "frequency": [0, 0],
                    "recency": [0.0, 0.0],
                    "T": [1.0, 2.0],
                }
            ),
            purchases=linear_model(1.0),
            gross_margin=0.5,
            discount_rate_annual=0.0,
            horizon_months=1,
            time_unit="M",
        )


def test_deciles_rank_rclv_with_ties_together(predictions):
    assert predictions.table["decile"].between(1, 10).all()
    top = predictions.table.loc[predictions.table["decile"] == 1, "rclv"]
    assert top.min() >= predictions.table.loc[predictions.table["decile"] == 2, "rclv"].max()
    same_value = predictions.table.groupby("rclv")["decile"].nunique()
    assert (same_value == 1).all()


def test_expected_purchases_over_any_horizon(summary, purchases):
    ours = clv.expected_purchases(purchases, summary, periods=52)
    theirs = purchases.fitter.conditional_expected_number_of_purchases_up_to_time(
        52, summary["frequency"], summary["recency"], summary["T"]
    )
    np.testing.assert_allclose(ours.to_numpy(), theirs, rtol=1e-12)
    assert ours.index.name == "customer_id" and ours.name == "expected_purchases"


# ---------------------------------------------------------------------------------------------
# customer equity and business cuts


def test_customer_equity_sums_rclv_with_interval(predictions):
    equity = clv.customer_equity(predictions)
    assert equity.value == pytest.approx(predictions.table["rclv"].sum())
    assert equity.low < equity.value < equity.high
    assert equity.new_customers == 0
    rank = predictions.table["rclv"].rank(method="min", ascending=False)
    top = predictions.table.loc[rank - 1 < len(predictions.table) / 10, "rclv"]
    assert equity.top_decile_share == pytest.approx(top.sum() / predictions.table["rclv"].sum())
    with_new = clv.customer_equity(predictions, new_customers_per_period=10, new_customer_clv=50.0)
    added = 10 * 50.0 * geometric_sum(0.1, 12)
    assert with_new.value == pytest.approx(equity.value + added)
    assert with_new.low == pytest.approx(equity.low + added)
    model_based = clv.customer_equity(predictions, new_customers_per_period=10)
    assert model_based.new_low < model_based.new_customers < model_based.new_high
    frame = model_based.to_frame()
    assert frame.loc["total", "value"] == pytest.approx(model_based.value)


def test_clv_by_segment_sums_and_intervals(predictions):
    segments = pd.DataFrame(
        {
            "customer_id": predictions.table["customer_id"],
            "segment": np.where(predictions.table["p_alive"] > 0.5, "active", "lapsing"),
        }
    )
    table = clv.clv_by(predictions, by="segment", segments=segments)
    expected = predictions.table.groupby(segments["segment"].to_numpy())["rclv"].agg(
        ["size", "mean", "median", "sum"]
    )
    np.testing.assert_array_equal(table["segment"], expected.index)
    np.testing.assert_array_equal(table["n_customers"], expected["size"])
    np.testing.assert_allclose(table["rclv_sum"], expected["sum"])
    np.testing.assert_allclose(table["rclv_median"], expected["median"])
    assert table["share_of_equity"].sum() == pytest.approx(1.0)
    for stat in ("rclv_mean", "rclv_median", "rclv_sum"):
        assert (table[f"{stat}_low"] <= table[stat]).all()
        assert (table[stat] <= table[f"{stat}_high"]).all()
    # The pandas way: merge the per-customer table with the segments, cut by any column.
    merged = predictions.table.merge(segments, on="customer_id")
    pd.testing.assert_frame_equal(clv.clv_by(predictions, by="segment", segments=merged), table)
    equity = clv.customer_equity(predictions)
    per_segment = [
        clv.customer_equity(predictions.select(members["customer_id"]))
        for _, members in merged.groupby("segment")
    ]
    assert sum(part.value for part in per_segment) == pytest.approx(equity.value)
    np.testing.assert_allclose([part.value for part in per_segment], table["rclv_sum"])
    np.testing.assert_allclose(
        [(part.low, part.high) for part in per_segment],
        table[["rclv_sum_low", "rclv_sum_high"]].to_numpy(),
    )
    # Parts and whole come from the same joint draws: the segments' totals add up to the
    # equity's draw by draw, so the whole's interval is that of the parts' sum.
    members = [segments["segment"].eq(name).to_numpy() for name in table["segment"]]
    draws = np.asarray(predictions.rclv_draws)
    parts = sum(draws[:, m].sum(axis=1, dtype=float) for m in members)
    np.testing.assert_allclose(parts, draws.sum(axis=1, dtype=float), rtol=1e-9)
    low, high = np.quantile(parts, [0.05, 0.95])
    assert (equity.low, equity.high) == pytest.approx((low, high))
    parameter_only = clv.clv_by(
        predictions, by="segment", segments=segments, uncertainty="parameter"
    )
    np.testing.assert_allclose(parameter_only["rclv_sum"], table["rclv_sum"])
    wider = table["rclv_sum_high"] - table["rclv_sum_low"]
    narrower = parameter_only["rclv_sum_high"] - parameter_only["rclv_sum_low"]
    assert (wider > narrower).all()
    with pytest.raises(TypeError, match="takes the Predictions"):
        clv.clv_by(merged, by="segment")


def test_new_customer_value_ceiling_verdict_and_payback_by_hand():
    # Three customers, too few for a channel fit: every channel uses the pooled stand-in of
    # one purchase a month, and the spend model's mean (100) for a repeat purchase.
    summary = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "frequency": [1, 1, 1, 0],
            "recency": [2.0, 2.0, 2.0, 0.0],
            "T": [8.0, 8.0, 8.0, 8.0],
            "monetary_value": [100.0, 100.0, 100.0, 0.0],
        }
    )
    first_values = pd.DataFrame(
        {"customer_id": ["a", "b", "c", "d"], "first_value": [50.0, 70.0, 60.0, 40.0]}
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "acquisition_channel": ["search", "search", None, "tv"],
            "acquisition_cost": [100.0, 120.0, np.nan, 2000.0],
        }
    )
    inputs = clv.channel_inputs(summary, first_values, customers)
    table = clv.new_customer_value(
        inputs,
        pooled=linear_model(1.0 / WEEKS_PER_MONTH),
        spend=100.0,
        gross_margin=0.4,
        discount_rate_annual=0.0,
        horizon_months=24,
        time_unit="W",
        target_ltv_cac=3.0,
        unpaid_channels=("search",),
    ).set_index("acquisition_channel")
    search = table.loc["search"]
    assert search["model"] == "pooled" and search["customers"] == 2
    assert search["first_purchase_margin"] == pytest.approx(0.4 * 60)
    assert search["expected_repeat_purchases"] == pytest.approx(24)
    assert search["future_margin"] == pytest.approx(0.4 * 100 * 24)  # 40 a month, no discount
    assert search["new_customer_value"] == pytest.approx(24 + 960)
    assert search["first_year_margin_model"] == pytest.approx(24 + 40 * 12)
    assert search["cac_ceiling"] == pytest.approx(984 / 3)
    assert search["mean_acquisition_cost"] == pytest.approx(110.0)
    assert search["payback_months"] == pytest.approx((110 - 24) / 40)
    # valued and judged, but not bought: listed as unpaid
    assert search["verdict"] == "within the ceiling" and not search["paid"]
    assert search["not_bought_because"] == "unpaid channel"
    tv = table.loc["tv"]  # 2,000 a customer for 0.4 * 40 + 960 = 976
    assert tv["verdict"] == "loses money" and tv["paid"] and np.isinf(tv["payback_months"])
    assert pd.isna(tv["not_bought_because"])
    unknown = table.loc["unknown"]
    assert pd.isna(unknown["verdict"]) and not unknown["paid"]
    assert unknown["not_bought_because"] == "no cost recorded"
    assert np.isnan(unknown["payback_months"])
    # what the channels' rows read: totals by hand, and the patterns a channel fit weighs
    channels = inputs.channels.set_index("acquisition_channel")
    assert channels.loc["search", ["customers", "repeat_buyers"]].tolist() == [2, 2]
    assert channels.loc["search", "first_value"] == pytest.approx(60.0)
    assert channels.loc["tv", "repeat_buyers"] == 0 and np.isnan(channels.loc["tv", "repeat_spend"])
    assert np.isnan(channels.loc["unknown", "mean_acquisition_cost"])
    assert inputs.patterns.to_dict("records")[0] == {
        "acquisition_channel": "search",
        "frequency": 1,
        "recency": 2.0,
        "T": 8.0,
        "customers": 2,
    }
    # the same inputs aggregated in an engine (DuckDB here; Spark in tests/test_spark.py)
    engine_summary = ibis.memtable(
        summary.assign(
            repeat_value=summary["monetary_value"] * summary["frequency"],
            frequency=summary["frequency"].astype(float),
        ).drop(columns="monetary_value")
    )
    in_engine = clv.channel_inputs_in_engine(
        engine_summary, ibis.memtable(first_values), ibis.memtable(clv.channel_table(customers))
    )
    pd.testing.assert_frame_equal(in_engine.channels, inputs.channels, check_dtype=False)
    pd.testing.assert_frame_equal(in_engine.patterns, inputs.patterns, check_dtype=False)


def test_new_customer_verdicts_and_payback():
    from ccnb.clv.new_customers import _payback_months, _verdict

    monthly = np.full(12, 10.0)
    assert _payback_months(25.0, monthly, 20.0) == 0.0  # the first purchase pays it back
    assert _payback_months(25.0, monthly, 40.0) == pytest.approx(1.5)  # 25, 35, 45
    assert np.isinf(_payback_months(25.0, monthly, 1000.0))
    assert np.isnan(_payback_months(25.0, monthly, np.nan))

    assert _verdict(90.0, 100.0, 3.0) == "loses money"
    assert _verdict(200.0, 100.0, 3.0) == "below target"
    assert _verdict(300.0, 100.0, 3.0) == "within the ceiling"
    assert _verdict(300.0, np.nan, 3.0) is None and _verdict(300.0, 0.0, 3.0) is None


def test_iso_value_grid_equals_direct_lifetimes_sum(purchases):
    table = clv.iso_value(
        purchases,
        30.0,
        max_frequency=4,
        max_recency=20,
        T=20,
        recency_step=5,
        gross_margin=0.3,
        discount_rate_annual=0.1,
        horizon_months=12,
        time_unit="W",
    )
    assert list(table.index) == [0, 5, 10, 15, 20] and list(table.columns) == [0, 1, 2, 3, 4]
    assert table.loc[5:, 0].isna().all() and table.notna().sum().sum() == 21
    edges = np.arange(0, 13) * WEEKS_PER_MONTH
    path = purchases.fitter.conditional_expected_number_of_purchases_up_to_time(
        edges, 3, 15.0, 20.0
    )
    factors = (1.1 ** (1 / 12)) ** -np.arange(1, 13)
    assert table.loc[15, 3] == pytest.approx(0.3 * 30.0 * factors @ np.diff(path))
    assert table.loc[20, 4] > table.loc[5, 4]  # recent buyers are worth more


def test_activation_table_is_sorted_and_complete(predictions):
    segments = pd.DataFrame(
        {"customer_id": predictions.table["customer_id"].head(100), "segment": "High-Value"}
    )
    table = clv.activation_table(predictions, segments)
    assert list(table.columns) == [
        "customer_id",
        "segment",
        "p_alive",
        "p_no_purchase",
        "expected_purchases",
        "expected_spend",
        "rclv",
        "rclv_low",
        "rclv_high",
        "decile",
    ]
    assert len(table) == len(predictions.table)
    assert table["rclv"].is_monotonic_decreasing
    assert (table["segment"] == "High-Value").sum() == 100
    assert table.attrs == {}
    # from the per-customer table alone (what Spark's executors give back): the same rows
    pd.testing.assert_frame_equal(clv.activation_table(predictions.table, segments), table)


def test_lifetimes_filters_do_not_leak():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        before = list(warnings.filters)
        # spend not tied to frequency, so the Gamma-Gamma optimum is interior
        spend = 5.0 + (np.arange(40) * 7) % 40
        clv.fit_spend(pd.DataFrame({"frequency": np.arange(1, 41.0), "monetary_value": spend}))
        assert list(warnings.filters) == before


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "paretonbd"])
def test_probability_of_a_purchase_matches_a_simulation_of_the_posterior(validation, model):
    """P(a purchase in t | history) against a seeded draw of each customer's posterior.

    Given alive at T, lambda ~ Gamma(r + x, alpha + T); for Pareto/NBD also mu ~ Gamma(s,
    beta + T) and a purchase in (T, T + t] happens before death with probability
    lambda / (lambda + mu) * (1 - exp(-(lambda + mu) t)); for the (M)BG models a customer
    alive at T cannot drop out before their next purchase, so it is 1 - exp(-lambda t).
    """
    fitted = validation.fitted[model]
    params = fitted.params_
    histories = np.array([[0, 0, 30], [2, 20, 38], [7, 35, 39], [1, 2, 39]], dtype=float)
    t = 39.0
    expected = clv.probability_of_purchase(
        fitted, histories[:, 0], histories[:, 1], histories[:, 2], np.full(4, t)
    )
    rng = np.random.default_rng(5)
    n = 400_000
    alive = clv._btyd.probability_alive(fitted.fitter, *histories.T)
    for i, (x, _, age) in enumerate(histories):
        lam = rng.gamma(params["r"] + x, 1 / (params["alpha"] + age), n)
        if model == "paretonbd":
            mu = rng.gamma(params["s"], 1 / (params["beta"] + age), n)
            buys = lam / (lam + mu) * -np.expm1(-(lam + mu) * t)
        else:
            buys = -np.expm1(-lam * t)
        simulated = alive[i] * buys.mean()
        assert expected[i] == pytest.approx(simulated, abs=3e-3), (model, i)


def test_purchase_reliability_bins_every_customer(calibration, validation):
    fitted = validation.fitted[validation.chosen]
    table, scores = clv.purchase_reliability(calibration, fitted)
    assert table["customers"].sum() == len(calibration)
    bought = (calibration["frequency_holdout"] > 0).mean()
    observed = (table["observed"] * table["customers"]).sum() / table["customers"].sum()
    assert observed == pytest.approx(bought)
    assert (table["predicted"] >= table["low"]).all() and (
        table["predicted"] <= table["high"]
    ).all()
    assert scores["bought_share"] == pytest.approx(bought)
    # better than always saying the base rate, worse than perfect
    assert 0 < scores["brier"] < scores["base_rate_brier"] == pytest.approx(bought * (1 - bought))


def test_draws_in_files_give_the_same_answers_as_draws_in_memory(
    summary, purchases, spend, tmp_path
):
    """predict(draws_folder=...) writes the draws as they are made and every reader takes a
    few draws or a block of customers at a time (small blocks here, to cross their edges);
    the table, the draws and every cut equal those of the draws held in memory."""
    options = {
        "purchases": purchases,
        "spend": spend,
        "gross_margin": 0.3,
        "discount_rate_annual": 0.1,
        "horizon_months": 12,
        "time_unit": "W",
        "seed": 7,
    }
    in_memory = clv.predict(summary, **options)
    on_disk = clv.predict(summary, draws_folder=tmp_path / "draws", **options)
    assert in_memory.rclv_draws.in_memory and not on_disk.rclv_draws.in_memory
    assert sorted(p.suffix for p in (tmp_path / "draws").iterdir()) == [".float32"] * 2
    pd.testing.assert_frame_equal(on_disk.table, in_memory.table)
    for name in ("rclv_draws", "rclv_parameter_draws"):
        np.testing.assert_array_equal(
            np.asarray(getattr(on_disk, name)), np.asarray(getattr(in_memory, name))
        )
        batches = list(getattr(on_disk, name).row_batches(size=7))
        assert len(batches) == -(-in_memory.n_draws // 7)
        np.testing.assert_array_equal(np.vstack(batches), np.asarray(getattr(in_memory, name)))
    segments = summary.reset_index()[["customer_id"]].assign(
        segment=lambda frame: np.arange(len(frame)) % 3
    )
    for uncertainty in ("predictive", "parameter"):
        assert clv.customer_equity(on_disk, uncertainty=uncertainty) == clv.customer_equity(
            in_memory, uncertainty=uncertainty
        )
        pd.testing.assert_frame_equal(
            clv.clv_by(on_disk, by="segment", segments=segments, uncertainty=uncertainty),
            clv.clv_by(in_memory, by="segment", segments=segments, uncertainty=uncertainty),
        )
    some = in_memory.table["customer_id"].iloc[::5]
    np.testing.assert_array_equal(
        np.asarray(on_disk.select(some).rclv_draws), np.asarray(in_memory.select(some).rclv_draws)
    )
    repriced, reference = (
        clv.reprice(on_disk, gross_margin=0.45),
        clv.reprice(in_memory, gross_margin=0.45),
    )
    assert not repriced.rclv_draws.in_memory  # a scale on the same file
    np.testing.assert_array_equal(np.asarray(repriced.rclv_draws), np.asarray(reference.rclv_draws))
    path = tmp_path / "predictions.parquet"
    on_disk.to_parquet(path, block=250)
    import pyarrow.parquet as pq

    assert pq.ParquetFile(path).num_row_groups == -(-len(summary) // 250)
    reloaded = clv.Predictions.read_parquet(path, draws_folder=tmp_path / "reloaded")
    assert not reloaded.rclv_draws.in_memory
    pd.testing.assert_frame_equal(reloaded.table, in_memory.table)
    np.testing.assert_array_equal(
        np.asarray(reloaded.rclv_parameter_draws), np.asarray(in_memory.rclv_parameter_draws)
    )
    np.testing.assert_array_equal(reloaded.monthly_margin, in_memory.monthly_margin)


def _pareto_fitter(r, alpha, s, beta):
    """A lifetimes Pareto/NBD fitter holding given parameters (no fit)."""
    fitter = lifetimes.ParetoNBDFitter()
    fitter.params_ = pd.Series({"r": r, "alpha": alpha, "s": s, "beta": beta})
    return fitter


@pytest.mark.parametrize("s", [0.6094130984488562, 1.7])
def test_pareto_customer_who_bought_on_their_last_day_gets_a_finite_forecast(s):
    """The big client's Pareto/NBD (its own parameters) gave NaN for 171 customers: recency = T
    and 129 to 376 purchases. There P(alive) is exactly 1 and the expectation is the one
    given alive; where lifetimes is finite the two agree."""
    fitter = _pareto_fitter(0.7312899961228451, 4.090434719779113, s, 39.484922088251295)
    frequency = np.array([5.0, 100.0, 153.0, 330.0, 330.0])
    age = np.array([206.0, 206.0, 206.857143, 206.142857, 206.142857])
    recency = np.array([206.0, 206.0, 206.857143, 206.142857, 200.0])
    t = np.array([[13.0], [52.142857]])
    with np.errstate(all="ignore"):
        theirs_alive = fitter.conditional_probability_alive(frequency, recency, age)
        theirs = fitter.conditional_expected_number_of_purchases_up_to_time(
            t, frequency, recency, age
        )
    broken = ~np.isfinite(theirs_alive)
    assert broken[2:4].all() and not broken[[0, 1, 4]].any()  # the failure this repairs
    alive = _btyd.probability_alive(fitter, frequency, recency, age)
    expected = _btyd.conditional_expected_purchases(fitter, t, frequency, recency, age)
    assert np.all(np.isfinite(alive)) and np.all(np.isfinite(expected))
    np.testing.assert_allclose(alive[~broken], theirs_alive[~broken], rtol=1e-12)
    np.testing.assert_allclose(alive[broken], 1.0)
    np.testing.assert_allclose(expected[:, ~broken], theirs[:, ~broken], rtol=1e-12)
    # where lifetimes is finite at recency = T, the formula given alive reproduces it
    given_alive = _btyd._pareto_given_alive(fitter, t, frequency, age)
    np.testing.assert_allclose(given_alive[:, :2] * theirs_alive[:2], theirs[:, :2], rtol=1e-9)
    np.testing.assert_allclose(expected[:, broken], given_alive[:, broken], rtol=1e-12)
    # more purchases at the same age, more expected: the repaired values sit in line
    assert expected[1, 1] < expected[1, 2] < expected[1, 3]


def test_pareto_given_alive_at_s_equal_to_one_is_the_limit():
    t, frequency, age = np.array([10.0, 52.0]), np.array([3.0, 3.0]), np.array([50.0, 50.0])
    at_one = _btyd._pareto_given_alive(_pareto_fitter(0.7, 4.0, 1.0, 40.0), t, frequency, age)
    near = _btyd._pareto_given_alive(_pareto_fitter(0.7, 4.0, 1.0 + 1e-7, 40.0), t, frequency, age)
    np.testing.assert_allclose(at_one, near, rtol=1e-6)
