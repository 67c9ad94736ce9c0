"""Simple and naive CLV: margin times lifespan, before any model.

Definitions in docs/methodology.md, Simple CLV.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ccnb.clv.fitting import _require_columns

if TYPE_CHECKING:
    import ibis.expr.types as ir

#: days in a year of :func:`naive_clv`'s years observed
DAYS_PER_YEAR = 365.25

__all__ = ["naive_annual_revenue_in_engine", "naive_clv", "naive_versus_model", "simple_clv"]


def simple_clv(annual_revenue, lifespan_years, acquisition_cost):
    """Simple CLV (the brief's formula): annual revenue x lifespan in years - acquisition cost.

    Parameters
    ----------
    annual_revenue : float or array-like
        Revenue per customer per year.
    lifespan_years : float or array-like
        Expected customer lifespan in years (e.g. ``1 / annual churn rate``).
    acquisition_cost : float or array-like
        Cost of acquiring the customer.

    Returns
    -------
    float or array-like
        ``annual_revenue * lifespan_years - acquisition_cost`` (no margin, no discounting):
        ``simple_clv(1000, 10, 1000) == 9000``.
    """
    if np.any(np.asarray(lifespan_years, dtype=float) < 0):
        raise ValueError(f"lifespan_years must be >= 0, got {lifespan_years}")
    return annual_revenue * lifespan_years - acquisition_cost


def _per_group(value, groups: pd.Series, name: str) -> pd.Series:
    """Broadcast a scalar, or look up a mapping / Series by group label."""
    if value is None:
        return pd.Series(0.0, index=groups.index)
    if isinstance(value, Mapping | pd.Series):
        mapping = pd.Series(value) if isinstance(value, Mapping) else value
        missing = sorted(set(groups.dropna().unique()) - set(mapping.index), key=str)
        if missing:
            raise ValueError(f"{name} has no value for group(s) {missing[:5]}")
        return groups.map(mapping).astype(float)
    return pd.Series(float(value), index=groups.index)


def naive_clv(
    summary: pd.DataFrame,
    *,
    annual_churn_rate,
    acquisition_cost=None,
    by: str | None = None,
    observation_end=None,
    min_years_observed: float = 1.0,
) -> pd.DataFrame:
    """Naive CLV from observed revenue and an assumed churn rate (Simple CLV, per customer).

    NAIVE: no purchase model, no margin, no discounting. The annual revenue of a customer is
    their net revenue divided by the years they have been observed (first purchase to
    observation end, at least ``min_years_observed`` so that recent customers are not
    extrapolated from a few weeks); the lifespan is ``1 / annual_churn_rate`` years;
    ``naive_clv = naive_annual_revenue * naive_lifespan_years - acquisition_cost``. Show it
    next to the model-based rCLV, never instead of it.

    Parameters
    ----------
    summary : pandas.DataFrame
        Customer summary with ``customer_id``, ``revenue``, ``first_purchase`` and either
        ``observation_end`` given here or ``last_purchase`` and ``days_since_last`` (the
        observation end is then ``last_purchase + days_since_last`` days).
    annual_churn_rate : float or mapping
        Share of customers lost per year, in (0, 1]; with ``by``, a mapping or Series from
        group to rate is accepted.
    acquisition_cost : float, mapping or None
        Cost per acquired customer (mapping by group with ``by``); None counts 0.
    by : str, optional
        Column to aggregate by (e.g. ``"acquisition_channel"``); None gives one row per
        customer.
    observation_end : date-like, optional
        End of observation; default derived from ``last_purchase + days_since_last``.
    min_years_observed : float
        Floor on the years observed per customer.

    Returns
    -------
    pandas.DataFrame
        Per customer (``by=None``): ``customer_id``, ``revenue``, ``years_observed`` (floored),
        ``naive_annual_revenue``, ``naive_lifespan_years``, ``acquisition_cost``,
        ``naive_clv``. With ``by``: the ``by`` column, ``n_customers``, ``revenue`` (sum),
        ``customer_years`` (sum of floored years observed), ``naive_annual_revenue`` (revenue /
        customer_years), ``naive_lifespan_years``, ``acquisition_cost``, ``naive_clv``.
    """
    needed = ["customer_id", "revenue", "first_purchase"]
    if observation_end is None:
        needed += ["last_purchase", "days_since_last"]
    _require_columns(summary, needed, "naive_clv")
    first = pd.to_datetime(summary["first_purchase"])
    if observation_end is None:
        end = pd.to_datetime(summary["last_purchase"]) + pd.to_timedelta(
            summary["days_since_last"].astype(float), unit="D"
        )
    else:
        end = pd.Series(pd.Timestamp(observation_end), index=summary.index)
    days_observed = (end - first) / pd.Timedelta(days=1)
    if np.any(days_observed < 0):
        raise ValueError("observation_end is before some customers' first_purchase")
    years = np.maximum(days_observed / DAYS_PER_YEAR, min_years_observed)
    groups = summary[by] if by is not None else pd.Series("all", index=summary.index)
    churn = _per_group(annual_churn_rate, groups, "annual_churn_rate")
    if np.any((churn <= 0) | (churn > 1)):
        raise ValueError("annual_churn_rate must be in (0, 1]")
    cost = _per_group(acquisition_cost, groups, "acquisition_cost")
    if by is None:
        annual = summary["revenue"].astype(float) / years
        lifespan = 1.0 / churn
        return pd.DataFrame(
            {
                "customer_id": summary["customer_id"].to_numpy(),
                "revenue": summary["revenue"].astype(float).to_numpy(),
                "years_observed": years.to_numpy(),
                "naive_annual_revenue": annual.to_numpy(),
                "naive_lifespan_years": lifespan.to_numpy(),
                "acquisition_cost": cost.to_numpy(),
                "naive_clv": simple_clv(annual, lifespan, cost).to_numpy(),
            }
        )
    frame = pd.DataFrame(
        {
            by: groups,
            "revenue": summary["revenue"].astype(float),
            "customer_years": years,
            "churn": churn,
            "cost": cost,
        }
    )
    table = frame.groupby(by, dropna=False, sort=True).agg(
        n_customers=("revenue", "size"),
        revenue=("revenue", "sum"),
        customer_years=("customer_years", "sum"),
        churn=("churn", "first"),
        acquisition_cost=("cost", "first"),
    )
    table["naive_annual_revenue"] = table["revenue"] / table["customer_years"]
    table["naive_lifespan_years"] = 1.0 / table.pop("churn")
    table["naive_clv"] = simple_clv(
        table["naive_annual_revenue"], table["naive_lifespan_years"], table["acquisition_cost"]
    )
    columns = ["n_customers", "revenue", "customer_years", "naive_annual_revenue"]
    columns += ["naive_lifespan_years", "acquisition_cost", "naive_clv"]
    return table[columns].reset_index()


def naive_annual_revenue_in_engine(
    table: ir.Table, *, observation_end, min_years_observed: float = 1.0
) -> float:
    """The mean of :func:`naive_clv`'s ``naive_annual_revenue``, computed where the summary is.

    For a customer summary kept in an engine (Spark), so that no customer comes to the
    driver: each customer's net revenue (settled to ``ccnb.formatting.MONEY_DECIMALS`` as the
    summary settles it) over the years from their first purchase to ``observation_end``, at
    least ``min_years_observed``, averaged over the customers in the engine.

    Parameters
    ----------
    table : ibis.Table
        ``ccnb.summary.summary_table``'s expression (``revenue``, ``first_purchase``).
    observation_end : date-like
        End of observation.
    min_years_observed : float, default 1.0
        Floor on the years observed per customer.

    Returns
    -------
    float
        Equal to ``naive_clv(...)["naive_annual_revenue"].mean()`` of the collected summary,
        to the engine's summation order.
    """
    import ibis  # here: a kernel reading stored tables never imports the engine

    from ccnb.formatting import MONEY_DECIMALS

    days = ibis.literal(pd.Timestamp(observation_end).date()).delta(
        table.first_purchase, unit="day"
    )
    years = ibis.greatest(days.cast("float64") / DAYS_PER_YEAR, float(min_years_observed))
    revenue = table.revenue.round(MONEY_DECIMALS) + 0.0
    return float((revenue / years).mean().execute())


def naive_versus_model(
    *, naive_annual_revenue: float, rclv: float, annual_churn_rate: float
) -> pd.Series:
    """The mean naive CLV per customer next to the mean model-based residual CLV.

    Parameters
    ----------
    naive_annual_revenue : float
        Mean over the customers of :func:`naive_clv`'s ``naive_annual_revenue`` (or
        :func:`naive_annual_revenue_in_engine`).
    rclv : float
        Mean residual CLV of the same customers (``ccnb.clv.prediction_summary``'s
        ``rclv_mean``).
    annual_churn_rate : float
        Share of customers lost per year, in (0, 1].

    Returns
    -------
    pandas.Series
        ``annual_churn_rate``, ``naive_lifespan_years`` (1 / churn rate),
        ``naive_annual_revenue``, ``naive_clv`` (the mean of :func:`naive_clv` over the
        customers: revenue, no margin, no discounting; the annual revenue times the lifespan)
        and ``rclv``.
    """
    if not 0 < annual_churn_rate <= 1:
        raise ValueError(f"annual_churn_rate must be in (0, 1], got {annual_churn_rate!r}")
    lifespan = 1 / float(annual_churn_rate)
    return pd.Series(
        {
            "annual_churn_rate": float(annual_churn_rate),
            "naive_lifespan_years": lifespan,
            "naive_annual_revenue": float(naive_annual_revenue),
            "naive_clv": simple_clv(float(naive_annual_revenue), lifespan, 0.0),
            "rclv": float(rclv),
        }
    )
