"""Cuts of the predictions: customer equity, CLV by group, CAC ceiling, iso-value curves.

Definitions in docs/methodology.md, "Customer equity", "CLV by group", "CAC ceiling" and
"Iso-value curves".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ccnb.clv import _btyd
from ccnb.clv.draws import DrawMatrix
from ccnb.clv.fitting import _require_columns
from ccnb.clv.prediction import (
    _deciles,
    _month_edges,
    _monthly_discount,
    _spend_model_mean,
)
from ccnb.clv.results import CustomerEquity, FittedModel, Predictions

__all__ = ["clv_by", "customer_equity", "iso_value", "prediction_summary"]


def _checked(predictions: Predictions, where: str) -> Predictions:
    if not isinstance(predictions, Predictions):
        raise TypeError(
            f"{where} takes the Predictions returned by clv.predict (the per-customer frame is "
            f"its .table; group columns come from a table with customer_id), got "
            f"{type(predictions).__name__}"
        )
    return predictions


#: what an interval includes: draws of realised values (parameters and each customer's own
#: randomness) or of expected values under each parameter draw (parameters only)
UNCERTAINTY = ("predictive", "parameter")


def _draws_for(predictions: Predictions, uncertainty: str) -> DrawMatrix:
    if uncertainty not in UNCERTAINTY:
        raise ValueError(f"uncertainty must be one of {UNCERTAINTY}, got {uncertainty!r}")
    if uncertainty == "predictive":
        return predictions.rclv_draws
    return predictions.rclv_parameter_draws


def _quantiles(values: np.ndarray, interval: float) -> tuple[float, float]:
    if len(values) == 0:
        return np.nan, np.nan
    low, high = np.quantile(values, [(1 - interval) / 2, (1 + interval) / 2])
    return float(low), float(high)


def customer_equity(
    predictions: Predictions,
    *,
    new_customers_per_period=None,
    new_customer_clv: float | None = None,
    uncertainty: str = "predictive",
) -> CustomerEquity:
    """Customer equity: sum of rCLV plus, optionally, the value of expected new customers.

    New customers: ``new_customers_per_period`` acquisitions per month (the period of the
    horizon) in months 1..horizon_months, each worth ``new_customer_clv`` at acquisition,
    discounted to today with the monthly rate of :func:`predict`. Without
    ``new_customer_clv`` the model's value of a new customer is used: the discounted expected
    repeat-purchase margin over the horizon of a customer just acquired (the first purchase's
    margin is not included, so this is conservative). The interval sums each draw over
    customers: by default the realised rCLV of the joint draws (parameter uncertainty and each
    customer's own randomness: shared parameters make customers move together, their own
    futures partly cancel out), or with ``uncertainty="parameter"`` the expected rCLV under
    each parameter draw. The new customers' part carries parameter uncertainty only.

    Parameters
    ----------
    predictions : Predictions
        Output of :func:`predict`; ``predictions.select(ids)`` for a sub-population.
    new_customers_per_period : float or sequence of float, optional
        Expected acquisitions per month; a sequence gives one value per month.
    new_customer_clv : float, optional
        Value of one new customer at acquisition (e.g. from a CAC analysis); fixed, no
        uncertainty.
    uncertainty : {"predictive", "parameter"}, default "predictive"
        What the interval includes (see above).

    Returns
    -------
    CustomerEquity
        Value, interval, components and ``top_decile_share``.
    """
    predictions = _checked(predictions, "customer_equity")
    interval = predictions.settings["interval"]
    rclv = predictions.table["rclv"].to_numpy(float)
    existing = float(rclv.sum())
    existing_draws = _draws_for(predictions, uncertainty).row_sums()
    new_value, new_draws = 0.0, np.zeros(len(existing_draws))
    if new_customers_per_period is not None:
        horizon = predictions.settings["horizon_months"]
        volumes = np.broadcast_to(np.asarray(new_customers_per_period, dtype=float), (horizon,))
        weight = float(
            volumes @ _monthly_discount(horizon, predictions.settings["discount_rate_annual"])
        )
        if new_customer_clv is not None:
            new_value = weight * float(new_customer_clv)
            new_draws = np.full(len(existing_draws), new_value)
        else:
            new_value = weight * predictions.new_customer_value
            new_draws = weight * predictions.new_customer_draws
    return equity_from_totals(
        existing,
        existing_draws,
        new_value=new_value,
        new_draws=new_draws,
        top_decile_share=top_decile_share(rclv),
        n_customers=len(rclv),
        interval=interval,
        uncertainty=uncertainty,
    )


def top_decile_share(rclv: np.ndarray) -> float:
    """Share of the summed rCLV held by decile 1 (ties share the decile of the first)."""
    rclv = np.asarray(rclv, dtype=float)
    existing = float(rclv.sum())
    return float(rclv[_deciles(rclv) == 1].sum() / existing) if existing > 0 else np.nan


def equity_from_totals(
    existing: float,
    existing_draws: np.ndarray,
    *,
    new_value: float = 0.0,
    new_draws: np.ndarray | None = None,
    top_decile_share: float,
    n_customers: int,
    interval: float,
    uncertainty: str,
) -> CustomerEquity:
    """Customer equity from the summed rCLV and each draw's total (see :func:`customer_equity`)."""
    if new_draws is None:
        new_draws = np.zeros(len(existing_draws))
    existing_low, existing_high = _quantiles(existing_draws, interval)
    new_low, new_high = _quantiles(new_draws, interval) if len(new_draws) else (np.nan, np.nan)
    total_low, total_high = _quantiles(existing_draws + new_draws, interval)
    return CustomerEquity(
        value=float(existing + new_value),
        low=total_low,
        high=total_high,
        existing_customers=float(existing),
        existing_low=existing_low,
        existing_high=existing_high,
        new_customers=float(new_value),
        new_low=new_low,
        new_high=new_high,
        top_decile_share=top_decile_share,
        n_customers=int(n_customers),
        interval=interval,
        uncertainty=uncertainty,
    )


