"""ccnb's performance harness: every comparison measured in one run, printed as one table.

Each row times ccnb against the alternative on the same seeded synthetic data (the demo
generator) in the same process run, after asserting that both give the same answer, and prints
the median of N wall-clock times, the ratio (alternative / ccnb) and the process' peak RSS so
far. Nothing is hard-coded: every ratio comes from the run that prints it.

Run: ``make bench`` or ``.venv/bin/python benchmarks/run_all.py [--quick] [--only NAME ...]``
(sections: summary, fits, predict, batch, parquet, workshop, big, big-spark,
spark-predict). ``--quick`` uses small sizes (a smoke test).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import pickle
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import ibis
import nbformat
import numpy as np
import pandas as pd
import yaml

from ccnb import clv
from ccnb.datasets._demo_generator import generate_transactions
from ccnb.summary import customer_summary

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import lifetimes
    from lifetimes.utils import summary_data_from_transaction_data

ROOT = Path(__file__).resolve().parents[1]
ROWS: list[dict] = []
#: issue 9's target for Pareto/NBD: lifetimes' fit is stopped at this multiple of ccnb's time
PARETO_TARGET = 30


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(function, repeats: int) -> tuple[float, object]:
    """Median wall-clock seconds of ``repeats`` calls and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def quietly(function, *args):
    """Call a lifetimes function with its warnings silenced (it emits many on import/fit)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args)


def record(
    task: str,
    size: str,
    ours: float,
    theirs: float | None,
    alternative: str,
    n: int,
    *,
    stopped: bool = False,
):
    """Print and keep one row; ``stopped``: the alternative was stopped after ``theirs`` s."""
    row = {
        "task": task,
        "size": size,
        "ccnb_s": ours,
        "alternative": alternative,
        "alternative_s": theirs,
        "ratio": (theirs / ours) if theirs else None,
        "ratio_is_lower_bound": stopped,
        "repeats": n,
        "peak_rss_mb": peak_rss_mb(),
    }
    ROWS.append(row)
    ratio = f"{'> ' if stopped else ''}{row['ratio']:.1f}x" if row["ratio"] else "-"
    other = f"{theirs:.2f}" if theirs is not None else "-"
    print(
        f"  {task:<34} {size:<26} ccnb {ours:8.2f} s  {alternative:<22} {other:>8} s  "
        f"ratio {ratio:>7}  (median of {n}, peak RSS {row['peak_rss_mb']:.0f} MB)",
        flush=True,
    )


def transactions(n_rows: int, n_customers: int) -> pd.DataFrame:
    """Seeded demo-generator transactions without the return rows.

    lifetimes counts a day with only returns as a purchase day and ccnb does not (see
    ``ccnb.summary``); without returns both definitions agree, so outputs can be compared.
    """
    frame = generate_transactions(n_customers=n_customers, n_transactions_target=n_rows, seed=0)
    return frame[frame["amount"] >= 0].reset_index(drop=True)


def engine_table(frame: pd.DataFrame):
    connection = ibis.duckdb.connect()
    table = connection.create_table("transactions", ibis.memtable(frame))
    return table.mutate(date=table.date.cast("date"))


def lifetimes_summary(frame: pd.DataFrame, end: dt.date) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return summary_data_from_transaction_data(
            frame,
            "customer_id",
            "date",
            monetary_value_col="amount",
            observation_period_end=pd.Timestamp(end),
            freq="D",
            freq_multiplier=7,
        )


# ---------------------------------------------------------------------------------------------


def bench_summary(sizes, summaries: dict) -> None:
    print("customer summary: ccnb.summary.customer_summary vs lifetimes", flush=True)
    for n_rows, n_customers, repeats, their_repeats in sizes:
        _bench_summary_size(n_rows, n_customers, repeats, their_repeats, summaries)


def _bench_summary_size(n_rows, n_customers, repeats, their_repeats, summaries) -> None:
    frame = transactions(n_rows, n_customers)
    end = frame["date"].max().date()
    table = engine_table(frame)
    ours = customer_summary(table, observation_end=end)
    theirs = lifetimes_summary(frame, end)
    columns = ["frequency", "recency", "T", "monetary_value"]
    pd.testing.assert_frame_equal(
        ours.set_index("customer_id")[columns],
        theirs[columns].rename_axis("customer_id"),
        check_exact=False,
        rtol=1e-9,
        check_index_type=False,
    )
    ours_s, _ = timed(lambda: customer_summary(table, observation_end=end), repeats)
    theirs_s, _ = timed(lambda: lifetimes_summary(frame, end), their_repeats)
    record(
        "customer summary",
        f"{len(frame):,} tx / {len(ours):,} cust",
        ours_s,
        theirs_s,
        "lifetimes",
        repeats,
    )
    summaries[len(ours)] = ours


def _close(ours: pd.Series, theirs: pd.Series, what: str) -> float:
    relative = float((ours / theirs.reindex(ours.index) - 1).abs().max())
    if not relative <= 1e-4:
        raise AssertionError(f"{what}: parameters differ by {relative:.2g} relative")
    return relative


def _scaled_pareto(summary: pd.DataFrame, params: pd.Series):
    """Condensed rows, weights and parameters in lifetimes' scaled time (largest T = 1).

    In weeks lifetimes' Pareto/NBD likelihood fails (nan) for long histories; lifetimes fits
    (and the checks below compare) in scaled time, where it is finite.
    """
    spec = clv._btyd.MODEL_SPECS["paretonbd"]
    rows, weights, _ = clv._btyd.condense(
        {name: summary[name].to_numpy(float) for name in ("frequency", "recency", "T")}
    )
    scale = 1.0 / rows["T"].max()
    data = (rows["frequency"].to_numpy(), rows["recency"].to_numpy() * scale)
    data += (rows["T"].to_numpy() * scale,)
    values = params[list(spec.param_names)].to_numpy(float).copy()
    for position, name in enumerate(spec.param_names):
        if name in spec.time_params:
            values[position] *= scale
    return data, weights, values


def _lifetimes_pareto_total(log_params, data, weights) -> float:
    """lifetimes' own Pareto/NBD log-likelihood, summed over customers."""
    nll = quietly(
        lifetimes.ParetoNBDFitter._negative_log_likelihood,
        np.exp(log_params),
        *data,
        weights,
        0.0,
    )
    return -nll * weights.mean()


