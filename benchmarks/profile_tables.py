"""Where a client's tables spend their time and memory: each value of `ClientAnalysis`.

The demo generator's retailer at ``--customers`` (ten transactions each, the big client's
params of ``run_all.py``), on DuckDB or Spark local[2], computed by ``precompute()`` in this
process without the notebooks. Each value's own time is its time less that of the values it
reads (``data`` is the runner's load phase). Each table ``precompute`` asks for also gets the
rise of this process' RSS over it (sampled every 0.05 s; on Spark this process is the
driver), with the values it computed on the way. One run; prints the slowest values, then the
tables by memory.

    .venv/bin/python benchmarks/profile_tables.py --customers 200000 --engine spark
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))

import run_all  # the benchmark's params, from this folder

from ccnb import analysis
from ccnb.datasets import generate_transactions
from ccnb.params import load_params


def timed_values() -> tuple[dict[str, float], dict[str, float]]:
    """Time every tracked value from now on: (inclusive, of which in values it read)."""
    inclusive: dict[str, float] = collections.defaultdict(float)
    inner: dict[str, float] = collections.defaultdict(float)
    stack: list[str] = []

    def timing(compute):
        def run(self, instance):
            start = time.perf_counter()
            stack.append(self.attrname)
            try:
                return compute(self, instance)
            finally:
                stack.pop()
                took = time.perf_counter() - start
                inclusive[self.attrname] += took
                if stack:
                    inner[stack[-1]] += took

        return run

    for kind in (analysis._tracked_value, analysis._stored_table):
        kind._compute = timing(vars(kind)["_compute"])
    return inclusive, inner


class RssOfTables:
    """The peak RSS rise of this process over each table ``precompute`` asks for."""

    def __init__(self) -> None:
        self.rise: dict[str, float] = {}
        self._process = psutil.Process()
        self._peak = self.highest = 0  # since the current table began; over the run
        self._depth = 0
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            rss = self._process.memory_info().rss
            self._peak, self.highest = max(self._peak, rss), max(self.highest, rss)
            time.sleep(0.05)

    def wrap(self, compute):
        def run(descriptor, instance):
            self._depth += 1
            start = self._process.memory_info().rss
            if self._depth == 1:
                self._peak = start
            try:
                return compute(descriptor, instance)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.rise[descriptor.attrname] = (self._peak - start) / 2**20

        return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--engine", choices=["duckdb", "spark"], default="spark")
    parser.add_argument("--top", type=int, default=30, help="values printed")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ccnb-profile-") as folder:
        work = Path(folder)
        export = work / "export.parquet"
        frame = generate_transactions(
            n_customers=options.customers, n_transactions_target=10 * options.customers, seed=1
        )
        # microseconds: Spark cannot read pandas' default nanosecond timestamps
        frame.to_parquet(
            export, index=False, coerce_timestamps="us", allow_truncated_timestamps=True
        )
        del frame
        params_file = work / "client.yaml"
        params_file.write_text(run_all._big_params(export, engine=options.engine))
        inclusive, inner = timed_values()
        memory = RssOfTables()
        analysis._stored_table._compute = memory.wrap(vars(analysis._stored_table)["_compute"])
        client = analysis.ClientAnalysis(load_params(params_file), cache_dir=work / "cache")
        start = time.perf_counter()
        client.precompute()
        total = time.perf_counter() - start
        client.remove_shared_files()
    print(f"{options.customers:,} customers on {options.engine}: precompute {total:.1f} s")
    print(f"{'own':>8} {'with reads':>11}  value")
    rows = sorted(((inclusive[k] - inner[k], inclusive[k], k) for k in inclusive), reverse=True)
    for own, whole, name in rows[: options.top]:
        print(f"{own:8.1f} {whole:11.1f}  {name}")
    print(f"peak RSS of this process {memory.highest / 2**20:,.0f} MiB")
    print(f"{'MiB':>8}  table (RSS rise over it, the values it computed included)")
    for name, rise in sorted(memory.rise.items(), key=lambda item: -item[1])[: options.top]:
        print(f"{rise:8.0f}  {name}")


if __name__ == "__main__":
    main()
