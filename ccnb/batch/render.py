"""Reader-ready HTML of an executed notebook: no code, images embedded, a table of contents.

Writes ``outputs/<client>/<notebook>.html`` (readers never see code) with nbconvert's lab template,
minus everything it would fetch from a CDN (require.js, MathJax, mermaid, widgets): a report opens
offline from disk. `escape_md` is the helper notebooks use to put client text (segment, channel or
customer names) into Markdown.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccnb.batch._layout import GENERATOR_META

if TYPE_CHECKING:
    import nbformat
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

# nbconvert, nbformat and bs4 are imported where they are used: importing nbformat alone takes
# seconds (jsonschema format checkers).

__all__ = [
    "REPORT_CSS",
    "Heading",
    "RenderedReport",
    "SiteEntry",
    "client_index_html",
    "format_kpi",
    "render_report",
    "site_index_html",
    "write_report",
]

REPORT_CSS = """
:root { --ccnb-accent: #1f4e79; --ccnb-muted: #5f6b7a; --ccnb-line: #d9dee5; }
body.jp-Notebook { margin: 0; padding: 0; background: #fff; }
.ccnb-header { background: var(--ccnb-accent); color: #fff; padding: 18px 32px 14px; }
.ccnb-header, nav.ccnb-toc { font-family: var(--jp-ui-font-family); }
.ccnb-header .ccnb-client { font-size: 14px; letter-spacing: .04em; opacity: .85; margin: 0; }
.ccnb-header .ccnb-title { font-size: 26px; font-weight: 600; margin: 4px 0; }
.ccnb-header .ccnb-meta { font-size: 13px; opacity: .85; margin: 0; }
.ccnb-header a { color: #fff; }
.ccnb-layout { display: flex; align-items: flex-start; max-width: 1400px; margin: 0 auto; }
nav.ccnb-toc { flex: 0 0 250px; position: sticky; top: 0; max-height: 100vh; overflow-y: auto;
  padding: 20px 12px 20px 24px; font-size: 13px; box-sizing: border-box; }
nav.ccnb-toc .ccnb-toc-title { font-weight: 600; color: var(--ccnb-muted); margin: 0 0 8px;
  text-transform: uppercase; font-size: 12px; letter-spacing: .05em; }
nav.ccnb-toc ul { list-style: none; margin: 0; padding: 0; }
nav.ccnb-toc li { margin: 3px 0; line-height: 1.35; }
nav.ccnb-toc li.ccnb-toc-h2 { padding-left: 12px; }
nav.ccnb-toc li.ccnb-toc-h3 { padding-left: 24px; font-size: 12px; }
nav.ccnb-toc a { color: var(--ccnb-accent); text-decoration: none; }
nav.ccnb-toc a:hover { text-decoration: underline; }
main { flex: 1 1 auto; min-width: 0; padding: 8px 32px 48px; max-width: 1100px; }
.jp-Cell { padding: 2px 0; }
.jp-OutputArea-output img { max-width: 100%; height: auto; }
.jp-RenderedHTMLCommon table { border-collapse: collapse; margin: 10px 0 18px; font-size: 13px;
  font-variant-numeric: tabular-nums; }
.jp-RenderedHTMLCommon th, .jp-RenderedHTMLCommon td { padding: 5px 10px;
  border-bottom: 1px solid var(--ccnb-line); }
.jp-RenderedHTMLCommon thead th { border-bottom: 2px solid var(--ccnb-accent);
  background: #f3f6f9; }
.jp-RenderedHTMLCommon tbody tr:nth-child(odd) { background: #fafbfc; }
.jp-RenderedHTMLCommon tbody tr:hover { background: #eef3f8; }
.jp-RenderedHTMLCommon h1, .jp-RenderedHTMLCommon h2 { color: var(--ccnb-accent); }
.jp-RenderedHTMLCommon h2 { border-bottom: 1px solid var(--ccnb-line); padding-bottom: 4px;
  margin-top: 28px; }
@media (max-width: 900px) {
  .ccnb-layout { display: block; }
  nav.ccnb-toc { position: static; max-height: none; }
}
@media print { nav.ccnb-toc { display: none; } }
"""

# The lab template with its CDN scripts (require.js, MathJax, mermaid, widgets) and any
# JavaScript output left out, a header naming the client and run, and a slot for the table of
# contents that `render_report` fills from the rendered headings.
_TEMPLATE_NAME = "ccnb_report.html.j2"
_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style type="text/css">{{ resources.ccnb.css }}</style>
{%- endblock extra_css -%}
{%- block body_header -%}
<body class="jp-Notebook" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
<header class="ccnb-header">
<p class="ccnb-client">{{ resources.ccnb.client | e }}</p>
<p class="ccnb-title">{{ resources.ccnb.title | e }}</p>
<p class="ccnb-meta">Run {{ resources.ccnb.run_date | e }}
{%- if resources.ccnb.index_link %} &middot; <a href="{{ resources.ccnb.index_link | e }}">\
all reports for {{ resources.ccnb.client | e }}</a>{%- endif -%}
</p>
</header>
<div class="ccnb-layout">
<nav class="ccnb-toc" id="ccnb-toc" aria-label="Contents"></nav>
<main>
{%- endblock body_header -%}
{%- block body_footer -%}
</main>
</div>
</body>
{%- endblock body_footer -%}
{%- block data_javascript scoped -%}{%- endblock data_javascript -%}
{%- block data_widget_view scoped -%}{%- endblock data_widget_view -%}
{%- block data_mermaid scoped -%}
<pre>{{ output.data['text/vnd.mermaid'] | e }}</pre>
{%- endblock data_mermaid -%}
"""

# Elements and attributes that would run code or load something when a reader opens a report.
_ACTIVE_TAGS = ("script", "iframe", "object", "embed", "base", "link", "meta")
_HEADING_TAGS = ("h1", "h2", "h3")

# nbconvert logs a warning per image without alt text; charts get one from their alt metadata
# when notebooks set it, and the message is noise in a batch log otherwise.
_NBCONVERT_LOG = logging.getLogger("ccnb.render.nbconvert")
_NBCONVERT_LOG.setLevel(logging.ERROR)


@dataclass(frozen=True)
class Heading:
    """A heading of a rendered report, as listed in its table of contents."""

    level: int
    text: str
    anchor: str


@dataclass(frozen=True)
class RenderedReport:
    """A report rendered for readers.

    Attributes
    ----------
    html
        The complete HTML document.
    title
        The report title (the first level-1 heading, else the notebook's file name).
    headings
        The h1-h3 headings in the table of contents.
    removed_elements
        Scripts, frames and event-handler attributes found in cell outputs and removed; non-zero
        means a notebook displayed unescaped markup (see `escape_md`).
    """

    html: str
    title: str
    headings: tuple[Heading, ...]
    removed_elements: int


def _exporter() -> HTMLExporter:
    import jinja2
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        template_file=_TEMPLATE_NAME,
        theme="light",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_anchor_links=True,
        embed_images=True,
        log=_NBCONVERT_LOG,
    )
    # Emptied although the template no longer uses them, so nothing can point at a CDN.
    for url in (
        "require_js_url",
        "mathjax_url",
        "mermaid_js_url",
        "mermaid_layout_elk_js_url",
        "jquery_url",
        "jupyter_widgets_base_url",
        "widget_renderer_url",
    ):
        setattr(exporter, url, "")
    return exporter


def _for_readers(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy without stderr streams (warnings, logs) and cells tagged for removal."""
    from nbconvert.preprocessors import TagRemovePreprocessor

    reader = copy.deepcopy(notebook)
    for cell in reader.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                output
                for output in cell.outputs
                if not (output.output_type == "stream" and output.get("name") == "stderr")
            ]
    remover = TagRemovePreprocessor(
        remove_cell_tags={"remove-cell", "remove_cell"},
        remove_all_outputs_tags={"remove-output", "remove_output"},
    )
    reader, _ = remover.preprocess(reader, {})
    return reader


def _remove_active_content(soup: BeautifulSoup) -> int:
    """Drop scripts, frames and ``on*``/``javascript:`` attributes from the document body."""
    removed = 0
    body = soup.body or soup
    for element in body.find_all(_ACTIVE_TAGS):
        element.decompose()
        removed += 1
    for element in body.find_all(True):
        for attribute, value in list(element.attrs.items()):
            text = " ".join(value) if isinstance(value, list) else str(value)
            scripted = re.sub(r"\s", "", text).lower().startswith(("javascript:", "vbscript:"))
            if attribute.lower().startswith("on") or scripted:
                del element[attribute]
                removed += 1
    return removed


def _anchor(text: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    anchor, number = base, 2
    while anchor in used:
        anchor, number = f"{base}-{number}", number + 1
    used.add(anchor)
    return anchor


def _table_of_contents(soup: BeautifulSoup) -> tuple[Heading, ...]:
    """Give every h1-h3 of the report an id and list them in the ``ccnb-toc`` nav."""
    main, nav = soup.find("main"), soup.find("nav", id="ccnb-toc")
    used = {str(tag["id"]) for tag in soup.find_all(id=True)}
    headings = []
    for tag in main.find_all(_HEADING_TAGS):
        text = " ".join(tag.get_text(" ").split())
        if not text:
            continue
        anchor = _anchor(text, used)
        tag["id"] = anchor
        headings.append(Heading(level=int(tag.name[1]), text=text, anchor=anchor))
    if not headings:
        nav.decompose()
        return ()
    title = soup.new_tag("p", attrs={"class": "ccnb-toc-title"})
    title.string = "Contents"
    items = soup.new_tag("ul")
    for heading in headings:
        item = soup.new_tag("li", attrs={"class": f"ccnb-toc-h{heading.level}"})
        link = soup.new_tag("a", href=f"#{heading.anchor}")
        link.string = heading.text  # bs4 escapes text on output
        item.append(link)
        items.append(item)
    nav.append(title)
    nav.append(items)
    return tuple(headings)


def _title(notebook: nbformat.NotebookNode, fallback: str) -> str:
    """The first level-1 Markdown heading of the notebook (cells or outputs), else fallback."""
    for cell in notebook.cells:
        sources = [cell.source] if cell.cell_type == "markdown" else []
        if cell.cell_type == "code":
            sources = [
                output.get("data", {}).get("text/markdown", "")
                for output in cell.outputs
                if output.output_type in ("display_data", "execute_result")
            ]
        for source in sources:
            source = "".join(source) if isinstance(source, list) else source
            match = re.search(r"^#\s+(.+?)\s*#*\s*$", source, flags=re.MULTILINE)
            if match:
                return html.unescape(match.group(1))
    return fallback


def _format_run_date(run_date: dt.datetime | dt.date | str) -> str:
    if isinstance(run_date, dt.datetime):
        return run_date.strftime("%Y-%m-%d %H:%M")
    if isinstance(run_date, dt.date):
        return run_date.isoformat()
    return str(run_date)


def render_report(
    notebook: nbformat.NotebookNode,
    *,
    client: str,
    run_date: dt.datetime | dt.date | str,
    name: str = "report",
    index_link: str | None = "index.html",
) -> RenderedReport:
    """Render an executed notebook as a stand-alone HTML report for readers.

    Code cells' input, prompts and stderr output (warnings, logs) are left out; images stay
    embedded as data URIs; nothing is loaded from the network (no require.js, MathJax, mermaid
    or widget scripts); a header names the client, the report and the run date; a table of
    contents lists the h1-h3 headings of Markdown cells and Markdown/HTML outputs. Cells tagged
    ``remove-cell`` are left out, outputs of cells tagged ``remove-output`` too.

    Parameters
    ----------
    notebook
        The executed notebook (``nbformat`` v4 node); not modified.
    client
        Client name shown in the header.
    run_date
        When the notebook was run, shown in the header.
    name
        Fallback title when the notebook has no level-1 heading (e.g. its file stem).
    index_link
        Relative link to the client's index page, or None for no link.

    Returns
    -------
    RenderedReport
        The HTML and its title, headings and count of removed active elements.
    """
    from bs4 import BeautifulSoup

    reader = _for_readers(notebook)
    title = _title(reader, fallback=name.replace("_", " "))
    resources = {
        "metadata": {"name": f"{title} | {client}"},
        "ccnb": {
            "client": client,
            "title": title,
            "run_date": _format_run_date(run_date),
            "index_link": index_link,
            "css": REPORT_CSS,
        },
    }
    body, _ = _exporter().from_notebook_node(reader, resources=resources)
    soup = BeautifulSoup(body, features="html.parser")
    removed = _remove_active_content(soup)
    headings = _table_of_contents(soup)
    return RenderedReport(html=str(soup), title=title, headings=headings, removed_elements=removed)


def write_report(
    notebook_path: str | Path,
    html_path: str | Path,
    *,
    client: str,
    run_date: dt.datetime | dt.date | str,
    index_link: str | None = "index.html",
) -> RenderedReport:
    """Render an executed ``.ipynb`` file to an HTML file for readers (see `render_report`).

    Parameters
    ----------
    notebook_path
        The executed notebook.
    html_path
        Where to write the report (UTF-8).
    client
        Client name shown in the header.
    run_date
        When the notebook was run, shown in the header.
    index_link
        Relative link to the client's index page, or None for no link.

    Returns
    -------
    RenderedReport
        What was written.
    """
    import nbformat

    notebook = nbformat.read(notebook_path, as_version=4)
    report = render_report(
        notebook,
        client=client,
        run_date=run_date,
        name=Path(notebook_path).stem,
        index_link=index_link,
    )
    Path(html_path).write_text(report.html, encoding="utf-8")
    return report


# --- index pages ---------------------------------------------------------------------------

INDEX_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: #1d2733; margin: 0; background: #f6f8fa; }
header { background: #1f4e79; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 24px; font-weight: 600; }
header p { margin: 4px 0 0; opacity: .85; font-size: 13px; }
header a { color: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 32px 48px; }
h2 { font-size: 18px; color: #1f4e79; margin: 28px 0 8px; }
table { border-collapse: collapse; background: #fff; font-size: 14px; width: 100%;
  font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid #d9dee5;
  vertical-align: top; }
thead th { border-bottom: 2px solid #1f4e79; background: #eef2f6; }
td.number, th.number { text-align: right; }
a { color: #1f4e79; }
.status { display: inline-block; padding: 2px 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; }
.status-ok { background: #dff3e4; color: #1b6b34; }
.status-warning { background: #fdf0d5; color: #7a4b00; }
.status-failed { background: #fbe3e3; color: #9b1c1c; }
.banner { background: #fbe3e3; border-left: 4px solid #9b1c1c; padding: 10px 14px;
  margin: 16px 0; }
.banner ul { margin: 6px 0 0; padding-left: 20px; }
.banner-warning { background: #fdf0d5; border-left-color: #b7791f; }
.reasons { margin: 4px 0 0; padding-left: 16px; color: #5f6b7a; font-size: 13px; }
.kpis { display: flex; flex-wrap: wrap; gap: 6px 14px; }
.kpi .label { color: #5f6b7a; font-size: 12px; }
.kpi .value { font-weight: 600; }
code { font-size: 12px; }
.muted { color: #5f6b7a; font-size: 13px; }
"""


@dataclass(frozen=True)
class SiteEntry:
    """One client folder as listed on ``outputs/index.html``.

    Attributes
    ----------
    folder
        The client's folder name (its slug).
    record
        Its ``run.json`` (last successful run), or None.
    failed
        Its ``failed/run.json`` (last run, when it failed), or None.
    kpis
        Headline KPIs as (label, formatted value) pairs.
    """

    folder: str
    record: dict[str, Any] | None
    failed: dict[str, Any] | None
    kpis: list[tuple[str, str]] = field(default_factory=list)


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _page(title: str, header: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'{GENERATOR_META}\n<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{INDEX_CSS}</style>\n</head>\n<body>\n"
        f"<header>{header}</header>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _when(timestamp: str | None) -> str:
    if not timestamp:
        return "never"
    try:
        return dt.datetime.fromisoformat(timestamp).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(timestamp)


def _status(status: str) -> str:
    kind = status if status in ("ok", "warning") else "failed"
    return f'<span class="status status-{kind}">{_e(status)}</span>'


def _table(headers: list[str], rows: list[list[str]], *, numeric: set[int] = frozenset()) -> str:
    head = "".join(
        f'<th class="number">{_e(header)}</th>' if index in numeric else f"<th>{_e(header)}</th>"
        for index, header in enumerate(headers)
    )
    lines = []
    for row in rows:
        cells = "".join(
            f'<td class="number">{cell}</td>' if index in numeric else f"<td>{cell}</td>"
            for index, cell in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _error_lines(record: dict[str, Any]) -> list[str]:
    lines = []
    for error in record.get("errors", []):
        where = error.get("notebook") or "client"
        if error.get("cell") is not None:
            where += f", cell {error['cell']}"
        lines.append(f"{where}: {error.get('error')}")
    return lines


_KPI_FORMATS = {
    "count": "{:,.0f}",
    "number": "{:,.2f}",
    "ratio": "{:,.2f}",
    "score": "{:,.1f}",
}


def format_kpi(row: dict[str, str], *, currency: str | None = None) -> str:
    """Format a row of ``kpis.csv`` for an index page.

    Uses the ``display`` column when the export has one. Otherwise formats ``value`` by its
    ``unit``: ``count`` (thousands separators), ``money`` (no decimals, with the currency),
    ``share`` (a fraction, as a percentage), ``score`` (1 decimal), ``ratio``/``number``
    (2 decimals); any other unit is written after the number.

    Parameters
    ----------
    row
        A row of ``kpis.csv`` as read by ``csv.DictReader``.
    currency
        The client's currency code, written after money amounts.

    Returns
    -------
    str
        The text to show.
    """
    if row.get("display"):
        return str(row["display"])
    value, unit = str(row.get("value", "")), str(row.get("unit") or "").strip()
    try:
        number = float(value)
    except ValueError:
        return f"{value} {unit}".strip()
    if unit in ("share", "percent"):
        return f"{number * 100 if unit == 'share' else number:.1f}%"
    if unit == "money":
        return f"{number:,.0f} {currency or ''}".strip()
    if unit in _KPI_FORMATS:
        return _KPI_FORMATS[unit].format(number)
    text = f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"
    return f"{text} {unit}".strip()


def _failure_banner(failed: dict[str, Any], *, has_previous: bool) -> str:
    items = "".join(f"<li>{_e(line)}</li>" for line in _error_lines(failed))
    previous = (
        "The reports below are from the last successful run."
        if has_previous
        else "There is no successful run yet."
    )
    return (
        '<div class="banner"><strong>The last run failed</strong> '
        f"({_e(_when(failed.get('started')))}). {previous} Details: "
        '<a href="failed/error.txt">error.txt</a>, '
        f'<a href="failed/run.json">run.json</a>.<ul>{items}</ul></div>'
    )


def _warnings(record: dict[str, Any]) -> list[str]:
    return [str(item.get("warning", "")) for item in record.get("warnings") or []]


def _warning_banner(record: dict[str, Any]) -> str:
    items = "".join(f"<li>{_e(line)}</li>" for line in _warnings(record))
    return (
        '<div class="banner banner-warning"><strong>Review before presenting.</strong> Every '
        "report was produced, but they rest on something to check (technical details in "
        f'<a href="run.json">run.json</a>):<ul>{items}</ul></div>'
    )


def _reports_table(record: dict[str, Any]) -> str:
    rows = []
    for notebook in record.get("notebooks", []):
        title = notebook.get("title") or notebook["name"]
        earlier = (
            f' <span class="muted">(from the run of {_e(_when(notebook["from_run"]))})</span>'
            if notebook.get("from_run")
            else ""
        )
        rows.append(
            [
                f'<a href="{_e(notebook["html"])}">{_e(title)}</a>{earlier}',
                f'<a href="{_e(notebook["ipynb"])}">{_e(notebook["ipynb"])}</a>',
                f"{notebook.get('seconds', 0):.1f} s",
            ]
        )
    return _table(["report", "notebook", "run time"], rows, numeric={2})


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:,.1f} KB"
    return f"{size / 1024 / 1024:,.1f} MB"


def _exports_table(record: dict[str, Any]) -> str:
    rows = [
        [
            f'<a href="{_e(item["file"])}">{_e(Path(item["file"]).name)}</a>',
            f"{item['rows']:,}" if item.get("rows") is not None else "every export, one sheet each",
            _size(item.get("bytes") or 0),
        ]
        for item in record.get("exports", [])
    ]
    return _table(["file", "rows", "size"], rows, numeric={1, 2})


def _charts_line(record: dict[str, Any]) -> list[str]:
    charts = record.get("charts") or 0
    if not charts:
        return []
    return [
        f'<p><a href="charts/index.html">Charts for slides</a>: {charts:,} figures of the '
        "reports at 1920 x 1080, as PNG and SVG.</p>"
    ]


def _quality_table(record: dict[str, Any]) -> str:
    rows = []
    for source, quality in (record.get("data_quality") or {}).items():
        rejected = ", ".join(
            f"{reason}: {count:,}" for reason, count in quality["rejected"].items()
        )
        dates = (
            f"{quality['first_date']} to {quality['last_date']}"
            if quality.get("first_date")
            else "-"
        )
        rows.append(
            [
                _e(source),
                f"{quality['rows_read']:,}",
                f"{quality['rows_used']:,}",
                _e(rejected or "none"),
                _e(dates),
                f"{quality['customers']:,}",
            ]
        )
    headers = ["source", "rows read", "rows used", "rejected (by reason)", "dates", "customers"]
    return _table(headers, rows, numeric={1, 2, 5})


def _inputs_table(record: dict[str, Any]) -> str:
    rows = [
        [
            _e(item.get("role")),
            _e(item.get("source")),
            f"<code>{_e((item.get('sha256') or '-')[:16])}</code>",
        ]
        for item in record.get("inputs", [])
    ]
    return _table(["input", "source", "sha256 (first 16)"], rows)


def client_index_html(record: dict[str, Any] | None, *, failed: dict[str, Any] | None) -> str:
    """HTML of ``outputs/<client>/index.html``: the client's reports, exports and provenance.

    Parameters
    ----------
    record
        The client's ``run.json`` (last successful run), or None.
    failed
        Its ``failed/run.json`` when the last run failed, else None.

    Returns
    -------
    str
        A stand-alone HTML page (no scripts, no external resources).
    """
    latest = failed or record or {}
    client = latest.get("client") or latest.get("slug") or "client"
    header = (
        f"<h1>{_e(client)}</h1><p>{_status(latest.get('status', 'failed'))} "
        f"last run {_e(_when(latest.get('started')))} &middot; "
        '<a href="../index.html">all clients</a></p>'
    )
    parts = []
    if failed:
        parts.append(_failure_banner(failed, has_previous=record is not None))
    elif record and _warnings(record):
        parts.append(_warning_banner(record))
    if record:
        libraries = record.get("environment", {}).get("libraries", {})
        parts += [
            "<h2>Reports</h2>",
            _reports_table(record),
            "<h2>Exports for activation</h2>",
            _exports_table(record),
            *_charts_line(record),
            "<h2>Data quality</h2>",
            _quality_table(record),
            "<h2>Provenance</h2>",
            f'<p class="muted">Run {_e(_when(record.get("started")))} in '
            f"{record.get('seconds') or 0:.0f} s with ccnb {_e(record.get('ccnb_version'))}, "
            f"pandas {_e(libraries.get('pandas'))}, lifetimes {_e(libraries.get('lifetimes'))}; "
            f"params <code>{_e(record.get('params_file'))}</code>. "
            f'Everything is recorded in <a href="run.json">run.json</a>.</p>',
            _inputs_table(record),
        ]
    return _page(f"{client}: reports", header, "\n".join(parts))


def _site_row(entry: SiteEntry) -> list[str]:
    latest = entry.failed or entry.record or {}
    client = latest.get("client") or entry.folder
    reports = ""
    if entry.record:
        reports = "<br>".join(
            f'<a href="{_e(entry.folder)}/{_e(notebook["html"])}">'
            f"{_e(notebook.get('title') or notebook['name'])}</a>"
            for notebook in entry.record.get("notebooks", [])
        )
    kpis = "".join(
        f'<div class="kpi"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div></div>'
        for label, value in entry.kpis
    )
    status = _status(latest.get("status", "failed"))
    if entry.failed:
        status += f'<br><a href="{_e(entry.folder)}/failed/error.txt">error.txt</a>'
    elif entry.record and _warnings(entry.record):
        reasons = "".join(f"<li>{_e(line)}</li>" for line in _warnings(entry.record))
        status += f'<ul class="reasons">{reasons}</ul>'
    return [
        f'<a href="{_e(entry.folder)}/index.html">{_e(client)}</a>',
        status,
        _e(_when(latest.get("started"))),
        f'<div class="kpis">{kpis}</div>' if kpis else '<span class="muted">-</span>',
        reports or '<span class="muted">none yet</span>',
    ]


def site_index_html(entries: list[SiteEntry]) -> str:
    """HTML of ``outputs/index.html``: every client with status, last run, KPIs and links.

    Parameters
    ----------
    entries
        One per client folder.

    Returns
    -------
    str
        A stand-alone HTML page (no scripts, no external resources).
    """
    failed = sum(1 for entry in entries if entry.failed)
    noun = "client" if len(entries) == 1 else "clients"
    warned = sum(
        1 for entry in entries if not entry.failed and entry.record and _warnings(entry.record)
    )
    counts = [f"{failed} with a failed last run"] if failed else []
    counts += [f"{warned} with warnings to review"] if warned else []
    summary = ", ".join([f"{len(entries)} {noun}", *counts])
    header = f"<h1>Customer-centricity reports</h1><p>{_e(summary)}</p>"
    table = _table(
        ["client", "status", "last run", "headline KPIs", "reports"],
        [_site_row(entry) for entry in entries],
    )
    return _page("Customer-centricity reports", header, table)
