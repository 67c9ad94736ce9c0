"""The ``ccnb`` console script: check params and data, run the notebooks per client."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ccnb.data import DataError, DataQuality, load_client
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
        table.add_column(column, justify=justify)
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


@app.command()
def check(
    params_files: Annotated[
        list[Path], typer.Argument(help="Client params files (YAML).", show_default=False)
    ],
) -> None:
    """Validate each params file and its data, and print the data-quality report."""
    failed = []
    for params_file in params_files:
        try:
            params = load_params(params_file)
            client = load_client(params)
        except (ParamsError, DataError, OSError) as error:
            failed.append(params_file)
            error_console.print(f"{params_file}: {error}", markup=False, style="red")
            continue
        console.print(_quality_table(f"{params.client} ({params_file})", client.quality))
        console.print(f"observation end: {client.observation_end}\n")
    if failed:
        error_console.print(
            f"[red]{len(failed)} of {len(params_files)} params file(s) failed:[/red] "
            + ", ".join(str(path) for path in failed)
        )
        raise typer.Exit(code=1)
