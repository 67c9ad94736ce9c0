"""Numbers as a reader sees them: money in the client's currency, shares, counts.

One place for formatting, used by the generated sentences, the styled tables and the chart axes,
so a number reads the same everywhere in a report.
"""

from __future__ import annotations

import math
import string
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

__all__ = [
    "MONEY_DECIMALS",
    "PERCENT_DECIMALS",
    "count",
    "currency_symbol",
    "day_label",
    "escape_md",
    "in_words",
    "money",
    "month_name",
    "percent",
    "period_label",
    "signed_percent",
]

MONEY_DECIMALS = 6
"""Money sums are rounded to a millionth of the currency unit when they leave the engine
(`ccnb.summary`), and before an amount is rounded for display (:func:`money`)."""

#: a percentage is settled to this many decimals before it is rounded for display
PERCENT_DECIMALS = 9


def _half_up(value: float, places: int, *, settle: int) -> Decimal:
    """``value`` settled to ``settle`` decimals, then rounded half away from zero to ``places``.

    As Excel's ROUND and its display do, whatever the float's binary digits (2.675 is stored
    just below, 0.125 exactly); the settling makes a sum added in another order round alike.
    """
    settled = Decimal(repr(round(value, settle)))
    return settled.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


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
    """Format an amount of money: ``money(12.345, "EUR")`` -> '€12.35'.

    From 1,000 in whole units: ``money(1234.5, "EUR")`` -> '€1,235'. A half rounds away
    from zero, as Excel's ROUND does, after the amount is settled to `MONEY_DECIMALS` (so
    a sum added in another order shows the same).

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
        The formatted amount; '–' for a missing value. A negative amount that rounds to zero
        shows without its sign.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    # settled to a millionth first: a sum of cents that is exactly on a half (17,742.50) is
    # shown the same whichever order the engine added it in (17,742.500000000004 or
    # 17,742.499999999996 would round apart); then a half rounds up, as Excel's ROUND does
    # with the exports' unrounded values, whatever the float's binary digits (2.675)
    amount = abs(float(value))
    if compact:
        body = _compact(round(amount, MONEY_DECIMALS))
    elif not math.isfinite(amount):
        body = f"{amount:,.2f}"
    else:
        shown = _half_up(amount, 2, settle=MONEY_DECIMALS)
        if shown >= 1000:  # whole units from 1,000
            shown = _half_up(amount, 0, settle=MONEY_DECIMALS)
        body = f"{shown:,}"
    # an amount that rounds to nothing has no sign: '€0.00', not '-€0.00'
    sign = "-" if value < 0 and any(digit in body for digit in "123456789") else ""
    return f"{sign}{currency_symbol(currency)}{body}"


def percent(share: float, *, digits: int = 0) -> str:
    """Format a share in [0, 1] as a percentage: ``percent(0.256)`` -> '26%'.

    A half rounds away from zero, as Excel shows a percentage (``percent(0.125)`` -> '13%'),
    after the percentage is settled to `PERCENT_DECIMALS`. A small negative share that
    rounds to zero shows as '0%', not '-0%'.
    """
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "–"
    value = 100 * float(share)
    if not math.isfinite(value):
        return f"{value:.{digits}f}%"
    shown = _half_up(value, digits, settle=PERCENT_DECIMALS)
    return f"{abs(shown) if shown == 0 else shown}%"


def signed_percent(share: float, *, digits: int = 0) -> str:
    """A change as a signed percentage: ``signed_percent(0.05)`` -> '+5%'.

    A change that rounds to zero gets up to two more decimals rather than read '-0%' (an ROI
    of -0.3% is a loss: '-0.3%'); exactly zero, or under 0.005 points, is '0%'. Halves round
    away from zero, as in :func:`percent`.
    """
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "–"
    value = 100 * float(share)
    if not math.isfinite(value):
        return f"{value:+.{digits}f}%"
    for places in (digits, digits + 1, digits + 2):
        shown = _half_up(value, places, settle=PERCENT_DECIMALS)
        if shown != 0:
            return f"{shown:+}%"
    return f"{0:.{digits}f}%"


def count(value: float, noun: str | None = None) -> str:
    """A count with thousands separators, with its noun in the right number if given.

    ``count(12345)`` -> '12,345'; ``count(1, "customer")`` -> '1 customer';
    ``count(2, "customer")`` -> '2 customers' (the plural adds an s).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:,.0f}"
    if noun is None:
        return text
    return f"{text} {noun if text == '1' else noun + 's'}"


# Every ASCII punctuation character can start Markdown or HTML syntax somewhere (`*`, `_`, `#`,
# `[`, `<`, `|`, `$` for math, `1.` for lists, ...): as numeric character references they are
# shown as themselves and never parsed.
_MARKDOWN_ACTIVE = frozenset(string.punctuation)


def escape_md(value: object) -> str:
    """Make client text safe to put into Markdown shown with ``IPython.display.Markdown``.

    Markdown outputs are rendered as HTML, so a segment or customer name such as
    ``<script>alert(1)</script>`` or ``**Gold**`` would become markup. Every ASCII punctuation
    character becomes a numeric character reference (shown as itself, never parsed) and
    whitespace runs, newlines included, become one space, so the text cannot start a heading,
    list or code block either. Use it for text inside a sentence, a heading or a table cell,
    not inside backtick code spans.

    Parameters
    ----------
    value
        Any value; converted with ``str``.

    Returns
    -------
    str
        Markdown source that renders as exactly the original text.

    Examples
    --------
    >>> escape_md("<b>Gold</b> & *VIP*")
    '&#60;b&#62;Gold&#60;&#47;b&#62; &#38; &#42;VIP&#42;'
    """
    text = " ".join(str(value).split())
    return "".join(f"&#{ord(char)};" if char in _MARKDOWN_ACTIVE else char for char in text)


def day_label(day) -> str:
    """A day as sentences and legends write it: '9 Dec 2025'.

    Parameters
    ----------
    day : date-like
        The day.

    Returns
    -------
    str
    """
    stamp = pd.Timestamp(day)
    return f"{stamp.day} {stamp:%b %Y}"


def period_label(start, period: str) -> str:
    """A calendar period as a reader names it, from its first day: Jan 2025, Q1 2025, 2025.

    Parameters
    ----------
    start : date-like
        The period's first day.
    period : {"M", "Q", "Y"}
        Month, quarter or year.

    Returns
    -------
    str
        The same label in sentences, tables and chart ticks.
    """
    stamp = pd.Timestamp(start)
    if period == "Y":
        return f"{stamp.year}"
    if period == "Q":
        return f"Q{stamp.quarter} {stamp.year}"
    if period == "M":
        return stamp.strftime("%b %Y")
    raise ValueError(f"period must be 'M', 'Q' or 'Y', got {period!r}")


_SMALL_NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def in_words(value: int, *, zero: str = "no") -> str:
    """A count as a sentence says it: small ones in words ("four"), larger ones in digits.

    Parameters
    ----------
    value : int
        The count.
    zero : str, default "no"
        The word for 0 ("no cohorts", or "none" in "in none of them").

    Returns
    -------
    str
        ``zero`` for 0, "one" to "nine", else the number with thousands separators.
    """
    value = int(value)
    if value == 0:
        return zero
    return _SMALL_NUMBERS[value - 1] if 0 < value <= len(_SMALL_NUMBERS) else f"{value:,}"


_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def month_name(month: int) -> str:
    """The English name of a calendar month, 1 -> "January" (whatever the machine's locale)."""
    return _MONTH_NAMES[int(month) - 1]
