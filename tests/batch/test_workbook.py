"""The client's workbook: typed sheets behind a cover, and long CSVs left as CSVs."""

import openpyxl
import pandas as pd

from ccnb.batch import workbook


def test_a_csv_longer_than_a_sheet_holds_is_named_on_the_cover_not_written(tmp_path, monkeypatch):
    monkeypatch.setattr(workbook, "WORKBOOK_MAX_ROWS", 3)
    exports = tmp_path / "exports"
    exports.mkdir()
    pd.DataFrame({"customer_id": ["a", "b"], "rclv": [1.5, 2.25]}).to_csv(
        exports / "clv.csv", index=False
    )
    # a quoted line break inside a value is one row, not two
    pd.DataFrame({"customer_id": list("abcde"), "note": ["x\ny", "", "", "", ""]}).to_csv(
        exports / "segments.csv", index=False
    )
    path = workbook.write_workbook(exports, tmp_path / "book.xlsx", cover=[("client", "Acme")])
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Cover", "clv"]
    cover = {row[0]: row[1] for row in book["Cover"].iter_rows(values_only=True)}
    assert cover["sheet clv"] == "2 rows"
    assert cover["not a sheet: segments"] == (
        "5 rows, more than a workbook sheet here holds (3): in segments.csv beside this workbook"
    )
    assert [cell.value for cell in book["clv"]["B"]] == ["rclv", 1.5, 2.25]
