"""Batch runs: every notebook for every client with papermill, rendered, exported, recorded.

Implements DESIGN.md "Outputs": ``outputs/<client>/`` with the executed notebooks, their
reader HTML, ``exports/*.csv`` and ``run.json`` (provenance), index pages, a run that is
written into a temporary folder and swapped in only when every notebook succeeded, and failed
notebooks kept under ``outputs/<client>/failed/``. Clients run in parallel processes.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import platform
import queue
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ccnb
from ccnb import render
from ccnb.analysis import CACHE_DIR_VARIABLE, ClientAnalysis
from ccnb.exports import EXPORT_DIR_VARIABLE

__all__ = [
    "DEFAULT_TIMEOUT",
    "HEADLINE_KPIS",
    "KERNEL_NAME",
    "ClientRun",
    "NotebookRun",
    "RunEvent",
    "discover_notebooks",
    "file_sha256",
    "input_files",
    "run_client",
    "run_clients",
    "summary_lines",
    "write_client_index",
    "write_site_index",
]

KERNEL_NAME = "python3"
"""Kernel the notebooks run on: jupyter_client starts ``python3`` with the running interpreter."""

DEFAULT_TIMEOUT = 1200
"""Seconds a single cell may run before the notebook is stopped and reported as failed."""

LIBRARIES = (
    "pandas",
    "numpy",
    "scipy",
    "lifetimes",
    "ibis-framework",
    "duckdb",
    "papermill",
    "nbconvert",
    "nbclient",
    "ipykernel",
    "matplotlib",
)
"""Distributions whose versions go into ``run.json``."""

_NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
_RUN_FILE = "run.json"
_FAILED = "failed"
_EXPORTS = "exports"
# Cells papermill adds to an executed notebook; skipped when numbering cells as in the source.
_PAPERMILL_TAGS = {"injected-parameters", "papermill-error-cell-tag"}
_KERNEL_START_ERRORS = ("Kernel didn't respond", "Kernel died before replying")


@dataclass
class NotebookRun:
    """Outcome of one notebook for one client.

    Attributes
    ----------
    name
        Notebook file stem, e.g. ``"03_clv_modelling"``.
    status
        ``"ok"`` or ``"failed"``.
    seconds
        Wall time of execution and rendering.
    title
        Report title (its first level-1 heading), when rendered.
    cell
        1-based number of the failing cell as in the source notebook (the parameters cell
        papermill injects is not counted), when failed in a cell.
    execution_count
        The failing cell's ``In [n]`` number, when it has one.
    error
        One line naming the error, e.g. ``"ValueError: no repeat buyers"``.
    details
        Traceback or longer message for ``error.txt``.
    removed_elements
        Scripts and event handlers found in the outputs and removed from the HTML (unescaped
        client text; see `ccnb.render.escape_md`).
    """

    name: str
    status: str
    seconds: float = 0.0
    title: str | None = None
    cell: int | None = None
    execution_count: int | None = None
    error: str | None = None
    details: str | None = None
    removed_elements: int = 0

    @property
    def failed(self) -> bool:
        """Whether the notebook failed."""
        return self.status != "ok"

    def where(self) -> str:
        """Where it failed, e.g. ``"cell 7 (In [5])"``; empty when not in a cell."""
        if self.cell is None:
            return ""
        count = f" (In [{self.execution_count}])" if self.execution_count is not None else ""
        return f"cell {self.cell}{count}"


@dataclass
class ClientRun:
    """Outcome of a run for one client (one params file).

    Attributes
    ----------
    params_file
        The params file as given.
    folder
        The client's folder under the output directory (``params.slug``, or the params file's
        stem when the params could not be loaded).
    client
        Client name (the folder name when the params could not be loaded).
    status
        ``"ok"`` or ``"failed"``.
    seconds
        Wall time of the whole client.
    notebooks
        One entry per selected notebook that was started.
    error
        Client-level error (params or data could not be loaded, a crash), else None.
    """

    params_file: str
    folder: str
    client: str
    status: str = "ok"
    seconds: float = 0.0
    notebooks: list[NotebookRun] = field(default_factory=list)
    error: str | None = None

    @property
    def failed(self) -> bool:
        """Whether anything failed for this client."""
        return self.status != "ok"

    def warnings(self) -> list[str]:
        """One line per report whose HTML had active content removed from its outputs."""
        return [
            f"{self.folder} / {notebook.name}: removed {notebook.removed_elements} script or "
            "event-handler element(s) from the outputs; escape client text with "
            "ccnb.render.escape_md"
            for notebook in self.notebooks
            if notebook.removed_elements
        ]

    def failures(self) -> list[str]:
        """One line per failure: client, notebook, cell and error line."""
        lines = [f"{self.folder}: {self.error}"] if self.error else []
        for notebook in self.notebooks:
            if notebook.failed:
                where = f" {notebook.where()}" if notebook.where() else ""
                lines.append(f"{self.folder} / {notebook.name}{where}: {notebook.error}")
        return lines


@dataclass(frozen=True)
class RunEvent:
    """Progress of a run, for displays.

    Attributes
    ----------
    folder
        The client's folder name.
    notebook
        Notebook stem, or None for the client as a whole.
    status
        ``"running"``, ``"ok"`` or ``"failed"``.
    seconds
        Elapsed seconds when finished.
    message
        Error line when failed.
    """

    folder: str
    notebook: str | None
    status: str
    seconds: float | None = None
    message: str | None = None


EventCallback = Callable[[RunEvent], None]


# --- notebooks and inputs ------------------------------------------------------------------


def discover_notebooks(
    notebook_dir: str | Path, *, select: Sequence[str] | None = None
) -> list[Path]:
    """List the report notebooks (``NN_*.ipynb``) of a folder, sorted, optionally selected.

    Parameters
    ----------
    notebook_dir
        Folder holding the notebooks.
    select
        Prefixes or stems to keep, e.g. ``["01", "03"]`` or ``["03_clv_modelling"]``; all
        notebooks when None or empty.

    Returns
    -------
    list of pathlib.Path
        The notebooks to run, in name order.

    Raises
    ------
    FileNotFoundError
        When the folder holds no ``NN_*.ipynb`` notebook.
    ValueError
        When a selection matches no notebook.
    """
    folder = Path(notebook_dir)
    found = sorted(folder.glob(_NOTEBOOK_PATTERN))
    if not found:
        raise FileNotFoundError(
            f"no notebooks named NN_*.ipynb in {folder.resolve()}; pass --notebook-dir"
        )
    if not select:
        return found
    chosen = []
    for wanted in select:
        matches = [
            path for path in found if path.stem == wanted or path.stem.startswith(f"{wanted}_")
        ]
        if not matches:
            names = ", ".join(path.stem for path in found)
            raise ValueError(f"no notebook matches {wanted!r}; notebooks are: {names}")
        chosen.extend(path for path in matches if path not in chosen)
    return sorted(chosen)


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 hex digest of a file, read in chunks.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str
        64 hex characters.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _file_entry(role: str, source: str, path: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {"role": role, "source": source, "path": str(path)}
    if path.is_file():
        entry.update(sha256=file_sha256(path), bytes=path.stat().st_size)
    elif path.is_dir():  # a parquet dataset: one digest over its files' digests
        files = sorted(item for item in path.rglob("*") if item.is_file())
        listing = "".join(f"{item.relative_to(path)}\0{file_sha256(item)}\n" for item in files)
        entry.update(
            sha256=hashlib.sha256(listing.encode()).hexdigest(),
            bytes=sum(item.stat().st_size for item in files),
            files=len(files),
        )
    else:
        entry.update(sha256=None, bytes=None, note="file not found")
    return entry


def input_files(params: Any) -> list[dict[str, Any]]:
    """Describe a client's input files with their SHA-256, for ``run.json``.

    Parameters
    ----------
    params
        The client's `ccnb.params.Params` (as returned by ``load_params``).

    Returns
    -------
    list of dict
        One entry per file: ``role`` (params, transactions, customers, survey), ``source``
        (as in the params), ``path``, ``sha256`` and ``bytes``. ``builtin:`` sources hash
        the data file shipped with ccnb (or lifetimes, for CDNOW).
    """
    from ccnb.datasets import dataset_path

    entries = []
    if params.source_file is not None:
        entries.append(_file_entry("params", str(params.source_file), Path(params.source_file)))
    for role in ("transactions", "customers", "survey"):
        source = getattr(params, role)
        if source is None:
            continue
        if source.path is None:  # a table of the engine (Spark catalog, DuckDB database)
            entries.append(
                {
                    "role": role,
                    "source": f"table:{source.table}",
                    "sha256": None,
                    "note": "engine table: not hashed",
                }
            )
            continue
        if source.path.startswith("builtin:"):
            try:
                path = dataset_path(source.path.removeprefix("builtin:"), table=role)
            except (ValueError, ModuleNotFoundError) as error:
                entries.append(
                    {"role": role, "source": source.path, "sha256": None, "note": str(error)}
                )
                continue
        else:
            path = Path(source.path)
        entries.append(_file_entry(role, source.path, path))
    return entries


def _library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"ccnb": ccnb.__version__}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _kernel_executable(kernel_name: str) -> str | None:
    """The interpreter jupyter_client starts for a kernel name (None if it cannot tell)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        return None
    command = spec.argv[0] if spec.argv else ""
    # jupyter_client runs kernels whose command is plain `python` with its own interpreter.
    major, minor = sys.version_info[:2]
    if command in {"python", f"python{major}", f"python{major}.{minor}"}:
        return sys.executable
    return command


