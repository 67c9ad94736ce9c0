import datetime as dt

import pandas as pd
import pytest
from typer.testing import CliRunner

from ccnb.batch.cli import app
from ccnb.batch.scaffold import (
    guess,
    guess_business,
    guess_columns,
    guess_date_format,
    guess_non_product_codes,
    guess_separators,
    read_sample,
    scaffold_params,
    unreviewed_keys,
)
from ccnb.data import load_client
from ccnb.params import load_params

DUTCH = """\
Klantnummer;Besteldatum;Bedrag;Bestelnummer;Kanaal
K001;05-01-2024;1.234,50;B1;web
K002;17-01-2024;12,50;B2;winkel
K001;03-02-2024;€ 99,95;B3;web
K003;28-02-2024;-5,00;B4;app
"""


def new(*args: object):
    return CliRunner().invoke(app, ["new", *map(str, args)])


def test_dutch_export_is_guessed_and_loads(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "verkopen.csv").write_text(DUTCH, encoding="utf-8")
    result = new(
        "acme_nl",
        "--transactions",
        tmp_path / "data" / "verkopen.csv",
        "--params-dir",
        tmp_path / "params",
    )
    assert result.exit_code == 0, result.output
    assert "Data quality: acme_nl" in result.output  # the `ccnb check` report ran
    params = load_params(tmp_path / "params" / "acme_nl.yaml")
    columns = params.transactions.columns
    assert (columns.customer_id, columns.date, columns.amount) == (
        "Klantnummer",
        "Besteldatum",
        "Bedrag",
    )
    assert (columns.order_id, columns.channel) == ("Bestelnummer", "Kanaal")
    source = params.transactions
    assert (source.date_format, source.decimal, source.thousands, source.delimiter) == (
        "%d-%m-%Y",
        ",",
        ".",
        ";",
    )
    assert params.currency == "EUR"  # from the euro sign
    text = (tmp_path / "params" / "acme_nl.yaml").read_text()
    assert 'path: "../data/verkopen.csv"' in text  # relative to the params file
    # every guess a consultant must confirm is marked, and `ccnb check` lists them
    marked = ["client", "currency", "transactions.date_format", "transactions.decimal"]
    assert unreviewed_keys(text) == [*marked, "business", "gross_margin"]
    assert "review: client, currency, transactions.date_format" in result.output
    client = load_client(params)
    assert client.quality.sources[0].rows_used == 4
    frame = client.transactions.order_by("order_id").execute()
    assert frame["amount"].tolist() == [1234.5, 12.5, 99.95, -5.0]
    assert frame["date"].dt.date.tolist() == [
        dt.date(2024, 1, 5),
        dt.date(2024, 1, 17),
        dt.date(2024, 2, 3),
        dt.date(2024, 2, 28),
    ]


def test_german_workbook_derives_amount_from_quantity_and_price(tmp_path):
    frame = pd.DataFrame(
        {
            "Kunden-ID": ["D1", "D2", "D1"],
            "Bestelldatum": ["15.03.2024", "16.03.2024", "02.04.2024"],
            "Rechnungsnummer": ["R1", "R2", "R3"],
            "Menge": ["2", "1", "3"],
            "Einzelpreis": ["9,99", "120,00", "1.005,50"],
        }
    )
    frame.to_excel(tmp_path / "umsatz.xlsx", index=False)
    scaffold = scaffold_params("kunde-de", tmp_path / "umsatz.xlsx", params_dir=tmp_path)
    assert scaffold.guess.columns == {
        "customer_id": "Kunden-ID",
        "date": "Bestelldatum",
        "amount": None,
        "order_id": "Rechnungsnummer",
        "channel": None,
        "quantity": "Menge",
        "unit_price": "Einzelpreis",
        "product": None,
        "description": None,
    }
    params = load_params(scaffold.path)
    assert params.transactions.date_format == "%d.%m.%Y"
    assert params.transactions.decimal == ","
    amounts = load_client(params).transactions.order_by("order_id").execute()["amount"]
    assert amounts.tolist() == pytest.approx([19.98, 120.0, 3016.5])


