"""Predictive distributions per customer: future purchases and their value, own randomness included.

A model's expected purchases are a mean; a single customer buys a whole number of times, may
already have left, and spends what they spend. The predictive distribution draws all of it:
for each parameter draw (parameter uncertainty), each customer's latent state from its
posterior given the history (alive or not, purchase rate, dropout, spend rate), then the
purchases and spend over the window. Definitions in docs/methodology.md, "Predictive
intervals".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd

from ccnb.clv import _btyd
from ccnb.clv.draws import DrawMatrix
from ccnb.clv.fitting import _btyd_inputs, _customer_ids, _require_columns
from ccnb.clv.results import FittedModel, PredictiveDistribution

__all__ = [
    "future_purchases",
    "future_spend",
    "predictive_distribution",
    "probability_of_purchase",
]

#: seed offset of the own-randomness stream: the parameter draws of a seed stay those of
#: :func:`ccnb.clv.predict` without it, so parameter-only and predictive intervals share them
OWN_RANDOMNESS_STREAM = 1


def probability_of_purchase(fitted: FittedModel, frequency, recency, age, duration) -> np.ndarray:
    """P(at least one purchase in the next ``duration``) per customer, given the history.

    BG/NBD and MBG/NBD: a customer still alive at ``T`` makes no purchase in ``(T, T + t]``
    with probability ``exp(-lambda t)``, and given the history ``lambda`` is
    Gamma(r + x, alpha + T), so ``P(none) = 1 - P(alive) + P(alive) ((alpha + T) /
    (alpha + T + t)) ** (r + x)``. Pareto/NBD: lifetimes' exact
    ``conditional_probability_of_n_purchases_up_to_time(0, ...)``.

    Parameters
    ----------
    fitted : FittedModel
        A purchase model.
    frequency, recency, age, duration : array-like
        Repeat purchases ``x``, recency ``t_x``, age ``T`` and the window ``t``, in the
        model's time unit.

    Returns
    -------
    numpy.ndarray
        The probability of a purchase in the window, per customer.
    """
    columns = {
        name: np.asarray(values, dtype=float)
        for name, values in zip(
            ("x", "t_x", "T", "t"), (frequency, recency, age, duration), strict=True
        )
    }
    rows, _, inverse = _btyd.condense(columns)  # each distinct history once
    x, t_x, age, t = (rows[name].to_numpy() for name in ("x", "t_x", "T", "t"))
    if fitted.name == "paretonbd":
        with np.errstate(all="ignore"):
            none = np.array(
                [
                    fitted.fitter.conditional_probability_of_n_purchases_up_to_time(
                        0, window, xi, ri, ti
                    )
                    for window, xi, ri, ti in zip(t, x, t_x, age, strict=True)
                ],
                dtype=float,
            )
        return (1 - none)[inverse]
    alive = _btyd.probability_alive(fitted.fitter, x, t_x, age)
    r, alpha = (float(fitted.fitter.params_[name]) for name in ("r", "alpha"))
    none_if_alive = ((alpha + age) / (alpha + age + t)) ** (r + x)
    return (alive * (1 - none_if_alive))[inverse]


def future_purchases(
    model: str,
    params: Mapping[str, float],
    *,
    p_alive: np.ndarray,
    frequency: np.ndarray,
    age: np.ndarray,
    duration: float | np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """One draw of each customer's repeat purchases in ``(T, T + duration]`` given the history.

    Given the parameters, the customer is alive at ``T`` with probability ``p_alive``. Given
    alive, the purchase rate is Gamma(r + x, alpha + T) and, for BG/NBD, the dropout
    probability Beta(a, b + x) (MBG/NBD: Beta(a, b + x + 1)); purchases then follow a Poisson
    process and the customer leaves after each one with that probability, so the count is
    ``min(Poisson(lambda t), Geometric(p))``. Pareto/NBD: the dropout rate is
    Gamma(s, beta + T), the remaining lifetime exponential and the count
    ``Poisson(lambda min(lifetime, t))``.

    Parameters
    ----------
    model : {"bgnbd", "mbgnbd", "paretonbd"}
        The purchase model.
    params : mapping
        Its parameters (``r``, ``alpha``, ``a``, ``b`` or ``r``, ``alpha``, ``s``, ``beta``).
    p_alive : numpy.ndarray
        P(alive at T) per customer under ``params``.
    frequency, age : numpy.ndarray
        Repeat purchases ``x`` and age ``T`` per customer, in the model's time unit.
    duration : float or numpy.ndarray
        Window length ``t`` in the model's time unit.
    rng : numpy.random.Generator
        Source of the draws.

    Returns
    -------
    numpy.ndarray
        Purchases per customer (int64).
    """
    if model not in _btyd.PURCHASE_MODELS:
        raise ValueError(f"model must be one of {_btyd.PURCHASE_MODELS}, got {model!r}")
    n = len(frequency)
    duration = np.broadcast_to(np.asarray(duration, dtype=float), (n,))
    purchases = np.zeros(n, dtype=np.int64)
    alive = np.flatnonzero(rng.random(n) < p_alive)
    x, age_alive, window = frequency[alive], age[alive], duration[alive]
    rate = rng.gamma(params["r"] + x, 1.0 / (params["alpha"] + age_alive))
    if model == "paretonbd":
        dropout_rate = rng.gamma(params["s"], 1.0 / (params["beta"] + age_alive))
        with np.errstate(divide="ignore"):  # a rate that underflows to 0: never leaves
            lifetime = rng.standard_exponential(len(alive)) / dropout_rate
        purchases[alive] = rng.poisson(rate * np.minimum(lifetime, window))
        return purchases
    extra = 1.0 if model == "mbgnbd" else 0.0
    dropout = rng.beta(params["a"], params["b"] + x + extra)
    # the purchase after which the customer leaves: 1, 2, ... (a dropout probability that
    # rounds to 0 in float64 means "never" within any window)
    leaves_after = rng.geometric(np.maximum(dropout, np.finfo(float).tiny))
    purchases[alive] = np.minimum(rng.poisson(rate * window), leaves_after)
    return purchases


def future_spend(
    purchases: np.ndarray,
    *,
    frequency: np.ndarray,
    monetary: np.ndarray,
    params: Mapping[str, float],
    rng: np.random.Generator,
) -> np.ndarray:
    """One draw of each customer's total spend over ``purchases`` future purchases (Gamma-Gamma).

    Each purchase's spend is Gamma(p, nu); given the ``x`` repeat purchases averaging ``m``,
    the customer's nu is Gamma(q + p x, v + x m) (the prior Gamma(q, v) for customers without
    a repeat purchase or with spend <= 0, as in the point prediction). The sum of ``n``
    purchases is Gamma(n p, nu).

    Parameters
    ----------
    purchases : numpy.ndarray
        Future purchases per customer (from :func:`future_purchases`).
    frequency, monetary : numpy.ndarray
        Repeat purchases and their mean spend per customer.
    params : mapping
        Gamma-Gamma ``p``, ``q``, ``v``.
    rng : numpy.random.Generator
        Source of the draws.

    Returns
    -------
    numpy.ndarray
        Total spend per customer (0 without a purchase).
    """
    p, q, v = (float(params[name]) for name in ("p", "q", "v"))
    spend = np.zeros(len(purchases))
    buying = np.flatnonzero(purchases > 0)
    x, m = frequency[buying], monetary[buying]
    individual = (x > 0) & (m > 0)
    shape = q + np.where(individual, p * x, 0.0)
    rate = v + np.where(individual, x * m, 0.0)
    nu = rng.gamma(shape, 1.0 / rate)
    spend[buying] = rng.gamma(purchases[buying] * p, 1.0 / nu)
    return spend


def _draw_future(model, params, *, p_alive, frequency, age, duration, monetary, spend_params, rng):
    """One draw of each customer's purchases and, given spend parameters, their total spend."""
    count = future_purchases(
        model, params, p_alive=p_alive, frequency=frequency, age=age, duration=duration, rng=rng
    )
    if spend_params is None:
        return count, None
    spend = future_spend(
        count, frequency=frequency, monetary=monetary, params=spend_params, rng=rng
    )
    return count, spend


