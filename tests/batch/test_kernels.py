"""Warm kernels: started ahead, with the notebook's imports loaded, and no trace in its outputs."""

import io
import os
import pickle
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import psutil
import pytest
from matplotlib.transforms import TransformNode
from PIL import Image

from ccnb.batch import charts, execute
from ccnb.batch.kernels import KernelWarmer, imported_modules
from ccnb.plots._theme import count_formatter, money_formatter

ARGUMENTS = execute.KERNEL_ARGUMENTS


def write_notebook(path: Path, *sources: str, markdown: str = "") -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    if markdown:
        notebook.cells.insert(1, nbformat.v4.new_markdown_cell(markdown))
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, path)
    return path


def kernel_processes() -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process().children(recursive=True)
        if "ipykernel" in " ".join(child.cmdline())
    ]


def test_imported_modules_are_read_from_the_code_cells(tmp_path):
    notebook = write_notebook(
        tmp_path / "n.ipynb",
        "import colorsys, xml.dom\nfrom ccnb import report, workshop as shop\nx = 1",
        "%matplotlib inline\nimport wave",  # not Python: skipped
        "from . import sibling\nif x:\n    import uuid",  # relative, and not top level
        "import colorsys",
        markdown="import json",
    )
    assert imported_modules(notebook) == [
        "colorsys",
        "xml.dom",
        "ccnb",
        "ccnb.report",
        "ccnb.workshop",
    ]


def test_a_warm_kernel_runs_the_notebook_as_a_fresh_one_would(tmp_path):
    """The notebook's imports are loaded before its first cell, yet its numbering, namespace,
    folder and environment are a fresh kernel's; papermill shuts the kernel down after."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook = write_notebook(
        folder / "07_probe.ipynb",
        "import os, sys\nprint('colorsys' in sys.modules)",
        "import colorsys",
        "print(sorted(n for n in globals() if not n.startswith('_') and n not in "
        "{'In', 'Out', 'get_ipython', 'exit', 'quit', 'open', 'os', 'sys', 'colorsys'}))",
        "print(os.getcwd() == os.environ['PROBE_FOLDER'], os.environ['CCNB_NOTEBOOK'])",
    )
    os.environ["PROBE_FOLDER"] = str(folder)
    try:
        results = {}
        for warm in (True, False):
            output = tmp_path / f"out-{warm}.ipynb"
            with KernelWarmer(execute.KERNEL_NAME, extra_arguments=ARGUMENTS) as warmer:
                warmer.start(notebook)
                kernel = warmer.take(notebook) if warm else None
                if kernel is None:
                    os.environ[charts.NOTEBOOK_VARIABLE] = notebook.stem
                    warmer.close()  # the started kernel is not used
                execute._execute(notebook, output, parameters={}, timeout=60, kernel=kernel)
            if warm:
                assert not kernel.has_kernel  # shut down by papermill, as its own
            executed = nbformat.read(output, as_version=4)
            results[warm] = [
                (cell.execution_count, "".join(out.get("text", "") for out in cell.outputs))
                for cell in executed.cells
            ]
    finally:
        os.environ.pop("PROBE_FOLDER")
        os.environ.pop(charts.NOTEBOOK_VARIABLE, None)
    assert results[True][0] == (1, "True\n")  # imported before the notebook's first cell
    assert results[False][0] == (1, "False\n")
    assert (
        results[True][1:]
        == results[False][1:]
        == [
            (2, ""),
            (3, "[]\n"),  # the warm-up left no name behind
            (4, "True 07_probe\n"),
        ]
    )
    assert kernel_processes() == []


def test_kernels_started_and_not_taken_are_shut_down(tmp_path):
    notebook = write_notebook(tmp_path / "n.ipynb", "import colorsys")
    warmer = KernelWarmer(execute.KERNEL_NAME, extra_arguments=ARGUMENTS)
    warmer.start(notebook)
    assert warmer.is_starting(notebook)
    warmer.close()
    assert not warmer.is_starting(notebook)
    assert kernel_processes() == []


def test_a_kernel_that_cannot_start_is_left_to_papermill(tmp_path):
    notebook = write_notebook(tmp_path / "n.ipynb", "print(6 * 7)")
    with KernelWarmer("no-such-kernel", extra_arguments=ARGUMENTS) as warmer:
        warmer.start(notebook)
        assert warmer.take(notebook) is None
    output = tmp_path / "out.ipynb"
    execute._execute(notebook, output, parameters={}, timeout=60, kernel=None)
    assert nbformat.read(output, as_version=4).cells[0].outputs[0]["text"] == "42\n"


@pytest.fixture
def chart_folder(tmp_path, monkeypatch):
    folder = tmp_path / "charts"
    monkeypatch.setenv(charts.CHART_DIR_VARIABLE, str(folder))
    monkeypatch.setenv(charts.NOTEBOOK_VARIABLE, "03_clv")
    return folder


def _figure():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 5))
    ax = figure.subplots()
    ax.bar(np.arange(6), [3, 1_500, 2_200, 900, 40, 12_000])
    ax.yaxis.set_major_formatter(money_formatter("EUR"))
    ax.xaxis.set_major_formatter(count_formatter())
    ax.set_title("Spend by month")
    return figure


def test_a_queued_slide_draws_as_the_figure_drawn_at_once(chart_folder):
    """The kernel pickles the figure (with its settings); the runner draws the same pixels."""
    with matplotlib.rc_context({"font.size": 13, "axes.titleweight": "bold"}):
        queued = charts.save_slide(_figure(), "tracking")
        again = charts.save_slide(_figure(), "tracking")
        direct = _figure()
    assert [queued.name, again.name] == ["03_clv-tracking.png", "03_clv-tracking-2.png"]
    assert not queued.exists() and len(list(chart_folder.glob("*.pickle"))) == 2
    assert charts.render_slides(notebook="04_budget") == []
    assert sorted(charts.render_slides(notebook="03_clv")) == sorted([queued, again])
    assert list(chart_folder.glob("*.pickle")) == []
    # the same figure, the same SVG bytes (no date, no random element ids)
    svg = queued.with_suffix(".svg").read_bytes()
    assert svg == again.with_suffix(".svg").read_bytes() and b"<dc:date>" not in svg
    with Image.open(queued) as image:
        assert image.size == charts.SLIDE_PIXELS
        drawn = np.asarray(image)
    with matplotlib.rc_context({"font.size": 13, "axes.titleweight": "bold"}):
        direct.set_size_inches(16, 9)
        for text in direct.findobj(matplotlib.text.Text):
            text.set_fontsize(text.get_fontsize() * 1.5)
        direct.set_layout_engine("constrained")
        buffer = io.BytesIO()
        direct.savefig(buffer, format="png", dpi=120)
    with Image.open(buffer) as image:
        assert np.array_equal(np.asarray(image), drawn)


def _stale_links(figure) -> int:
    """Links from a transform of ``figure`` to a dependent, keyed by another object's id."""
    nodes = figure.findobj(lambda artist: True)
    transforms = {id(t): t for artist in nodes for t in _transforms_of(artist)}
    stale = 0
    for transform in transforms.values():
        for key, ref in transform._parents.items():
            stale += ref() is not None and key != id(ref())
    return stale


