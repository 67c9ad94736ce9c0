"""Row accounting of a client's sources: what was read, used and rejected, and why.

Kept apart from ``ccnb.data`` (which loads the sources with Ibis) so that reading a stored
report needs no engine.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["ORDER_RULES", "DataQuality", "OrderNetting", "SourceQuality"]

#: the rule applied, by what the data maps, in a reader's words
ORDER_RULES = {
    "order_and_product": "returns and cancellations matched to their order by order id, else "
    "by product to the customer's latest earlier order holding it",
    "order": "returns and cancellations matched to their order by order id",
    "same_day": "no order ids: returns net into the revenue of their day, and every day "
    "with a purchase line counts as a purchase",
}


@dataclass(frozen=True)
class OrderNetting:
    """What netting returns against their orders did to the purchases.

    Attributes
    ----------
    rule : str
        A key of `ORDER_RULES`.
    return_lines : int
        Rows with a negative amount.
    matched_by_order_id, matched_by_product : int
        Return rows matched to an order, by each step.
    cancelled_orders : int
        Orders with a purchase line whose net value is zero or less: not purchases.
    cancelled_value : float
        The purchase lines' value of those orders (what no longer counts as bought).
    """

    rule: str
    return_lines: int = 0
    matched_by_order_id: int = 0
    matched_by_product: int = 0
    cancelled_orders: int = 0
    cancelled_value: float = 0.0

    @property
    def unmatched_returns(self) -> int:
        """Return rows that match no order: they reduce revenue only."""
        return self.return_lines - self.matched_by_order_id - self.matched_by_product

    def to_dict(self) -> dict:
        """A JSON-ready summary for run.json."""
        return {
            "rule": self.rule,
            "return_lines": self.return_lines,
            "matched_by_order_id": self.matched_by_order_id,
            "matched_by_product": self.matched_by_product,
            "unmatched_returns": self.unmatched_returns,
            "cancelled_orders": self.cancelled_orders,
            "cancelled_value": self.cancelled_value,
        }


@dataclass(frozen=True)
class SourceQuality:
    """Row accounting for one source (transactions, customers or survey).

    For transactions, ``amount_used`` is the net amount of the rows used and
    ``amount_rejected`` the net amount of the excluded rows by reason (rows whose amount
    could not be read count 0); other sources have no amounts. ``warnings`` holds what the
    source's own checks found (``ccnb.plausibility``). With a population filter (params
    ``filter``), ``outside_population`` rows of the file are outside it and not read further:
    the file holds ``rows_read + outside_population`` rows.
    """

    source: str
    file: str
    rows_read: int
    rows_used: int
    rejected: dict[str, int]
    customers: int
    first_date: dt.date | None = None
    last_date: dt.date | None = None
    amount_used: float | None = None
    amount_rejected: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    outside_population: int = 0

    def __post_init__(self) -> None:
        if self.rows_read != self.rows_used + sum(self.rejected.values()):
            raise AssertionError(f"row accounting of {self.source} does not add up: {self}")

    @property
    def rows_rejected(self) -> int:
        """Rows excluded, whatever the reason."""
        return sum(self.rejected.values())

    @property
    def excluded_share(self) -> float:
        """Share of the rows read that were excluded (NaN when no row was read)."""
        return 1 - self.rows_used / self.rows_read if self.rows_read else float("nan")

    def revenue_share(self, reason: str | None = None) -> float:
        """Share of the file's net amount in the excluded rows (of one ``reason``, else all).

        NaN for a source without amounts or when the file's net amount is not positive.
        """
        if self.amount_used is None:
            return float("nan")
        total = self.amount_used + sum(self.amount_rejected.values())
        if total <= 0:
            return float("nan")
        if reason is None:
            return sum(self.amount_rejected.values()) / total
        return self.amount_rejected.get(reason, 0.0) / total


@dataclass(frozen=True)
class DataQuality:
    """Data-quality report of one client: rows read, used and rejected by reason, per source.

    Attributes
    ----------
    sources
        One `SourceQuality` per loaded source, transactions first.
    rejected_rows
        Every excluded row: ``source``, ``row`` (1-based position in the source as read),
        ``reason``, and the row's mapped values as text.
    orders
        How returns were netted against their orders (`OrderNetting`), when the
        transactions were loaded by `ccnb.data.load_client`.
    warnings
        What loads but may still be wrong (ids that collide, a customers table that does
        not match, amounts off by orders of magnitude), each with its fix
        (`ccnb.plausibility`).
    """

    sources: tuple[SourceQuality, ...]
    rejected_rows: pd.DataFrame = field(repr=False)
    orders: OrderNetting | None = None
    warnings: tuple[str, ...] = ()

    @property
    def transactions(self) -> SourceQuality:
        """The transactions source's accounting."""
        return self.sources[0]

    @property
    def survey(self) -> SourceQuality | None:
        """The survey source's accounting; None when no survey was loaded."""
        return next((source for source in self.sources if source.source == "survey"), None)

    @property
    def rows_read(self) -> int:
        """Transaction rows read."""
        return self.transactions.rows_read

    @property
    def rows_used(self) -> int:
        """Transaction rows used."""
        return self.transactions.rows_used

    @property
    def rejected(self) -> dict[str, int]:
        """Transaction rows rejected, by reason."""
        return self.transactions.rejected

    @property
    def excluded_share(self) -> float:
        """Share of the transaction rows read that were excluded."""
        return self.transactions.excluded_share

    def table(self) -> pd.DataFrame:
        """One row per source: file, rows read, used, rejected by reason, dates, customers."""
        records = []
        for quality in self.sources:
            records.append(
                {
                    "source": quality.source,
                    "file": quality.file,
                    "rows_read": quality.rows_read,
                    "rows_used": quality.rows_used,
                    "rows_rejected": sum(quality.rejected.values()),
                    "rejected_by_reason": ", ".join(
                        f"{reason}: {count:,}" for reason, count in sorted(quality.rejected.items())
                    )
                    or "none",
                    "first_date": quality.first_date,
                    "last_date": quality.last_date,
                    "customers": quality.customers,
                }
            )
        return pd.DataFrame.from_records(records)

    def counts(self) -> pd.DataFrame:
        """Tidy counts: ``source``, ``outcome`` ('used' or a rejection reason), ``rows``."""
        records = []
        for quality in self.sources:
            records.append({"source": quality.source, "outcome": "used", "rows": quality.rows_used})
            for reason, count in sorted(quality.rejected.items()):
                records.append({"source": quality.source, "outcome": reason, "rows": count})
        return pd.DataFrame.from_records(records)

    def to_dict(self) -> dict:
        """A JSON-ready summary for run.json."""
        return {
            quality.source: {
                "file": quality.file,
                "rows_read": quality.rows_read,
                "rows_used": quality.rows_used,
                "rejected": dict(sorted(quality.rejected.items())),
                "outside_population": quality.outside_population,
                "customers": quality.customers,
                **(
                    {
                        "amount_used": quality.amount_used,
                        "amount_rejected": dict(sorted(quality.amount_rejected.items())),
                    }
                    if quality.amount_used is not None
                    else {}
                ),
                "first_date": quality.first_date and quality.first_date.isoformat(),
                "last_date": quality.last_date and quality.last_date.isoformat(),
            }
            for quality in self.sources
        }

    def _lines(self) -> list[str]:
        lines = []
        for quality in self.sources:
            rejected = sum(quality.rejected.values())
            span = (
                f", {quality.first_date} to {quality.last_date}"
                if quality.first_date is not None
                else ""
            )
            lines.append(
                f"{quality.source}: {quality.rows_read:,} rows read, {quality.rows_used:,} used, "
                f"{rejected:,} rejected; {quality.customers:,} customers{span}"
            )
            lines.extend(
                f"  - {reason}: {count:,}" for reason, count in sorted(quality.rejected.items())
            )
        return lines

    def __repr__(self) -> str:
        return "DataQuality\n" + "\n".join(self._lines())

    def _repr_html_(self) -> str:
        rows = []
        for quality in self.sources:
            reasons = (
                "<br>".join(
                    f"{html.escape(reason)}: {count:,}"
                    for reason, count in sorted(quality.rejected.items())
                )
                or "none"
            )
            span = (
                f"{quality.first_date} to {quality.last_date}" if quality.first_date else "&ndash;"
            )
            rows.append(
                f"<tr><td>{html.escape(quality.source)}</td><td>{quality.rows_read:,}</td>"
                f"<td>{quality.rows_used:,}</td><td>{reasons}</td><td>{span}</td>"
                f"<td>{quality.customers:,}</td></tr>"
            )
        return (
            '<table class="ccnb-quality"><thead><tr><th>source</th><th>rows read</th>'
            "<th>rows used</th><th>rejected (by reason)</th><th>dates</th><th>customers</th>"
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        )