def test_parquet_keeps_its_types(tmp_path):
    frame = pd.DataFrame(
        {
            "member_id": ["M1", "M2"],
            "created_at": pd.to_datetime(["2024-05-01", "2024-05-02"]),
            "revenue": [10.5, 20.25],
        }
    )
    frame.to_parquet(tmp_path / "orders.parquet")
    scaffold = scaffold_params("shop", tmp_path / "orders.parquet", params_dir=tmp_path)
    assert scaffold.guess.date_format is None  # ISO timestamps
    assert scaffold.guess.decimal == "."
    params = load_params(scaffold.path)
    assert load_client(params).quality.sources[0].rows_used == 2


@pytest.mark.parametrize(
    ("values", "expected", "fits"),
    [
        (["2024-01-05", "2024-01-06T10:00:00"], None, ["ISO"]),
        (["13/02/2024", "01/03/2024"], "%d/%m/%Y", ["%d/%m/%Y"]),
        (["02/13/2024", "03/01/2024"], "%m/%d/%Y", ["%m/%d/%Y"]),
        (["01/02/2024", "03/04/2024"], "%d/%m/%Y", ["%d/%m/%Y", "%m/%d/%Y"]),
        (["20240105", "20241231"], "%Y%m%d", ["%Y%m%d"]),
        (["05.01.2024 10:30", "06.01.2024 11:00"], "%d.%m.%Y %H:%M", ["%d.%m.%Y %H:%M"]),
        (["next tuesday"], None, []),
    ],
)
def test_guess_date_format_picks_the_format_parsing_every_value(values, expected, fits):
    assert guess_date_format(values) == (expected, fits)


@pytest.mark.parametrize(
    ("values", "decimal", "thousands"),
    [
        (["1.234,50", "12,5"], ",", "."),
        (["1,234.50", "12.5"], ".", ","),
        (["€ 1 234,50", "3,10"], ",", " "),
        (["CHF 1'234.50"], ".", "'"),
        (["1.234.567", "2.000.000"], ",", "."),  # two groups: '.' is the thousands separator
        (["12", "40"], ".", ","),
    ],
)
def test_guess_separators(values, decimal, thousands):
    assert guess_separators(values)[:2] == (decimal, thousands)


def test_ambiguous_separators_are_noted():
    decimal, _, notes = guess_separators(["1,234", "5,678"])
    assert decimal == "." and "could be thousands or decimals" in notes[0]


def test_ambiguous_dates_are_noted():
    sample = pd.DataFrame(
        {"customer": ["C1", "C2"], "date": ["01/02/2024", "03/04/2024"], "amount": ["1", "2"]}
    )
    notes = guess(sample).notes
    assert any("ambiguous" in note and "%m/%d/%Y" in note for note in notes)


def test_english_synonyms():
    sample = pd.DataFrame(
        {
            "User": ["u1"],
            "Created_At": ["2024-01-01"],
            "Net": ["3.50"],
            "Invoice No": ["I1"],
            "Sales Channel": ["web"],
        }
    )
    mapping, notes = guess_columns(sample)
    assert mapping == {
        "customer_id": "User",
        "date": "Created_At",
        "amount": "Net",
        "order_id": "Invoice No",
        "channel": "Sales Channel",
        "quantity": None,
        "unit_price": None,
        "product": None,
        "description": None,
    }
    assert notes == []


def test_columns_without_telling_names_are_found_from_their_values():
    sample = pd.DataFrame(
        {
            "a": ["X1", "X2", "X1", "X3"],
            "b": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"],
            "c": ["10.50", "3.99", "7.00", "1.25"],
        }
    )
    mapping, notes = guess_columns(sample)
    assert (mapping["customer_id"], mapping["date"], mapping["amount"]) == ("a", "b", "c")
    assert len(notes) == 3 and all("no column is named like" in note for note in notes)


def test_read_sample_sniffs_the_delimiter(tmp_path):
    (tmp_path / "s.csv").write_text(DUTCH, encoding="utf-8")
    sample = read_sample(tmp_path / "s.csv")
    assert sample.delimiter == ";" and list(sample.frame.columns)[0] == "Klantnummer"
    assert sample.frame["Bedrag"].tolist() == ["1.234,50", "12,50", "€ 99,95", "-5,00"]
    assert (sample.encoding, sample.skip_rows) == ("utf-8", 0)