def _pareto_note(summary: pd.DataFrame, fitted, reference) -> str:
    """Check ccnb's Pareto/NBD optimum is at least as good as lifetimes' (Nelder-Mead)."""
    data, weights, ours_params = _scaled_pareto(summary, fitted.params_)
    *_, their_params = _scaled_pareto(summary, reference.params_)
    ours = _lifetimes_pareto_total(np.log(ours_params), data, weights)
    theirs = _lifetimes_pareto_total(np.log(their_params), data, weights)
    if ours < theirs - 1e-9 * abs(theirs):
        raise AssertionError(f"Pareto/NBD: ccnb log-likelihood {ours} < lifetimes {theirs}")
    relative = float((fitted.params_ / reference.params_ - 1).abs().max())
    return (
        f"Pareto/NBD log-likelihood (lifetimes' function, scaled time) ccnb {ours:.4f} vs "
        f"lifetimes {theirs:.4f}; largest relative parameter difference {relative:.1g}"
    )


def _pareto_stationarity_note(summary: pd.DataFrame, fitted) -> str:
    """Check ccnb's Pareto/NBD optimum is stationary under lifetimes' own likelihood.

    Central differences (step 1e-5 in the log-parameters) of lifetimes' function; the largest
    gradient component per customer must be below 1e-6 (a point 1e-3 away gives about 1e-4).
    """
    data, weights, params = _scaled_pareto(summary, fitted.params_)
    theta, step = np.log(params), 1e-5
    gradient = [
        (
            _lifetimes_pareto_total(theta + step * unit, data, weights)
            - _lifetimes_pareto_total(theta - step * unit, data, weights)
        )
        / (2 * step)
        / weights.sum()
        for unit in np.eye(len(theta))
    ]
    largest = float(np.max(np.abs(gradient)))
    if not largest < 1e-6:
        raise AssertionError(f"Pareto/NBD: ccnb optimum not stationary ({largest:.2g})")
    return (
        "Pareto/NBD optimum stationary under lifetimes' function (scaled time): largest "
        f"gradient per customer {largest:.1g}"
    )


_PARETO_CHILD = textwrap.dedent(
    """
    import sys, time, warnings
    import numpy as np
    warnings.simplefilter("ignore")
    import lifetimes
    frequency, recency, age = np.load(sys.argv[1])
    print("ready", flush=True)
    start = time.perf_counter()
    fitter = lifetimes.ParetoNBDFitter().fit(frequency, recency, age)
    print(time.perf_counter() - start, flush=True)
    """
)


def _lifetimes_pareto_with_timeout(summary: pd.DataFrame, timeout: float) -> float | None:
    """Seconds of lifetimes' Pareto/NBD fit in a subprocess, or None if stopped at ``timeout``.

    The clock starts once the child has imported lifetimes and loaded the data.
    """
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "summary.npy"
        np.save(path, summary[["frequency", "recency", "T"]].to_numpy(float).T)
        child = subprocess.Popen(
            [sys.executable, "-c", _PARETO_CHILD, str(path)], stdout=subprocess.PIPE, text=True
        )
        with child:
            child.stdout.readline()  # "ready"
            try:
                child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                return None
            if child.returncode != 0:
                raise AssertionError(f"lifetimes' Pareto/NBD child failed ({child.returncode})")
            return float(child.stdout.read().split()[-1])


