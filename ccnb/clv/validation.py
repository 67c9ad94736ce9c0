"""Holdout validation of the purchase models and the model choice rule.

Definitions in docs/methodology.md, "Calibration and holdout" and "Model choice".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ccnb.clv import _btyd
from ccnb.clv.fitting import PURCHASE_MODELS, _btyd_inputs, _require_columns, fit_purchases
from ccnb.clv.prediction import _deciles
from ccnb.clv.predictive import probability_of_purchase
from ccnb.clv.results import FitError, FittedModel, ValidationResult

__all__ = [
    "conditional_expectations",
    "holdout_by_decile",
    "purchase_reliability",
    "tracking",
    "validate",
]


def _holdout_predictions(fitted: FittedModel, calibration: pd.DataFrame) -> np.ndarray:
    frequency, recency, age = _btyd_inputs(calibration, "validation")
    duration = calibration["duration_holdout"].to_numpy(float)
    rows, _, inverse = _btyd.condense(
        {"frequency": frequency, "recency": recency, "T": age, "duration": duration}
    )
    predicted = _btyd.conditional_expected_purchases(
        fitted.fitter,
        rows["duration"].to_numpy(),
        rows["frequency"].to_numpy(),
        rows["recency"].to_numpy(),
        rows["T"].to_numpy(),
    )
    return predicted[inverse]


def _predicted_and_actual(calibration: pd.DataFrame, fitted: FittedModel) -> pd.DataFrame:
    """Each calibration customer's predicted and actual holdout repeat purchases."""
    _require_columns(calibration, ["frequency_holdout", "duration_holdout"], "validation")
    return pd.DataFrame(
        {
            "predicted": _holdout_predictions(fitted, calibration),
            "actual": calibration["frequency_holdout"].to_numpy(float),
        }
    )


def conditional_expectations(
    calibration: pd.DataFrame, fitted: FittedModel, *, max_frequency: int = 7
) -> pd.DataFrame:
    """Actual vs predicted mean holdout purchases by calibration frequency (Fader-Hardie check).

    Parameters
    ----------
    calibration : pandas.DataFrame
        Calibration/holdout frame (``frequency_cal``, ``recency_cal``, ``T_cal``,
        ``frequency_holdout``, ``duration_holdout``).
    fitted : FittedModel
        Purchase model fitted on the calibration columns.
    max_frequency : int
        Last bucket collects ``frequency_cal >= max_frequency`` (label ``"7+"`` for 7).

    Returns
    -------
    pandas.DataFrame
        One row per bucket 0..max_frequency (all buckets, empty ones with NaN means):
        ``frequency_cal`` (bucket label, str), ``n_customers``, ``actual`` (mean holdout
        purchases), ``predicted`` (mean conditional expectation over ``duration_holdout``).
    """
    frame = _predicted_and_actual(calibration, fitted)
    frequency = calibration["frequency_cal"].to_numpy(float)
    frame["bucket"] = np.minimum(frequency, max_frequency).astype(int)
    table = frame.groupby("bucket").agg(
        n_customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
    )
    table = table.reindex(range(max_frequency + 1))
    table["n_customers"] = table["n_customers"].fillna(0).astype(int)
    labels = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
    table.insert(0, "frequency_cal", labels)
    return table.reset_index(drop=True)


