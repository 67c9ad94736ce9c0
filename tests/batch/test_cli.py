from pathlib import Path

from typer.testing import CliRunner

from ccnb.batch.cli import app

PARAMS_DIR = Path(__file__).resolve().parents[2] / "params"


def test_check_prints_the_quality_report():
    result = CliRunner().invoke(app, ["check", str(PARAMS_DIR / "cdnow.yaml")])
    assert result.exit_code == 0, result.output
    assert "Data quality: CDNOW (sample)" in result.output
    assert "6,919" in result.output and "2,357" in result.output


def test_check_fails_with_the_clear_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("client: X\ntransactions:\n  path: missing.csv\ncurency: EUR\n")
    result = CliRunner().invoke(app, ["check", str(PARAMS_DIR / "cdnow.yaml"), str(bad)])
    assert result.exit_code == 1
    assert "did you mean 'currency'?" in result.output
    assert "1 of 2 params file(s) failed" in result.output


def test_check_json_reconciles_every_source(tmp_path):
    """`ccnb check --json`: one object per params file; rows read = used + rejected for every
    source of the demo (transactions, customers, survey), and a failed file says why."""
    import json

    bad = tmp_path / "bad.yaml"
    bad.write_text("client: X\ntransactions:\n  path: missing.csv\n")
    result = CliRunner().invoke(app, ["check", "--json", str(PARAMS_DIR / "demo.yaml"), str(bad)])
    assert result.exit_code == 1
    demo, failed = json.loads(result.output)
    assert demo["ok"] and demo["client"] and demo["observation_end"] == "2025-12-31"
    assert set(demo["sources"]) == {"transactions", "customers", "survey"}
    for source in demo["sources"].values():
        assert source["rows_read"] == source["rows_used"] + sum(source["rejected"].values())
        assert source["rows_read"] > 0
    assert not failed["ok"] and "missing.csv not found" in failed["error"]


def test_check_table_wraps_instead_of_truncating(monkeypatch):
    """In a 60-column terminal every reason is shown whole (folded), never cut to '…'."""
    monkeypatch.setenv("COLUMNS", "60")
    from ccnb.batch import cli

    console = cli.Console(width=60, record=True)
    monkeypatch.setattr(cli, "console", console)
    result = CliRunner().invoke(app, ["check", str(PARAMS_DIR / "demo.yaml")])
    assert result.exit_code == 0, result.output
    text = console.export_text()
    assert "Data quality" in text and "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 60
