import base64
import io
import re
from html.parser import HTMLParser

import matplotlib.pyplot as plt
import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from ccnb.batch.render import (
    SiteEntry,
    client_index_html,
    format_kpi,
    render_report,
    site_index_html,
    write_report,
)
from ccnb.formatting import escape_md

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
SECRET_SOURCE = "secret_source_text = compute_everything()"


def body(page: str) -> str:
    """The document body: the inline CSS of the lab theme mentions prompts and 'hidden'."""
    return page[page.index("<body") :]


def png_chart() -> str:
    figure, axes = plt.subplots(figsize=(3, 2))
    axes.bar(["a", "b"], [1, 2])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def display(data: dict) -> nbformat.NotebookNode:
    return new_output("display_data", data={"text/plain": "<object>", **data})


@pytest.fixture(scope="module")
def notebook():
    segments = pd.DataFrame({"segment": [HOSTILE, "Gold"], "customers": [3, 4]})
    styled = segments.style.format(precision=1, escape="html").format_index(escape="html")
    markdown = f"## Segment {escape_md(HOSTILE)}\n\nThe biggest segment is {escape_md(HOSTILE)}."
    return new_notebook(
        cells=[
            new_markdown_cell("# KPI overview\n\nWhat this answers."),
            new_code_cell(
                SECRET_SOURCE,
                execution_count=1,
                outputs=[
                    new_output("stream", name="stdout", text="visible print\n"),
                    new_output("stream", name="stderr", text="FutureWarning: noise\n"),
                ],
            ),
            new_code_cell(
                "display(segments)",
                execution_count=2,
                outputs=[display({"text/html": segments.to_html()})],
            ),
            new_code_cell(
                "display(styled)",
                execution_count=3,
                outputs=[display({"text/html": styled.to_html()})],
            ),
            new_code_cell(
                "display(Markdown(...))",
                execution_count=4,
                outputs=[display({"text/markdown": markdown})],
            ),
            new_code_cell(
                "plt.show()", execution_count=5, outputs=[display({"image/png": png_chart()})]
            ),
            new_code_cell(
                "js",
                execution_count=6,
                outputs=[display({"application/javascript": "window.evil = 1"})],
            ),
            new_markdown_cell("### What to do next"),
        ]
    )


@pytest.fixture(scope="module")
def report(notebook):
    return render_report(notebook, client="Acme & <Sons>", run_date="2025-03-01 10:00")


def test_escape_md_renders_text_as_itself():
    # Every punctuation mark becomes a character reference; letters and spaces stay.
    assert escape_md("<b>Gold</b> *VIP*") == "&#60;b&#62;Gold&#60;&#47;b&#62; &#42;VIP&#42;"
    assert escape_md("Müller  &\nSöhne") == "Müller &#38; Söhne"
    assert escape_md(12.5) == "12&#46;5"


def test_reports_contain_no_code_and_no_prompts(report):
    assert "secret_source_text" not in report.html
    assert "compute_everything" not in report.html
    assert "In&nbsp;[" not in body(report.html) and "Out[" not in body(report.html)
    assert "visible print" in report.html
    assert "FutureWarning" not in report.html  # stderr is for the executed notebook only


def test_reports_load_nothing_from_the_network(report):
    assert 'src="http' not in report.html and "src='http" not in report.html
    assert "https://cdn" not in report.html
    assert "<script" not in report.html  # no require.js, MathJax, mermaid, widgets, JS outputs
    assert "<link" not in report.html
    assert "data:image/png;base64," in report.html  # the chart is embedded


def test_hostile_text_is_shown_as_text_in_tables_markdown_and_header(report):
    assert HOSTILE not in report.html
    # pandas table, Styler table, Markdown heading, Markdown paragraph and the TOC entry.
    assert report.html.count(ESCAPED) >= 5
    assert "Acme &amp; &lt;Sons&gt;" in report.html
    assert report.removed_elements == 0


def test_table_of_contents_lists_headings_of_cells_and_outputs(report):
    assert [(h.level, h.text) for h in report.headings] == [
        (1, "KPI overview"),
        (2, f"Segment {HOSTILE}"),
        (3, "What to do next"),
    ]
    toc = re.search(r"<nav[^>]*ccnb-toc.*?</nav>", report.html, flags=re.DOTALL).group()
    for heading in report.headings:
        assert f'href="#{heading.anchor}"' in toc
        assert f'id="{heading.anchor}"' in report.html
    assert report.title == "KPI overview"


def test_header_names_client_report_and_run_date(report):
    header = re.search(r"<header.*?</header>", report.html, flags=re.DOTALL).group()
    assert "Acme &amp; &lt;Sons&gt;" in header
    assert "KPI overview" in header
    assert "2025-03-01 10:00" in header
    assert 'href="index.html"' in header


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_unescaped_markup_in_outputs_is_neutralised():
    # A notebook that forgot escape_md: the markup is removed, not run, and counted.
    notebook = new_notebook(
        cells=[
            new_code_cell(
                "x",
                execution_count=1,
                outputs=[
                    display({"text/markdown": f"Segment {HOSTILE} <img src=x onerror=alert(1)>"})
                ],
            ),
            new_code_cell(
                "y",
                execution_count=2,
                outputs=[display({"text/html": '<a href="javascript:alert(1)">x</a>'})],
            ),
        ]
    )
    report = render_report(notebook, client="Acme", run_date="2025-03-01")
    parser = _Tags()
    parser.feed(report.html)
    assert not [tag for tag, _ in parser.tags if tag == "script"]
    assert not [a for _, attrs in parser.tags for a in attrs if a.startswith("on")]
    assert "javascript:" not in report.html
    assert report.removed_elements == 3  # the script, onerror and the javascript: link
    assert report.headings == ()
    assert "<nav" not in body(report.html)