def _now() -> dt.datetime:
    return dt.datetime.now().astimezone().replace(microsecond=0)


# --- executing one notebook ----------------------------------------------------------------


def _source_cell_number(notebook: Any, index: int) -> int:
    """1-based number of executed cell ``index`` in the source notebook."""
    skipped = sum(
        1
        for cell in notebook.cells[:index]
        if _PAPERMILL_TAGS & set(cell.get("metadata", {}).get("tags", []))
    )
    return index - skipped + 1


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _failure_from_notebook(name: str, path: Path, *, seconds: float) -> NotebookRun | None:
    """The failing cell of an executed notebook (an error output or a papermill exception)."""
    import nbformat

    if not path.exists():
        return None
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                from papermill.exceptions import strip_color

                error_line = f"{output.ename}: {_first_line(output.evalue)}".rstrip(": ")
                return NotebookRun(
                    name=name,
                    status="failed",
                    seconds=seconds,
                    cell=_source_cell_number(notebook, index),
                    execution_count=cell.get("execution_count"),
                    error=error_line,
                    details=strip_color("\n".join(output.traceback)),
                )
    return None


def _running_cell(path: Path) -> tuple[int | None, int | None, str]:
    """Source number, ``In [n]`` and first line of the cell that was running when stopped."""
    import nbformat

    if not path.exists():
        return None, None, ""
    notebook = nbformat.read(path, as_version=4)
    started = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.get("metadata", {}).get("papermill", {}).get("start_time")
    ]
    if not started:
        return None, None, ""
    index = started[-1]
    cell = notebook.cells[index]
    return (
        _source_cell_number(notebook, index),
        cell.get("execution_count"),
        _first_line(cell.source),
    )


