"""The output folder's layout (run.json, exports/, failed/) and writing files into it whole."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

_RUN_FILE = "run.json"


_FAILED = "failed"


_EXPORTS = "exports"


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