def _with_groups(predictions, by, table, where) -> pd.DataFrame:
    """Predictions with the ``by`` columns, looked up by customer_id in ``table`` if given."""
    by_columns = [by] if isinstance(by, str) else list(by)
    if table is None:
        _require_columns(predictions, by_columns, where)
        return predictions
    if "customer_id" not in table.columns:
        table = table.reset_index()
    _require_columns(table, ["customer_id", *by_columns], where)
    lookup = table.drop_duplicates("customer_id").set_index("customer_id")[by_columns]
    found = lookup.reindex(predictions["customer_id"].to_numpy())
    return predictions.assign(**{column: found[column].to_numpy() for column in by_columns})


def _group_draw_statistics(predictions: Predictions, groups: dict, uncertainty: str) -> dict:
    """Per group, each draw's total (of ``uncertainty``'s draws) and median expected rCLV.

    The draws are read a few at a time (`DrawMatrix.row_batches`), so a file-backed matrix
    never sits in memory whole.
    """
    found = {key: ([], []) for key in groups}
    batches = zip(
        _draws_for(predictions, uncertainty).row_batches(),
        predictions.rclv_parameter_draws.row_batches(),
        strict=True,
    )
    for draws, expected in batches:
        for key, members in groups.items():
            found[key][0].append(draws[:, members].sum(axis=1, dtype=float))
            found[key][1].append(np.median(expected[:, members], axis=1).astype(float))
    return {
        key: tuple(np.concatenate(parts) if parts else np.empty(0) for parts in values)
        for key, values in found.items()
    }


def total_bounds(sums: np.ndarray, *, n_customers: int, interval: float) -> dict:
    """Interval bounds of a group's mean and total rCLV from each draw's total."""
    bounds = {}
    for name, statistic in (("rclv_mean", sums / n_customers), ("rclv_sum", sums)):
        bounds[f"{name}_low"], bounds[f"{name}_high"] = _quantiles(statistic, interval)
    return bounds


def clv_by(
    predictions: Predictions,
    *,
    by,
    segments: pd.DataFrame | None = None,
    uncertainty: str = "predictive",
) -> pd.DataFrame:
    """Mean, median and total rCLV per group with intervals from the same draws as the total.

    Parameters
    ----------
    predictions : Predictions
        Output of :func:`predict`.
    by : str or list of str
        Grouping column(s), e.g. ``"segment"`` or ``"acquisition_channel"``.
    segments : pandas.DataFrame, optional
        Any table with ``customer_id`` (column or index) and the ``by`` column(s), e.g. a
        segment table or ``predictions.table`` merged with one; looked up per customer.
        Customers not in it form the group NaN. Without it the ``by`` column(s) must be in
        ``predictions.table``.
    uncertainty : {"predictive", "parameter"}, default "predictive"
        What the intervals of the mean and the total include, as in :func:`customer_equity`:
        a group's draws are the same draws as the whole's, so the groups add up to it draw
        by draw. The median's interval is always that of the median expected rCLV under the
        parameter draws (a realised median is mostly 0 in groups where few customers buy).

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` column(s), ``n_customers``, ``rclv_mean``,
        ``rclv_mean_low``, ``rclv_mean_high``, ``rclv_median``, ``rclv_median_low``,
        ``rclv_median_high``, ``rclv_sum``, ``rclv_sum_low``, ``rclv_sum_high``,
        ``share_of_equity`` (group sum / total sum). Bounds are quantiles over the draws of
        the group statistic (NaN when predict ran without draws).
    """
    predictions = _checked(predictions, "clv_by")
    frame = _with_groups(predictions.table, by, segments, "clv_by")
    by_columns = [by] if isinstance(by, str) else list(by)
    interval = predictions.settings["interval"]
    rclv = frame["rclv"].to_numpy(float)
    total = rclv.sum()
    groups = frame.groupby(by_columns, dropna=False, sort=True).indices
    statistics = _group_draw_statistics(predictions, groups, uncertainty)
    records = []
    for key, members in groups.items():
        values = rclv[members]
        record = dict(zip(by_columns, key if isinstance(key, tuple) else (key,), strict=True))
        record.update(
            n_customers=len(members),
            rclv_mean=values.mean(),
            rclv_median=float(np.median(values)),
            rclv_sum=values.sum(),
            share_of_equity=values.sum() / total if total > 0 else np.nan,
        )
        if predictions.n_draws > 0:
            sums, medians = statistics[key]
            record.update(total_bounds(sums, n_customers=len(members), interval=interval))
            record["rclv_median_low"], record["rclv_median_high"] = _quantiles(medians, interval)
        records.append(record)
    columns = by_columns + ["n_customers"]
    for name in ("rclv_mean", "rclv_median", "rclv_sum"):
        columns += [name, f"{name}_low", f"{name}_high"]
    columns += ["share_of_equity"]
    return pd.DataFrame.from_records(records).reindex(columns=columns)


