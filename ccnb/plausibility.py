"""Checks of data that loads but may still be wrong, each a named warning with the fix.

Ids that collide, tables that do not join, amounts off by orders of magnitude.

Definitions in docs/methodology.md, "Data quality".
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from ccnb import engine

__all__ = [
    "AMOUNT_OUTLIER_FACTOR",
    "CUSTOMER_MATCH_MINIMUM",
    "amount_outliers",
    "customer_match",
    "id_collisions",
    "normalise_id",
]

#: a line whose amount is at least this many times the median line's is flagged
AMOUNT_OUTLIER_FACTOR = 1000.0
#: a customers table matching fewer of the transaction customers than this is flagged
CUSTOMER_MATCH_MINIMUM = 0.5

# "00123" -> "123", "17851.0" -> "17851"; ids with letters are left alone
_NUMERIC_ID = r"^0*(\d+?)(?:\.0+)?$"


def normalise_id(column: ir.StringValue) -> ir.StringValue:
    """An id as a number would print it: no leading zeros, no trailing ``.0`` (digits only)."""
    return ibis.cases(
        (column.re_search(_NUMERIC_ID), column.re_extract(_NUMERIC_ID, 1)), else_=column
    )


def id_collisions(transactions: ir.Table) -> str | None:
    """Warn when customer ids differ only by leading zeros or a trailing ``.0``.

    Parameters
    ----------
    transactions : ibis.expr.types.Table
        Validated transactions (``customer_id``).

    Returns
    -------
    str or None
        The warning with counts, an example and the fix; None when no ids collide.
    """
    ids = transactions.select("customer_id").distinct()
    ids = ids.mutate(normalised=normalise_id(ids.customer_id))
    groups = ids.group_by("normalised").agg(
        variants=ids.customer_id.count(), example=ids.customer_id.min(), other=ids.customer_id.max()
    )
    colliding = groups.filter(groups.variants > 1).order_by("normalised").execute()
    if colliding.empty:
        return None
    first = colliding.iloc[0]
    return (
        f"{len(colliding):,} customer ids appear in more than one form that differ only by "
        f"leading zeros or a trailing '.0' (e.g. '{first['example']}' and '{first['other']}'), "
        "so each counts as two customers; if they are the same customer, set "
        "`normalise_ids: true` in the params file"
    )


def customer_match(transactions: ir.Table, customers: pd.DataFrame) -> str | None:
    """Warn when the customers table's ids match few of the transaction customers.

    Returns
    -------
    str or None
        The warning with both match rates and the likely fix; None when at least
        ``CUSTOMER_MATCH_MINIMUM`` of the transaction customers are in the table.
    """
    buyers = pd.Index(engine.distinct_values(transactions, "customer_id"))
    listed = pd.Index(customers["customer_id"].dropna().unique())
    if buyers.empty or listed.empty:
        return None
    found = buyers.isin(listed).mean()
    if found >= CUSTOMER_MATCH_MINIMUM:
        return None
    used = listed.isin(buyers).mean()
    example_buyer, example_listed = buyers[0], listed[0]
    return (
        f"only {found:.0%} of the customers in the transactions are in the customers table "
        f"(and {used:.0%} of its ids in the transactions), so most channels show as "
        f"'unknown'; compare the ids (e.g. '{example_buyer}' and '{example_listed}'): if they "
        "differ by leading zeros or a trailing '.0', set `normalise_ids: true`, else check "
        "the `customers.columns.customer_id` mapping"
    )


def amount_outliers(transactions: ir.Table) -> str | None:
    """Warn about lines whose amount is orders of magnitude above the median line's.

    Returns
    -------
    str or None
        The count, the largest amount and the median; None when no line is that large.
    """
    amount = transactions.amount.abs()
    median = transactions.agg(median=amount.median()).execute()["median"].iloc[0]
    if not median or pd.isna(median):
        return None
    limit = AMOUNT_OUTLIER_FACTOR * float(median)
    flagged = transactions.filter(amount >= limit)
    row = flagged.agg(lines=flagged.count(), largest=flagged.amount.abs().max()).execute().iloc[0]
    if not row["lines"]:
        return None
    return (
        f"{int(row['lines']):,} transaction lines have amounts at least "
        f"{AMOUNT_OUTLIER_FACTOR:,.0f} times the median line ({float(median):,.2f}), up to "
        f"{float(row['largest']):,.2f}: check for a totals line, an amount in cents or a "
        "misplaced decimal separator (`decimal`, `thousands` in the params file)"
    )
