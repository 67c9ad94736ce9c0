"""One prediction of the big client's customers: on the driver, or on Spark's executors.

``run_all.py --only spark-predict`` runs this twice, each in its own process so that each
peak memory is that run's own: ``driver`` reads every customer into pandas and runs
``clv.predict`` (draws to files, as the analysis does above 100,000 customers); ``spark``
keeps the customers in Spark (local[2]) and runs ``clv.partitioned.predict_on_spark``: the
driver reads the distinct purchase patterns and gets the per-group totals back.

Usage: predict_at_scale.py {driver,spark} SUMMARY.parquet MODELS.pickle WORK_DIR RESULT.json
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from pathlib import Path

OPTIONS = dict(
    gross_margin=0.35,
    discount_rate_annual=0.1,
    horizon_months=12,
    time_unit="W",
    n_draws=200,
    seed=0,
)


def on_driver(summary_path: Path, purchases, spend, work: Path) -> dict:
    import pandas as pd

    from ccnb import clv

    summary = pd.read_parquet(summary_path)
    predictions = clv.predict(
        summary, purchases=purchases, spend=spend, draws_folder=work / "draws", **OPTIONS
    )
    equity = clv.customer_equity(predictions)
    groups = clv.clv_by(predictions, by="segment", segments=summary)
    return {"equity": [equity.value, equity.low, equity.high], "groups": len(groups)}


def local_spark():
    """The benchmarks' Spark session: local[2], a 2 GB driver, 8 shuffle partitions."""
    from ccnb import engine
    from ccnb.params import EngineSettings

    return engine.spark_session(
        EngineSettings(
            backend="spark",
            master="local[2]",
            config={"spark.driver.memory": "2g", "spark.sql.shuffle.partitions": "8"},
        )
    )


def on_spark(summary_path: Path, purchases, spend, work: Path) -> dict:
    from ccnb.clv import partitioned

    session = local_spark()
    customers = session.read.parquet(str(summary_path))
    patterns = customers.select("frequency", "recency", "T").distinct().toPandas()
    plan = partitioned.plan_predictions(
        patterns, purchases=purchases, spend=spend, group_by="segment", **OPTIONS
    )
    result = partitioned.predict_on_spark(customers, plan, output=str(work / "predictions"))
    equity = result.customer_equity()
    return {
        "equity": [equity.value, equity.low, equity.high],
        "groups": len(result.groups),
        "patterns": len(patterns),
    }


def record_run(run, arguments: list[Path], result_path: str) -> None:
    """Time ``run(*arguments)`` and write its result, seconds and the process' peak as JSON."""
    start = time.perf_counter()
    result = run(*arguments)
    result["seconds"] = time.perf_counter() - start
    # the Python process' own peak (on Spark: the driver, without the JVM and its workers);
    # VmHWM, not ru_maxrss, which a process started with vfork inherits from its parent
    status = Path("/proc/self/status").read_text().splitlines()
    (peak,) = [line.split()[1] for line in status if line.startswith("VmHWM:")]
    result["python_peak_rss_mb"] = int(peak) / 1024
    Path(result_path).write_text(json.dumps(result))


def run_where(argv: list[str], *, on_driver, on_spark) -> None:
    """A two-way script's command line, ``{driver,spark} INPUT WORK_DIR RESULT.json``: run
    the chosen side on the input and the work folder and record it (:func:`record_run`)."""
    where, source, work, result_path = argv
    run = on_driver if where == "driver" else on_spark
    record_run(run, [Path(source), Path(work)], result_path)


def main(argv: list[str]) -> None:
    where, summary_path, models_path, work, result_path = argv
    purchases, spend = pickle.loads(Path(models_path).read_bytes())
    run = on_driver if where == "driver" else on_spark
    record_run(run, [Path(summary_path), purchases, spend, Path(work)], result_path)


if __name__ == "__main__":
    main(sys.argv[1:])
