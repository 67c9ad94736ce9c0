import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from typer.testing import CliRunner

from ccnb.batch import client_run, execute, inputs, records
from ccnb.batch.cli import app
from ccnb.data import load_client
from ccnb.datasets import dataset_path
from ccnb.params import load_params

FIXTURES = Path(__file__).parents[1] / "fixtures" / "notebooks"

ACME_SALES = """\
order_id,customer_id,date,amount,channel
O1,C1,2024-01-05,100.00,web
O2,C1,2024-02-05,50.00,app
O3,C2,2024-01-06,20.00,web
O4,C3,2024-03-01,35.50,store
O5,C3,2024-04-01,12.00,web
O6,,2024-04-02,5.00,web
"""
BETA_SALES = """\
order_id,customer_id,date,amount,channel
B1,X1,2023-05-01,10.00,web
B2,X2,2023-06-01,30.00,web
B3,X1,2023-07-01,15.00,app
"""
PARAMS = """\
client: "{client}"
slug: {slug}
transactions:
  path: {slug}_sales.csv
  columns:
    order_id: order_id
    channel: channel
observation_end: "2024-12-31"
"""


def write_client(folder: Path, *, slug: str, client: str, sales: str) -> Path:
    (folder / f"{slug}_sales.csv").write_text(sales)
    path = folder / f"{slug}.yaml"
    path.write_text(PARAMS.format(slug=slug, client=client))
    return path


def notebook_dir(folder: Path, **notebooks: str) -> Path:
    """A notebook folder with fixture notebooks under the given names."""
    folder.mkdir(parents=True, exist_ok=True)
    for target, source in notebooks.items():
        shutil.copy(FIXTURES / source, folder / f"{target}.ipynb")
    return folder


def ccnb_run(*args: object):
    return CliRunner().invoke(app, ["run", *map(str, args)])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("workspace")
    (root / "params").mkdir()
    acme = write_client(root / "params", slug="acme", client="Acme & <Sons>", sales=ACME_SALES)
    beta = write_client(root / "params", slug="beta", client="Beta", sales=BETA_SALES)
    notebooks = notebook_dir(
        root / "notebooks", **{"01_overview": "01_overview.ipynb", "02_styled": "02_styled.ipynb"}
    )
    return {"root": root, "acme": acme, "beta": beta, "notebooks": notebooks}


@pytest.fixture(scope="module")
def first_run(workspace):
    """Both clients, both notebooks, two processes."""
    outputs = workspace["root"] / "outputs"
    start = time.perf_counter()
    result = ccnb_run(
        workspace["acme"],
        workspace["beta"],
        "--jobs",
        2,
        "--notebook-dir",
        workspace["notebooks"],
        "--output-dir",
        outputs,
    )
    return {"result": result, "outputs": outputs, "seconds": time.perf_counter() - start}


def test_run_publishes_the_outputs_layout(first_run):
    result, outputs = first_run["result"], first_run["outputs"]
    assert result.exit_code == 0, result.output
    assert (outputs / "index.html").exists()
    for client in ("acme", "beta"):
        folder = outputs / client
        expected = {
            ".ccnb-output",  # the ownership mark: what ccnb wrote here
            "index.html",
            "run.json",
            "exports",
            "01_overview.ipynb",
            "01_overview.html",
            "02_styled.ipynb",
            "02_styled.html",
        }
        assert {path.name for path in folder.iterdir()} == expected
        exports = {path.name for path in (folder / "exports").iterdir()}
        assert exports == {
            "kpis.csv",
            "segments.csv",
            "clv.csv",
            "rejected_rows.csv",
            f"{client}.xlsx",  # every export as a sheet
        }
    assert not [path for path in outputs.iterdir() if path.name.startswith(".")]
    # The plain (non-terminal) log and the final pointer to the index page.
    assert "acme / 01_overview: ok" in result.output
    assert result.output.rstrip().endswith(f"Reports: {(outputs / 'index.html').resolve()}")


def test_exports_hold_what_the_notebooks_computed(first_run):
    exports = first_run["outputs"] / "acme" / "exports"
    segments = pd.read_csv(exports / "segments.csv")
    # Hand-computed from ACME_SALES: the row without a customer id is rejected.
    assert dict(zip(segments["customer_id"], segments["revenue"], strict=True)) == {
        "C1": 150.0,
        "C2": 20.0,
        "C3": 47.5,
    }
    kpis = pd.read_csv(exports / "kpis.csv").set_index("kpi")["value"]
    assert kpis.to_dict() == {"customers": 3.0, "revenue": 217.5}
    rejected = pd.read_csv(exports / "rejected_rows.csv")
    assert rejected[["row", "reason"]].values.tolist() == [[6, "missing_customer_id"]]