def _any_cell_started(path: Path) -> bool:
    return _running_cell(path)[0] is not None


def _is_kernel_start_failure(error: BaseException) -> bool:
    import zmq

    if isinstance(error, zmq.error.ZMQError):
        return True
    return isinstance(error, RuntimeError) and any(
        text in str(error) for text in _KERNEL_START_ERRORS
    )


def _execute(notebook: Path, output: Path, *, parameters: dict[str, Any], timeout: float) -> None:
    """Run a notebook with papermill, retrying once when its kernel fails to start."""
    import papermill

    for attempt in (1, 2):
        try:
            papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters=parameters,
                kernel_name=KERNEL_NAME,
                progress_bar=False,
                log_output=False,
                cwd=str(notebook.parent),
                execution_timeout=timeout,
                shutdown_kernel="immediate",
                # Every kernel warns that it talks TCP on localhost unencrypted: noise per start.
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
            return
        except Exception as error:
            # Parallel kernels can collide on start-up (ports, ZMQ): that is worth one retry,
            # an error in a cell is not.
            if attempt == 2 or not _is_kernel_start_failure(error) or _any_cell_started(output):
                raise
            output.unlink(missing_ok=True)
            time.sleep(1.0)


def _execute_notebook(
    notebook: Path, staging: Path, *, parameters: dict[str, Any], timeout: float
) -> NotebookRun | None:
    """Execute one notebook into the staging folder: None when it ran, else the failure."""
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    name = notebook.stem
    executed = staging / notebook.name
    start = time.perf_counter()
    try:
        _execute(notebook, executed, parameters=parameters, timeout=timeout)
    except PapermillExecutionError as error:
        seconds = time.perf_counter() - start
        found = _failure_from_notebook(name, executed, seconds=seconds)
        return found or NotebookRun(
            name=name,
            status="failed",
            seconds=seconds,
            execution_count=error.exec_count,
            error=f"{error.ename}: {_first_line(error.evalue)}",
            details=str(error),
        )
    except CellTimeoutError as error:
        cell, count, source = _running_cell(executed)
        return NotebookRun(
            name=name,
            status="failed",
            seconds=time.perf_counter() - start,
            cell=cell,
            execution_count=count,
            error=f"timed out: the cell ran longer than {timeout:g} s (--timeout)",
            details=f"{source}\n\n{error}",
        )
    except Exception as error:  # the kernel died or did not start, papermill failed, ...
        cell, count, _ = _running_cell(executed)
        return NotebookRun(
            name=name,
            status="failed",
            seconds=time.perf_counter() - start,
            cell=cell,
            execution_count=count,
            error=f"{type(error).__name__}: {_first_line(str(error))}",
            details=traceback.format_exc(),
        )
    return None


