"""Warm kernels: the next notebook's kernel starts, and imports what it needs, while one runs.

Starting a kernel takes about 1.3 s and importing pandas, matplotlib and ccnb about 1 s more;
paid once per notebook, one after the other, that was most of a client's batch run
(benchmarks/README.md). So while notebook k executes, a thread starts notebook k + 1's kernel,
with that notebook's environment and folder, and imports there the modules its code cells
import. The import runs silently (no output, no execution count) in a namespace of its own, so
the notebook's outputs and its ``In [n]`` numbers are those of a fresh kernel. papermill then
runs the notebook on that kernel and shuts it down, as it does its own. A kernel that fails to
start or to import is shut down and left out: papermill starts one itself, as before.
"""

from __future__ import annotations

import ast
import asyncio
import os
import subprocess
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ccnb.batch.charts import NOTEBOOK_VARIABLE

__all__ = ["KernelWarmer", "imported_modules"]

#: seconds a kernel may take to start and answer
START_TIMEOUT = 60
#: how long one message to a starting kernel may wait to be sent, in milliseconds: a send to a
#: kernel that died while starting (two processes took the same free port) could otherwise
#: block for ever inside pyzmq, before jupyter_client checks that the kernel is alive
SEND_TIMEOUT_MS = 5_000

# Imports the modules in a function's own namespace and leaves no name behind.
_WARM_UP = """\
def _ccnb_warm_up(names):
    import importlib
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            pass
_ccnb_warm_up({names!r})
del _ccnb_warm_up
"""


def imported_modules(notebook: str | Path) -> list[str]:
    """The modules a notebook's code cells import at their top level, in order of appearance.

    ``import a.b`` gives ``a.b``; ``from a import b`` gives ``a`` and ``a.b`` (``b`` may be a
    module). Cells that are not plain Python (magics, shell lines) are skipped.

    Parameters
    ----------
    notebook : str or pathlib.Path
        An ``.ipynb`` file.

    Returns
    -------
    list of str
        Module names, each once.
    """
    import nbformat

    names: dict[str, None] = {}
    for cell in nbformat.read(str(notebook), as_version=4).cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for statement in tree.body:
            if isinstance(statement, ast.Import):
                names.update(dict.fromkeys(alias.name for alias in statement.names))
            elif isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
                names[statement.module] = None
                names.update(
                    dict.fromkeys(f"{statement.module}.{alias.name}" for alias in statement.names)
                )
    return list(names)


async def _start(
    kernel_name: str, *, cwd: Path, env: dict[str, str], extra_arguments: list[str]
) -> Any:
    from jupyter_client.manager import AsyncKernelManager

    manager = AsyncKernelManager(kernel_name=kernel_name)
    await manager.start_kernel(
        cwd=str(cwd),
        env=env,
        extra_arguments=extra_arguments,
        # A kernel that cannot start (two processes took the same free port) prints its
        # traceback there; papermill then starts one itself. Cells report through messages.
        stderr=subprocess.DEVNULL,
    )
    return manager


async def _warm_up(manager: Any, modules: list[str]) -> None:
    """Import ``modules`` in the kernel, silently; raise if it does not answer in time."""
    import zmq

    client = manager.client()
    client.start_channels()
    for channel in (client.shell_channel, client.control_channel, client.stdin_channel):
        channel.socket.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)  # raises zmq.Again instead
    try:
        await client.wait_for_ready(timeout=START_TIMEOUT)
        message_id = client.execute(
            _WARM_UP.format(names=modules), silent=True, store_history=False
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            reply = await client.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
            if reply["parent_header"].get("msg_id") == message_id:
                return
    finally:
        client.stop_channels()


async def _start_warm(
    notebook: Path, kernel_name: str, *, env: dict[str, str], extra_arguments: list[str]
) -> Any:
    manager = await _start(
        kernel_name, cwd=notebook.parent, env=env, extra_arguments=extra_arguments
    )
    try:
        await _warm_up(manager, imported_modules(notebook))
    except BaseException:
        await _shut_down(manager)
        raise
    return manager


async def _shut_down(manager: Any) -> None:
    try:
        if await manager.is_alive():
            await manager.shutdown_kernel(now=True)
    finally:
        await manager.cleanup_resources()


class KernelWarmer:
    """Starts one notebook's kernel ahead, in a thread; hands it over or shuts it down.

    `close` (or leaving it as a context manager) shuts down every kernel started and not
    taken.

    Parameters
    ----------
    kernel_name : str
        The kernel to start (papermill's ``kernel_name``).
    extra_arguments : list of str
        Arguments for the kernel, as given to papermill.
    """

    def __init__(self, kernel_name: str, *, extra_arguments: list[str]) -> None:
        self.kernel_name = kernel_name
        # nbclient gives its own kernels an in-memory history (no SQLite file to share)
        self.extra_arguments = [*extra_arguments, "--HistoryManager.hist_file=:memory:"]
        self._starting: dict[Path, Future] = {}
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ccnb-kernel")

    def __enter__(self) -> KernelWarmer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Shut down the kernels started and not taken; wait for one still starting."""
        for notebook in list(self._starting):
            manager = self.take(notebook)
            if manager is not None:
                asyncio.run(_shut_down(manager))
        self._thread.shutdown(wait=True)

    def start(self, notebook: Path) -> None:
        """Start ``notebook``'s kernel in the background.

        Its environment is this process's now, with the notebook's name (``CCNB_NOTEBOOK``,
        which names its charts).
        """
        env = {**os.environ, NOTEBOOK_VARIABLE: notebook.stem}
        self._starting[notebook] = self._thread.submit(
            asyncio.run,
            _start_warm(notebook, self.kernel_name, env=env, extra_arguments=self.extra_arguments),
        )

    def is_starting(self, notebook: Path) -> bool:
        """Whether ``notebook``'s kernel was started and not taken yet."""
        return notebook in self._starting

    def take(self, notebook: Path) -> Any | None:
        """The started kernel's manager (the caller shuts it down), or None if it failed."""
        starting = self._starting.pop(notebook, None)
        if starting is None:
            return None
        try:
            return starting.result()
        except Exception:  # papermill starts a kernel itself, with its retry
            return None