def test_run_json_records_provenance(first_run, workspace):
    record = json.loads((first_run["outputs"] / "acme" / "run.json").read_text())
    params = load_params(workspace["acme"])
    # three customers: the reports fall back to the value ranking, and the run says so
    assert record["status"] == "warning" and record["slug"] == "acme"
    (warning,) = record["warnings"]  # both fits failed: one warning naming both reasons
    assert warning["warning"] == (
        "Customer value cannot be predicted: the purchase models need at least 50 customers "
        "in the calibration period (to 2 Sep 2024) and it has 3; the spend model needs at "
        "least 20 customers who bought more than once for a positive amount and the data has "
        "2. The reports show the value ranking from history."
    )  # C1 and C3 bought twice; the last third of 5 Jan to 31 Dec 2024 is held out
    assert warning["detail"].startswith("InsufficientDataError: BG/NBD needs at least 50")
    assert record["client"] == "Acme & <Sons>"
    assert record["params"] == json.loads(json.dumps(params.model_dump(mode="json")))
    hashes = {entry["role"]: entry["sha256"] for entry in record["inputs"]}
    assert hashes == {
        "params": hashlib.sha256(workspace["acme"].read_bytes()).hexdigest(),
        "transactions": hashlib.sha256(
            (workspace["acme"].parent / "acme_sales.csv").read_bytes()
        ).hexdigest(),
    }
    libraries = record["environment"]["libraries"]
    for name in (
        "ccnb",
        "pandas",
        "numpy",
        "lifetimes",
        "ibis-framework",
        "duckdb",
        "papermill",
        "nbconvert",
    ):
        assert libraries[name], name
    assert [(nb["name"], nb["status"]) for nb in record["notebooks"]] == [
        ("01_overview", "ok"),
        ("02_styled", "ok"),
    ]
    assert all(nb["seconds"] > 0 for nb in record["notebooks"]) and record["errors"] == []
    quality = load_client(params).quality.to_dict()
    assert record["data_quality"] == json.loads(json.dumps(quality))
    assert {item["file"]: item["rows"] for item in record["exports"]} == {
        "exports/clv.csv": 3,
        "exports/kpis.csv": 2,
        "exports/rejected_rows.csv": 1,
        "exports/segments.csv": 3,
        "exports/acme.xlsx": None,  # sheets, not rows
    }


def test_notebooks_run_on_the_project_interpreter(first_run):
    record = json.loads((first_run["outputs"] / "acme" / "run.json").read_text())
    assert record["environment"]["kernel"] == {"name": "python3", "executable": sys.executable}
    executed = (first_run["outputs"] / "acme" / "01_overview.ipynb").read_text()
    assert f"kernel: {sys.executable}" in executed


def test_builtin_sources_hash_the_shipped_files():
    params = load_params(Path(__file__).parents[2] / "params" / "demo.yaml")
    hashes = {entry["role"]: entry["sha256"] for entry in inputs.input_files(params)}
    for table in ("transactions", "customers", "survey"):
        expected = hashlib.sha256(dataset_path("demo", table=table).read_bytes()).hexdigest()
        assert hashes[table] == expected


def test_reports_are_for_readers(first_run):
    page = (first_run["outputs"] / "acme" / "01_overview.html").read_text()
    assert "group_by" not in page and "load_params" not in page  # no code
    assert "<script" not in page and 'src="http' not in page and "https://cdn" not in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # table, Markdown, TOC
    assert 'href="#customers-of-acme-sons"' in page  # TOC entry of a generated heading
    assert "Acme &amp; &lt;Sons&gt;" in page  # the client name, escaped, in the header
    assert "data:image/png;base64," in page  # the chart, embedded
    styled = (first_run["outputs"] / "acme" / "02_styled.html").read_text()
    assert "<script>alert(2)</script>" not in styled
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in styled


def test_index_pages_link_everything_and_show_headline_kpis(first_run):
    site = (first_run["outputs"] / "index.html").read_text()
    assert 'href="acme/index.html"' in site and 'href="beta/index.html"' in site
    assert 'href="acme/01_overview.html">Fixture overview</a>' in site
    assert "revenue" in site and "217.50" in site  # from exports/kpis.csv
    assert "Acme &amp; &lt;Sons&gt;" in site
    client = (first_run["outputs"] / "acme" / "index.html").read_text()
    for link in ("01_overview.html", "02_styled.ipynb", "exports/segments.csv", "run.json"):
        assert f'href="{link}"' in client


