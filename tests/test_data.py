import datetime as dt
import textwrap
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ccnb import engine
from ccnb.data import DataError, load_client
from ccnb.params import EngineSettings, load_params

SALES = """\
order_id,customer,order_date,revenue,store
O1,C1,2024-01-05,100.00,web
O2,,2024-01-06,20.00,web
O3,C2,2024-02-30,15.00,web
O4,C2,2024-02-01,n/a,web
O5,C3,2025-01-02,30.00,web
O6,C3,2024-03-01,-12.50,web
O1,C1,2024-01-05,100.00,web
O7,C3,2024-03-01,"$1,234.50",app
O8,  C4 ,2024-04-01, 5 ,web
"""

PARAMS = """\
client: Acme
transactions:
  path: sales.csv
  columns:
    customer_id: customer
    date: order_date
    amount: revenue
    order_id: order_id
    channel: store
observation_end: 2024-12-31
"""


def make_client(tmp_path: Path, sales: str = SALES, params: str = PARAMS, **overrides):
    (tmp_path / "sales.csv").write_text(sales)
    (tmp_path / "acme.yaml").write_text(params)
    return load_client(load_params(tmp_path / "acme.yaml", **overrides))


def transactions(client) -> pd.DataFrame:
    return client.transactions.order_by(["customer_id", "date", "amount"]).execute()


def assert_accounted(client):
    for source in client.quality.sources:
        assert source.rows_read == source.rows_used + sum(source.rejected.values())
    rejected = client.quality.rejected_rows
    for source in client.quality.sources:
        in_frame = rejected[rejected["source"] == source.source]["reason"].value_counts()
        assert in_frame.to_dict() == source.rejected


def test_every_bad_row_is_counted_under_its_reason(tmp_path):
    client = make_client(tmp_path)
    quality = client.quality
    assert quality.rows_read == 9
    assert quality.rows_used == 4
    assert quality.rejected == {
        "missing_customer_id": 1,
        "bad_date": 1,
        "bad_amount": 1,
        "after_observation_end": 1,
        "duplicate": 1,
    }
    assert_accounted(client)
    rejected = quality.rejected_rows.set_index("row")
    assert rejected.loc[2, "reason"] == "missing_customer_id"
    assert rejected.loc[3, "reason"] == "bad_date" and rejected.loc[3, "order_date"] == "2024-02-30"
    assert rejected.loc[4, "revenue"] == "n/a"
    assert rejected.loc[7, "reason"] == "duplicate"
    assert list(quality.rejected_rows.columns[:3]) == ["source", "row", "reason"]


def test_valid_rows_are_parsed_and_returns_netted(tmp_path):
    frame = transactions(make_client(tmp_path))
    assert frame["customer_id"].tolist() == ["C1", "C3", "C3", "C4"]
    assert frame["amount"].tolist() == [100.0, -12.5, 1234.5, 5.0]
    assert frame["order_id"].tolist() == ["O1", "O6", "O7", "O8"]
    assert frame["channel"].tolist() == ["web", "web", "app", "web"]
    assert frame["date"].dt.date.tolist() == [
        dt.date(2024, 1, 5),
        dt.date(2024, 3, 1),
        dt.date(2024, 3, 1),
        dt.date(2024, 4, 1),
    ]


def test_returns_excluded_when_asked(tmp_path):
    client = make_client(tmp_path, returns="exclude")
    assert client.quality.rejected["return"] == 1
    assert client.quality.rows_used == 3
    assert_accounted(client)


def test_observation_end_defaults_to_last_date(tmp_path):
    client = make_client(tmp_path, observation_end=None)
    assert client.observation_end == dt.date(2025, 1, 2)
    assert "after_observation_end" not in client.quality.rejected


def test_identical_rows_without_order_id_are_kept(tmp_path):
    params = PARAMS.replace("    order_id: order_id\n", "")
    client = make_client(tmp_path, params=params)
    assert "duplicate" not in client.quality.rejected
    assert client.quality.rows_used == 5
    assert_accounted(client)


