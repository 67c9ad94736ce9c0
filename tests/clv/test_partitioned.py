"""Predictions in partitions against `clv.predict` on the whole CDNOW sample.

The CDNOW summary is lifetimes' own (`load_cdnow_summary_data_with_monetary_value`: 2,357
customers, weeks), so the inputs do not depend on ccnb.summary.

The partitions share the plan's parameter draws, so everything at the estimates and every
parameter-only interval equals predict's; each partition draws its customers' own
randomness from its own stream, so the predictive draws agree in distribution, not draw by draw.
"""

import dataclasses

import lifetimes.datasets
import numpy as np
import pandas as pd
import pytest

from ccnb import clv
from ccnb.clv import partitioned
from ccnb.clv.cuts import top_decile_share

OPTIONS = dict(
    gross_margin=0.3,
    discount_rate_annual=0.1,
    horizon_months=12,
    time_unit="W",
    n_draws=200,
    seed=7,
)
AT_THE_ESTIMATES = [
    "p_alive",
    "p_no_purchase",
    "expected_purchases",
    "expected_spend",
    "rclv",
    "rclv_param_low",
    "rclv_param_high",
]


@pytest.fixture(scope="module")
def customers():
    """The CDNOW summary with a segment by repeat purchases (one-time, 1-2, 3 or more)."""
    summary = lifetimes.datasets.load_cdnow_summary_data_with_monetary_value().reset_index()
    summary["customer_id"] = summary["customer_id"].astype(str)
    segment = np.select(
        [summary["frequency"] == 0, summary["frequency"] < 3], ["one-time", "few"], "many"
    )
    return summary.assign(segment=segment)


@pytest.fixture(scope="module")
def purchases(customers):
    return clv.fit_purchases(customers, model="bgnbd")


@pytest.fixture(scope="module")
def spend(customers):
    return clv.fit_spend(customers)


def run_in_partitions(customers, plan, *, n_partitions=3):
    """The partitions as an engine would run them: a hash of customer_id, one stream each."""
    part = pd.util.hash_array(customers["customer_id"].to_numpy()) % n_partitions
    results = [
        partitioned.predict_partition(customers[part == k], plan, stream=k)
        for k in range(n_partitions)
    ]
    table = pd.concat([table for table, _ in results]).sort_values("customer_id")
    totals = pd.concat([totals for _, totals in results])
    combined = partitioned.combine_partitions(
        plan, totals, top_decile_share=top_decile_share(table["rclv"])
    )
    return table.reset_index(drop=True), combined


def plan_for(customers, purchases, spend, **options):
    return partitioned.plan_predictions(
        customers[["frequency", "recency", "T"]],
        purchases=purchases,
        spend=spend,
        group_by="segment",
        **{**OPTIONS, **options},
    )


@pytest.fixture(scope="module")
def whole(customers, purchases, spend):
    return clv.predict(customers, purchases=purchases, spend=spend, **OPTIONS)


@pytest.fixture(scope="module")
def plan(customers, purchases, spend):
    return plan_for(customers, purchases, spend)


@pytest.fixture(scope="module")
def parts(customers, plan):
    return run_in_partitions(customers, plan)


def test_the_plan_draws_what_predict_draws(plan, whole):
    assert plan.n_draws == whole.settings["n_draws"] == 200
    np.testing.assert_allclose(plan.new_customer_draws, whole.new_customer_draws, rtol=1e-12)
    assert plan.new_customer_value == pytest.approx(whole.new_customer_value, rel=1e-12)


def test_partitions_give_each_customer_predicts_values(parts, whole):
    table, _ = parts
    expected = whole.table.sort_values("customer_id").reset_index(drop=True)
    assert table["customer_id"].tolist() == expected["customer_id"].tolist()
    for column in AT_THE_ESTIMATES:
        np.testing.assert_allclose(table[column], expected[column], rtol=1e-6, err_msg=column)


