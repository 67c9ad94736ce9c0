"""What a newly acquired customer is worth, per acquisition channel, and the CAC ceiling.

docs/methodology.md, "CAC ceiling": a new customer brings the margin of their first purchase
plus the discounted margin of the repeat purchases the purchase model expects from a customer
acquired today, over the CLV horizon. Each channel with enough customers gets its own fit of
the chosen purchase model (channels differ in how often customers return and how fast they
drop out); a smaller channel uses the pooled model, and says so. The residual CLV of a
channel's existing customers is not a stand-in: many of them lapsed long ago.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ccnb.clv import _btyd
from ccnb.clv.fitting import MIN_CUSTOMERS, MIN_REPEAT_BUYERS, fit_purchases
from ccnb.clv.prediction import _month_edges, _monthly_discount, _spend_model_mean
from ccnb.clv.results import FittedModel
from ccnb.errors import FitError, InsufficientDataError

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = [
    "NOT_BOUGHT_REASONS",
    "UNKNOWN_CHANNEL",
    "VERDICTS",
    "ChannelInputs",
    "channel_inputs",
    "channel_inputs_in_engine",
    "channel_table",
    "new_customer_value",
]

#: channel of customers the customers table does not name
UNKNOWN_CHANNEL = "unknown"

#: verdicts on a channel's acquisition cost against its new customers' value: worth less
#: than the cost, profitable but below the target ratio, at least the target ratio
VERDICTS = ("loses money", "below target", "within the ceiling")

#: why a channel is never bought: no positive acquisition cost is recorded for its customers,
#: or it is one of the unpaid channels (organic, word of mouth) whatever its recorded cost
NOT_BOUGHT_REASONS = ("no cost recorded", "unpaid channel")


def _verdict(value: float, cost: float, target: float) -> str | None:
    if not np.isfinite(cost) or cost <= 0:
        return None
    if value < cost:
        return VERDICTS[0]
    if value < target * cost:
        return VERDICTS[1]
    return VERDICTS[2]


def _payback_months(start: float, monthly_margin: np.ndarray, cost: float) -> float:
    """Months until ``start`` (margin at acquisition) plus the monthly margins reach ``cost``.

    Linear within a month; 0 when the first purchase pays the cost back, inf when the
    horizon does not, NaN without a cost.
    """
    if not np.isfinite(cost):
        return np.nan
    if cost <= start:
        return 0.0
    cumulative = start + np.cumsum(monthly_margin)
    reached = np.nonzero(cumulative >= cost)[0]
    if len(reached) == 0:
        return np.inf
    month = reached[0]
    before = cumulative[month - 1] if month > 0 else start
    return float(month + (cost - before) / (cumulative[month] - before))


def _future_purchases(fitter, edges: np.ndarray) -> np.ndarray:
    """Expected repeat purchases of a customer acquired now, per month of the horizon."""
    cumulative = _btyd.unconditional_expected_purchases(fitter, edges)
    return np.diff(cumulative, prepend=0.0)


@dataclass(frozen=True)
class ChannelInputs:
    """What a new customer's value per channel reads of the base: totals and patterns.

    Attributes
    ----------
    channels : pandas.DataFrame
        One row per acquisition channel (``"unknown"`` for customers the customers table does
        not name), sorted by name: ``acquisition_channel``, ``customers`` (with a purchase),
        ``repeat_buyers``, ``repeat_spend`` (the repeat buyers' mean value of a repeat
        purchase, NaN without one), ``first_value`` (mean first-purchase value) and
        ``mean_acquisition_cost`` (mean of the known costs, NaN when none).
    patterns : pandas.DataFrame
        ``acquisition_channel``, ``frequency``, ``recency``, ``T`` and ``customers``: the
        channel's distinct purchase patterns and how many customers share each, what a
        channel's fit reads (``ccnb.clv.fit_purchases`` with ``weights="customers"``).
    """

    channels: pd.DataFrame
    patterns: pd.DataFrame


#: the columns of a channel's purchase pattern
_PATTERN = ["acquisition_channel", "frequency", "recency", "T"]


def channel_table(customers: pd.DataFrame) -> pd.DataFrame:
    """The customers table's ``customer_id`` (text), channel and cost (a number, else NaN).

    Parameters
    ----------
    customers : pandas.DataFrame
        ``customer_id``, ``acquisition_channel`` and optionally ``acquisition_cost``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``acquisition_channel``, ``acquisition_cost`` (float64).
    """
    table = customers[["customer_id", "acquisition_channel"]].copy()
    table["acquisition_cost"] = (
        pd.to_numeric(customers["acquisition_cost"], errors="coerce").astype("float64")
        if "acquisition_cost" in customers
        else np.nan
    )
    table["customer_id"] = table["customer_id"].astype(str)
    return table


def channel_inputs(
    summary: pd.DataFrame, first_values: pd.DataFrame, customers: pd.DataFrame
) -> ChannelInputs:
    """Each channel's totals and purchase patterns, from per-customer tables in memory.

    Parameters
    ----------
    summary : pandas.DataFrame
        Customer summary over the whole history (``customer_id``, ``frequency``,
        ``recency``, ``T``, ``monetary_value``), in the model's time unit.
    first_values : pandas.DataFrame
        ``ccnb.summary.first_purchase_values`` output (``customer_id``, ``first_value``);
        customers absent from it (no purchase) are left out.
    customers : pandas.DataFrame
        ``customer_id``, ``acquisition_channel`` and optionally ``acquisition_cost``.

    Returns
    -------
    ChannelInputs
    """
    own = summary.drop(columns=["acquisition_channel", "acquisition_cost"], errors="ignore")
    frame = own.merge(channel_table(customers), on="customer_id", how="left")
    frame = frame.merge(first_values[["customer_id", "first_value"]], on="customer_id")
    channel = frame["acquisition_channel"].astype(object).fillna(UNKNOWN_CHANNEL).astype(str)
    frame["acquisition_channel"] = channel
    repeat = frame["frequency"] > 0
    grouped = frame.groupby(channel, sort=True)
    channels = pd.DataFrame(
        {
            "customers": grouped.size(),
            "repeat_buyers": repeat.groupby(channel, sort=True).sum(),
            "repeat_spend": frame["monetary_value"].where(repeat).groupby(channel).mean(),
            "first_value": grouped["first_value"].mean(),
            "mean_acquisition_cost": grouped["acquisition_cost"].mean(),
        }
    )
    channels = channels.rename_axis("acquisition_channel").reset_index()
    patterns = frame.groupby(_PATTERN, sort=True, dropna=False).size()
    return ChannelInputs(channels, patterns.rename("customers").reset_index())


def channel_inputs_in_engine(
    summary: ir.Table, first_values: ir.Table, customers: ir.Table
) -> ChannelInputs:
    """:func:`channel_inputs` computed where the customers are: only totals come back.

    For a customer summary kept in an engine (Spark): the channels' totals and their distinct
    purchase patterns are aggregated there.

    Parameters
    ----------
    summary : ibis.Table
        ``ccnb.summary.summary_table``'s expression, in the model's time unit.
    first_values : ibis.Table
        ``ccnb.summary.first_purchase_values_table``'s expression.
    customers : ibis.Table
        :func:`channel_table` of the customers table, in the same engine.

    Returns
    -------
    ChannelInputs
        Equal to :func:`channel_inputs` of the collected tables, means to the engine's
        summation order.
    """
    import ibis  # here: a kernel reading stored tables never imports the engine

    from ccnb import engine
    from ccnb.summary import btyd_inputs_table

    inputs = btyd_inputs_table(summary)
    joined = inputs.join(first_values, "customer_id").left_join(
        customers, inputs.customer_id == customers.customer_id
    )
    base = joined.select(
        acquisition_channel=joined.acquisition_channel.fill_null(UNKNOWN_CHANNEL),
        frequency=joined.frequency,
        recency=joined.recency,
        T=joined.T,
        monetary_value=joined.monetary_value,
        first_value=joined.first_value.cast("float64"),
        acquisition_cost=joined.acquisition_cost.cast("float64"),
    )
    repeat = base.frequency > 0
    totals = base.group_by("acquisition_channel").agg(
        customers=base.count(),
        repeat_buyers=repeat.cast("int64").sum(),
        repeat_spend=base.monetary_value.mean(where=repeat),
        first_value=base.first_value.mean(),
        mean_acquisition_cost=base.acquisition_cost.mean(),
    )
    channels = engine.to_arrow(totals).to_pandas()
    channels = channels.astype({"customers": "int64", "repeat_buyers": "int64"})
    counted = base.group_by(_PATTERN).agg(customers=ibis._.count())
    patterns = engine.to_arrow(counted).to_pandas().astype({"customers": "int64"})
    return ChannelInputs(
        channels.sort_values("acquisition_channel", ignore_index=True),
        patterns.sort_values(_PATTERN, ignore_index=True),
    )


def new_customer_value(
    inputs: ChannelInputs,
    *,
    pooled: FittedModel,
    spend: FittedModel | float,
    gross_margin: float,
    discount_rate_annual: float,
    horizon_months: int,
    time_unit: str,
    target_ltv_cac: float = 3.0,
    unpaid_channels: tuple[str, ...] = (),
    seed: int = 0,
) -> pd.DataFrame:
    """Value of a newly acquired customer per channel, its CAC ceiling and a verdict.

    Parameters
    ----------
    inputs : ChannelInputs
        Each channel's customers and purchase patterns (:func:`channel_inputs`, or
        :func:`channel_inputs_in_engine` where the customers are).
    pooled : FittedModel
        The chosen purchase model fitted on every customer: its kind is fitted per channel,
        and it stands in for channels too small for their own fit.
    spend : FittedModel or float
        The Gamma-Gamma spend model (its population mean) or the expected value of a repeat
        purchase, used for a channel with fewer than ``MIN_REPEAT_BUYERS`` repeat buyers.
    gross_margin, discount_rate_annual, horizon_months, time_unit
        As for ``ccnb.clv.predict``: margin on revenue, annual discount rate, horizon in
        months, BTYD time unit.
    target_ltv_cac : float
        Target ratio of a new customer's value to their acquisition cost (default 3).
    unpaid_channels : tuple of str
        Channels that are not bought (organic, word of mouth): they get a value and a
        verdict on their cost but are never funded.
    seed : int
        Seed of the per-channel fits.

    Returns
    -------
    pandas.DataFrame
        One row per channel (``"unknown"`` for customers the customers table does not name),
        largest first: ``acquisition_channel``, ``customers``, ``repeat_buyers``, ``model``
        (``"channel fit"`` or ``"pooled"``), ``first_purchase_margin`` (margin on the mean
        first-purchase value), ``expected_repeat_purchases`` (over the horizon),
        ``repeat_spend`` (mean value of a repeat purchase: the channel's repeat buyers' mean,
        else the spend model's mean), ``future_margin`` (discounted margin of those purchases),
        ``new_customer_value`` (first + future), ``first_year_margin_model`` (margin of the
        first purchase and the first 12 months' expected repeats, undiscounted),
        ``mean_acquisition_cost`` (mean of the known costs; NaN when none), ``paid``,
        ``not_bought_because`` (one of `NOT_BOUGHT_REASONS` when not paid, else missing),
        ``value_per_cost``, ``cac_ceiling`` (``new_customer_value / target_ltv_cac``),
        ``payback_months`` (months until the undiscounted margin of a new customer, first
        purchase included, reaches the cost; 0 when the first purchase pays it back, inf
        beyond the horizon, NaN without a cost) and ``verdict`` (one of `VERDICTS` for a
        known positive cost; None without one). ``paid`` is False for ``unpaid_channels``
        and channels without a positive cost: they are never bought.
    """
    if target_ltv_cac <= 0:
        raise ValueError(f"target_ltv_cac must be > 0, got {target_ltv_cac}")
    mean_spend = (
        _spend_model_mean(spend.params_.to_numpy()) if isinstance(spend, FittedModel) else spend
    )
    edges = _month_edges(horizon_months, time_unit)
    discount = _monthly_discount(horizon_months, discount_rate_annual)
    patterns = inputs.patterns.groupby("acquisition_channel", sort=False)
    records = []
    for row in inputs.channels.itertuples(index=False):
        channel = row.acquisition_channel
        model, fitted = "pooled", pooled
        if row.customers >= MIN_CUSTOMERS and row.repeat_buyers >= MIN_REPEAT_BUYERS:
            try:
                fitted = fit_purchases(
                    patterns.get_group(channel),
                    model=pooled.name,
                    seed=seed,
                    weights="customers",
                )
                model = "channel fit"
            except (FitError, InsufficientDataError):
                fitted = pooled
        monthly = _future_purchases(fitted.fitter, edges)
        repeat_spend = (
            float(row.repeat_spend) if row.repeat_buyers >= MIN_REPEAT_BUYERS else float(mean_spend)
        )
        first_margin = gross_margin * float(row.first_value)
        future = gross_margin * repeat_spend * float(discount @ monthly)
        value = first_margin + future
        cost = float(row.mean_acquisition_cost)
        has_cost = bool(np.isfinite(cost) and cost > 0)
        if not has_cost:
            not_bought_because = NOT_BOUGHT_REASONS[0]
        elif channel in unpaid_channels:
            not_bought_because = NOT_BOUGHT_REASONS[1]
        else:
            not_bought_because = None
        records.append(
            {
                "acquisition_channel": channel,
                "customers": int(row.customers),
                "repeat_buyers": int(row.repeat_buyers),
                "model": model,
                "first_purchase_margin": first_margin,
                "expected_repeat_purchases": float(monthly.sum()),
                "repeat_spend": repeat_spend,
                "future_margin": future,
                "new_customer_value": value,
                "first_year_margin_model": first_margin
                + gross_margin * repeat_spend * float(monthly[:12].sum()),
                "mean_acquisition_cost": cost,
                "paid": not_bought_because is None,
                "not_bought_because": not_bought_because,
                "value_per_cost": value / cost if has_cost else np.nan,
                "cac_ceiling": value / target_ltv_cac,
                "payback_months": _payback_months(
                    first_margin, gross_margin * repeat_spend * monthly, cost
                ),
                "verdict": _verdict(value, cost, target_ltv_cac),
            }
        )
    table = pd.DataFrame.from_records(records)
    return table.sort_values(
        ["customers", "acquisition_channel"], ascending=[False, True], ignore_index=True
    )
