"""Live what-ifs: the callbacks are plain functions, controls redraw, papermill gets sections."""

from pathlib import Path

import matplotlib.pyplot as plt
import pytest

import ccnb
from ccnb import workshop
from ccnb.analysis import ClientAnalysis
from ccnb.formatting import escape_md, money
from ccnb.report import Section
from ccnb.report._section import MODEL_NEEDED

PARAMS = Path(__file__).resolve().parents[1] / "params" / "demo.yaml"


@pytest.fixture(autouse=True)
def _close_figures():
    """Sections draw figures that only displaying closes."""
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def analysis():
    analysis = ClientAnalysis(ccnb.load_params(PARAMS), cache_dir=None)
    analysis.precompute()
    return analysis


def test_controls_are_live_only_in_a_jupyter_servers_kernel(monkeypatch):
    monkeypatch.delenv("CCNB_WIDGETS", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert not workshop.is_live()  # papermill, nbval, nbconvert
    monkeypatch.setenv("JPY_SESSION_NAME", "/engagement/notebooks/04_budget_allocation.ipynb")
    assert workshop.is_live()
    monkeypatch.setenv("CCNB_WIDGETS", "0")
    assert not workshop.is_live()


def test_the_budget_callback_answers_for_another_budget_and_leaves_the_analysis(analysis):
    fitted, total = analysis.purchase_model, analysis.params.budget.total
    (section,) = workshop.budget_sections(analysis, total=20_000, max_lift=0.1, spend_scale=20)
    assert isinstance(section, Section) and section.note is None
    assert f"spending {money(20_000, 'EUR')}" in section.text
    assert "at most 10% of their residual CLV" in section.text
    plans = section.data.set_index("strategy")
    assert plans["spend"].max() == pytest.approx(20_000, rel=1e-6)
    # the scenario reused the fit and did not change the analysis the notebook shows
    assert analysis.purchase_model is fitted and analysis.params.budget.total == total
    (same,) = workshop.budget_sections(analysis, total=total, max_lift=0.2, spend_scale=20)
    assert same.data.equals(analysis.strategy_comparison)


def test_the_value_callback_reprices_and_moves_retention(analysis):
    equity = analysis.customer_equity.value
    distribution, retention = workshop.value_sections(
        analysis,
        gross_margin=0.7,
        discount_rate_annual=0.1,
        horizon_months=36,
        retention_change=3,
    )
    assert money(equity * 0.7 / 0.35, "EUR") in distribution.text
    assert retention.data["change_points"].tolist() == [0, 3]
    assert retention.data.loc[0, "equity"] == pytest.approx(equity * 2, rel=1e-6)
    assert "+3 points" in retention.text
    # no change: the params' retention changes
    _, default = workshop.value_sections(
        analysis,
        gross_margin=0.35,
        discount_rate_annual=0.1,
        horizon_months=36,
        retention_change=0,
    )
    assert default.data["change_points"].tolist() == [-5, -2, -1, 0, 1, 2, 5]


def test_the_segment_callback_switches_scheme(analysis):
    (section,) = workshop.segment_sections(
        analysis, scheme="rfm_grid", bins=5, lapsed_after_days=365
    )
    assert "**Champions**" in section.text
    (tiers,) = workshop.segment_sections(
        analysis, scheme="value_tiers", bins=5, lapsed_after_days=365
    )
    assert f"**{escape_md('High-Value')}**" in tiers.text and "Champions" not in tiers.text


def test_the_tier_callback_puts_the_consultants_rule_against_the_optimum(analysis):
    controls = workshop.tier_what_if(analysis).values
    assert set(controls) <= set(analysis.segment_summary["segment"])
    even = dict.fromkeys(controls, 10.0)
    (section,) = workshop.tier_sections(analysis, **even)
    scenario = analysis.what_if(budget={"tier_spend": even})
    rules = scenario.tier_rules.set_index("source")
    assert set(rules.index) == {"optimum", "params"}
    chosen = rules.loc[rules["recommended"]].iloc[0]
    assert chosen["added_value"] == rules["added_value"].max()
    # the section shows the chosen rule: an even rule spends the same on every segment
    plan = section.data
    assert plan["spend"].sum() == pytest.approx(analysis.params.budget.total, rel=1e-6)
    if chosen.name == "params":
        assert plan["spend_per_head"].nunique() == 1
        assert "`budget.tier_spend`" in section.text


def test_papermill_gets_the_sections_for_the_params_values(analysis, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("CCNB_WIDGETS", raising=False)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *items: shown.extend(items))
    workshop.budget_what_if(analysis)._ipython_display_()
    assert [type(item) for item in shown] == [Section]
    assert shown[0].text == ccnb.report.strategies(analysis).text


def test_moving_a_control_calls_the_callback_with_every_value(analysis):
    calls = []

    def sections(**values):
        calls.append(values)
        return []

    what_if = workshop.budget_what_if(analysis)
    box = workshop.WhatIf(sections, what_if.controls).widget()
    budget = box.children[0]
    budget.value = 9000.0
    assert calls[0] == what_if.values  # drawn once at the params' values
    assert calls[-1] == {**what_if.values, "total": 9000.0}


def test_values_that_cannot_be_used_are_said_not_raised(analysis):
    def sections(**values):
        raise ccnb.errors.ParamsError("gross_margin must be at most 1")

    box = workshop.WhatIf(sections, workshop.value_what_if(analysis).controls).widget()
    box.children[0].value = 0.5  # no exception reaches the notebook


NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "ccnb" / "notebooks").glob("0*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_every_go_further_line_runs_as_written(path, analysis):
    """The last cell of each notebook lists public calls to copy: each one runs on the demo,
    and a section called with options answers without changing the notebook's analysis."""
    import nbformat

    cell = nbformat.read(path, as_version=4).cells[-1]
    assert cell.source.startswith("## Go further") and "remove-cell" in cell.metadata["tags"]
    code = cell.source.split("```python\n", 1)[1].split("```", 1)[0]
    params = analysis.params
    namespace = {"ccnb": ccnb, "report": ccnb.report, "workshop": workshop, "analysis": analysis}
    lines = [line for line in code.splitlines() if line.strip()]
    assert len(lines) >= 5
    for line in lines:
        value = eval(line.split("  #")[0], namespace)  # the notebook's own text
        if isinstance(value, Section):
            assert value.note is None, (line, value.note)
            assert value.data is not None, line
        elif isinstance(value, list):
            assert all(section.note is None for section in value), line
        plt.close("all")
    assert analysis.params is params


def test_a_client_without_a_value_model_gets_the_sentence_and_no_controls(tmp_path, monkeypatch):
    """The edge client of the batch tests: too little history for any model."""
    from tests.report.test_sections import write_small_client

    small = ClientAnalysis(ccnb.load_params(write_small_client(tmp_path)), cache_dir=None)
    monkeypatch.setenv("CCNB_WIDGETS", "1")  # even in JupyterLab
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *items: shown.extend(items))
    what_if = workshop.tier_what_if(small)
    assert what_if.controls == []
    what_if._ipython_display_()
    # the page's assumptions above say why in full; here only that the model is needed
    assert len(shown) == 1 and shown[0].note == MODEL_NEEDED