def test_missing_column_names_file_columns_and_closest_match(tmp_path):
    params = PARAMS.replace("customer_id: customer", "customer_id: custmer")
    with pytest.raises(DataError) as error:
        make_client(tmp_path, params=params)
    message = str(error.value)
    assert "'custmer'" in message and "sales.csv" in message
    assert "['order_id', 'customer', 'order_date', 'revenue', 'store']" in message
    assert "did you mean 'customer'?" in message


def test_mostly_unparseable_dates_is_an_error_suggesting_a_format(tmp_path):
    sales = "customer,order_date,revenue\nC1,05/01/2024,1\nC2,06/01/2024,2\nC3,2024-01-07,3\n"
    params = PARAMS.replace("    order_id: order_id\n", "").replace("    channel: store\n", "")
    with pytest.raises(DataError, match="date_format") as error:
        make_client(tmp_path, sales=sales, params=params)
    assert "2 of 3 dates" in str(error.value) and "05/01/2024" in str(error.value)
    params = params.replace("  columns:", "  date_format: '%d/%m/%Y'\n  columns:")
    client = make_client(tmp_path, sales=sales, params=params)
    assert client.quality.rejected == {"bad_date": 1}
    assert transactions(client)["date"].dt.date.tolist()[0] == dt.date(2024, 1, 5)


@pytest.mark.parametrize(
    ("text", "decimal", "thousands", "expected"),
    [
        ("1.234,50 EUR", ",", ".", 1234.5),
        ("€ 1.234,50", ",", ".", 1234.5),
        ("1 234,50", ",", " ", 1234.5),
        ("$1,234.50", ".", ",", 1234.5),
        ("1234.5", ".", ",", 1234.5),
        ("(12.00)", ".", ",", -12.0),
        ("-7", ".", ",", -7.0),
        ("1.234,50 EUR", ".", ",", None),  # ambiguous under these separators
        ("12,3,4", ".", ",", None),
        ("1,2345.00", ".", ",", None),
        ("abc", ".", ",", None),
    ],
)
def test_amount_parsing_per_separators(tmp_path, text, decimal, thousands, expected):
    sales = f'customer,order_date,revenue\nC1,2024-01-01,"{text}"\nC2,2024-01-02,1\n'
    params = PARAMS.replace("    order_id: order_id\n", "").replace("    channel: store\n", "")
    params = params.replace(
        "  columns:", f"  decimal: '{decimal}'\n  thousands: '{thousands}'\n  columns:"
    )
    client = make_client(tmp_path, sales=sales, params=params)
    frame = transactions(client)
    if expected is None:
        assert client.quality.rejected == {"bad_amount": 1}
        assert frame["customer_id"].tolist() == ["C2"]
    else:
        assert client.quality.rejected == {}
        assert frame.loc[frame.customer_id == "C1", "amount"].item() == pytest.approx(expected)


def test_amount_from_quantity_times_unit_price(tmp_path):
    sales = "cust,day,qty,price\nC1,2024-01-01,3,2.50\nC1,2024-01-02,x,1\n"
    params = textwrap.dedent(
        """\
        client: Acme
        transactions:
          path: sales.csv
          columns: {customer_id: cust, date: day, amount: null, quantity: qty, unit_price: price}
        """
    )
    client = make_client(tmp_path, sales=sales, params=params)
    assert transactions(client)["amount"].tolist() == [7.5]
    assert client.quality.rejected == {"bad_amount": 1}


def test_parquet_xlsx_and_duckdb_sources(tmp_path):
    frame = pd.DataFrame(
        {
            "customer": ["C1", "C2", None],
            "order_date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "revenue": [10.0, 20.0, 30.0],
        }
    )
    base = PARAMS.replace("    order_id: order_id\n", "").replace("    channel: store\n", "")
    frame.to_parquet(tmp_path / "sales.parquet")
    frame.to_excel(tmp_path / "sales.xlsx", index=False)
    with duckdb.connect(str(tmp_path / "shop.duckdb")) as con:
        con.execute("CREATE TABLE orders AS SELECT * FROM frame")
    sources = {
        "parquet": base.replace("sales.csv", "sales.parquet"),
        "xlsx": base.replace("sales.csv", "sales.xlsx"),
        "duckdb": base.replace("path: sales.csv", "path: shop.duckdb\n  table: orders"),
    }
    for kind, params in sources.items():
        (tmp_path / f"{kind}.yaml").write_text(params)
        client = load_client(load_params(tmp_path / f"{kind}.yaml"))
        assert client.quality.rejected == {"missing_customer_id": 1}, kind
        assert transactions(client)["amount"].tolist() == [10.0, 20.0], kind


