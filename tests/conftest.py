import os
from pathlib import Path

import ibis
import ibis.config
import lifetimes.datasets
import pandas as pd
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

# The full configuration (.ci/run's second pass: Spark extra, Java, Chromium) must run every
# test: with CCNB_FULL_SUITE=1 a test that skips fails instead, naming the skip's reason.
FULL_SUITE = os.environ.get("CCNB_FULL_SUITE") == "1"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if FULL_SUITE and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in the full configuration (CCNB_FULL_SUITE=1): {reason}"
    return report


@pytest.fixture(scope="session")
def cdnow_master():
    """CDNOW master as shipped with lifetimes (pandas) and as an engine table."""
    path = Path(lifetimes.datasets.__file__).parent / "CDNOW_master.txt"
    raw = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    frame = pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "date": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "amount": raw["dollar_value"].astype(float),
        }
    )
    engine_frame = frame.assign(
        order_id=pd.Series([None] * len(frame), dtype="string"),
        channel=pd.Series([None] * len(frame), dtype="string"),
    )
    table = ibis.duckdb.connect().create_table("cdnow", ibis.memtable(engine_frame))
    return frame, table.mutate(date=table.date.cast("date"))


class _SparkOptions(ibis.config.Config):
    # Stand-in for the options the PySpark backend registers on import, so that expressions can
    # be compiled to Spark SQL without pyspark (and a JVM) installed.
    treat_nan_as_null: bool = False


@pytest.fixture
def compile_for_pyspark(monkeypatch):
    """Make ``module._execute`` compile each expression for PySpark before running it."""
    monkeypatch.setattr(ibis.options, "pyspark", _SparkOptions())

    def apply(module):
        run = module._execute

        def compile_then_run(expr):
            ibis.to_sql(expr, dialect="pyspark")
            return run(expr)

        monkeypatch.setattr(module, "_execute", compile_then_run)

    return apply
