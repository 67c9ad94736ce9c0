"""Numbers as a reader sees them: money in the client's currency, shares, counts.

One place for formatting, used by the generated sentences, the styled tables and the chart axes,
so a number reads the same everywhere in a report.
"""

from __future__ import annotations

import math

__all__ = ["count", "currency_symbol", "money", "percent", "signed_percent"]

_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}
_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def currency_symbol(currency: str | None) -> str:
    """The symbol for common ISO codes (EUR -> €), else the code and a space (CHF -> 'CHF ')."""
    if not currency:
        return ""
    return _SYMBOLS.get(currency.upper(), f"{currency.upper()} ")


def _compact(magnitude: float) -> str:
    """Three significant digits with a k/M/B/T suffix: 1250 -> '1.25k', 850 -> '850'."""
    magnitude = float(f"{magnitude:.3g}")
    for threshold, suffix in _SUFFIXES:
        if magnitude >= threshold:
            return f"{magnitude / threshold:.2f}".rstrip("0").rstrip(".") + suffix
    return f"{magnitude:.2f}".rstrip("0").rstrip(".")


def money(value: float, currency: str | None = None, *, compact: bool = False) -> str:
    """Format an amount of money: ``money(1234.5, "EUR")`` -> '€1,234.50'.

    Parameters
    ----------
    value
        The amount.
    currency
        ISO code; common codes get their symbol.
    compact
        Three significant digits with a k/M/B suffix, for chart axes and labels: '€1.25M',
        '€12k', '€350' (neighbouring ticks stay distinct).

    Returns
    -------
    str
        The formatted amount; '–' for a missing value.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    sign = "-" if value < 0 else ""
    body = _compact(abs(value)) if compact else f"{abs(value):,.2f}"
    if not compact and abs(value) >= 1000:
        body = f"{abs(value):,.0f}"
    return f"{sign}{currency_symbol(currency)}{body}"


def percent(share: float, *, digits: int = 0) -> str:
    """Format a share in [0, 1] as a percentage: ``percent(0.256)`` -> '26%'."""
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "–"
    return f"{100 * share:.{digits}f}%"


def signed_percent(share: float, *, digits: int = 0) -> str:
    """A change as a signed percentage: ``signed_percent(0.05)`` -> '+5%'."""
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "–"
    return f"{100 * share:+.{digits}f}%"


def count(value: float) -> str:
    """A count with thousands separators: ``count(12345)`` -> '12,345'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.0f}"