def test_missing_file_is_a_data_error(tmp_path):
    (tmp_path / "acme.yaml").write_text(PARAMS)
    with pytest.raises(DataError, match="not found"):
        load_client(load_params(tmp_path / "acme.yaml"))


CUSTOMERS = """\
id,channel,cac
C1,Paid search,35.5
C3,Referral,
,Referral,12
C1,Organic,1
C4,Social,abc
"""

SURVEY = """\
id,answered,nps,csat
C1,2024-02-01,10,5
C3,2024-03-01,11,4
C3,2024-03-02,6,0
C4,not a date,9,5
C4,2024-05-01,,
,2024-05-02,7,3
C4,2024-05-03,8,
"""


def test_customers_and_survey_are_validated(tmp_path):
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "survey.csv").write_text(SURVEY)
    params = PARAMS + textwrap.dedent(
        """\
        customers:
          path: customers.csv
          columns: {customer_id: id, acquisition_channel: channel, acquisition_cost: cac}
        survey:
          path: survey.csv
          columns: {customer_id: id, date: answered}
        """
    )
    client = make_client(tmp_path, params=params)
    customers = client.customers
    assert customers["customer_id"].tolist() == ["C1", "C3"]
    assert customers["acquisition_cost"].iloc[0] == 35.5
    assert pd.isna(customers["acquisition_cost"].iloc[1])
    by_source = {source.source: source for source in client.quality.sources}
    assert by_source["customers"].rejected == {
        "missing_customer_id": 1,
        "duplicate_customer": 1,
        "bad_amount": 1,
    }
    assert by_source["survey"].rejected == {
        "nps_out_of_range": 1,
        "csat_out_of_range": 1,
        "bad_date": 1,
        "no_score": 1,
        "missing_customer_id": 1,
    }
    survey = client.survey
    assert survey["customer_id"].tolist() == ["C1", "C4"]
    assert survey["nps"].tolist() == [10, 8]
    assert survey["csat"].isna().tolist() == [False, True]
    assert_accounted(client)


def test_pseudonymized_ids_match_across_sources(tmp_path):
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    params = PARAMS + (
        "customers:\n  path: customers.csv\n"
        "  columns: {customer_id: id, acquisition_channel: channel, acquisition_cost: cac}\n"
        "pseudonymize_ids: true\n"
    )
    client = make_client(tmp_path, params=params)
    ids = set(transactions(client)["customer_id"])
    assert "C1" not in ids and all(len(value) == 16 for value in ids)
    assert set(client.customers["customer_id"]) <= ids


def test_quality_report_renders(tmp_path):
    quality = make_client(tmp_path).quality
    text = repr(quality)
    assert "9 rows read, 4 used, 5 rejected" in text and "bad_amount: 1" in text
    html = quality._repr_html_()
    assert "<table" in html and "missing_customer_id: 1" in html
    table = quality.table()
    assert table.loc[0, "rows_rejected"] == 5
    assert quality.to_dict()["transactions"]["rejected"]["duplicate"] == 1


PARAMS_DIR = Path(__file__).resolve().parents[1] / "params"


def test_demo_dataset_accounting_matches_the_generator():
    from ccnb.datasets import DEMO_BAD_ROWS, DEMO_BAD_SURVEY_ROWS

    client = load_client(load_params(PARAMS_DIR / "demo.yaml"))
    assert client.quality.rejected == DEMO_BAD_ROWS
    by_source = {source.source: source for source in client.quality.sources}
    assert by_source["survey"].rejected == DEMO_BAD_SURVEY_ROWS
    assert by_source["customers"].rejected == {}
    assert by_source["customers"].rows_used == 5000
    assert client.observation_end == dt.date(2025, 12, 31)
    assert_accounted(client)


