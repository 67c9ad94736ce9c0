"""Temporary folders that live as long as this process (removed at exit).

For what must not land in the consultant's working directory and must not outlive the
process: DuckDB's spill files, the draws of big predictions computed in a kernel.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

__all__ = ["process_folder"]

_FOLDERS: dict[str, Path] = {}


def process_folder(purpose: str) -> Path:
    """The temporary folder of this process for ``purpose``: made on first use, removed at exit.

    Parameters
    ----------
    purpose : str
        A short name (``"duckdb-spill"``, ``"draws"``): one folder per purpose and process,
        named ``ccnb-<purpose>-*`` in the system's temporary directory.

    Returns
    -------
    pathlib.Path
        The folder (the same one on every call with the same purpose).
    """
    if purpose not in _FOLDERS:
        _FOLDERS[purpose] = Path(tempfile.mkdtemp(prefix=f"ccnb-{purpose}-"))
        atexit.register(shutil.rmtree, _FOLDERS[purpose], ignore_errors=True)
    return _FOLDERS[purpose]