def bench_fits(summaries: dict, repeats_for, pareto_max: int, pareto_timeout_min: int) -> None:
    print("model fits: ccnb.clv vs lifetimes fitters on every row", flush=True)
    for n_customers in sorted(summaries):
        _bench_fits_size(
            summaries[n_customers],
            *repeats_for(n_customers),
            lifetimes_pareto=n_customers <= pareto_max,
            pareto_timeout=n_customers >= pareto_timeout_min,
        )


def _bench_fits_size(
    summary: pd.DataFrame,
    repeats: int,
    their_repeats: int,
    *,
    lifetimes_pareto: bool,
    pareto_timeout: bool,
) -> None:
    size = f"{len(summary):,} customers"
    spenders = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]

    def ours_bgnbd():
        return clv.fit_purchases(summary)

    def theirs_bgnbd():
        return quietly(
            lifetimes.BetaGeoFitter().fit, summary["frequency"], summary["recency"], summary["T"]
        )

    def ours_spend():
        return clv.fit_spend(summary)

    def theirs_spend():
        return quietly(
            lifetimes.GammaGammaFitter().fit, spenders["frequency"], spenders["monetary_value"]
        )

    def ours_pareto():
        return clv.fit_purchases(summary, model="paretonbd")

    def theirs_pareto():
        return quietly(
            lifetimes.ParetoNBDFitter().fit, summary["frequency"], summary["recency"], summary["T"]
        )

    results = {}
    for name, ours, theirs in (
        ("BG/NBD", ours_bgnbd, theirs_bgnbd),
        ("Gamma-Gamma", ours_spend, theirs_spend),
        ("Pareto/NBD", ours_pareto, theirs_pareto),
    ):
        ours_s, fitted = timed(ours, repeats)
        if name == "Pareto/NBD" and not lifetimes_pareto:
            _bench_pareto_timeout(summary, size, ours_s, fitted, repeats, run=pareto_timeout)
            continue
        # lifetimes' Pareto/NBD (Nelder-Mead) takes a minute even on 10,000 customers: once
        theirs_s, reference = timed(theirs, 1 if name == "Pareto/NBD" else their_repeats)
        note = ""
        if name == "Pareto/NBD":
            note = _pareto_note(summary, fitted, reference)
        else:
            _close(fitted.params_, reference.params_, name)
        results[name] = (ours_s, theirs_s)
        record(f"fit {name}", size, ours_s, theirs_s, "lifetimes", repeats)
        if note:
            print("   " + note, flush=True)
    ours_s = results["BG/NBD"][0] + results["Gamma-Gamma"][0]
    theirs_s = results["BG/NBD"][1] + results["Gamma-Gamma"][1]
    record("fit BG/NBD + Gamma-Gamma", size, ours_s, theirs_s, "lifetimes", repeats)


def _bench_pareto_timeout(summary, size, ours_s, fitted, repeats, *, run: bool) -> None:
    """lifetimes' Pareto/NBD (hours here) in a subprocess stopped at 30x ccnb's time."""
    if not run:
        record("fit Pareto/NBD", size, ours_s, None, "lifetimes not run", repeats)
        return
    print("   " + _pareto_stationarity_note(summary, fitted), flush=True)
    budget = PARETO_TARGET * ours_s
    theirs_s = _lifetimes_pareto_with_timeout(summary, budget)
    if theirs_s is None:
        record("fit Pareto/NBD", size, ours_s, budget, "lifetimes (stopped)", repeats, stopped=True)
    else:
        record("fit Pareto/NBD", size, ours_s, theirs_s, "lifetimes", repeats)


def bench_predict(summaries: dict, n_draws: int) -> None:
    print(f"CLV prediction for all customers ({n_draws} parameter draws)", flush=True)
    for n_customers in sorted(summaries):
        summary = summaries[n_customers]
        purchases, spend = clv.fit_purchases(summary), clv.fit_spend(summary)
        ours_s, _ = timed(
            lambda summary=summary, purchases=purchases, spend=spend: clv.predict(
                summary,
                purchases=purchases,
                spend=spend,
                gross_margin=0.3,
                discount_rate_annual=0.1,
                horizon_months=12,
                time_unit="W",
                n_draws=n_draws,
            ),
            1,
        )
        record("predict rCLV", f"{n_customers:,} customers", ours_s, None, "-", 1)


# ---------------------------------------------------------------------------------------------


