"""Customers per bin of a per-customer prediction: what the CLV page's histograms draw.

The figures draw these counts (a few dozen bars), never one value per customer, so a base of
any size gives the same small table, and the counts are what an engine would return.
Definitions in docs/methodology.md, "Distributions of P(alive) and residual CLV".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ccnb._checks import require_columns

__all__ = [
    "LOG_RANGE",
    "LOG_SKEW",
    "Histogram",
    "bin_counts",
    "histogram_from_counts",
    "p_alive_edges",
    "p_alive_histogram",
    "rclv_edges",
    "rclv_histogram",
    "rclv_spread",
]

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
    return histogram_from_counts(bin_counts(values, edges, log=log), edges, log=log, below=below)


def histogram_from_counts(
    counts: np.ndarray, edges: np.ndarray, *, log: bool, below: int
) -> Histogram:
    """The `Histogram` of customers counted in ``edges``' bins (`bin_counts`, summed)."""
    bins = pd.DataFrame(
        {"low": edges[:-1], "high": edges[1:], "customers": np.asarray(counts, dtype=np.int64)}
    )
    return Histogram(bins=bins, log=log, below=int(below))


def bin_counts(values: np.ndarray, edges: np.ndarray, *, log: bool) -> np.ndarray:
    """Customers per bin of ``edges``: ``numpy.histogram``'s rule, NaN left out.

    On a log scale the values below the first edge are counted in the first bin. Counts of
    parts of the customers add up to the counts of all of them.
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if log:
        values = np.clip(values, edges[0], None)
    counts, _ = np.histogram(values, bins=edges)
    return counts


def _values(table: pd.DataFrame, column: str, where: str) -> np.ndarray:
    require_columns(table, [column], what=f"the table given to {where}")
    values = table[column].to_numpy(dtype=float)
    return values[~np.isnan(values)]


def p_alive_edges(*, bins: int = 20) -> np.ndarray:
    """Edges of `p_alive_histogram`'s equal-width bins from 0 to 1."""
    return np.linspace(0.0, 1.0, bins + 1)


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
    return _counted(values, p_alive_edges(bins=bins), log=False, below=0)


def rclv_spread(values: np.ndarray) -> dict[str, float]:
    """What `rclv_edges` needs to know of the values (no NaN).

    ``count``, ``min``, ``max``, ``min_positive`` (NaN when none is positive), ``positive``
    (how many are), ``median`` and ``q99`` (``numpy.quantile``'s, linear).
    """
    positive = values[values > 0]
    return {
        "count": len(values),
        "min": float(values.min()),
        "max": float(values.max()),
        "min_positive": float(positive.min()) if len(positive) else np.nan,
        "positive": len(positive),
        "median": float(np.median(values)),
        "q99": float(np.quantile(values, 0.99)),
    }


def rclv_edges(
    spread: Mapping[str, float], *, bins: int = 40, log: bool | None = None
) -> tuple[np.ndarray, bool]:
    """The edges of `rclv_histogram`'s bins, and whether they are log-spaced, from the spread.

    Parameters
    ----------
    spread : mapping
        `rclv_spread` of the values (or the same statistics computed by an engine).
    bins : int, default 40
        Number of bins.
    log : bool, optional
        Log-spaced bins; by default when every value is positive and ``q99`` is more than
        `LOG_SKEW` times the median.

    Returns
    -------
    tuple of numpy.ndarray and bool

    Raises
    ------
    ValueError
        ``log=True`` and no value is positive.
    """
    if log is None:
        log = spread["positive"] == spread["count"] and bool(
            spread["q99"] > LOG_SKEW * spread["median"]
        )
    if not log:
        edges = np.histogram_bin_edges(np.empty(0), bins=bins, range=(spread["min"], spread["max"]))
        return edges, False
    if spread["positive"] == 0:
        raise ValueError("rclv_histogram(log=True) needs positive rclv values")
    high = float(spread["max"])
    low = max(float(spread["min_positive"]), high / LOG_RANGE)
    if low >= high:
        low = high / 10
    return np.geomspace(low, high, bins + 1), True


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
    edges, log = rclv_edges(rclv_spread(values), bins=bins, log=log)
    below = int((values < edges[0]).sum()) if log else 0
    return _counted(values, edges, log=log, below=below)