def _parameter_sets(fitted: FittedModel | None, n_draws: int, rng, *, vary: bool) -> np.ndarray:
    """n_draws parameter sets (rows): draws from the asymptotic normal, or the estimates."""
    if fitted is None:
        return np.empty((n_draws, 0))
    if not vary:
        return np.tile(fitted.params_.to_numpy(float), (n_draws, 1))
    _, sets = _btyd.draw_log_params(fitted.params_, fitted.log_params_covariance_, n_draws, rng)
    return sets


def _draws(inputs, purchases, spend, *, n_draws, seed, own_randomness, parameter_uncertainty):
    """Yield (purchases, value or None) per valid parameter draw, customers in input order."""
    parameter_rng = np.random.default_rng(seed)
    own_rng = np.random.default_rng([seed, OWN_RANDOMNESS_STREAM])
    purchase_sets = _parameter_sets(purchases, n_draws, parameter_rng, vary=parameter_uncertainty)
    spend_sets = _parameter_sets(spend, n_draws, parameter_rng, vary=parameter_uncertainty)
    rows, inverse = inputs["rows"], inputs["inverse"]
    names = purchases.params_.index
    for d in range(n_draws):
        params = dict(zip(names, purchase_sets[d], strict=True))
        fitter = _btyd.with_params(purchases.fitter, purchase_sets[d], names)
        spend_params = (
            None if spend is None else dict(zip(spend.params_.index, spend_sets[d], strict=True))
        )
        if spend_params is not None and spend_params["q"] <= 1:
            continue  # the spend model's mean does not exist: the draw is invalid
        if own_randomness:
            p_alive = _btyd.probability_alive(fitter, *rows)[inverse]
            if not np.all(np.isfinite(p_alive)):
                continue
            count, value = _draw_future(
                purchases.name,
                params,
                p_alive=p_alive,
                frequency=inputs["frequency"],
                age=inputs["age"],
                duration=inputs["duration"],
                monetary=inputs["monetary"],
                spend_params=spend_params,
                rng=own_rng,
            )
        else:
            count = _btyd.conditional_expected_purchases(fitter, inputs["duration_rows"], *rows)[
                inverse
            ]
            if not np.all(np.isfinite(count)):
                continue
            value = None
            if spend_params is not None:
                value = count * _expected_spend(
                    spend_params, inputs["frequency"], inputs["monetary"]
                )
        yield count, value


