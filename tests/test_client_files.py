"""Exports as clients send them: each file is written here, scaffolded with `ccnb new`'s
guesses where that is the user's path, and loaded. Every case ends in rows read = used +
rejected, with rows read counted from the file by plain Python, independently of the reader."""

import datetime as dt

import pandas as pd
import pytest

import ccnb
from ccnb import client_files
from ccnb.batch.scaffold import scaffold_params
from ccnb.data import load_client
from ccnb.errors import DataError

GERMAN = [
    ("K1", "05.01.2024", "12,50"),
    ("K2", "06.01.2024", "1.005,00"),
    ("K1", "07.02.2024", "8,00"),
    ("Müller & Söhne", "08.02.2024", "40,00"),
]


def _lines(rows, delimiter=";"):
    return [delimiter.join(row) for row in rows]


def _data_rows(path, *, encoding, skip=0):
    """Rows below the header, counted by plain Python: non-blank lines after the title lines."""
    lines = [line for line in path.read_text(encoding=encoding).splitlines()[skip:]]
    lines = [line for line in lines if line.strip()]
    return len(lines) - 1


def _scaffold_and_load(tmp_path, name, file):
    scaffold = scaffold_params(name, file, params_dir=tmp_path / "params")
    params = ccnb.load_params(scaffold.path)
    return scaffold, params, load_client(params)


def _accounts(quality):
    source = quality.transactions
    assert source.rows_read == source.rows_used + sum(source.rejected.values())
    return source


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [
        ("cp1252", "cp1252"),
        ("latin-1", "cp1252"),  # the same bytes for these characters; cp1252 reads both
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16"),
    ],
)
def test_encodings_are_detected_and_written_into_the_params(tmp_path, encoding, detected):
    text = "\n".join(["Kunde;Datum;Betrag €"[: -2 if encoding == "latin-1" else None]])
    header = "Kunde;Datum;Betrag" + (" €" if encoding != "latin-1" else " EUR")
    text = "\n".join([header, *_lines(GERMAN)]) + "\n"
    file = tmp_path / f"umsatz-{encoding}.csv"
    file.write_text(text, encoding=encoding)
    assert client_files.detect_encoding(file) == detected
    scaffold, params, client = _scaffold_and_load(tmp_path, "kunde", file)
    assert params.transactions.columns.amount == header.split(";")[2]  # the € survives
    expected = None if detected == "utf-8" else detected
    assert scaffold.guess.encoding == expected
    source = _accounts(client.quality)
    assert source.rows_read == _data_rows(file, encoding=encoding) == 4
    assert source.rows_used == 4
    ids = set(client.transactions.execute()["customer_id"])
    assert "Müller & Söhne" in ids


def test_title_lines_totals_and_ragged_lines_are_counted_not_fatal(tmp_path):
    """Two title lines and a blank line above the header; a line with a missing field, one
    with an unquoted comma in the id, a short totals line and a full-width totals line."""
    rows = [
        "Umsatzexport Q1 2024",
        "erstellt von ERP 7.2",
        "",
        " Kunde ; Datum ; Betrag ",  # spaces around the names, trimmed everywhere
        *_lines(GERMAN),
        "K3;09.02.2024",  # a field missing
        "K4;10.02.2024;3,00;;",  # trailing separators from Excel: fine
        "Meier;Peter;11.02.2024;5,00",  # an unquoted separator inside the name
        "Summe;;1.065,50",  # full width: a totals row
        "Gesamt;1.065,50",  # short: still a totals row, not just malformed
    ]
    file = tmp_path / "export.csv"
    file.write_text("\n".join(rows) + "\n", encoding="cp1252")
    scaffold, params, client = _scaffold_and_load(tmp_path, "erp", file)
    assert params.transactions.skip_rows == 2  # the blank line after them needs no skipping
    assert params.transactions.columns.customer_id == "Kunde"
    source = _accounts(client.quality)
    assert source.rows_read == _data_rows(file, encoding="cp1252", skip=3) == 9
    assert source.rejected == {"malformed_row": 2, "totals_row": 2}
    assert source.rows_used == 5
    rejected = client.quality.rejected_rows.set_index("row")
    assert rejected.loc[5, "reason"] == "malformed_row"
    assert rejected.loc[5, "raw_line"] == "K3;09.02.2024"
    assert rejected.loc[7, "raw_line"] == "Meier;Peter;11.02.2024;5,00"
    assert rejected.loc[8, "reason"] == rejected.loc[9, "reason"] == "totals_row"
    # the totals carry no revenue share of their own: they repeat the rows above
    assert source.revenue_share("totals_row") == 0