def iso_value(
    fitted_purchases: FittedModel,
    spend_mean: float | FittedModel,
    *,
    max_frequency: int,
    max_recency: float,
    T: float,
    recency_step: float = 1.0,
    gross_margin: float = 1.0,
    discount_rate_annual: float = 0.0,
    horizon_months: int = 12,
    time_unit: str = "W",
) -> pd.DataFrame:
    """Residual CLV over a frequency x recency grid at a fixed age T (iso-value curves).

    Each cell is :func:`predict`'s rCLV for a customer with that history and spend
    ``spend_mean`` (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves").

    Parameters
    ----------
    fitted_purchases : FittedModel
        Purchase model.
    spend_mean : float or FittedModel
        Expected spend per purchase; a Gamma-Gamma model gives its population mean.
    max_frequency : int
        Frequencies 0..max_frequency.
    max_recency : float
        Recencies 0, recency_step, ..., max_recency (model time units, <= T).
    T : float
        Age of the customers (model time units).
    recency_step : float
        Grid step of recency.
    gross_margin, discount_rate_annual, horizon_months, time_unit
        As in :func:`predict`.

    Returns
    -------
    pandas.DataFrame
        rCLV with index ``recency`` (grid values) and columns ``frequency`` (0..max);
        impossible cells (frequency 0 with recency > 0) are NaN.
    """
    if max_recency > T:
        raise ValueError(f"max_recency ({max_recency}) cannot exceed T ({T})")
    if isinstance(spend_mean, FittedModel):
        spend_mean = _spend_model_mean(spend_mean.params_.to_numpy())
    if recency_step <= 0:
        raise ValueError(f"recency_step must be > 0, got {recency_step}")
    recencies = np.arange(0.0, max_recency + recency_step / 2, recency_step)
    recencies = recencies[recencies <= max_recency + 1e-9]
    frequencies = np.arange(0, int(max_frequency) + 1)
    grid_frequency, grid_recency = (a.ravel() for a in np.meshgrid(frequencies, recencies))
    valid = (grid_frequency > 0) | (grid_recency == 0)
    edges = _month_edges(horizon_months, time_unit)
    discount = _monthly_discount(horizon_months, discount_rate_annual)
    path = _btyd.PurchasePath(
        edges,
        grid_frequency[valid].astype(float),
        grid_recency[valid],
        np.full(valid.sum(), float(T)),
    )
    monthly = path.per_period(fitted_purchases.fitter)
    values = np.full(len(grid_frequency), np.nan)
    values[valid] = gross_margin * float(spend_mean) * (discount @ monthly)
    table = pd.DataFrame(
        values.reshape(len(recencies), len(frequencies)),
        index=pd.Index(recencies, name="recency"),
        columns=pd.Index(frequencies, name="frequency"),
    )
    return table


def prediction_summary(predictions: Predictions, *, alive_threshold: float = 0.5) -> pd.Series:
    """The whole base at a glance: residual CLV's spread and how many customers are alive.

    Parameters
    ----------
    predictions : Predictions
        Output of :func:`predict`.
    alive_threshold : float, default 0.5
        A customer counts as likely alive with P(alive) at or above this.

    Returns
    -------
    pandas.Series
        ``customers``; ``rclv_mean``, ``rclv_min``, ``rclv_median``, ``rclv_max``;
        ``p_alive_mean``; ``model_churn`` = 1 - ``p_alive_mean`` (the model-based churn of
        the whole base); ``alive_threshold`` and ``alive_share``, the share of customers
        with P(alive) at or above it; ``low_zero_share``, the share whose predictive interval
        starts at 0 (they may buy nothing more), and ``likely_none_share``, the share more
        likely than not to buy nothing over the horizon (P(no purchase) above 0.5).
    """
    table = _checked(predictions, "prediction_summary").table
    rclv, p_alive = table["rclv"], table["p_alive"]
    return pd.Series(
        {
            "customers": len(table),
            "rclv_mean": rclv.mean(),
            "rclv_min": rclv.min(),
            "rclv_median": rclv.median(),
            "rclv_max": rclv.max(),
            "p_alive_mean": p_alive.mean(),
            "model_churn": 1 - p_alive.mean(),
            "alive_threshold": alive_threshold,
            "alive_share": (p_alive >= alive_threshold).mean(),
            "low_zero_share": (table["rclv_low"] <= 0).mean(),
            "likely_none_share": (table["p_no_purchase"] > 0.5).mean(),
        },
        dtype=object,
    )
