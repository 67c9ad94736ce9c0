"""Executing notebooks: papermill, one retry when the kernel fails to start, HTML rendering.

A failure is located by the cell that was running (numbered as in the source notebook). Each
notebook runs on a kernel started ahead (`kernels`) and renders (HTML, chart-pack slides) in
a process or thread of its own while the next one executes (`start_renderer`).
"""

from __future__ import annotations

import datetime as dt
import functools
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import (
    BrokenExecutor,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from pathlib import Path
from typing import Any

from ccnb.batch import charts, render
from ccnb.batch._jsonschema import import_without_iri_grammar
from ccnb.batch.charts import NOTEBOOK_VARIABLE
from ccnb.batch.kernels import KernelWarmer
from ccnb.batch.records import EventCallback, NotebookRun, RunEvent, _emit, _first_line

__all__ = ["DEFAULT_TIMEOUT", "KERNEL_NAME"]


KERNEL_NAME = "python3"
"""Kernel the notebooks run on: jupyter_client starts ``python3`` with the running interpreter."""


DEFAULT_TIMEOUT = 1200
"""Seconds a single cell may run before the notebook is stopped and reported as failed."""


# Cells papermill adds to an executed notebook; skipped when numbering cells as in the source.
_PAPERMILL_TAGS = {"injected-parameters", "papermill-error-cell-tag"}


_KERNEL_START_ERRORS = ("Kernel didn't respond", "Kernel died before replying")


def _source_cell_number(notebook: Any, index: int) -> int:
    """1-based number of executed cell ``index`` in the source notebook."""
    skipped = sum(
        1
        for cell in notebook.cells[:index]
        if _PAPERMILL_TAGS & set(cell.get("metadata", {}).get("tags", []))
    )
    return index - skipped + 1


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


# Every kernel warns that it talks TCP on localhost unencrypted: noise per start.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


_ENGINE = "ccnb"

#: at a cell's start or end the executed notebook is saved only when the last save is this
#: many seconds old (papermill saves at each: see `_register_engine`)
SAVE_EVERY_SECONDS = 10.0


@functools.cache
def _register_engine() -> None:
    """The papermill nbclient engine, on a kernel started beforehand and saving sparingly.

    - **Kernel.** Given ``km`` (a kernel `kernels.KernelWarmer` started), it runs on that
      kernel and shuts it down when done, as it does a kernel it starts.
    - **Saves.** papermill writes the whole executed notebook (validated, and serialised by
      the pure-Python JSON encoder because of its indent) at every cell's start and end: about
      3 s of the runner's interpreter for the demo's six notebooks, competing with the
      client's tables. Here a cell's start or end saves only when the last save is
      `SAVE_EVERY_SECONDS` old. The end of the notebook always saves (papermill does it in a
      ``finally``, so a failed, timed-out or interrupted notebook is kept with the cell that
      was running), and papermill's own autosave during a long cell is unchanged.
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
    from papermill.log import logger
    from papermill.utils import remove_args

    class SparingSaves(NotebookExecutionManager):
        finishing = False

        def save(self, **kwargs):
            age = (self.now() - self.last_save_time).total_seconds()
            if self.finishing or age >= SAVE_EVERY_SECONDS:
                super().save(**kwargs)

        def notebook_complete(self, **kwargs):
            self.finishing = True
            super().notebook_complete(**kwargs)

    class CcnbEngine(NBClientEngine):
        @classmethod
        def execute_notebook(
            cls,
            nb,
            kernel_name,
            output_path=None,
            progress_bar=True,
            log_output=False,
            autosave_cell_every=30,
            **kwargs,
        ):
            # papermill's Engine.execute_notebook, with the sparing manager
            nb_man = SparingSaves(
                nb,
                output_path=output_path,
                progress_bar=progress_bar,
                log_output=log_output,
                autosave_cell_every=autosave_cell_every,
            )
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man,
            kernel_name,
            log_output=False,
            stdout_file=None,
            stderr_file=None,
            start_timeout=60,
            execution_timeout=None,
            **kwargs,
        ):
            client = PapermillNotebookClient(
                nb_man,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logger,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
                **remove_args(["input_path", "timeout", "startup_timeout"], **kwargs),
            )
            # the client shuts a given kernel down when done, as it does the kernels it starts
            client.owns_km = True
            return client.execute()

    papermill_engines.register(_ENGINE, CcnbEngine)


def _execute(
    notebook: Path,
    output: Path,
    *,
    parameters: dict[str, Any],
    timeout: float,
    kernel: Any | None = None,
) -> None:
    """Run a notebook with papermill, retrying once when its kernel fails to start.

    ``kernel`` is a started kernel's manager (`kernels.KernelWarmer`) to run it on, else
    papermill starts one.
    """
    import papermill

    _register_engine()
    for attempt in (1, 2):
        on_kernel = {"km": kernel} if kernel is not None and attempt == 1 else {}
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
                extra_arguments=KERNEL_ARGUMENTS,
                engine_name=_ENGINE,
                **on_kernel,
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
    notebook: Path,
    staging: Path,
    *,
    parameters: dict[str, Any],
    timeout: float,
    kernel: Any | None = None,
) -> NotebookRun | None:
    """Execute one notebook into the staging folder: None when it ran, else the failure."""
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    name = notebook.stem
    executed = staging / notebook.name
    start = time.perf_counter()
    try:
        _execute(notebook, executed, parameters=parameters, timeout=timeout, kernel=kernel)
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


def start_renderer(*, separate_process: bool = True) -> Executor:
    """What renders executed notebooks (HTML and chart-pack slides) while the next ones run.

    Rendering is Python-heavy (nbconvert, matplotlib at slide size): in a thread it competes
    for the interpreter with the client's tables and the kernels' messages, so by default a
    process does it. That process starts with the first notebook to render (not before: on
    a big client the first notebook waits minutes for its tables, and the memory is the
    tables'), and ignores Ctrl-C, which reaches the whole process group: the run stops it,
    after the render under way. When clients running at once already keep every core busy,
    a thread renders (``separate_process=False``): a process would only add its start-up.
    """
    if not separate_process:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="ccnb-render")
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_renderer_ready,
    )


def _renderer_ready() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import_without_iri_grammar()  # before nbconvert imports nbformat


def _render_notebook(
    executed: Path, *, started: float, client: str, run_date: dt.datetime, charts_folder: Path
) -> NotebookRun:
    """Render an executed notebook to the reader's HTML, and its charts; never raises."""
    name = executed.stem
    try:
        report = render.write_report(
            executed, executed.with_suffix(".html"), client=client, run_date=run_date
        )
        charts.render_slides(charts_folder, notebook=name)
    except Exception as error:
        return NotebookRun(
            name=name,
            status="failed",
            seconds=time.perf_counter() - started,
            error=f"rendering failed: {type(error).__name__}: {_first_line(str(error))}",
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
    warmer: KernelWarmer,
    renderer: Executor,
    charts_folder: Path,
    while_rendering: Callable[[], None] | None = None,
) -> list[NotebookRun]:
    """Execute the notebooks in order; ``renderer`` renders each while the next one runs.

    While a notebook runs, ``warmer`` starts the next one's kernel and imports its modules
    (`kernels`); the first notebook's kernel the caller may have started already.
    ``while_rendering`` is called once every notebook has executed without error, while the
    last ones still render.
    """
    runs: list[NotebookRun] = []
    done: list[tuple[dict[str, Any], Future]] = []

    def report_finished(*, block: bool = False) -> None:
        while done and (block or done[0][1].done()):
            rendering, outcome = done.pop(0)
            try:
                result = outcome.result()
            except BrokenExecutor:  # the rendering process died: render here
                result = _render_notebook(**rendering)
            runs.append(result)
            _emit(
                events, RunEvent(folder, result.name, result.status, result.seconds, result.error)
            )

    every_one_ran = True
    if notebooks and not warmer.is_starting(notebooks[0]):
        warmer.start(notebooks[0])
    for position, notebook in enumerate(notebooks):
        _emit(events, RunEvent(folder, notebook.stem, "running"))
        started = time.perf_counter()
        os.environ[NOTEBOOK_VARIABLE] = notebook.stem  # for a kernel papermill starts
        kernel = warmer.take(notebook)
        if position + 1 < len(notebooks):
            warmer.start(notebooks[position + 1])
        failure = _execute_notebook(
            notebook, staging, parameters=parameters, timeout=timeout, kernel=kernel
        )
        rendering = {
            "executed": staging / notebook.name,
            "started": started,
            "client": client,
            "run_date": run_date,
            "charts_folder": charts_folder,
        }
        if failure is None:
            try:
                outcome = renderer.submit(_render_notebook, **rendering)
            except BrokenExecutor:  # the rendering process could not start or died
                outcome = Future()
                outcome.set_result(_render_notebook(**rendering))
        else:
            every_one_ran = False
            outcome = Future()
            outcome.set_result(failure)
        done.append((rendering, outcome))
        report_finished()
    if while_rendering is not None and every_one_ran:
        while_rendering()
    report_finished(block=True)
    return runs
