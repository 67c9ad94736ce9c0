"""What a batch run records: one notebook's run, one client's run, and the progress events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["ClientRun", "NotebookRun", "RunEvent"]


@dataclass
class NotebookRun:
    """Outcome of one notebook for one client.

    Attributes
    ----------
    name
        Notebook file stem, e.g. ``"03_clv_modelling"``.
    status
        ``"ok"`` or ``"failed"``.
    seconds
        Wall time of execution and rendering.
    title
        Report title (its first level-1 heading), when rendered.
    cell
        1-based number of the failing cell as in the source notebook (the parameters cell
        papermill injects is not counted), when failed in a cell.
    execution_count
        The failing cell's ``In [n]`` number, when it has one.
    error
        One line naming the error, e.g. ``"ValueError: no repeat buyers"``.
    details
        Traceback or longer message for ``error.txt``.
    removed_elements
        Scripts and event handlers found in the outputs and removed from the HTML (unescaped
        client text; see `ccnb.formatting.escape_md`).
    """

    name: str
    status: str
    seconds: float = 0.0
    title: str | None = None
    cell: int | None = None
    execution_count: int | None = None
    error: str | None = None
    details: str | None = None
    removed_elements: int = 0

    @property
    def failed(self) -> bool:
        """Whether the notebook failed."""
        return self.status != "ok"

    def where(self) -> str:
        """Where it failed, e.g. ``"cell 7 (In [5])"``; empty when not in a cell."""
        if self.cell is None:
            return ""
        count = f" (In [{self.execution_count}])" if self.execution_count is not None else ""
        return f"cell {self.cell}{count}"


@dataclass
class ClientRun:
    """Outcome of a run for one client (one params file).

    Attributes
    ----------
    params_file
        The params file as given.
    folder
        The client's folder under the output directory (``params.slug``, or the params file's
        stem when the params could not be loaded).
    client
        Client name (the folder name when the params could not be loaded).
    status
        ``"ok"``; ``"warning"`` when every notebook succeeded but the reports rest on
        something to review (see ``warnings``); ``"failed"``.
    seconds
        Wall time of the whole client.
    notebooks
        One entry per selected notebook that was started.
    error
        Client-level error (params or data could not be loaded, a crash), else None.
    warnings
        One sentence per reason for status ``"warning"``: params lines still marked CHECK,
        models that could not be fitted (the reports fell back), active content removed.
    """

    params_file: str
    folder: str
    client: str
    status: str = "ok"
    seconds: float = 0.0
    notebooks: list[NotebookRun] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether anything failed for this client."""
        return self.status == "failed"

    def removed_content(self) -> list[str]:
        """One line per report whose HTML had active content removed from its outputs."""
        return [
            f"{notebook.name}: removed {notebook.removed_elements} script or event-handler "
            "element(s) from the outputs; escape client text with ccnb.formatting.escape_md"
            for notebook in self.notebooks
            if notebook.removed_elements
        ]

    def failures(self) -> list[str]:
        """One line per failure: client, notebook, cell and error line."""
        lines = [f"{self.folder}: {self.error}"] if self.error else []
        for notebook in self.notebooks:
            if notebook.failed:
                where = f" {notebook.where()}" if notebook.where() else ""
                lines.append(f"{self.folder} / {notebook.name}{where}: {notebook.error}")
        return lines


@dataclass(frozen=True)
class RunEvent:
    """Progress of a run, for displays.

    Attributes
    ----------
    folder
        The client's folder name.
    notebook
        Notebook stem, or None for the client as a whole.
    status
        ``"running"``, ``"ok"`` or ``"failed"``.
    seconds
        Elapsed seconds when finished.
    message
        Error line when failed.
    """

    folder: str
    notebook: str | None
    status: str
    seconds: float | None = None
    message: str | None = None


EventCallback = Callable[[RunEvent], None]


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _emit(events: EventCallback | None, event: RunEvent) -> None:
    if events is not None:
        events(event)