def test_excel_sheet_serial_dates_title_row_and_float_ids(tmp_path):
    """The data on the second sheet under a title row; dates stored as Excel serial numbers,
    ids stored as numbers (17851.0)."""
    file = tmp_path / "export.xlsx"
    data = pd.DataFrame(
        {
            "CustomerID": [17851.0, 17852.0, 17851.0],
            "InvoiceDate": [45296, 45297, 45330],  # 2024-01-05, 01-06, 02-08
            "Revenue": [10.0, 20.5, 7.25],
        }
    )
    with pd.ExcelWriter(file) as writer:
        pd.DataFrame({"Read me": ["exported 2024-03-01"]}).to_excel(writer, sheet_name="Info")
        data.to_excel(writer, sheet_name="Sales", index=False, startrow=1)
        sheet = writer.sheets["Sales"]
        sheet.cell(row=1, column=1, value="Sales report")
    scaffold, params, client = _scaffold_and_load(tmp_path, "xl", file)
    assert (params.transactions.sheet, params.transactions.skip_rows) == ("Sales", 1)
    source = _accounts(client.quality)
    assert source.rows_used == 3
    frame = client.transactions.order_by(["date"]).execute()
    assert frame["customer_id"].tolist() == ["17851", "17852", "17851"]
    assert [d.date() for d in pd.to_datetime(frame["date"])] == [
        dt.date(2024, 1, 5),
        dt.date(2024, 1, 6),
        dt.date(2024, 2, 8),
    ]


def test_sheet_can_be_named(tmp_path):
    file = tmp_path / "two.xlsx"
    with pd.ExcelWriter(file) as writer:
        for name in ("A", "B"):
            pd.DataFrame({"customer_id": ["c1"], "date": ["2024-01-01"], "amount": ["1"]}).to_excel(
                writer, sheet_name=name, index=False
            )
    scaffold = scaffold_params("two", file, params_dir=tmp_path, sheet="B")
    assert ccnb.load_params(scaffold.path).transactions.sheet == "B"
    with pytest.raises(ValueError, match="no sheet 'C'; its sheets are"):
        scaffold_params("two", file, params_dir=tmp_path, sheet="C", force=True)


def _params(tmp_path, rows, *, date_format=None, observation_end=None):
    file = tmp_path / "sales.csv"
    file.write_text("\n".join(["customer_id,date,amount", *rows]) + "\n", encoding="utf-8")
    lines = ["client: T", "slug: t", "transactions:", "  path: sales.csv"]
    if date_format:
        lines.append(f"  date_format: '{date_format}'")
    if observation_end:
        lines.append(f"observation_end: '{observation_end}'")
    (tmp_path / "t.yaml").write_text("\n".join(lines) + "\n")
    return ccnb.load_params(tmp_path / "t.yaml")


def test_placeholder_and_future_dates_are_implausible(tmp_path):
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    rows = ["a,2024-01-01,5", "b,1900-01-01,6", f"c,{future},7", "d,2024-02-01,8"]
    client = load_client(_params(tmp_path, rows))
    source = _accounts(client.quality)
    assert source.rejected == {"implausible_date": 2}
    assert client.observation_end == dt.date(2024, 2, 1)  # the future row does not set it


def test_two_digit_years_are_refused_with_the_format_that_reads_them(tmp_path):
    rows = ["a,18/05/22,5", "b,19/05/22,6", "c,20/06/23,7"]
    with pytest.raises(DataError, match=r"set `date_format: '%d/%m/%y'`"):
        load_client(_params(tmp_path, rows, date_format="%d/%m/%Y"))
    client = load_client(_params(tmp_path, rows, date_format="%d/%m/%y"))
    assert _accounts(client.quality).rows_used == 3


