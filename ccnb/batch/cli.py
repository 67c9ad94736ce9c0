"""The ``ccnb`` console script: check params and data, run the notebooks per client."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from ccnb.batch.execute import DEFAULT_TIMEOUT
from ccnb.batch.index_pages import summary_lines
from ccnb.batch.inputs import default_notebook_dir, discover_notebooks, packaged_notebooks
from ccnb.batch.interrupts import RunInterrupted
from ccnb.batch.parallel import run_clients
from ccnb.batch.records import ClientRun, RunEvent
from ccnb.batch.scaffold import Scaffold, scaffold_params, unreviewed_keys
from ccnb.data import DataError, DataQuality, load_client
from ccnb.errors import OutputError
from ccnb.params import ParamsError, load_params

app = typer.Typer(
    help="Customer-centric marketing notebooks: check client data, run the reports.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(highlight=False)
error_console = Console(stderr=True, highlight=False)


@app.callback()
def main() -> None:
    """Customer-centric marketing notebooks: check client data, run the reports."""


def _quality_table(client: str, quality: DataQuality) -> Table:
    table = Table(title=f"Data quality: {client}", title_justify="left")
    for column in (
        "source",
        "rows read",
        "rows used",
        "rejected (by reason)",
        "dates",
        "customers",
    ):
        justify = "right" if column.startswith(("rows", "customers")) else "left"
        table.add_column(column, justify=justify, overflow="fold")  # wrap, never truncate
    for source in quality.sources:
        reasons = "\n".join(
            f"{reason}: {count:,}" for reason, count in sorted(source.rejected.items())
        )
        dates = f"{source.first_date} to {source.last_date}" if source.first_date else "-"
        table.add_row(
            f"{source.source}\n[dim]{source.file}[/dim]",
            f"{source.rows_read:,}",
            f"{source.rows_used:,}",
            reasons or "none",
            dates,
            f"{source.customers:,}",
        )
    return table


def _check_one(params_file: Path) -> dict:
    """Load one client's params and data: the JSON-ready outcome (``error`` when it failed)."""
    outcome: dict = {"params_file": str(params_file)}
    try:
        params = load_params(params_file)
        client = load_client(params)
    except (ParamsError, DataError, OSError) as error:
        return {**outcome, "ok": False, "error": str(error)}
    except Exception as error:  # a case ccnb does not handle yet: say so, no traceback
        first = str(error).splitlines()[0] if str(error) else ""
        return {
            **outcome,
            "ok": False,
            "error": f"ccnb could not read this data ({type(error).__name__}: {first}). This "
            "is a gap in ccnb, not in your file: please report it with the first lines of "
            "the file.",
        }
    return {
        **outcome,
        "ok": True,
        "client": params.client,
        "observation_end": client.observation_end.isoformat(),
        "sources": client.quality.to_dict(),
        "warnings": list(client.quality.warnings),
        "unreviewed": unreviewed_keys(params_file.read_text(encoding="utf-8")),
        "_quality": client.quality,
    }


def _print_check(outcome: dict) -> None:
    if not outcome["ok"]:
        error_console.print(
            f"{outcome['params_file']}: {outcome['error']}",
            markup=False,
            style="red",
            soft_wrap=True,
        )
        return
    title = f"{outcome['client']} ({outcome['params_file']})"
    console.print(_quality_table(title, outcome["_quality"]))
    console.print(f"observation end: {outcome['observation_end']}")
    for warning in outcome["warnings"]:
        console.print(f"check: {warning}", markup=False, style="yellow", soft_wrap=True)
    if outcome["unreviewed"]:
        console.print(
            f"review: {', '.join(outcome['unreviewed'])} still marked CHECK; confirm each value "
            "and delete its marker (until then runs end with status 'warning')",
            markup=False,
            style="yellow",
            soft_wrap=True,
        )
    console.print()


@app.command()
def check(
    params_files: Annotated[
        list[Path], typer.Argument(help="Client params files (YAML).", show_default=False)
    ],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the data-quality report as JSON (one object per params file) instead "
            "of tables.",
        ),
    ] = False,
) -> None:
    """Validate each params file and its data, and print the data-quality report."""
    outcomes = [_check_one(params_file) for params_file in params_files]
    failed = [outcome["params_file"] for outcome in outcomes if not outcome["ok"]]
    if as_json:
        shown = [{k: v for k, v in outcome.items() if k != "_quality"} for outcome in outcomes]
        print(json.dumps(shown, indent=2, ensure_ascii=False))
    else:
        for outcome in outcomes:
            _print_check(outcome)
    if failed:
        if not as_json:
            error_console.print(
                f"[red]{len(failed)} of {len(params_files)} params file(s) failed:[/red] "
                + ", ".join(failed)
            )
        raise typer.Exit(code=1)


# --- ccnb run ------------------------------------------------------------------------------

_STATUS_STYLE = {
    "ok": "green",
    "warning": "yellow",
    "failed": "red",
    "running": "cyan",
    "waiting": "dim",
}


