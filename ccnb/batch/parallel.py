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


def _report_sets(
    paths: Sequence[Path], overrides: dict[str, Any], each: str | None
) -> list[tuple[Path, dict[str, Any]]]:
    """One (params file, overrides) per report set: per file, or per value of ``each``."""
    if each is None:
        return [(path, overrides) for path in paths]
    from ccnb.data import population_values
    from ccnb.errors import CcnbError
    from ccnb.params import ParamsError, load_params

    jobs = []
    for path in paths:
        try:
            params = load_params(path, **overrides)
        except ParamsError:
            jobs.append((path, overrides))  # reported as this client's failure
            continue
        try:
            values = population_values(params, each)
        except CcnbError as error:
            raise ValueError(f"--each {each} for {path}: {error}") from None
        # a condition on the same column is replaced: each value lies inside it already
        existing = [
            condition.model_dump(by_alias=True, exclude_none=True)
            for condition in params.filter
            if condition.column != each
        ]
        slugs: set[str] = set()
        for value in values:
            slug = _value_slug(params.slug, value, taken=slugs)
            jobs.append(
                (
                    path,
                    {
                        **overrides,
                        "slug": slug,
                        "filter": [*existing, {"column": each, "equals": value}],
                    },
                )
            )
    return jobs


def _value_slug(slug: str, value: str, *, taken: set[str]) -> str:
    """``acme-uk`` for the value ``UK``: a safe folder name, unique within ``taken``."""
    part = "".join(c if c.isascii() and c.isalnum() else "-" for c in value.lower()).strip("-")
    part = "-".join(filter(None, part.split("-"))) or "value"
    candidate, number = f"{slug}-{part}", 1
    while candidate in taken:
        number += 1
        candidate = f"{slug}-{part}-{number}"
    taken.add(candidate)
    return candidate


def _preflight(
    report_sets: Sequence[tuple[Path, dict[str, Any]]], options: dict[str, Any]
) -> tuple[list[tuple[int, Path, str, str, dict[str, Any]]], dict[int, ClientRun]]:
    """Load every job's params once: folder names for the display, duplicates and bad files."""
    from ccnb.params import ParamsError, load_params

    loaded = []
    for params_file, overrides in report_sets:
        try:
            loaded.append(load_params(params_file, **overrides))
        except ParamsError:
            loaded.append(None)
    folders = [
        params.slug if params is not None else _safe_folder(path.stem)
        for (path, _), params in zip(report_sets, loaded, strict=True)
    ]
    output_dir = Path(options["output_dir"])
    check_output_dir(output_dir, folders)  # before anything is written
    remove_stale_temporaries(output_dir)
    runnable, rejected, seen = [], {}, {}
    for index, ((params_file, overrides), params) in enumerate(
        zip(report_sets, loaded, strict=True)
    ):
        if params is None:
            # Reported by run_client like any failed client (it stops at the params, here,
            # without starting a process or a kernel).
            job_options = {**options, "overrides": overrides, "notebooks": []}
            rejected[index] = run_client(params_file, **job_options)
            continue
        if params.slug in seen:
            rejected[index] = ClientRun(
                params_file=str(params_file),
                folder=params.slug,
                client=params.display_name,
                status="failed",
                error=f"slug {params.slug!r} is also used by {seen[params.slug]}; "
                "give each client its own slug",
            )
            continue
        seen[params.slug] = params_file
        runnable.append((index, params_file, params.slug, params.display_name, overrides))
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
    each: str | None = None,
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
    each
        A column of the transactions or customers file: each client is run once per value
        of it (within its params' ``filter``), as its own report set ``<slug>-<value>``
        with its own index entry (`ccnb.data.population_values`).
    on_event
        Called in this process with each `RunEvent` (progress display).
    on_start
        Called once before running with ``[(folder, client name)]`` and the notebook stems.

    Returns
    -------
    list of ClientRun
        One per params file (per file and value with ``each``), in the order given.
    """
    selected = discover_notebooks(notebook_dir, select=notebooks)
    output_dir = Path(output_dir).expanduser()
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(path) for path in params_files]
    options = {
        "notebooks": [str(path.resolve()) for path in selected],
        "output_dir": str(output_dir.resolve()),
        "timeout": timeout,
        "precompute": precompute,
    }
    report_sets = _report_sets(paths, dict(overrides or {}), each)
    runnable, results = _preflight(report_sets, options)
    if on_start is not None:
        clients = [(folder, client) for _, _, folder, client, _ in runnable] + [
            (run.folder, run.client) for run in results.values()
        ]
        on_start(clients, [path.stem for path in selected])
    for run in results.values():
        _emit(on_event, RunEvent(run.folder, None, "failed", run.seconds, run.error))
    results.update(_run_in_processes(runnable, options, jobs=jobs, on_event=on_event))
    write_site_index(output_dir)
    return [results[index] for index in range(len(report_sets))]


def _run_in_processes(
    runnable: list[tuple[int, Path, str, str, dict[str, Any]]],
    options: dict[str, Any],
    *,
    jobs: int | None,
    on_event: EventCallback | None,
) -> dict[int, ClientRun]:
    if not runnable:
        return {}
    workers = max(1, min(jobs or os.cpu_count() or 1, len(runnable)))
    # a process renders each client's notebooks only when there is a core to spare for it
    options = {**options, "render_process": workers < (os.cpu_count() or 1)}
    context = multiprocessing.get_context("spawn")
    event_queue = context.Queue()
    results: dict[int, ClientRun] = {}
    with (
        interrupts.main_process_signals() as received,
        ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(event_queue, os.getpid()),
        ) as pool,
    ):
        futures: dict[Future, tuple[int, Path, str, str]] = {
            pool.submit(_client_in_worker, str(path), {**options, "overrides": overrides}): (
                index,
                path,
                folder,
                client,
            )
            for index, path, folder, client, overrides in runnable
        }
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                _drain(event_queue, on_event)
                for future in done:
                    index, path, folder, client = futures[future]
                    try:
                        results[index] = future.result()
                    except Exception as error:  # the worker died (killed, out of memory)
                        results[index] = _crashed(path, folder, client, error)
                        _emit(
                            on_event,
                            RunEvent(folder, None, "failed", None, results[index].error),
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