def test_the_partitions_tables_are_predicts_per_customer_predictions(parts, whole):
    """Read back in any order, the partitions' rows give predict's table (deciles ranked over
    the whole base), its monthly margins and a new customer's value, without draws."""
    table, combined = parts
    result = partitioned.predictions_from_partitions(
        table.sample(frac=1.0, random_state=3), combined
    )
    order = whole.table["customer_id"].argsort(kind="stable").to_numpy()
    expected = whole.table.iloc[order].reset_index(drop=True)
    assert result.table.columns.tolist() == whole.table.columns.tolist()
    assert result.table["customer_id"].tolist() == expected["customer_id"].tolist()
    for column in [*AT_THE_ESTIMATES, "decile"]:
        np.testing.assert_allclose(result.table[column], expected[column], rtol=1e-6)
    assert result.monthly_margin.dtype == np.float32
    np.testing.assert_allclose(result.monthly_margin, whole.monthly_margin[order], rtol=1e-6)
    assert result.monthly_margin.shape == (2357, OPTIONS["horizon_months"])
    assert result.new_customer_value == pytest.approx(whole.new_customer_value, rel=1e-12)
    assert np.asarray(result.rclv_draws).shape == (0, 2357)
    assert result.settings["n_draws"] == 200
    with pytest.raises(ValueError, match="several rows"):
        partitioned.predictions_from_partitions(pd.concat([table, table.head(1)]), combined)
    # what an export reads: the same table from the customer columns alone
    customer_columns = table[["customer_id", *partitioned.CUSTOMER_COLUMNS]]
    pd.testing.assert_frame_equal(
        partitioned.customer_table_from_partitions(
            customer_columns.sample(frac=1.0, random_state=5)
        ),
        result.table,
    )


def test_partition_totals_are_predicts_draws_summed_per_group(parts, whole, customers):
    _, combined = parts
    segment = customers.set_index("customer_id")["segment"].reindex(whole.table["customer_id"])
    expected_draws = np.asarray(whole.rclv_parameter_draws)
    groups = combined.groups.set_index("segment")
    for row, name in enumerate(groups.index):
        members = (segment == name).to_numpy()
        assert groups.loc[name, "n_customers"] == members.sum()
        np.testing.assert_allclose(
            combined.rclv_parameter_draws[row],
            expected_draws[:, members].sum(axis=1, dtype=float),
            rtol=1e-6,
        )


def test_parameter_intervals_equal_predicts(parts, whole, customers):
    _, combined = parts
    equity = combined.customer_equity(uncertainty="parameter")
    reference = clv.customer_equity(whole, uncertainty="parameter")
    for name in ("value", "low", "high", "existing_customers", "top_decile_share"):
        assert getattr(equity, name) == pytest.approx(getattr(reference, name), rel=1e-6), name
    assert equity.n_customers == reference.n_customers == len(customers)
    by_group = combined.clv_by_group(uncertainty="parameter")
    expected = clv.clv_by(whole, by="segment", segments=customers, uncertainty="parameter")
    pd.testing.assert_frame_equal(by_group, expected[by_group.columns], rtol=1e-6)


def test_predictive_draws_agree_with_predicts_in_distribution(parts, whole):
    """Own randomness differs by stream: the totals' mean and spread agree within Monte Carlo."""
    _, combined = parts
    ours = combined.rclv_draws.sum(axis=0)
    theirs = np.asarray(whole.rclv_draws).sum(axis=1, dtype=float)
    spread = theirs.std()
    assert abs(ours.mean() - theirs.mean()) < 3 * spread * np.sqrt(2 / len(theirs))
    assert 0.8 < ours.std() / spread < 1.25
    # per customer, the predictive bounds agree on average over the 2,357 customers
    table, _ = parts
    expected = whole.table.sort_values("customer_id")
    for bound in ("rclv_high", "purchases_high"):
        assert table[bound].mean() == pytest.approx(expected[bound].mean(), rel=0.03), bound


def test_a_partition_gives_the_same_draws_in_any_row_order(customers, plan):
    some = customers.iloc[:300]
    first = partitioned.predict_partition(some, plan, stream=4)
    shuffled = partitioned.predict_partition(some.sample(frac=1, random_state=1), plan, stream=4)
    pd.testing.assert_frame_equal(first[0], shuffled[0])
    pd.testing.assert_frame_equal(first[1], shuffled[1])
    other_stream = partitioned.predict_partition(some, plan, stream=5)[1]
    pd.testing.assert_series_equal(  # parameter draws are shared, own randomness is not
        other_stream["rclv_expected_draw_sum"], first[1]["rclv_expected_draw_sum"]
    )
    assert not other_stream["rclv_draw_sum"].equals(first[1]["rclv_draw_sum"])


def test_a_draw_invalid_for_any_customer_is_dropped_as_predict_drops_it(
    customers, purchases, wide_spend
):
    wide = wide_spend
    whole = clv.predict(customers, purchases=purchases, spend=wide, **OPTIONS)
    plan = plan_for(customers, purchases, wide)
    assert 0 < plan.n_draws == whole.settings["n_draws"] < 200
    np.testing.assert_allclose(plan.new_customer_draws, whole.new_customer_draws, rtol=1e-12)
    table, combined = run_in_partitions(customers, plan, n_partitions=2)
    reference = clv.customer_equity(whole, uncertainty="parameter")
    equity = combined.customer_equity(uncertainty="parameter")
    assert (equity.low, equity.high) == pytest.approx((reference.low, reference.high), rel=1e-6)