class _RunProgress:
    """Clients x notebooks with status and timings: live on a terminal, a line log otherwise."""

    def __init__(self, *, live: bool) -> None:
        self.live = live
        self.clients: list[tuple[str, str]] = []
        self.notebooks: list[str] = []
        self.cells: dict[tuple[str, str | None], tuple[str, float]] = {}
        self.display: Live | None = None

    def start(self, clients: list[tuple[str, str]], notebooks: list[str]) -> None:
        self.clients, self.notebooks = clients, notebooks
        if self.live:
            self.display = Live(get_renderable=self.table, console=console, refresh_per_second=4)
            self.display.start()
        else:
            console.print(
                f"running {len(notebooks)} notebook(s) for {len(clients)} client(s): "
                + ", ".join(folder for folder, _ in clients),
                markup=False,
            )

    def event(self, event: RunEvent) -> None:
        key = (event.folder, event.notebook)
        value = event.seconds if event.seconds is not None else time.monotonic()
        self.cells[key] = (event.status, value)
        if self.live:
            return
        where = f"{event.folder} / {event.notebook}" if event.notebook else event.folder
        timing = f" ({event.seconds:.1f} s)" if event.seconds is not None else ""
        message = f": {event.message}" if event.message and event.status == "failed" else ""
        console.print(f"{where}: {event.status}{timing}{message}", markup=False, soft_wrap=True)

    def _cell(self, folder: str, notebook: str | None) -> str:
        status, value = self.cells.get((folder, notebook), ("waiting", 0.0))
        style = _STATUS_STYLE.get(status, "")
        if status == "running":
            return f"[{style}]running {time.monotonic() - value:.0f} s[/{style}]"
        if status == "waiting":
            return f"[{style}]waiting[/{style}]"
        return f"[{style}]{status} {value:.1f} s[/{style}]"

    def table(self) -> Table:
        table = Table(title="ccnb run", title_justify="left")
        table.add_column("client")
        for notebook in self.notebooks:
            table.add_column(notebook)
        table.add_column("client status")
        for folder, _ in self.clients:
            cells = [self._cell(folder, notebook) for notebook in self.notebooks]
            table.add_row(folder, *cells, self._cell(folder, None))
        return table

    def stop(self) -> None:
        if self.display is not None:
            self.display.stop()


def _split_selection(notebooks: str | None) -> list[str] | None:
    if not notebooks:
        return None
    return [part.strip() for part in notebooks.split(",") if part.strip()]


def _print_summary(runs: list[ClientRun], output_dir: Path) -> None:
    table = Table(title="Summary", title_justify="left")
    for column in ("client", "status", "notebooks", "time", "outputs"):
        table.add_column(column, justify="right" if column == "time" else "left")
    for run in runs:
        succeeded = sum(not notebook.failed for notebook in run.notebooks)
        style = _STATUS_STYLE.get(run.status, "")
        where = output_dir / run.folder / ("failed" if run.failed else "")
        table.add_row(
            f"{run.client} ({run.params_file})",
            f"[{style}]{run.status}[/{style}]",
            f"{succeeded}/{len(run.notebooks)} ok",
            f"{run.seconds:.1f} s",
            str(where),
        )
    console.print(table)
    for client_run in runs:
        for line in client_run.warnings:
            error_console.print(
                f"warning: {client_run.folder}: {line}",
                markup=False,
                style="yellow",
                soft_wrap=True,
            )
    failures = summary_lines(runs)
    if failures:
        error_console.print(f"[red]{len(failures)} failure(s):[/red]")
        for line in failures:
            error_console.print(f"  {line}", markup=False, style="red", soft_wrap=True)


