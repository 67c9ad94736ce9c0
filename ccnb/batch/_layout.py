"""The output folder's layout (run.json, exports/, failed/) and writing files into it whole."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from ccnb._process_folders import pid_alive, remove_orphans

_RUN_FILE = "run.json"


_FAILED = "failed"


_EXPORTS = "exports"


#: a file in each client folder listing the entries ccnb wrote there (ownership mark)
OWNER_MARKER = ".ccnb-output"

#: the site index page carries this tag: an index.html without it is not ccnb's to replace
GENERATOR_META = '<meta name="generator" content="ccnb">'

#: what a client folder written before the ownership mark existed holds (run.json marks it)
_LEGACY_ENTRIES = ("run.json", "index.html", "exports", "failed")


def _ccnb_entries(folder: Path) -> set[str] | None:
    """Names ccnb wrote in a client folder; None when the folder is not ccnb's."""
    marker = folder / OWNER_MARKER
    if marker.is_file():
        try:
            return set(json.loads(marker.read_text(encoding="utf-8"))) | {OWNER_MARKER}
        except (OSError, ValueError):
            return None
    if (folder / _RUN_FILE).is_file() or (folder / _FAILED / _RUN_FILE).is_file():
        notebooks = {p.name for p in folder.iterdir() if p.suffix in (".ipynb", ".html")}
        return set(_LEGACY_ENTRIES) | notebooks
    return None


def _mark_owned(folder: Path, *, only: tuple[str, ...] = (), also: tuple[str, ...] = ()) -> None:
    """Write the ownership mark: the entries ccnb wrote in ``folder``.

    Without ``only``, every entry now in the folder (a fresh staging folder) plus ``also``;
    with ``only``, those names added to what the folder's mark already lists.
    """
    names = set(only) if only else {p.name for p in folder.iterdir()}
    names |= set(also) | (_ccnb_entries(folder) or set())
    names.discard(OWNER_MARKER)
    _write_text(folder / OWNER_MARKER, json.dumps(sorted(names), indent=1) + "\n")


def _foreign_entries(folder: Path) -> list[Path]:
    """Entries of a ccnb client folder that ccnb did not write (a user's notes, say)."""
    owned = _ccnb_entries(folder) or set()
    return sorted(p for p in folder.iterdir() if p.name not in owned)


def check_output_dir(output_dir: Path, folders: list[str]) -> None:
    """Refuse, touching nothing, to write where files are not ccnb's.

    Parameters
    ----------
    output_dir : pathlib.Path
        Root of the outputs.
    folders : list of str
        The client folders the run will write.

    Raises
    ------
    OutputError
        When a client folder exists without ccnb's mark (``.ccnb-output``, or the
        ``run.json`` of an earlier version), or ``index.html`` exists without ccnb's
        generator tag.
    """
    from ccnb.errors import OutputError

    problems = []
    for folder in folders:
        target = output_dir / folder
        if target.exists() and (not target.is_dir() or _ccnb_entries(target) is None):
            problems.append(f"{target} exists and was not written by ccnb")
    index = output_dir / "index.html"
    if index.exists():
        try:
            ours = GENERATOR_META in index.read_text(encoding="utf-8", errors="replace")
        except OSError:
            ours = False
        if not ours:
            problems.append(f"{index} exists and was not written by ccnb")
    if problems:
        raise OutputError(
            "; ".join(problems)
            + ". Nothing was changed. Choose another --output-dir, or move those files away."
        )


def _safe_folder(name: str) -> str:
    folder = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return folder or "client"


def _write_json(path: Path, record: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _replace_dir(new: Path, target: Path) -> None:
    """Swap ``new`` in at ``target``: rename the old one away, rename new in, delete old."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


#: temporary entries a run leaves next to what it writes, ending in the writing process' id
_TEMPORARY = re.compile(r"^\..+\.(tmp|old|failed)-(\d+)$")


def remove_stale_temporaries(output_dir: Path) -> list[Path]:
    """Delete what killed runs left behind: staging folders and half-written files.

    Entries named ``.<name>.tmp-<pid>``, ``.<name>.old-<pid>`` or ``.<name>.failed-<pid>`` in
    ``output_dir`` and its client folders, whose process is no longer running, and table
    every ``ccnb-<purpose>-<pid>-*`` temporary of a dead process in the system's temporary
    directory (`ccnb._process_folders.remove_orphans`: table caches, DuckDB spill folders and
    draws of killed kernels, Spark logs).

    Parameters
    ----------
    output_dir : pathlib.Path
        Root of the outputs.

    Returns
    -------
    list of pathlib.Path
        What was removed.
    """
    candidates = []
    if output_dir.is_dir():
        folders = [output_dir] + [p for p in output_dir.iterdir() if p.is_dir()]
        for folder in folders:
            for entry in folder.iterdir():
                match = _TEMPORARY.match(entry.name)
                if match:
                    candidates.append((entry, int(match.group(2))))
    removed = remove_orphans()
    for entry, pid in candidates:
        if pid_alive(pid):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
