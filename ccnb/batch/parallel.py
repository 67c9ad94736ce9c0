"""Many clients: checked first, then each run in its own process.

One failing client never stops the others; the exit code is 0 only when every client succeeded.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    wait,
)
from pathlib import Path
from typing import Any

from ccnb.batch import interrupts
from ccnb.batch._layout import _safe_folder, check_output_dir, remove_stale_temporaries
from ccnb.batch.client_run import run_client
from ccnb.batch.execute import DEFAULT_TIMEOUT
from ccnb.batch.index_pages import write_site_index
from ccnb.batch.inputs import discover_notebooks
from ccnb.batch.records import ClientRun, EventCallback, RunEvent, _emit, _first_line

__all__ = ["run_clients"]


_worker_events: Any = None


def _init_worker(event_queue: Any, parent: int) -> None:
    global _worker_events
    _worker_events = event_queue
    interrupts.worker_signals(parent)


def _client_in_worker(params_file: str, options: dict[str, Any]) -> ClientRun:
    try:
        return run_client(
            params_file, events=_worker_events.put if _worker_events else None, **options
        )
    except KeyboardInterrupt:
        if interrupts.STOP.is_set():  # stopped: the run cleaned up; end without a result
            os._exit(1)
        raise


def _preflight(
    params_files: Sequence[Path], options: dict[str, Any]
) -> tuple[list[tuple[Path, str, str]], list[ClientRun]]:
    """Load every params file once: folder names for the display, duplicates and bad files."""
    from ccnb.params import ParamsError, load_params

    loaded = {}
    for params_file in params_files:
        try:
            loaded[params_file] = load_params(params_file, **options["overrides"])
        except ParamsError:
            loaded[params_file] = None
    folders = [
        params.slug if params is not None else _safe_folder(path.stem)
        for path, params in loaded.items()
    ]
    output_dir = Path(options["output_dir"])
    check_output_dir(output_dir, folders)  # before anything is written
    remove_stale_temporaries(output_dir)
    runnable, rejected, seen = [], [], {}
    for params_file, params in loaded.items():
        if params is None:
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
    output_dir = Path(output_dir).expanduser()
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
    with (
        interrupts.main_process_signals() as received,
        ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(event_queue, os.getpid()),
        ) as pool,
    ):
        futures: dict[Future, tuple[Path, str, str]] = {
            pool.submit(_client_in_worker, str(path), options): (path, folder, client)
            for path, folder, client in runnable
        }
        pending = set(futures)
        try:
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
                            on_event,
                            RunEvent(folder, None, "failed", None, results[str(path)].error),
                        )
        except KeyboardInterrupt:
            # the workers stop their kernels, discard their staging folders, publish nothing
            for child in multiprocessing.active_children():
                child.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            raise interrupts.RunInterrupted(received[-1] if received else "SIGINT") from None
    time.sleep(0.05)
    _drain(event_queue, on_event)
    event_queue.close()
    event_queue.join_thread()
    return results