def normalised_outputs(path: Path) -> list:
    """Cell sources and outputs without metadata, Styler's random table ids or addresses."""
    notebook = nbformat.read(path, as_version=4)
    cells = []
    for cell in notebook.cells:
        outputs = [
            {key: value for key, value in output.items() if key != "metadata"}
            for output in cell.get("outputs", [])
        ]
        cells.append((cell.cell_type, cell.source, cell.get("execution_count"), outputs))
    text = re.sub(r"T_[0-9a-f]{5}", "T_id", json.dumps(cells, sort_keys=True))
    return json.loads(re.sub(r" at 0x[0-9a-f]+", " at 0x", text))


def _sheets(path: Path) -> dict:
    """A workbook's cell values, without the cover's run date (a zip's bytes hold its time)."""
    import openpyxl

    book = openpyxl.load_workbook(path)
    values = {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}
    values["Cover"] = [row for row in values["Cover"] if row[0] != "run started"]
    return values


def test_jobs_1_gives_the_same_outputs_as_jobs_2(first_run, workspace):
    outputs = workspace["root"] / "outputs-jobs1"
    result = ccnb_run(
        workspace["acme"],
        workspace["beta"],
        "--jobs",
        1,
        "--notebook-dir",
        workspace["notebooks"],
        "--output-dir",
        outputs,
    )
    assert result.exit_code == 0, result.output
    for client in ("acme", "beta"):
        parallel, serial = first_run["outputs"] / client, outputs / client
        for export in (parallel / "exports").glob("*.csv"):
            assert export.read_bytes() == (serial / "exports" / export.name).read_bytes()
        assert _sheets(parallel / "exports" / f"{client}.xlsx") == _sheets(
            serial / "exports" / f"{client}.xlsx"
        )
        for name in ("01_overview.ipynb", "02_styled.ipynb"):
            assert normalised_outputs(parallel / name) == normalised_outputs(serial / name)


def test_a_broken_client_fails_alone_and_keeps_its_previous_outputs(first_run, workspace, tmp_path):
    # A copy of the workspace after the successful first run.
    shutil.copytree(workspace["root"] / "params", tmp_path / "params")
    shutil.copytree(first_run["outputs"], tmp_path / "outputs")
    before = {
        path.relative_to(tmp_path): path.read_bytes()
        for path in (tmp_path / "outputs" / "beta").rglob("*")
        if path.is_file() and path.name != "index.html"
    }
    (tmp_path / "params" / "beta_sales.csv").write_text("customer_id,date\nX1,2023-05-01\n")
    (tmp_path / "params" / "typo.yaml").write_text("client: Typo\ncurency: EUR\n")
    result = ccnb_run(
        tmp_path / "params" / "acme.yaml",
        tmp_path / "params" / "beta.yaml",
        tmp_path / "params" / "typo.yaml",
        "--notebooks",
        "01",
        "--notebook-dir",
        workspace["notebooks"],
        "--output-dir",
        tmp_path / "outputs",
    )
    assert result.exit_code == 1
    outputs = tmp_path / "outputs"
    # The good client ran notebook 01 again and was swapped in; 02 was carried over.
    acme = json.loads((outputs / "acme" / "run.json").read_text())
    assert acme["status"] == "warning" and acme["params_file"] == str(
        tmp_path / "params" / "acme.yaml"
    )
    assert [(nb["name"], "from_run" in nb) for nb in acme["notebooks"]] == [
        ("01_overview", False),
        ("02_styled", True),
    ]
    assert (outputs / "acme" / "02_styled.html").exists()
    assert (outputs / "acme" / "exports" / "clv.csv").exists()
    # The broken one kept its previous outputs, byte for byte, and reports the failure.
    after = {
        path.relative_to(tmp_path): path.read_bytes()
        for path in (outputs / "beta").rglob("*")
        if path.is_file() and path.name != "index.html" and "failed" not in path.parts
    }
    assert after == before
    error = (outputs / "beta" / "failed" / "error.txt").read_text()
    assert "DataError" in error and "'amount'" in error and "beta_sales.csv" in error
    assert "Traceback" not in error  # an InputError is the client's to fix: its message alone
    failed = json.loads((outputs / "beta" / "failed" / "run.json").read_text())
    assert failed["status"] == "failed" and failed["errors"][0]["error"].startswith("DataError")
    assert "The last run failed" in (outputs / "beta" / "index.html").read_text()
    # A params file that does not load is a failed client under its file name.
    typo = (outputs / "typo" / "failed" / "error.txt").read_text()
    assert "ParamsError" in typo and "did you mean 'currency'" in typo
    assert "Traceback" not in typo
    # The summary names every failure.
    assert "beta: DataError: column 'amount'" in result.output
    assert "typo: ParamsError" in result.output
    site = (outputs / "index.html").read_text()
    assert site.count('class="status status-failed"') == 2
    assert site.count('class="status status-warning"') == 1  # acme: too few for the models


