"""Tests for ccnb.datasets: the shipped demo files, their known truth, CDNOW, the generator."""

import numpy as np
import pandas as pd
import pytest

from ccnb.datasets import (
    BUILTIN_DATASETS,
    DEMO_BAD_ROWS,
    DEMO_BAD_SURVEY_ROWS,
    DEMO_FILES,
    DEMO_SEED,
    DEMO_TRUE_PARAMS,
    builtin_frame,
    dataset_path,
    generate_transactions,
    load_cdnow,
    load_demo,
    simulate,
)
from ccnb.datasets._demo_generator import write_demo_files

OBSERVATION_END = pd.Timestamp("2025-12-31")


def nps(scores):
    scores = pd.Series(scores)
    return 100 * ((scores >= 9).mean() - (scores <= 6).mean())


def row_problems(transactions):
    """Flag each contract problem with plain pandas, independently of the generator."""
    date = pd.to_datetime(transactions["date"], format="%Y-%m-%d", errors="coerce")
    amount = pd.to_numeric(transactions["amount"], errors="coerce")
    return pd.DataFrame(
        {
            "missing_customer_id": transactions["customer_id"].str.strip() == "",
            "bad_date": date.isna(),
            "bad_amount": amount.isna(),
            "after_observation_end": date > OBSERVATION_END,
            "duplicate": transactions.duplicated(keep="first"),
        }
    )


@pytest.fixture(scope="module")
def demo_transactions():
    return load_demo("transactions")


@pytest.fixture(scope="module")
def clean_transactions(demo_transactions):
    """The demo rows without bad ones, typed as the data contract says."""
    good = demo_transactions[~row_problems(demo_transactions).any(axis=1)]
    return good.assign(
        date=pd.to_datetime(good["date"], format="%Y-%m-%d"),
        amount=pd.to_numeric(good["amount"]),
    ).reset_index(drop=True)


@pytest.fixture(scope="module")
def demo():
    return simulate()


# --- shipped demo files ------------------------------------------------------------------


def test_load_demo_tables_have_their_columns_as_strings():
    expected = {
        "transactions": (
            16842,
            ["order_id", "customer_id", "date", "amount", "channel", "category"],
        ),
        "customers": (
            5000,
            ["customer_id", "acquisition_channel", "acquisition_cost", "acquisition_date"],
        ),
        "survey": (1500, ["customer_id", "date", "nps", "csat"]),
    }
    for table, (rows, columns) in expected.items():
        frame = load_demo(table)
        assert frame.shape == (rows, len(columns))
        assert list(frame.columns) == columns
        assert all(dtype == "str" for dtype in frame.dtypes)
        assert frame.notna().all().all()  # bad values stay as shipped text, never NaN


def test_load_demo_rejects_an_unknown_table_with_a_suggestion():
    with pytest.raises(ValueError, match="did you mean 'survey'"):
        load_demo("survy")


def test_shipped_files_are_byte_identical_to_a_fresh_regeneration(tmp_path):
    written = write_demo_files(tmp_path)
    assert sorted(path.name for path in written) == sorted(DEMO_FILES.values())
    for path in written:
        assert path.read_bytes() == dataset_path(path.name).read_bytes(), path.name


def test_simulate_returns_the_shipped_tables(demo):
    for table in DEMO_FILES:
        pd.testing.assert_frame_equal(getattr(demo, table), load_demo(table))


def test_shipped_files_are_small():
    total = sum(dataset_path(name).stat().st_size for name in DEMO_FILES.values())
    assert total < 2_000_000


def test_bad_row_counts_match_DEMO_BAD_ROWS(demo_transactions):
    problems = row_problems(demo_transactions)
    assert problems.sum().to_dict() == DEMO_BAD_ROWS
    assert problems.sum(axis=1).max() == 1  # each bad row has exactly one problem