def _transforms_of(artist):
    """Every transform reachable from ``artist``'s transform through its dependents' records."""
    seen, todo = {}, [artist.get_transform()]
    while todo:
        transform = todo.pop()
        if id(transform) in seen:
            continue
        seen[id(transform)] = transform
        todo.extend(ref() for ref in transform._parents.values() if ref() is not None)
        todo.extend(value for value in vars(transform).values() if isinstance(value, TransformNode))
    return seen.values()


def test_a_queued_figure_is_loaded_with_its_transform_links_keyed_for_this_process(
    chart_folder,
):
    """matplotlib keys a transform's dependents by id(); a plain unpickle keeps the pickling
    process's ids, which a new transform can take and so cut a link (a bar then drawn from the
    layout before resizing). The runner's loader keys them again."""
    queued = charts.save_slide(_figure(), "tracking")
    pending = next(chart_folder.glob("*.pickle"))
    with open(pending, "rb") as file:
        plain, _ = pickle.load(file)
    assert _stale_links(plain) > 0
    loaded, settings = charts._load_pending(pending)
    assert _stale_links(loaded) == 0
    assert settings["font.size"] == matplotlib.rcParams["font.size"]
    assert queued.name == "03_clv-tracking.png"


class _BrokenRenderer:
    """A rendering process that died: every submission fails."""

    def submit(self, *args, **kwargs):
        from concurrent.futures.process import BrokenProcessPool

        raise BrokenProcessPool("the rendering process stopped")