def holdout_by_decile(calibration: pd.DataFrame, fitted: FittedModel) -> pd.DataFrame:
    """Predicted vs actual holdout purchases by decile of the prediction.

    Customers are ranked by their predicted holdout purchases (ties share the decile of the
    first of them), decile 1 the highest, so a model that ranks customers well shows actual
    purchases falling from decile 1 to 10 as the predictions do.

    Parameters
    ----------
    calibration : pandas.DataFrame
        Calibration/holdout frame (``frequency_cal``, ``recency_cal``, ``T_cal``,
        ``frequency_holdout``, ``duration_holdout``).
    fitted : FittedModel
        Purchase model fitted on the calibration columns.

    Returns
    -------
    pandas.DataFrame
        One row per decile 1..10 present: ``decile``, ``customers``, ``predicted`` and
        ``actual`` (holdout repeat purchases, totals), ``predicted_mean``, ``actual_mean``
        (per customer), ``error_pct`` (100 * (predicted - actual) / actual, NaN when the
        decile bought nothing) and ``below_previous`` (its customers bought no more per head
        than the decile above; True for the first).
    """
    frame = _predicted_and_actual(calibration, fitted)
    frame["decile"] = _deciles(frame["predicted"].to_numpy())
    table = frame.groupby("decile").agg(
        customers=("actual", "size"), predicted=("predicted", "sum"), actual=("actual", "sum")
    )
    table["predicted_mean"] = table["predicted"] / table["customers"]
    table["actual_mean"] = table["actual"] / table["customers"]
    bought = table["actual"].where(table["actual"] > 0)  # NaN error where nobody bought
    table["error_pct"] = 100 * (table["predicted"] - bought) / bought
    table["below_previous"] = table["actual_mean"] <= table["actual_mean"].shift(fill_value=np.inf)
    return table.reset_index()


def purchase_reliability(
    calibration: pd.DataFrame, fitted: FittedModel, *, bins: int = 10
) -> tuple[pd.DataFrame, pd.Series]:
    """How well P(a purchase in the holdout) matches who bought: reliability table, Brier score.

    Parameters
    ----------
    calibration : pandas.DataFrame
        Calibration/holdout frame (``frequency_cal``, ``recency_cal``, ``T_cal``,
        ``frequency_holdout``, ``duration_holdout``).
    fitted : FittedModel
        Purchase model fitted on the calibration columns.
    bins : int, default 10
        Equal-width bins of the predicted probability.

    Returns
    -------
    table : pandas.DataFrame
        One row per bin with customers: ``low``, ``high`` (the bin's range), ``customers``,
        ``predicted`` (mean probability) and ``observed`` (share who bought).
    scores : pandas.Series
        ``brier`` (mean squared difference between the probability and the outcome, 0 is
        perfect), ``bought_share`` (customers who bought in the holdout) and
        ``base_rate_brier`` (the score of predicting that share for everyone).
    """
    _require_columns(calibration, ["frequency_holdout", "duration_holdout"], "validation")
    frequency, recency, age = _btyd_inputs(calibration, "validation")
    predicted = probability_of_purchase(
        fitted, frequency, recency, age, calibration["duration_holdout"].to_numpy(float)
    )
    bought = (calibration["frequency_holdout"].to_numpy(float) > 0).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(predicted, edges[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "predicted": predicted, "observed": bought})
    table = frame.groupby("bin").agg(
        customers=("observed", "size"),
        predicted=("predicted", "mean"),
        observed=("observed", "mean"),
    )
    table.insert(0, "high", edges[table.index + 1])
    table.insert(0, "low", edges[table.index])
    share = float(bought.mean())
    scores = pd.Series(
        {
            "brier": float(np.mean((predicted - bought) ** 2)),
            "bought_share": share,
            "base_rate_brier": share * (1 - share),
        }
    )
    return table.reset_index(drop=True), scores