def _render_notebook(
    executed: Path, *, started: float, client: str, run_date: dt.datetime
) -> NotebookRun:
    """Render an executed notebook to the reader's HTML next to it; never raises."""
    name = executed.stem
    try:
        report = render.write_report(
            executed, executed.with_suffix(".html"), client=client, run_date=run_date
        )
    except Exception as error:
        return NotebookRun(
            name=name,
            status="failed",
            seconds=time.perf_counter() - started,
            error=f"rendering HTML failed: {type(error).__name__}: {_first_line(str(error))}",
            details=traceback.format_exc(),
        )
    return NotebookRun(
        name=name,
        status="ok",
        seconds=time.perf_counter() - started,
        title=report.title,
        removed_elements=report.removed_elements,
    )


def _run_notebooks(
    notebooks: Sequence[Path],
    staging: Path,
    *,
    parameters: dict[str, Any],
    timeout: float,
    client: str,
    run_date: dt.datetime,
    folder: str,
    events: EventCallback | None,
) -> list[NotebookRun]:
    """Execute the notebooks in order; each renders to HTML in a thread while the next runs."""
    runs: list[NotebookRun] = []
    done: list[Future] = []

    def report_finished() -> None:
        while done and done[0].done():
            result = done.pop(0).result()
            runs.append(result)
            _emit(
                events, RunEvent(folder, result.name, result.status, result.seconds, result.error)
            )

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ccnb-render") as renderer:
        for notebook in notebooks:
            _emit(events, RunEvent(folder, notebook.stem, "running"))
            started = time.perf_counter()
            failure = _execute_notebook(notebook, staging, parameters=parameters, timeout=timeout)
            if failure is None:
                outcome = renderer.submit(
                    _render_notebook,
                    staging / notebook.name,
                    started=started,
                    client=client,
                    run_date=run_date,
                )
            else:
                outcome = Future()
                outcome.set_result(failure)
            done.append(outcome)
            report_finished()
        wait(done)
        report_finished()
    return runs


# --- one client ----------------------------------------------------------------------------


def _safe_folder(name: str) -> str:
    folder = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return folder or "client"


