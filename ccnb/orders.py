"""Which transaction rows are purchases: returns and cancellations netted against their order.

A purchase is an order that kept a positive net value. A return or cancellation line (negative
amount) is matched to the order it cancels:

1. by order id, when its order id is one of the customer's orders with a purchase line;
2. else, when a product (line) code is mapped, to the customer's latest order on or before
   the return's date holding a purchase line of the same product.

An order whose lines net to zero or less is not a purchase (frequency, recency, cohorts, early
repeat); its rows still count in revenue, on their own dates. A return that matches no order
reduces revenue only. Without order ids, every row with ``amount >= 0`` is a purchase and
returns net into their day's revenue (the same-day rule).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from ccnb import engine
from ccnb._periods import is_purchase
from ccnb.quality import ORDER_RULES, OrderNetting

__all__ = ["ORDER_RULES", "OrderNetting", "large_orders", "mark_purchases"]

_LINE = "_ccnb_line"


def mark_purchases(transactions: ir.Table) -> tuple[ir.Table, OrderNetting]:
    """Add ``purchase`` (bool) to the transactions: the rows that make an order a purchase.

    Parameters
    ----------
    transactions : ibis.Table
        Validated transactions with ``customer_id``, ``date``, ``amount``, ``order_id`` and
        ``product`` (both may be all null).

    Returns
    -------
    transactions : ibis.Table
        The same rows and columns plus ``purchase``, kept in the engine (cached) by customer
        in date order (`ccnb.engine.keep`): ``amount >= 0`` in an order whose lines
        (with the returns matched to it) net to more than zero; rows without an order id:
        ``amount >= 0``.
    netting : OrderNetting
        The rule applied and what it changed.
    """
    t = transactions
    present = t.agg(
        orders=t.order_id.count(),
        products=t.product.count(),
        returns=(t.amount < 0).sum(),
    ).execute()
    returns = int(present["returns"].iloc[0] or 0)
    if not int(present["orders"].iloc[0]):
        marked = _materialised(t.mutate(purchase=t.amount >= 0))
        return marked, OrderNetting("same_day", return_lines=returns)
    by_product = bool(int(present["products"].iloc[0]))
    rule = "order_and_product" if by_product else "order"

    # only the return lines need an identity (to attach each to at most one order): the
    # sold lines keep their own order id. A return is (customer, its number among the
    # customer's returns), numbered within each customer so that no step gathers every
    # return in one place (on Spark a window without groups runs in a single task)
    returned = (
        t.filter(t.amount < 0)
        .mutate(
            **{
                _LINE: ibis.row_number().over(
                    group_by=t.customer_id, order_by=[t.date, t.order_id, t.amount]
                )
            }
        )
        .cache()
    )
    sold = t.filter((t.amount >= 0) & t.order_id.notnull())
    orders = sold.select(sold_customer=sold.customer_id, sold_order=sold.order_id).distinct()
    by_id = returned.join(
        orders,
        (returned.customer_id == orders.sold_customer) & (returned.order_id == orders.sold_order),
    ).select("customer_id", _LINE, order_key=returned.order_id, step=ibis.literal("order_id"))
    matched = by_id
    if by_product:
        rest = returned.anti_join(by_id, ["customer_id", _LINE]).filter(returned.product.notnull())
        candidates = sold.select(
            sold_customer=sold.customer_id,
            sold_product=sold.product,
            sold_order=sold.order_id,
            sold_date=sold.date,
        ).distinct()
        joined = rest.join(
            candidates,
            (rest.customer_id == candidates.sold_customer)
            & (rest.product == candidates.sold_product)
            & (candidates.sold_date <= rest.date),
        )
        latest = ibis.row_number().over(
            group_by=[joined.customer_id, joined[_LINE]],
            order_by=[ibis.desc(joined.sold_date), ibis.desc(joined.sold_order)],
        )
        ranked = joined.mutate(rank=latest)
        by_product_match = ranked.filter(ranked.rank == 0).select(
            "customer_id", _LINE, order_key=ranked.sold_order, step=ibis.literal("product")
        )
        matched = by_id.union(by_product_match)
    matched = matched.rename(matched_customer="customer_id", matched_line=_LINE)
    keyed_returns = returned.left_join(
        matched,
        (returned.customer_id == matched.matched_customer)
        & (returned[_LINE] == matched.matched_line),
    ).select(
        *t.columns,
        order_key=ibis.coalesce(matched.order_key, returned.order_id),
        step=matched.step,
    )
    other_lines = t.filter(t.amount >= 0)
    # kept once, each customer's lines together: the purchase flag and both counts below read
    # it, and on Spark its orders' nets and the result need no further shuffle
    keyed = engine.keep(
        other_lines.select(
            *t.columns, order_key=other_lines.order_id, step=ibis.null("string")
        ).union(keyed_returns),
        grouped_by="customer_id",
    )
    order_net = keyed.amount.sum().over(group_by=[keyed.customer_id, keyed.order_key])
    purchase = (keyed.amount >= 0) & (keyed.order_key.isnull() | (order_net > 0))
    result = _materialised(keyed.select(*t.columns, purchase=purchase))
    net = keyed.group_by(["customer_id", "order_key"]).agg(
        net=keyed.amount.sum(),
        sold=keyed.amount.sum(where=keyed.amount >= 0),
        has_sale=(keyed.amount >= 0).any(),
    )

    steps = keyed.group_by("step").agg(rows=keyed.count()).execute()
    counts = {
        str(step): int(rows)
        for step, rows in zip(steps["step"], steps["rows"], strict=True)
        if isinstance(step, str)
    }
    lost = net.filter(net.has_sale & (net.net <= 0))
    cancelled = lost.agg(orders=lost.count(), value=lost.sold.sum()).execute()
    netting = OrderNetting(
        rule=rule,
        return_lines=returns,
        matched_by_order_id=counts.get("order_id", 0),
        matched_by_product=counts.get("product", 0),
        cancelled_orders=int(cancelled["orders"].fillna(0).iloc[0]),
        cancelled_value=round(float(cancelled["value"].fillna(0.0).iloc[0]), 6),
    )
    keyed.release()  # the engine's copies of every line (memory) go once the result is kept
    returned.release()
    return result, netting


def _materialised(table: ir.Table) -> ir.Table:
    """The table kept in the engine, by customer in date order (every later step reads it)."""
    return engine.keep(table, grouped_by="customer_id", ordered_by=["date"])


def large_orders(transactions: ir.Table, *, multiple: float = 10.0) -> pd.Series:
    """Orders far above the typical one: how many, and their share of the purchases' value.

    An order is a customer's order id (or, without one, a customer's day) of purchase rows;
    its value is the sum of those rows.

    Parameters
    ----------
    transactions : ibis.Table
        Validated transactions with ``purchase`` (see `mark_purchases`).
    multiple : float, default 10.0
        An order above ``multiple`` times the median order value is large.

    Returns
    -------
    pandas.Series
        ``orders``, ``median_order``, ``threshold``, ``large_orders``, ``large_value`` and
        ``value_share`` (of all orders' value; NaN without value).
    """
    if not multiple > 1:
        raise ValueError(f"multiple must be > 1, got {multiple!r}")
    t = transactions.filter(is_purchase(transactions))
    key = ibis.coalesce(t.order_id, t.date.cast("string"))
    per_order = t.group_by([t.customer_id, key.name("order_key")]).agg(value=t.amount.sum())
    typical = per_order.agg(
        orders=per_order.count(), median=per_order.value.median(), total=per_order.value.sum()
    ).execute()
    median = float(typical["median"].fillna(0.0).iloc[0])
    threshold = multiple * median
    large = per_order.filter(per_order.value > threshold)
    found = large.agg(orders=large.count(), value=large.value.sum()).execute()
    total = float(typical["total"].fillna(0.0).iloc[0])
    value = float(found["value"].fillna(0.0).iloc[0])
    return pd.Series(
        {
            "orders": int(typical["orders"].iloc[0]),
            "median_order": median,
            "threshold": threshold,
            "large_orders": int(found["orders"].iloc[0]),
            "large_value": round(value, 6),
            "value_share": value / total if total > 0 else float("nan"),
        }
    )