def test_cdnow_dataset_accounting():
    client = load_client(load_params(PARAMS_DIR / "cdnow.yaml"))
    quality = client.quality
    assert (quality.rows_read, quality.rows_used, quality.rejected) == (6919, 6919, {})
    assert quality.transactions.customers == 2357
    assert client.customers is None and client.survey is None
    assert_accounted(client)


def test_pseudonyms_are_keyed_and_no_raw_id_reaches_the_rejected_rows(tmp_path, monkeypatch):
    """An e-mail address as id: hashed with the engagement's key (not the slug), the same in a
    second run, different under another key; the rejected rows show the pseudonym too."""
    import hashlib

    from ccnb import privacy

    monkeypatch.delenv(privacy.KEY_VARIABLE, raising=False)
    (tmp_path / "sales.csv").write_text(
        "customer_id,date,amount\n"
        "ann@example.com,2024-01-01,10\n"
        "ann@example.com,2024-02-01,12\n"
        "bob@example.com,not a date,5\n"
    )
    (tmp_path / "p.yaml").write_text(
        "client: T\nslug: t\ntransactions:\n  path: sales.csv\npseudonymize_ids: true\n"
    )
    params = load_params(tmp_path / "p.yaml")
    first = load_client(params)
    key_file = tmp_path / privacy.KEY_FILE
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    ids = set(first.transactions.execute()["customer_id"])
    assert len(ids) == 1 and "ann@example.com" not in ids
    (pseudonym,) = ids
    assert pseudonym != hashlib.sha256(b"t:ann@example.com").hexdigest()[:16]  # not the slug
    rejected = first.quality.rejected_rows
    assert "bob@example.com" not in rejected.to_csv()
    assert (
        rejected["customer_id"].tolist()
        == privacy.pseudonymize(
            pd.Series(["bob@example.com"]), key=key_file.read_text().strip().encode()
        ).tolist()
    )
    again = load_client(load_params(tmp_path / "p.yaml"))
    assert set(again.transactions.execute()["customer_id"]) == ids  # stable in the engagement
    monkeypatch.setenv(privacy.KEY_VARIABLE, "another engagement")
    other = load_client(load_params(tmp_path / "p.yaml"))
    assert set(other.transactions.execute()["customer_id"]).isdisjoint(ids)


def test_duckdb_gets_its_memory_limit_and_a_spill_folder_outside_the_working_directory(tmp_path):
    """DuckDB holds at most engine.memory_limit, spills to a temporary folder, not ./.tmp, and
    gives freed memory back in the background (benchmarks/README.md, big client)."""
    with pytest.raises(ValueError, match="memory_limit"):
        EngineSettings(memory_limit="lots")
    connection = engine.connect(EngineSettings(memory_limit="1.5GB"))
    settings = dict(
        connection.raw_sql(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('memory_limit', 'temp_directory', 'enable_progress_bar', "
            "'allocator_background_threads')"
        ).fetchall()
    )
    assert settings["memory_limit"] in ("1.3 GiB", "1.4 GiB")  # DuckDB prints 1.5 GB in GiB
    assert settings["enable_progress_bar"] == "false"
    assert settings["allocator_background_threads"] == "true"
    assert "ccnb-duckdb-spill-" in settings["temp_directory"]
    assert not Path(settings["temp_directory"]).resolve().is_relative_to(Path.cwd().resolve())


def test_a_line_without_customer_or_date_is_a_total_but_an_unreadable_date_is_not(tmp_path):
    sales = SALES + ",,,1210.00,\nO9,,2024-13-45,20.00,web\n"
    client = make_client(tmp_path, sales=sales)
    rejected = client.quality.rejected_rows.set_index("row")
    # rows 10 and 11 of the file: the blank line's sum, and a line with a broken date
    assert rejected.loc[10, "reason"] == "totals_row"
    assert rejected.loc[11, "reason"] == "missing_customer_id"
    assert rejected.loc[11, "order_date"] == "2024-13-45"
    assert_accounted(client)