def test_failing_and_hung_notebooks_are_kept_with_their_cell_and_error(workspace, tmp_path):
    notebooks = notebook_dir(
        tmp_path / "notebooks",
        **{
            "01_overview": "01_overview.ipynb",
            "02_raises": "raises.ipynb",
            "03_sleeps": "sleeps.ipynb",
        },
    )
    start = time.perf_counter()
    result = ccnb_run(
        workspace["acme"],
        "--notebooks",
        "02,03",
        "--timeout",
        5,
        "--notebook-dir",
        notebooks,
        "--output-dir",
        tmp_path / "outputs",
    )
    assert result.exit_code == 1
    assert time.perf_counter() - start < 90  # the 600 s sleep was stopped
    folder = tmp_path / "outputs" / "acme"
    # No previous outputs: only the failure and an index page saying so.
    assert {path.name for path in folder.iterdir()} == {".ccnb-output", "failed", "index.html"}
    assert {path.name for path in (folder / "failed").iterdir()} == {
        "02_raises.ipynb",
        "03_sleeps.ipynb",
        "error.txt",
        "run.json",
    }
    # Cell numbers as in the source notebooks: markdown, parameters, (setup,) raise / sleep.
    lines = [
        "acme / 02_raises cell 4 (In [4]): ValueError: fixture failure: no repeat buyers",
        "acme / 03_sleeps cell 3 (In [3]): timed out: the cell ran longer than 5 s (--timeout)",
    ]
    for line in lines:
        assert line in result.output
    error = (folder / "failed" / "error.txt").read_text()
    assert "02_raises at cell 4 (In [4]): ValueError: fixture failure: no repeat buyers" in error
    assert "03_sleeps at cell 3 (In [3]): timed out" in error and "time.sleep(600)" in error
    # The kept notebook ran up to the failing cell and not beyond.
    executed = nbformat.read(folder / "failed" / "02_raises.ipynb", as_version=4)
    outputs = [output for cell in executed.cells for output in cell.get("outputs", [])]
    assert [output.ename for output in outputs if output.output_type == "error"] == ["ValueError"]
    assert "never reached" not in json.dumps(outputs)
    record = json.loads((folder / "failed" / "run.json").read_text())
    assert [(e["notebook"], e["cell"]) for e in record["errors"]] == [
        ("02_raises", 4),
        ("03_sleeps", 3),
    ]


def test_discover_notebooks_selects_by_prefix(tmp_path):
    folder = notebook_dir(
        tmp_path,
        **{name: "01_overview.ipynb" for name in ("00_kpi", "01_segments", "03_clv")},
    )
    (tmp_path / "scratch.ipynb").write_text("{}")
    assert [p.stem for p in inputs.discover_notebooks(folder)] == [
        "00_kpi",
        "01_segments",
        "03_clv",
    ]
    assert [p.stem for p in inputs.discover_notebooks(folder, select=["03", "01"])] == [
        "01_segments",
        "03_clv",
    ]
    assert [p.stem for p in inputs.discover_notebooks(folder, select=["03_clv"])] == ["03_clv"]
    with pytest.raises(ValueError, match="no notebook matches '02'.*00_kpi, 01_segments, 03_clv"):
        inputs.discover_notebooks(folder, select=["02"])
    with pytest.raises(FileNotFoundError, match="--notebook-dir"):
        inputs.discover_notebooks(tmp_path / "missing")


def test_bad_options_exit_with_usage_errors(workspace, tmp_path):
    result = ccnb_run(
        workspace["acme"], "--notebooks", "09", "--notebook-dir", workspace["notebooks"]
    )
    assert result.exit_code == 2 and "no notebook matches '09'" in result.output
    result = ccnb_run(workspace["acme"], "--notebook-dir", tmp_path)
    assert result.exit_code == 2 and "no notebooks named NN_*.ipynb" in result.output
    assert ccnb_run(workspace["acme"], "--jobs", 0).exit_code == 2


