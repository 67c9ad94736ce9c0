"""Fitting the purchase models (BG/NBD, MBG/NBD, Pareto/NBD) and the Gamma-Gamma spend model.

Definitions in docs/methodology.md, "BG/NBD", "MBG/NBD", "Pareto/NBD", "Gamma-Gamma" and
"Model fitting".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ccnb._checks import require_columns
from ccnb.clv import _btyd
from ccnb.clv.results import FitError, FittedModel, InsufficientDataError, ValidationResult

__all__ = [
    "INDEPENDENCE_THRESHOLD",
    "MIN_CUSTOMERS",
    "MIN_REPEAT_BUYERS",
    "MIN_SPEND_CUSTOMERS",
    "fit_purchases",
    "fit_spend",
    "refit",
]


#: fewest customers a purchase model is fitted on (four parameters need a population)
MIN_CUSTOMERS = 50


#: fewest repeat buyers (frequency > 0) a purchase model is fitted on; below this the
#: purchase-rate and dropout parameters are not identified in practice
MIN_REPEAT_BUYERS = 20


#: fewest repeat buyers with positive spend the Gamma-Gamma model is fitted on
MIN_SPEND_CUSTOMERS = 20


#: |Pearson r| between frequency and spend above which Gamma-Gamma's independence is flagged
INDEPENDENCE_THRESHOLD = 0.3


PURCHASE_MODELS = _btyd.PURCHASE_MODELS


_DEFAULT_STARTS = {"bgnbd": 1, "mbgnbd": 1, "paretonbd": 3}


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    require_columns(frame, columns, what=f"the table given to {where}")


def _customer_ids(frame: pd.DataFrame) -> np.ndarray:
    """The ``customer_id`` column, else the index (lifetimes' frames are indexed by it)."""
    if "customer_id" in frame.columns:
        return frame["customer_id"].to_numpy()
    return frame.index.to_numpy()


def _btyd_inputs(frame: pd.DataFrame, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """frequency, recency, T from calibration (``*_cal``) or summary columns, checked."""
    if {"frequency_cal", "recency_cal", "T_cal"} <= set(frame.columns):
        names = ("frequency_cal", "recency_cal", "T_cal")
    elif {"frequency", "recency", "T"} <= set(frame.columns):
        names = ("frequency", "recency", "T")
    else:
        raise ValueError(
            f"{where} needs columns frequency, recency, T (customer summary) or frequency_cal, "
            f"recency_cal, T_cal (calibration frame); the frame has {list(frame.columns)}"
        )
    frequency, recency, age = (frame[name].to_numpy(dtype=float) for name in names)
    _check_btyd(frame, frequency, recency, age, names)
    return frequency, recency, age


def _check_btyd(frame, frequency, recency, age, names) -> None:
    checks = [
        (~np.isfinite(frequency) | ~np.isfinite(recency) | ~np.isfinite(age), "missing values"),
        (frequency < 0, f"negative {names[0]}"),
        (frequency != np.round(frequency), f"non-integer {names[0]}"),
        (recency < 0, f"negative {names[1]}"),
        (recency > age + 1e-9, f"{names[1]} > {names[2]}"),
        ((frequency == 0) & (recency != 0), f"{names[1]} != 0 where {names[0]} == 0"),
    ]
    for bad, problem in checks:
        if np.any(bad):
            ids = _customer_ids(frame)  # only on failure: strings are slow to convert
            raise ValueError(
                f"{int(bad.sum())} customer(s) with {problem} (e.g. {ids[bad][:3].tolist()}); "
                "BTYD inputs follow lifetimes' conventions (see ccnb.summary)"
            )


def _customer_weights(frame: pd.DataFrame, weights: str | None, where: str) -> np.ndarray:
    """How many customers each row stands for: the ``weights`` column, else one each."""
    if weights is None:
        return np.ones(len(frame))
    _require_columns(frame, [weights], where)
    counts = frame[weights].to_numpy(dtype=float)
    if not np.all(np.isfinite(counts) & (counts >= 1) & (counts == np.round(counts))):
        raise ValueError(f"{weights!r} must count customers: whole numbers >= 1")
    return counts


def _check_minimums(label: str, frequency: np.ndarray, weights: np.ndarray) -> None:
    customers = int(weights.sum())
    if customers < MIN_CUSTOMERS:
        raise InsufficientDataError(label, "customers", MIN_CUSTOMERS, customers)
    repeat = int(weights[frequency > 0].sum())
    if repeat < MIN_REPEAT_BUYERS:
        raise InsufficientDataError(
            label, "repeat buyers (frequency > 0)", MIN_REPEAT_BUYERS, repeat
        )


def _weighted_correlation(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> float:
    """Pearson correlation of ``x`` and ``y`` over the customers ``weights`` counts.

    NaN when either does not vary. Equal to ``numpy.corrcoef`` on the customers' own rows.
    """
    dx = x - np.average(x, weights=weights)
    dy = y - np.average(y, weights=weights)
    sxx, syy = np.sum(weights * dx * dx), np.sum(weights * dy * dy)
    if not (sxx > 0 and syy > 0):
        return float("nan")
    return float(np.sum(weights * dx * dy) / np.sqrt(sxx * syy))


def _to_fitted(model_fit: _btyd.ModelFit, n_customers: int, penalizer: float) -> FittedModel:
    spec, result = model_fit.spec, model_fit.estimate
    log_se = np.sqrt(np.clip(np.diag(model_fit.log_params_covariance.to_numpy(float)), 0, None))
    return FittedModel(
        name=spec.name,
        label=spec.label,
        params_=model_fit.params.copy(),
        standard_errors_=pd.Series(
            model_fit.params.to_numpy() * log_se, index=model_fit.params.index
        ),
        log_params_covariance_=model_fit.log_params_covariance,
        log_likelihood_=model_fit.log_likelihood,
        aic_=2 * len(spec.param_names) - 2 * model_fit.log_likelihood,
        n_customers_=int(n_customers),
        n_unique_=int(result.n_rows),
        converged_=bool(result.converged),
        convergence_=result.message,
        penalizer=float(penalizer),
        fitter=model_fit.fitter,
        starts_=result.starts,
    )


def fit_purchases(
    data: pd.DataFrame,
    *,
    model: str = "bgnbd",
    penalizer: float = 0.0,
    n_starts: int | None = None,
    seed: int = 0,
    weights: str | None = None,
) -> FittedModel:
    """Fit a purchase model (BG/NBD, MBG/NBD or Pareto/NBD) with lifetimes' likelihood.

    The likelihood is lifetimes' (ccnb's implementation with analytic derivatives, equal to
    lifetimes' function), evaluated once per distinct (frequency, recency, T) with the number
    of customers sharing it as weight (customers with one purchase and the same first day are
    one row), which gives the estimates of a fit on every row in a fraction of the time. The
    optimiser (L-BFGS-B on the log-parameters from ``n_starts`` seeded starts, the best
    polished by Newton steps) keeps the best log-likelihood and checks the optimum:
    gradient near zero, parameters inside the search bounds, Hessian positive definite. When
    the best optimum fails a check, up to three more seeded starts are tried before
    :class:`FitError` is raised. ``starts_`` lists every start's log-likelihood.

    Parameters
    ----------
    data : pandas.DataFrame
        Customer summary (``frequency``, ``recency``, ``T``) or calibration frame
        (``frequency_cal``, ``recency_cal``, ``T_cal``; used when present), lifetimes'
        conventions, in the model's time unit.
    model : {"bgnbd", "mbgnbd", "paretonbd"}
        Purchase model.
    penalizer : float
        lifetimes' ``penalizer_coef`` (L2 on the parameters in lifetimes' scaled time, with
        lifetimes' own scaling per model), so results equal lifetimes' fit on every row.
    n_starts : int, optional
        Optimiser starts; start 1 is lifetimes' default, the others seeded random. Default 1
        for BG/NBD and MBG/NBD (well-behaved likelihoods), 3 for Pareto/NBD (long flat
        ridges).
    seed : int
        Seed for the extra starting points.
    weights : str, optional
        Column counting the customers each row stands for, when ``data`` holds distinct
        patterns rather than customers (``ccnb.summary.customer_patterns``, made where the
        data is); the fit equals the fit on the customers the patterns count.

    Returns
    -------
    FittedModel
        Converged fit; ``fitter`` is the lifetimes fitter for predictions.

    Raises
    ------
    InsufficientDataError
        Fewer than ``MIN_CUSTOMERS`` customers or ``MIN_REPEAT_BUYERS`` repeat buyers.
    FitError
        The optimum failed a check; ``error.fitted`` holds the attempt.
    """
    if model not in PURCHASE_MODELS:
        raise ValueError(f"model must be one of {PURCHASE_MODELS}, got {model!r}")
    spec = _btyd.MODEL_SPECS[model]
    frequency, recency, age = _btyd_inputs(data, "fit_purchases")
    counts = _customer_weights(data, weights, "fit_purchases")
    _check_minimums(spec.label, frequency, counts)
    if np.max(age) <= 0:
        raise ValueError("every customer has T == 0: nothing was observed after first purchases")
    rows, pattern_counts, _ = _btyd.condense(
        {"frequency": frequency, "recency": recency, "T": age}, weights=counts
    )
    starts = _DEFAULT_STARTS[model] if n_starts is None else int(n_starts)
    if starts < 1:
        raise ValueError(f"n_starts must be >= 1, got {n_starts}")
    model_fit = _btyd.fit_model(
        spec, rows, pattern_counts, penalizer=penalizer, n_starts=starts, seed=seed
    )
    fitted = _to_fitted(model_fit, counts.sum(), penalizer)
    if not fitted.converged_:
        raise FitError(fitted)
    return fitted


def fit_spend(
    data: pd.DataFrame,
    *,
    penalizer: float = 0.0,
    n_starts: int = 1,
    seed: int = 0,
    weights: str | None = None,
) -> FittedModel:
    """Fit the Gamma-Gamma spend model on repeat buyers with positive spend.

    Customers with ``frequency == 0`` (no repeat purchase, so no spend observation) or
    ``monetary_value <= 0`` (net returns) are excluded and counted in ``excluded_``. Gamma-Gamma
    assumes spend is independent of purchase frequency: ``correlation_`` is the Pearson
    correlation of frequency and monetary value among the fitted customers and
    ``independence_ok_`` is False when ``abs(correlation_) > INDEPENDENCE_THRESHOLD`` (0.3).

    Parameters
    ----------
    data : pandas.DataFrame
        Customer summary (``frequency``, ``monetary_value``) or calibration frame
        (``frequency_cal``, ``monetary_value_cal``; used when present).
    penalizer : float
        lifetimes' ``penalizer_coef``.
    n_starts : int
        Optimiser starts (start 1 is lifetimes' default; more are added on failure as in
        :func:`fit_purchases`).
    seed : int
        Seed for the extra starting points.
    weights : str, optional
        Column counting the customers each row stands for (distinct patterns, as
        :func:`fit_purchases` takes them); exclusions and the correlation count them.

    Returns
    -------
    FittedModel
        Parameters p, q, v. The population mean spend is ``v * p / (q - 1)``.

    Raises
    ------
    InsufficientDataError
        Fewer than ``MIN_SPEND_CUSTOMERS`` repeat buyers with positive spend.
    FitError
        The optimum failed a check, or q <= 1 (mean spend undefined).
    """
    if {"frequency_cal", "monetary_value_cal"} <= set(data.columns):
        names = ("frequency_cal", "monetary_value_cal")
    else:
        names = ("frequency", "monetary_value")
        _require_columns(data, names, "fit_spend")
    frequency = data[names[0]].to_numpy(float)
    spend = data[names[1]].to_numpy(float)
    counts = _customer_weights(data, weights, "fit_spend")
    no_repeat = ~(frequency > 0)
    non_positive = ~no_repeat & ~(spend > 0)  # includes missing spend
    used = ~no_repeat & ~non_positive
    excluded = {
        "no_repeat_purchase": int(counts[no_repeat].sum()),
        "non_positive_spend": int(counts[non_positive].sum()),
    }
    spec = _btyd.MODEL_SPECS["gammagamma"]
    n_used = int(counts[used].sum())
    if n_used < MIN_SPEND_CUSTOMERS:
        raise InsufficientDataError(
            spec.label, "repeat buyers with positive spend", MIN_SPEND_CUSTOMERS, n_used
        )
    frequency, spend, counts = frequency[used], spend[used], counts[used]
    rows, pattern_counts, _ = _btyd.condense(
        {"frequency": frequency, "monetary_value": spend}, weights=counts
    )
    model_fit = _btyd.fit_model(
        spec, rows, pattern_counts, penalizer=penalizer, n_starts=n_starts, seed=seed
    )
    fitted = _to_fitted(model_fit, n_used, penalizer)
    if fitted.params_["q"] <= 1:
        problem = "q <= 1, so the population mean spend v * p / (q - 1) is undefined"
        fitted.converged_ = False
        fitted.convergence_ = (
            problem if fitted.convergence_ == "converged" else f"{fitted.convergence_}; {problem}"
        )
    correlation = _weighted_correlation(frequency, spend, counts)
    fitted.excluded_ = excluded
    fitted.correlation_ = correlation
    fitted.independence_ok_ = bool(abs(correlation) <= INDEPENDENCE_THRESHOLD)
    if not fitted.converged_:
        raise FitError(fitted)
    return fitted


def refit(
    summary: pd.DataFrame,
    validation: ValidationResult,
    *,
    penalizer: float = 0.0,
    n_starts: int | None = None,
    seed: int = 0,
) -> FittedModel:
    """Fit the model chosen by :func:`validate` on the whole period.

    Parameters
    ----------
    summary : pandas.DataFrame
        Customer summary over the whole observation period.
    validation : ValidationResult
        Output of :func:`validate`; its ``chosen`` model is fitted.
    penalizer, n_starts, seed
        As in :func:`fit_purchases`.

    Returns
    -------
    FittedModel
        See :func:`fit_purchases`.
    """
    return fit_purchases(
        summary, model=validation.chosen, penalizer=penalizer, n_starts=n_starts, seed=seed
    )
