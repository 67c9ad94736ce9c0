"""Customers per bin of a per-customer prediction: what the CLV page's histograms draw.

The figures draw these counts (a few dozen bars), never one value per customer, so a base of
any size gives the same small table, and the counts are what an engine would return.
Definitions in docs/methodology.md, "Distributions of P(alive) and residual CLV".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ccnb._checks import require_columns

__all__ = ["LOG_RANGE", "LOG_SKEW", "Histogram", "p_alive_histogram", "rclv_histogram"]

#: rCLV goes on a log axis when its 99th percentile is more than this many times its median
LOG_SKEW = 10.0

#: on a log axis the bins span at most this ratio; smaller values join the first bin
LOG_RANGE = 1e4


@dataclass(frozen=True)
class Histogram:
    """Customers per bin of one per-customer value.

    Attributes
    ----------
    bins : pandas.DataFrame
        One row per bin, in order: ``low``, ``high`` (a bin holds ``low <= value < high``;
        the last bin also its ``high``) and ``customers``.
    log : bool
        Whether the bins are evenly spaced on a log scale.
    below : int
        Customers whose value is below the first bin's ``low``, counted in the first bin (on
        a log scale, the values too small to show; they are in ``customers`` too).
    """

    bins: pd.DataFrame
    log: bool
    below: int

    @property
    def customers(self) -> int:
        """Customers counted in all the bins."""
        return int(self.bins["customers"].sum())


def _counted(values: np.ndarray, edges: np.ndarray, *, log: bool, below: int) -> Histogram:
    counts, _ = np.histogram(values, bins=edges)
    bins = pd.DataFrame({"low": edges[:-1], "high": edges[1:], "customers": counts})
    return Histogram(bins=bins, log=log, below=below)


def _values(table: pd.DataFrame, column: str, where: str) -> np.ndarray:
    require_columns(table, [column], what=f"the table given to {where}")
    values = table[column].to_numpy(dtype=float)
    return values[~np.isnan(values)]


def p_alive_histogram(table: pd.DataFrame, *, bins: int = 20) -> Histogram:
    """Customers per equal-width bin of P(alive), from 0% to 100%.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per customer with ``p_alive`` (``Predictions.table``); missing values are
        left out.
    bins : int, default 20
        Number of bins.

    Returns
    -------
    Histogram
    """
    values = _values(table, "p_alive", "p_alive_histogram")
    return _counted(values, np.linspace(0.0, 1.0, bins + 1), log=False, below=0)


def rclv_histogram(table: pd.DataFrame, *, bins: int = 40, log: bool | None = None) -> Histogram:
    """Customers per bin of residual CLV, on a log scale when the values are skewed.

    On a log scale the bins run from the smallest positive value, or from 1 / `LOG_RANGE` of
    the largest when that is higher, to the largest; the customers below the first edge are
    counted in the first bin (``below``).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per customer with ``rclv`` (``Predictions.table``); missing values are left
        out.
    bins : int, default 40
        Number of bins.
    log : bool, optional
        Log-spaced bins; by default when every value is positive and the 99th percentile is
        more than `LOG_SKEW` times the median.

    Returns
    -------
    Histogram

    Raises
    ------
    ValueError
        No customer has a value, or ``log=True`` and none is positive.
    """
    values = _values(table, "rclv", "rclv_histogram")
    if len(values) == 0:
        raise ValueError("rclv_histogram needs at least one customer with an rclv value")
    positive = values[values > 0]
    if log is None:
        log = len(positive) == len(values) and bool(
            np.quantile(values, 0.99) > LOG_SKEW * np.median(values)
        )
    if not log:
        return _counted(values, np.histogram_bin_edges(values, bins=bins), log=False, below=0)
    if len(positive) == 0:
        raise ValueError("rclv_histogram(log=True) needs positive rclv values")
    high = float(positive.max())
    low = max(float(positive.min()), high / LOG_RANGE)
    if low >= high:
        low = high / 10
    below = int((values < low).sum())
    edges = np.geomspace(low, high, bins + 1)
    return _counted(np.clip(values, low, None), edges, log=True, below=below)