def test_tagged_cells_are_left_out():
    cell = new_code_cell("x", execution_count=1, outputs=[display({"text/html": "<p>hidden</p>"})])
    cell.metadata["tags"] = ["remove-output"]
    report = render_report(new_notebook(cells=[cell]), client="Acme", run_date="2025-03-01")
    assert "hidden" not in body(report.html)


def test_write_report_reads_ipynb_and_writes_html(notebook, tmp_path):
    nbformat.write(notebook, tmp_path / "00_kpi_overview.ipynb")
    report = write_report(
        tmp_path / "00_kpi_overview.ipynb",
        tmp_path / "00_kpi_overview.html",
        client="Acme",
        run_date="2025-03-01",
    )
    assert (tmp_path / "00_kpi_overview.html").read_text(encoding="utf-8") == report.html


def test_title_falls_back_to_the_file_name():
    report = render_report(
        new_notebook(cells=[new_markdown_cell("## Only a section")]),
        client="Acme",
        run_date="2025-03-01",
        name="03_clv_modelling",
    )
    assert report.title == "03 clv modelling"


def test_format_kpi_prefers_display_then_formats_by_unit():
    assert format_kpi({"kpi": "customers", "value": "5000.0", "unit": "count"}) == "5,000"
    assert format_kpi(
        {"kpi": "revenue", "value": "390586.43", "unit": "money"}, currency="EUR"
    ) == ("390,586 EUR")
    assert format_kpi({"kpi": "churn", "value": "0.5389", "unit": "share"}) == "53.9%"
    assert format_kpi({"kpi": "nps", "value": "13.2214", "unit": "score"}) == "13.2"
    assert format_kpi({"kpi": "lbr", "value": "0.80835", "unit": "ratio"}) == "0.81"
    assert format_kpi({"kpi": "x", "value": "1234567.891", "unit": "kg"}) == "1,234,567.89 kg"
    assert format_kpi({"kpi": "nps", "value": "31.2", "display": "+31 (±4)"}) == "+31 (±4)"
    assert format_kpi({"kpi": "churn", "value": "n/a"}) == "n/a"


RECORD = {
    "status": "ok",
    "client": "Acme & <Sons>",
    "slug": "acme",
    "started": "2025-03-01T10:00:00+00:00",
    "seconds": 12.0,
    "ccnb_version": "0.1.0",
    "params_file": "/p/acme.yaml",
    "environment": {"libraries": {"pandas": "3.0", "lifetimes": "0.11.3"}},
    "notebooks": [
        {
            "name": "00_kpi",
            "status": "ok",
            "seconds": 3.2,
            "title": "KPI <overview>",
            "ipynb": "00_kpi.ipynb",
            "html": "00_kpi.html",
        },
    ],
    "exports": [{"file": "exports/kpis.csv", "rows": 2, "bytes": 2048}],
    "data_quality": {
        "transactions": {
            "file": "s.csv",
            "rows_read": 6,
            "rows_used": 5,
            "rejected": {"missing_customer_id": 1},
            "customers": 3,
            "first_date": "2024-01-05",
            "last_date": "2024-04-01",
        },
    },
    "inputs": [{"role": "transactions", "source": "s.csv", "sha256": "ab" * 32}],
    "errors": [],
}
FAILED = {
    **RECORD,
    "status": "failed",
    "started": "2025-03-02T09:00:00+00:00",
    "errors": [{"notebook": "03_clv", "cell": 7, "error": "ValueError: <no repeat>"}],
}


def test_client_index_links_reports_exports_and_provenance():
    page = client_index_html(RECORD, failed=None)
    assert '<a href="00_kpi.html">KPI &lt;overview&gt;</a>' in page
    assert 'href="exports/kpis.csv"' in page and 'href="run.json"' in page
    assert "missing_customer_id: 1" in page
    assert "Acme &amp; &lt;Sons&gt;" in page and "<script" not in page


def test_client_index_shows_a_failed_last_run_above_the_previous_reports():
    page = client_index_html(RECORD, failed=FAILED)
    assert "The last run failed" in page and "from the last successful run" in page
    assert "03_clv, cell 7: ValueError: &lt;no repeat&gt;" in page
    assert 'href="failed/error.txt"' in page and 'href="00_kpi.html"' in page


def test_site_index_lists_clients_with_status_kpis_and_links():
    entries = [
        SiteEntry(folder="acme", record=RECORD, failed=None, kpis=[("revenue", "217.50")]),
        SiteEntry(folder="broken", record=None, failed=FAILED),
    ]
    page = site_index_html(entries)
    assert 'href="acme/index.html"' in page and 'href="acme/00_kpi.html"' in page
    assert "revenue" in page and "217.50" in page
    assert 'href="broken/failed/error.txt"' in page
    assert "2 clients, 1 with a failed last run" in page
    assert "<p>1 client</p>" in site_index_html(entries[:1])


def test_dollar_amounts_do_not_turn_a_sentence_into_math():
    # Two dollar amounts in one Markdown sentence were a $...$ math span: the escaped segment
    # name between them reached the reader as the literal text "Medium&#45;Value".
    from ccnb.report._section import without_math

    text = f"By segment: High-Value $5.00, {escape_md('Medium-Value')} $0.00; see `plan.csv`."
    cell = new_code_cell(
        "report.next_steps_budget(analysis)",
        execution_count=1,
        outputs=[display({"text/markdown": without_math(text)})],
    )
    html = body(
        render_report(new_notebook(cells=[cell]), client="Acme", run_date="2025-03-01").html
    )
    assert "&amp;#45;" not in html
    assert "High-Value $5.00, Medium-Value $0.00; see <code>plan.csv</code>" in html
