"""The notebooks run three ways (JupyterLab is nbval's run of the stored notebooks): papermill
from the repository root with another client's params, with overrides, and nbval notices when a
result changes."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def outputs_text(notebook: nbformat.NotebookNode) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                texts.append(f"ERROR {output['ename']}: {output['evalue']}")
            if output.get("output_type") == "stream":
                texts.append(f"STREAM {output['text']}")
            texts.append(output.get("data", {}).get("text/markdown", ""))
    return "\n".join(texts)


def test_there_are_six_notebooks_with_the_parameters_contract():
    assert [path.stem for path in NOTEBOOKS] == [
        "00_kpi_overview",
        "01_segmentation",
        "02_cohorts",
        "03_clv_modelling",
        "04_budget_allocation",
        "05_customer_base_audit",
    ]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        names = [line.split("=")[0].strip() for line in tagged[0].source.splitlines()]
        assert names == ["params_file", "overrides"], path.name
        following = notebook.cells[notebook.cells.index(tagged[0]) + 1].source
        assert "cfg = ccnb.load_params(params_file, **overrides)" in following


def test_stored_outputs_have_no_errors_or_warnings():
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        text = outputs_text(notebook)
        assert "ERROR" not in text and "STREAM" not in text, path.name
        assert all(
            cell.get("outputs")
            for cell in notebook.cells
            if cell.cell_type == "code"
            and "parameters" not in cell.metadata.get("tags", [])
            and "load_params" not in cell.source
        ), f"{path.name}: a cell shows nothing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_papermill_with_cdnow_from_the_repository_root(path, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    output = tmp_path / path.name
    papermill.execute_notebook(
        str(path.relative_to(ROOT)),
        str(output),
        parameters={"params_file": "params/cdnow.yaml"},
        kernel_name="python3",
        progress_bar=False,
    )
    text = outputs_text(nbformat.read(output, as_version=4))
    assert "CDNOW" in text and "STREAM" not in text
    if path.stem == "00_kpi_overview":
        assert "no NPS/CSAT survey" in text  # the section says why it is missing
    if path.stem == "03_clv_modelling":
        assert "no customers table with acquisition channels" in text
        assert "chosen model" in text
    if path.stem == "05_customer_base_audit":
        assert "No product category is mapped" in text  # CDNOW has none
        assert "not covered in full" in text  # 18 months: no earlier year to bridge from


def test_papermill_with_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    output = tmp_path / "01.ipynb"
    papermill.execute_notebook(
        "notebooks/01_segmentation.ipynb",
        str(output),
        parameters={
            "params_file": "params/demo.yaml",
            "overrides": {"rfm": {"scheme": "rfm_grid"}},
        },
        kernel_name="python3",
        progress_bar=False,
    )
    text = outputs_text(nbformat.read(output, as_version=4))
    assert "Champions" in text and "High&#45;Value" not in text


def test_nbval_fails_when_a_result_changes(tmp_path):
    stored = nbformat.read(ROOT / "notebooks" / "01_segmentation.ipynb", as_version=4)
    tagged = next(cell for cell in stored.cells if "parameters" in cell.metadata.get("tags", []))
    tagged.source = (
        f"params_file = {json.dumps(str(ROOT / 'params' / 'demo.yaml'))}\n"
        "overrides = {'rfm': {'bins': 4}}"
    )
    changed = tmp_path / "01_changed.ipynb"
    nbformat.write(stored, changed)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            str(changed),
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval-sanitize-with",
            str(ROOT / "tests" / "nbval_sanitize.cfg"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout[-2000:]
    assert "Cell outputs differ" in result.stdout
