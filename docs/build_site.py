"""Build ccnb's documentation site offline: `make docs` (strict: a broken reference fails).

The pages are generated into build/docs-src from what the repository already holds, so the
site never drifts from it:

- Getting started: README.md (the two commands, `ccnb init`/`new`/`run`, batch runs);
- Parameters: every key of the params schema (`ccnb.params.Params`) with its type, default
  and description, generated from the pydantic models;
- Methodology: docs/methodology.md;
- API: every public module, from the docstrings (mkdocstrings);
- Gallery: the demo reports, rendered offline from the stored executed notebooks.

Then `mkdocs build --strict` writes build/site (open build/site/index.html).

Run: .venv/bin/python docs/build_site.py [--no-build]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import typing
from pathlib import Path

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "build" / "docs-src"

#: the modules of the API reference, in reading order
API_MODULES = [
    ("The analysis of one client", ["ccnb.analysis", "ccnb.params", "ccnb.data", "ccnb.quality"]),
    (
        "Reading client files",
        ["ccnb.client_files", "ccnb.plausibility", "ccnb.privacy", "ccnb.engine"],
    ),
    (
        "Metrics",
        [
            "ccnb.orders",
            "ccnb.summary",
            "ccnb.windows",
            "ccnb.kpi",
            "ccnb.churn",
            "ccnb.rfm",
            "ccnb.partitioned_segments",
            "ccnb.order_statistics",
            "ccnb.cohorts",
            "ccnb.nps",
            "ccnb.value_ranking",
        ],
    ),
    ("Customer lifetime value", ["ccnb.clv", "ccnb.clv.partitioned"]),
    ("Customer-base audit", ["ccnb.audit"]),
    ("Budget allocation", ["ccnb.budget", "ccnb.partitioned_budget"]),
    ("Workshop mode", ["ccnb.workshop"]),
    ("Figures and reports", ["ccnb.plots", "ccnb.report", "ccnb.formatting"]),
    (
        "Batch runs",
        [
            "ccnb.batch.parallel",
            "ccnb.batch.client_run",
            "ccnb.batch.scaffold",
            "ccnb.batch.exports",
            "ccnb.table_files",
            "ccnb.batch.workbook",
            "ccnb.batch.charts",
            "ccnb.batch.interrupts",
        ],
    ),
    ("Datasets and errors", ["ccnb.datasets", "ccnb.errors"]),
]


def _type_name(annotation) -> str:
    text = str(annotation) if not isinstance(annotation, type) else annotation.__name__
    text = text.replace("typing.", "").replace("NoneType", "None").replace("ccnb.params.", "")
    return text.replace("|", "\\|")


def _model(annotation) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        return "see below" if isinstance(value, BaseModel) else f"`{value!r}`"
    if field.is_required():
        return "required"
    return f"`{field.default!r}`"


def _params_rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = f"{prefix}{name}"
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(
            f"| `{key}` | {description} *({_type_name(field.annotation)}; default "
            f"{_default(field)})* |"
        )
        nested = _model(field.annotation)
        if nested is not None:
            rows.extend(_params_rows(nested, prefix=f"{key}."))
    return rows


def params_page() -> str:
    """The params reference: every key of the schema, nested keys dotted."""
    from ccnb.params import Params

    lines = [
        "# Parameters",
        "",
        "Every key of a client's params file (YAML), generated from the schema",
        "(`ccnb.params.Params`). Nested keys are dotted: `transactions.columns.customer_id` is",
        "`customer_id:` under `columns:` under `transactions:`. Quote ids and dates (`'0123'`,",
        "`'2024-01-01'`): YAML 1.1 would read them as other types. An unknown key fails with the",
        "closest valid key.",
        "",
        "| key | what it is *(type; default)* |",
        "| --- | --- |",
        *_params_rows(Params),
        "",
    ]
    return "\n".join(lines)


def api_page() -> str:
    """The API reference: one mkdocstrings block per public module."""
    lines = ["# API reference", "", "Generated from the docstrings (NumPy style).", ""]
    for title, modules in API_MODULES:
        lines += [f"## {title}", ""]
        for module in modules:
            lines += [f"::: {module}", "    options:", "      heading_level: 3", ""]
    return "\n".join(lines)


def gallery(folder: Path) -> str:
    """Render the stored demo notebooks offline into ``folder``; the page linking them."""
    from ccnb.batch.render import write_report

    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Gallery",
        "",
        "The six reports of the demo retailer (`params/demo.yaml`), as a reader of a batch",
        "run sees them: rendered offline from the executed notebooks stored in `notebooks/`.",
        "",
    ]
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        html = folder / f"{notebook.stem}.html"
        rendered = write_report(
            notebook, html, client="Demo Retail", run_date=dt.date.today(), index_link=None
        )
        lines.append(f"- [{rendered.title}](gallery/{html.name}){{:target=_blank}}")
    return "\n".join(lines) + "\n"


def getting_started() -> str:
    """README.md with its links pointing inside the site."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.replace("](docs/methodology.md", "](methodology.md")


def generate() -> None:
    """Write every page into build/docs-src."""
    shutil.rmtree(SOURCE, ignore_errors=True)
    SOURCE.mkdir(parents=True)
    (SOURCE / "index.md").write_text(getting_started(), encoding="utf-8")
    (SOURCE / "params.md").write_text(params_page(), encoding="utf-8")
    shutil.copy(ROOT / "docs" / "methodology.md", SOURCE / "methodology.md")
    (SOURCE / "api.md").write_text(api_page(), encoding="utf-8")
    (SOURCE / "gallery.md").write_text(gallery(SOURCE / "gallery"), encoding="utf-8")


def main() -> int:
    """Generate the pages and build the site strictly; the exit code is mkdocs'."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="generate the pages only")
    options = parser.parse_args()
    generate()
    if options.no_build:
        return 0
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml")]
    return subprocess.run(command, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