def tracking(
    fitted: FittedModel,
    *,
    calibration: pd.DataFrame,
    actual_repeat_by_period: pd.Series,
    period_length: float = 1.0,
) -> pd.DataFrame:
    """Actual vs model-expected repeat purchases per period for the calibration cohort.

    Time 0 is the earliest first purchase in the calibration frame, i.e. ``calibration_end -
    max(T_cal)``; customer i is born at ``b_i = max(T_cal) - T_cal_i``. Period k covers model
    time ``[(k - 1) * period_length, k * period_length)``: with days, customer-days whose
    ``floor(days_since_time_0 / (period_length * days_per_unit)) + 1 == k``. The model's
    cumulative repeat purchases by the end of period k are
    ``sum_i E[X(k * period_length - b_i)]`` (lifetimes' unconditional
    ``expected_number_of_purchases_up_to_time``, 0 before birth), as in Fader, Hardie & Lee
    (2005).

    Parameters
    ----------
    fitted : FittedModel
        Purchase model fitted on the calibration period.
    calibration : pandas.DataFrame
        The calibration frame the model was fitted on (``T_cal``).
    actual_repeat_by_period : pandas.Series
        Actual repeat-purchase days of the calibration cohort per period, indexed by period
        number 1..n (missing periods count 0). Purchases are counted once per customer-day,
        each customer's first day excluded.
    period_length : float
        Period length in model time units.

    Returns
    -------
    pandas.DataFrame
        One row per period 1..n: ``period``, ``actual``, ``expected`` (repeat purchases in the
        period), ``actual_cumulative``, ``expected_cumulative``, ``in_calibration`` (the period
        starts on or before the calibration end).
    """
    if period_length <= 0:
        raise ValueError(f"period_length must be > 0, got {period_length}")
    _, _, age = _btyd_inputs(calibration, "tracking")
    index = pd.Index(actual_repeat_by_period.index)
    if len(index) == 0 or not pd.api.types.is_integer_dtype(index) or index.min() < 1:
        raise ValueError("actual_repeat_by_period must be indexed by period numbers 1, 2, ...")
    n_periods = int(index.max())
    actual = actual_repeat_by_period.reindex(range(1, n_periods + 1), fill_value=0).astype(float)
    calibration_length = float(np.max(age))
    births, counts = np.unique(calibration_length - age, return_counts=True)
    ends = np.arange(1, n_periods + 1) * period_length
    ages = np.maximum(ends[:, None] - births[None, :], 0.0)
    # births fall on the data's day grid, so the ages repeat: evaluate each distinct one once
    distinct_ages, positions = np.unique(ages, return_inverse=True)
    expected = _btyd.unconditional_expected_purchases(fitted.fitter, distinct_ages)
    expected_cumulative = expected[positions.reshape(ages.shape)] @ counts
    return pd.DataFrame(
        {
            "period": np.arange(1, n_periods + 1),
            "actual": actual.to_numpy(),
            "expected": np.diff(expected_cumulative, prepend=0.0),
            "actual_cumulative": actual.cumsum().to_numpy(),
            "expected_cumulative": expected_cumulative,
            "in_calibration": (ends - period_length) <= calibration_length + 1e-9,
        }
    )


_CHOICE_RULE = (
    "lowest per-customer holdout MAE; models within 1% of the best MAE count as tied and the "
    "tie goes to the lowest absolute aggregate holdout error (rounded to 0.01 percentage "
    "points), then to the simpler model (BG/NBD, MBG/NBD, Pareto/NBD)"
)


