"""What a change in retention is worth: customer equity if a year's retention were N points higher.

The brief's claim that small retention gains bring large value, tested on the client's own
model. Definitions in docs/methodology.md, "Retention scenarios".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ccnb._checks import require_columns
from ccnb.clv import _btyd
from ccnb.clv.fitting import _btyd_inputs
from ccnb.clv.prediction import UNITS_PER_MONTH, _monthly_discount, margin_columns
from ccnb.clv.results import FittedModel, Predictions

__all__ = [
    "DEFAULT_RETENTION_CHANGES",
    "SurvivalPaths",
    "retention_scenarios",
    "retention_scenarios_of_patterns",
    "scenario_factors",
    "scenario_table",
    "scenario_values",
    "survival_if_alive",
    "survival_paths",
]

#: retention changes (percentage points of the one-year retention) the CLV report shows
DEFAULT_RETENTION_CHANGES = (-5.0, -2.0, -1.0, 1.0, 2.0, 5.0)

#: Beta quantiles averaged over for the BG/NBD and MBG/NBD dropout probability
_DROPOUT_NODES = 64
#: customer patterns evaluated at once (bounds memory: patterns x nodes x months floats)
_CHUNK = 4096


def survival_if_alive(fitted: FittedModel, frequency, age, t) -> np.ndarray:
    """Probability that a customer active now is still active ``t`` time units from now.

    The posterior of an active customer's dropout given the history:

    - Pareto/NBD: lifetime rate mu ~ Gamma(s, beta + T), so S(t) = ((beta + T) /
      (beta + T + t)) ** s;
    - BG/NBD (MBG/NBD): purchase rate lambda ~ Gamma(r + x, alpha + T) and dropout
      probability p ~ Beta(a, b + x) (Beta(a, b + x + 1)); a customer survives t if none of
      the Poisson(lambda t) purchases ends the lifetime, so S(t) = E_p[((alpha + T) /
      (alpha + T + p t)) ** (r + x)], averaged over 64 quantiles of the Beta.

    Parameters
    ----------
    fitted : FittedModel
        BG/NBD, MBG/NBD or Pareto/NBD.
    frequency, age : array-like
        Repeat purchases ``x`` and age ``T`` per customer (model time unit).
    t : array-like
        Times from now (model time unit).

    Returns
    -------
    numpy.ndarray
        Shape (customers, len(t)).
    """
    if fitted.name not in _btyd.PURCHASE_MODELS:
        raise ValueError(f"survival needs BG/NBD, MBG/NBD or Pareto/NBD, not {fitted.name!r}")
    frequency = np.asarray(frequency, dtype=float)
    age = np.asarray(age, dtype=float)
    t = np.asarray(t, dtype=float)
    params = fitted.params_
    if fitted.name == "paretonbd":
        base = params["beta"] + age[:, None]
        return (base / (base + t[None, :])) ** params["s"]
    shift = 1.0 if fitted.name == "mbgnbd" else 0.0
    nodes = (np.arange(_DROPOUT_NODES) + 0.5) / _DROPOUT_NODES
    # the Beta's quantiles once per distinct frequency (the inverse CDF is the slow part)
    distinct, of_customer = np.unique(frequency, return_inverse=True)
    from scipy import stats  # here: a kernel reading stored results never computes this

    quantiles = stats.beta.ppf(nodes[None, :], params["a"], params["b"] + distinct[:, None] + shift)
    result = np.empty((len(frequency), len(t)))
    for start in range(0, len(frequency), _CHUNK):
        x = frequency[start : start + _CHUNK]
        base = params["alpha"] + age[start : start + _CHUNK]
        dropout = quantiles[of_customer[start : start + _CHUNK]]
        ratio = base[:, None, None] / (base[:, None, None] + dropout[:, :, None] * t)
        result[start : start + _CHUNK] = (ratio ** (params["r"] + x)[:, None, None]).mean(axis=1)
    return result


@dataclass(frozen=True)
class SurvivalPaths:
    """Each customer pattern's survival if active now, at the middle of every month ahead.

    Attributes
    ----------
    monthly : numpy.ndarray
        Survival at the middle of months 1..horizon, shape (patterns, horizon).
    a_year : numpy.ndarray
        Survival a year from now per customer (in the summary's order).
    pattern_of_customer : numpy.ndarray
        Row of ``monthly`` of each customer (distinct frequency and age).
    """

    monthly: np.ndarray
    a_year: np.ndarray
    pattern_of_customer: np.ndarray


def survival_paths(
    purchases: FittedModel, summary: pd.DataFrame, *, horizon_months: int, time_unit: str
) -> SurvivalPaths:
    """`survival_if_alive` of every customer at mid-month over the horizon and at a year.

    Parameters
    ----------
    purchases : FittedModel
        BG/NBD, MBG/NBD or Pareto/NBD.
    summary : pandas.DataFrame
        Customer summary (``frequency``, ``recency``, ``T``) in the model's time unit.
    horizon_months : int
        Months ahead.
    time_unit : {"D", "W", "M"}
        The model's time unit.

    Returns
    -------
    SurvivalPaths
        Computed once per distinct (frequency, age) pattern.
    """
    frequency, _, age = _btyd_inputs(summary, "survival_paths")
    month = UNITS_PER_MONTH[time_unit]
    middles = (np.arange(int(horizon_months)) + 0.5) * month
    rows, _, inverse = _btyd.condense({"frequency": frequency, "T": age})
    survival = survival_if_alive(
        purchases, rows["frequency"], rows["T"], np.append(middles, 12 * month)
    )
    return SurvivalPaths(
        monthly=survival[:, :-1], a_year=survival[inverse, -1], pattern_of_customer=inverse
    )


def retention_scenarios(
    predictions: Predictions,
    survival: SurvivalPaths,
    *,
    changes: Sequence[float] = DEFAULT_RETENTION_CHANGES,
) -> pd.DataFrame:
    """Customer equity of today's customers if their one-year retention were N points higher.

    Retention is the share of the customers active now (weighted by P(alive)) that the
    model expects still to be active a year from now. A change of N points scales every
    customer's dropout hazard by the same factor c (their survival S(t) becomes S(t) ** c),
    chosen so that this share moves by N points; each month's expected margin of a customer
    moves with their survival in the middle of the month, and equity is the discounted sum.
    A scenario on the estimates: no interval, new customers not included.

    Parameters
    ----------
    predictions : Predictions
        Output of :func:`ccnb.clv.predict`.
    survival : SurvivalPaths
        :func:`survival_paths` of the same customers, model and horizon.
    changes : sequence of float
        Retention changes in percentage points; 0 (today's retention) is always included.

    Returns
    -------
    pandas.DataFrame
        One row per change, ascending: ``change_points``, ``retention`` (the one-year
        retention under it), ``hazard_factor`` (c), ``equity``, ``equity_change`` and
        ``equity_change_pct`` (against today's retention).

    Raises
    ------
    ValueError
        When a change would take retention to 0 or beyond 100%.
    """
    settings = predictions.settings
    horizon = settings["horizon_months"]
    inverse = survival.pattern_of_customer
    if len(inverse) != len(predictions) or survival.monthly.shape[1] != horizon:
        raise ValueError("survival and predictions must hold the same customers and horizon")
    patterns = len(survival.monthly)
    weight = np.bincount(
        inverse, weights=predictions.table["p_alive"].to_numpy(float), minlength=patterns
    )
    a_year = np.zeros(patterns)
    a_year[inverse] = survival.a_year
    margin = predictions.monthly_margin
    # margin summed per pattern: survival depends only on (frequency, T)
    margins = np.column_stack(
        [np.bincount(inverse, weights=margin[:, k], minlength=patterns) for k in range(horizon)]
    )
    return _scenarios(
        weight,
        a_year,
        survival.monthly,
        margins * _monthly_discount(horizon, settings["discount_rate_annual"]),
        equity=float(predictions.table["rclv"].sum()),
        changes=changes,
    )


def retention_scenarios_of_patterns(
    patterns: pd.DataFrame,
    purchases: FittedModel,
    *,
    equity: float,
    discount_rate_annual: float,
    horizon_months: int,
    time_unit: str,
    changes: Sequence[float] = DEFAULT_RETENTION_CHANGES,
) -> pd.DataFrame:
    """:func:`retention_scenarios` from the customers' sums per (frequency, T) pattern.

    What a base kept where the data is gives back (e.g. the executors' predictions grouped by
    pattern): a customer's survival depends on the pattern alone, so the scenarios need only
    each pattern's summed P(alive) and summed monthly margins. Equal to
    :func:`retention_scenarios` of the same customers; on Spark,
    `ccnb.clv.partitioned_summary.retention_scenarios_on_spark` computes the same where the
    patterns are.

    Parameters
    ----------
    patterns : pandas.DataFrame
        One row per distinct (``frequency``, ``T``): ``p_alive`` (summed over its customers)
        and the summed expected margin of each month of the horizon (undiscounted; columns
        `ccnb.clv.prediction.margin_columns`).
    purchases : FittedModel
        The purchase model the predictions were made with.
    equity : float
        Today's customer equity (the sum of the customers' rCLV) the scenarios are scaled to,
        so that every page gives the same number.
    discount_rate_annual, horizon_months, time_unit
        The predictions' settings.
    changes : sequence of float
        As for :func:`retention_scenarios`.

    Returns
    -------
    pandas.DataFrame
        As :func:`retention_scenarios`.
    """
    months = margin_columns(horizon_months)
    require_columns(patterns, ["frequency", "T", "p_alive", *months], what="the patterns")
    month = UNITS_PER_MONTH[time_unit]
    middles = (np.arange(int(horizon_months)) + 0.5) * month
    survival = survival_if_alive(
        purchases,
        patterns["frequency"].to_numpy(float),
        patterns["T"].to_numpy(float),
        np.append(middles, 12 * month),
    )
    return _scenarios(
        patterns["p_alive"].to_numpy(float),
        survival[:, -1],
        survival[:, :-1],
        patterns[months].to_numpy(float) * _monthly_discount(horizon_months, discount_rate_annual),
        equity=float(equity),
        changes=changes,
    )


def _scenarios(
    weight: np.ndarray,
    a_year: np.ndarray,
    monthly_survival: np.ndarray,
    discounted: np.ndarray,
    *,
    equity: float,
    changes: Sequence[float],
) -> pd.DataFrame:
    """The scenarios from sums per (frequency, T) pattern.

    ``weight`` is the summed P(alive), ``a_year`` and ``monthly_survival`` the survival a year
    on and at each month's middle, ``discounted`` the summed discounted margin of each month.
    """
    factors = scenario_factors(weight, a_year, changes=changes)
    values = scenario_values(monthly_survival, discounted, factors["hazard_factor"])
    return scenario_table(factors, values, equity=equity)


def scenario_factors(
    weight: np.ndarray, a_year: np.ndarray, *, changes: Sequence[float]
) -> pd.DataFrame:
    """Each change's one-year retention and the hazard factor that gives it.

    Parameters
    ----------
    weight, a_year : numpy.ndarray
        Per (frequency, T) pattern: the customers' summed P(alive) and the survival a year on.
    changes : sequence of float
        Retention changes in percentage points; 0 is always included.

    Returns
    -------
    pandas.DataFrame
        One row per change, ascending: ``change_points``, ``retention``, ``hazard_factor``.

    Raises
    ------
    ValueError
        When a change would take retention to 0 or beyond 100%.
    """
    today = float(weight @ a_year / weight.sum())

    def retained(factor: float) -> float:
        return float(weight @ a_year**factor / weight.sum())

    records = []
    for change in sorted({0.0, *map(float, changes)}):
        target = today + change / 100
        if not 0 < target < 1:
            raise ValueError(
                f"a change of {change:+g} points takes retention from {today:.1%} to "
                f"{target:.1%}, outside (0, 100%)"
            )
        factor = 1.0 if change == 0 else _hazard_factor(retained, target)
        records.append((change, target, factor))
    return pd.DataFrame(records, columns=["change_points", "retention", "hazard_factor"])


def scenario_values(
    monthly_survival: np.ndarray, discounted: np.ndarray, hazard_factors
) -> np.ndarray:
    """The equity of some patterns under each hazard factor (before scaling to today's equity).

    ``monthly_survival`` and ``discounted`` hold, per pattern and month, the survival at the
    month's middle and the customers' summed discounted margin. A sum over patterns: the
    values of blocks of patterns add up to the value of all of them.
    """
    return np.array(
        [
            float(np.sum(discounted * monthly_survival ** (factor - 1)))
            for factor in np.asarray(hazard_factors, dtype=float)
        ]
    )


def scenario_table(factors: pd.DataFrame, values, *, equity: float) -> pd.DataFrame:
    """The scenarios' table: each change's equity, scaled so that today's is ``equity``."""
    table = factors.assign(equity=np.asarray(values, dtype=float))
    base = float(table.loc[table["change_points"] == 0, "equity"].iloc[0])
    # today's equity is the sum of the rCLVs (the margins above are float32: a million
    # customers' rounding shows in the euros), so every page gives the same number
    if base:
        table["equity"] *= equity / base
        table.loc[table["change_points"] == 0, "equity"] = equity  # no -0.00 from the scaling
        base = equity
    table["equity_change"] = table["equity"] - base
    table["equity_change_pct"] = table["equity_change"] / base if base else np.nan
    return table


def _hazard_factor(retained, target: float) -> float:
    """The factor c with ``retained(c) == target`` (retained falls from 1 at c = 0)."""
    from scipy import optimize

    high = 2.0
    while retained(high) > target:
        high *= 2
    return float(optimize.brentq(lambda c: retained(c) - target, 0.0, high, xtol=1e-12))
