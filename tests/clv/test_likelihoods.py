"""Tests for ccnb._likelihoods: values against lifetimes' own ``_negative_log_likelihood``,
derivatives against autograd (BG/NBD, MBG/NBD, Gamma-Gamma, whose lifetimes likelihoods
autograd can trace) or central differences of lifetimes' function (Pareto/NBD).
"""

import warnings

import autograd
import lifetimes
import lifetimes.datasets
import numpy as np
import pandas as pd
import pytest

from ccnb.clv import _btyd, _likelihoods


def quietly(function, *args):
    """Call a lifetimes likelihood (it switches FutureWarning off and overflows on purpose)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return function(*args)


@pytest.fixture(scope="module")
def cdnow():
    """CDNOW sample (2357 customers, weeks), lifetimes' scaled time (largest T = 1)."""
    summary = lifetimes.datasets.load_cdnow_summary_data_with_monetary_value()
    scale = 1 / summary["T"].max()
    return (
        summary["frequency"].to_numpy(float),
        summary["recency"].to_numpy(float) * scale,
        summary["T"].to_numpy(float) * scale,
        summary["monetary_value"].to_numpy(float),
    )


@pytest.fixture(scope="module")
def synthetic():
    """Customers without repeat purchases, very frequent buyers and long histories (scaled)."""
    rng = np.random.default_rng(7)
    size = 400
    age = rng.uniform(0.01, 1.0, size)
    frequency = rng.poisson(rng.gamma(0.6, 8.0, size)).astype(float)
    frequency[:5] = [0, 0, 250, 600, 1]
    recency = np.where(frequency > 0, age * rng.uniform(0, 1, size), 0.0)
    recency[2:4] = age[2:4]  # last purchase on the last day: no death-time interval
    return frequency, recency, age, rng.integers(1, 4, size).astype(float)


def autograd_derivatives(function, theta, *args):
    """Gradient and Hessian of lifetimes' negative log-likelihood by autograd."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gradient = autograd.grad(function)(theta, *args)
        hessian = autograd.hessian(function)(theta, *args)
    return np.asarray(gradient), np.asarray(hessian)


def relative(ours, theirs):
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


BETA_GEO = [
    (lifetimes.BetaGeoFitter, False, np.log([0.24, 0.11, 0.79, 2.4])),
    (lifetimes.ModifiedBetaGeoFitter, True, np.log([0.5, 0.05, 0.3, 1.7])),
]


@pytest.mark.parametrize(("fitter", "modified", "theta"), BETA_GEO)
@pytest.mark.parametrize("data", ["cdnow", "synthetic"])
def test_beta_geo_equals_lifetimes_with_autograd_derivatives(
    fitter, modified, theta, data, request
):
    frequency, recency, age, fourth = request.getfixturevalue(data)
    weights = fourth if data == "synthetic" else np.ones(len(frequency))
    likelihood = _likelihoods.BetaGeo(frequency, recency, age, weights, modified=modified)
    value, gradient, hessian = likelihood.evaluate(theta, order=2)
    args = (frequency, recency, age, weights, 0.0)
    # lifetimes returns the negative mean per customer
    theirs = -quietly(fitter._negative_log_likelihood, theta, *args) * weights.sum()
    assert value == pytest.approx(theirs, rel=1e-12)
    their_gradient, their_hessian = autograd_derivatives(
        fitter._negative_log_likelihood, theta, *args
    )
    assert relative(gradient, -their_gradient * weights.sum()) < 1e-10
    assert relative(hessian, -their_hessian * weights.sum()) < 1e-10


def test_gamma_gamma_equals_lifetimes_with_autograd_derivatives(cdnow):
    frequency, _, _, spend = cdnow
    used = frequency > 0
    frequency, spend = frequency[used], spend[used]
    weights = np.arange(len(frequency)) % 3 + 1.0
    theta = np.log([6.25, 3.74, 15.44])
    likelihood = _likelihoods.GammaGamma(frequency, spend, weights)
    value, gradient, hessian = likelihood.evaluate(theta, order=2)
    function = lifetimes.GammaGammaFitter._negative_log_likelihood
    args = (frequency, spend, weights, 0.0)
    assert value == pytest.approx(-quietly(function, theta, *args) * weights.sum(), rel=1e-12)
    their_gradient, their_hessian = autograd_derivatives(function, theta, *args)
    assert relative(gradient, -their_gradient * weights.sum()) < 1e-10
    assert relative(hessian, -their_hessian * weights.sum()) < 1e-10


def pareto_total(theta, frequency, recency, age, weights):
    """lifetimes' Pareto/NBD log-likelihood summed over customers (it takes the parameters)."""
    function = lifetimes.ParetoNBDFitter._negative_log_likelihood
    return -quietly(function, np.exp(theta), frequency, recency, age, weights, 0.0) * np.mean(
        weights
    )


def central_derivatives(function, theta, step=1e-4):
    """Gradient and Hessian of ``function`` by central differences."""
    k = len(theta)
    unit = np.eye(k) * step
    gradient = np.array([(function(theta + e) - function(theta - e)) / (2 * step) for e in unit])
    hessian = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            hessian[i, j] = (
                function(theta + unit[i] + unit[j])
                - function(theta + unit[i] - unit[j])
                - function(theta - unit[i] + unit[j])
                + function(theta - unit[i] - unit[j])
            ) / (4 * step**2)
    return gradient, hessian


PARETO = [
    np.log([0.55, 0.1, 0.6, 0.4]),  # alpha < beta
    np.log([0.55, 0.1, 0.6, 0.01]),  # alpha > beta
    np.log([2.0, 0.5, 0.3, 3.0]),
    np.log([0.05, 0.002, 0.06, 2.0]),  # alpha / beta = 1e-3
]


