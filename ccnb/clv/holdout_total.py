"""The holdout total against its predictive interval, and where in the calendar the model misses.

Definitions in docs/methodology.md, "Predictive intervals" and "When the model misses".
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from ccnb.clv.cuts import _quantiles
from ccnb.clv.fitting import _require_columns
from ccnb.clv.predictive import _customer_inputs, _expected_purchases, _total_draws
from ccnb.clv.results import FittedModel

__all__ = ["holdout_total", "likely_miss_cause", "monthly_tracking_ratio"]

#: a calendar month whose actual-to-expected ratio is this many times the quietest month's
#: counts as a seasonal peak the models (which have no calendar) cannot follow
SEASONAL_RATIO = 1.5


def holdout_total(
    calibration: pd.DataFrame,
    fitted: FittedModel,
    *,
    n_draws: int = 200,
    seed: int = 0,
    interval: float = 0.9,
) -> pd.Series:
    """Holdout repeat purchases of the calibration customers: expected, interval, realised.

    Parameters
    ----------
    calibration : pandas.DataFrame
        Calibration frame (``frequency_cal``, ``recency_cal``, ``T_cal``,
        ``frequency_holdout``, ``duration_holdout``).
    fitted : FittedModel
        Purchase model fitted on the calibration columns.
    n_draws, seed, interval
        As in :func:`ccnb.clv.predictive_distribution`; the draws are its draws, each
        summed over the customers as it is made (`ccnb.clv.predictive.total_purchase_draws`).

    Returns
    -------
    pandas.Series
        ``expected`` (sum of the customers' conditional expectations), ``low``, ``high``
        (central interval of the total: parameter uncertainty and each customer's own
        randomness), ``parameter_low``, ``parameter_high`` (parameter uncertainty only),
        ``actual``, ``inside`` (1.0 or 0.0), ``error_pct`` (expected vs actual) and
        ``interval``.
    """
    _require_columns(calibration, ["frequency_holdout", "duration_holdout"], "holdout_total")
    if not 0 < interval < 1:
        raise ValueError(f"interval must be in (0, 1), got {interval}")
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    inputs = _customer_inputs(calibration, spend=None, periods=None)
    options = {"n_draws": n_draws, "seed": seed}
    # the two intervals' draws are independent (each has its own seeded streams): computed side
    # by side, numpy and scipy releasing the interpreter, with the values of one after another
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ccnb-holdout") as pool:
        predictive, parameter = (
            pool.submit(_total_draws, inputs, fitted, own_randomness=own, **options)
            for own in (True, False)
        )
        low, high = _quantiles(predictive.result(), interval)
        parameter_low, parameter_high = _quantiles(parameter.result(), interval)
    expected = float(_expected_purchases(inputs, fitted).sum())
    actual = float(calibration["frequency_holdout"].sum())
    return pd.Series(
        {
            "expected": expected,
            "low": low,
            "high": high,
            "parameter_low": parameter_low,
            "parameter_high": parameter_high,
            "actual": actual,
            "inside": float(low <= actual <= high),
            "error_pct": 100 * (expected - actual) / actual if actual > 0 else np.nan,
            "interval": interval,
        }
    )


def monthly_tracking_ratio(tracking: pd.DataFrame, period_start: pd.Series) -> pd.DataFrame:
    """Actual over model-expected repeat purchases by calendar month, in the calibration period.

    The purchase models have no calendar: a month the customers buy in far more than the model
    expects, year after year, is seasonality the forecasts cannot follow.

    Parameters
    ----------
    tracking : pandas.DataFrame
        :func:`tracking` output of one model (``period``, ``actual``, ``expected``,
        ``in_calibration``).
    period_start : pandas.Series
        The date each period starts, indexed by period number.

    Returns
    -------
    pandas.DataFrame
        One row per calendar month with calibration periods: ``month`` (1-12), ``actual``,
        ``expected``, ``ratio`` (actual / expected), ``years`` (distinct years seen);
        empty when the calibration period covers less than 12 months.
    """
    frame = tracking[tracking["in_calibration"]].copy()
    starts = pd.to_datetime(period_start.reindex(frame["period"]).to_numpy())
    frame["month"], frame["year"] = starts.month, starts.year
    if len(frame) == 0 or (starts.max() - starts.min()).days < 365:
        return pd.DataFrame(columns=["month", "actual", "expected", "ratio", "years"])
    table = frame.groupby("month").agg(
        actual=("actual", "sum"), expected=("expected", "sum"), years=("year", "nunique")
    )
    table["ratio"] = table["actual"] / table["expected"].where(table["expected"] > 0)
    return table.reset_index()[["month", "actual", "expected", "ratio", "years"]]


def likely_miss_cause(
    total: pd.Series, monthly_ratio: pd.DataFrame, *, calibration_end, observation_end
) -> pd.Series:
    """Whether the holdout total missed its interval, and the likeliest cause the data show.

    Seasonality misleads a model without a calendar in two ways: a holdout shorter than a year
    that contains the peak month (customers buy more than the year's average pace), and a
    calibration period that ends in or within two months after the peak (many customers have
    just bought, so more of them look still active than the rest of the year would show).

    Parameters
    ----------
    total : pandas.Series
        :func:`holdout_total` output.
    monthly_ratio : pandas.DataFrame
        :func:`monthly_tracking_ratio` output.
    calibration_end, observation_end : datetime.date
        Last days of the calibration period and of the holdout.

    Returns
    -------
    pandas.Series
        ``cause``: ``"none"`` (the total fell inside), ``"seasonality"`` (the calibration period
        shows a peak month at least ``SEASONAL_RATIO`` times the quietest, relative to the
        model, and one of the two mechanisms applies) or ``"unexplained"`` (a trend or a change
        in the business: the data do not say which); ``mechanism`` (``"holdout_has_peak"``,
        ``"ends_after_peak"`` or None); ``direction`` (``"above"`` or ``"below"`` the
        interval, else None); ``peak_month``, ``quiet_month``, ``peak_ratio`` (NaN when not
        measurable); ``data_end_after_peak`` (the whole history, which the CLV model is
        fitted on, also ends in or up to two months after the peak).
    """
    measured = monthly_ratio.dropna(subset=["ratio"])
    peak = quiet = ratio = np.nan
    if len(measured) == 12:
        peak = int(measured.loc[measured["ratio"].idxmax(), "month"])
        quiet = int(measured.loc[measured["ratio"].idxmin(), "month"])
        ratio = float(measured["ratio"].max() / measured["ratio"].min())
    direction = mechanism = None
    if not total["inside"]:
        direction = "above" if total["actual"] > total["high"] else "below"
    first = pd.Timestamp(calibration_end) + pd.Timedelta(days=1)
    holdout = pd.period_range(first, pd.Timestamp(observation_end), freq="M")
    if ratio >= SEASONAL_RATIO:
        if len(holdout) < 12 and peak in set(holdout.month):
            mechanism = "holdout_has_peak"
        elif (pd.Timestamp(calibration_end).month - peak) % 12 <= 2:
            mechanism = "ends_after_peak"
    cause = "none"
    if direction is not None:
        cause = "seasonality" if mechanism is not None else "unexplained"
    data_end_after_peak = bool(
        ratio >= SEASONAL_RATIO and (pd.Timestamp(observation_end).month - peak) % 12 <= 2
    )
    return pd.Series(
        {
            "cause": cause,
            "mechanism": mechanism,
            "direction": direction,
            "peak_month": peak,
            "quiet_month": quiet,
            "peak_ratio": ratio,
            "data_end_after_peak": data_end_after_peak,
        },
        dtype=object,
    )
