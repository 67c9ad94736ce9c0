"""The holdout validation on a sample against every calibration customer: cost and verdict.

The big client of ``run_all.py`` (``--customers``, ten transactions each) on DuckDB, each
way in its own process: the analysis' calibration table, tracking counts, validation, holdout
total, first with every calibration customer (``validation_customers: null``), then with
the default sample. Prints the time and the peak of Python's own allocations (``tracemalloc``:
the pandas tables and the fits' arrays; DuckDB's memory pool is not in it) over those tables,
and the verdict each way: the model chosen, each model's per-customer MAE and
aggregate error, and whether the holdout total fell inside its interval. One run.

    .venv/bin/python benchmarks/validation_sample.py --customers 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import run_all  # the benchmark's params, from this folder

from ccnb.datasets import generate_transactions

#: what the validation computes, in the order the CLV report reads it
TABLES = ("validation_sample", "calibration", "repeat_purchases", "validation", "holdout_total")


def _measure(params_file: str, bound: int | None) -> dict:
    """The validation's tables with ``validation_customers = bound``, in this process."""
    from ccnb.analysis import ClientAnalysis
    from ccnb.params import load_params, with_overrides

    params = with_overrides(load_params(params_file), validation_customers=bound)
    analysis = ClientAnalysis(params)
    analysis.data.transactions  # noqa: B018 (the load is not the validation's cost)
    # Python's own allocations (the pandas tables and the fits' numpy arrays): the process'
    # RSS does not show them, DuckDB's memory pool, filled by the load, is reused under them
    tracemalloc.start()
    start = time.perf_counter()
    for name in TABLES:
        getattr(analysis, name)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    result = analysis.validation
    table = result.table
    total = analysis.holdout_total
    sample = analysis.validation_sample
    return {
        "customers": sample.sampled,
        "population": sample.population,
        "seconds": seconds,
        "traced_peak_mib": peak / 2**20,
        "chosen": table.loc[result.chosen, "label"],
        "mae": table["mae"].round(4).to_dict(),
        "aggregate_error_pct": table["aggregate_error_pct"].round(2).to_dict(),
        "inside": bool(total["inside"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, metavar=("PARAMS", "BOUND"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        params_file, bound = options.child
        print(json.dumps(_measure(params_file, None if bound == "none" else int(bound))))
        return
    with tempfile.TemporaryDirectory(prefix="ccnb-validation-") as folder:
        work = Path(folder)
        export = work / "export.parquet"
        generate_transactions(
            n_customers=options.customers, n_transactions_target=10 * options.customers, seed=1
        ).to_parquet(export, index=False)
        params_file = work / "client.yaml"
        params_file.write_text(run_all._big_params(export, engine="duckdb"))
        runs = {}
        for label, bound in (("every customer", "none"), ("sample (default)", "100000")):
            output = subprocess.run(
                [sys.executable, __file__, "--child", str(params_file), bound],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[label] = json.loads(output.strip().splitlines()[-1])
    whole, sampled = runs["every customer"], runs["sample (default)"]
    print(
        f"{options.customers:,} customers, {whole['population']:,} in the calibration period: "
        "the validation's tables (calibration, tracking, fits, holdout total)"
    )
    print(f"{'':18} {'customers':>10} {'time':>8} {'Python peak':>12}  chosen      inside")
    for label, run in runs.items():
        print(
            f"{label:18} {run['customers']:>10,} {run['seconds']:>7.1f}s "
            f"{run['traced_peak_mib']:>8.0f} MiB  {run['chosen']:<11} {run['inside']}"
        )
    print(
        f"sample vs every customer: time {whole['seconds'] / sampled['seconds']:.1f}x faster, "
        f"Python peak {whole['traced_peak_mib'] / sampled['traced_peak_mib']:.1f}x smaller"
    )
    print(f"{'model':12} {'MAE all':>8} {'MAE sample':>11} {'error % all':>12} {'sample':>8}")
    for model in whole["mae"]:
        print(
            f"{model:12} {whole['mae'][model]:>8.4f} {sampled['mae'][model]:>11.4f} "
            f"{whole['aggregate_error_pct'][model]:>12.2f} "
            f"{sampled['aggregate_error_pct'][model]:>8.2f}"
        )


if __name__ == "__main__":
    main()