def test_without_a_rendering_process_the_run_renders_itself(tmp_path):
    """Nothing is lost when the rendering process cannot start or dies: the run renders."""
    import datetime as dt

    notebook = write_notebook(tmp_path / "01_probe.ipynb", "print(6 * 7)", markdown="# Probe")
    staging = tmp_path / "staging"
    staging.mkdir()
    called = []
    with KernelWarmer(execute.KERNEL_NAME, extra_arguments=ARGUMENTS) as warmer:
        runs = execute._run_notebooks(
            [notebook],
            staging,
            parameters={},
            timeout=60,
            client="Acme",
            run_date=dt.datetime(2026, 12, 1),
            folder="acme",
            events=None,
            warmer=warmer,
            renderer=_BrokenRenderer(),
            charts_folder=tmp_path / "charts",
            while_rendering=lambda: called.append(True),
        )
    assert [(run.name, run.status) for run in runs] == [("01_probe", "ok")]
    assert "42" in (staging / "01_probe.html").read_text()
    assert called == [True]
    assert kernel_processes() == []


def test_the_executed_notebook_is_saved_at_its_end_not_at_every_cell(tmp_path, monkeypatch):
    """papermill writes the whole notebook at each cell's start and end (12 writes for these
    five cells); the run's engine writes it when the last save is old, and always at the end,
    with every cell's outputs and papermill's cell records."""
    import papermill.engines

    writes = []
    original = papermill.engines.write_ipynb

    def counted(nb, path):
        writes.append(path)
        original(nb, path)

    monkeypatch.setattr(papermill.engines, "write_ipynb", counted)
    notebook = write_notebook(tmp_path / "n.ipynb", *(f"print({n} * 7)" for n in range(5)))
    output = tmp_path / "out.ipynb"
    execute._execute(notebook, output, parameters={}, timeout=60)
    assert len(writes) == 1  # five quick cells: only the end's
    executed = nbformat.read(output, as_version=4)
    assert [cell.outputs[0].text for cell in executed.cells] == [f"{n * 7}\n" for n in range(5)]
    assert all(cell.metadata.papermill.status == "completed" for cell in executed.cells)

    # a cell's start or end saves once the last save is older than SAVE_EVERY_SECONDS
    writes.clear()
    monkeypatch.setattr(execute, "SAVE_EVERY_SECONDS", 0.0)
    execute._execute(notebook, tmp_path / "every.ipynb", parameters={}, timeout=60)
    assert len(writes) == 12  # papermill's own: the start, each cell's start and end, the end


def test_a_failing_notebook_is_kept_with_its_failing_cell(tmp_path):
    notebook = write_notebook(tmp_path / "n.ipynb", "x = 1", "raise ValueError('bad row')", "x")
    (tmp_path / "staging").mkdir()
    failure = execute._execute_notebook(notebook, tmp_path / "staging", parameters={}, timeout=60)
    assert failure.cell == 2 and failure.error == "ValueError: bad row"
    executed = nbformat.read(tmp_path / "staging" / "n.ipynb", as_version=4)
    status = {
        cell.source: cell.metadata.papermill.status
        for cell in executed.cells
        if cell.cell_type == "code"
    }
    assert status == {"x = 1": "completed", "raise ValueError('bad row')": "failed", "x": "pending"}


def test_jsonschema_is_imported_without_the_iri_grammar(tmp_path):
    """0.8 s saved in each process of a run; nbformat still validates, and the grammar module
    can still be imported by anyone who wants it."""
    import subprocess
    import sys

    probe = (
        "import sys, time\n"
        "from ccnb.batch._jsonschema import import_without_iri_grammar\n"
        "import_without_iri_grammar()\n"
        "import nbformat\n"
        "print('rfc3987_syntax' in sys.modules)\n"
        "nb = nbformat.v4.new_notebook()\n"
        "nb.cells.append(nbformat.v4.new_code_cell('1'))\n"
        "nbformat.validate(nb)\n"
        "nb.cells[0]['outputs'] = 'not a list'\n"
        "try:\n"
        "    nbformat.validate(nb)\n"
        "except nbformat.ValidationError:\n"
        "    print('invalid caught')\n"
        "import importlib.util\n"
        "if importlib.util.find_spec('rfc3987_syntax'):\n"
        "    import rfc3987_syntax\n"
        "print('rfc3987_syntax' in sys.modules or not importlib.util.find_spec('rfc3987_syntax'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.split("\n")[:3] == ["False", "invalid caught", "True"]