def _spend_model_mean(params) -> float:
    """Gamma-Gamma population mean spend per purchase ``v p / (q - 1)``; NaN when q <= 1."""
    p, q, v = params
    return v * p / (q - 1) if q > 1 else np.nan


def _expected_spend(params: Mapping[str, float], frequency, monetary) -> np.ndarray:
    """Gamma-Gamma conditional expected spend per purchase, ``p (v + x m) / (p x + q - 1)``.

    Customers without a repeat purchase or with spend <= 0 get the population mean
    (lifetimes' ``conditional_expected_average_profit`` for the others).
    """
    p, q, v = (float(params[name]) for name in ("p", "q", "v"))
    individual = (frequency > 0) & (monetary > 0)
    result = np.full(len(frequency), _spend_model_mean((p, q, v)))
    x, m = frequency[individual], monetary[individual]
    result[individual] = p * (v + x * m) / (p * x + q - 1)
    return result


def _customer_inputs(summary: pd.DataFrame, *, spend, periods) -> dict:
    """Each customer's history and window, and each distinct (history, window) once."""
    frequency, recency, age = _btyd_inputs(summary, "predictive_distribution")
    if periods is None:
        _require_columns(summary, ["duration_holdout"], "predictive_distribution without periods")
        duration = summary["duration_holdout"].to_numpy(float)
    else:
        duration = np.full(len(frequency), float(periods))
    monetary = None
    if spend is not None:
        column = "monetary_value_cal" if "monetary_value_cal" in summary else "monetary_value"
        _require_columns(summary, [column], "predictive_distribution with a spend model")
        monetary = summary[column].to_numpy(float)
    rows, _, inverse = _btyd.condense(
        {"frequency": frequency, "recency": recency, "T": age, "t": duration}
    )
    return {
        "rows": tuple(rows[name].to_numpy() for name in ("frequency", "recency", "T")),
        "duration_rows": rows["t"].to_numpy(),
        "inverse": inverse,
        "frequency": frequency,
        "recency": recency,
        "age": age,
        "duration": duration,
        "monetary": monetary,
    }


def total_purchase_draws(
    summary: pd.DataFrame,
    *,
    purchases: FittedModel,
    periods: float | None = None,
    n_draws: int = 200,
    seed: int = 0,
    own_randomness: bool = True,
) -> np.ndarray:
    """The draws of the customers' total repeat purchases, one per valid draw.

    The same draws as :func:`predictive_distribution` (same seed, same order), each summed
    over the customers as it is made: no draws x customers array is kept, so memory does not
    grow with the number of customers times draws.

    Parameters
    ----------
    summary : pandas.DataFrame
        As for :func:`predictive_distribution`.
    purchases : FittedModel
        Purchase model.
    periods : float, optional
        Window length in model time units; default the frame's ``duration_holdout``.
    n_draws, seed, own_randomness
        As for :func:`predictive_distribution`.

    Returns
    -------
    numpy.ndarray
        Total purchases per valid draw (float64).
    """
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    inputs = _customer_inputs(summary, spend=None, periods=periods)
    return _total_draws(
        inputs, purchases, n_draws=n_draws, seed=seed, own_randomness=own_randomness
    )


