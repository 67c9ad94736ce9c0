"""What else the customer summary could do: sorted input, fewer passes, other primitives.

Times ``ccnb.summary.customer_summary`` on the 3M-row benchmark table (run_all.py's summary
data) against variants of its query, each run as SQL on the same DuckDB connection:

- the same query on a copy of the table sorted by customer and date (a sorted input);
- distinct order ids counted with ``COUNT(DISTINCT)`` in the per-customer pass instead of the
  aggregate of repeated order lines (another primitive; exact);
- without the order count at all (two passes instead of three: not the same result, the
  bound on what dropping the third pass could give);
- the sort by customer done by DuckDB (``ORDER BY``) instead of pandas.

Every exact variant's result is checked equal to ccnb's before it is timed. Median of 5 runs,
alternated. Usage: ``.venv/bin/python benchmarks/summary_variants.py [--rows 3000000]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import ibis
import pandas as pd
from run_all import engine_table, lifetimes_summary, transactions

import ccnb.summary as summary_module

COLUMNS = ["frequency", "recency", "T", "monetary_value", "orders", "revenue"]


def _query(table, end) -> str:
    """The SQL ccnb runs for the summary (captured from its last step)."""
    captured = {}
    original = summary_module._sorted_frame

    def capture(expression):
        captured["expression"] = expression
        return original(expression)

    summary_module._sorted_frame = capture
    try:
        summary_module.customer_summary(table, observation_end=end)
    finally:
        summary_module._sorted_frame = original
    return str(ibis.to_sql(captured["expression"], dialect="duckdb"))


def _frame(connection, sql: str, *, sort: bool) -> pd.DataFrame:
    frame = connection.sql(sql).to_arrow_table().to_pandas(date_as_object=False)
    return frame.sort_values("customer_id", ignore_index=True) if sort else frame


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.set_index("customer_id")
    repeats = frame["frequency"].where(frame["frequency"] > 0)
    frame["monetary_value"] = (frame["repeat_value"] / repeats).fillna(0.0)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    options = parser.parse_args()
    frame = transactions(options.rows, options.rows // 3)
    end = frame["date"].max().date()
    table = engine_table(frame)
    connection = table._find_backend().con
    sql = _query(table, end)
    name = sql.split('FROM "memory"."main"."')[1].split('"')[0]
    connection.execute(f'CREATE TABLE sorted AS SELECT * FROM "{name}" ORDER BY customer_id, date')
    on_sorted = sql.replace(f'"memory"."main"."{name}"', "sorted")
    per_customer, repeated = sql.split("LEFT OUTER JOIN")
    distinct_orders = (
        f"SELECT customer_id, COUNT(DISTINCT order_id) FILTER (WHERE amount >= 0) AS orders "
        f"FROM \"{name}\" WHERE CAST(date AS DATE) <= DATE '{end}' GROUP BY 1"
    )
    two_passes = per_customer.replace('COALESCE("t9"."repeated_lines", 0)', "0")
    with_distinct = (
        f"SELECT s.* EXCLUDE (orders), d.orders FROM ({two_passes}) AS s "
        f"JOIN ({distinct_orders}) AS d USING (customer_id)"
    )
    ours = summary_module.customer_summary(table, observation_end=end).set_index("customer_id")
    exact = {
        "sorted input": lambda: _frame(connection, on_sorted, sort=True),
        "COUNT(DISTINCT order_id)": lambda: _frame(connection, with_distinct, sort=True),
        "ORDER BY in DuckDB": lambda: _frame(connection, sql + " ORDER BY 1", sort=False),
    }
    for label, run in exact.items():
        result = _finish(run())[COLUMNS]
        # money is rounded to 1e-6 when ccnb's result leaves the engine
        pd.testing.assert_frame_equal(
            result, ours[COLUMNS], check_dtype=False, rtol=1e-6, obj=label
        )
    variants = {
        "ccnb.summary.customer_summary": lambda: summary_module.customer_summary(
            table, observation_end=end
        ),
        **exact,
        "two passes (no order count; not exact)": lambda: _frame(connection, two_passes, sort=True),
        "lifetimes": lambda: lifetimes_summary(frame, end),
    }
    seconds = {label: [] for label in variants}
    for _ in range(5):
        for label, run in variants.items():
            start = time.perf_counter()
            run()
            seconds[label].append(time.perf_counter() - start)
    print(f"customer summary variants, {len(frame):,} rows / {len(ours):,} customers (median of 5)")
    theirs = statistics.median(seconds["lifetimes"])
    for label, times in seconds.items():
        median = statistics.median(times)
        print(f"  {label:<42} {median:6.2f} s   {theirs / median:4.1f}x lifetimes")


if __name__ == "__main__":
    main()