def _export_listing(exports: Path) -> list[dict[str, Any]]:
    listing = []
    for path in sorted(exports.glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as handle:
            rows = max(sum(1 for _ in csv.reader(handle)) - 1, 0)
        listing.append(
            {"file": f"{_EXPORTS}/{path.name}", "rows": rows, "bytes": path.stat().st_size}
        )
    return listing


def _write_json(path: Path, record: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _replace_dir(new: Path, target: Path) -> None:
    """Swap ``new`` in at ``target``: rename the old one away, rename new in, delete old."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _carry_over(previous: Path, staging: Path, record: dict[str, Any]) -> None:
    """Keep the reports and exports of notebooks this run did not select (``--notebooks``)."""
    previous_record = _read_json(previous / _RUN_FILE)
    if previous_record is None:
        return
    ran = {notebook["name"] for notebook in record["notebooks"]}
    for notebook in previous_record.get("notebooks", []):
        if notebook["name"] in ran:
            continue
        for name in (notebook.get("ipynb"), notebook.get("html")):
            if name and (previous / name).exists():
                shutil.copy2(previous / name, staging / name)
        record["notebooks"].append(
            {**notebook, "from_run": notebook.get("from_run") or previous_record.get("started")}
        )
    record["notebooks"].sort(key=lambda notebook: notebook["name"])
    for export in sorted((previous / _EXPORTS).glob("*.csv")):
        if not (staging / _EXPORTS / export.name).exists():
            shutil.copy2(export, staging / _EXPORTS / export.name)


def _error_report(run: ClientRun, record: dict[str, Any]) -> str:
    lines = [
        f"ccnb run failed for {run.client} ({run.params_file})",
        f"started {record.get('started')}, finished {record.get('finished')}",
        "",
    ]
    if run.error:
        lines += [f"client: {run.error}", "", record.get("error_details") or "", ""]
    for notebook in run.notebooks:
        if not notebook.failed:
            continue
        where = f" at {notebook.where()}" if notebook.where() else ""
        lines += [
            f"{notebook.name}{where}: {notebook.error}",
            f"  executed notebook: {_FAILED}/{notebook.name}.ipynb",
            "",
            notebook.details or "",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _keep_failure(
    run: ClientRun, record: dict[str, Any], staging: Path | None, target: Path
) -> None:
    """Write ``<client>/failed/`` (failed notebooks, error.txt, run.json); keep the rest."""
    failed = target.parent / f".{target.name}.failed-{os.getpid()}"
    shutil.rmtree(failed, ignore_errors=True)
    failed.mkdir(parents=True)
    for notebook in run.notebooks:
        executed = staging / f"{notebook.name}.ipynb" if staging else None
        if notebook.failed and executed is not None and executed.exists():
            shutil.copy2(executed, failed / executed.name)
    _write_text(failed / "error.txt", _error_report(run, record))
    _write_json(failed / _RUN_FILE, record)
    target.mkdir(parents=True, exist_ok=True)
    _replace_dir(failed, target / _FAILED)
    write_client_index(target)


def _base_record(params_file: Path, folder: str, started: dt.datetime) -> dict[str, Any]:
    return {
        "ccnb_version": ccnb.__version__,
        "status": "failed",
        "client": folder,
        "slug": folder,
        "params_file": str(params_file.resolve()),
        "started": started.isoformat(),
        "finished": None,
        "seconds": None,
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "kernel": {"name": KERNEL_NAME, "executable": _kernel_executable(KERNEL_NAME)},
            "libraries": _library_versions(),
        },
        "params": None,
        "overrides": {},
        "inputs": [],
        "notebooks": [],
        "errors": [],
        "data_quality": None,
        "tables": {"seconds": None, "unavailable": {}, "error": None},
        "exports": [],
    }


def _finish_record(record: dict[str, Any], run: ClientRun) -> None:
    finished = _now()
    record.update(
        status=run.status,
        client=run.client,
        finished=finished.isoformat(),
        seconds=round(run.seconds, 2),
        notebooks=[
            {
                "name": notebook.name,
                "status": notebook.status,
                "seconds": round(notebook.seconds, 2),
                "title": notebook.title,
                "ipynb": f"{notebook.name}.ipynb",
                "html": f"{notebook.name}.html" if not notebook.failed else None,
                "removed_active_elements": notebook.removed_elements,
            }
            for notebook in run.notebooks
        ],
        errors=[
            {
                "notebook": notebook.name,
                "cell": notebook.cell,
                "execution_count": notebook.execution_count,
                "error": notebook.error,
            }
            for notebook in run.notebooks
            if notebook.failed
        ]
        + (
            [{"notebook": None, "cell": None, "execution_count": None, "error": run.error}]
            if run.error
            else []
        ),
    )


def _emit(events: EventCallback | None, event: RunEvent) -> None:
    if events is not None:
        events(event)


def _prepare_kernel_environment(exports: Path, cache: Path) -> None:
    """Environment the kernels inherit: where exports and tables go, inline figures."""
    os.environ[EXPORT_DIR_VARIABLE] = str(exports)
    os.environ[CACHE_DIR_VARIABLE] = str(cache)
    # Inline PNGs even when the caller set another backend (tests set MPLBACKEND=Agg).
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    # Quiets the debugger's frozen-modules notice that every kernel prints on start.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


def run_client(
    params_file: str | Path,
    *,
    notebooks: Sequence[str | Path],
    output_dir: str | Path = "outputs",
    timeout: float = DEFAULT_TIMEOUT,
    overrides: dict[str, Any] | None = None,
    precompute: bool = True,
    events: EventCallback | None = None,
) -> ClientRun:
    """Run the notebooks for one client and publish the outputs, or keep the failure.

    The run writes into ``<output_dir>/.<slug>.tmp-<pid>`` and replaces ``<output_dir>/<slug>``
    only when every notebook succeeded. Otherwise the previous outputs stay, and
    ``<output_dir>/<slug>/failed/`` holds the failed notebooks as executed up to the failing
    cell, ``error.txt`` and ``run.json``. Sets ``CCNB_EXPORT_DIR`` and ``MPLBACKEND`` in this
    process's environment for the kernels, so `run_clients` calls it in worker processes.

    Parameters
    ----------
    params_file
        The client's params file.
    notebooks
        Notebooks to run, in order (see `discover_notebooks`).
    output_dir
        Root of the outputs.
    timeout
        Seconds a cell may run before the notebook is stopped (papermill's execution_timeout).
    overrides
        Params keys to change for this run, injected into the notebooks as ``overrides``.
    precompute
        Compute every table of `ccnb.ClientAnalysis` once, in a thread, while the first
        kernel starts; the kernels read them from a temporary cache folder
        (``CCNB_CACHE_DIR``) and wait for one still being computed.
    events
        Called with a `RunEvent` when a notebook starts and ends.

    Returns
    -------
    ClientRun
        What ran and what failed; never raises for a failing client.
    """
    params_file, output_dir = Path(params_file), Path(output_dir)
    overrides = dict(overrides or {})
    started, clock = _now(), time.perf_counter()
    folder = _safe_folder(params_file.stem)
    record = _base_record(params_file, folder, started)
    run = ClientRun(params_file=str(params_file), folder=folder, client=folder)
    staging = tables = None
    cache = Path(tempfile.mkdtemp(prefix="ccnb-tables-"))
    try:
        try:
            params = _load_params(params_file, overrides, run=run, record=record)
            staging = output_dir / f".{params.slug}.tmp-{os.getpid()}"
            analysis = _stage_data(params, staging, cache, record=record)
            tables = _compute_tables(analysis, record=record) if precompute else None
            parameters = {"params_file": str(params_file.resolve())}
            if overrides:
                parameters["overrides"] = overrides
            run.notebooks = _run_notebooks(
                [Path(notebook).resolve() for notebook in notebooks],
                staging,
                parameters=parameters,
                timeout=timeout,
                client=params.client,
                run_date=started,
                folder=run.folder,
                events=events,
            )
        except Exception as error:  # params, data, anything: this client failed, others go on
            run.error = f"{type(error).__name__}: {_first_line(str(error))}"
            expected = type(error).__name__ in ("ParamsError", "DataError")
            record["error_details"] = str(error) if expected else traceback.format_exc()
        if tables is not None:
            tables.join()  # its timing goes into run.json
        run.status = "failed" if run.error or any(nb.failed for nb in run.notebooks) else "ok"
        run.seconds = time.perf_counter() - clock
        _finish_record(record, run)
        _publish(run, record, staging, output_dir / run.folder)
    finally:
        if tables is not None:
            tables.join()  # before its folder goes
        shutil.rmtree(cache, ignore_errors=True)
        if staging is not None and staging.exists():  # not swapped in: failed or interrupted
            shutil.rmtree(staging, ignore_errors=True)
    _emit(events, RunEvent(run.folder, None, run.status, run.seconds, run.error))
    return run


def _load_params(
    params_file: Path, overrides: dict[str, Any], *, run: ClientRun, record: dict[str, Any]
) -> Any:
    from ccnb.params import load_params

    params = load_params(params_file, **overrides)
    run.folder, run.client = params.slug, params.client
    record.update(
        slug=params.slug,
        params=params.model_dump(mode="json"),
        overrides=overrides,
        inputs=input_files(params),
    )
    return params


def _stage_data(
    params: Any, staging: Path, cache: Path, *, record: dict[str, Any]
) -> ClientAnalysis:
    """Stage the data-quality report and rejected rows; data errors fail the client here."""
    shutil.rmtree(staging, ignore_errors=True)
    (staging / _EXPORTS).mkdir(parents=True)
    analysis = ClientAnalysis(params, cache_dir=cache)
    quality = analysis.quality
    record["data_quality"] = quality.to_dict()
    quality.rejected_rows.to_csv(
        staging / _EXPORTS / "rejected_rows.csv", index=False, lineterminator="\n"
    )
    _prepare_kernel_environment((staging / _EXPORTS).resolve(), cache.resolve())
    return analysis


def _compute_tables(analysis: ClientAnalysis, *, record: dict[str, Any]) -> threading.Thread:
    """Compute every table of the client once, in a thread, while the first kernel starts.

    The kernels wait for a table still being computed (see `ClientAnalysis.precompute`).
    An error is recorded and left to the notebook that needs the table, which then computes
    it itself and shows the error in its cell.
    """

    def compute() -> None:
        start = time.perf_counter()
        try:
            record["tables"]["unavailable"] = analysis.precompute()
        except Exception as error:  # reported by the notebook that needs the table
            record["tables"]["error"] = f"{type(error).__name__}: {_first_line(str(error))}"
        record["tables"]["seconds"] = round(time.perf_counter() - start, 2)

    thread = threading.Thread(target=compute, name="ccnb-tables", daemon=True)
    thread.start()
    return thread


def _publish(run: ClientRun, record: dict[str, Any], staging: Path | None, target: Path) -> None:
    """Swap a successful run in, or keep a failed one under ``failed/``."""
    if run.failed:
        _keep_failure(run, record, staging, target)
        return
    _carry_over(target, staging, record)
    record["exports"] = _export_listing(staging / _EXPORTS)
    _write_json(staging / _RUN_FILE, record)
    _replace_dir(staging, target)
    write_client_index(target)


# --- many clients in parallel --------------------------------------------------------------

_worker_events: Any = None


def _init_worker(event_queue: Any) -> None:
    global _worker_events
    _worker_events = event_queue


def _client_in_worker(params_file: str, options: dict[str, Any]) -> ClientRun:
    return run_client(params_file, events=_worker_events.put if _worker_events else None, **options)


def _preflight(
    params_files: Sequence[Path], options: dict[str, Any]
) -> tuple[list[tuple[Path, str, str]], list[ClientRun]]:
    """Load every params file once: folder names for the display, duplicates and bad files."""
    from ccnb.params import ParamsError, load_params

    runnable, rejected, seen = [], [], {}
    for params_file in params_files:
        try:
            params = load_params(params_file, **options["overrides"])
        except ParamsError:
            # Reported by run_client like any failed client (it stops at the params, here,
            # without starting a process or a kernel).
            rejected.append(run_client(params_file, **{**options, "notebooks": []}))
            continue
        if params.slug in seen:
            rejected.append(
                ClientRun(
                    params_file=str(params_file),
                    folder=params.slug,
                    client=params.client,
                    status="failed",
                    error=f"slug {params.slug!r} is also used by {seen[params.slug]}; "
                    "give each client its own slug",
                )
            )
            continue
        seen[params.slug] = params_file
        runnable.append((params_file, params.slug, params.client))
    return runnable, rejected


def _drain(event_queue: Any, on_event: EventCallback | None) -> None:
    while True:
        try:
            event = event_queue.get_nowait()
        except queue.Empty:
            return
        _emit(on_event, event)


def _crashed(params_file: Path, folder: str, client: str, error: BaseException) -> ClientRun:
    return ClientRun(
        params_file=str(params_file),
        folder=folder,
        client=client,
        status="failed",
        error=f"worker process failed: {type(error).__name__}: {_first_line(str(error))}",
    )


def run_clients(
    params_files: Sequence[str | Path],
    *,
    notebook_dir: str | Path = "notebooks",
    notebooks: Sequence[str] | None = None,
    output_dir: str | Path = "outputs",
    jobs: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    overrides: dict[str, Any] | None = None,
    precompute: bool = True,
    on_event: EventCallback | None = None,
    on_start: Callable[[list[tuple[str, str]], list[str]], None] | None = None,
) -> list[ClientRun]:
    """Run the notebooks for every client, one process per client, and write the index pages.

    Parameters
    ----------
    params_files
        One params file per client.
    notebook_dir
        Folder holding the ``NN_*.ipynb`` notebooks.
    notebooks
        Prefixes or stems selecting notebooks (``["01", "03"]``); all when None.
    output_dir
        Root of the outputs (``outputs/``).
    jobs
        Clients run at the same time; ``min(cores, clients)`` when None. Notebooks of one
        client run one after the other in that client's process.
    timeout
        Seconds a cell may run before its notebook is stopped and reported as failed.
    overrides
        Params keys to change for every client in this run.
    precompute
        Compute each client's tables once while its first kernel starts, for the notebooks
        to read (see `run_client`); turn off for notebooks that do not use
        `ccnb.ClientAnalysis`.
    on_event
        Called in this process with each `RunEvent` (progress display).
    on_start
        Called once before running with ``[(folder, client name)]`` and the notebook stems.

    Returns
    -------
    list of ClientRun
        One per params file, in the order given.
    """
    selected = discover_notebooks(notebook_dir, select=notebooks)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(path) for path in params_files]
    options = {
        "notebooks": [str(path.resolve()) for path in selected],
        "output_dir": str(output_dir.resolve()),
        "timeout": timeout,
        "overrides": dict(overrides or {}),
        "precompute": precompute,
    }
    runnable, rejected = _preflight(paths, options)
    if on_start is not None:
        clients = [(folder, client) for _, folder, client in runnable] + [
            (run.folder, run.client) for run in rejected
        ]
        on_start(clients, [path.stem for path in selected])
    for run in rejected:
        _emit(on_event, RunEvent(run.folder, None, "failed", run.seconds, run.error))
    results = {run.params_file: run for run in rejected}
    results.update(_run_in_processes(runnable, options, jobs=jobs, on_event=on_event))
    write_site_index(output_dir)
    return [results[str(path)] for path in paths]


def _run_in_processes(
    runnable: list[tuple[Path, str, str]],
    options: dict[str, Any],
    *,
    jobs: int | None,
    on_event: EventCallback | None,
) -> dict[str, ClientRun]:
    if not runnable:
        return {}
    workers = max(1, min(jobs or os.cpu_count() or 1, len(runnable)))
    context = multiprocessing.get_context("spawn")
    event_queue = context.Queue()
    results: dict[str, ClientRun] = {}
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(event_queue,),
    ) as pool:
        futures: dict[Future, tuple[Path, str, str]] = {
            pool.submit(_client_in_worker, str(path), options): (path, folder, client)
            for path, folder, client in runnable
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            _drain(event_queue, on_event)
            for future in done:
                path, folder, client = futures[future]
                try:
                    results[str(path)] = future.result()
                except Exception as error:  # the worker died (killed, out of memory)
                    results[str(path)] = _crashed(path, folder, client, error)
                    _emit(
                        on_event, RunEvent(folder, None, "failed", None, results[str(path)].error)
                    )
    time.sleep(0.05)
    _drain(event_queue, on_event)
    event_queue.close()
    event_queue.join_thread()
    return results


# --- index pages ---------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_client_index(client_dir: str | Path) -> Path:
    """Write ``<client>/index.html`` from its ``run.json`` and ``failed/run.json``.

    Parameters
    ----------
    client_dir
        The client's output folder.

    Returns
    -------
    pathlib.Path
        The index page.
    """
    client_dir = Path(client_dir)
    record = _read_json(client_dir / _RUN_FILE)
    failed = _read_json(client_dir / _FAILED / _RUN_FILE)
    page = render.client_index_html(record, failed=failed)
    path = client_dir / "index.html"
    _write_text(path, page)
    return path


HEADLINE_KPIS = ("customers_active", "revenue", "churn_rate", "nps")
"""KPIs of ``exports/kpis.csv`` shown on ``outputs/index.html`` when the export has them."""


def _latest_per_kpi(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """The last row with a value of each KPI (kpis.csv lists periods in time order)."""
    latest: dict[str, dict[str, str]] = {}
    for row in rows:
        if row.get("kpi") and str(row.get("value", "")).strip():
            latest[row["kpi"]] = row
    return latest


def _headline_kpis(
    exports: Path, *, currency: str | None = None, limit: int = 4
) -> list[tuple[str, str]]:
    """Headline KPIs from ``kpis.csv`` as (label, formatted value).

    Rows flagged in a ``headline`` column win; else `HEADLINE_KPIS` that are present; else
    the first KPIs of the file. Each KPI shows its latest period (``year`` or ``period``).
    """
    path = exports / "kpis.csv"
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as handle:
        latest = _latest_per_kpi(list(csv.DictReader(handle)))
    flagged = [
        name
        for name, row in latest.items()
        if str(row.get("headline", "")).strip().lower() in ("true", "1", "yes")
    ]
    known = [name for name in HEADLINE_KPIS if name in latest]
    chosen = (flagged or known or list(latest))[:limit]
    headlines = []
    for name in chosen:
        row = latest[name]
        period = row.get("year") or row.get("period") or ""
        label = name.replace("_", " ") + (f" ({period})" if period else "")
        headlines.append((label, render.format_kpi(row, currency=currency)))
    return headlines


def write_site_index(output_dir: str | Path) -> Path:
    """Write ``outputs/index.html`` listing every client folder found under ``output_dir``.

    Parameters
    ----------
    output_dir
        Root of the outputs.

    Returns
    -------
    pathlib.Path
        The index page.
    """
    output_dir = Path(output_dir)
    entries = []
    for client_dir in sorted(output_dir.iterdir()):
        if not client_dir.is_dir() or client_dir.name.startswith("."):
            continue
        record = _read_json(client_dir / _RUN_FILE)
        failed = _read_json(client_dir / _FAILED / _RUN_FILE)
        if record is None and failed is None:
            continue
        entries.append(
            render.SiteEntry(
                folder=client_dir.name,
                record=record,
                failed=failed,
                kpis=_headline_kpis(
                    client_dir / _EXPORTS, currency=(record.get("params") or {}).get("currency")
                )
                if record
                else [],
            )
        )
    path = output_dir / "index.html"
    _write_text(path, render.site_index_html(entries))
    return path


def summary_lines(runs: Sequence[ClientRun]) -> list[str]:
    """Plain-text failure lines of a run, one per failure (empty when all succeeded).

    Parameters
    ----------
    runs
        The results of `run_clients`.

    Returns
    -------
    list of str
        ``client / notebook cell N (In [n]): Error: message`` lines.
    """
    return [line for run in runs for line in run.failures()]
