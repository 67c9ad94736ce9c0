"""Tests for the Spark engine: every transaction-level table equals DuckDB's, on the demo and CDNOW.

One local Spark session serves the whole module (starting the JVM takes seconds). Without PySpark
or Java the Spark tests skip, saying which is missing; with ``CCNB_FULL_SUITE=1`` (the full
configuration of ``.ci/run``) every skip is a failure (``tests/conftest.py``).
"""

import datetime as dt
import importlib.util
import os
import shutil

import lifetimes.datasets
import numpy as np
import pandas as pd
import pytest

from ccnb import (
    audit,
    churn,
    clv,
    cohorts,
    customer_sample,
    data,
    engine,
    kpi,
    load_params,
    order_statistics,
    partitioned_segments,
    report,
    summary,
    table_files,
)
from ccnb.batch import exports
from ccnb.clv import histograms, partitioned, partitioned_summary
from ccnb.clv.activation import CRM_COLUMNS
from ccnb.clv.cuts import top_decile_share
from ccnb.clv.prediction import _deciles
from ccnb.params import EngineSettings, Params, ParamsError
from ccnb.windows import choose_windows

pytestmark = [
    # PySpark 4.0's toPandas calls astype(copy=False), deprecated in pandas 3.
    pytest.mark.filterwarnings(
        "ignore:The copy keyword is deprecated:pandas.errors.Pandas4Warning:pyspark"
    ),
    # PySpark leaves the socket of a collected result to the garbage collector.
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
]

PARAMS = {"demo": "params/demo.yaml", "cdnow": "params/cdnow.yaml"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "PySpark is not installed (pip install 'ccnb[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (apt-get install openjdk-17-jre-headless)"
    return None


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    """An Ibis connection to a local Spark session, shared by the module."""
    missing = _spark_missing()
    if missing:
        pytest.skip(missing)
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    settings = EngineSettings(
        backend="spark",
        master="local[2]",
        config={
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.ui.enabled": "false",
            "spark.sql.warehouse.dir": str(warehouse),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse}",
        },
    )
    connection = engine.connect(settings)
    yield connection
    connection.disconnect()


@pytest.fixture(scope="module", params=sorted(PARAMS))
def both(request, spark) -> tuple[Params, data.ClientData, data.ClientData]:
    """The params and the client loaded on Spark and on DuckDB."""
    params = load_params(os.path.join(ROOT, PARAMS[request.param]))
    return params, data.load_client(params, connection=spark), data.load_client(params)


def _same(on_spark: pd.DataFrame, on_duckdb: pd.DataFrame) -> None:
    # Aggregates of floats may be summed in another order: equal up to rounding.
    pd.testing.assert_frame_equal(on_spark, on_duckdb, check_exact=False, rtol=1e-9)


# --- settings and errors (no Spark needed) --------------------------------------------------


def test_spark_settings_are_validated():
    settings = EngineSettings(backend="spark", config={"spark.ui.enabled": False, "x": 2})
    assert settings.config == {"spark.ui.enabled": "false", "x": "2"}
    with pytest.raises(ValueError, match="set `backend: spark`"):
        EngineSettings(master="local[2]")
    with pytest.raises(ValueError, match="`work_dir` are Spark settings"):
        EngineSettings(work_dir="s3a://bucket/work")
    with pytest.raises(ValueError, match="`database` is a DuckDB file"):
        EngineSettings(backend="spark", database="sales.duckdb")
    with pytest.raises(ValueError, match="`memory_limit` is a DuckDB setting"):
        EngineSettings(backend="spark", memory_limit="4GB")


def test_demo_spark_params_are_the_demo_on_spark():
    on_spark = load_params(os.path.join(ROOT, "params/demo-spark.yaml"))
    on_duckdb = load_params(os.path.join(ROOT, "params/demo.yaml"))
    assert on_spark.engine.backend == "spark"
    assert on_spark.engine.master == "local[2]"
    differs = {"engine", "slug", "source_file"}
    assert on_spark.model_dump(exclude=differs) == on_duckdb.model_dump(exclude=differs)


def test_a_source_may_be_an_engine_table(tmp_path):
    params_file = tmp_path / "lake.yaml"
    params_file.write_text(
        "client: Lake\nengine: {backend: spark}\ntransactions: {table: lake.sales}\n"
    )
    params = load_params(params_file)
    assert params.transactions.path is None
    assert params.transactions.table == "lake.sales"
    params_file.write_text("client: Lake\ntransactions: {sheet: x}\n")
    with pytest.raises(ParamsError, match="`path`.*or a `table`"):
        load_params(params_file)


def test_spark_without_pyspark_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "pyspark" else real(name, *args),
    )
    with pytest.raises(engine.EngineError, match=r"pip install 'ccnb\[spark\]'"):
        engine.connect(EngineSettings(backend="spark"))


def test_spark_whose_ibis_backend_fails_to_load_names_the_extra(monkeypatch):
    # A fresh machine without the extra: Ibis raises its own ImportError when the backend is
    # first accessed. Whatever the state of pyspark, the user gets ccnb's message.
    monkeypatch.setattr(engine, "spark_session", lambda settings: object())

    class _NoBackend:
        def __getattr__(self, name):
            if name == "pyspark":
                raise ImportError(
                    "Failed to import the pyspark backend due to missing dependencies"
                )
            return getattr(engine.ibis, name)

    monkeypatch.setattr(engine, "ibis", _NoBackend())
    with pytest.raises(engine.EngineError, match=r"pip install 'ccnb\[spark\]'.*Java 17"):
        engine.connect(EngineSettings(backend="spark"))


