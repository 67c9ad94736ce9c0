"""One client's run: staged, tables precomputed, published only when every notebook succeeded.

A run writes into a temporary folder and replaces ``outputs/<client>/`` only when every notebook
succeeded; otherwise the previous good outputs stay and the failed notebook is kept under
``outputs/<client>/failed/`` with ``error.txt``. ``run.json`` records the provenance.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ccnb
from ccnb._process_folders import process_prefix
from ccnb.analysis import CACHE_DIR_VARIABLE, MODEL_REASON_PREFIX, ClientAnalysis
from ccnb.batch import charts, interrupts
from ccnb.batch._jsonschema import import_without_iri_grammar
from ccnb.batch._layout import (
    _EXPORTS,
    _FAILED,
    _RUN_FILE,
    _ccnb_entries,
    _foreign_entries,
    _mark_owned,
    _read_json,
    _replace_dir,
    _safe_folder,
    _write_json,
    _write_text,
)
from ccnb.batch.execute import (
    DEFAULT_TIMEOUT,
    KERNEL_ARGUMENTS,
    KERNEL_NAME,
    _run_notebooks,
    start_renderer,
)
from ccnb.batch.exports import EXPORT_DIR_VARIABLE, csv_data_rows, write_csv
from ccnb.batch.index_pages import write_client_index
from ccnb.batch.inputs import _kernel_executable, _library_versions, _now, input_files
from ccnb.batch.kernels import KernelWarmer
from ccnb.batch.records import ClientRun, EventCallback, RunEvent, _emit, _first_line
from ccnb.batch.scaffold import unreviewed_keys
from ccnb.batch.workbook import write_workbook
from ccnb.errors import InputError

__all__ = ["run_client"]

#: the chart pack's folder in a client's outputs
_CHARTS = "charts"


def _export_listing(exports: Path) -> list[dict[str, Any]]:
    listing = []
    for path in sorted(exports.glob("*.csv")):
        listing.append(
            {
                "file": f"{_EXPORTS}/{path.name}",
                "rows": csv_data_rows(path),
                "bytes": path.stat().st_size,
            }
        )
    for path in sorted(exports.glob("*.xlsx")):
        listing.append(
            {"file": f"{_EXPORTS}/{path.name}", "rows": None, "bytes": path.stat().st_size}
        )
    return listing


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
    _mark_owned(target, only=(_FAILED, "index.html"))


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
        "orders": None,
        "tables": {"seconds": None, "unavailable": {}, "error": None},
        "warnings": [],
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


def _prepare_kernel_environment(exports: Path, cache: Path) -> None:
    """Environment the kernels inherit: where exports, charts and tables go, inline figures."""
    os.environ[EXPORT_DIR_VARIABLE] = str(exports)
    os.environ[charts.CHART_DIR_VARIABLE] = str(exports.parent / _CHARTS)
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
    render_process: bool = True,
) -> ClientRun:
    """Run the notebooks for one client and publish the outputs, or keep the failure.

    The run writes into ``<output_dir>/.<slug>.tmp-<pid>`` and replaces ``<output_dir>/<slug>``
    only when every notebook succeeded. Otherwise the previous outputs stay, and
    ``<output_dir>/<slug>/failed/`` holds the failed notebooks as executed up to the failing
    cell, ``error.txt`` and ``run.json``. The kernels find the export and table folders
    through ``CCNB_EXPORT_DIR`` and ``CCNB_CACHE_DIR``, set in this process's environment for
    the run and restored afterwards.

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
    render_process
        Render the notebooks in a process beside the run (`execute.start_renderer`); False
        renders them in a thread, what `run_clients` chooses when its clients running at
        once already keep every core busy.

    Returns
    -------
    ClientRun
        What ran and what failed; never raises for a failing client.
    """
    params_file, output_dir = Path(params_file), Path(output_dir)
    overrides = dict(overrides or {})
    import_without_iri_grammar()  # before papermill and the kernels' notebooks need nbformat
    started, clock = _now(), time.perf_counter()
    folder = _safe_folder(params_file.stem)
    record = _base_record(params_file, folder, started)
    run = ClientRun(params_file=str(params_file), folder=folder, client=folder)
    staging = tables = analysis = None
    notebooks_done = threading.Event()
    cache = Path(tempfile.mkdtemp(prefix=process_prefix("tables")))
    environment = dict(os.environ)
    notebooks = [Path(notebook).resolve() for notebook in notebooks]
    warmer = KernelWarmer(KERNEL_NAME, extra_arguments=KERNEL_ARGUMENTS)
    renderer = start_renderer(separate_process=render_process)
    workbook_failures: list[str] = []

    def write_workbook() -> None:  # while the last notebooks render
        try:
            _write_client_workbook(staging, analysis, record)
        except Exception as error:  # the reports and CSVs are good; say what is missing
            workbook_failures.append(f"The Excel workbook could not be written: {error}")

    try:
        try:
            params = _load_params(params_file, overrides, run=run, record=record)
            staging = output_dir / f".{params.slug}.tmp-{os.getpid()}"
            _prepare_kernel_environment((staging / _EXPORTS).resolve(), cache.resolve())
            if notebooks:  # its kernel starts while the data loads
                warmer.start(notebooks[0])
            analysis = _stage_data(params, staging, cache, record=record)
            tables = (
                _compute_tables(analysis, record=record, stop=notebooks_done)
                if precompute
                else None
            )
            parameters = {"params_file": str(params_file.resolve())}
            if overrides:
                parameters["overrides"] = overrides
            run.notebooks = _run_notebooks(
                notebooks,
                staging,
                parameters=parameters,
                timeout=timeout,
                client=params.display_name,
                run_date=started,
                folder=run.folder,
                events=events,
                warmer=warmer,
                renderer=renderer,
                charts_folder=(staging / _CHARTS).resolve(),
                while_rendering=write_workbook,
            )
        except Exception as error:  # params, data, anything: this client failed, others go on
            run.error = f"{type(error).__name__}: {_first_line(str(error))}"
            expected = isinstance(error, InputError)
            record["error_details"] = str(error) if expected else traceback.format_exc()
        notebooks_done.set()  # the tables no notebook has read by now are not needed
        if tables is not None:
            tables.join()  # its timing goes into run.json
        if run.error or any(nb.failed for nb in run.notebooks):
            run.status = "failed"
        else:
            try:
                warnings = _run_warnings(params_file, analysis, run)
            except Exception as error:  # the reports are good; say what could not be checked
                warnings = [(f"The run's warnings could not be collected: {error}", "")]
            warnings += [(line, "") for line in workbook_failures]
            charts.write_contact_sheet(staging / _CHARTS, title=analysis.params.display_name)
            record["warnings"] = [{"warning": line, "detail": detail} for line, detail in warnings]
            run.warnings = [line for line, _ in warnings]
            run.status = "warning" if warnings else "ok"
        run.seconds = time.perf_counter() - clock
        _finish_record(record, run)
        if interrupts.STOP.is_set():  # stopped while finishing: publish nothing
            raise KeyboardInterrupt
        _publish(run, record, staging, output_dir / run.folder)
    finally:
        notebooks_done.set()
        warmer.close()  # a kernel started and not used (the data failed to load, a stop)
        renderer.shutdown(wait=True, cancel_futures=True)
        if tables is not None and not interrupts.STOP.is_set():
            tables.join()  # before its folder goes (a stopped run does not wait for it)
        if analysis is not None:
            analysis.remove_shared_files()  # what Spark's executors wrote in engine.work_dir
        os.environ.clear()  # the caller's environment, without the kernels' variables
        os.environ.update(environment)
        shutil.rmtree(cache, ignore_errors=True)
        if staging is not None and staging.exists():  # not swapped in: failed or interrupted
            shutil.rmtree(staging, ignore_errors=True)
    _emit(events, RunEvent(run.folder, None, run.status, run.seconds, run.error))
    return run


#: a run whose excluded rows carry more of the file's revenue than this ends with a warning
EXCLUDED_REVENUE_TO_CHECK = 0.25


def _write_client_workbook(staging: Path, analysis: ClientAnalysis, record: dict[str, Any]) -> None:
    """``exports/<slug>.xlsx``: every CSV export as a typed sheet behind a cover sheet."""
    params, quality = analysis.params, analysis.quality
    transactions = quality.transactions
    rejected = ", ".join(f"{reason} {n:,}" for reason, n in sorted(transactions.rejected.items()))
    cover = [
        ("client", params.display_name),
        ("run started", str(record.get("started", ""))),
        ("observation end", analysis.observation_end.isoformat()),
        (
            "data quality (transactions)",
            f"{transactions.rows_read:,} rows read, {transactions.rows_used:,} used, "
            f"{transactions.rows_rejected:,} rejected ({rejected or 'none'}); every rejected "
            "row is on the rejected_rows sheet",
        ),
        ("ccnb version", ccnb.__version__),
    ]
    write_workbook(
        staging / _EXPORTS,
        staging / _EXPORTS / f"{params.slug}.xlsx",
        cover=cover,
        currency=params.currency or "EUR",
    )


def _run_warnings(
    params_file: Path, analysis: ClientAnalysis, run: ClientRun
) -> list[tuple[str, str]]:
    """Why a run whose notebooks all succeeded still needs a look: (sentence, detail) pairs.

    Params lines still marked CHECK by ``ccnb new``; model fits that failed, so the reports
    show the value ranking instead (only fits some table needed: none is attempted here);
    excluded rows carrying much of the revenue; the data's plausibility warnings (ids that
    collide, a customers table that does not match, outlying amounts); active content removed
    from a report.
    """
    warnings = []
    unreviewed = unreviewed_keys(params_file.read_text(encoding="utf-8"))
    if unreviewed:
        warnings.append(
            (
                f"Guesses not reviewed: {', '.join(unreviewed)} still marked CHECK in the "
                "params file; confirm each value and delete its marker.",
                "",
            )
        )
    reasons = {}
    for failure in analysis.model_failures().values():
        reasons.setdefault(failure.reason, failure.detail)
    if reasons:
        why = "; ".join(reason.removeprefix(MODEL_REASON_PREFIX).rstrip(".") for reason in reasons)
        warnings.append(
            (
                f"{MODEL_REASON_PREFIX}{why}. The reports show the value ranking from history.",
                "\n".join(reasons.values()),
            )
        )
    excluded = analysis.quality.transactions.revenue_share()
    if excluded > EXCLUDED_REVENUE_TO_CHECK:
        warnings.append(
            (
                f"The excluded rows carry {excluded:.0%} of the revenue in the file: check "
                "rejected_rows.csv (a totals line, a wrong column mapping, lines without a "
                "customer id) before presenting.",
                "",
            )
        )
    warnings += [(f"Data: {line[0].upper()}{line[1:]}.", "") for line in analysis.quality.warnings]
    warnings += [(line, "") for line in run.removed_content()]
    return warnings


def _load_params(
    params_file: Path, overrides: dict[str, Any], *, run: ClientRun, record: dict[str, Any]
) -> Any:
    from ccnb.params import load_params

    params = load_params(params_file, **overrides)
    run.folder, run.client = params.slug, params.display_name
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
    start = time.perf_counter()
    analysis = ClientAnalysis(params, cache_dir=cache)
    quality = analysis.quality
    record["load_seconds"] = round(time.perf_counter() - start, 2)
    record["data_quality"] = quality.to_dict()
    record["orders"] = quality.orders.to_dict() if quality.orders is not None else None
    write_csv(quality.rejected_rows, staging / _EXPORTS / "rejected_rows.csv")
    return analysis


def _compute_tables(
    analysis: ClientAnalysis, *, record: dict[str, Any], stop: threading.Event
) -> threading.Thread:
    """Compute the client's tables once, in a thread, while the first kernel starts.

    The kernels wait for a table still being computed (see `ClientAnalysis.precompute`).
    An error is recorded and left to the notebook that needs the table, which then computes
    it itself and shows the error in its cell. Once ``stop`` is set (the notebooks are done)
    the tables not yet computed are skipped: a run of some notebooks (``--notebooks 00``)
    does not wait for the others' models.
    """

    def compute() -> None:
        start = time.perf_counter()
        try:
            record["tables"]["unavailable"] = analysis.precompute(stop=stop)
        except Exception as error:  # reported by the notebook that needs the table
            record["tables"]["error"] = f"{type(error).__name__}: {_first_line(str(error))}"
        record["tables"]["seconds"] = round(time.perf_counter() - start, 2)

    thread = threading.Thread(target=compute, name="ccnb-tables", daemon=True)
    thread.start()
    return thread


def _publish(run: ClientRun, record: dict[str, Any], staging: Path | None, target: Path) -> None:
    """Swap a successful run in, or keep a failed one under ``failed/``.

    Only into a folder ccnb owns (or a new one): entries ccnb did not write there (a user's
    notes) move into the new folder with the run's outputs, never deleted.
    """
    if target.exists() and _ccnb_entries(target) is None:
        run.status = "failed"
        run.error = f"{target} exists and was not written by ccnb; nothing was changed"
        return
    if run.failed:
        _keep_failure(run, record, staging, target)
        return
    _carry_over(target, staging, record)
    record["exports"] = _export_listing(staging / _EXPORTS)
    record["charts"] = len(list((staging / _CHARTS).glob("*.png")))
    _write_json(staging / _RUN_FILE, record)
    _mark_owned(staging, also=("index.html",))
    if target.exists():
        for entry in _foreign_entries(target):
            shutil.move(entry, staging / entry.name)
    _replace_dir(staging, target)
    write_client_index(target)
