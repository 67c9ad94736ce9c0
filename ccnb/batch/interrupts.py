"""Stopping a run: an interrupted or orphaned run publishes nothing and leaves nothing running.

``ccnb run`` (the main process) turns SIGTERM into the same interrupt as Ctrl-C (SIGINT); it
then stops its worker processes, which stop their notebooks' kernels, discard their staging
folders and publish nothing; the previous outputs stay. A worker whose main process dies
(SIGKILL, a crash) notices within a second and stops the same way. What a killed run still
leaves behind (staging folders, table caches) is removed by the next run
(`ccnb.batch._layout.remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

__all__ = ["RunInterrupted", "STOP", "main_process_signals", "worker_signals"]

#: set in a worker once its run must not publish (a signal, or its main process died)
STOP = threading.Event()

#: seconds between a worker's checks that its main process is alive
PARENT_POLL_SECONDS = 0.5


class RunInterrupted(Exception):
    """The run was stopped by a signal; nothing from the clients still running was published.

    Attributes
    ----------
    signal_name : str
        ``"SIGINT"`` or ``"SIGTERM"``.
    exit_code : int
        128 + the signal number (130 for SIGINT, 143 for SIGTERM), the shell's convention.
    """

    def __init__(self, signal_name: str):
        number = getattr(signal, signal_name)
        self.signal_name = signal_name
        self.exit_code = 128 + int(number)
        super().__init__(
            f"ccnb run stopped by {signal_name}: the clients still running were stopped and "
            "nothing of theirs was published; their previous outputs are kept."
        )


_received: list[str] = []


def _interrupt(signum, frame) -> None:
    _received.append(signal.Signals(signum).name)
    raise KeyboardInterrupt


@contextlib.contextmanager
def main_process_signals() -> Iterator[list[str]]:
    """In the main process: SIGTERM raises KeyboardInterrupt like SIGINT; yields their names.

    The previous handlers are restored on exit (a notebook or a test calling ``run_clients``
    keeps its own).
    """
    if threading.current_thread() is not threading.main_thread():
        yield _received  # signals go to the main thread only; nothing to install here
        return
    _received.clear()
    previous = {name: signal.getsignal(name) for name in (signal.SIGINT, signal.SIGTERM)}
    for name in previous:
        signal.signal(name, _interrupt)
    try:
        yield _received
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)


def _stop_worker(signum, frame) -> None:
    STOP.set()
    raise KeyboardInterrupt


def _watch_parent(parent: int) -> None:
    while not STOP.is_set():
        time.sleep(PARENT_POLL_SECONDS)
        if os.getppid() != parent:  # reparented: the main process is gone
            STOP.set()
            os.kill(os.getpid(), signal.SIGTERM)
            return


def worker_signals(parent: int) -> None:
    """In a worker: SIGTERM or SIGINT stop the run unpublished; so does the main process' death.

    Parameters
    ----------
    parent : int
        The main process' id.
    """
    signal.signal(signal.SIGTERM, _stop_worker)
    signal.signal(signal.SIGINT, _stop_worker)
    threading.Thread(target=_watch_parent, args=(parent,), name="ccnb-parent", daemon=True).start()