def test_bad_dates_and_amounts_are_the_documented_strings(demo_transactions):
    problems = row_problems(demo_transactions)
    bad_dates = demo_transactions.loc[problems["bad_date"], "date"].value_counts().to_dict()
    assert bad_dates == dict.fromkeys(
        ["2023-02-30", "2022-04-31", "2024-13-01", "2021-06-00", "not a date"], 2
    )
    bad_amounts = demo_transactions.loc[problems["bad_amount"], "amount"].value_counts().to_dict()
    assert bad_amounts == {"n/a": 4, "12,3,4": 4}
    late = pd.to_datetime(demo_transactions.loc[problems["after_observation_end"], "date"])
    assert late.min() >= pd.Timestamp("2026-01-01")
    assert late.max() <= pd.Timestamp("2026-02-14")


def test_duplicates_are_exact_copies_of_purchase_rows(demo_transactions):
    copies = demo_transactions[demo_transactions.duplicated(keep=False)]
    assert len(copies) == 2 * DEMO_BAD_ROWS["duplicate"]
    assert copies["order_id"].str.startswith("O").all()


def test_clean_rows_are_generate_transactions_with_the_demo_seed(clean_transactions):
    # a duplicate may sit before its original in the file, so compare in order-id order
    generated = generate_transactions(n_customers=5000, years=5, seed=DEMO_SEED)
    shipped = clean_transactions[list(generated.columns)].astype({"date": "datetime64[ns]"})
    pd.testing.assert_frame_equal(
        shipped.sort_values("order_id", ignore_index=True),
        generated.sort_values("order_id", ignore_index=True),
    )


def test_bad_survey_rows_match_DEMO_BAD_SURVEY_ROWS():
    survey = load_demo("survey")
    nps_score, csat = survey["nps"].astype(int), survey["csat"].astype(int)
    counts = {
        "nps_out_of_range": int((~nps_score.between(0, 10)).sum()),
        "csat_out_of_range": int((~csat.between(1, 5)).sum()),
    }
    assert counts == DEMO_BAD_SURVEY_ROWS
    assert (nps_score.between(0, 10) | csat.between(1, 5)).all()  # one problem per row


# --- the demo's story ---------------------------------------------------------------------


def test_orders_returns_and_net_revenue_are_realistic(clean_transactions):
    orders = clean_transactions[clean_transactions["order_id"].str.startswith("O")]
    returns = clean_transactions[clean_transactions["order_id"].str.startswith("R")]
    assert (orders["amount"] > 0).all() and (returns["amount"] < 0).all()
    assert 0.03 <= len(returns) / len(orders) <= 0.04
    assert 60 <= orders["amount"].mean() <= 90
    net_revenue = clean_transactions.groupby("customer_id")["amount"].sum()
    assert 1 <= (net_revenue <= 0).sum() <= 50
    per_customer = orders.groupby("customer_id").agg(
        orders=("order_id", "size"), days=("date", "nunique")
    )
    assert (per_customer["orders"] > per_customer["days"]).sum() > 100
    assert (per_customer["days"] <= 6).mean() > 0.85  # most customers buy 1-6 times
    assert per_customer["days"].max() >= 30  # a long tail of loyal customers


def test_holiday_seasons_are_visible(clean_transactions):
    customers = load_demo("customers")
    acquired = pd.to_datetime(customers["acquisition_date"])
    assert acquired.min() >= pd.Timestamp("2021-01-01")
    assert acquired.max() <= OBSERVATION_END
    holiday_share = acquired.dt.month.isin([11, 12]).mean()
    # 61 holiday days weighted 2.5 against 304 weighted 1 (growth aside): about 1/3
    assert 0.28 <= holiday_share <= 0.38
    orders = clean_transactions[clean_transactions["amount"] > 0]
    assert orders["date"].max() <= OBSERVATION_END


