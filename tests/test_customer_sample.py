"""The validation's customer sample: the engine draws what MD5 computed by hand draws."""

import hashlib

import ibis
import numpy as np
import pandas as pd
import pytest

from ccnb import load_params
from ccnb.analysis import ClientAnalysis
from ccnb.customer_sample import CustomerSample, plan_sample
from ccnb.params import ParamsError, with_overrides
from ccnb.report import (
    conditional_expectations,
    holdout_deciles,
    model_validation,
    purchase_probability,
    tracking,
)

IDS = [f"C{number:05d}" for number in range(20_000)]


def _table(ids) -> ibis.Table:
    frame = pd.DataFrame({"customer_id": ids, "amount": np.arange(len(ids), dtype=float)})
    return ibis.duckdb.connect().create_table("rows", ibis.memtable(frame))


def _drawn_by_hand(ids, *, seed: int, below: int) -> set[str]:
    """Ids whose first 8 hex digits of md5('<seed>:<id>') are below ``below``."""
    return {
        one for one in ids if int(hashlib.md5(f"{seed}:{one}".encode()).hexdigest()[:8], 16) < below
    }


def test_the_engine_draws_the_ids_md5_puts_below_the_fraction():
    # a quarter of 20,000: keys below 16**8 / 4 = 0x40000000
    sample = plan_sample(_table(IDS), at_most=5_000, seed=7)
    assert sample.fraction == 0.25 and sample.threshold == "40000000"
    expected = _drawn_by_hand(IDS, seed=7, below=0x40000000)
    drawn = sample.rows_in(_table(IDS)).execute()
    assert set(drawn["customer_id"]) == expected
    assert sample.sampled == len(expected)
    assert set(np.array(IDS)[sample.contains(IDS)]) == expected
    # binomial(20,000, 0.25): standard deviation 61
    assert abs(sample.sampled - 5_000) < 5 * 61


def test_every_row_of_a_drawn_customer_is_kept_whatever_the_order():
    rows = IDS[:3_000] * 3
    shuffled = list(np.random.default_rng(0).permutation(rows))
    samples = [plan_sample(_table(ids), at_most=600, seed=1) for ids in (rows, shuffled)]
    assert samples[0] == samples[1] and samples[0].population == 3_000
    kept = samples[0].rows_in(_table(shuffled)).execute()
    counts = kept["customer_id"].value_counts()
    assert (counts == 3).all() and len(counts) == samples[0].sampled


def test_another_seed_draws_other_customers():
    first, second = (plan_sample(_table(IDS), at_most=2_000, seed=seed) for seed in (1, 2))
    one, other = (set(np.array(IDS)[sample.contains(IDS)]) for sample in (first, second))
    # independent draws of 10%: about 10% of one are in the other
    assert 0.05 < len(one & other) / len(one) < 0.15


def test_a_population_within_the_bound_is_kept_whole():
    for at_most in (20_000, 50_000, None):
        sample = plan_sample(_table(IDS), at_most=at_most, seed=3)
        assert sample.is_whole and sample.sampled == sample.population == 20_000
        assert sample.contains(IDS[:5]).all()
    with pytest.raises(ValueError, match="at least 1"):
        plan_sample(_table(IDS), at_most=0, seed=3)


def test_a_fraction_next_to_one_keeps_eight_digits():
    sample = CustomerSample(population=10**10, sampled=0, fraction=1 - 1e-12, seed=0)
    assert sample.threshold == "ffffffff"


@pytest.fixture(scope="module")
def demo_whole_and_sampled():
    params = load_params("params/demo.yaml")
    whole = ClientAnalysis(params)
    sampled = ClientAnalysis(with_overrides(params, validation_customers=1_000))
    return whole, sampled


def test_the_validation_reads_the_sampled_customers_unchanged(demo_whole_and_sampled):
    whole, sampled = demo_whole_and_sampled
    assert whole.validation_sample.is_whole
    assert whole.validation_sample.population == len(whole.calibration) == 3_492
    sample = sampled.validation_sample
    assert sample.population == 3_492 and not sample.is_whole
    expected = _drawn_by_hand(whole.calibration.index, seed=42, below=int(sample.threshold, 16))
    assert set(sampled.calibration.index) == expected and len(expected) == sample.sampled
    # a sampled customer's calibration and holdout are theirs, not the sample's
    pd.testing.assert_frame_equal(
        sampled.calibration, whole.calibration.loc[sampled.calibration.index]
    )
    # the tracking counts the sample's repeat purchase days: after the first, to the end
    calibration = sampled.calibration
    assert sampled.repeat_purchases["repeat_purchases"].sum() == (
        calibration["frequency_cal"].sum() + calibration["frequency_holdout"].sum()
    )
    table = sampled.validation.table
    assert (table["holdout_actual"] == sampled.calibration["frequency_holdout"].sum()).all()


def test_the_report_says_the_validation_counts_a_sample(demo_whole_and_sampled):
    whole, sampled = demo_whole_and_sampled
    sample = sampled.validation_sample
    text = model_validation(sampled).text
    assert (
        f"validated on a random sample of {sample.sampled:,} of the 3,492 customers who bought "
        "by 31 Dec 2024" in text
    )
    assert "the CLV figures further on come from every customer" in text
    assert "sampled customers" in tracking(sampled).text
    assert "of the sampled customers did" in purchase_probability(sampled).text
    assert holdout_deciles(sampled).text.startswith("The sampled customers ranked")
    assert conditional_expectations(sampled).text.startswith("For the sampled customers")
    # a chart on a slide, without the page's text, names the sample in its title
    titles = {
        section: section(sampled).figure.axes[0].get_title()
        for section in (tracking, conditional_expectations)
    }
    assert (
        titles[tracking]
        == f"Repeat purchases of {sample.sampled:,} sampled customers: actual vs model"
    )
    assert titles[conditional_expectations] == (
        f"Holdout vs calibration purchases of {sample.sampled:,} sampled customers"
    )
    for section in (
        model_validation,
        tracking,
        conditional_expectations,
        purchase_probability,
        holdout_deciles,
    ):
        shown = section(whole)
        assert "sample" not in shown.text
        if shown.figure is not None:
            assert "sample" not in shown.figure.axes[0].get_title()


def test_the_bound_is_validated():
    params = load_params("params/demo.yaml")
    with pytest.raises(ParamsError, match="validation_customers"):
        with_overrides(params, validation_customers=10)
    assert with_overrides(params, validation_customers=None).validation_customers is None
    assert params.validation_customers == 100_000
