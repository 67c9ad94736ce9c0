"""What `ccnb check` accepts, every notebook renders: the six real notebooks on the thinnest
histories a client can send. Each publishes with status "warning"; the sections that cannot
say anything for the client say so in one sentence. Data that cannot be analysed at all is
refused by the check with the fix."""

import datetime as dt
import json
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from typer.testing import CliRunner

from ccnb.batch.cli import app
from ccnb.batch.parallel import run_clients

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
START = dt.date(2024, 1, 1)


def _day(offset: int) -> str:
    return (START + dt.timedelta(days=offset)).isoformat()


EDGE_CLIENTS = {
    "one-row": [("C1", _day(60), "25.00")],
    "one-day": [(f"C{i}", _day(60), f"{10 + i}.00") for i in range(50)],
    "one-customer": [("C1", _day(7 * i), "20.00") for i in range(60)],
    "no-repeat": [(f"C{i}", _day(2 * i), f"{10 + i % 7}.00") for i in range(180)],
    # a placeholder and a future date among ordinary rows: both implausible_date
    "odd-dates": [(f"C{i % 30}", _day(5 * i), "12.00") for i in range(150)]
    + [("C1", "1900-01-01", "5.00"), ("C2", "2099-12-31", "7.00")],
}


#: e-mail addresses as customer ids, under pseudonymize_ids; one row is rejected (bad date)
PRIVATE = [(f"person{i % 60}@example.com", _day(3 * i), f"{15 + i % 9}.00") for i in range(240)]
PRIVATE.append(("leaked@example.com", "not a date", "9.00"))


def _write(folder: Path, slug: str, rows, extra: str = "") -> Path:
    lines = ["customer_id,date,amount", *(",".join(row) for row in rows)]
    (folder / f"{slug}.csv").write_text("\n".join(lines) + "\n")
    params = folder / f"{slug}.yaml"
    params.write_text(
        f"client: {slug}\nslug: {slug}\ntransactions:\n  path: {slug}.csv\ngross_margin: 0.3\n"
        + extra
    )
    return params


@pytest.fixture(scope="module")
def edge_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge")
    params = [_write(folder, slug, rows) for slug, rows in EDGE_CLIENTS.items()]
    params.append(_write(folder, "private", PRIVATE, "pseudonymize_ids: true\n"))
    runs = run_clients(params, notebook_dir=NOTEBOOKS, output_dir=folder / "outputs", jobs=2)
    return {run.folder: run for run in runs}, folder / "outputs"


def test_no_raw_id_and_no_key_reaches_any_output(edge_runs):
    """Pseudonymised client: no e-mail address in any output file (reports, notebooks,
    exports, rejected rows, run.json), nor the key; the rejected row shows a pseudonym."""
    runs, outputs = edge_runs
    assert not runs["private"].failed, runs["private"].failures()
    key = (outputs.parent / ".ccnb-pseudonym.key").read_text().strip()
    files = [path for path in (outputs / "private").rglob("*") if path.is_file()]
    assert {path.suffix for path in files} >= {".html", ".ipynb", ".csv", ".json"}
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert "@example.com" not in text, path.name
        assert key not in text, path.name
    rejected = (outputs / "private" / "exports" / "rejected_rows.csv").read_text()
    assert rejected.count("bad_date") == 1


@pytest.mark.parametrize("slug", sorted(EDGE_CLIENTS))
def test_every_notebook_renders_for_a_thin_history(edge_runs, slug):
    runs, outputs = edge_runs
    run = runs[slug]
    assert run.status == "warning", run.failures()
    assert [notebook.status for notebook in run.notebooks] == ["ok"] * 6
    record = json.loads((outputs / slug / "run.json").read_text())
    assert record["warnings"]  # says what the reports could not do
    for notebook in run.notebooks:
        page = BeautifulSoup((outputs / slug / f"{notebook.name}.html").read_text(), "html.parser")
        text = page.get_text(" ")
        assert "Traceback" not in text and "Error:" not in text, notebook.name
        assert " nan " not in text.lower() and "inf " not in text, notebook.name


def test_the_odd_dates_are_counted_not_analysed(edge_runs):
    _, outputs = edge_runs
    record = json.loads((outputs / "odd-dates" / "run.json").read_text())
    assert record["data_quality"]["transactions"]["rejected"] == {"implausible_date": 2}


def test_a_history_of_returns_only_is_refused_by_the_check(tmp_path):
    rows = [(f"C{i % 20}", _day(i), "-15.00") for i in range(60)]
    params = _write(tmp_path, "all-returns", rows)
    result = CliRunner().invoke(app, ["check", str(params)])
    assert result.exit_code == 1
    assert "no purchase in all-returns.csv: every one of the 60 rows used is a return" in (
        result.output
    )
    assert "Traceback" not in result.output