def test_spark_without_java_names_java(monkeypatch):
    pytest.importorskip("pyspark", reason="the Java check runs after PySpark imports")
    from pyspark.sql import SparkSession

    monkeypatch.setattr(SparkSession, "getActiveSession", staticmethod(lambda: None))
    monkeypatch.setattr(engine.shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(engine.EngineError, match="Java is not installed.*openjdk-17"):
        engine.spark_session(EngineSettings(backend="spark"))


@pytest.mark.parametrize(
    ("strftime", "pattern"),
    [
        ("%d/%m/%Y", "d/M/yyyy"),
        ("%Y%m%d", "yyyyMd"),
        ("%d.%m.%y %H:%M", "d.M.yy H:m"),
        ("%Y-%m-%dT%H:%M:%S", "yyyy-M-d'T'H:m:s"),
        ("%d %b %Y", "d MMM yyyy"),
    ],
)
def test_strftime_formats_translate_to_spark_patterns(strftime, pattern):
    assert engine.spark_date_pattern(strftime) == pattern


def test_a_strftime_directive_without_spark_equivalent_is_named():
    with pytest.raises(ValueError, match="%U has no Spark equivalent"):
        engine.spark_date_pattern("%Y-%U")


# --- the same numbers on both engines -------------------------------------------------------


def test_data_quality_is_the_same(both):
    _, on_spark, on_duckdb = both
    assert on_spark.connection.name == "pyspark"
    assert on_spark.quality.to_dict() == on_duckdb.quality.to_dict()
    pd.testing.assert_frame_equal(on_spark.quality.rejected_rows, on_duckdb.quality.rejected_rows)
    assert on_spark.observation_end == on_duckdb.observation_end
    for table in ("customers", "survey"):
        if getattr(on_duckdb, table) is None:
            assert getattr(on_spark, table) is None
        else:
            pd.testing.assert_frame_equal(getattr(on_spark, table), getattr(on_duckdb, table))


def test_validated_transactions_are_the_same(both):
    _, on_spark, on_duckdb = both
    order = ["customer_id", "date", "amount", "order_id"]
    rows = [
        client.transactions.execute().sort_values(order, ignore_index=True)
        for client in (on_spark, on_duckdb)
    ]
    assert len(rows[1]) == on_duckdb.quality.rows_used
    _same(*rows)


def test_the_validated_rows_are_kept_with_each_customer_in_one_partition(both):
    """Per-customer groupings and windows on the kept rows read them where they are."""
    _, on_spark, _ = both
    tx = on_spark.transactions
    per_customer = tx.group_by("customer_id").agg(rows=tx.count(), revenue=tx.amount.sum())
    per_order = tx.group_by(["customer_id", "order_id"]).agg(rows=tx.count())
    first_date = tx.mutate(first=tx.date.min().over(group_by="customer_id"))
    for table in (per_customer, per_order, first_date):
        frame = engine.spark_frame(table, connection=on_spark.connection)
        plan = frame._jdf.queryExecution().executedPlan().toString()
        # The printed plan goes on into the cached relation's own plan (which did shuffle,
        # once, when the rows were kept): only the steps above the cache scan are this query's.
        this_query, cached = plan.split("InMemoryRelation", 1)
        assert "InMemoryTableScan" in this_query
        assert "Exchange" not in this_query
        assert "Exchange hashpartitioning(customer_id" in cached


@pytest.mark.parametrize(("time_unit", "bucket"), [("W", "day"), ("M", "period")])
def test_customer_summary_is_the_same(both, time_unit, bucket):
    params, on_spark, on_duckdb = both
    summaries = [
        summary.customer_summary(
            client.transactions,
            observation_end=client.observation_end,
            time_unit=time_unit,
            bucket=bucket,
            customers=client.customers,
        )
        for client in (on_spark, on_duckdb)
    ]
    assert len(summaries[1]) == on_duckdb.quality.transactions.customers
    # Money sums are settled in ccnb.summary, so the per-customer table is exactly equal: the
    # models, CLV and exports computed from it are then equal on both engines too.
    pd.testing.assert_frame_equal(*summaries, check_exact=True)


def test_calibration_holdout_is_the_same(both):
    params, on_spark, on_duckdb = both
    splits = [
        summary.calibration_holdout(
            client.transactions,
            calibration_end=params.calibration_end,
            observation_end=client.observation_end,
            time_unit=params.time_unit,
        )
        for client in (on_spark, on_duckdb)
    ]
    assert splits[1]["frequency_holdout"].sum() > 0
    pd.testing.assert_frame_equal(*splits, check_exact=True)
    tracking = [
        summary.repeat_purchases_by_period(
            client.transactions,
            calibration_end=params.calibration_end,
            observation_end=client.observation_end,
            time_unit=params.time_unit,
        )
        for client in (on_spark, on_duckdb)
    ]
    pd.testing.assert_frame_equal(*tracking)
    assert tracking[0].attrs == tracking[1].attrs


def test_the_validation_sample_is_the_same_customers(both):
    params, on_spark, on_duckdb = both
    samples, calibrations = [], []
    for client in (on_spark, on_duckdb):
        bought = summary.calibration_purchases(
            client.transactions, calibration_end=params.calibration_end
        )
        sample = customer_sample.plan_sample(bought, at_most=1_000, seed=params.seed)
        samples.append(sample)
        calibrations.append(
            summary.calibration_holdout(
                sample.rows_in(client.transactions),
                calibration_end=params.calibration_end,
                observation_end=client.observation_end,
                time_unit=params.time_unit,
            )
        )
    assert samples[0] == samples[1] and not samples[0].is_whole
    assert len(calibrations[0]) == samples[0].sampled
    pd.testing.assert_frame_equal(*calibrations, check_exact=True)


def _cohort_tables(client: data.ClientData, params: Params) -> dict[str, pd.DataFrame]:
    tx, end = client.transactions, client.observation_end
    tables = {
        "assign_cohorts": cohorts.assign_cohorts(tx, observation_end=end),
        "retention_triangle": cohorts.retention_triangle(tx, observation_end=end),
        "revenue_triangle": cohorts.revenue_triangle(tx, observation_end=end, period="Q"),
        "seasonal_cohorts": cohorts.seasonal_cohorts(
            tx, observation_end=end, season_months=(1, 2, 3)
        ),
        "layer_cake": cohorts.layer_cake(tx, observation_end=end),
    }
    if client.customers is not None:
        tables["cohort_by_channel"] = cohorts.cohort_by_channel(
            tx, client.customers, observation_end=end
        )
    return tables


def test_cohort_tables_are_the_same(both):
    params, on_spark, on_duckdb = both
    spark_tables = _cohort_tables(on_spark, params)
    duckdb_tables = _cohort_tables(on_duckdb, params)
    assert spark_tables.keys() == duckdb_tables.keys()
    for name, table in duckdb_tables.items():
        assert not table.empty, name
        _same(spark_tables[name], table)


def _churn_tables(client: data.ClientData, params: Params) -> dict[str, pd.DataFrame]:
    tx, end = client.transactions, client.observation_end
    activity = churn.customer_activity(
        tx, observation_end=end, churn_window_days=params.churn_window_days
    )
    windows = choose_windows(
        data_start=client.quality.transactions.first_date,
        observation_end=end,
        churn_window_days=params.churn_window_days,
        warm_up_days=params.warm_up_days,
    )
    tables = {
        "spells": activity.spells,
        "daily_revenue": activity.daily_revenue,
        "customer_flow": churn.customer_flow(activity, windows=windows),
        "early_repeat_rate": churn.early_repeat_rate(
            tx, observation_end=end, early_repeat_days=params.early_repeat_days
        ),
        "kpi_overview": kpi.kpi_overview(
            tx,
            windows=windows,
            activity=activity,
            early_repeat_days=params.early_repeat_days,
            survey=client.survey,
        ),
    }
    if client.customers is not None:
        tables["early_repeat_by_channel"] = churn.early_repeat_rate(
            tx,
            observation_end=end,
            early_repeat_days=params.early_repeat_days,
            by="channel",
            customers=client.customers,
        )
    return tables


def test_churn_and_kpi_tables_are_the_same(both):
    params, on_spark, on_duckdb = both
    spark_tables = _churn_tables(on_spark, params)
    duckdb_tables = _churn_tables(on_duckdb, params)
    for name, table in duckdb_tables.items():
        assert not table.empty, name
        _same(spark_tables[name], table)


def _audit_tables(client: data.ClientData, params: Params) -> dict[str, pd.DataFrame]:
    tx, end = client.transactions, client.observation_end
    windows = choose_windows(
        data_start=client.quality.transactions.first_date,
        observation_end=end,
        churn_window_days=params.churn_window_days,
        warm_up_days=params.warm_up_days,
    )
    current = windows.last
    differences = audit.customer_differences(
        tx, start=current.start, end=current.end, gross_margin=params.gross_margin
    )
    scalars = ["gini", "top_10_share", "top_20_share", "one_time_share", "buyers"]
    tables = {
        "deciles": differences.deciles,
        "lorenz": differences.lorenz,
        "differences": pd.DataFrame(
            [[getattr(differences, name) for name in scalars]], columns=scalars
        ).assign(orders=[differences.orders.tolist()]),
        "layers": audit.base_health(tx, start=current.start, end=current.end).layers,
        "cohorts": audit.cohort_evolution(tx, observation_end=end),
        "second": audit.second_purchases(tx, observation_end=end, customers=client.customers),
        "second_counts": audit.second_purchase_counts(
            tx, observation_end=end, customers=client.customers
        ),
    }
    if len(windows.comparison) == 2:
        previous = windows.comparison[0]
        tables["bridge"] = audit.revenue_bridge(
            tx, previous=(previous.start, previous.end), current=(current.start, current.end)
        ).bridge
    if params.transactions.columns.category is not None:
        tables["categories"] = audit.product_lens(tx, observation_end=end).categories
    return tables


def test_audit_tables_are_the_same(both):
    params, on_spark, on_duckdb = both
    spark_tables = _audit_tables(on_spark, params)
    duckdb_tables = _audit_tables(on_duckdb, params)
    assert spark_tables.keys() == duckdb_tables.keys()
    for name, table in duckdb_tables.items():
        assert not table.empty, name
        _same(spark_tables[name], table)


# --- reading sources on Spark ---------------------------------------------------------------

CSV = """order,customer,day,total
1,A,03/02/2024,"1,200.50"
2,B,4/2/2024,(15.00)
3,,05/02/2024,9.99
4,C,31/02/2024,10
5,C,06/02/2024,EUR 7.5
"""


def _client_on_both(spark, params_file) -> tuple[data.ClientData, data.ClientData]:
    params = load_params(params_file)
    return data.load_client(params, connection=spark), data.load_client(params)


def test_a_csv_with_a_date_format_reads_the_same(spark, tmp_path):
    (tmp_path / "sales.csv").write_text(CSV)
    params_file = tmp_path / "shop.yaml"
    params_file.write_text(
        "client: Shop\ntransactions:\n  path: sales.csv\n  date_format: '%d/%m/%Y'\n"
        "  columns: {customer_id: customer, date: day, amount: total, order_id: order}\n"
    )
    on_spark, on_duckdb = _client_on_both(spark, params_file)
    assert on_duckdb.quality.rejected == {"bad_date": 1, "missing_customer_id": 1}
    assert on_spark.quality.to_dict() == on_duckdb.quality.to_dict()
    pd.testing.assert_frame_equal(on_spark.quality.rejected_rows, on_duckdb.quality.rejected_rows)
    frames = [c.transactions.order_by("order_id").execute() for c in (on_spark, on_duckdb)]
    _same(*frames)
    assert frames[0]["amount"].tolist() == [1200.5, -15.0, 7.5]
    days = pd.to_datetime(frames[0]["date"]).dt.date.tolist()
    assert days == [dt.date(2024, 2, 3), dt.date(2024, 2, 4), dt.date(2024, 2, 6)]


def test_parquet_and_catalog_tables_read_the_same(spark, tmp_path):
    frame = pd.DataFrame(
        {
            "customer_id": ["A", "A", "B", None],
            "date": pd.to_datetime(["2024-01-05", "2024-03-01", "2024-02-10", "2024-02-11"]),
            "amount": [10.0, 20.0, 5.0, 1.0],
        }
    )
    frame.to_parquet(tmp_path / "sales.parquet")
    params_file = tmp_path / "lake.yaml"
    params_file.write_text("client: Lake\ntransactions: {path: sales.parquet}\n")
    on_spark, on_duckdb = _client_on_both(spark, params_file)
    assert on_spark.quality.to_dict() == on_duckdb.quality.to_dict()
    assert on_spark.quality.rejected == {"missing_customer_id": 1}

    spark._session.read.parquet(str(tmp_path / "sales.parquet")).createOrReplaceTempView("sales")
    params = load_params(params_file, transactions={"path": None, "table": "sales"})
    from_catalog = data.load_client(params, connection=spark)
    assert from_catalog.quality.transactions.file == "table sales"
    assert from_catalog.quality.rows_used == 3
    _same(
        from_catalog.transactions.execute().sort_values(["customer_id", "date"], ignore_index=True),
        on_duckdb.transactions.execute().sort_values(["customer_id", "date"], ignore_index=True),
    )


def test_engine_reads_keep_the_source_row_order(spark, tmp_path):
    frame = pd.DataFrame({"value": [str(n) for n in range(2000, 0, -1)]})
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    session = spark._session
    # small splits: the file is read in several partitions, whose rows number on from the last
    session.conf.set("spark.sql.files.maxPartitionBytes", "2k")
    session.conf.set("spark.sql.files.openCostInBytes", "0")
    try:
        raw = engine.read_table(spark, str(path), name="rows")
        partitions = engine.spark_frame(raw, connection=spark).rdd.getNumPartitions()
        ordered = engine.with_row_positions(raw, name="row", connection=spark).execute()
    finally:
        session.conf.unset("spark.sql.files.maxPartitionBytes")
        session.conf.unset("spark.sql.files.openCostInBytes")
    assert partitions > 3
    ordered = ordered.sort_values("row", ignore_index=True)
    assert ordered["row"].tolist() == list(range(2000))
    assert ordered["value"].tolist() == frame["value"].tolist()


def test_returns_net_against_their_orders_the_same(spark, tmp_path):
    """The wholesaler's cancellations (tests/test_orders.py) netted on Spark as on DuckDB."""
    from conftest import write_wholesaler_export

    params_file = write_wholesaler_export(tmp_path)
    on_spark, on_duckdb = _client_on_both(spark, params_file)
    assert on_spark.quality.orders == on_duckdb.quality.orders
    assert on_duckdb.quality.orders.cancelled_orders == 2
    assert on_spark.quality.to_dict() == on_duckdb.quality.to_dict()
    order = ["customer_id", "date", "order_id", "product", "amount"]
    frames = [
        c.transactions.execute().sort_values(order, ignore_index=True)
        for c in (on_spark, on_duckdb)
    ]
    _same(*frames)
    end = on_duckdb.observation_end
    summaries = [
        summary.customer_summary(c.transactions, observation_end=end) for c in (on_spark, on_duckdb)
    ]
    _same(*summaries)


def test_nanosecond_parquet_on_spark_says_how_to_write_it(spark, tmp_path):
    """pandas writes nanosecond timestamps, which Spark cannot read: the error says the fix."""
    path = tmp_path / "export.parquet"
    pd.DataFrame(
        {
            "customer_id": ["a"],
            "date": pd.to_datetime(["2024-01-02"]).as_unit("ns"),
            "amount": [9.5],
        }
    ).to_parquet(path, index=False)
    with pytest.raises(engine.EngineError, match="coerce_timestamps='us'"):
        engine.read_table(spark, str(path), name="nanos")


@pytest.fixture(scope="module")
def cdnow_fitted():
    """CDNOW's summary (lifetimes' own) with a segment, and its BG/NBD and Gamma-Gamma fits."""
    summary = lifetimes.datasets.load_cdnow_summary_data_with_monetary_value().reset_index()
    summary["customer_id"] = summary["customer_id"].astype(str)
    summary["segment"] = np.where(summary["frequency"] > 0, "repeat", "one-time")
    return summary, clv.fit_purchases(summary, model="bgnbd"), clv.fit_spend(summary)


def _one_by_one(spark, summary: pd.DataFrame, plan, *, partitions: int):
    """The customers' table and the combined totals of Spark's partitions run in memory."""
    which = (
        spark._session.createDataFrame(summary[["customer_id"]])
        .select("customer_id", partitioned.spark_partition_of_customer(partitions).alias("part"))
        .toPandas()
    )
    summary = summary.merge(which, on="customer_id")
    results = [
        partitioned.predict_partition(summary[summary["part"] == k], plan, stream=k)
        for k in range(partitions)
    ]
    table = pd.concat([table for table, _ in results]).sort_values("customer_id")
    combined = partitioned.combine_partitions(
        plan,
        pd.concat([totals for _, totals in results]),
        top_decile_share=top_decile_share(table["rclv"]),
    )
    return table.reset_index(drop=True), combined


def _written_customers(output: str, columns) -> pd.DataFrame:
    """The customers' table the executors wrote, in customer order, without all-empty columns."""
    written = pd.read_parquet(os.path.join(output, "kind=customer"))
    written = written.sort_values("customer_id", ignore_index=True)
    return written[columns].dropna(axis=1, how="all")


def test_partitioned_predictions_on_spark_equal_the_partitions_run_one_by_one(
    spark, tmp_path, cdnow_fitted
):
    """CDNOW's summary (lifetimes' own) predicted by the executors; the driver gets totals only."""
    summary, purchases, spend = cdnow_fitted
    plan = partitioned.plan_predictions(
        summary[["frequency", "recency", "T"]],
        purchases=purchases,
        spend=spend,
        group_by="segment",
        gross_margin=0.3,
        discount_rate_annual=0.1,
        horizon_months=12,
        time_unit="W",
        n_draws=50,
    )
    customers = spark._session.createDataFrame(summary)
    output = str(tmp_path / "predictions")
    on_spark = partitioned.predict_on_spark(customers, plan, output=output, partitions=3)
    table, expected = _one_by_one(spark, summary, plan, partitions=3)
    assert len(on_spark.groups) == 2
    pd.testing.assert_frame_equal(on_spark.groups, expected.groups, check_exact=False)
    np.testing.assert_allclose(on_spark.rclv_draws, expected.rclv_draws, rtol=1e-9)
    np.testing.assert_allclose(
        on_spark.rclv_parameter_draws, expected.rclv_parameter_draws, rtol=1e-9
    )
    assert on_spark.top_decile_share == pytest.approx(expected.top_decile_share, rel=1e-12)
    pd.testing.assert_frame_equal(
        _written_customers(output, table.columns),
        table.dropna(axis=1, how="all"),
        check_dtype=False,
    )
    # the whole base at a glance, from the executors' files: as pandas gives it from the table
    predicted = spark._session.read.parquet(os.path.join(output, "kind=customer"))
    glance = partitioned_summary.prediction_summary_on_spark(predicted)
    rclv, p_alive = table["rclv"], table["p_alive"]
    assert glance["customers"] == len(table)
    assert glance["rclv_median"] == rclv.median()  # exact order statistics
    assert (glance["rclv_min"], glance["rclv_max"]) == (rclv.min(), rclv.max())
    assert glance["rclv_mean"] == pytest.approx(rclv.mean(), rel=1e-12)
    assert glance["model_churn"] == pytest.approx(1 - p_alive.mean(), rel=1e-12)
    for name, expected_share in (
        ("alive_share", (p_alive >= 0.5).mean()),
        ("low_zero_share", (table["rclv_low"] <= 0).mean()),
        ("likely_none_share", (table["p_no_purchase"] > 0.5).mean()),
    ):
        assert glance[name] == pytest.approx(expected_share, rel=1e-12)
    assert partitioned_summary.rclv_spread_on_spark(predicted) == histograms.rclv_spread(
        rclv.to_numpy()
    )
    for log in (None, True, False):  # CDNOW's rCLV is skewed, but not all positive: linear
        by_spark = partitioned_summary.histograms_on_spark(predicted, log=log)
        in_memory = (clv.p_alive_histogram(table), clv.rclv_histogram(table, log=log))
        for on_executors, on_driver in zip(by_spark, in_memory, strict=True):
            pd.testing.assert_frame_equal(on_executors.bins, on_driver.bins)
            assert (on_executors.log, on_executors.below) == (on_driver.log, on_driver.below)


def test_a_draw_the_executors_find_invalid_is_dropped_and_the_partitions_predict_again(
    spark, tmp_path, monkeypatch, cdnow_fitted
):
    """A plan without patterns holding draws invalid for the customers (a spend model near
    q = 1 with a wide covariance, its draws' own check switched off to make such a plan): the
    executors' result is the one under the plan checked on the patterns."""
    import dataclasses

    summary, purchases, spend = cdnow_fitted
    params = spend.params_.copy()
    params["q"] = 1.3
    wide = dataclasses.replace(
        spend, params_=params, log_params_covariance_=spend.log_params_covariance_ * 400
    )
    options = dict(
        purchases=purchases,
        spend=wide,
        gross_margin=0.3,
        discount_rate_annual=0.1,
        horizon_months=12,
        time_unit="W",
        n_draws=60,
        seed=7,
        group_by="segment",
    )
    checked = partitioned.plan_predictions(summary[["frequency", "recency", "T"]], **options)
    with monkeypatch.context() as patched:
        patched.setattr(partitioned, "_is_valid_draw", lambda values, new_customer: True)
        unchecked = partitioned.plan_predictions(None, **options)
    assert unchecked.n_draws == 60 > checked.n_draws > 0
    customers = spark._session.createDataFrame(summary)
    output = str(tmp_path / "predictions")
    on_spark = partitioned.predict_on_spark(customers, unchecked, output=output, partitions=2)
    table, expected = _one_by_one(spark, summary, checked, partitions=2)
    assert on_spark.settings["n_draws"] == checked.n_draws
    np.testing.assert_array_equal(on_spark.new_customer_draws, checked.new_customer_draws)
    np.testing.assert_allclose(on_spark.rclv_draws, expected.rclv_draws, rtol=1e-9)
    np.testing.assert_allclose(
        on_spark.rclv_parameter_draws, expected.rclv_parameter_draws, rtol=1e-9
    )
    pd.testing.assert_frame_equal(  # the first pass' bounds were replaced
        _written_customers(output, table.columns),
        table.dropna(axis=1, how="all"),
        check_dtype=False,
    )


# --- segments where the customers are -------------------------------------------------------


def test_retention_scenarios_on_spark_equal_those_of_the_patterns_in_memory(spark, cdnow_fitted):
    """CDNOW's customers summed per (frequency, T) in Spark, in four partitions: the factors
    solved on the driver and each partition's equity added up give the scenarios of the same
    patterns computed in memory."""
    summary, purchases, _ = cdnow_fitted
    predictions = clv.predict(
        summary,
        purchases=purchases,
        gross_margin=0.3,
        discount_rate_annual=0.1,
        horizon_months=24,
        time_unit="W",
        n_draws=0,
    )
    months = clv.margin_columns(24)
    customers = pd.DataFrame(predictions.monthly_margin.astype(float), columns=months).assign(
        frequency=summary["frequency"].to_numpy(float),
        T=summary["T"].to_numpy(float),
        p_alive=predictions.table["p_alive"].to_numpy(float),
    )
    settings = {
        "equity": float(predictions.table["rclv"].sum()),
        "discount_rate_annual": 0.1,
        "horizon_months": 24,
        "time_unit": "W",
        "changes": [-5, -1, 2],
    }
    patterns = customers.groupby(["frequency", "T"], as_index=False).sum()
    expected = clv.retention_scenarios_of_patterns(patterns, purchases, **settings)
    on_spark = partitioned_summary.retention_scenarios_on_spark(
        spark._session.createDataFrame(customers).repartition(4), purchases, **settings
    )
    pd.testing.assert_frame_equal(on_spark, expected, rtol=1e-9)
    assert on_spark["change_points"].tolist() == [-5, -1, 0, 2]


def _tied_values(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "group": rng.choice(["a", "b", "c"], n, p=[0.7, 0.29, 0.01]),
            "value": np.where(rng.random(n) < 0.4, 1.0, np.round(rng.gamma(2.0, 30.0, n), 2)),
        }
    )


