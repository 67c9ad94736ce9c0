"""The documentation site builds offline and strictly (a broken link or reference fails)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_site_builds_strictly_with_every_param_and_the_gallery():
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "build_site.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    site = ROOT / "build" / "site"
    assert {"index.html", "params.html", "methodology.html", "api.html", "gallery.html"} <= {
        path.name for path in site.iterdir()
    }
    params = (ROOT / "build" / "docs-src" / "params.md").read_text()
    from ccnb.params import Params

    for name, field in Params.model_fields.items():
        if not field.exclude:
            assert f"| `{name}` |" in params, name
    for nested in ("transactions.encoding", "transactions.columns.customer_id", "budget.total"):
        assert f"| `{nested}` |" in params, nested
    api = (site / "api.html").read_text()
    assert "predictive_distribution" in api and "spreadsheet_safe" in api
    gallery = sorted(path.name for path in (site / "gallery").glob("*.html"))
    assert gallery == [f"{path.stem}.html" for path in sorted(ROOT.glob("notebooks/0*.ipynb"))]
