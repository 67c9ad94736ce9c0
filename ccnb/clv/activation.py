"""The activation table: one row per customer for the CRM, with the CLV and its decile."""

from __future__ import annotations

import pandas as pd

from ccnb.clv.cuts import _with_groups
from ccnb.clv.results import Predictions

__all__ = ["CRM_COLUMNS", "activation_table"]

#: the activation table's columns, in order (the CLV export's ``clv.csv``)
CRM_COLUMNS = (
    "customer_id",
    "segment",
    "p_alive",
    "p_no_purchase",
    "expected_purchases",
    "expected_spend",
    "rclv",
    "rclv_low",
    "rclv_high",
    "decile",
)


def activation_table(
    predictions: Predictions | pd.DataFrame,
    segments: pd.DataFrame,
    *,
    segment_col: str = "segment",
) -> pd.DataFrame:
    """Per-customer CLV table for CRM activation, highest rCLV first.

    Parameters
    ----------
    predictions : Predictions or pandas.DataFrame
        Output of :func:`predict`, or its per-customer table (``Predictions.table``; on
        Spark :func:`ccnb.clv.partitioned.customer_table_from_partitions`).
    segments : pandas.DataFrame
        ``customer_id`` (column or index) and ``segment_col``.
    segment_col : str
        Segment column in ``segments``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``segment`` (NaN when the customer has none), ``p_alive``,
        ``p_no_purchase``, ``expected_purchases``, ``expected_spend``, ``rclv``, ``rclv_low``,
        ``rclv_high`` (predictive interval: parameters and the customer's own randomness),
        ``decile``; sorted by rclv descending then customer_id, with a fresh RangeIndex
        (write with ``to_csv(index=False)``).
    """
    table = predictions.table if isinstance(predictions, Predictions) else predictions
    frame = _with_groups(table, segment_col, segments, "activation_table")
    frame = frame.rename(columns={segment_col: "segment"})
    table = frame[list(CRM_COLUMNS)].sort_values(["rclv", "customer_id"], ascending=[False, True])
    return table.reset_index(drop=True)