@app.command()
def run(
    params_files: Annotated[
        list[Path], typer.Argument(help="Client params files (YAML).", show_default=False)
    ],
    notebooks: Annotated[
        str | None,
        typer.Option(help="Comma-separated notebook prefixes to run, e.g. 01,03 (default all)."),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(min=1, help="Clients run in parallel (default: min(cores, clients))."),
    ] = None,
    output_dir: Annotated[Path, typer.Option(help="Where outputs/<client>/ go.")] = Path("outputs"),
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds a notebook cell may run before it is stopped.")
    ] = DEFAULT_TIMEOUT,
    notebook_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder with the NN_*.ipynb notebooks (default: ./notebooks when it has "
            "them, else the notebooks installed with ccnb).",
            show_default=False,
        ),
    ] = None,
    precompute: Annotated[
        bool,
        typer.Option(
            help="Compute each client's tables once for all its notebooks (off for notebooks "
            "that do not use ccnb.ClientAnalysis)."
        ),
    ] = True,
    each: Annotated[
        str | None,
        typer.Option(
            help="A column of the transactions or customers file: one report set per value "
            "(e.g. --each country), each in outputs/<slug>-<value>/ with its own index entry.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the notebooks for each client: executed notebooks, HTML reports, exports, run.json."""
    progress = _RunProgress(live=console.is_terminal)
    try:
        runs = run_clients(
            params_files,
            notebook_dir=notebook_dir or default_notebook_dir(),
            notebooks=_split_selection(notebooks),
            output_dir=output_dir,
            jobs=jobs,
            timeout=timeout,
            precompute=precompute,
            each=each,
            on_event=progress.event,
            on_start=progress.start,
        )
    except (FileNotFoundError, ValueError, OutputError) as error:
        error_console.print(str(error), markup=False, style="red", soft_wrap=True)
        raise typer.Exit(code=2) from None
    except RunInterrupted as interrupted:
        progress.stop()
        error_console.print(str(interrupted), markup=False, style="red", soft_wrap=True)
        raise typer.Exit(code=interrupted.exit_code) from None
    finally:
        progress.stop()
    _print_summary(runs, output_dir)
    console.print(f"Reports: {(output_dir / 'index.html').resolve()}", markup=False, soft_wrap=True)
    if any(client_run.failed for client_run in runs):
        raise typer.Exit(code=1)


# --- ccnb init ------------------------------------------------------------------------------


_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

_DEMO_PARAMS = """\
# The demo retailer shipped with ccnb: `ccnb run params/demo.yaml`.
client: Demo Retail
slug: demo
currency: EUR
transactions:
  path: builtin:demo
  columns: {customer_id: customer_id, date: date, amount: amount, order_id: order_id,
            channel: channel, category: category}
customers:
  path: builtin:demo
survey:
  path: builtin:demo
observation_end: "2025-12-31"
calibration_end: "2024-12-31"
gross_margin: 0.35
warm_up_days: 0
budget:
  total: 4000
"""


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="The engagement folder to create.")],
) -> None:
    """Create an engagement folder: params/, notebooks/ (ccnb's), outputs/ and a README."""
    folder = folder.expanduser()
    if folder.exists() and any(folder.iterdir()):
        error_console.print(
            f"{folder} exists and is not empty; nothing was changed. Choose a new folder.",
            markup=False,
            style="red",
            soft_wrap=True,
        )
        raise typer.Exit(code=2)
    (folder / "params").mkdir(parents=True, exist_ok=True)
    (folder / "outputs").mkdir()
    notebooks = folder / "notebooks"
    notebooks.mkdir()
    for notebook in discover_notebooks(packaged_notebooks()):
        shutil.copyfile(notebook, notebooks / notebook.name)  # the file, not a link
    # beside params/, not in it: `ccnb run params/*.yaml` must not pick up the template
    shutil.copyfile(_TEMPLATES / "params_template.yaml", folder / "params-template.yaml")
    (folder / "params" / "demo.yaml").write_text(_DEMO_PARAMS, encoding="utf-8")
    shutil.copyfile(_TEMPLATES / "engagement_README.md", folder / "README.md")
    console.print(
        f"created {folder}: params/ (demo.yaml), params-template.yaml, notebooks/, outputs/, "
        "README.md. "
        f"Next: cd {folder} && ccnb new <client> --transactions <export>",
        markup=False,
        soft_wrap=True,
    )


# --- ccnb new ------------------------------------------------------------------------------


def _guess_table(scaffold: Scaffold) -> Table:
    table = Table(title=f"Guessed from the first rows of the file ({scaffold.path})")
    table.add_column("field")
    table.add_column("column")
    table.add_column("first value")
    for field_name, column in scaffold.guess.columns.items():
        example = scaffold.guess.examples.get(field_name, "")
        table.add_row(field_name, column or "[dim]-[/dim]", example)
    guess = scaffold.guess
    table.add_row("date format", guess.date_format or "ISO", "")
    table.add_row("decimal / thousands", f"{guess.decimal!r} / {guess.thousands!r}", "")
    if guess.delimiter:
        table.add_row("delimiter", repr(guess.delimiter), "")
    table.add_row("currency", guess.currency, "")
    return table


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="Client slug: letters, digits, '-' and '_'.")],
    transactions: Annotated[
        Path, typer.Option(help="The client's transaction export (csv, xlsx, parquet).")
    ],
    params_dir: Annotated[Path, typer.Option(help="Folder for the params file.")] = Path("params"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing params file.")] = False,
    sheet: Annotated[
        str | None,
        typer.Option(
            help="Sheet of an xlsx export (default: the one that looks like transactions)."
        ),
    ] = None,
) -> None:
    """Scaffold params/NAME.yaml from a transaction export, then check it like `ccnb check`."""
    try:
        scaffold = scaffold_params(
            name, transactions, params_dir=params_dir, force=force, sheet=sheet
        )
    except (ValueError, FileExistsError, FileNotFoundError) as error:
        error_console.print(str(error), markup=False, style="red", soft_wrap=True)
        raise typer.Exit(code=2) from None
    console.print(_guess_table(scaffold))
    for note in scaffold.guess.notes:
        console.print(f"check: {note}", markup=False, style="yellow", soft_wrap=True)
    console.print(
        f"wrote {scaffold.path}: review the lines marked CHECK (client name, currency, "
        "gross margin, date format, separators)\n",
        markup=False,
    )
    check([scaffold.path])