def test_new_refuses_to_overwrite_and_unsafe_names(tmp_path):
    (tmp_path / "s.csv").write_text(DUTCH, encoding="utf-8")
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "acme.yaml").write_text("client: keep me\n")
    result = new("acme", "--transactions", tmp_path / "s.csv", "--params-dir", tmp_path / "params")
    assert result.exit_code == 2 and "pass --force" in result.output
    assert (tmp_path / "params" / "acme.yaml").read_text() == "client: keep me\n"
    result = new(
        "acme", "--transactions", tmp_path / "s.csv", "--params-dir", tmp_path / "params", "--force"
    )
    assert result.exit_code == 0
    assert "Klantnummer" in (tmp_path / "params" / "acme.yaml").read_text()
    for name in ("../evil", "a b", ".hidden"):
        result = new(name, "--transactions", tmp_path / "s.csv", "--params-dir", tmp_path)
        assert result.exit_code == 2 and "must be a slug" in result.output
    result = new("x", "--transactions", tmp_path / "missing.csv", "--params-dir", tmp_path)
    assert result.exit_code == 2 and "not found" in result.output


def test_new_reports_a_file_that_fails_the_check(tmp_path):
    # Dates nobody can parse: scaffolded, then `ccnb check` fails and says why.
    (tmp_path / "s.csv").write_text("customer,date,amount\nC1,soon,1.00\nC2,later,2.00\n")
    result = new("odd", "--transactions", tmp_path / "s.csv", "--params-dir", tmp_path)
    assert result.exit_code == 1
    assert "no known format parses every value" in result.output
    assert (tmp_path / "odd.yaml").exists()


def test_unreviewed_keys_are_the_lines_still_marked_check():
    text = (
        "# Review every line marked CHECK and delete its marker\n"
        'client: "Acme"\n'  # reviewed: marker deleted
        'currency: "GBP"  # CHECK\n'
        "transactions:\n"
        '  path: "sales.csv"  # relative to this file\n'
        '  decimal: ","  # CHECK: separators\n'
        "  columns:\n"
        '    amount: "Betrag"  # CHECK\n'
        "budget:\n"
        "  total: 5000  # CHECKED by the partner\n"  # not the marker
        "gross_margin: 0.4\n"
    )
    assert unreviewed_keys(text) == [
        "currency",
        "transactions.decimal",
        "transactions.columns.amount",
    ]


def test_invoice_lines_map_product_and_propose_non_product_codes(tmp_path):
    from conftest import WHOLESALER_LINES

    (tmp_path / "lines.csv").write_text(WHOLESALER_LINES, encoding="utf-8")
    sample = read_sample(tmp_path / "lines.csv")
    result = guess(sample.frame, delimiter=sample.delimiter)
    assert (result.columns["product"], result.columns["description"]) == (
        "StockCode",
        "Description",
    )
    # POST and BANK CHARGES have no digit where most codes have one (P1 ... P6)
    assert result.non_product_codes == ["BANK CHARGES", "POST"]
    assert result.business == "b2c"  # the median line is one unit
    scaffold = scaffold_params("gifts", tmp_path / "lines.csv", params_dir=tmp_path / "params")
    assert unreviewed_keys(scaffold.text)[-3:] == [
        "transactions.non_product.codes",
        "business",
        "gross_margin",
    ]
    params = load_params(scaffold.path)
    assert params.transactions.non_product.codes == ["BANK CHARGES", "POST"]
    assert load_client(params).quality.transactions.rejected["non_product"] == 3


def test_trade_quantities_make_the_guess_b2b():
    sample = pd.DataFrame(
        {
            "Quantity": ["24", "48", "12", "96", "3"],
            "Description": ["SHIPPING FEE", "MUG", "VASE", "CUP", "Discount"],
            "SKU": ["SHIP", "A-1", "B-2", "C-3", "DISC"],
        }
    )
    mapping = {"quantity": "Quantity", "product": "SKU", "description": "Description"}
    assert guess_business(sample, mapping) == "b2b"  # median 24 units a line
    assert guess_non_product_codes(sample, mapping) == ["DISC", "SHIP"]
    assert guess_business(sample, {"quantity": None}) == "b2c"