def _empty_notebooks(folder: Path, count: int) -> None:
    """Notebooks with only the parameters cell: starting the kernel is all they cost."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        notebook = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell('params_file = "../params/demo.yaml"\noverrides = {}')
        cell.metadata["tags"] = ["parameters"]
        notebook.cells = [cell]
        notebook.metadata["kernelspec"] = json.loads(
            (ROOT / "notebooks" / "00_kpi_overview.ipynb").read_text()
        )["metadata"]["kernelspec"]
        nbformat.write(notebook, folder / f"{number:02d}_empty.ipynb")


def _client_params(folder: Path, count: int) -> list[Path]:
    source = yaml.safe_load((ROOT / "params" / "demo.yaml").read_text())
    paths = []
    for number in range(count):
        params = dict(source, slug=f"bench{number}", client=f"Bench {number}")
        path = folder / f"bench{number}.yaml"
        path.write_text(yaml.safe_dump(params))
        paths.append(path)
    return paths


def _run_batch(params, notebook_dir, jobs, *, precompute=True) -> float:
    """Wall seconds of ``ccnb run`` in a subprocess, as a consultant runs it.

    Not `run_clients` in this process: its worker and rendering processes are spawned, and a
    spawned process imports the parent's main module first, here this harness with its
    benchmark libraries (about 3 s more per run that no user pays).
    """
    runner = Path(sys.executable).parent / "ccnb"
    with tempfile.TemporaryDirectory() as output:
        command = [str(runner), "run", *(str(path) for path in params)]
        command += ["--notebook-dir", str(notebook_dir), "--output-dir", output]
        command += ["--jobs", str(jobs), "--precompute" if precompute else "--no-precompute"]
        start = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        if finished.returncode != 0:
            raise AssertionError(f"batch failed (exit {finished.returncode}): {finished.stdout}")
    return seconds


def bench_batch(*, four_clients: bool) -> None:
    print("batch: ccnb run (papermill) vs the floor of a kernel per notebook", flush=True)
    work = Path(tempfile.mkdtemp(prefix="ccnb-bench-"))
    try:
        count = len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
        empty = work / "empty"
        _empty_notebooks(empty, count)
        params = _client_params(work, 4)
        # the floor: the same runner and client, kernels that run nothing (no tables to compute)
        floor = _run_batch(params[:1], empty, 1, precompute=False)
        full = _run_batch(params[:1], ROOT / "notebooks", 1)
        task = f"batch {count} notebooks, 1 client"
        record(task, "demo", full, floor, "empty-kernel floor", 1)
        print(f"   {count}-notebook batch = {full / floor:.1f}x the kernel floor (target <= 2x)")
        if four_clients:
            one = _run_batch(params, ROOT / "notebooks", 1)
            two = _run_batch(params, ROOT / "notebooks", 2)
            record("batch 4 clients --jobs 2", "demo", two, one, "--jobs 1", 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------

_PARQUET_CHILD = textwrap.dedent(
    """
    import datetime as dt, json, resource, sys, time
    import ibis
    from ccnb.engine import read_table
    from ccnb.summary import customer_summary
    path, end, temp = sys.argv[1], dt.date.fromisoformat(sys.argv[2]), sys.argv[3]
    connection = ibis.duckdb.connect(temp_directory=temp, memory_limit="2GB")
    table = read_table(connection, path, name="transactions")
    table = table.mutate(date=table.date.cast("date"))
    start = time.perf_counter()
    summary = customer_summary(table, observation_end=end)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "customers": len(summary),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """
)


def bench_parquet(n_rows: int) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    print(f"summary of a {n_rows:,}-row parquet file (DuckDB streaming, subprocess)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="ccnb-bench-parquet-"))
    try:
        path = work / "transactions.parquet"
        chunk_rows = min(n_rows, 5_000_000)
        frame = generate_transactions(
            n_customers=chunk_rows // 10, n_transactions_target=chunk_rows, seed=0
        )
        end = frame["date"].max().date()
        chunk = pa.Table.from_pandas(frame, preserve_index=False)
        del frame
        # The generated chunk written n_rows / chunk_rows times, each time with its own
        # customers (ids prefixed): the file holds that many populations of the same retailer.
        with pq.ParquetWriter(path, chunk.schema) as writer:
            for copy in range(max(1, round(n_rows / chunk_rows))):
                prefixed = chunk
                for column in ("customer_id", "order_id"):
                    kind = chunk[column].type
                    ids = pc.binary_join_element_wise(
                        pa.scalar(f"K{copy:02d}-", kind), chunk[column], pa.scalar("", kind)
                    )
                    prefixed = prefixed.set_column(
                        prefixed.schema.get_field_index(column), column, ids
                    )
                writer.write_table(prefixed)
        del chunk
        rows = pq.ParquetFile(path).metadata.num_rows
        child = subprocess.run(
            [sys.executable, "-c", _PARQUET_CHILD, str(path), end.isoformat(), str(work / "spill")],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(
            f"  customer summary {rows:,} rows parquet -> {result['customers']:,} customers: "
            f"{result['seconds']:.1f} s, child peak RSS {child_peak:.0f} MB "
            f"({'<' if child_peak < 4096 else '>='} 4 GB)",
            flush=True,
        )
        ROWS.append(
            {
                "task": "parquet summary",
                "size": f"{rows:,} rows",
                "ccnb_s": result["seconds"],
                "peak_rss_mb": child_peak,
            }
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------

#: the issue's big client: the demo generator's retailer at a million customers
BIG_CLIENT = {"n_customers": 1_000_000, "n_transactions_target": 10_000_000, "seed": 1}


def _big_params(export: Path, *, engine: str) -> str:
    """The benchmark's params: the column mapping, the dates, the margin and the budget only."""
    params = {
        "client": "Big Retail",
        "slug": "big",
        "currency": "EUR",
        "transactions": {
            "path": str(export),
            "columns": {
                name: name
                for name in ("customer_id", "date", "amount", "order_id", "channel", "category")
            },
        },
        "observation_end": "2025-12-31",
        "calibration_end": "2024-12-31",
        "gross_margin": 0.35,
        "budget": {"total": 200000},
    }
    if engine == "spark":
        # local mode: the driver is the executor; its heap holds Spark's working set
        params["engine"] = {
            "backend": "spark",
            "master": "local[2]",
            "config": {"spark.driver.memory": "2g", "spark.sql.shuffle.partitions": 8},
        }
    return yaml.safe_dump(params, sort_keys=False)