def test_channels_differ_in_cost_and_quality(demo):
    customers = load_demo("customers").astype({"acquisition_cost": float})
    realised_share = customers["acquisition_channel"].value_counts(normalize=True)
    mean_cost = customers.groupby("acquisition_channel")["acquisition_cost"].mean()
    for name, truth in DEMO_TRUE_PARAMS["channels"].items():
        assert realised_share[name] == pytest.approx(truth["share"], abs=0.02)
        assert mean_cost[name] == pytest.approx(truth["cac"], rel=0.1)
    by_channel = demo.truth.groupby("acquisition_channel")[["lambda", "p_dropout"]].mean()
    assert by_channel["p_dropout"].idxmax() == "Social ads"
    assert by_channel["lambda"].idxmax() == "Referral"
    first_year = pd.to_datetime(customers["acquisition_date"]).dt.year == 2021
    last_year = pd.to_datetime(customers["acquisition_date"]).dt.year == 2025
    social = customers["acquisition_channel"] == "Social ads"
    assert social[last_year].mean() > social[first_year].mean() + 0.1  # Social ads grow


def test_true_pooled_parameters_are_the_share_weighted_mixture():
    channels = DEMO_TRUE_PARAMS["channels"]
    pooled = DEMO_TRUE_PARAMS["pooled"]
    assert sum(c["share"] for c in channels.values()) == pytest.approx(1.0)
    mean_lambda = sum(c["share"] * c["r"] / c["alpha"] for c in channels.values())
    mean_dropout = sum(c["share"] * c["a"] / (c["a"] + c["b"]) for c in channels.values())
    assert pooled["mean_lambda"] == pytest.approx(mean_lambda)
    assert pooled["r"] / pooled["alpha"] == pytest.approx(mean_lambda)
    assert pooled["a"] / (pooled["a"] + pooled["b"]) == pytest.approx(mean_dropout)
    assert pooled["mean_spend"] == pytest.approx(6 * 37.5 / 3)


def test_truth_table_is_consistent_with_the_transactions(demo, clean_transactions):
    truth = demo.truth
    customers = load_demo("customers")
    assert list(truth["customer_id"]) == list(customers["customer_id"])
    assert list(truth["acquisition_channel"]) == list(customers["acquisition_channel"])
    purchases = clean_transactions[clean_transactions["amount"] > 0]
    per_customer = purchases.groupby("customer_id").agg(
        orders=("order_id", "size"), days=("date", "nunique")
    )
    events = truth.set_index("customer_id")["repeat_purchases"] + 1
    per_customer = per_customer.join(events.rename("events"))
    # same-day events merge into one day; split days add orders
    assert (per_customer["days"] <= per_customer["events"]).all()
    assert (per_customer["orders"] >= per_customer["events"]).all()
    dead = ~truth["alive_at_end"]
    assert (truth.loc[dead, "expected_purchases_next_52_weeks"] == 0).all()
    assert (truth.loc[~dead, "expected_purchases_next_52_weeks"] > 0).all()
    assert 0.2 < truth["alive_at_end"].mean() < 0.8


def test_nps_differs_by_customer_value(demo):
    survey = load_demo("survey").astype({"nps": int, "csat": int})
    survey = survey[survey["nps"].between(0, 10) & survey["csat"].between(1, 5)]
    survey = survey.merge(demo.truth, on="customer_id")
    by_channel = survey.groupby("acquisition_channel")["nps"].apply(nps)
    assert by_channel["Referral"] - by_channel["Social ads"] > 30
    high_value = survey["lambda"] * survey["mean_spend"]
    top = high_value >= high_value.median()
    assert nps(survey.loc[top, "nps"]) - nps(survey.loc[~top, "nps"]) > 20
    first_purchase = survey.set_index("customer_id")["acquisition_date"]
    answered = pd.to_datetime(survey.set_index("customer_id")["date"])
    assert (answered > first_purchase).all()
    assert answered.max() <= OBSERVATION_END


# --- recoverability: the generator's truth comes back out of lifetimes ---------------------


@pytest.fixture(scope="module")
def demo_summary(clean_transactions):
    from lifetimes.utils import summary_data_from_transaction_data

    purchases = clean_transactions[clean_transactions["amount"] > 0]
    return summary_data_from_transaction_data(
        purchases,
        "customer_id",
        "date",
        monetary_value_col="amount",
        observation_period_end="2025-12-31",
        freq="D",
        freq_multiplier=7,
    )