@pytest.fixture(scope="module")
def wide_spend(spend):
    """A spend model close to q = 1 with a wide covariance: some draws have no mean spend."""
    params = spend.params_.copy()
    params["q"] = 1.3
    covariance = spend.log_params_covariance_ * 400
    return dataclasses.replace(spend, params_=params, log_params_covariance_=covariance)


def unchecked_plan(customers, purchases, spend, monkeypatch):
    """Every draw, valid or not: what a plan without patterns gives when the invalid draws
    are invalid for the customers only (the draws' own check is switched off to make one)."""
    with monkeypatch.context() as patched:
        patched.setattr(partitioned, "_is_valid_draw", lambda values, new_customer: True)
        return partitioned.plan_predictions(
            None, purchases=purchases, spend=spend, group_by="segment", **OPTIONS
        )


def test_a_plan_without_patterns_checks_a_new_customers_value(customers, purchases, wide_spend):
    checked = plan_for(customers, purchases, wide_spend)
    without_patterns = partitioned.plan_predictions(
        None, purchases=purchases, spend=wide_spend, group_by="segment", **OPTIONS
    )
    # here a draw is invalid through its mean spend, which a new customer's value shows
    assert without_patterns.n_draws == checked.n_draws < 200
    np.testing.assert_array_equal(without_patterns.new_customer_draws, checked.new_customer_draws)


def test_partitions_name_the_draws_invalid_for_their_customers_and_predict_again_without_them(
    customers, purchases, wide_spend, monkeypatch
):
    checked = plan_for(customers, purchases, wide_spend)
    unchecked = unchecked_plan(customers, purchases, wide_spend, monkeypatch)
    assert unchecked.n_draws == 200
    part = pd.util.hash_array(customers["customer_id"].to_numpy()) % 2
    totals = pd.concat(
        [
            partitioned.predict_partition(customers[part == k], unchecked, stream=k)[1]
            for k in (0, 1)
        ]
    )
    invalid = partitioned.invalid_draws(totals)
    assert len(invalid) == 200 - checked.n_draws
    with pytest.raises(ValueError, match="invalid for some customers"):
        partitioned.combine_partitions(unchecked, totals, top_decile_share=0.5)
    again = unchecked.without_draws(invalid)
    assert again.settings["n_draws"] == checked.n_draws
    np.testing.assert_array_equal(again.parameters.purchase, checked.parameters.purchase)
    np.testing.assert_array_equal(again.parameters.spend, checked.parameters.spend)
    np.testing.assert_array_equal(again.new_customer_draws, checked.new_customer_draws)
    ours = run_in_partitions(customers, again, n_partitions=2)
    theirs = run_in_partitions(customers, checked, n_partitions=2)
    pd.testing.assert_frame_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1].rclv_draws, theirs[1].rclv_draws)


def test_without_a_spend_model_the_plan_carries_the_bases_mean_spend(customers, purchases):
    whole = clv.predict(customers, purchases=purchases, spend=None, **OPTIONS)
    repeat = customers[(customers["frequency"] > 0) & (customers["monetary_value"] > 0)]
    with pytest.raises(ValueError, match="mean_observed_spend"):
        plan_for(customers, purchases, None)
    plan = plan_for(customers, purchases, None, mean_observed_spend=repeat["monetary_value"].mean())
    table, combined = run_in_partitions(customers, plan)
    # each partition's customers are worth the whole base's mean, not the partition's
    expected = whole.table.sort_values("customer_id")["expected_spend"].to_numpy()
    np.testing.assert_allclose(table["expected_spend"], expected, rtol=1e-12)
    reference = clv.customer_equity(whole, uncertainty="parameter")
    equity = combined.customer_equity(uncertainty="parameter")
    assert (equity.value, equity.low, equity.high) == pytest.approx(
        (reference.value, reference.low, reference.high), rel=1e-6
    )


def test_no_groups_gives_one_total(customers, purchases, spend, whole):
    plan = partitioned.plan_predictions(
        customers[["frequency", "recency", "T"]], purchases=purchases, spend=spend, **OPTIONS
    )
    _, combined = run_in_partitions(customers, plan, n_partitions=2)
    assert len(combined.groups) == 1
    assert combined.groups["n_customers"].iloc[0] == len(customers)
    reference = clv.customer_equity(whole, uncertainty="parameter")
    assert combined.customer_equity(uncertainty="parameter").high == pytest.approx(
        reference.high, rel=1e-6
    )