def _process_role(member) -> str:
    """What a process of a `ccnb run` tree is: "JVM", "kernels" or ccnb's own processes."""
    if member.name() == "java":
        return "JVM"
    if any("ipykernel" in part for part in member.cmdline()):
        return "kernels"
    return "ccnb (runner, worker, rendering)"


def _tree_rss_run(
    command: list[str], cwd: Path
) -> tuple[int, float, float, float, dict[str, float]]:
    """Run ``command``; its exit code, wall seconds, and peak RSS (MB) of the whole process
    tree (the sum over the runner, its worker, the kernels, a JVM), of its largest process and
    of each role's largest process (`_process_role`), sampled every 0.2 s."""
    import psutil

    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL)
    root = psutil.Process(process.pid)
    peak_tree = peak_single = 0
    peak_role: dict[str, float] = {}
    while process.poll() is None:
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            members = []
        sizes = []
        for member in members:
            try:
                size, role = member.memory_info().rss, _process_role(member)
            except psutil.Error:
                continue
            sizes.append(size)
            peak_role[role] = max(peak_role.get(role, 0), size / 2**20)
        peak_tree = max(peak_tree, sum(sizes))
        peak_single = max([peak_single, *sizes])
        time.sleep(0.2)
    wall = time.perf_counter() - start
    return process.returncode, wall, peak_tree / 2**20, peak_single / 2**20, peak_role