def test_bg_nbd_recovers_the_true_mean_purchase_rate(demo_summary):
    from lifetimes import BetaGeoFitter

    fitter = BetaGeoFitter().fit(
        demo_summary["frequency"], demo_summary["recency"], demo_summary["T"]
    )
    fitted = fitter.params_
    channels = DEMO_TRUE_PARAMS["channels"].values()
    true_mean_lambda = sum(c["share"] * c["r"] / c["alpha"] for c in channels)
    true_mean_dropout = sum(c["share"] * c["a"] / (c["a"] + c["b"]) for c in channels)
    pooled = DEMO_TRUE_PARAMS["pooled"]
    print(
        f"\nBG/NBD fitted r={fitted['r']:.3f} alpha={fitted['alpha']:.2f} "
        f"a={fitted['a']:.3f} b={fitted['b']:.3f}; moment-matched truth r={pooled['r']:.3f} "
        f"alpha={pooled['alpha']:.2f} a={pooled['a']:.3f} b={pooled['b']:.3f}\n"
        f"mean lambda per week fitted {fitted['r'] / fitted['alpha']:.4f} "
        f"true {true_mean_lambda:.4f}; mean dropout fitted "
        f"{fitted['a'] / (fitted['a'] + fitted['b']):.3f} true {true_mean_dropout:.3f}"
    )
    assert fitted["r"] / fitted["alpha"] == pytest.approx(true_mean_lambda, rel=0.25)
    assert fitted["a"] / (fitted["a"] + fitted["b"]) == pytest.approx(true_mean_dropout, rel=0.25)


def test_gamma_gamma_recovers_the_true_mean_spend(demo_summary):
    from lifetimes import GammaGammaFitter

    repeat = demo_summary[demo_summary["frequency"] > 0]
    fitted = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"]).params_
    fitted_mean_spend = fitted["p"] * fitted["v"] / (fitted["q"] - 1)
    print(f"\nGamma-Gamma fitted p={fitted['p']:.2f} q={fitted['q']:.2f} v={fitted['v']:.1f}")
    assert fitted_mean_spend == pytest.approx(DEMO_TRUE_PARAMS["pooled"]["mean_spend"], rel=0.15)


# --- CDNOW --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "rows", "customers"), [("sample", 6919, 2357), ("master", 69659, 23570)]
)
def test_load_cdnow_counts_and_contract_types(kind, rows, customers):
    cdnow = load_cdnow(kind)
    assert cdnow.shape == (rows, 4)
    assert cdnow["customer_id"].nunique() == customers
    assert list(cdnow.columns) == ["customer_id", "date", "amount", "quantity"]
    assert "order_id" not in cdnow.columns
    assert cdnow["customer_id"].dtype == "str"
    assert cdnow["date"].dtype == "datetime64[ns]"
    assert cdnow["amount"].dtype == "float64"
    assert cdnow["quantity"].dtype == "int64"
    assert cdnow["date"].min() == pd.Timestamp("1997-01-01")
    assert cdnow["date"].max() == pd.Timestamp("1998-06-30")
    first_purchase = cdnow.groupby("customer_id")["date"].min()
    assert first_purchase.max() <= pd.Timestamp("1997-03-31")  # a first-quarter 1997 cohort


def test_load_cdnow_sample_rows_read_as_in_the_file():
    # first line of CDNOW_sample.txt: " 00004 0001 19970101  2   29.33"
    first = load_cdnow("sample").iloc[0]
    assert first["customer_id"] == "00004"
    assert first["date"] == pd.Timestamp("1997-01-01")
    assert first["quantity"] == 2
    assert first["amount"] == pytest.approx(29.33)


def test_cdnow_sample_uses_master_customer_ids():
    sample = load_cdnow("sample")
    master = load_cdnow("master")
    assert set(sample["customer_id"]) <= set(master["customer_id"])
    key = ["customer_id", "date", "quantity", "amount"]
    assert len(sample[key].merge(master[key].drop_duplicates(), on=key)) == len(sample)


# --- builtin registry --------------------------------------------------------------------


