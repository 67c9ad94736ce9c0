"""Sub-populations: the params' filter keeps rows in the engine, accounted; one run per value.

The expected counts come from pandas on the same built-in files (an independent reading of
the raw rows), not from the engine code under test.
"""

from pathlib import Path

import pandas as pd
import pytest

import ccnb
from ccnb import datasets, report
from ccnb.batch.parallel import run_clients
from ccnb.data import load_client, population_values
from ccnb.errors import DataError, ParamsError

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params" / "demo.yaml"
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(scope="module")
def raw():
    return {
        table: datasets.builtin_frame("demo", table=table)
        for table in ("transactions", "customers", "survey")
    }


def loaded(**filter_):
    return load_client(ccnb.load_params(PARAMS, filter=[filter_]))


def test_a_transactions_column_keeps_its_rows_and_counts_the_rest(raw):
    data = loaded(column="channel", equals="web")
    quality = data.quality.transactions
    web = raw["transactions"]["channel"] == "web"
    assert quality.rows_read == web.sum()
    assert quality.outside_population == (~web).sum()
    assert quality.rows_read + quality.outside_population == len(raw["transactions"])
    assert quality.rows_read == quality.rows_used + sum(quality.rejected.values())
    assert set(data.transactions.channel.execute()) == {"web"}
    # customers and answers of the population: those with a web transaction
    web_customers = set(raw["transactions"].loc[web, "customer_id"].dropna())
    assert set(data.customers["customer_id"]) <= web_customers
    customers = data.quality.sources[1]
    assert customers.rows_read + customers.outside_population == len(raw["customers"])
    assert set(data.survey["customer_id"]) <= web_customers


def test_a_customers_column_keeps_those_customers_transactions(raw):
    data = loaded(column="acquisition_channel", **{"in": ["Referral", "Social ads"]})
    chosen = raw["customers"]["acquisition_channel"].isin(["Referral", "Social ads"])
    ids = set(raw["customers"].loc[chosen, "customer_id"])
    expected = raw["transactions"]["customer_id"].isin(ids).sum()
    quality = data.quality.transactions
    assert quality.rows_read == expected
    assert set(data.customers["acquisition_channel"]) == {"Referral", "Social ads"}


def test_between_numbers_and_dates_include_both_ends(raw):
    frame = raw["transactions"]
    amounts = pd.to_numeric(frame["amount"], errors="coerce")
    data = loaded(column="amount", between=[10, 50])
    assert data.quality.transactions.rows_read == amounts.between(10, 50).sum()
    dates = pd.to_datetime(frame["date"], errors="coerce")
    data = loaded(column="date", between=["2024-01-01", "2024-12-31"])
    inside = dates.between("2024-01-01", "2024-12-31")
    assert data.quality.transactions.rows_read == inside.sum()


def test_a_column_in_neither_file_is_a_clear_error():
    with pytest.raises(DataError, match="filter column 'country' is not in the transactions"):
        loaded(column="country", equals="UK")


def test_the_params_say_exactly_one_condition_and_a_readable_population():
    with pytest.raises(ParamsError, match="exactly one of equals, in, between"):
        ccnb.load_params(PARAMS, filter=[{"column": "channel"}])
    with pytest.raises(ParamsError, match="is empty"):
        ccnb.load_params(PARAMS, filter=[{"column": "amount", "between": [50, 10]}])
    params = ccnb.load_params(
        PARAMS,
        filter=[{"column": "channel", "in": ["web", "app"]}, {"column": "amount", "equals": 5}],
    )
    assert params.population == "channel in web, app and amount = 5"
    assert params.display_name == "Demo Retail (channel in web, app and amount = 5)"
    assert ccnb.load_params(PARAMS).population is None


def test_every_report_header_names_the_population():
    analysis = ccnb.ClientAnalysis(
        ccnb.load_params(PARAMS, filter=[{"column": "channel", "equals": "store"}])
    )
    header = report.client_header(analysis).text
    assert "**Population: channel &#61; store**" in header
    outside = analysis.quality.transactions.outside_population
    assert f"{outside:,} transaction rows of the file are outside it" in header


def test_values_to_split_by_and_the_limit(raw):
    params = ccnb.load_params(PARAMS)
    assert population_values(params, "channel") == sorted(raw["transactions"]["channel"].unique())
    within = ccnb.load_params(PARAMS, filter=[{"column": "channel", "in": ["web", "app"]}])
    assert population_values(within, "channel") == ["app", "web"]
    with pytest.raises(DataError, match="5,000 values"):
        population_values(params, "customer_id")


def test_one_run_per_value_each_with_its_own_report_set(tmp_path):
    params = tmp_path / "demo.yaml"
    text = PARAMS.read_text().replace("slug: demo", "slug: shop")
    params.write_text(text + '\nfilter:\n  - {column: channel, in: ["web", "store"]}\n')
    runs = run_clients(
        [params],
        notebook_dir=NOTEBOOKS,
        notebooks=["00"],
        output_dir=tmp_path / "out",
        each="channel",
        jobs=1,
    )
    assert [run.folder for run in runs] == ["shop-store", "shop-web"]
    assert [run.status for run in runs] == ["ok", "ok"]
    # the filter on the same column is replaced by each value (which lies inside it)
    assert runs[1].client == "Demo Retail (channel = web)"
    index = (tmp_path / "out" / "index.html").read_text()
    assert "shop-store/" in index and "shop-web/" in index
    page = (tmp_path / "out" / "shop-web" / "00_kpi_overview.html").read_text()
    assert "Population: channel = web" in page
