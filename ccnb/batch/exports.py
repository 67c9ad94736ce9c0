"""CSV exports for CRM activation, written by the notebooks during a batch run.

The ``outputs/<client>/exports/*.csv`` of a batch run (README, "Running clients in batch"): a
notebook calls `export`; it writes only when ``ccnb run`` has set ``CCNB_EXPORT_DIR`` for the
kernel, so a consultant re-running a notebook in JupyterLab never writes into ``outputs/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

__all__ = ["EXPORT_DIR_VARIABLE", "export", "export_dir"]

EXPORT_DIR_VARIABLE = "CCNB_EXPORT_DIR"
"""Environment variable naming the folder exports go to (set by ``ccnb run`` for the kernel)."""

_EXPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def export_dir() -> Path | None:
    """Return the folder exports are written to, or None outside a batch run.

    Returns
    -------
    pathlib.Path or None
        The value of ``CCNB_EXPORT_DIR``, or None when it is unset or empty.
    """
    folder = os.environ.get(EXPORT_DIR_VARIABLE, "").strip()
    return Path(folder) if folder else None


def export(frame: pd.DataFrame, name: str, *, index: bool = False) -> Path | None:
    """Write ``frame`` to ``<CCNB_EXPORT_DIR>/<name>.csv`` during a batch run.

    Parameters
    ----------
    frame
        The table to export (e.g. one row per customer with its segment).
    name
        File name without ``.csv``: letters, digits, ``-`` and ``_``, e.g. ``"segments"``.
        The names the reports use are ``kpis``, ``segments``, ``clv``, ``allocation`` and
        ``test_assignment``.
    index
        Write the frame's index as the first column(s).

    Returns
    -------
    pathlib.Path or None
        The file written, or None when ``CCNB_EXPORT_DIR`` is not set (interactive use).

    Raises
    ------
    ValueError
        When ``name`` is not a plain file name.
    TypeError
        When ``frame`` is not a pandas DataFrame.
    """
    if not _EXPORT_NAME.match(name):
        raise ValueError(
            f"export name {name!r} must be a plain file name without extension: letters, "
            "digits, '-' and '_' (e.g. 'segments')"
        )
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"export {name!r} needs a pandas DataFrame, got {type(frame).__name__}")
    folder = export_dir()
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    # 12 significant digits: far beyond what a CRM needs, and no float noise in the files.
    frame.to_csv(path, index=index, encoding="utf-8", lineterminator="\n", float_format="%.12g")
    return path
