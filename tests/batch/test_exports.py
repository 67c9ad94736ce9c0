import pandas as pd
import pytest

from ccnb.batch import exports
from ccnb.batch.exports import EXPORT_DIR_VARIABLE, export, spreadsheet_safe


@pytest.fixture
def frame():
    return pd.DataFrame({"customer_id": ["C1", "C2"], "segment": ["Gold", "Low, Value"]})


def test_export_does_nothing_outside_a_batch_run(frame, monkeypatch, tmp_path):
    monkeypatch.delenv(EXPORT_DIR_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    assert export(frame, "segments") is None
    assert list(tmp_path.iterdir()) == []


def test_export_writes_csv_into_the_run_folder(frame, monkeypatch, tmp_path):
    monkeypatch.setenv(EXPORT_DIR_VARIABLE, str(tmp_path / "exports"))
    path = export(frame, "segments")
    assert path == tmp_path / "exports" / "segments.csv"
    # Quoted where needed, no index column, one line per row.
    assert path.read_text() == 'customer_id,segment\nC1,Gold\nC2,"Low, Value"\n'
    assert pd.read_csv(path).equals(frame)


def test_export_keeps_the_index_when_asked(frame, monkeypatch, tmp_path):
    monkeypatch.setenv(EXPORT_DIR_VARIABLE, str(tmp_path))
    path = export(frame.set_index("customer_id"), "clv", index=True)
    assert path.read_text().splitlines()[0] == "customer_id,segment"


@pytest.mark.parametrize("name", ["../evil", "segments.csv", "", "a/b", ".hidden"])
def test_export_refuses_names_that_are_not_plain_file_names(frame, name):
    with pytest.raises(ValueError, match="plain file name"):
        export(frame, name)


def test_export_needs_a_dataframe(monkeypatch, tmp_path):
    with pytest.raises(TypeError, match="DataFrame"):
        export(42, "kpis")
    monkeypatch.setenv(EXPORT_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(TypeError, match="DataFrames"):
        export([pd.DataFrame({"a": [1]}), [1, 2]], "kpis")
    assert list(tmp_path.iterdir()) == []  # the block written first is not left as a file


def test_export_writes_blocks_of_rows_as_one_table(monkeypatch, tmp_path):
    """A table's blocks (e.g. parquet row groups) and a frame longer than one block of the
    writer make the same file as the whole frame written at once."""
    monkeypatch.setenv(EXPORT_DIR_VARIABLE, str(tmp_path))
    monkeypatch.setattr(exports, "CSV_BLOCK_ROWS", 2)
    frame = pd.DataFrame(
        {
            "customer_id": ["C1", "=C2", "C3", "C4", "@C5"],
            "segment": pd.Categorical(["Gold", "-Lapsed", "Gold", None, "-Lapsed"]),
            "rclv": [1.0, 2.5, 1 / 3, -0.0, 1e7],
        }
    )
    expected = (
        "customer_id,segment,rclv\n"
        "C1,Gold,1\n'=C2,'-Lapsed,2.5\nC3,Gold,0.333333333333\nC4,,-0\n'@C5,'-Lapsed,10000000\n"
    )
    assert export(frame, "whole").read_text() == expected
    blocks = [frame.iloc[:3], frame.iloc[3:3], frame.iloc[3:]]
    assert export(iter(blocks), "blocks").read_text() == expected
    assert export(frame.iloc[:0], "empty").read_text() == "customer_id,segment,rclv\n"
    with pytest.raises(ValueError, match="no block"):
        export(iter([]), "nothing")
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "blocks.csv",
        "empty.csv",
        "whole.csv",
    ]


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("-2+3", "'-2+3"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("-12.50", "-12.50"),  # a plain number is data
        ("+3e2", "+3e2"),
        ("Low-Value", "Low-Value"),
        ("a=b", "a=b"),
    ],
)
def test_spreadsheet_safe_neutralises_formulas(text, written):
    frame = pd.DataFrame({"customer_id": [text], "revenue": [-5.0]}, index=pd.Index([text]))
    safe = spreadsheet_safe(frame)
    assert safe["customer_id"].tolist() == [written]
    assert safe.index.tolist() == [written]
    assert safe["revenue"].tolist() == [-5.0]  # numbers are never touched
    assert frame["customer_id"].tolist() == [text]  # the caller's frame is unchanged


def test_export_writes_formula_text_as_text(monkeypatch, tmp_path):
    monkeypatch.setenv(EXPORT_DIR_VARIABLE, str(tmp_path))
    frame = pd.DataFrame({"=channel": ["@evil"], "segment": [pd.NA]}, dtype="string")
    path = export(frame, "segments")
    assert path.read_text() == "'=channel,segment\n'@evil,\n"