def bench_big(*, engine: str, client: dict) -> None:
    """The big client end to end with ``ccnb run``: wall time, peak RSS, time per stage."""
    print(f"big client on {engine}: ccnb run, every notebook, {client}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="ccnb-bench-big-"))
    try:
        start = time.perf_counter()
        frame = generate_transactions(**client)
        export = work / "export.parquet"
        # microseconds: Spark cannot read pandas' default nanosecond timestamps
        frame.to_parquet(
            export, index=False, coerce_timestamps="us", allow_truncated_timestamps=True
        )
        size = f"{len(frame):,} tx / {frame['customer_id'].nunique():,} cust"
        del frame
        print(f"   generated {size} in {time.perf_counter() - start:.0f} s", flush=True)
        (work / "big.yaml").write_text(_big_params(export, engine=engine))
        runner = Path(sys.executable).parent / "ccnb"
        code, wall, tree, single, roles = _tree_rss_run([str(runner), "run", "big.yaml"], work)
        published = work / "outputs" / "big" / "run.json"
        if code != 0 or not published.exists():
            raise AssertionError(f"the big client failed (exit {code}): see {work}")
        run = json.loads(published.read_text())
        stages = [
            ("load and validate", run["load_seconds"]),
            ("tables (thread)", run["tables"]["seconds"]),
        ] + [(notebook["name"], notebook["seconds"]) for notebook in run["notebooks"]]
        task = f"big client, 6 notebooks ({engine})"
        ROWS.append(
            {
                "task": task,
                "size": size,
                "ccnb_s": wall,
                "peak_rss_mb": tree,
                "largest_process_rss_mb": single,
                "largest_by_role_rss_mb": roles,
                "stages": dict(stages),
            }
        )
        print(
            f"  {task:<34} {size:<26} wall {wall:6.1f} s  peak RSS of the whole run "
            f"{tree:,.0f} MB (largest process {single:,.0f} MB)",
            flush=True,
        )
        for role, peak in sorted(roles.items()):
            print(f"     largest {role:<32} {peak:7,.0f} MB", flush=True)
        for name, seconds in stages:
            print(f"     {name:<28} {seconds:7.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_at_scale(
    script: str, where: str, arguments: list[Path], *, work: Path, task: str, size: str
) -> dict:
    """Run a benchmark script on the driver or on Spark in its own process (the last of
    ``arguments`` is its own folder, made here); its result, with the whole process tree's
    peak RSS, is recorded as a row and returned."""
    result_path = work / f"{script}-{where}.json"
    for folder in arguments[-1:]:
        folder.mkdir()
    command = [sys.executable, str(Path(__file__).with_name(script)), where, *map(str, arguments)]
    code, _, tree, _, _ = _tree_rss_run([*command, str(result_path)], work)
    if code != 0:
        raise AssertionError(f"the {where} {task} failed (exit {code}): see {work}")
    row = {**json.loads(result_path.read_text()), "tree": tree}
    ROWS.append(
        {
            "task": f"big client's {task} ({where})",
            "size": size,
            "ccnb_s": row["seconds"],
            "peak_rss_mb": tree,
            "python_peak_rss_mb": row["python_peak_rss_mb"],
            **({"equity": row["equity"]} if "equity" in row else {}),
        }
    )
    return row


def bench_spark_predict(*, client: dict) -> None:
    """The big client's prediction on the driver against Spark's executors (each a process)."""
    print(f"big client's prediction: driver vs Spark local[2] executors, {client}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="ccnb-bench-predict-"))
    try:
        frame = generate_transactions(**client)
        summary = customer_summary(engine_table(frame), observation_end=dt.date(2025, 12, 31))
        del frame
        # three groups by repeat purchases: the totals come back per group and draw
        summary["segment"] = np.select(
            [summary["frequency"] == 0, summary["frequency"] < 3], ["one-time", "1-2"], "3+"
        )
        columns = ["customer_id", "frequency", "recency", "T", "monetary_value", "segment"]
        summary[columns].to_parquet(work / "summary.parquet", index=False)
        rfm_columns = ["customer_id", "days_since_last", "orders", "revenue"]
        summary[rfm_columns].to_parquet(work / "rfm.parquet", index=False)
        models = (clv.fit_purchases(summary, model="bgnbd"), clv.fit_spend(summary))
        (work / "models.pickle").write_bytes(pickle.dumps(models))
        size = f"{len(summary):,} customers"
        del summary
        results = {}
        for where in ("driver", "spark"):
            arguments = [work / "summary.parquet", work / "models.pickle", work / where]
            row = results[where] = _run_at_scale(
                "predict_at_scale.py", where, arguments, work=work, task="prediction", size=size
            )
            print(
                f"  prediction on the {where:<7} {size:<20} {row['seconds']:6.1f} s  "
                f"Python process peak {row['python_peak_rss_mb']:,.0f} MB, whole tree "
                f"{row['tree']:,.0f} MB; equity {row['equity'][0]:,.0f} "
                f"[{row['equity'][1]:,.0f}, {row['equity'][2]:,.0f}]",
                flush=True,
            )
        driver, spark = results["driver"], results["spark"]
        memory = driver["python_peak_rss_mb"] / spark["python_peak_rss_mb"]
        print(
            f"  Python process peak: {driver['python_peak_rss_mb']:,.0f} MB on the driver, "
            f"{spark['python_peak_rss_mb']:,.0f} MB as Spark's driver ({memory:.1f}x); time on "
            f"Spark {spark['seconds'] / driver['seconds']:.2f}x the driver's "
            f"({spark['patterns']:,} distinct patterns read by the driver)",
            flush=True,
        )
        _bench_spark_segments(work, size=size)
        _bench_spark_fits(work, size=size)
        _bench_spark_budget(work, size=size)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bench_spark_segments(work: Path, *, size: str) -> None:
    """The big client's RFM segments on the driver against Spark's executors."""
    results = {}
    for where in ("driver", "spark"):
        arguments = [work / "rfm.parquet", work / f"segments-{where}"]
        row = results[where] = _run_at_scale(
            "segments_at_scale.py", where, arguments, work=work, task="RFM segments", size=size
        )
        print(
            f"  segments on the {where:<7} {size:<20} {row['seconds']:6.1f} s  Python process "
            f"peak {row['python_peak_rss_mb']:,.0f} MB, whole tree {row['tree']:,.0f} MB",
            flush=True,
        )
    driver, spark = results["driver"], results["spark"]
    if driver["customers"] != spark["customers"] or driver["medians"] != spark["medians"]:
        raise AssertionError(f"segments differ: driver {driver}, spark {spark}")
    print(
        f"  same segment sizes and medians; Python process peak "
        f"{driver['python_peak_rss_mb']:,.0f} MB on the driver, "
        f"{spark['python_peak_rss_mb']:,.0f} MB as Spark's driver "
        f"({driver['python_peak_rss_mb'] / spark['python_peak_rss_mb']:.1f}x); time on Spark "
        f"{spark['seconds'] / driver['seconds']:.2f}x the driver's",
        flush=True,
    )


def _bench_spark_fits(work: Path, *, size: str) -> None:
    """The big client's whole-history fits on Spark: the collected customers against the
    customers' distinct patterns counted by Spark."""
    results = {}
    for where in ("driver", "spark"):
        arguments = [work / "summary.parquet", work / f"fits-{where}"]
        row = results[where] = _run_at_scale(
            "fits_at_scale.py",
            where,
            arguments,
            work=work,
            task="BG/NBD and Gamma-Gamma fits",
            size=size,
        )
        source = "collected customers" if where == "driver" else "patterns counted by Spark"
        print(
            f"  fits on {source:<26} {size:<20} {row['seconds']:6.1f} s  Python process "
            f"peak {row['python_peak_rss_mb']:,.0f} MB, whole tree {row['tree']:,.0f} MB; "
            f"{row['rows_to_driver']:,} rows to the driver",
            flush=True,
        )
    driver, spark = results["driver"], results["spark"]
    for name in ("purchase_params", "spend_params"):
        np.testing.assert_allclose(spark[name], driver[name], rtol=1e-9, err_msg=name)
    if spark["spend_excluded"] != driver["spend_excluded"]:
        raise AssertionError(f"fits differ: driver {driver}, spark {spark}")
    print(
        f"  same parameters; Python process peak {driver['python_peak_rss_mb']:,.0f} MB with "
        f"the customers collected, {spark['python_peak_rss_mb']:,.0f} MB with the patterns "
        f"({driver['python_peak_rss_mb'] / spark['python_peak_rss_mb']:.1f}x); time "
        f"{driver['seconds'] / spark['seconds']:.2f}x",
        flush=True,
    )


def _bench_spark_budget(work: Path, *, size: str) -> None:
    """The big client's customer-centric allocation on the driver against Spark's executors,
    on the rCLV Spark's executors predicted."""
    predictions = work / "spark" / "predictions" / "kind=customer"
    results = {}
    for where in ("driver", "spark"):
        row = results[where] = _run_at_scale(
            "budget_at_scale.py",
            where,
            [predictions, work / f"budget-{where}"],
            work=work,
            task="customer-centric allocation",
            size=size,
        )
        print(
            f"  allocation on the {where:<7} {size:<20} {row['seconds']:6.1f} s  Python process "
            f"peak {row['python_peak_rss_mb']:,.0f} MB, whole tree {row['tree']:,.0f} MB; "
            f"shadow price {row['shadow_price']:.6g}",
            flush=True,
        )
    driver, spark = results["driver"], results["spark"]
    gap = abs(spark["shadow_price"] / driver["shadow_price"] - 1)
    if gap > 1e-9 or driver["totals"].keys() != spark["totals"].keys():
        raise AssertionError(f"allocations differ: driver {driver}, spark {spark}")
    for segment, totals in driver["totals"].items():
        np.testing.assert_allclose(spark["totals"][segment], totals, rtol=1e-9, atol=0.01)
    print(
        f"  same shadow price (relative gap {gap:.1e}) and totals by segment; Python process "
        f"peak {driver['python_peak_rss_mb']:,.0f} MB on the driver, "
        f"{spark['python_peak_rss_mb']:,.0f} MB as Spark's driver "
        f"({driver['python_peak_rss_mb'] / spark['python_peak_rss_mb']:.1f}x); time on Spark "
        f"{spark['seconds'] / driver['seconds']:.2f}x the driver's",
        flush=True,
    )


# ---------------------------------------------------------------------------------------------


def _timed_cells(client, cells) -> float:
    """Seconds to execute ``cells`` (index, cell) in ``client``'s running kernel."""
    start = time.perf_counter()
    for index, cell in cells:
        client.execute_cell(cell, index)
    return time.perf_counter() - start


def bench_workshop() -> None:
    """Workshop mode on the demo: each notebook's Restart & Run All, then what-ifs, warm."""
    from nbclient import NotebookClient

    print("workshop: notebooks through nbclient on params/demo.yaml, no cache", flush=True)
    os.environ.pop("CCNB_CACHE_DIR", None)
    os.environ.pop("CCNB_WIDGETS", None)
    folder = ROOT / "notebooks"
    what_ifs = {
        "04_budget_allocation": (
            {"budget": {"total": 8000}},
            "display(*workshop.budget_sections(analysis, total=8000.0, max_lift=0.2, "
            "spend_scale=20.0))",
            "budget",
        ),
        "03_clv_modelling": (
            {"gross_margin": 0.45},
            "display(*workshop.value_sections(analysis, gross_margin=0.45, "
            "discount_rate_annual=0.1, horizon_months=36, retention_change=0))",
            "margin",
        ),
    }
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(
            notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": folder}}
        )
        cells = list(enumerate(notebook.cells))
        with client.setup_kernel():
            cold = _timed_cells(client, cells)
            record(
                f"Restart & Run All {path.stem}",
                "demo, 5,000 customers",
                cold,
                None,
                "target 10 s",
                1,
            )
            if path.stem not in what_ifs:
                continue
            overrides, slider, name = what_ifs[path.stem]
            parameters = next(
                i for i, cell in cells if "parameters" in cell.metadata.get("tags", [])
            )
            changed = nbformat.v4.new_code_cell(f"overrides = {overrides!r}")
            rerun = [(parameters, changed), *cells[parameters + 1 :]]
            warm = _timed_cells(client, rerun)
            target = "target 1 s" if name == "budget" else "target 2 s"
            record(
                f"{name} what-if: re-run notebook",
                "warm kernel, new overrides",
                warm,
                None,
                target,
                1,
            )
            notebook.cells.append(nbformat.v4.new_code_cell(slider))
            moved = _timed_cells(client, [(len(notebook.cells) - 1, notebook.cells[-1])])
            record(
                f"{name} what-if: slider redraw", "warm kernel, one section", moved, None, target, 1
            )


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (
        f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {memory:.0f} GB RAM, "
        f"Python {platform.python_version()}, load average at start {load:.1f}"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--only", nargs="*", default=None, help="sections to run")
    parser.add_argument(
        "--one-client", action="store_true", help="skip the 4 clients, --jobs 1 vs --jobs 2"
    )
    parser.add_argument("--parquet-rows", type=int, default=50_000_000)
    parser.add_argument(
        "--pareto-max",
        type=int,
        default=10_000,
        help="largest customer count for lifetimes' Pareto/NBD (Nelder-Mead, slow)",
    )
    parser.add_argument(
        "--pareto-timeout-min",
        type=int,
        default=1_000_000,
        help=f"from this customer count, lifetimes' Pareto/NBD runs in a subprocess stopped at "
        f"{PARETO_TARGET}x ccnb's time",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    sections = set(
        args.only
        or [
            "summary",
            "fits",
            "predict",
            "batch",
            "parquet",
            "workshop",
            "big",
            "big-spark",
            "spark-predict",
        ]
    )
    print(machine(), flush=True)
    started = time.perf_counter()
    if args.quick:
        sizes = [(100_000, 10_000, 3, 3)]
        repeats_for = lambda n: (3, 1)  # noqa: E731
        n_draws, parquet_rows = 20, 5_000_000
    else:
        sizes = [(100_000, 10_000, 3, 3), (1_000_000, 100_000, 3, 1), (3_000_000, 1_000_000, 3, 1)]
        repeats_for = lambda n: (3, 3) if n <= 10_000 else (1, 1)  # noqa: E731
        n_draws, parquet_rows = 200, args.parquet_rows
    summaries: dict[int, pd.DataFrame] = {}
    if sections & {"summary", "fits", "predict"}:
        if "summary" in sections:
            bench_summary(sizes, summaries)
        else:
            for n_rows, n_customers, *_ in sizes:
                frame = transactions(n_rows, n_customers)
                summary = customer_summary(
                    engine_table(frame), observation_end=frame["date"].max().date()
                )
                summaries[len(summary)] = summary
    if "fits" in sections:
        bench_fits(summaries, repeats_for, args.pareto_max, args.pareto_timeout_min)
    if "predict" in sections:
        bench_predict({n: s for n, s in summaries.items() if n <= 100_000}, n_draws)
    if "batch" in sections:
        bench_batch(four_clients=not args.one_client)
    if "parquet" in sections:
        bench_parquet(parquet_rows)
    if "workshop" in sections:
        bench_workshop()
    big = (
        BIG_CLIENT
        if not args.quick
        else {**BIG_CLIENT, "n_customers": 50_000, "n_transactions_target": 500_000}
    )
    if "big" in sections:
        bench_big(engine="duckdb", client=big)
    spark_missing = importlib.util.find_spec("pyspark") is None or shutil.which("java") is None
    if "big-spark" in sections:
        if spark_missing:
            print("big client on spark: skipped (needs PySpark and Java)", flush=True)
        else:
            bench_big(engine="spark", client=big)
    if "spark-predict" in sections:
        if spark_missing:
            print("prediction on spark: skipped (needs PySpark and Java)", flush=True)
        else:
            bench_spark_predict(client=big)
    print(f"total {time.perf_counter() - started:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(ROWS, indent=2, default=str))


if __name__ == "__main__":
    main()
