"""Per-customer activity the audit's lenses share: revenue and orders per customer and window.

Transaction-level work runs in the engine (portable Ibis): tables of one row per customer (and
window) that the lenses aggregate there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from ccnb._lazy import lazy_module

if TYPE_CHECKING:
    import ibis.expr.types as ir

# the engine loads on first use: unpickling a stored audit result must not import it
ibis = lazy_module("ibis")
_periods = lazy_module("ccnb._periods")

__all__ = ["customer_window", "first_purchase_days", "first_purchase_lines"]


def _with_keys(table: ir.Table, observation_end: Any) -> ir.Table:
    """customer_id, date, amount, purchase and order key (order id, else the customer's day)."""
    end = _periods.date_literal(_periods.observation_end_stamp(observation_end))
    date = table.date if table.date.type().is_date() else table.date.cast("date")
    customer_id = table.customer_id
    if not customer_id.type().is_string():
        customer_id = customer_id.cast("string")
    amount = table.amount if table.amount.type().is_float64() else table.amount.cast("float64")
    order_id = table.order_id if "order_id" in table.columns else ibis.null("string")
    selected = table.select(
        customer_id=customer_id,
        date=date,
        amount=amount,
        purchase=_periods.is_purchase(table),
        order_key=ibis.coalesce(order_id, customer_id + ":" + date.cast("string")),
    )
    return selected.filter(selected.date <= end)


def first_purchase_lines(purchases: ir.Table) -> ir.Table:
    """The purchase rows of each customer's first two purchase days, with their ``rank``.

    ``purchases`` holds purchase rows only (``customer_id``, ``date``, ...); ``rank`` is 0 on
    the first day with a purchase, 1 on the next one. One window over each customer's rows
    (on Spark, where the rows are kept by customer, nothing moves).
    """
    day = ibis.dense_rank().over(group_by=purchases.customer_id, order_by=purchases.date)
    ranked = purchases.mutate(rank=day)
    return ranked.filter(ranked["rank"] < 2)


def first_purchase_days(purchases: ir.Table) -> ir.Table:
    """Each customer's first two distinct purchase days: ``customer_id``, ``date``, ``rank``.

    The days of `first_purchase_lines`.
    """
    return first_purchase_lines(purchases).select("customer_id", "date", "rank").distinct()


def customer_window(transactions: Any, *, start: Any, end: Any) -> ir.Table:
    """Each customer with a transaction in ``[start, end]``: revenue, orders, a purchase.

    Parameters
    ----------
    transactions : ibis.Table or pandas.DataFrame
        Validated transactions (``customer_id``, ``date``, ``amount``, optional ``order_id``
        and ``purchase``).
    start, end : date-like
        First and last day of the window (inclusive).

    Returns
    -------
    ibis.expr.types.Table
        One row per customer with any transaction in the window: ``customer_id``,
        ``revenue`` (net, returns included: the KPI page's revenue), ``orders`` (distinct
        orders with a purchase line: the KPI page's orders) and ``bought`` (at least one
        purchase).
    """
    table = _with_keys(_table(transactions), end)
    table = table.filter(table.date >= _periods.date_literal(pd.Timestamp(start)))
    purchase_order = ibis.cases((table.purchase, table.order_key), else_=ibis.null("string"))
    return table.group_by("customer_id").agg(
        revenue=table.amount.sum(),
        orders=purchase_order.nunique().cast("int64"),
        bought=table.purchase.any(),
    )


def _table(transactions: Any) -> ir.Table:
    import ibis.expr.types as ir

    if isinstance(transactions, pd.DataFrame):
        return ibis.memtable(transactions)
    if isinstance(transactions, ir.Table):
        return transactions
    raise TypeError(
        "transactions must be an Ibis table or a pandas DataFrame; "
        f"got {type(transactions).__name__}"
    )
