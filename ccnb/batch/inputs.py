"""A run's inputs: the notebooks to execute, the input files with checksums, library versions."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ccnb

__all__ = [
    "default_notebook_dir",
    "discover_notebooks",
    "file_sha256",
    "input_files",
    "packaged_notebooks",
]


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


def packaged_notebooks() -> Path:
    """The report notebooks installed with ccnb (in a checkout, what notebooks/ links to)."""
    return Path(__file__).resolve().parents[1] / "notebooks"


def default_notebook_dir(cwd: str | Path = ".") -> Path:
    """``./notebooks`` when it holds report notebooks (an engagement folder), else ccnb's own.

    Parameters
    ----------
    cwd : str or pathlib.Path, default "."
        The folder ``ccnb run`` is started in.

    Returns
    -------
    pathlib.Path
        The folder to run the notebooks of.
    """
    local = Path(cwd) / "notebooks"
    return local if any(local.glob(_NOTEBOOK_PATTERN)) else packaged_notebooks()


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
