"""Checks of the tables a public function is given: one message everywhere, with a did-you-mean.

Every ccnb function that needs columns says the same thing when one is missing: what lacks
which column, the columns it has, and the closest name (``rCLV`` for ``rclv``).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["did_you_mean", "require_columns", "require_frame", "require_unique_ids"]


def did_you_mean(word: str, options: Sequence[str], *, cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` for the option closest to ``word`` (any case), else ``""``.

    Parameters
    ----------
    word : str
        What was asked for.
    options : sequence of str
        What exists.
    cutoff : float
        Least similarity (0..1, ``difflib``) of a suggestion.

    Returns
    -------
    str
        The suggestion, ready to append to a message.
    """
    by_lower = {str(option).lower(): str(option) for option in options}
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=cutoff)
    return f"; did you mean {by_lower[close[0]]!r}?" if close else ""


def require_frame(table: Any, *, what: str) -> pd.DataFrame:
    """``table`` itself when it is a pandas DataFrame, else a TypeError naming ``what``."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(table).__name__}")
    return table


def require_columns(table: Any, columns: Sequence[str], *, what: str, hint: str = "") -> None:
    """Raise a ValueError when ``table`` (pandas or Ibis) lacks any of ``columns``.

    Parameters
    ----------
    table : pandas.DataFrame or ibis.Table
        The table given.
    columns : sequence of str
        Columns the caller needs.
    what : str
        How the message names the table, e.g. ``"customers"``.
    hint : str, optional
        What to pass instead, appended to the message.
    """
    present = [str(column) for column in table.columns]
    missing = [column for column in columns if column not in present]
    if not missing:
        return
    names = ", ".join(repr(column) for column in missing)
    noun = "column" if len(missing) == 1 else "columns"
    raise ValueError(
        f"{what} is missing {noun} {names}; columns are {present}"
        f"{did_you_mean(missing[0], present)}{f'; {hint}' if hint else ''}"
    )


def require_unique_ids(rows: int, ids: int, *, what: str, hint: str = "") -> None:
    """Raise a ValueError when ``rows`` rows hold only ``ids`` distinct customer ids.

    For tables counted in an engine (Spark's ``count`` and ``countDistinct`` in the pass that
    checks the rest), where the repeated ids themselves are not at hand.

    Parameters
    ----------
    rows, ids : int
        The table's rows and its distinct customer ids.
    what : str
        How the message names the table, e.g. ``"customers"``.
    hint : str, optional
        What to do about it, appended to the message.
    """
    if ids != rows:
        raise ValueError(
            f"{what} must have one row per customer; {rows - ids} rows repeat a customer id"
            f"{f'. {hint}' if hint else ''}"
        )