def _total_draws(inputs: dict, purchases, *, n_draws, seed, own_randomness) -> np.ndarray:
    """`total_purchase_draws` on customer inputs already prepared (`_customer_inputs`)."""
    draws = _draws(
        inputs,
        purchases,
        None,
        n_draws=n_draws,
        seed=seed,
        own_randomness=own_randomness,
        parameter_uncertainty=True,
    )
    # summed as predictive_distribution stores them (float32), so the totals are the same
    return np.array([np.asarray(count, np.float32).sum(dtype=float) for count, _ in draws])


def predictive_distribution(
    summary: pd.DataFrame,
    *,
    purchases: FittedModel,
    spend: FittedModel | None = None,
    periods: float | None = None,
    n_draws: int = 200,
    seed: int = 0,
    interval: float = 0.9,
    own_randomness: bool = True,
    parameter_uncertainty: bool = True,
) -> PredictiveDistribution:
    """Each customer's distribution of repeat purchases (and spend) over the next ``periods``.

    Every draw takes one parameter set (from the asymptotic normal of the log-parameters, as
    :func:`ccnb.clv.predict`) and then, for every customer under it, one draw of the latent
    state and the future (:func:`future_purchases`, :func:`future_spend`). Customers share
    the draw's parameters, so the sum over customers of a draw is a draw of the total: totals
    of any group (:meth:`PredictiveDistribution.total`) come from the same draws as the
    customers' intervals. Cost: two float32 arrays of draws x customers (1.6 GB per million
    customers at 200 draws); time linear in customers.

    Parameters
    ----------
    summary : pandas.DataFrame
        Customer summary (``frequency``, ``recency``, ``T``) or calibration frame
        (``*_cal`` columns, with ``duration_holdout`` when ``periods`` is None); with
        ``spend``, also ``monetary_value`` (or ``monetary_value_cal``).
    purchases : FittedModel
        Purchase model.
    spend : FittedModel, optional
        Gamma-Gamma model; without it only purchases are drawn.
    periods : float, optional
        Window length in model time units; default the frame's ``duration_holdout``.
    n_draws : int, default 200
        Joint draws.
    seed : int, default 0
        Seed; the parameter draws are those :func:`ccnb.clv.predict` makes with this seed.
    interval : float, default 0.9
        Central coverage of the intervals.
    own_randomness : bool, default True
        False: each draw is the expected purchases and spend under the draw's parameters
        (the parameter-only interval, kept for comparison).
    parameter_uncertainty : bool, default True
        False: every draw uses the estimates (only the customers' own randomness).

    Returns
    -------
    PredictiveDistribution
        Per-customer table (``customer_id``, ``p_no_purchase`` exact at the estimates,
        ``expected_purchases``, ``purchases_low``, ``purchases_high`` and with ``spend``
        ``expected_value``, ``value_low``, ``value_high``) and the draws.
    """
    if not 0 < interval < 1:
        raise ValueError(f"interval must be in (0, 1), got {interval}")
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    inputs = _customer_inputs(summary, spend=spend, periods=periods)
    purchase_draws, value_draws = _collect(
        _draws(
            inputs,
            purchases,
            spend,
            n_draws=n_draws,
            seed=seed,
            own_randomness=own_randomness,
            parameter_uncertainty=parameter_uncertainty,
        ),
        n_customers=len(inputs["frequency"]),
        with_value=spend is not None,
    )
    table = _table(summary, inputs, purchases, spend, purchase_draws, value_draws, interval)
    return PredictiveDistribution(
        table=table,
        purchase_draws=purchase_draws,
        value_draws=value_draws,
        settings={
            "interval": interval,
            "n_draws_requested": n_draws,
            "n_draws": len(purchase_draws),
            "seed": seed,
            "own_randomness": own_randomness,
            "parameter_uncertainty": parameter_uncertainty,
            "purchase_model": purchases.name,
            "spend_model": None if spend is None else spend.name,
        },
    )