def validate(
    calibration: pd.DataFrame,
    *,
    models: Sequence[str] = PURCHASE_MODELS,
    penalizer: float = 0.0,
    n_starts: int | None = None,
    seed: int = 0,
    max_frequency: int = 7,
    actual_repeat_by_period: pd.Series | None = None,
    period_length: float = 1.0,
) -> ValidationResult:
    """Fit each candidate on the calibration period, score it on the holdout, choose one.

    Choice rule: lowest per-customer holdout MAE; models within 1% of the best MAE count as
    tied, and the tie goes to the lowest absolute aggregate holdout error (in % of actual,
    rounded to 0.01 points), then to the simpler model (BG/NBD < MBG/NBD < Pareto/NBD).
    Candidates that fail to converge are reported and skipped.

    Parameters
    ----------
    calibration : pandas.DataFrame
        Calibration/holdout frame: ``frequency_cal``, ``recency_cal``, ``T_cal``,
        ``frequency_holdout``, ``duration_holdout``.
    models : sequence of str
        Candidates among ``"bgnbd"``, ``"mbgnbd"``, ``"paretonbd"``.
    penalizer, n_starts, seed
        As in :func:`fit_purchases`.
    max_frequency : int
        For :func:`conditional_expectations`.
    actual_repeat_by_period : pandas.Series, optional
        For :func:`tracking`; without it no tracking tables are made.
    period_length : float
        For :func:`tracking`.

    Returns
    -------
    ValidationResult
        ``table`` has one row per candidate (index ``model``): ``label``, ``converged``,
        ``status`` (``"ok"`` or why it failed), ``log_likelihood`` and ``aic`` (calibration),
        ``holdout_actual`` and ``holdout_predicted`` (total holdout repeat purchases),
        ``aggregate_error_pct`` (100 * (predicted - actual) / actual), ``mae`` and ``rmse``
        (per customer), ``chosen``.

    Raises
    ------
    InsufficientDataError
        The calibration data is below the minimums (every model would fail).
    FitError
        No candidate converged.
    """
    _require_columns(calibration, ["frequency_holdout", "duration_holdout"], "validate")
    unknown = [model for model in models if model not in PURCHASE_MODELS]
    if unknown or not models:
        raise ValueError(f"models must be a non-empty subset of {PURCHASE_MODELS}, got {models}")
    actual = calibration["frequency_holdout"].to_numpy(float)
    rows, fitted_models, expectations, tracks, failures = [], {}, {}, {}, {}
    failed_fits = {}
    for model in models:
        spec = _btyd.MODEL_SPECS[model]
        row = {"model": model, "label": spec.label}
        try:
            fitted = fit_purchases(
                calibration, model=model, penalizer=penalizer, n_starts=n_starts, seed=seed
            )
        except FitError as error:
            failures[model] = error.fitted.convergence_
            failed_fits[model] = error.fitted
            row.update(converged=False, status=error.fitted.convergence_)
            rows.append(row)
            continue
        predicted = _holdout_predictions(fitted, calibration)
        if not np.all(np.isfinite(predicted)):
            failures[model] = "holdout predictions are not finite"
            row.update(converged=True, status=failures[model])
            rows.append(row)
            continue
        errors = predicted - actual
        row.update(
            converged=True,
            status="ok",
            log_likelihood=fitted.log_likelihood_,
            aic=fitted.aic_,
            holdout_actual=actual.sum(),
            holdout_predicted=predicted.sum(),
            aggregate_error_pct=100 * (predicted.sum() - actual.sum()) / actual.sum()
            if actual.sum() > 0
            else np.nan,
            mae=float(np.mean(np.abs(errors))),
            rmse=float(np.sqrt(np.mean(errors**2))),
        )
        rows.append(row)
        fitted_models[model] = fitted
        expectations[model] = conditional_expectations(
            calibration, fitted, max_frequency=max_frequency
        )
        if actual_repeat_by_period is not None:
            tracks[model] = tracking(
                fitted,
                calibration=calibration,
                actual_repeat_by_period=actual_repeat_by_period,
                period_length=period_length,
            )
    columns = ["label", "converged", "status", "log_likelihood", "aic", "holdout_actual"]
    columns += ["holdout_predicted", "aggregate_error_pct", "mae", "rmse"]
    table = pd.DataFrame(rows).set_index("model").reindex(columns=columns)
    if not fitted_models:
        reasons = "; ".join(f"{model}: {reason}" for model, reason in failures.items())
        if not failed_fits:
            raise ValueError(f"no candidate gave usable holdout predictions ({reasons})")
        raise FitError(next(iter(failed_fits.values())), f"no candidate converged ({reasons})")
    chosen = _choose(table.loc[list(fitted_models)])
    table["chosen"] = table.index == chosen
    return ValidationResult(
        table=table,
        chosen=chosen,
        fitted=fitted_models,
        conditional_expectations=expectations,
        tracking=tracks,
        failures=failures,
        rule=_CHOICE_RULE,
    )


def _choose(table: pd.DataFrame) -> str:
    best_mae = table["mae"].min()
    tied = table[table["mae"] <= best_mae * 1.01].copy()
    tied["abs_aggregate"] = tied["aggregate_error_pct"].abs().round(2).fillna(np.inf)
    tied["simplicity"] = [_btyd.MODEL_SPECS[name].simplicity for name in tied.index]
    return str(tied.sort_values(["abs_aggregate", "simplicity"]).index[0])