@pytest.mark.parametrize("theta", PARETO)
@pytest.mark.parametrize("data", ["cdnow", "synthetic"])
def test_pareto_nbd_equals_lifetimes_with_finite_difference_derivatives(theta, data, request):
    frequency, recency, age, fourth = request.getfixturevalue(data)
    weights = fourth if data == "synthetic" else np.ones(len(frequency))
    likelihood = _likelihoods.ParetoNBD(frequency, recency, age, weights)
    value, gradient, hessian = likelihood.evaluate(theta, order=2)
    data_args = (frequency, recency, age, weights)
    theirs = pareto_total(theta, *data_args)
    if np.isfinite(theirs):
        assert value == pytest.approx(theirs, rel=1e-10)
    else:  # lifetimes' hypergeometric form overflows for x = 600: compare without that row
        kept = frequency < 500
        rest = _likelihoods.ParetoNBD(*(column[kept] for column in data_args))
        reference = pareto_total(theta, *(column[kept] for column in data_args))
        assert rest.evaluate(theta, order=0)[0] == pytest.approx(reference, rel=1e-10)
        return
    their_gradient, their_hessian = central_derivatives(
        lambda t: pareto_total(t, *data_args), theta
    )
    assert relative(gradient, their_gradient) < 1e-7
    assert relative(hessian, their_hessian) < 1e-5


def test_pareto_nbd_coarse_rule_is_close(cdnow):
    frequency, recency, age, _ = cdnow
    weights = np.ones(len(frequency))
    theta = PARETO[0]
    fine = _likelihoods.ParetoNBD(frequency, recency, age, weights).evaluate(theta, order=0)
    coarse = _likelihoods.ParetoNBD(frequency, recency, age, weights, coarse=True)
    assert coarse.evaluate(theta, order=0)[0] == pytest.approx(fine[0], rel=1e-8)


@pytest.mark.parametrize("theta", PARETO[:2])
def test_pareto_nbd_in_blocks_of_pairs_is_the_same(theta, cdnow):
    """The tail integrals computed a few distinct (x, t) pairs at a time, as a big calibration
    period's are (`PAIR_BLOCK`), give the same value, gradient and Hessian as all at once."""
    frequency, recency, age, _ = cdnow
    weights = np.ones(len(frequency))
    whole = _likelihoods.ParetoNBD(frequency, recency, age, weights)
    assert len(whole.pair_frequency) < _likelihoods.PAIR_BLOCK  # one block
    blocks = _likelihoods.ParetoNBD(frequency, recency, age, weights, pair_block=97)
    assert len(blocks.pair_frequency) > 9 * 97  # ten blocks, the last one short
    for ours, reference in zip(
        blocks.evaluate(theta, order=2), whole.evaluate(theta, order=2), strict=True
    ):
        np.testing.assert_allclose(ours, reference, rtol=1e-13, atol=0)


def test_pareto_nbd_is_finite_on_long_histories_in_weeks():
    """lifetimes' form fails on 260-week histories in weeks; ccnb's equals its scaled value.

    Measuring time in units 1/scale times longer multiplies each customer's likelihood by
    scale^x (a density of x purchase times), and lifetimes' function is finite in scaled time.
    """
    rng = np.random.default_rng(3)
    age = rng.uniform(1, 260, 300)
    frequency = rng.poisson(6, 300).astype(float)
    recency = np.where(frequency > 0, age * rng.uniform(0, 1, 300), 0.0)
    # weekly buyers for five years who bought on the last day, as in the benchmark's data
    frequency[:3], recency[:3], age[:3] = [133, 301, 119], [257.9, 250.4, 252.7], 260.7
    age[:3] = recency[:3]
    weights = np.ones(300)
    params = np.array([1.07, 34.4, 1.25, 124.9])  # r, alpha (weeks), s, beta (weeks)
    in_weeks = pareto_total(np.log(params), frequency, recency, age, weights)
    assert not np.isfinite(in_weeks)  # lifetimes' known failure (overflow, then nan)
    ours = _likelihoods.ParetoNBD(frequency, recency, age, weights)
    value = ours.evaluate(np.log(params), order=0)[0]
    scale = 1 / age.max()
    scaled_params = params * np.array([1, scale, 1, scale])
    scaled = pareto_total(np.log(scaled_params), frequency, recency * scale, age * scale, weights)
    assert value == pytest.approx(scaled + np.log(scale) * frequency.sum(), rel=1e-10)


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "paretonbd"])
def test_weights_equal_repeated_rows(model, synthetic):
    frequency, recency, age, weights = synthetic
    build = _btyd.MODEL_SPECS[model].likelihood
    theta = np.log([0.6, 0.2, 0.7, 0.9])
    weighted = build(frequency, recency, age, weights).evaluate(theta, order=2)
    counts = weights.astype(int)
    repeated = build(
        *(np.repeat(c, counts) for c in (frequency, recency, age)), np.ones(counts.sum())
    )
    expanded = repeated.evaluate(theta, order=2)
    for ours, theirs in zip(weighted, expanded, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10)


def test_condense_equals_numpy_unique_rows():
    rng = np.random.default_rng(0)
    columns = {
        "frequency": rng.integers(0, 5, 2000).astype(float),
        "recency": rng.integers(0, 7, 2000) / 7,
        "T": rng.integers(3, 9, 2000) / 7,
    }
    unique, counts, inverse = _btyd.condense(columns)
    stacked = np.column_stack(list(columns.values()))
    expected, expected_inverse, expected_counts = np.unique(
        stacked, axis=0, return_inverse=True, return_counts=True
    )
    pd.testing.assert_frame_equal(unique, pd.DataFrame(expected, columns=list(columns)))
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_array_equal(inverse, expected_inverse.reshape(-1))
