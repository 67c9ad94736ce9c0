"""Tidy cohort grids to wide cohort x age tables (pandas only, re-exported by ccnb.cohorts).

Apart from ``ccnb.cohorts`` so that drawing a stored triangle needs no engine.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["to_triangle"]


def to_triangle(tidy: pd.DataFrame, *, value: str = "retention") -> pd.DataFrame:
    """Pivot a tidy cohort grid to a wide cohort x age table.

    Parameters
    ----------
    tidy : pandas.DataFrame
        Output of :func:`retention_triangle` or :func:`revenue_triangle`.
    value : str
        Column to spread, e.g. ``"retention"``, ``"active"``, ``"revenue_per_customer"`` or
        ``"cumulative_revenue_per_customer"``.

    Returns
    -------
    pandas.DataFrame
        Index ``cohort`` (or ``acquisition_channel``, ``cohort`` when the grid is split by
        channel), columns ``age`` (0, 1, ...), values from ``value`` as float64; NaN where the
        cell is not observable, so the frame is a triangle.
    """
    if value not in tidy:
        raise ValueError(f"column {value!r} not in the tidy grid; columns are {list(tidy)}")
    index = [column for column in ("acquisition_channel", "cohort") if column in tidy]
    wide = tidy.pivot(index=index, columns="age", values=value).astype("float64")
    return wide.sort_index().sort_index(axis="columns")