def test_builtin_frames_are_the_loaders():
    assert set(BUILTIN_DATASETS) == {"demo", "cdnow_sample", "cdnow_master"}
    pd.testing.assert_frame_equal(builtin_frame("demo"), load_demo())
    pd.testing.assert_frame_equal(builtin_frame("demo", table="survey"), load_demo("survey"))
    pd.testing.assert_frame_equal(builtin_frame("cdnow_sample"), load_cdnow("sample"))
    assert not BUILTIN_DATASETS["demo"].typed and BUILTIN_DATASETS["cdnow_master"].typed
    for name, dataset in BUILTIN_DATASETS.items():
        assert tuple(builtin_frame(name).columns) == dataset.columns
        for table in dataset.tables:
            assert dataset_path(name, table=table).is_file()


def test_builtin_names_are_checked():
    with pytest.raises(ValueError, match="did you mean 'cdnow_sample'"):
        builtin_frame("cdnow_sampel")
    with pytest.raises(ValueError, match="table 'survey' of builtin dataset 'cdnow_master'"):
        builtin_frame("cdnow_master", table="survey")
    assert dataset_path("cdnow_master").name == "CDNOW_master.txt"
    assert dataset_path("demo", table="customers").name == "demo_customers.csv.gz"


# --- generate_transactions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_customers", "target"), [(2_000, 20_000), (20_000, 40_000), (500, 100_000)]
)
def test_generate_transactions_meets_the_requested_size(n_customers, target):
    frame = generate_transactions(n_customers=n_customers, n_transactions_target=target, seed=3)
    assert len(frame) == pytest.approx(target, rel=0.08)
    assert frame["customer_id"].nunique() == n_customers


def test_generate_transactions_has_the_contract_shape():
    frame = generate_transactions(n_customers=1_000, n_transactions_target=10_000, years=2, seed=1)
    assert list(frame.columns) == [
        "customer_id",
        "date",
        "amount",
        "order_id",
        "channel",
        "category",
    ]
    assert frame.dtypes.astype(str).to_dict() == {
        "customer_id": "str",
        "date": "datetime64[ns]",
        "amount": "float64",
        "order_id": "str",
        "channel": "str",
        "category": "str",
    }
    assert frame["date"].is_monotonic_increasing
    assert (frame["date"] == frame["date"].dt.normalize()).all()
    assert frame["date"].min() >= pd.Timestamp("2024-01-01")
    assert frame["date"].max() <= OBSERVATION_END
    assert frame["order_id"].is_unique
    assert set(frame["channel"]) == {"web", "app", "store"}
    assert set(frame["category"]) == {"Home", "Fashion", "Beauty", "Electronics"}
    is_return = frame["order_id"].str.startswith("R")
    assert (frame.loc[is_return, "amount"] < 0).all()
    assert (frame.loc[~is_return, "amount"] > 0).all()
    assert np.allclose(frame["amount"], frame["amount"].round(2))


def test_generate_transactions_is_deterministic_for_a_seed():
    first = generate_transactions(n_customers=300, n_transactions_target=3_000, seed=7)
    again = generate_transactions(n_customers=300, n_transactions_target=3_000, seed=7)
    other = generate_transactions(n_customers=300, n_transactions_target=3_000, seed=8)
    pd.testing.assert_frame_equal(first, again)
    assert not first["amount"].equals(other["amount"])


def test_generate_transactions_rejects_an_impossible_target():
    with pytest.raises(ValueError, match="too small"):
        generate_transactions(n_customers=1_000, n_transactions_target=900)


def test_categories_follow_the_customers_true_value(demo):
    """The favourite category's true mean value (lambda x mean spend) rises Home < Fashion <
    Beauty < Electronics, and a return carries its order's category."""
    truth = demo.truth
    value = (truth["lambda"] * truth["mean_spend"]).groupby(truth["favourite_category"]).mean()
    assert list(value.sort_values().index) == ["Home", "Fashion", "Beauty", "Electronics"]
    frame = generate_transactions(n_customers=2_000, years=2, seed=5)
    returns = frame[frame["order_id"].str.startswith("R")]
    assert returns["category"].isin(["Home", "Fashion", "Beauty", "Electronics"]).all()
