"""Temporary files and folders that live as long as this process.

For what must not land in the consultant's working directory and must not outlive the
process: DuckDB's spill files, the draws of big predictions computed in a kernel, clean copies
of client files, the batch runner's table cache, Spark's console log. Each is named
``ccnb-<purpose>-<pid>-*`` in the system's temporary directory. A process that exits normally
removes its own; one that is killed cannot (a notebook kernel is shut down without running
its exit handlers), so `remove_orphans` removes those of processes that are no longer
running: when a process makes its first folder (each new kernel tidies after the killed ones,
in a workshop as in a batch run) and at the start of every batch run.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path

import psutil

__all__ = ["pid_alive", "process_folder", "process_prefix", "remove_orphans"]

_FOLDERS: dict[str, Path] = {}
_ORPHAN = re.compile(r"^ccnb-[a-z]+(?:-[a-z]+)*-(\d+)-")


def process_prefix(purpose: str) -> str:
    """The name prefix of this process' temporaries for ``purpose``: ``ccnb-<purpose>-<pid>-``."""
    return f"ccnb-{purpose}-{os.getpid()}-"


def process_folder(purpose: str) -> Path:
    """The temporary folder of this process for ``purpose``: made on first use, removed at exit.

    Parameters
    ----------
    purpose : str
        A short name of lower-case words joined by hyphens (``"duckdb-spill"``, ``"draws"``):
        one folder per purpose and process.

    Returns
    -------
    pathlib.Path
        The folder (the same one on every call with the same purpose).
    """
    if purpose not in _FOLDERS:
        if not _FOLDERS:
            remove_orphans()
        _FOLDERS[purpose] = Path(tempfile.mkdtemp(prefix=process_prefix(purpose)))
        atexit.register(shutil.rmtree, _FOLDERS[purpose], ignore_errors=True)
    return _FOLDERS[purpose]


def remove_orphans(folder: Path | None = None) -> list[Path]:
    """Remove the temporaries of ccnb processes that are no longer running.

    Parameters
    ----------
    folder : pathlib.Path, optional
        Where to look; the system's temporary directory by default.

    Returns
    -------
    list of pathlib.Path
        What was removed: entries named ``ccnb-<purpose>-<pid>-*`` whose process has ended.
    """
    folder = Path(tempfile.gettempdir()) if folder is None else folder
    removed = []
    for entry in folder.iterdir():
        match = _ORPHAN.match(entry.name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` is running (this one included; any user's)."""
    return pid == os.getpid() or psutil.pid_exists(pid)
