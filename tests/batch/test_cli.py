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
