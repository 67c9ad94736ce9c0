"""A rendered report opens in a real browser from disk with the network off."""

import base64
import io
import subprocess
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from PIL import Image

from ccnb.batch.render import render_report
from ccnb.formatting import escape_md

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


def chart_png() -> str:
    figure, axes = plt.subplots(figsize=(6, 3))
    axes.bar(["High-Value", "Medium-Value", "Low-Value"], [120, 60, 15], color="#1f4e79")
    axes.set_title("Revenue by segment")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def report_notebook():
    table = pd.DataFrame(
        {"segment": ["High-Value", "<script>alert(1)</script>"], "customers": [812, 4188]}
    )
    return new_notebook(
        cells=[
            new_markdown_cell("# Segmentation\n\nWho are the best and worst customers?"),
            new_code_cell(
                "display(table)",
                execution_count=1,
                outputs=[
                    new_output(
                        "display_data",
                        data={"text/html": table.to_html(), "text/plain": "table"},
                    )
                ],
            ),
            new_code_cell(
                "display(Markdown(...))",
                execution_count=2,
                outputs=[
                    new_output(
                        "display_data",
                        data={
                            "text/markdown": f"## Segment {escape_md(table.segment[1])}",
                            "text/plain": "md",
                        },
                    )
                ],
            ),
            new_code_cell(
                "plt.show()",
                execution_count=3,
                outputs=[
                    new_output("display_data", data={"image/png": chart_png(), "text/plain": "f"})
                ],
            ),
        ]
    )


def screenshot_of(page: Path, tmp_path: Path, *, height: int = 2000) -> Path:
    """Open a page from disk in headless Chromium with no network and screenshot it."""
    screenshot = tmp_path / "screenshot.png"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        # No name resolves: anything the page tried to fetch from the network would fail.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={screenshot}",
        f"--window-size=1280,{height}",
        page.as_uri(),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert screenshot.exists(), completed.stderr[-2000:]
    return screenshot


def test_report_renders_offline_in_headless_chromium(tmp_path):
    page = tmp_path / "01_segmentation.html"
    report = render_report(report_notebook(), client="Demo Retail", run_date="2025-12-31")
    page.write_text(report.html, encoding="utf-8")
    screenshot = screenshot_of(page, tmp_path)
    assert screenshot.stat().st_size > 20_000
    with Image.open(screenshot) as image:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    # Header, text, table stripes and the chart: far more than a blank page's one colour.
    assert colours is None or len(colours) > 50


def test_the_clv_report_shows_its_charts_offline(tmp_path):
    """The stored 03_clv_modelling notebook (executed with params/demo.yaml), as readers get it."""
    import nbformat

    stored = Path(__file__).resolve().parents[2] / "notebooks" / "03_clv_modelling.ipynb"
    report = render_report(
        nbformat.read(stored, as_version=4), client="Demo Retail", run_date="2025-12-31"
    )
    assert report.html.count("data:image/png;base64,") >= 6
    page = tmp_path / "03_clv_modelling.html"
    page.write_text(report.html, encoding="utf-8")
    screenshot = screenshot_of(page, tmp_path, height=4000)
    with Image.open(screenshot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 18)
    # Charts bring many colours (anti-aliased lines, palettes); a page of text has few.
    assert colours is None or len(colours) > 500


def test_the_audit_report_shows_its_charts_offline(tmp_path):
    """The stored 05_customer_base_audit notebook: seven lenses with their charts, no code."""
    import nbformat

    stored = Path(__file__).resolve().parents[2] / "notebooks" / "05_customer_base_audit.ipynb"
    report = render_report(
        nbformat.read(stored, as_version=4), client="Demo Retail", run_date="2025-12-31"
    )
    assert report.html.count("data:image/png;base64,") >= 7
    assert "Go further" not in report.html  # the notebook-only cell
    titles = [heading.text for heading in report.headings]
    assert "What changed since last period" in titles
    assert "Which products bring the best customers" in titles
    page = tmp_path / "05_customer_base_audit.html"
    page.write_text(report.html, encoding="utf-8")
    screenshot = screenshot_of(page, tmp_path, height=4000)
    with Image.open(screenshot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 18)
    assert colours is None or len(colours) > 500