def test_kernel_start_failures_are_retried_once(monkeypatch, tmp_path):
    import papermill

    calls = []

    def flaky(*args, **kwargs):
        calls.append(kwargs["kernel_name"])
        if len(calls) == 1:
            raise RuntimeError("Kernel didn't respond in 60 seconds")

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    monkeypatch.setattr(execute.time, "sleep", lambda seconds: None)
    execute._execute(tmp_path / "a.ipynb", tmp_path / "b.ipynb", parameters={}, timeout=5)
    assert calls == ["python3", "python3"]

    def broken(*args, **kwargs):
        calls.append("again")
        raise RuntimeError("Kernel didn't respond in 60 seconds")

    monkeypatch.setattr(papermill, "execute_notebook", broken)
    calls.clear()
    with pytest.raises(RuntimeError, match="didn't respond"):
        execute._execute(tmp_path / "a.ipynb", tmp_path / "b.ipynb", parameters={}, timeout=5)
    assert calls == ["again", "again"]  # one retry, then the error is reported


def test_errors_in_cells_are_not_retried(monkeypatch, tmp_path):
    import papermill

    calls = []

    def fails(*args, **kwargs):
        calls.append(1)
        raise ValueError("boom")

    monkeypatch.setattr(papermill, "execute_notebook", fails)
    with pytest.raises(ValueError):
        execute._execute(tmp_path / "a.ipynb", tmp_path / "b.ipynb", parameters={}, timeout=5)
    assert calls == [1]


def test_removed_active_content_is_reported_as_a_warning():
    run = records.ClientRun(
        params_file="acme.yaml",
        folder="acme",
        client="Acme",
        notebooks=[
            records.NotebookRun(name="01_segments", status="ok", removed_elements=2),
            records.NotebookRun(name="02_clv", status="ok"),
        ],
    )
    assert run.removed_content() == [
        "01_segments: removed 2 script or event-handler element(s) from the outputs; "
        "escape client text with ccnb.formatting.escape_md"
    ]
    assert run.failures() == [] and not run.failed


def test_tables_are_computed_once_before_the_kernels_start(workspace, tmp_path, monkeypatch):
    """The notebooks read the tables `ClientAnalysis.precompute` stored; the cache goes away."""
    # loaded here before the temporary folder moves: this process' own engine folders stay
    customers = load_client(load_params(workspace["acme"])).quality.transactions.customers
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    notebooks = notebook_dir(tmp_path / "notebooks", **{"01_cached": "cached.ipynb"})
    environment = dict(os.environ)
    removals = []
    monkeypatch.setattr(
        client_run.ClientAnalysis, "remove_shared_files", lambda analysis: removals.append(analysis)
    )
    run = client_run.run_client(
        workspace["acme"],
        notebooks=[notebooks / "01_cached.ipynb"],
        output_dir=tmp_path / "outputs",
    )
    # a warning when the tables thread tried the models before the notebook was done
    assert run.status in ("ok", "warning"), run
    record = json.loads((tmp_path / "outputs" / "acme" / "run.json").read_text())
    tables = record["tables"]
    assert tables["error"] is None and tables["seconds"] >= 0
    # the acme sample has no customers table, no survey and too few repeat buyers: whichever
    # of those tables the thread tried before the notebook was done say why they are missing
    assert "summary" not in tables["unavailable"] and "segments" not in tables["unavailable"]
    assert all(reason.strip() for reason in tables["unavailable"].values())
    executed = nbformat.read(tmp_path / "outputs" / "acme" / "01_cached.ipynb", as_version=4)
    printed = "".join(output.get("text", "") for output in executed.cells[-1].outputs)
    assert f"customers: {customers}\n" in printed, printed
    assert "data loaded in this kernel: False" in printed, printed
    assert list(temporary.iterdir()) == []
    assert len(removals) == 1  # what Spark's executors wrote in engine.work_dir goes too
    # the kernels' variables (cache and export folders) do not outlive the run
    assert dict(os.environ) == environment


