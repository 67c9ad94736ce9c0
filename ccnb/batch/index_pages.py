"""The index pages and the run summary.

One page per client (its reports and last run) and one for the site (every client with its
status, last run and headline KPIs).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from ccnb.batch import render
from ccnb.batch._layout import _EXPORTS, _FAILED, _RUN_FILE, _read_json, _write_text
from ccnb.batch.records import ClientRun
from ccnb.formatting import day_label

__all__ = ["HEADLINE_KPIS", "summary_lines", "write_client_index", "write_site_index"]


def write_client_index(client_dir: str | Path) -> Path:
    """Write ``<client>/index.html`` from its ``run.json`` and ``failed/run.json``.

    Parameters
    ----------
    client_dir
        The client's output folder.

    Returns
    -------
    pathlib.Path
        The index page.
    """
    client_dir = Path(client_dir)
    record = _read_json(client_dir / _RUN_FILE)
    failed = _read_json(client_dir / _FAILED / _RUN_FILE)
    page = render.client_index_html(record, failed=failed)
    path = client_dir / "index.html"
    _write_text(path, page)
    return path


HEADLINE_KPIS = ("customers_active", "revenue", "churn_rate", "nps")
"""KPIs of ``exports/kpis.csv`` shown on ``outputs/index.html`` when the export has them."""


def _latest_per_kpi(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """The last row with a value of each KPI (kpis.csv lists periods in time order)."""
    latest: dict[str, dict[str, str]] = {}
    for row in rows:
        if row.get("kpi") and str(row.get("value", "")).strip():
            latest[row["kpi"]] = row
    return latest


#: the headline KPIs as a reader reads them: a stock on a day, a flow over a period
_HEADLINE_LABELS = {
    "customers_active": "active customers on {end}",
    "revenue": "net revenue, {period}",
    "churn_rate": "churn rate, {period}",
    "nps": "NPS, {period}",
}


def _headline_label(name: str, row: dict[str, str]) -> str:
    """A headline KPI's label, e.g. ``"active customers on 30 Jun 1998"``.

    The count of active customers is at the window's end (bought within the churn window), not
    over the window like the flows beside it.
    """
    period = row.get("window") or row.get("year") or row.get("period") or ""
    end = row.get("end") or ""
    template = _HEADLINE_LABELS.get(name)
    if template is None or not period or ("{end}" in template and not end):
        return name.replace("_", " ") + (f" ({period})" if period else "")
    return template.format(period=period, end=end and day_label(end))


def _headline_kpis(
    exports: Path, *, currency: str | None = None, limit: int = 4
) -> list[tuple[str, str]]:
    """Headline KPIs from ``kpis.csv`` as (label, formatted value).

    Rows flagged in a ``headline`` column win; else `HEADLINE_KPIS` that are present; else
    the first KPIs of the file. Each KPI shows its latest period (``window``, ``year`` or
    ``period``).
    """
    path = exports / "kpis.csv"
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as handle:
        latest = _latest_per_kpi(list(csv.DictReader(handle)))
    flagged = [
        name
        for name, row in latest.items()
        if str(row.get("headline", "")).strip().lower() in ("true", "1", "yes")
    ]
    known = [name for name in HEADLINE_KPIS if name in latest]
    chosen = (flagged or known or list(latest))[:limit]
    headlines = []
    for name in chosen:
        row = latest[name]
        label = _headline_label(name, row)
        headlines.append((label, render.format_kpi(row, currency=currency)))
    return headlines


def write_site_index(output_dir: str | Path) -> Path:
    """Write ``outputs/index.html`` listing every client folder found under ``output_dir``.

    Parameters
    ----------
    output_dir
        Root of the outputs.

    Returns
    -------
    pathlib.Path
        The index page.
    """
    output_dir = Path(output_dir)
    entries = []
    for client_dir in sorted(output_dir.iterdir()):
        if not client_dir.is_dir() or client_dir.name.startswith("."):
            continue
        record = _read_json(client_dir / _RUN_FILE)
        failed = _read_json(client_dir / _FAILED / _RUN_FILE)
        if record is None and failed is None:
            continue
        entries.append(
            render.SiteEntry(
                folder=client_dir.name,
                record=record,
                failed=failed,
                kpis=_headline_kpis(
                    client_dir / _EXPORTS, currency=(record.get("params") or {}).get("currency")
                )
                if record
                else [],
            )
        )
    path = output_dir / "index.html"
    _write_text(path, render.site_index_html(entries))
    return path


def summary_lines(runs: Sequence[ClientRun]) -> list[str]:
    """Plain-text failure lines of a run, one per failure (empty when all succeeded).

    Parameters
    ----------
    runs
        The results of `run_clients`.

    Returns
    -------
    list of str
        ``client / notebook cell N (In [n]): Error: message`` lines.
    """
    return [line for run in runs for line in run.failures()]