# accuracy 4: brackets wider than the groups; the default: brackets of a few values
@pytest.mark.parametrize("accuracy", [4, order_statistics.DEFAULT_ACCURACY])
def test_order_statistics_on_spark_are_numpys_sorted_values(spark, accuracy):
    """Heavy ties (40% at one value), a tiny group, and brackets of any width: always exact."""
    frame = _tied_values(3, 5_000)
    table = spark._session.createDataFrame(frame)

    def wanted(n):
        return sorted({0, (n - 1) // 2, n // 2, n // 3, n - 1})

    whole = order_statistics.order_statistics_on_spark(
        table, value="value", positions=wanted, accuracy=accuracy
    )
    ordered = np.sort(frame["value"].to_numpy())
    assert whole["position"].tolist() == wanted(5_000)
    assert whole["value"].tolist() == ordered[wanted(5_000)].tolist()
    grouped = order_statistics.order_statistics_on_spark(
        table, value="value", by=["group"], positions=wanted, accuracy=accuracy
    )
    for group, rows in grouped.groupby("group"):
        values = np.sort(frame.loc[frame["group"] == group, "value"].to_numpy())
        assert rows["n"].iloc[0] == len(values)
        assert rows["value"].tolist() == values[rows["position"].to_numpy()].tolist()


def test_a_bracket_that_misses_is_read_again_over_the_whole_group(spark, monkeypatch):
    """Brackets placed wrongly on purpose (all at the maximum) still give the exact values."""
    frame = _tied_values(4, 2_000)
    table = spark._session.createDataFrame(frame)
    top = frame["value"].max()

    def wrong(rows, targets, *, by, accuracy):
        return targets.assign(low=top, high=top)

    monkeypatch.setattr(order_statistics, "_brackets", wrong)
    at = order_statistics.order_statistics_on_spark(
        table, value="value", positions=lambda n: [0, n // 2]
    )
    ordered = np.sort(frame["value"].to_numpy())
    assert at["value"].tolist() == [ordered[0], ordered[1_000]]
    assert at["value"].iloc[0] < top


@pytest.fixture(scope="module")
def demo_summary() -> pd.DataFrame:
    from ccnb.analysis import ClientAnalysis

    return ClientAnalysis(load_params(os.path.join(ROOT, PARAMS["demo"]))).summary


def test_the_segmentation_on_spark_is_the_one_in_memory(spark, demo_summary):
    """The demo's 5,000 customers analysed on Spark are scored and segmented by the executors
    from RFM inputs that stay in the engine (the driver never holds the customer summary):
    every customer, the segment summary with its medians, the recency table, the F ranges,
    the R x F grid, the corner, the top share and the concentration curve equal the analysis
    on DuckDB."""
    from ccnb import rfm
    from ccnb.analysis import ClientAnalysis

    params = load_params(os.path.join(ROOT, "params/demo-spark.yaml"))
    on_spark = ClientAnalysis(params)
    on_spark._values["data"] = data.load_client(params, connection=spark)  # the module's Spark
    in_memory = ClientAnalysis(load_params(os.path.join(ROOT, PARAMS["demo"])))

    assert on_spark._segments_on_executors.plan == partitioned_segments.plan_segments(
        demo_summary, scheme=in_memory.segment_scheme
    )
    pd.testing.assert_frame_equal(on_spark.segments, in_memory.segments)
    # the executors' files read without Spark: the same table, texts as categories
    segmented = on_spark._segments_on_executors
    pd.testing.assert_frame_equal(partitioned_segments.read_segments(segmented), in_memory.segments)
    pd.testing.assert_frame_equal(
        on_spark.segment_summary, in_memory.segment_summary, check_exact=False
    )
    for table in ("segment_recency", "frequency_scores", "rfm_grid"):
        pd.testing.assert_frame_equal(getattr(on_spark, table), getattr(in_memory, table))
    pd.testing.assert_series_equal(on_spark.rfm_corner, in_memory.rfm_corner)
    assert on_spark.top_customers_share == pytest.approx(in_memory.top_customers_share, rel=1e-12)
    points = on_spark.revenue_concentration
    pd.testing.assert_frame_equal(points, in_memory.revenue_concentration, rtol=1e-12)
    assert len(points) == 109 and points["customer_share"].iloc[[0, 9, -1]].tolist() == [
        0.001,
        0.01,
        1.0,
    ]
    assert points["revenue_share"].iloc[-1] == pytest.approx(1.0, rel=1e-12)
    assert on_spark.segment_summary["customers"].sum() == len(demo_summary)
    assert "summary" not in on_spark._values  # nothing here collected the customers
    assert rfm.top_share(demo_summary, top=0.2) == in_memory.top_customers_share


def test_the_clv_tables_on_spark_come_from_the_executors(spark, monkeypatch, tmp_path):
    """The demo's predictions on Spark: the executors predict every customer, write their
    values and return totals per segment and draw; the driver reads the customers' values
    back and ranks them into deciles, without the customer summary. Point values, monthly
    margins, the segments' means, equity and the histograms equal the analysis on DuckDB; the
    intervals, made from other streams of the same draws' distribution, agree within Monte
    Carlo error. The budget's active customers are joined in Spark, the simple formula's mean
    is averaged there, the test plan reads the active customers' inputs only and a new
    customer's value per channel reads the channels' totals and patterns counted there. The
    segments' inputs, the models' inputs and the fits' patterns come from one aggregation of
    the transactions, kept in Spark; the customer summary never comes to the driver."""
    from ccnb.analysis import ClientAnalysis

    summary_tables = []
    original = summary.summary_table

    def counted(*args, **kwargs):
        summary_tables.append(original(*args, **kwargs))
        return summary_tables[-1]

    monkeypatch.setattr(summary, "summary_table", counted)
    params = load_params(os.path.join(ROOT, "params/demo-spark.yaml"))
    on_spark = ClientAnalysis(params)
    on_spark._values["data"] = data.load_client(params, connection=spark)
    in_memory = ClientAnalysis(load_params(os.path.join(ROOT, PARAMS["demo"])))
    run = on_spark._predictions_on_executors
    assert run is not None and run.totals.group_by == ("segment",)
    assert "_forecast" not in on_spark._values  # no draw was made on the driver
    assert len(summary_tables) == 1  # the fits' and the predictions' inputs, aggregated once

    # what the reports read per customer comes from the executors' columns, not the whole
    # predictions read back: the CRM export, the test plan's expected spend, the product lens
    activation = on_spark.activation
    point = ["customer_id", "p_alive", "p_no_purchase", "expected_purchases", "expected_spend"]
    shown = ["segment", *point, "rclv", "decile"]
    pd.testing.assert_frame_equal(
        activation[shown], in_memory.activation[shown], check_exact=False, rtol=1e-9
    )
    pd.testing.assert_frame_equal(
        on_spark.test_customers, in_memory.test_customers, check_exact=False, rtol=1e-9
    )
    lens, lens_expected = on_spark.product_lens, in_memory.product_lens
    pd.testing.assert_frame_equal(
        lens.categories, lens_expected.categories, check_exact=False, rtol=1e-9
    )
    assert lens.categories["rclv"].notna().all()  # averaged by category in Spark
    # the segments' CRM export is the executors' files sorted by Spark and streamed into the
    # CSV, the survey's respondents read their segment alone: the segments never come whole
    monkeypatch.setattr(exports, "CSV_BLOCK_ROWS", 700)  # several blocks per file
    for name, analysis in (("spark", on_spark), ("duckdb", in_memory)):
        monkeypatch.setenv(exports.EXPORT_DIR_VARIABLE, str(tmp_path / name))
        report.segment_export(analysis)
    written = {
        name: (tmp_path / name / "segments.csv").read_bytes() for name in ("spark", "duckdb")
    }
    assert written["spark"] == written["duckdb"]
    assert written["spark"].count(b"\n") == 5000 + 1
    assert on_spark.segment_rows.rows == 5000
    pd.testing.assert_frame_equal(on_spark.survey_with_segments, in_memory.survey_with_segments)
    assert on_spark.survey_with_segments["segment"].notna().sum() > 100
    assert "segments" not in on_spark._values
    assert on_spark._read_by_no_report("segments")
    # the CLV export: ranked into deciles by order statistics, joined and sorted by Spark,
    # the same rows as the activation table the driver ranked from the same values
    streamed = pd.concat(on_spark.clv_rows.blocks(rows_per_block=1_500), ignore_index=True)
    assert len(on_spark.clv_rows.files) >= 1 and len(streamed) == 5000
    pd.testing.assert_frame_equal(
        streamed.astype({"segment": object}), activation.astype({"segment": object})
    )
    assert on_spark.customer_equity.n_customers == on_spark.clv_rows.rows
    for name, analysis in (("spark", on_spark), ("duckdb", in_memory)):
        monkeypatch.setenv(exports.EXPORT_DIR_VARIABLE, str(tmp_path / name))
        report.clv_export(analysis)
    clv_files = [pd.read_csv(tmp_path / name / "clv.csv")[shown] for name in ("spark", "duckdb")]
    pd.testing.assert_frame_equal(*clv_files, check_exact=False, rtol=1e-9)  # bounds: see below
    assert on_spark._read_by_no_report("activation")
    assert "predictions" not in on_spark._values
    assert on_spark._read_by_no_report("predictions")  # nor the run's tables thread

    ours = on_spark.predictions
    assert "summary" not in on_spark._values  # neither the fits nor the predictions read it
    catalog = engine.spark_session_of(spark).catalog
    assert catalog.isCached(on_spark._summary_in_engine.get_name())  # not a plan run again
    theirs = in_memory.predictions
    pd.testing.assert_frame_equal(
        ours.table[[*point, "rclv", "decile"]],
        theirs.table[[*point, "rclv", "decile"]],
        check_exact=False,
        rtol=1e-9,
    )
    assert ours.settings["n_draws"] == theirs.settings["n_draws"] == 200
    np.testing.assert_allclose(ours.monthly_margin, theirs.monthly_margin, rtol=1e-6)
    assert ours.monthly_margin.shape == (5000, params.horizon_months)
    assert ours.new_customer_value == pytest.approx(theirs.new_customer_value, rel=1e-9)
    width = (theirs.table["rclv_high"] - theirs.table["rclv_low"]).mean()
    for bound in ("rclv_low", "rclv_high", "rclv_param_low", "rclv_param_high"):
        gap = (ours.table[bound] - theirs.table[bound]).abs().mean()
        assert gap < 0.05 * width, bound
    # the parameter-only bounds use the same parameter draws: equal to the expansion's error
    np.testing.assert_allclose(
        ours.table["rclv_param_low"], theirs.table["rclv_param_low"], rtol=1e-6, atol=1e-9
    )

    equity, expected = on_spark.customer_equity, in_memory.customer_equity
    assert equity.value == pytest.approx(expected.value, rel=1e-9)
    assert equity.top_decile_share == pytest.approx(expected.top_decile_share, rel=1e-9)
    for edge in ("low", "high"):
        assert getattr(equity, edge) == pytest.approx(getattr(expected, edge), rel=0.02)
    by_segment = on_spark.clv_by_segment.set_index("segment")
    by_segment_expected = in_memory.clv_by_segment.set_index("segment")
    pd.testing.assert_series_equal(
        by_segment["n_customers"], by_segment_expected["n_customers"], check_dtype=False
    )
    for column in ("rclv_mean", "rclv_sum", "share_of_equity"):
        np.testing.assert_allclose(by_segment[column], by_segment_expected[column], rtol=1e-9)
    summary_ours, summary_theirs = on_spark.prediction_summary, in_memory.prediction_summary
    for name, value in summary_theirs.items():
        tolerance = 0.02 if name == "low_zero_share" else 1e-9  # a per-customer bound
        assert summary_ours[name] == pytest.approx(value, rel=tolerance, abs=1e-12), name
    for name in ("p_alive_histogram", "rclv_histogram"):
        pd.testing.assert_frame_equal(
            getattr(on_spark, name).bins, getattr(in_memory, name).bins, check_exact=False
        )
    pd.testing.assert_frame_equal(
        on_spark.retention_scenarios, in_memory.retention_scenarios, check_exact=False
    )
    # from the executors' sums per pattern: no survival path per customer on the driver
    assert "_survival_paths" not in on_spark._values
    # the budget's active customers joined in Spark to the executors' segments and values
    pd.testing.assert_frame_equal(
        on_spark.budget_customers, in_memory.budget_customers, check_exact=False, rtol=1e-9
    )
    # the simple formula's mean annual revenue averaged in Spark, the mean rCLV the executors'
    pd.testing.assert_series_equal(
        on_spark.naive_versus_model, in_memory.naive_versus_model, check_exact=False, rtol=1e-12
    )
    # the test plan's expected purchases from the active customers' inputs only
    assert len(on_spark._active_model_inputs) == len(in_memory.budget_customers)
    # a new customer's value per channel: the channels' totals and patterns aggregated in
    # Spark, the customers table joined to the kept summary there
    pd.testing.assert_frame_equal(
        on_spark.new_customer_value, in_memory.new_customer_value, check_exact=False, rtol=1e-9
    )
    assert "first_purchase_values" not in on_spark._values
    assert "summary" not in on_spark._values


def test_a_table_spark_sorted_reads_back_in_order_a_block_at_a_time(spark, tmp_path):
    """The part files of a sorted Spark table, read by name, give its rows in sort order."""
    session = engine.spark_session_of(spark)
    ids = [f"C{number:05d}" for number in np.random.default_rng(3).permutation(2_000)]
    frame = session.createDataFrame(
        [(value, len(value)) for value in ids], "customer_id string, n long"
    )
    output = str(tmp_path / "sorted")
    conf = {"spark.sql.adaptive.enabled": "false", "spark.sql.shuffle.partitions": "4"}
    before = {key: session.conf.get(key) for key in conf}
    for key, value in conf.items():
        session.conf.set(key, value)
    try:
        frame.orderBy("customer_id").write.parquet(output, mode="overwrite")
    finally:
        for key, value in before.items():
            session.conf.set(key, value)
    files = table_files.table_files_in(output, columns=["customer_id", "n"])
    assert len(files.files) == 4 and files.rows == 2_000
    blocks = list(files.blocks(rows_per_block=300))
    assert max(len(block) for block in blocks) == 300
    read = pd.concat(blocks, ignore_index=True)
    assert read["customer_id"].tolist() == sorted(ids)
    assert files.columns == ("customer_id", "n")


@pytest.mark.parametrize("rclv", [[5.0, 5.0, 3.0, 1.0, 1.0, 1.0, 0.0], [2.0], [0.0] * 12])
def test_the_clv_export_on_spark_ranks_deciles_as_the_driver_does(spark, tmp_path, rclv):
    """Fewer customers than deciles, ties, all equal: the deciles of nine order statistics
    are the rank's, and the rows are sorted highest rCLV first, then by customer."""
    session = engine.spark_session_of(spark)
    rows = [
        (f"C{number}", None if number == 1 else "Gold", *([0.5] * 4), value, 0.0, 1.0, 0.0, 1.0)
        for number, value in enumerate(rclv)
    ]
    columns = ["customer_id", "segment", "p_alive", "p_no_purchase", "expected_purchases"]
    columns += ["expected_spend", "rclv", "rclv_low", "rclv_high", "purchases_low"]
    columns += ["purchases_high"]
    predicted = session.createDataFrame(rows, columns)
    partitioned.activation_on_spark(predicted, output=str(tmp_path / "clv"))
    written = table_files.table_files_in(str(tmp_path / "clv"), columns=CRM_COLUMNS)
    streamed = pd.concat(written.blocks(), ignore_index=True)
    expected = pd.DataFrame(rows, columns=columns).assign(decile=_deciles(np.array(rclv)))
    expected = expected.sort_values(["rclv", "customer_id"], ascending=[False, True])
    assert streamed["customer_id"].tolist() == expected["customer_id"].tolist()
    assert streamed["decile"].tolist() == expected["decile"].tolist()
    assert streamed["segment"].isna().sum() == (len(rclv) > 1)


def test_the_whole_history_fits_on_spark_read_counted_patterns_not_the_customers(spark):
    """On Spark the purchase and spend models are fitted on the customers' distinct patterns,
    counted where the summary is kept: the same fits as the analysis on DuckDB, and the same
    iso-value grid (its median age and frequency quantile read off the counts), without the
    customer summary coming to the driver."""
    from ccnb.analysis import ClientAnalysis

    params = load_params(os.path.join(ROOT, "params/demo-spark.yaml"))
    on_spark = ClientAnalysis(params)
    on_spark._values["data"] = data.load_client(params, connection=spark)
    in_memory = ClientAnalysis(load_params(os.path.join(ROOT, PARAMS["demo"])))
    for name in ("purchase_model", "spend_model"):
        ours, theirs = getattr(on_spark, name), getattr(in_memory, name)
        assert ours.name == theirs.name
        pd.testing.assert_series_equal(ours.params_, theirs.params_, rtol=1e-9)
        assert (ours.n_customers_, ours.n_unique_) == (theirs.n_customers_, theirs.n_unique_)
        assert ours.log_likelihood_ == pytest.approx(theirs.log_likelihood_, rel=1e-12)
    assert on_spark.spend_model.excluded_ == in_memory.spend_model.excluded_
    assert on_spark.spend_model.correlation_ == pytest.approx(
        in_memory.spend_model.correlation_, rel=1e-9
    )
    pd.testing.assert_frame_equal(
        on_spark.iso_value, in_memory.iso_value, check_exact=False, rtol=1e-9
    )
    assert "summary" not in on_spark._values
    assert "summary" in in_memory._values  # DuckDB's fits condense the summary it holds


def test_on_a_cluster_without_a_work_dir_the_segments_are_made_on_the_driver(
    spark, monkeypatch, tmp_path
):
    """The executors of a cluster cannot write to the driver's temporary folder: without
    `engine.work_dir` the customers come to the driver, as before; with one, the executors
    write there (a local folder standing in for shared storage)."""
    from ccnb.analysis import ClientAnalysis

    monkeypatch.setattr(engine, "spark_is_local", lambda connection: False)
    params = load_params(os.path.join(ROOT, "params/demo-spark.yaml"))
    loaded = data.load_client(params, connection=spark)
    on_cluster = ClientAnalysis(params)
    on_cluster._values["data"] = loaded
    assert on_cluster._segments_on_executors is None
    assert on_cluster.segment_summary["customers"].sum() == len(on_cluster.summary)
    shared = tmp_path / "shared"
    with_work_dir = ClientAnalysis(
        params.model_copy(
            update={"engine": params.engine.model_copy(update={"work_dir": str(shared)})}
        )
    )
    with_work_dir._values["data"] = loaded
    segmented = with_work_dir._segments_on_executors
    (folder,) = shared.iterdir()  # this analysis' own folder, named by its process
    assert folder.name.startswith(f"ccnb-executors-{os.getpid()}-")
    assert segmented.output.startswith(f"{folder}/segments-")
    assert "summary" not in with_work_dir._values
    segments = with_work_dir.segments  # read back from the executors' files
    assert len(segments) == on_cluster.segment_summary["customers"].sum()
    scenario = with_work_dir.what_if(rfm={"bins": 4})  # a workshop's what-if segments anew
    assert scenario.segment_summary["customers"].sum() == len(segments)
    assert {path.name[:14] for path in shared.iterdir()} == {"ccnb-executors"}
    assert len(list(shared.iterdir())) == 2  # each analysis its own folder
    scenario.remove_shared_files()
    with_work_dir.remove_shared_files()  # what `ccnb run` does when the client's run ends
    assert not any(shared.iterdir())
    pd.testing.assert_frame_equal(with_work_dir.segments, segments)  # computed tables stay
    with_work_dir.remove_shared_files()  # nothing left to remove: no error


@pytest.mark.parametrize("top", [1 / 7, 0.5, 1.0])
def test_the_top_share_on_spark_is_the_concentration_curve_at_top(spark, top):
    """Ties at the edge, a returns-only customer and a fraction of a customer at the edge."""
    from ccnb import rfm

    summary = pd.DataFrame(
        {
            "customer_id": list("abcdefg"),
            "days_since_last": [1, 2, 3, 4, 5, 6, 7],
            "orders": [1, 2, 1, 1, 3, 1, 1],
            "revenue": [50.0, 20.0, 20.0, 20.0, 90.0, -5.0, 5.0],
        }
    )
    customers = spark._session.createDataFrame(summary)
    (share,) = partitioned_segments._concentration(
        customers, shares=[top], n_customers=len(summary)
    )
    # by hand: best first 90, 50, 20, 20, 20, 5, 0 of 205; 1/7 of the customers is the best one
    by_hand = {1 / 7: 90 / 205, 0.5: (90 + 50 + 20 + 0.5 * 20) / 205, 1.0: 1.0}[top]
    assert share == pytest.approx(by_hand, rel=1e-12)
    assert share == pytest.approx(rfm.top_share(summary, top=top), rel=1e-12)


def test_segments_on_spark_refuse_a_summary_with_a_repeated_customer(spark, demo_summary):
    from ccnb import rfm

    rows = demo_summary[["customer_id", *rfm.RFM_INPUTS]].astype({"customer_id": object})
    customers = spark._session.createDataFrame(pd.concat([rows, rows.iloc[:2]]))
    with pytest.raises(ValueError, match="2 rows repeat a customer id"):
        partitioned_segments.plan_segments_on_spark(customers)


# --- budget allocations where the customers are ---------------------------------------------


def _rclv_customers(seed: int, n: int) -> pd.DataFrame:
    """rCLV as the budget sees it: skewed, 15% at zero, a few negative, three segments."""
    rng = np.random.default_rng(seed)
    rclv = rng.gamma(0.6, 120.0, n)
    rclv[rng.random(n) < 0.15] = 0.0
    rclv[:5] = [-3.0, -0.5, -12.0, 0.0, 2_500.0]
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "rclv": rclv,
            "segment": rng.choice(["High", "Medium", "Low"], n),
        }
    )


@pytest.mark.parametrize(
    ("strategy", "curve", "budget"),
    [
        ("customer_centric", "exponential", 20_000.0),
        ("customer_centric", "hill", 50_000.0),
        ("customer_centric", "exponential", 0.0),
        ("customer_focused", "exponential", 20_000.0),
    ],
)
def test_allocations_on_spark_equal_the_whole_base_allocated_in_memory(
    spark, tmp_path, strategy, curve, budget
):
    """Every customer's spend, the shadow price, the notes and the totals by segment equal
    `ccnb.budget`'s, for both curves (the Hill curve's first unit is worth infinitely much)."""
    from ccnb import budget as budget_module
    from ccnb import partitioned_budget

    response = {
        "exponential": budget_module.ExponentialResponse(spend_scale=40.0),
        "hill": budget_module.HillResponse(spend_scale=40.0, shape=0.7),
    }[curve]
    frame = _rclv_customers(5, 4_000)
    customers = spark._session.createDataFrame(frame.astype({"customer_id": object})).repartition(3)
    options = dict(budget=budget, curve=response, max_lift=0.3)
    plan = partitioned_budget.plan_allocation_on_spark(customers, strategy=strategy, **options)
    output = str(tmp_path / "allocation")
    on_spark = partitioned_budget.allocate_on_spark(customers, plan, output=output)

    in_memory = getattr(budget_module, strategy)(frame, **options)
    expected = in_memory.table.sort_values("customer_id", ignore_index=True)
    written = pd.read_parquet(output).sort_values("customer_id", ignore_index=True)
    for column in ("spend", "added_value", "marginal_value"):
        np.testing.assert_allclose(written[column], expected[column], rtol=1e-9, atol=1e-9)
    assert written["spend"].sum() == pytest.approx(budget, rel=1e-12, abs=1e-9)
    if strategy == "customer_centric":
        assert plan.shadow_price == pytest.approx(in_memory.shadow_price, rel=1e-12)
    assert plan.notes == in_memory.notes
    assert plan.negative_rclv == 3
    totals = (
        expected.groupby("segment")
        .agg(
            customers=("spend", "size"),
            funded=("spend", lambda spend: int((spend > 0).sum())),
            spend=("spend", "sum"),
            added_value=("added_value", "sum"),
            rclv=("rclv", "sum"),
        )
        .reset_index()
    )
    pd.testing.assert_frame_equal(
        on_spark.by_group.drop(columns="spend_per_head"),
        totals,
        check_exact=False,
        check_dtype=False,
        rtol=1e-9,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        on_spark.by_group.set_index("segment")["spend_per_head"],
        budget_module.spend_per_head(in_memory).sort_index(),
        rtol=1e-9,
        atol=1e-9,
    )


def test_allocations_on_spark_refuse_what_the_allocators_refuse(spark):
    from ccnb import budget as budget_module
    from ccnb import partitioned_budget

    frame = _rclv_customers(6, 50).assign(rclv=0.0)
    customers = spark._session.createDataFrame(frame.astype({"customer_id": object}))
    options = dict(budget=100.0, curve=budget_module.ExponentialResponse(spend_scale=40.0))
    with pytest.raises(ValueError, match="every customer has rCLV 0"):
        partitioned_budget.plan_allocation_on_spark(
            customers, strategy="customer_centric", max_lift=0.3, **options
        )
    missing = frame.assign(rclv=np.where(np.arange(50) < 2, np.nan, 1.0))
    customers = spark._session.createDataFrame(missing.astype({"customer_id": object}))
    with pytest.raises(ValueError, match="missing or infinite for 2 customers"):
        partitioned_budget.plan_allocation_on_spark(
            customers, strategy="customer_focused", max_lift=0.3, **options
        )


def test_a_tiered_plan_on_spark_equals_the_tiers_of_the_optimum_in_memory(spark, tmp_path):
    """Tiers from the optimum's totals, then the tiered plan from the segment sizes: the tier
    table, every customer's spend, the scale factor and the notes equal `ccnb.budget`'s."""
    from ccnb import budget as budget_module
    from ccnb import partitioned_budget

    frame = _rclv_customers(7, 3_000)
    customers = spark._session.createDataFrame(frame.astype({"customer_id": object}))
    options = dict(curve=budget_module.ExponentialResponse(spend_scale=40.0), max_lift=0.3)
    plan = partitioned_budget.plan_allocation_on_spark(
        customers, strategy="customer_centric", budget=30_000.0, **options
    )
    centric = partitioned_budget.allocate_on_spark(customers, plan, output=str(tmp_path / "c"))
    in_memory = budget_module.customer_centric(frame, budget=30_000.0, **options)
    tiers = partitioned_budget.tiers_from_totals(centric, round_to=5)
    expected_tiers = budget_module.tiers_from_optimum(in_memory, round_to=5)
    pd.testing.assert_frame_equal(
        tiers, expected_tiers, check_exact=False, check_names=False, rtol=1e-9
    )
    # Low gets no tier: its customers get nothing, and a note says so
    per_head = tiers["spend_per_head"].drop("Low")
    tiered_plan = partitioned_budget.plan_tiered(
        centric, budget=20_000.0, spend_per_head=per_head, **options
    )
    output = str(tmp_path / "t")
    on_spark = partitioned_budget.allocate_on_spark(customers, tiered_plan, output=output)
    expected = budget_module.tiered(frame, budget=20_000.0, spend_per_head=per_head, **options)
    written = pd.read_parquet(output).sort_values("customer_id", ignore_index=True)
    table = expected.table.sort_values("customer_id", ignore_index=True)
    for column in ("spend", "added_value", "marginal_value"):
        np.testing.assert_allclose(written[column], table[column], rtol=1e-12)
    assert tiered_plan.scale_factor == pytest.approx(expected.scale_factor, rel=1e-12)
    assert tiered_plan.notes == expected.notes
    assert on_spark.by_group.set_index("segment").loc["Low", "spend"] == 0
    assert on_spark.by_group["spend"].sum() == pytest.approx(20_000.0, rel=1e-12)


@pytest.mark.parametrize("curve", ["exponential", "hill"])
def test_the_sensitivity_grid_on_spark_equals_the_grid_in_memory(spark, curve):
    """Every grid point, a budget of 0 included, is `ccnb.budget.sensitivity`'s: the values
    to 1e-10, the shadow price to its bracket's width."""
    from ccnb import budget as budget_module
    from ccnb import partitioned_budget

    frame = _rclv_customers(8, 3_000)
    customers = spark._session.createDataFrame(frame.astype({"customer_id": object})).repartition(3)
    family = {
        "exponential": "exponential",
        "hill": lambda scale: budget_module.HillResponse(scale, shape=0.7),
    }[curve]
    options = dict(
        budget=20_000.0,
        max_lifts=[0.1, 0.3],
        spend_scales=[10.0, 40.0, 160.0],
        budgets=[0.0, 5_000.0],
        curve=family,
    )
    on_spark = partitioned_budget.sensitivity_on_spark(customers, **options)
    expected = budget_module.sensitivity(frame, **options)
    assert len(on_spark) == 18
    pd.testing.assert_frame_equal(
        on_spark.drop(columns="shadow_price"),
        expected.drop(columns="shadow_price"),
        check_exact=False,
        rtol=1e-10,
        atol=1e-9,
    )
    np.testing.assert_allclose(on_spark["shadow_price"], expected["shadow_price"], rtol=1e-11)


def test_plans_totalled_on_spark_give_the_in_memory_comparison_deciles_and_gain(spark, tmp_path):
    """One pass over the partitions totals three plans by segment and rCLV decile; the
    comparison, the deciles (ties at rCLV 0 across the cuts) and the gain made from those
    totals equal `ccnb.budget`'s from every customer's allocation."""
    from ccnb import budget as budget_module
    from ccnb import partitioned_budget

    frame = _rclv_customers(9, 2_345)
    customers = spark._session.createDataFrame(frame.astype({"customer_id": object})).repartition(4)
    options = dict(budget=25_000.0, curve=budget_module.HillResponse(40.0, 0.7), max_lift=0.3)
    plans = {
        name: partitioned_budget.plan_allocation_on_spark(customers, strategy=name, **options)
        for name in ("customer_focused", "customer_centric")
    }
    per_head = {"High": 30.0, "Medium": 10.0, "Low": 0.0}
    sizes = partitioned_budget.allocate_on_spark(
        customers, plans["customer_focused"], output=str(tmp_path / "sizes")
    )
    plans["tiered"] = partitioned_budget.plan_tiered(sizes, spend_per_head=per_head, **options)
    ranked = partitioned_budget.ranked_by_rclv(customers)
    totals = partitioned_budget.plan_totals_on_spark(ranked, plans)
    assert list(totals["strategy"].unique()) == ["customer_focused", "customer_centric", "tiered"]

    in_memory = {
        "focused": budget_module.customer_focused(frame, **options),
        "optimal": budget_module.customer_centric(frame, **options),
        "tiered": budget_module.tiered(frame, spend_per_head=per_head, **options),
    }
    names = {"focused": "customer_focused", "optimal": "customer_centric", "tiered": "tiered"}
    pd.testing.assert_frame_equal(
        partitioned_budget.comparison_of_totals(totals, names, budget=25_000.0),
        budget_module.compare(in_memory, budget=25_000.0),
        check_exact=False,
        rtol=1e-10,
    )
    pd.testing.assert_frame_equal(
        partitioned_budget.deciles_of_totals(totals, names),
        budget_module.allocation_by_decile(frame, in_memory),
        check_exact=False,
        rtol=1e-10,
        atol=1e-9,
    )
    pd.testing.assert_series_equal(
        partitioned_budget.centric_gain_of_totals(
            totals, focused="customer_focused", centric="customer_centric"
        ),
        budget_module.centric_gain(in_memory["focused"], in_memory["optimal"]),
        rtol=1e-10,
    )


def test_the_test_plan_and_holdout_on_spark_are_the_in_memory_ones(spark):
    """The test plan from the partitions' moments (tiers, a one-customer tier, the pool of
    positive effects) and the holdout drawn by Spark equal `ccnb.budget`'s."""
    from ccnb import budget as budget_module
    from ccnb import partitioned_budget

    rng = np.random.default_rng(10)
    frame = _rclv_customers(10, 1_500)
    frame.loc[7, ["segment", "rclv"]] = ["Lone", 1_500.0]  # a funded tier of one: no deviation
    frame["window_revenue"] = np.where(rng.random(1_500) < 0.6, 0.0, rng.gamma(1.5, 40.0, 1_500))
    frame["expected_revenue"] = rng.gamma(2.0, 15.0, 1_500)
    customers = spark._session.createDataFrame(frame.astype({"customer_id": object})).repartition(3)
    options = dict(budget=15_000.0, curve=budget_module.ExponentialResponse(40.0), max_lift=0.3)
    plan = partitioned_budget.plan_allocation_on_spark(
        customers, strategy="customer_centric", **options
    )
    settings = dict(alpha=0.05, power=0.8, holdout_share=0.2, pool="all treated")
    on_spark = partitioned_budget.test_plan_on_spark(
        customers, plan, outcome="window_revenue", expected="expected_revenue", **settings
    )

    allocation = budget_module.customer_centric(frame, **options).table
    treated = allocation[allocation["spend"] > 0].copy()
    relative = (treated["added_value"] / treated["rclv"]).where(treated["rclv"] > 0, 0.0)
    treated["effect"] = treated["expected_revenue"] * relative
    expected = budget_module.test_plan(
        treated.rename(columns={"window_revenue": "outcome"}),
        effect="effect",
        outcome="outcome",
        **settings,
    )
    assert on_spark.set_index("segment").loc["Lone", "customers"] == 1
    pd.testing.assert_frame_equal(
        on_spark, expected, check_exact=False, check_dtype=False, rtol=1e-9
    )

    holdout = partitioned_budget.assign_holdout_on_spark(
        customers, holdout_share=0.2, seed=5
    ).toPandas()
    in_memory = budget_module.assign_holdout(frame, holdout_share=0.2, seed=5)
    pd.testing.assert_frame_equal(
        holdout.sort_values("customer_id", ignore_index=True),
        in_memory.sort_values("customer_id", ignore_index=True),
        check_dtype=False,
    )
    assert (holdout["group"] == "holdout").sum() == in_memory["group"].eq("holdout").sum()


def test_the_budget_page_on_spark_is_summed_by_the_partitions(spark, monkeypatch, tmp_path):
    """The demo's budget page on Spark: the plans, the comparison, the segment rules, the
    deciles, the sensitivity grid, the break-even budget and the test plan come from passes
    over the partitions, and the two exports from the files Spark wrote; every table and both
    CSVs equal the analysis on DuckDB's, and no table of the budget's customers comes to the
    driver."""
    from ccnb.analysis import ClientAnalysis

    params = load_params(os.path.join(ROOT, "params/demo-spark.yaml"))
    on_spark = ClientAnalysis(params)
    on_spark._values["data"] = data.load_client(params, connection=spark)
    in_memory = ClientAnalysis(load_params(os.path.join(ROOT, PARAMS["demo"])))

    pd.testing.assert_series_equal(
        on_spark.budget_customer_counts, in_memory.budget_customer_counts
    )
    for name in (
        "strategy_comparison",
        "allocation_deciles",
        "sensitivity",
        "test_plan",
    ):
        pd.testing.assert_frame_equal(
            getattr(on_spark, name),
            getattr(in_memory, name),
            check_exact=False,
            check_dtype=False,
            rtol=1e-9,
            atol=1e-9,
            obj=name,
        )
    rules, rules_expected = on_spark.tier_rules, in_memory.tier_rules
    pd.testing.assert_frame_equal(
        rules.drop(columns="spend_per_head"),
        rules_expected.drop(columns="spend_per_head"),
        check_exact=False,
        rtol=1e-9,
    )
    for ours, theirs in zip(rules["spend_per_head"], rules_expected["spend_per_head"], strict=True):
        assert list(ours) == list(theirs)  # the segments in the scheme's order
        np.testing.assert_allclose(list(ours.values()), list(theirs.values()), rtol=1e-9)
    pd.testing.assert_frame_equal(
        on_spark.tier_plan, in_memory.tier_plan, check_exact=False, check_dtype=False, rtol=1e-9
    )
    for name in ("centric_gain", "recommended_gain"):
        pd.testing.assert_series_equal(
            getattr(on_spark, name), getattr(in_memory, name), check_exact=False, rtol=1e-9
        )
    assert on_spark.recommended_strategy == in_memory.recommended_strategy
    assert on_spark.break_even_budget == pytest.approx(in_memory.break_even_budget, rel=1e-12)
    for name, analysis in (("spark", on_spark), ("duckdb", in_memory)):
        monkeypatch.setenv(exports.EXPORT_DIR_VARIABLE, str(tmp_path / name))
        section = report.budget_export(analysis)
        assert "held out" in section.text
    for export in ("allocation", "test_assignment"):
        files = [pd.read_csv(tmp_path / name / f"{export}.csv") for name in ("spark", "duckdb")]
        pd.testing.assert_frame_equal(*files, check_exact=False, rtol=1e-9)
    assignment = pd.read_csv(tmp_path / "spark" / "test_assignment.csv")
    plan = on_spark.test_plan.set_index("segment").drop(index="all treated")
    assert len(assignment) == plan["customers"].sum()
    assert (assignment["group"] == "holdout").sum() == plan["holdout_size"].sum()
    # the budget's customers never came to the driver
    for name in ClientAnalysis.BUDGET_CUSTOMER_TABLES:
        assert name not in on_spark._values, name
        assert on_spark._read_by_no_report(name)
    # a workshop's budget move plans again over the customers Spark already wrote
    forgotten = on_spark.update(budget={"total": 8_000})
    in_memory.update(budget={"total": 8_000})
    assert "_budget_on_executors" not in forgotten and "_optimum_on_executors" in forgotten
    pd.testing.assert_frame_equal(
        on_spark.strategy_comparison, in_memory.strategy_comparison, check_exact=False, rtol=1e-9
    )
    assert on_spark.strategy_comparison["spend"].tolist() == pytest.approx([8_000.0] * 3)