def test_path_with_a_tilde_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "sales.csv").write_text("customer_id,date,amount\na,2024-01-01,5\n")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "t.yaml").write_text(
        "client: T\nslug: t\ntransactions:\n  path: ~/sales.csv\n"
    )
    params = ccnb.load_params(tmp_path / "p" / "t.yaml")
    assert params.transactions.path == str(tmp_path / "sales.csv")
    assert load_client(params).quality.transactions.rows_used == 1


def _client(tmp_path, sales, extra="", customers=None):
    (tmp_path / "sales.csv").write_text(sales)
    text = "client: T\nslug: t\ntransactions:\n  path: sales.csv\n" + extra
    if customers is not None:
        (tmp_path / "customers.csv").write_text(customers)
        text += (
            "customers:\n  path: customers.csv\n  columns: {customer_id: id, "
            "acquisition_channel: channel, acquisition_cost: cost}\n"
        )
    (tmp_path / "t.yaml").write_text(text)
    return load_client(ccnb.load_params(tmp_path / "t.yaml"))


def test_ids_that_differ_by_leading_zeros_or_a_float_suffix_are_flagged_then_joined(tmp_path):
    sales = (
        "customer_id,date,amount\n00123,2024-01-01,5\n123,2024-02-01,6\n17851.0,2024-01-03,7\n"
        "17851,2024-03-01,8\nAB01,2024-01-04,9\n"
    )
    flagged = _client(tmp_path, sales)
    (warning,) = flagged.quality.warnings
    assert warning.startswith("2 customer ids appear in more than one form")
    assert "'00123' and '123'" in warning and "`normalise_ids: true`" in warning
    assert flagged.quality.transactions.customers == 5
    joined = _client(tmp_path, sales, "normalise_ids: true\n")
    assert joined.quality.warnings == ()
    assert sorted(joined.transactions.execute()["customer_id"].unique()) == [
        "123",
        "17851",
        "AB01",
    ]


def test_a_customers_table_that_does_not_match_is_flagged_with_both_rates(tmp_path):
    """Transactions written from a float column (17851.0), the customers table as integers:
    nothing joins, every channel would be 'unknown'; normalise_ids repairs it."""
    sales = "customer_id,date,amount\n17851.0,2024-01-01,5\n17852.0,2024-01-02,6\n"
    customers = "id,channel,cost\n17851,Referral,10\n17852,Paid search,20\n"
    flagged = _client(tmp_path, sales, customers=customers)
    (warning,) = flagged.quality.warnings
    assert warning.startswith("only 0% of the customers in the transactions are in the customers")
    assert "(and 0% of its ids in the transactions)" in warning
    fixed = _client(tmp_path, sales, "normalise_ids: true\n", customers=customers)
    assert fixed.quality.warnings == ()
    assert set(fixed.customers["customer_id"]) == {"17851", "17852"}


def test_amounts_orders_of_magnitude_above_the_median_are_flagged(tmp_path):
    rows = [f"c{i},2024-01-{i + 1:02d},{10 + i}" for i in range(20)] + ["c1,2024-02-01,125000"]
    client = _client(tmp_path, "customer_id,date,amount\n" + "\n".join(rows) + "\n")
    (warning,) = client.quality.warnings
    assert warning.startswith("1 transaction lines have amounts at least 1,000 times the median")
    assert "up to 125,000.00" in warning


def test_header_names_with_spaces_are_trimmed_in_scaffold_and_check(tmp_path):
    file = tmp_path / "spaces.csv"
    file.write_text(" customer_id , date ,amount \na,2024-01-01,5\nb,2024-01-02,6\n")
    scaffold, params, client = _scaffold_and_load(tmp_path, "spaces", file)
    assert params.transactions.columns.customer_id == "customer_id"
    assert params.transactions.columns.amount == "amount"
    assert _accounts(client.quality).rows_used == 2 == _data_rows(file, encoding="utf-8")