def _collect(draws: Iterator, *, n_customers: int, with_value: bool):
    """Stack the yielded draws into float32 arrays (draws x customers)."""
    purchase_rows, value_rows = [], []
    for count, value in draws:
        purchase_rows.append(np.asarray(count, dtype=np.float32))
        if with_value:
            value_rows.append(np.asarray(value, dtype=np.float32))
    empty = np.empty((0, n_customers), dtype=np.float32)
    purchase_draws = np.vstack(purchase_rows) if purchase_rows else empty
    value_draws = (np.vstack(value_rows) if value_rows else empty) if with_value else None
    return purchase_draws, value_draws


def _expected_purchases(inputs: dict, purchases: FittedModel) -> np.ndarray:
    """Each customer's conditional expected purchases in its window, at the estimates."""
    return _btyd.conditional_expected_purchases(
        purchases.fitter, inputs["duration_rows"], *inputs["rows"]
    )[inputs["inverse"]]


def _table(summary, inputs, purchases, spend, purchase_draws, value_draws, interval):
    """Per-customer point values (exact, at the estimates) and the draws' central intervals."""
    quantiles = [(1 - interval) / 2, (1 + interval) / 2]
    expected = _expected_purchases(inputs, purchases)
    bought = probability_of_purchase(
        purchases, inputs["frequency"], inputs["recency"], inputs["age"], inputs["duration"]
    )
    table = pd.DataFrame(
        {
            "customer_id": _customer_ids(summary),
            "p_no_purchase": 1 - bought,
            "expected_purchases": expected,
        }
    )
    table["purchases_low"], table["purchases_high"] = _bounds(purchase_draws, quantiles)
    if value_draws is not None:
        spend_per_purchase = _expected_spend(spend.params_, inputs["frequency"], inputs["monetary"])
        table["expected_value"] = expected * spend_per_purchase
        table["value_low"], table["value_high"] = _bounds(value_draws, quantiles)
    return table


def _bounds(draws: np.ndarray, quantiles: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The empirical distribution's own quantiles per customer: whole purchases stay whole."""
    if len(draws) == 0:
        nan = np.full(draws.shape[1], np.nan)
        return nan, nan
    return column_quantiles(draws, quantiles, method="inverted_cdf")


#: customers per block when taking quantiles: numpy copies and partitions each block, so a
#: block bounds the temporary memory (draws x block) instead of draws x customers
QUANTILE_BLOCK = 16_384


def _order_statistics(n: int, level: float, method: str) -> tuple[list[int], float]:
    """The sorted positions numpy's ``method`` reads for quantile ``level`` of ``n`` values."""
    if method == "inverted_cdf":
        return [max(int(np.ceil(level * n)) - 1, 0)], 0.0
    position = level * (n - 1)
    below = int(np.floor(position))
    return [below, min(below + 1, n - 1)], position - below


def column_quantiles(
    draws: np.ndarray, quantiles: list[float], *, method: str = "linear"
) -> tuple[np.ndarray, np.ndarray]:
    """Low and high quantiles of each column of ``draws`` (draws x customers), block by block.

    Each block is transposed so that a customer's draws are contiguous and only the order
    statistics the two quantiles read are partitioned into place (about 2.4x faster than
    ``numpy.quantile`` along the draws; equal to it, up to float64 interpolation).

    Parameters
    ----------
    draws : numpy.ndarray or DrawMatrix
        One row per draw, one column per customer (a file-backed matrix is read a block of
        customers at a time).
    quantiles : list of float
        The two quantile levels.
    method : {"linear", "inverted_cdf"}, default "linear"
        ``numpy.quantile``'s method.

    Returns
    -------
    tuple of numpy.ndarray
        The two quantiles per customer (float64).
    """
    if method not in ("linear", "inverted_cdf"):
        raise ValueError(f"method must be 'linear' or 'inverted_cdf', got {method!r}")
    n_draws, n = draws.shape
    result = (np.empty(n), np.empty(n))
    if n_draws == 0:
        return tuple(np.full(n, np.nan) for _ in quantiles)
    reads = [_order_statistics(n_draws, level, method) for level in quantiles]
    positions = sorted({position for read, _ in reads for position in read})
    for start in range(0, n, QUANTILE_BLOCK):
        block = slice(start, start + QUANTILE_BLOCK)
        values = draws.column_block(block) if isinstance(draws, DrawMatrix) else draws[:, block]
        ordered = np.partition(np.ascontiguousarray(values.T), positions, axis=1)
        for out, (read, fraction) in zip(result, reads, strict=True):
            value = ordered[:, read[0]].astype(float)
            if len(read) == 2:
                value += fraction * (ordered[:, read[1]] - value)
            out[block] = value
    return result
