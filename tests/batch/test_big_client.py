"""A client of 200,000 customers through every notebook: what breaks only at scale.

Not timed: `benchmarks/run_all.py --only big` times the 1,000,000-customer client. What this
catches is what depends on the customer count: a tiered plan whose spends round to nothing
(a million customers once gave every segment 0 at the default rounding and no report at all),
draws too many to keep in memory (above `ccnb.clv.IN_MEMORY_CUSTOMERS` they go to files, read
in parts by every report), a workbook sheet longer than a sheet should be. The params set only
what the issue's benchmark sets: the column mapping, the dates, the margin and the budget.
"""

import csv
import json
from pathlib import Path

import pytest

from ccnb import clv
from ccnb.batch.parallel import run_clients
from ccnb.batch.workbook import WORKBOOK_MAX_ROWS
from ccnb.datasets._demo_generator import generate_transactions

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CUSTOMERS = 200_000
BUDGET = 40_000

PARAMS = f"""\
client: Scale Test Retail
slug: scale
currency: EUR
transactions:
  path: export.parquet
  columns:
    customer_id: customer_id
    date: date
    amount: amount
    order_id: order_id
    channel: channel
    category: category
observation_end: "2025-12-31"
calibration_end: "2024-12-31"
gross_margin: 0.35
budget:
  total: {BUDGET}
"""


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale")
    export = generate_transactions(n_customers=CUSTOMERS, n_transactions_target=1_000_000, seed=2)
    export.to_parquet(folder / "export.parquet", index=False)
    (folder / "scale.yaml").write_text(PARAMS, encoding="utf-8")
    (run,) = run_clients(
        [folder / "scale.yaml"], notebook_dir=NOTEBOOKS, output_dir=folder / "outputs"
    )
    return run, folder / "outputs" / "scale", export


def test_every_notebook_runs_and_nothing_is_lost(big_run):
    run, outputs, export = big_run
    assert CUSTOMERS > clv.IN_MEMORY_CUSTOMERS  # the draws went to files
    assert run.status == "ok", (run.error, run.failures(), run.warnings)
    assert [notebook.status for notebook in run.notebooks] == ["ok"] * 6
    record = json.loads((outputs / "run.json").read_text())
    transactions = record["data_quality"]["transactions"]
    assert transactions["rows_read"] == len(export)
    assert transactions["rows_used"] + sum(transactions["rejected"].values()) == len(export)
    assert record["tables"]["error"] is None


def test_every_customer_is_in_the_exports_and_the_budget_is_spent(big_run):
    _, outputs, export = big_run
    customers = export["customer_id"].nunique()
    clv_rows = _rows(outputs / "exports" / "clv.csv")
    assert len(clv_rows) == customers == len({row["customer_id"] for row in clv_rows})
    assert len(_rows(outputs / "exports" / "segments.csv")) == customers
    allocation = _rows(outputs / "exports" / "allocation.csv")
    spend = [float(row["spend"]) for row in allocation]
    assert 0.9 * BUDGET <= sum(spend) <= BUDGET + 1e-6
    # the tiered plan has something to allocate at this scale: more than one segment is paid
    assert len({row["segment"] for row in allocation if float(row["spend"]) > 0}) >= 2


def test_exports_too_long_for_a_sheet_stay_csv(big_run):
    _, outputs, _ = big_run
    record = json.loads((outputs / "run.json").read_text())
    listed = {Path(item["file"]).name: item["rows"] for item in record["exports"]}
    assert listed["clv.csv"] > WORKBOOK_MAX_ROWS
    assert (outputs / "exports" / "scale.xlsx").exists()
