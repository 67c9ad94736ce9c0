"""The big client's whole-history fits on Spark: from the collected customers, or from counts.

``run_all.py --only spark-predict`` runs this twice after the segments, each in its own
process so that each peak memory is that run's own, both on Spark local[2]: ``driver``
collects every customer's model inputs to pandas (``toPandas``) and fits BG/NBD and
Gamma-Gamma on them, as the analysis did on Spark before; ``spark`` has Spark count the
customers' distinct patterns (``ccnb.summary.customer_patterns``) and fits on the counts, as
the analysis does now. The fitted parameters must be equal.

Usage: fits_at_scale.py {driver,spark} SUMMARY.parquet WORK_DIR RESULT.json
(run from this folder's scripts: it shares predict_at_scale.py's runner)
"""

from __future__ import annotations

import sys
from pathlib import Path

from predict_at_scale import local_spark, run_where

COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value"]


def on_driver(summary_path: Path, work: Path) -> dict:
    from ccnb import clv

    session = local_spark()
    customers = session.read.parquet(str(summary_path)).select(*COLUMNS).toPandas()
    purchases = clv.fit_purchases(customers, model="bgnbd")
    spend = clv.fit_spend(customers)
    return _result(purchases, spend, rows=len(customers))


def on_spark(summary_path: Path, work: Path) -> dict:
    import ibis

    from ccnb import clv, summary

    connection = ibis.pyspark.connect(local_spark())
    customers = connection.read_parquet(str(summary_path)).select(*COLUMNS)
    purchase_patterns = summary.customer_patterns(customers, columns=["frequency", "recency", "T"])
    spend_patterns = summary.customer_patterns(customers, columns=["frequency", "monetary_value"])
    purchases = clv.fit_purchases(purchase_patterns, model="bgnbd", weights="customers")
    spend = clv.fit_spend(spend_patterns, weights="customers")
    return _result(purchases, spend, rows=len(purchase_patterns) + len(spend_patterns))


def _result(purchases, spend, *, rows: int) -> dict:
    return {
        "rows_to_driver": rows,
        "purchase_params": purchases.params_.tolist(),
        "spend_params": spend.params_.tolist(),
        "spend_excluded": spend.excluded_,
    }


if __name__ == "__main__":
    run_where(sys.argv[1:], on_driver=on_driver, on_spark=on_spark)
