"""The time windows a report may compare, chosen from the history the data covers.

docs/methodology.md, "Analysis windows": a report compares the latest complete periods the
data supports and nothing else.

- **Comparison windows.** The trailing 12 months to ``observation_end`` and the 12 months
  before them when the data covers both; only the trailing 12 months when it covers one year;
  the whole history (shorter than a year, and said so) otherwise. Never a calendar year the
  data covers a few weeks of.
- **Warm-up.** A transaction export of a business that traded before it starts shows every
  existing customer as "new" on their first purchase in the file. Customers first seen in the
  warm-up period at the start of the data are the *existing base*: they are not acquisitions,
  not a cohort, not counted in new-customer numbers or early repeat. The active base is fully
  observed from the warm-up's end (``base_known_from``) when the warm-up is at least the churn
  window. The default warm-up is the churn window, capped at half the history; a business
  whose first customer is in the data (a new shop, the CDNOW panel) sets it to 0.
- **Churn window against history.** A churn window longer than half the history leaves too
  little time to observe losses; :attr:`AnalysisWindows.churn_window_too_long` flags it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ccnb.formatting import day_label

__all__ = ["AnalysisWindows", "Window", "choose_windows", "date_range_label"]


def date_range_label(start: Any, end: Any) -> str:
    """A date range in words: '2025', 'Jul 2024 – Jun 2025', else '10 Dec 2024 – 9 Dec 2025'.

    Parameters
    ----------
    start, end : date-like
        First and last day of the range (inclusive).

    Returns
    -------
    str
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    whole_months = start.day == 1 and (end + pd.Timedelta(days=1)).day == 1
    if whole_months and start.month == 1 and end.month == 12 and start.year == end.year:
        return f"{start.year}"
    if whole_months and start.to_period("M") == end.to_period("M"):
        return f"{start:%b %Y}"
    if whole_months:
        return f"{start:%b %Y} – {end:%b %Y}"
    return f"{day_label(start)} – {day_label(end)}"


@dataclass(frozen=True)
class Window:
    """A stretch of days a KPI is measured over.

    Attributes
    ----------
    start, end : pandas.Timestamp
        First and last day (inclusive).
    label : str
        The range in words (see `date_range_label`), used as the KPI table's column title.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    label: str

    @property
    def days(self) -> int:
        """Length in days."""
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class AnalysisWindows:
    """The windows chosen for one client (see the module docstring).

    Attributes
    ----------
    data_start, observation_end : pandas.Timestamp
        First day with a transaction and the day everything is measured as of.
    churn_window_days : int
        Days without a purchase after which a customer counts as lost.
    warm_up_days : int
        Days at the start of the data whose first-time customers are the existing base (the
        requested warm-up, capped at half the history).
    warm_up_capped : bool
        The requested warm-up was longer than half the history and was shortened.
    comparison : tuple of Window
        One or two windows, oldest first; two means a year-on-year comparison.
    """

    data_start: pd.Timestamp
    observation_end: pd.Timestamp
    churn_window_days: int
    warm_up_days: int
    warm_up_capped: bool
    comparison: tuple[Window, ...]

    @property
    def history_days(self) -> int:
        """Days from the first transaction to ``observation_end``, both included."""
        return (self.observation_end - self.data_start).days + 1

    @property
    def base_known_from(self) -> pd.Timestamp:
        """First day after the warm-up: customers first seen from it on are acquisitions."""
        return self.data_start + pd.Timedelta(days=self.warm_up_days)

    @property
    def base_fully_observed(self) -> bool:
        """Whether the active base after the warm-up is complete.

        True when the warm-up covers a whole churn window (every customer active after it
        bought inside the data), or when there is no warm-up (the business starts with the
        data).
        """
        return self.warm_up_days == 0 or self.warm_up_days >= self.churn_window_days

    @property
    def churn_measurable_from(self) -> pd.Timestamp:
        """First day from which every loss of the known base is observable.

        A loss happens a churn window after a purchase, so before ``data_start +
        churn_window_days`` the losses of customers who last bought before the data started
        are invisible: a churn rate there would be too low. With no warm-up the business
        starts with the data and nobody can be lost earlier.
        """
        if self.base_fully_observed:
            return self.base_known_from
        return self.data_start + pd.Timedelta(days=self.churn_window_days)

    @property
    def churn_window_too_long(self) -> bool:
        """The churn window is longer than half the history."""
        return self.churn_window_days > self.history_days / 2

    @property
    def year_on_year(self) -> bool:
        """Two full 12-month windows are compared."""
        return len(self.comparison) == 2

    @property
    def last(self) -> Window:
        """The latest comparison window."""
        return self.comparison[-1]


def _window(start: pd.Timestamp, end: pd.Timestamp) -> Window:
    return Window(start=start, end=end, label=date_range_label(start, end))


def choose_windows(
    *,
    data_start: Any,
    observation_end: Any,
    churn_window_days: int,
    warm_up_days: int | None = None,
) -> AnalysisWindows:
    """Choose the comparison windows and the warm-up for a history.

    Parameters
    ----------
    data_start : date-like
        First day with a transaction.
    observation_end : date-like
        Day everything is measured as of (inclusive).
    churn_window_days : int
        Days without a purchase after which a customer counts as lost.
    warm_up_days : int, optional
        Days at the start whose first-time customers are the existing base; default the
        churn window. Capped at half the history.

    Returns
    -------
    AnalysisWindows

    Raises
    ------
    ValueError
        When ``observation_end`` is before ``data_start`` or a day count is negative.
    """
    start = pd.Timestamp(data_start).normalize()
    end = pd.Timestamp(observation_end).normalize()
    if end < start:
        raise ValueError(f"observation_end {end.date()} is before the first transaction")
    if churn_window_days < 1:
        raise ValueError(f"churn_window_days must be positive; got {churn_window_days}")
    requested = churn_window_days if warm_up_days is None else warm_up_days
    if requested < 0:
        raise ValueError(f"warm_up_days must be 0 or more; got {warm_up_days}")
    history_days = (end - start).days + 1
    warm_up = min(requested, history_days // 2)
    last_start = end - pd.DateOffset(years=1) + pd.Timedelta(days=1)
    previous_start = last_start - pd.DateOffset(years=1)
    if start <= previous_start:
        comparison = (
            _window(previous_start, last_start - pd.Timedelta(days=1)),
            _window(last_start, end),
        )
    elif start <= last_start:
        comparison = (_window(last_start, end),)
    else:
        comparison = (_window(start, end),)
    return AnalysisWindows(
        data_start=start,
        observation_end=end,
        churn_window_days=int(churn_window_days),
        warm_up_days=int(warm_up),
        warm_up_capped=warm_up < requested,
        comparison=comparison,
    )
