"""ClientAnalysis.update: a changed parameter forgets only the tables that depend on it."""

from pathlib import Path

import pytest

import ccnb
from ccnb.analysis import ClientAnalysis
from ccnb.errors import ParamsError

PARAMS = Path(__file__).resolve().parents[1] / "params" / "demo.yaml"
#: the tables behind every model: a what-if on money must never refit them
FITS = {
    "data",
    "summary",
    "validation_sample",
    "calibration",
    "validation",
    "purchase_model",
    "spend_model",
}


@pytest.fixture(scope="module")
def analysis():
    analysis = ClientAnalysis(ccnb.load_params(PARAMS), cache_dir=None)
    analysis.precompute()
    return analysis


def test_a_budget_change_keeps_the_models_and_the_predictions(analysis):
    before = analysis.optimal_allocation
    stale = analysis.update(budget={"total": 9000})
    assert "optimal_allocation" in stale and "tier_rules" in stale
    assert not (FITS | {"predictions", "customer_equity", "segments"}) & set(stale)
    assert analysis.params.budget.total == 9000
    after = analysis.optimal_allocation
    assert before.budget == 4000 and after.budget == 9000
    assert after.table["spend"].sum() == pytest.approx(9000, rel=1e-6)


def test_a_margin_change_reprices_without_refitting(analysis):
    fitted = analysis.purchase_model
    equity = analysis.customer_equity.value
    margin = analysis.params.gross_margin
    stale = analysis.update(gross_margin=0.42)
    assert {"predictions", "customer_equity", "clv_by_segment"} <= set(stale)
    assert not FITS & set(stale)
    assert analysis.purchase_model is fitted  # the same object: not refitted
    # rCLV is linear in the margin: the same draws, re-priced
    assert analysis.customer_equity.value == pytest.approx(equity * 0.42 / margin, rel=1e-6)


def test_a_smaller_validation_sample_validates_again_and_keeps_the_segments(analysis):
    stale = analysis.update(validation_customers=1_000)
    assert {"validation_sample", "calibration", "repeat_purchases", "validation"} <= set(stale)
    assert not {"data", "summary", "segments", "quality"} & set(stale)
    assert len(analysis.calibration) == analysis.validation_sample.sampled < 1_100
    analysis.update(validation_customers=100_000)
    assert analysis.validation_sample.is_whole
    assert len(analysis.calibration) == 3_492 and analysis.validation.chosen  # as before


def test_a_time_unit_change_refits(analysis):
    stale = analysis.update(time_unit="D")
    assert {"summary", "validation", "purchase_model", "predictions"} <= set(stale)
    assert "data" not in stale and "quality" not in stale
    assert analysis.purchase_model.params_["alpha"] > 0


def test_an_invalid_change_changes_nothing(analysis):
    before = analysis.params
    with pytest.raises(ParamsError, match="gross_margin"):
        analysis.update(gross_margin=3)
    assert analysis.params is before


def test_a_notebook_rerun_with_other_overrides_reuses_the_kernels_analysis(monkeypatch):
    """What a notebook's setup cell does on each run: the same params file with other
    overrides gives the same analysis, updated; a batch run's kernels (cache folder) do not."""
    monkeypatch.delenv("CCNB_CACHE_DIR", raising=False)
    first = ClientAnalysis.for_params(ccnb.load_params(PARAMS))
    fitted = first.purchase_model
    again = ClientAnalysis.for_params(ccnb.load_params(PARAMS, gross_margin=0.4))
    assert again is first and again.params.gross_margin == 0.4
    assert again.purchase_model is fitted
    monkeypatch.setenv("CCNB_CACHE_DIR", "/nonexistent-cache")
    assert ClientAnalysis.for_params(ccnb.load_params(PARAMS)) is not first


def test_a_margin_change_does_not_draw_again_but_a_discount_change_does():
    analysis = ClientAnalysis(ccnb.load_params(PARAMS), cache_dir=None)
    assert analysis.customer_equity.value > 0
    forecast = analysis._forecast
    assert "_forecast" not in analysis.update(gross_margin=0.5)
    assert analysis._forecast is forecast
    assert "_forecast" in analysis.update(discount_rate_annual=0.2)


def test_a_what_if_shares_what_it_does_not_change_and_changes_nothing():
    analysis = ClientAnalysis(ccnb.load_params(PARAMS), cache_dir=None)
    equity, plans = analysis.customer_equity, analysis.strategy_comparison
    scenario = analysis.what_if(budget={"total": 12_000})
    assert scenario.purchase_model is analysis.purchase_model
    assert scenario.predictions is analysis.predictions
    assert scenario.strategy_comparison["spend"].max() == pytest.approx(12_000, rel=1e-6)
    assert analysis.params.budget.total == 4000
    assert analysis.strategy_comparison is plans and analysis.customer_equity is equity


def test_tables_read_from_a_cache_folder_are_all_forgotten_on_a_change(tmp_path):
    """Their dependencies were noted by another process: none is trusted after a change."""
    writer = ClientAnalysis(ccnb.load_params(PARAMS), cache_dir=tmp_path)
    assert writer.customer_equity.value > 0
    reader = ClientAnalysis(ccnb.load_params(PARAMS), cache_dir=tmp_path)
    assert reader.customer_equity.value == writer.customer_equity.value  # read, not computed
    assert len(reader.summary) == len(writer.summary)
    stale = reader.update(rfm={"bins": 4})
    assert {"summary", "customer_equity"} <= set(stale)
    assert reader.update(rfm={"bins": 4}) == []  # nothing changed