def test_excluded_rows_carrying_most_revenue_make_the_run_warn(tmp_path):
    """A dated line without a customer id holds 80% of the file's amount: check before use.

    (A line marked TOTAL is a `totals_row` and carries no revenue of its own:
    tests/test_client_files.py.)
    """
    sales = ACME_SALES + "O7,,2024-04-30,888.00,web\n"
    params = write_client(tmp_path, slug="totals", client="Totals", sales=sales)
    notebooks = notebook_dir(tmp_path / "notebooks", **{"01_overview": "01_overview.ipynb"})
    run = client_run.run_client(
        params, notebooks=[notebooks / "01_overview.ipynb"], output_dir=tmp_path / "outputs"
    )
    assert run.status == "warning"
    # used 217.50; excluded (no customer id) 5.00 and 888.00: 893 / 1,110.50 = 80%
    assert (
        "The excluded rows carry 80% of the revenue in the file: check rejected_rows.csv"
        in run.warnings[-1]
    )


def _run_beta(workspace, outputs):
    return ccnb_run(
        workspace["beta"],
        "--notebook-dir",
        workspace["notebooks"],
        "--notebooks",
        "01",
        "--output-dir",
        outputs,
    )


def test_output_dir_that_is_not_ccnbs_is_refused_untouched(workspace, tmp_path):
    """A client folder without ccnb's mark, or an index.html ccnb did not write, stops the run
    before anything is written: exit code 2, the files as they were."""
    outputs = tmp_path / "shared-drive"
    (outputs / "beta" / "notes").mkdir(parents=True)
    (outputs / "beta" / "keep.txt").write_text("mine")
    result = _run_beta(workspace, outputs)
    assert result.exit_code == 2
    assert "beta exists and was not written by ccnb" in result.output
    assert "Nothing was changed" in result.output
    assert sorted(p.name for p in (outputs / "beta").iterdir()) == ["keep.txt", "notes"]
    assert sorted(p.name for p in outputs.iterdir()) == ["beta"]

    other = tmp_path / "website"
    other.mkdir()
    (other / "index.html").write_text("<html>the team's page</html>")
    result = _run_beta(workspace, other)
    assert (
        result.exit_code == 2 and "index.html exists and was not written by ccnb" in result.output
    )
    assert (other / "index.html").read_text() == "<html>the team's page</html>"
    assert sorted(p.name for p in other.iterdir()) == ["index.html"]


def test_a_users_files_in_a_ccnb_folder_survive_the_next_run(workspace, tmp_path):
    """In a folder ccnb owns, what the user added (keep.txt, a folder) moves into the new
    outputs; what a killed run left behind (a staging folder, a table cache) is removed."""
    import tempfile

    outputs = tmp_path / "outputs"
    assert _run_beta(workspace, outputs).exit_code == 0
    (outputs / "beta" / "keep.txt").write_text("mine")
    (outputs / "beta" / "notes").mkdir()
    (outputs / "beta" / "notes" / "call.md").write_text("client call")
    dead = 2**22 + 12_345  # above any pid this machine hands out (pid_max is at most 2**22)
    staging = outputs / f".beta.tmp-{dead}"
    staging.mkdir()
    (staging / "segments.csv").write_text("client data")
    cache = Path(tempfile.mkdtemp(prefix=f"ccnb-tables-{dead}-"))
    live = outputs / f".beta.tmp-{os.getpid()}"  # a live process' folder is left alone
    live.mkdir()
    assert _run_beta(workspace, outputs).exit_code == 0
    assert (outputs / "beta" / "keep.txt").read_text() == "mine"
    assert (outputs / "beta" / "notes" / "call.md").read_text() == "client call"
    assert (outputs / "beta" / "01_overview.html").exists()
    assert not staging.exists() and not cache.exists()
    assert live.exists()
    live.rmdir()
    marked = json.loads((outputs / "beta" / ".ccnb-output").read_text())
    assert "keep.txt" not in marked and "notes" not in marked and "run.json" in marked
    assert 'name="generator" content="ccnb"' in (outputs / "index.html").read_text()


def test_headline_labels_say_a_stock_on_a_day_and_a_flow_over_a_period():
    """Active customers are counted at the window's end (CDNOW: 514 on 30 Jun 1998), while
    812 bought over the window: a label "(Jul 1997 – Jun 1998)" read as the latter."""
    from ccnb.batch.index_pages import _headline_label

    window = {"window": "Jul 1997 – Jun 1998", "start": "1997-07-01", "end": "1998-06-30"}
    assert _headline_label("customers_active", window) == "active customers on 30 Jun 1998"
    assert _headline_label("revenue", window) == "net revenue, Jul 1997 – Jun 1998"
    assert _headline_label("orders_per_customer", window) == (
        "orders per customer (Jul 1997 – Jun 1998)"
    )
    assert _headline_label("customers_active", {"year": "2024"}) == "customers active (2024)"
