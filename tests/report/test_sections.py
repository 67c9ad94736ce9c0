"""Report sections on three clients: every section runs, and its sentences quote the analysis.

The demo (every source), CDNOW (no survey, no channels) and a client too small for the CLV
models. Each `ClientAnalysis` is computed once per module and every section is run once on it;
the tests then check that unavailable sections say why and that the numbers in the sentences
(and tables) are the ones in the analysis tables, formatted with `ccnb.formatting`. Where it
is cheap, the expected number is recomputed from the underlying table rather than read from
the summary table the section reads, so a wrong summary fails too.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import ccnb
from ccnb import budget, clv, cohorts, nps, report, rfm
from ccnb.analysis import CACHE_DIR_VARIABLE, ClientAnalysis, Unavailable
from ccnb.batch.exports import EXPORT_DIR_VARIABLE
from ccnb.formatting import (
    count,
    day_label,
    escape_md,
    in_words,
    money,
    percent,
    period_label,
    signed_percent,
)
from ccnb.report import Section
from ccnb.report import cohorts as report_cohorts
from ccnb.report._section import MODEL_NEEDED

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = [name for name in report.__all__ if name not in ("Section", "Unavailable")]

# --- clients -------------------------------------------------------------------------------


def write_small_client(folder: Path) -> Path:
    """30 customers, one a month from January 2022, every sixth buying again 40 days later.

    Too few customers (and repeat buyers) for the purchase models; no customers table and no
    survey; nothing bought in the last quarter.
    """
    rows = ["customer_id,date,amount"]
    for i in range(30):
        first = dt.date(2022, 1, 5) + dt.timedelta(days=31 * i)
        rows.append(f"c{i:02d},{first.isoformat()},{20 + i}.50")
        if i % 6 == 0:
            rows.append(f"c{i:02d},{(first + dt.timedelta(days=40)).isoformat()},{15 + i}.00")
    (folder / "sales.csv").write_text("\n".join(rows) + "\n")
    params = folder / "tiny.yaml"
    params.write_text(
        "client: Tiny Shop\n"
        "slug: tiny\n"
        "currency: GBP\n"
        "\n"
        "transactions:\n"
        "  path: sales.csv\n"
        "  columns:\n"
        "    customer_id: customer_id\n"
        "    date: date\n"
        "    amount: amount\n"
        "\n"
        'observation_end: "2024-12-31"\n'
        "churn_window_days: 180\n"
    )
    return params


class Shown:
    """One client's analysis and what every section returned (or raised) for it."""

    def __init__(self, analysis: ClientAnalysis, exports: Path):
        self.analysis = analysis
        self.exports = exports
        self.sections: dict[str, Section | BaseException] = {}

    def __getitem__(self, name: str) -> Section:
        section = self.sections[name]
        if isinstance(section, BaseException):
            raise AssertionError(f"{name} raised {section!r}") from section
        return section

    def available(self, name: str) -> Section:
        section = self[name]
        assert section.note is None, f"{name} is unavailable: {section.note}"
        return section


def _show_every_section(params: ccnb.Params, exports: Path) -> Shown:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(CACHE_DIR_VARIABLE, raising=False)
        patch.setenv(EXPORT_DIR_VARIABLE, str(exports))
        shown = Shown(ClientAnalysis(params), exports)
        calls = [(name, name, {}) for name in SECTIONS]
        calls.append(("rfm_grid_revenue", "rfm_grid", {"value": "revenue"}))
        for key, name, options in calls:
            try:
                section = getattr(report, name)(shown.analysis, **options)
            except Exception as error:  # reported by the test of that section
                shown.sections[key] = error
                continue
            shown.sections[key] = section
            if section.figure is not None:
                plt.close(section.figure)
    plt.close("all")
    return shown


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Shown:
    params = ccnb.load_params(ROOT / "params" / "demo.yaml")
    return _show_every_section(params, tmp_path_factory.mktemp("demo-exports"))


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory) -> Shown:
    params = ccnb.load_params(ROOT / "params" / "cdnow.yaml")
    return _show_every_section(params, tmp_path_factory.mktemp("cdnow-exports"))


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Shown:
    params = ccnb.load_params(write_small_client(tmp_path_factory.mktemp("tiny")))
    return _show_every_section(params, tmp_path_factory.mktemp("tiny-exports"))


@pytest.fixture
def client(request) -> Shown:
    return request.getfixturevalue(request.param)


def _html(section: Section) -> str:
    return section.table.to_html()


# --- every section on every client ---------------------------------------------------------

# Sections the client cannot have, with a word the reason must name.
NO_CLV = "Not shown: no customer-value model could be fitted to this history"
UNAVAILABLE = {
    "demo": {},
    "cdnow": {
        "satisfaction": "survey",
        "nps_by_segment": "survey",
        "channel_cohorts": "acquisition channels",
        "cac_ceiling": "acquisition channels",
        "acquisition": "acquisition budget",
        "seasonal": "holiday seasons",
        "cohort_evolution": "No cohort has been followed for a complete year",
        "cohort_comparison": "for the reason given under how a cohort evolves",
        "revenue_bridge": "not covered in full",
        "product_lens": "No product category",
    },
    "small": {
        "product_lens": "No product category",
        "satisfaction": "survey",
        "nps_by_segment": "survey",
        "channel_cohorts": "acquisition channels",
        "acquisition": "acquisition budget",
        "early_repeat": "Too few customers",
        "naive_versus_model": MODEL_NEEDED,
        "cac_ceiling": "acquisition channels",
        # details of model validation, which says why just above: nothing shown
        **dict.fromkeys(
            [
                "tracking",
                "conditional_expectations",
                "holdout_deciles",
                "purchase_probability",
                "allocation_deciles",  # under the strategies' heading, likewise
            ],
            "",
        ),
        **dict.fromkeys(
            [
                "model_parameters",
                "p_alive",
                "clv_distribution",
                "retention_value",
                "clv_by_segment",
                "iso_value",
                "strategies",
                "tiered_plan",
                "sensitivity",
                "test_plan",
                "next_steps_budget",
                "budget_export",
            ],
            MODEL_NEEDED,
        ),
        # the first on its page says it in full; the others only that they need the model
        "equity_headline": NO_CLV,
        "budget_assumptions": NO_CLV,
    },
}


@pytest.mark.parametrize("client", ["demo", "cdnow", "small"], indirect=True)
@pytest.mark.parametrize("name", SECTIONS)
def test_every_section_is_shown_or_says_why_not(client, name, request):
    section = client[name]  # raised nothing
    assert isinstance(section, Section)
    reason = UNAVAILABLE[request.node.callspec.params["client"]].get(name)
    if reason is None:
        assert section.note is None, f"{name}: {section.note}"
        assert section.text.strip()
    else:
        assert section.note is not None, f"{name} should be unavailable ({reason})"
        assert reason in section.note
        assert section.note.endswith(".") or reason == ""
        assert not section.text and section.figure is None and section.table is None


def test_the_small_client_is_below_the_models_minimum(small):
    calibration = small.analysis.calibration
    assert len(calibration) < clv.MIN_CUSTOMERS
    # the count is the calibration period's, not the client's customers (said as such)
    assert len(calibration) < len(small.analysis.summary)
    assert (calibration["frequency_cal"] > 0).sum() < clv.MIN_REPEAT_BUYERS
    # said once, where the fallback is shown; every other model section points there
    text = small["model_validation"].text
    assert text.startswith(
        f"*Customer value cannot be predicted: the purchase models need at least "
        f"{clv.MIN_CUSTOMERS} customers in the calibration period (to "
        f"{day_label(small.analysis.calibration_end)}) and it has {len(calibration)}.*"
    )
    assert "value ranking" in text and "forecasts nothing" in text
    assert "Hessian" not in text and "penalizer" not in text


def test_the_fallback_ranks_every_customer_by_history(small):
    ranking = small.analysis.value_ranking
    assert len(ranking) == len(small.analysis.summary)
    assert ranking["rank"].tolist() == list(range(1, len(ranking) + 1))
    assert ranking["revenue_last_year"].is_monotonic_decreasing
    assert "`value_ranking.csv`" in small["clv_export"].text
    steps = small["next_steps_clv"].text
    assert "value ranking" in steps and "top 10% of" not in steps


# --- common ---------------------------------------------------------------------------------


@pytest.mark.parametrize("client", ["demo", "cdnow", "small"], indirect=True)
def test_data_quality_accounts_for_every_row(client):
    quality = client.analysis.quality
    text = client.available("data_quality").text
    share = 1 - quality.transactions.rows_used / quality.transactions.rows_read
    if share:
        assert f"{percent(share, digits=1)} of the transaction rows were excluded" in text
    else:  # not "0.0% of the rows were excluded"
        assert "accounted for: no transaction row was excluded." in text
    for source in quality.sources:
        rejected = source.rows_read - source.rows_used
        assert (
            f"{escape_md(source.source)}: {count(source.rows_used)} of "
            f"{count(source.rows_read)} rows used, {count(rejected)} excluded"
        ) in text
        for reason, rows in source.rejected.items():
            assert f"{count(rows)} {reason.replace('_', ' ')}" in text


def test_demo_data_quality_names_excluded_rows(demo):
    # the demo ships with bad rows: the sentence must not read "0.0%"
    assert demo.analysis.quality.transactions.rows_rejected > 0
    assert "0.0% of the" not in demo["data_quality"].text


def test_client_header(demo):
    quality = demo.analysis.quality.transactions
    text = demo.available("client_header").text
    assert f"{count(quality.customers)} customers and {count(quality.rows_used)}" in text
    end = demo.analysis.observation_end
    assert f"to {end.day} {end:%b %Y}; amounts in EUR" in text


# --- KPI overview -------------------------------------------------------------------------


@pytest.mark.parametrize("client", ["demo", "cdnow", "small"], indirect=True)
def test_kpi_table_quotes_the_last_window_and_its_flow(client):
    analysis = client.analysis
    last = analysis.windows.last
    value = analysis.kpis[analysis.kpis["window"] == last.label].set_index("kpi")["value"]
    flow = analysis.window_flows.iloc[-1]
    section = client.available("kpi_table")
    currency = analysis.currency
    assert (
        f"Over {last.label} the business took {money(value['revenue'], currency)}" in section.text
    )
    assert value["customers_active"] == flow["closing"]
    if flow["base_known"]:
        assert f"to {count(flow['closing'])}" in section.text
        assert f"{in_words(flow['lapsed'])} who lapsed" in section.text
    columns = list(section.table.data.columns)
    assert columns[1 : 1 + len(analysis.windows.comparison)] == [
        window.label for window in analysis.windows.comparison
    ]


def _kpi_row(html: str, label: str) -> str:
    start = html.index(label)
    return html[start : html.index("</tr>", start)]


def test_kpi_table_changes_are_recomputed_from_the_kpis(demo):
    client = demo
    kpis = client.analysis.kpis
    wide = kpis.pivot(index="kpi", columns="start", values="value")
    previous, last = wide.columns.min(), wide.columns.max()
    html = _html(client.available("kpi_table"))
    revenue = wide.loc["revenue"]
    assert signed_percent(revenue[last] / revenue[previous] - 1) in _kpi_row(html, "Net revenue")
    assert money(revenue[last], client.analysis.currency) in _kpi_row(html, "Net revenue")
    churn = wide.loc["churn_rate"]
    points = f"{(churn[last] - churn[previous]) * 100:+.1f} pts"
    assert points in _kpi_row(html, "Churn rate")
    customers = wide.loc["customers_total"]
    row = _kpi_row(html, "Customers with a purchase to date")
    assert count(customers[last]) in row
    assert signed_percent(customers[last] / customers[previous] - 1) in row


def test_demo_kpi_table_scores_change_in_points(demo):
    wide = demo.analysis.kpis.pivot(index="kpi", columns="start", values="value")
    previous, last = wide.columns.min(), wide.columns.max()
    html = _html(demo["kpi_table"])
    nps_change = wide.loc["nps", last] - wide.loc["nps", previous]
    assert f"{nps_change:+.1f} pts" in _kpi_row(html, "NPS (-100 to 100)")


def test_kpi_table_without_a_year_earlier_has_no_change_column(cdnow):
    # CDNOW runs from Jan 1997 to Jun 1998: one 12-month window, said in a note.
    section = cdnow.available("kpi_table")
    assert list(section.table.data.columns) == ["KPI", "Jul 1997 – Jun 1998"]
    assert "less than two years, so there is no year-on-year comparison" in section.text
    # nobody is new in CDNOW's window (its customers all came in early 1997): no early repeat
    # rate is shown, so no note on which new customers it counts
    assert np.isnan(cdnow.analysis.kpis.set_index("kpi").loc["early_repeat_rate", "value"])
    assert "early repeat rate" not in section.text


def _demo_first_purchases() -> pd.Series:
    """Each demo customer's first purchase day, from the raw transactions (not ccnb's tables)."""
    from ccnb.datasets import load_demo

    raw = load_demo()  # the CSV as text, with the demo's unreadable rows
    amount = pd.to_numeric(raw["amount"], errors="coerce")
    date = pd.to_datetime(raw["date"], format="%Y-%m-%d", errors="coerce")
    bought = (amount > 0) & date.notna()
    return date[bought].groupby(raw.loc[bought, "customer_id"]).min()


def test_early_repeat_counts_only_customers_followed_for_the_whole_window(demo):
    # The demo ends on 31 Dec 2025: a customer first seen after 2 Oct 2025 cannot yet be
    # followed for 90 days. The KPI table says so, and 2024 is cut on the same day of its year.
    firsts = _demo_first_purchases()
    note = (
        "The early repeat rate of 2025 counts its new customers acquired by 2 Oct 2025, the last "
        "who can be followed for 90 days by 31 Dec 2025; 2024's counts those acquired by "
        "2 Oct 2024, so both cover the same part of the year."
    )
    assert note in demo.available("kpi_table").text
    steps = demo.available("next_steps_overview").text
    assert (
        "of the customers new in 2025 (acquired by 2 Oct 2025, the last followed for 90 " in steps
    )
    # The cohort section headlines Q3 2025 (followed in full); Q4 2025's few followed customers
    # are named with their count when the threshold lets the quarter show.
    assert demo.available("early_repeat").text.startswith("Of the customers acquired in Q3 2025")
    shown = demo.analysis.what_if(early_repeat_min_eligible=1)
    text = report.early_repeat(shown).text
    q4 = firsts[(firsts >= "2025-10-01") & (firsts <= "2025-12-31")]
    followed = int((q4 <= "2025-10-02").sum())
    assert 0 < followed < len(q4)
    assert "Q4 2025's" in text
    assert (
        f"counts only the {count(followed)} of its {count(len(q4))} customers acquired by " in text
    )
    assert "2 Oct 2025, so it is not yet the quarter's rate." in text
    assert "cohorts shown, Q1 2021 to Q4 2025" in text  # the pooled range includes Q4


def test_quarterly_retention_points_to_the_audits_whole_year_after(demo):
    # A quarter's share buying a year on counts one quarter; the audit's yearly cohorts count
    # any purchase in the calendar year after the first. Recomputed from the raw demo CSV.
    from ccnb.datasets import load_demo

    raw = load_demo()
    amount = pd.to_numeric(raw["amount"], errors="coerce")
    date = pd.to_datetime(raw["date"], format="%Y-%m-%d", errors="coerce")
    bought = (amount > 0) & date.notna() & (date <= "2025-12-31")
    years = pd.DataFrame({"customer": raw.loc[bought, "customer_id"], "year": date[bought].dt.year})
    first = years.groupby("customer")["year"].min()
    bought_next = years[years["year"] == years["customer"].map(first) + 1]["customer"].unique()
    share = first.index.isin(bought_next)
    by_cohort = pd.Series(share, index=first.values).groupby(level=0).mean().loc[2021:2024]
    assert len(by_cohort) == 4
    expected = (
        "That counts one quarter; over the whole calendar year after the one of their first "
        f"purchase, {percent(by_cohort.min())} to {percent(by_cohort.max())} of each year's new "
        "customers bought ([How a cohort evolves](05_customer_base_audit.html#how-a-cohort-evolves)"
    )
    assert expected in demo.available("retention").text
    yearly = report.retention(demo.analysis, period="Y")  # the same count: no pointer
    assert "calendar year after" not in yearly.text


def test_time_to_second_purchase_says_why_its_channel_shares_differ_from_the_cohorts(demo):
    # The audit's within-a-year share by channel (Kaplan-Meier: customers still inside the
    # year count as possibly repeating) and the cohorts page's (only customers followed a
    # whole year) differ a little; each page names the other's rule.
    timing = demo.analysis.repeat_timing.set_index(["by", "group"])
    channels = demo.analysis.cohort_by_channel.set_index("acquisition_channel")
    referral_audit = timing.loc[("channel", "Referral"), "eventual_share"]
    referral_cohorts = channels.loc["Referral", "repeat_share"]  # 374 of 476 followed a year
    assert referral_audit != referral_cohorts
    assert abs(referral_audit - referral_cohorts) < 0.02
    text = demo.available("time_to_second_purchase").text
    assert (
        "the KPI overview's early repeat rate and the cohorts report's repeat within a year by "
        "channel count only customers observed for the whole window" in text
    )


@pytest.mark.parametrize("client", ["demo", "cdnow", "small"], indirect=True)
def test_active_base_reconciles_the_window_flow(client):
    flow = client.analysis.window_flows.iloc[-1]
    window = client.analysis.windows.last
    text = client.available("active_base").text
    assert f"On {window.end.day} {window.end:%b %Y}, {count(flow['closing'])} customers" in text
    if flow["base_known"]:
        assert (
            f"opening {count(flow['opening'])} + {count(flow['new'])} new + "
            f"{count(flow['reactivated'])} reactivated − {count(flow['lapsed'])} lapsed = "
            f"{count(flow['closing'])}."
        ) in text
        assert (
            flow["opening"] + flow["new"] + flow["reactivated"] - flow["lapsed"]
            == (flow["closing"])
        )


@pytest.mark.parametrize("client", ["demo", "cdnow", "small"], indirect=True)
def test_churn_and_leaks_over_the_quarters_of_the_last_window(client):
    flow = client.analysis.customer_flow
    start = client.analysis.windows.last.start
    quarters = flow[(flow["period"] >= start) & ~flow["partial"]]
    rates = quarters["churn_rate"].dropna()
    text = client.available("churn_and_leaks").text
    if len(rates) > 1:
        assert f"Over the {in_words(len(quarters))} complete quarters from" in text
        assert f"averaged {percent(rates.mean(), digits=1)}" in text
        leaking = int((quarters["lapsed"] > quarters["new"]).sum())
        words = {0: "none of them lost", len(quarters): f"all {in_words(len(quarters))} lost"}
        assert words.get(leaking, f"{in_words(leaking)} of them lost") in text
    assert (flow["churn_rate"].dropna() <= 1).all()


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_early_repeat_of_the_last_cohort_and_across_cohorts(client):
    minimum = client.analysis.params.early_repeat_min_eligible
    cohorts = client.analysis.early_repeat_by_cohort
    shown = cohorts[cohorts["eligible"] >= minimum]
    last = shown.iloc[-1]
    pooled = shown["repeaters"].sum() / shown["eligible"].sum()
    text = client.available("early_repeat").text
    quarter = period_label(last["group"], "Q")
    assert f"acquired in {quarter}, {percent(last['early_repeat_rate'])}" in text
    assert f"within {client.analysis.params.early_repeat_days} days" in text
    if len(shown) > 1:
        assert f"(pooled over the {in_words(len(shown))} cohorts shown" in text
        assert f": {percent(pooled)})" in text
    else:  # CDNOW: one cohort, no pooled figure
        assert "pooled" not in text


def test_early_repeat_leaves_small_cohorts_out(demo):
    cohorts = demo.analysis.early_repeat_by_cohort
    small = cohorts["eligible"] < demo.analysis.params.early_repeat_min_eligible
    assert small.any()
    kept = cohorts[~small]
    pooled = demo.analysis.early_repeat_pooled
    assert pooled["groups"] == len(kept)
    assert pooled["eligible"] == kept["eligible"].sum()
    assert pooled["early_repeat_rate"] == kept["repeaters"].sum() / kept["eligible"].sum()
    everyone = cohorts["repeaters"].sum() / cohorts["eligible"].sum()
    assert pooled["early_repeat_rate"] != pytest.approx(everyone)


def test_satisfaction_scores_the_answers_of_the_last_window(demo):
    survey = demo.analysis.data.survey
    window = demo.analysis.windows.last
    dates = pd.to_datetime(survey["date"])
    answers = survey[(dates >= window.start) & (dates <= window.end)]
    assert 0 < len(answers) < len(survey)
    score, satisfied = nps.nps(answers["nps"].dropna()), nps.csat(answers["csat"].dropna())
    text = demo.available("satisfaction").text
    assert f"Over {window.label}, NPS is {score.nps:+.1f} (95% interval {score.ci_low:+.0f}" in text
    assert f"{count(score.n)} answers: {percent(score.promoters)} promoters" in text
    assert f"CSAT is {satisfied.csat:.1f}% satisfied" in text
    # the KPI table's last column is the same number
    kpis = demo.analysis.kpis.set_index(["kpi", "window"])["value"]
    assert kpis["nps", window.label] == score.nps


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_equity_headline(client):
    equity = client.analysis.customer_equity
    currency = client.analysis.currency
    text = client.available("equity_headline").text
    assert f"is {money(equity.value, currency)} (90% interval" in text
    assert f"{money(equity.low, currency)} to {money(equity.high, currency)});" in text
    assert f"hold {percent(equity.top_decile_share)} of it" in text
    mean = client.analysis.predictions.table["rclv"].mean()
    assert f"Residual CLV averages {money(mean, currency)} per customer over all of them." in text
    assert f"the {count(len(client.analysis.summary))} customers in the data (active or" in text
    assert f"next {client.analysis.params.horizon_months} months" in text


def test_next_steps_overview_reads_the_last_window(demo):
    kpis = demo.analysis.kpis
    window = demo.analysis.windows.last.label
    last = kpis[kpis["window"] == window].set_index("kpi")["value"]
    flow = demo.analysis.window_flows.iloc[-1]
    text = demo.available("next_steps_overview").text
    assert f"Over {window} the active base grew from {count(flow['opening'])}" in text
    assert f"{percent(1 - last['early_repeat_rate'])} of the customers new in {window}" in text


# --- segmentation --------------------------------------------------------------------------


@pytest.mark.parametrize("client", ["demo", "cdnow", "small"], indirect=True)
def test_rfm_grid_corner(client):
    scores = client.analysis.segments
    corner = scores[(scores["R"] >= 4) & (scores["F"] >= 4)]
    customers = client.available("rfm_grid").text
    revenue = client.available("rfm_grid_revenue").text
    assert f"{percent(len(corner) / len(scores))} of customers sit in the top-right" in customers
    assert "(R and F of 4 or 5)" in customers
    share = corner["revenue"].sum() / scores["revenue"].sum()
    assert f"the top-right corner brought {percent(share)} of all revenue" in revenue


@pytest.mark.parametrize("client", ["demo", "cdnow", "small"], indirect=True)
def test_segments_sentence_and_table(client):
    table = client.analysis.segment_summary
    section = client.available("segments")
    top = table.loc[table["revenue_share"].idxmax()]
    assert section.text.startswith(
        f"{escape_md(top['segment'])} customers are {percent(top['share'], digits=1)} of the "
        f"base and brought {percent(top['revenue_share'], digits=1)} of net revenue over the "
        "whole history ("
    )
    html = _html(section)
    for row in table[table["customers"] > 0].itertuples():
        assert (
            f"**{escape_md(row.segment)}** ({percent(row.share, digits=1)} of customers, "
            f"{percent(row.revenue_share, digits=1)} of revenue)"
        ) in section.text  # as the table shows them
        assert f">{count(row.customers)}<" in html
        assert f">{percent(row.revenue_share, digits=1)}<" in html
        assert money(row.median_revenue, client.analysis.currency) in html


@pytest.mark.parametrize("client", ["demo", "cdnow", "small"], indirect=True)
def test_concentration_quotes_the_best_fifth(client):
    share = rfm.top_share(client.analysis.summary, top=0.2)
    text = client.available("concentration").text
    assert f"the best 20% of customers brought {percent(share)} of net revenue" in text
    assert text.startswith("Over the whole history (")


def test_nps_by_segment_names_the_best_and_worst_reliable_segment(demo):
    table = nps.nps_by(demo.analysis.survey_with_segments, by="segment")
    groups = table[(table["segment"] != "All") & table["reliable"]]
    best, worst = groups.loc[groups["nps"].idxmax()], groups.loc[groups["nps"].idxmin()]
    text = demo.available("nps_by_segment").text
    assert f"{escape_md(best['segment'])} customers are the most likely" in text
    # each named segment's NPS and answer count, counted by hand from the answers
    answers = demo.analysis.survey_with_segments.dropna(subset=["nps"])
    for row, then in ((best, f", {escape_md(worst['segment'])} the least"), (worst, ".")):
        scores = answers.loc[answers["segment"] == row["segment"], "nps"]
        by_hand = 100 * ((scores >= 9).mean() - (scores <= 6).mean())
        shown = (
            f"{by_hand:+.0f}, 95% interval {row['ci_low']:+.0f} to {row['ci_high']:+.0f}, "
            f"{count(len(scores))} answers){then}"
        )
        assert shown in text
    # which answers: all of them, with their dates, against the KPI page's period only
    assert f"These are all {count(len(answers))} answers of the survey, 20 Feb 2021 to " in text
    assert "the KPI overview's NPS counts only the answers dated in 2025" in text
    assert "Groups with fewer than 30 answers are greyed out" in text


def test_nps_by_segment_of_an_undated_survey_says_so():
    """A survey without a date column: no period to name, and no KPI-period pointer."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(CACHE_DIR_VARIABLE, raising=False)
        params = ccnb.load_params(
            ROOT / "params" / "demo.yaml",
            survey={"path": "builtin:demo", "columns": {"date": None}},
        )
        analysis = ClientAnalysis(params)
    text = report.nps_by_segment(analysis).text
    plt.close("all")
    assert "These are all 1,497 answers of the survey (undated), by each customer's" in text
    assert "KPI overview" not in text


def test_next_steps_segments(demo):
    table = demo.analysis.segment_summary.set_index("segment")
    recency = demo.analysis.segment_recency.set_index("segment")
    text = demo.available("next_steps_segments").text
    medium, high = table.loc["Medium-Value"], table.loc["High-Value"]
    active = medium["customers"] - recency.loc["Medium-Value", "lapsed"]
    assert f"Move the {count(active)} active Medium-Value customers up a tier" in text
    assert f"(median revenue {money(medium['median_revenue'], 'EUR')})" in text
    assert f"({percent(high['revenue_share'])} of revenue)" in text
    # onboarding only for the first-timers who bought lately; win-back for former regulars
    first = recency.loc["First-Time"]
    assert f"Onboard the {count(first['recent'])} First-Time customers" in text
    # former regulars are their own segment, with a win-back
    lapsed = table.loc["Lapsed"]
    assert f"Win back the {count(lapsed['customers'])} Lapsed customers" in text
    assert recency.loc["Lapsed", "lapsed_share"] == 1.0
    assert recency.loc["Low-Value", "lapsed_repeat_buyers"] == 0
    assert "except the" not in text


def test_advice_for_a_lapsed_base_is_win_back_not_upgrade(cdnow):
    # CDNOW in mid-1998: no one-time buyer bought within the 180-day churn window
    table = cdnow.analysis.segment_summary.set_index("segment")
    assert table.loc["First-Time", "customers"] == 0
    steps = cdnow.available("next_steps_segments").text
    assert f"Win back the {count(table.loc['Lapsed', 'customers'])} Lapsed customers" in steps
    assert "Onboard the" not in steps
    # the KPI page does not pitch onboarding either
    assert "onboarding" not in cdnow.available("next_steps_overview").text


def test_a_segment_of_mostly_lapsed_customers_is_told_to_win_them_back_first():
    """With R-score rules a "Medium-Value" can be silent for years: its tactic waits."""
    rules = [
        {"name": "High-Value", "R": [4, 5], "F": [4, 5], "tactic": "Reward them."},
        {"name": "Medium-Value", "R": [3, 5], "orders": [2, None], "tactic": "Upgrade them."},
        {"name": "Low-Value", "tactic": "Spend little."},
    ]
    analysis = _analysis(rfm={"scheme": "custom", "rules": rules})
    recency = analysis.segment_recency.set_index("segment")
    assert recency.loc["Medium-Value", "lapsed_share"] >= 0.5  # CDNOW in mid-1998
    medium = analysis.segment_summary.set_index("segment").loc["Medium-Value"]
    steps = report.next_steps_segments(analysis).text
    assert f"Win back the {count(medium['customers'])} Medium-Value customers before" in steps
    assert "Move the" not in steps
    assert "Most of them have lapsed" in report.segments(analysis).text
    plt.close("all")


# --- cohorts ------------------------------------------------------------------------------


@pytest.mark.parametrize("client", ["demo", "cdnow", "small"], indirect=True)
def test_retention_a_year_on(client):
    triangle = client.analysis.retention
    assert set(triangle["cohort"].dt.month.unique()) <= {1, 4, 7, 10}  # quarterly by default
    year_on = triangle[triangle["age"] == 4].dropna(subset=["retention"]).tail(4)
    text = client.available("retention").text
    retained = percent(year_on["active"].sum() / year_on["cohort_size"].sum())
    cohorts = {1: "the only measurable cohort", 4: "the last four measurable cohorts"}
    assert f"A year after their first quarter, {retained} of {cohorts[len(year_on)]}" in text


def test_cdnow_has_a_single_cohort_a_year_on(cdnow):
    # all CDNOW customers were acquired in Q1 1997: only that cohort is observed a year on
    assert "the only measurable cohort" in cdnow["retention"].text


@pytest.mark.parametrize("client", ["demo", "small"], indirect=True)
def test_cumulative_revenue_after_a_year(client):
    tidy = client.analysis.revenue_cohorts
    at_one_year = tidy[tidy["age"] == 3].dropna(subset=["cumulative_revenue_per_customer"])
    first, last = at_one_year.iloc[0], at_one_year.iloc[-1]
    currency = client.analysis.currency
    text = client.available("cumulative_revenue").text
    assert (
        "After four quarters (the quarter of their first purchase and the three after), "
        f"customers acquired in {period_label(last['cohort'], 'Q')} had brought "
        f"{money(last['cumulative_revenue_per_customer'], currency)} each, against "
        f"{money(first['cumulative_revenue_per_customer'], currency)} for those acquired in "
        f"{period_label(first['cohort'], 'Q')}."
    ) in text


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_layer_cake_share_of_the_newest_year(client):
    layers = client.analysis.layer_cake
    latest = layers[layers["period"] == layers["period"].max()]
    newest = latest.loc[latest["cohort"].idxmax()]
    text = client.available("layer_cake").text
    share = newest["revenue"] / latest["revenue"].sum()
    assert (
        f"In {period_label(newest['period'], 'Q')}, customers acquired in "
        f"{newest['cohort']:%Y} brought {percent(share)} of revenue"
    ) in text


def test_layer_cake_of_a_quarter_without_revenue(small):
    layers = small.analysis.layer_cake
    latest = layers[layers["period"] == layers["period"].max()]
    assert latest["revenue"].sum() == 0
    assert "Q4 2024 brought no net revenue." in small["layer_cake"].text


@pytest.mark.parametrize("client", ["demo", "small"], indirect=True)
def test_seasonal_compares_the_last_two_holiday_seasons(client):
    table = client.analysis.seasonal_cohorts
    assert table["season"].str.startswith("Nov-Dec").all()
    observation_end = client.analysis.observation_end
    years = sorted(table["season_year"].unique())
    assert 2 <= len(years) <= 3
    assert all(dt.date(year + 1, 12, 31) <= observation_end for year in years)
    assert dt.date(years[-1] + 2, 12, 31) > observation_end  # the latest followed for a year
    end = table[table["age"] == table["age"].max()].sort_values("season_year")
    latest, earlier = end.iloc[-1], end.iloc[-2]
    currency = client.analysis.currency
    text = client.available("seasonal").text
    assert "(first purchase in November or December)" in text
    assert (
        f"{table['age'].max()} months on, the {escape_md(latest['season'])} customers had "
        f"brought {money(latest['cumulative_revenue_per_customer'], currency)} each, against "
        f"{money(earlier['cumulative_revenue_per_customer'], currency)}"
    ) in text
    assert (
        f"{percent(latest['repeat_rate'])} of them had bought again "
        f"(vs {percent(earlier['repeat_rate'])})"
    ) in text


def test_channel_cohorts(demo):
    table = demo.analysis.cohort_by_channel
    best = table.loc[table["repeat_share"].idxmax()]
    worst = table.loc[table["repeat_share"].idxmin()]
    section = demo.available("channel_cohorts")
    assert f"{percent(best['repeat_share'])} of customers won through" in section.text
    gap = best["repeat_share"] - worst["repeat_share"]
    assert (
        f"{percent(worst['repeat_share'])} through {escape_md(worst['acquisition_channel'])}, "
        f"the lowest share of any channel: a gap of +{100 * gap:.1f} points (95% interval of "
        "the gap from the numbers of customers alone: +"
    ) in section.text
    assert section.text.endswith("points), too large for chance.")
    # the generator's truth: Referral customers are the most loyal, Social ads the least
    assert (best["acquisition_channel"], worst["acquisition_channel"]) == ("Referral", "Social ads")
    advice = demo.available("next_steps_cohorts").text
    assert (
        f"come back least often ({percent(worst['repeat_share'])} bought again within a year, "
        f"against {percent(best['repeat_share'])} from Referral)"
    ) in advice
    html = _html(section)
    for row in table.itertuples():
        assert money(row.revenue_per_customer, "EUR") in html


def test_a_channel_gap_within_chance_is_not_called_a_difference():
    table = pd.DataFrame(
        {
            "acquisition_channel": ["Search", "Email"],
            "eligible": [12, 15],
            "repeat_share": [0.5, 0.4],
        }
    )
    text = report_cohorts._channel_gap_text(cohorts.repeat_share_gap(table))
    assert "a gap chance alone could give at these sizes" in text
    assert "12 and 15 customers): no channel clearly brings a higher share of one-and-done" in text
    assert "too large for chance" not in text


def test_a_rule_no_test_can_confirm_is_not_called_the_rule_to_run(cdnow):
    analysis = cdnow.analysis
    # CDNOW: the tiered rule pays back under the assumptions, but no group is big enough
    assert analysis.recommended_strategy == "customer-centric (tiered)"
    assert not analysis.test_plan["big_enough"].any()
    text = cdnow.available("tiered_plan").text
    assert text.startswith("The best segment rule: a fixed spend per head")
    assert "The rule to run" not in text
    assert "no holdout test at these sizes can detect it (see the test plan)" in text


def test_a_base_without_new_customers_is_not_read_as_a_retention_failure(cdnow, demo):
    flow = cdnow.analysis.window_flows.iloc[-1]
    assert flow["new"] == 0 and flow["closing"] < flow["opening"]  # CDNOW: a closed panel
    text = cdnow.available("next_steps_overview").text
    assert "No customer was acquired in that time (a closed panel, or acquisition has" in text
    assert (
        f"so the {count(flow['reactivated'])} who came back were all that could offset the "
        f"{count(flow['lapsed'])} who lapsed"
    ) in text
    cohorts_advice = cdnow.available("next_steps_cohorts").text
    assert "No cohort was added in" in cohorts_advice and "Watch the newest" not in cohorts_advice
    assert "Retention comes first" not in text
    assert "No customer was acquired" not in demo.available("next_steps_overview").text


def test_the_acquisition_plan_is_set_against_what_each_channel_brought(demo):
    analysis = demo.analysis
    window = analysis.windows.last
    # the generator's customers: Referral customers whose first purchase is in the window
    transactions = ccnb.datasets.load_demo("transactions")
    customers = ccnb.datasets.load_demo("customers").set_index("customer_id")
    amount = pd.to_numeric(transactions["amount"], errors="coerce")  # a few broken rows
    purchases = transactions.assign(date=pd.to_datetime(transactions["date"], errors="coerce"))
    firsts = purchases[amount > 0].dropna(subset=["date"]).groupby("customer_id")["date"].min()
    firsts = firsts[(firsts >= window.start) & (firsts <= window.end)]
    referral = int((customers.loc[firsts.index, "acquisition_channel"] == "Referral").sum())
    history = analysis.acquisition_history.set_index("channel")
    assert history.loc["Referral", "acquired"] == referral
    planned = int(history.loc["Referral", "new_customers"])
    text = demo.available("acquisition").text
    assert (
        f"The plan counts on {count(planned)} new customers from Referral over the budget's "
        f"period, {planned / referral:.1f} times the {count(referral)} it brought in "
        f"{window.label}: if that period is a year, check with the channel"
    ) in text
    assert "A new customer's value comes from the same kind of model as the residual CLV" in text


# --- CLV --------------------------------------------------------------------------------------


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_model_validation_quotes_the_chosen_model(client):
    result = client.analysis.validation
    chosen = result.table.loc[result.chosen]
    assert chosen["chosen"]
    section = client.available("model_validation")
    assert f"predict the {count(chosen['holdout_actual'])} repeat purchases" in section.text
    assert f"**{escape_md(chosen['label'])}**" in section.text
    error = chosen["holdout_predicted"] / chosen["holdout_actual"] - 1
    assert (
        f"predicted {count(chosen['holdout_predicted'])} "
        f"({signed_percent(error, digits=1)}), with a mean absolute error of "
        f"{chosen['mae']:.2f} purchases per customer"
    ) in section.text
    end = client.analysis.calibration_end
    assert f"up to {end.day} {end:%b %Y}" in section.text
    html = _html(section)
    for row in result.table.dropna(subset=["mae"]).itertuples():
        assert f">{row.mae:.3f}<" in html


def test_cdnow_validation_uses_the_params_dates(cdnow):
    text = cdnow["model_validation"].text
    assert "up to 30 Sep 1997" in text and "up to 30 Jun 1998" in text


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_tracking_totals(client):
    result = client.analysis.validation
    last = result.tracking[result.chosen].iloc[-1]
    text = client.available("tracking").text
    assert (
        f"expected {count(last['expected_cumulative'])} against "
        f"{count(last['actual_cumulative'])} actual"
    ) in text


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_p_alive_and_rclv_spread(client):
    predictions = client.analysis.predictions.table
    currency = client.analysis.currency
    p_alive = client.available("p_alive").text
    assert f"puts {percent((predictions['p_alive'] >= 0.5).mean())} of customers" in p_alive
    assert "at a 50% or better chance" in p_alive
    assert f"not a yearly rate) is {percent(1 - predictions['p_alive'].mean())}." in p_alive
    assert (
        f"chance of still being active on {day_label(client.analysis.observation_end)};" in p_alive
    )
    spread = client.available("clv_distribution").text
    rclv = predictions["rclv"]
    assert (
        f"ranges from {money(rclv.min(), currency)} to {money(rclv.max(), currency)}, median "
        f"{money(rclv.median(), currency)}"
    ) in spread
    assert f"worth {money(client.analysis.customer_equity.value, currency)}" in spread


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_clv_by_segment_names_the_most_valuable_segment(client):
    table = client.analysis.clv_by_segment.dropna(subset=["segment"])
    top = table.loc[table["rclv_mean"].idxmax()]
    assert top["share_of_equity"] == pytest.approx(
        top["rclv_sum"] / client.analysis.predictions.table["rclv"].sum()
    )
    text = client.available("clv_by_segment").text
    assert text.startswith(
        f"{escape_md(top['segment'])} customers are worth "
        f"{money(top['rclv_mean'], client.analysis.currency)} each"
    )
    assert f"hold {percent(top['share_of_equity'])} of customer equity" in text
    net_zero = table[table["segment"] == rfm.NET_ZERO_SEGMENT]
    caveat = "as if they kept what they buy next, while so far their returns and cancellations"
    assert (caveat in text) == bool(len(net_zero) and net_zero["n_customers"].iloc[0] > 0)


def test_the_net_zero_segments_model_value_comes_with_its_returns(demo):
    table = demo.analysis.clv_by_segment.set_index("segment")
    row = table.loc[rfm.NET_ZERO_SEGMENT]
    text = demo.available("clv_by_segment").text
    assert (
        f"The model values the {count(row['n_customers'], 'customer')} of the segment "
        f"Net zero or negative at {money(row['rclv_mean'], 'EUR')} each"
    ) in text
    assert row["n_customers"] == (demo.analysis.segments["segment"] == rfm.NET_ZERO_SEGMENT).sum()
    # the allocation indeed leaves every one of them out
    allocated = set(demo.analysis.allocated_customers["customer_id"])
    members = demo.analysis.segments.loc[
        demo.analysis.segments["segment"] == rfm.NET_ZERO_SEGMENT, "customer_id"
    ]
    assert not allocated & set(members)


def _true_new_customer_value(channel: str, params) -> float:
    """A new demo customer's value from the generator's documented truth, with lifetimes.

    First purchase: the Gamma-Gamma mean spend (p gamma / (q - 1) = 75) times the margin.
    Later purchases: lifetimes' BG/NBD expectation for a new customer with the channel's true
    (r, alpha, a, b), month by month over the horizon, discounted as the model's value is
    (a = 1 exactly gives lifetimes inf/nan, so 1 + 1e-9 stands in for it).
    """
    from lifetimes import BetaGeoFitter

    from ccnb.datasets import DEMO_TRUE_PARAMS

    truth = DEMO_TRUE_PARAMS["channels"][channel]
    fitter = BetaGeoFitter()
    a = truth["a"] if truth["a"] != 1 else 1 + 1e-9
    fitter.params_ = pd.Series({"r": truth["r"], "alpha": truth["alpha"], "a": a, "b": truth["b"]})
    months = np.arange(1, params.horizon_months + 1)
    cumulative = np.asarray(
        fitter.expected_number_of_purchases_up_to_time(months * 365.25 / 12 / 7), dtype=float
    )
    monthly = np.diff(cumulative, prepend=0.0)
    discount = (1 + params.discount_rate_annual) ** (-months / 12)
    mean_spend = truth["p"] * truth["gamma"] / (truth["q"] - 1)
    return params.gross_margin * mean_spend * (1 + float(discount @ monthly))


def test_new_customer_value_per_channel_is_within_15_percent_of_the_truth(demo):
    params = demo.analysis.params
    table = demo.analysis.new_customer_value.set_index("acquisition_channel")
    target = params.budget.target_ltv_cac
    for channel, row in table.iterrows():
        truth = _true_new_customer_value(channel, params)
        assert row["new_customer_value"] == pytest.approx(truth, rel=0.15), channel
        assert row["model"] == "channel fit"
        # the verdict on the channel's cost agrees with the one the truth gives
        cost = row["mean_acquisition_cost"]
        true_verdict = (
            "loses money"
            if truth < cost
            else "below target"
            if truth < target * cost
            else "within the ceiling"
        )
        assert row["verdict"] == true_verdict, channel
    # Paid search and Social ads are profitable but below the 3:1 target (not "cut")
    assert table.loc[["Paid search", "Social ads"], "verdict"].eq("below target").all()
    assert not table.loc["Organic search", "paid"]  # organic: valued, never bought


def test_cac_ceiling_section_gives_each_channel_its_verdict(demo):
    table = demo.analysis.new_customer_value
    target = demo.analysis.params.budget.target_ltv_cac
    section = demo.available("cac_ceiling")
    assert f"over the target {target:g}:1 ratio" in section.text
    assert "payback (months; 0: the first purchase pays the cost)" in _html(section)
    for row in table.itertuples():
        assert row.cac_ceiling == pytest.approx(row.new_customer_value / target)
        assert (
            f"{escape_md(row.acquisition_channel)}: worth {money(row.new_customer_value, 'EUR')} "
            f"({money(row.first_purchase_margin, 'EUR')} first purchase"
        ) in section.text
    assert "Paid search" in section.text and "profitable, but below the 3:1 target" in section.text
    # the demo records a cost for Organic search: the page says why it is still not bought
    organic_cost = table.set_index("acquisition_channel").loc["Organic search"]
    assert organic_cost["mean_acquisition_cost"] > 0
    assert (
        f"ceiling {money(organic_cost['cac_ceiling'], 'EUR')}; cost "
        f"{money(organic_cost['mean_acquisition_cost'], 'EUR')}: within the ceiling. Never "
        "bought: named organic, so by default more spend is not taken"
    ) in section.text
    # checked against the cohorts' observed first-year margin
    observed = demo.analysis.cohort_by_channel.set_index("acquisition_channel")
    social = observed.loc["Social ads", "revenue_per_customer"] * demo.analysis.params.gross_margin
    assert f"Social ads {money(social, 'EUR')} observed against" in section.text


def test_naive_versus_model(demo):
    # the annual churn rate of the simple formula is the KPI table's last window
    rate = demo.analysis.window_flows["churn_rate"].iloc[-1]
    kpis = demo.analysis.kpis.set_index(["kpi", "window"])["value"]
    assert kpis["churn_rate", demo.analysis.windows.last.label] == rate
    naive = clv.naive_clv(
        demo.analysis.summary, annual_churn_rate=rate, observation_end=demo.analysis.observation_end
    )
    text = demo.available("naive_versus_model").text
    # what "annual revenue" is, so a reader can redo the product
    annual = naive["naive_annual_revenue"].mean()
    assert (
        f"counting at least one year, {money(annual, 'EUR')} on average, times a lifespan" in text
    )
    assert naive["naive_clv"].mean() == pytest.approx(annual / rate)
    assert f"1 / the churn rate of 2025 ({percent(rate, digits=1)}) = {1 / rate:.1f} years)" in text
    assert f"gives {money(naive['naive_clv'].mean(), 'EUR')} of revenue per customer" in text
    assert f"is {money(demo.analysis.predictions.table['rclv'].mean(), 'EUR')}. Use" in text


def test_naive_versus_model_needs_a_year_of_churn():
    # CDNOW to 1997-12-31 covers a year but not two: the only window is the whole of 1997,
    # which opens with nobody active, so there is no churn rate for the simple formula.
    analysis = _analysis(observation_end="1997-12-31", calibration_end="1997-09-30")
    assert analysis.windows.last.label == "1997"
    with pytest.raises(Unavailable, match="churn rate over 1997 cannot be measured"):
        _ = analysis.naive_versus_model
    # nine months of data are not a year
    short = _analysis(observation_end="1997-09-30", calibration_end="1997-06-30")
    with pytest.raises(Unavailable, match="less than a year"):
        _ = short.naive_versus_model


def test_next_steps_clv(demo):
    table = demo.analysis.new_customer_value
    text = demo.available("next_steps_clv").text
    assert f"hold {percent(demo.analysis.customer_equity.top_decile_share)} of" in text
    for row in table.itertuples():
        advice = f"pay at most {money(row.cac_ceiling, 'EUR')} per new customer"
        assert (advice in text) == bool(row.paid)  # no buying advice for an unpaid channel
    assert "cut spend" not in text  # no demo channel loses money


def test_clv_export_writes_every_customer(demo):
    activation = pd.read_csv(demo.exports / "clv.csv")
    assert len(activation) == len(demo.analysis.activation)
    assert f"for {count(len(activation))} customers" in demo["clv_export"].text


# --- budget --------------------------------------------------------------------------------


def test_budget_assumptions(demo):
    settings = demo.analysis.params.budget
    customers = demo.analysis.summary
    window = demo.analysis.params.churn_window_days
    bought = (customers["days_since_last"] < window) & (customers["orders"] > 0)
    active = bought.sum()
    net_zero = bought & (customers["revenue"] <= 0)
    section = demo.available("budget_assumptions")
    assert (
        f"spreads {money(settings.total, 'EUR')} over {count(active - net_zero.sum())} of the "
        f"{count(active)} active customers: the {count(net_zero.sum())} whose returns and "
        "cancellations equal or exceed their purchases are left out"
    ) in section.text
    assert f"at most {percent(settings.max_lift)} of their residual CLV" in section.text


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_strategies_gain_is_recomputed_from_the_allocations(client):
    allocations = client.analysis.allocations
    focused = allocations["customer-focused"].table["added_value"].sum()
    centric = allocations["customer-centric (optimal)"].table["added_value"].sum()
    currency = client.analysis.currency
    total = client.analysis.params.budget.total
    section = client.available("strategies")
    assert section.text.startswith("A simulation from stated assumptions, not a measurement")
    assert (
        f"brings {money(centric, currency)} of margin over the residual CLV's "
        f"{client.analysis.params.horizon_months} months: ROI "
        f"{signed_percent((centric - total) / total, digits=0)}"
    ) in section.text
    assert (
        f"adds {money(centric - focused, currency)} "
        f"({signed_percent((centric - focused) / focused, digits=1)}) over spreading"
    ) in section.text
    # a plan that returns less than it costs says so in words
    for strategy, allocation in allocations.items():
        value = allocation.table["added_value"].sum()
        if strategy != "customer-centric (optimal)" and value < total:
            assert (
                f"the {strategy} plan brings {money(value, currency)} (ROI "
                f"{signed_percent((value - total) / total, digits=0)}, it loses money)"
            ) in section.text
    html = _html(section)
    for strategy, allocation in allocations.items():
        assert strategy in html
        assert count((allocation.table["spend"] > 0).sum()) in html


def test_a_plan_that_loses_money_says_so_in_the_headline():
    # CDNOW with a 1% maximum lift: no allocation of the budget earns it back
    analysis = _analysis(budget={"max_lift": 0.01})
    text = report.strategies(analysis).text
    plt.close("all")
    plan = analysis.strategy_comparison.set_index("strategy").loc["customer-centric (optimal)"]
    assert plan["roi"] < 0
    first_sentence = text.split(". ")[0]
    assert f"ROI {signed_percent(plan['roi'], digits=0)}, it loses money" in first_sentence
    grid = report.sensitivity(analysis).text
    plt.close("all")
    assert "cases the plan loses money" in grid


def test_the_sensitivity_grid_uses_the_params_response_curve():
    # a Hill curve of shape 0.5: the grid's plan cell is the plan itself (shape not ignored)
    analysis = _analysis(budget={"response_curve": "hill", "hill_shape": 0.5})
    grid = analysis.sensitivity
    settings = analysis.params.budget
    cell = grid[
        np.isclose(grid["max_lift"], settings.max_lift)
        & np.isclose(grid["spend_scale"], settings.spend_scale)
    ].iloc[0]
    plans = analysis.strategy_comparison.set_index("strategy")
    assert cell["centric_value"] == pytest.approx(
        plans.loc["customer-centric (optimal)", "added_value"], rel=1e-9
    )
    assert cell["focused_value"] == pytest.approx(
        plans.loc["customer-focused", "added_value"], rel=1e-9
    )


def test_demo_budget_is_beyond_break_even_or_not(demo):
    break_even = budget.break_even_budget(
        demo.analysis.budget_customers,
        curve=demo.analysis.curve,
        max_lift=demo.analysis.params.budget.max_lift,
    )
    text = demo["strategies"].text
    beyond = f"beyond {money(break_even, 'EUR')} the last unit spent"
    assert (beyond in text) == (demo.analysis.params.budget.total > break_even)


def test_allocation_deciles(demo):
    table = demo.analysis.allocation_deciles
    top = table[(table["strategy"] == "customer-centric (optimal)") & (table["decile"] == 1)]
    text = demo.available("allocation_deciles").text
    assert f"puts {percent(top['budget_share'].item())} of the budget on the" in text
    assert f"who hold {percent(top['equity_share'].item())} of" in text


def test_one_spend_per_head_rule_is_recommended(demo):
    """The demo's params tiers lose more than the optimum's own segment rule."""
    analysis = demo.analysis
    rules = analysis.tier_rules.set_index("source")
    # the recommended rule adds the most value of the candidates, for the same budget
    assert rules["recommended"].sum() == 1
    assert rules.loc[rules["recommended"], "added_value"].item() == rules["added_value"].max()
    assert rules.loc["params", "roi"] < rules.loc["optimum", "roi"]
    tiered = analysis.allocations["customer-centric (tiered)"].table
    per_head = tiered.groupby("segment", observed=True)["spend"].mean()
    text = demo.available("tiered_plan").text
    assert "The params file's `budget.tier_spend` (High&#45;Value €25.00" in text
    roi = signed_percent(rules.loc["params", "roi"], digits=0)
    assert f"(ROI {roi}, it loses money), so the amounts are" in text
    html = _html(demo.available("tiered_plan"))
    for value in per_head:
        assert money(value, "EUR") in html
    # one set of amounts on the page: the table has no second spend-per-head column
    assert "optimal, rounded" not in html and "mean optimal spend" not in html


def test_when_no_segment_rule_pays_the_plan_is_customer_by_customer(demo):
    analysis = demo.analysis
    tiered = analysis.strategy_comparison.set_index("strategy").loc["customer-centric (tiered)"]
    assert tiered["roi"] < 0  # even the best segment rule loses money on the demo
    assert analysis.recommended_strategy == "customer-centric (optimal)"
    assert "Even the best segment rule loses money" in demo.available("tiered_plan").text
    steps = demo.available("next_steps_budget").text
    assert "customer by customer from `allocation.csv`" in steps and "by segment (" not in steps
    # the test is sized on that plan: its treated customers are those the optimum funds
    optimal = analysis.allocations["customer-centric (optimal)"].table
    pooled = analysis.test_plan.set_index("segment").loc["all treated"]
    assert pooled["customers"] == (optimal["spend"] > 0).sum()
    assert "the optimal spend per customer, as no segment rule pays" in (
        demo.available("test_plan").text
    )


def test_a_segment_rule_that_pays_is_the_plan_to_run(cdnow):
    analysis = cdnow.analysis
    assert analysis.recommended_strategy == "customer-centric (tiered)"
    plan = analysis.tier_plan
    funded = plan[plan["spend_per_head"] > 0]
    rule = ", ".join(
        f"{escape_md(segment)} {money(row.spend_per_head, 'USD')}"
        for segment, row in funded.iterrows()
    )
    steps = cdnow.available("next_steps_budget").text
    assert f"by segment ({rule} and nothing for the others)" in steps
    tiered = analysis.allocations["customer-centric (tiered)"].table
    pooled = analysis.test_plan.set_index("segment").loc["all treated"]
    assert pooled["customers"] == (tiered["spend"] > 0).sum()


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_the_rule_agrees_with_the_segment_tactics(client):
    plan = client.analysis.tier_plan
    text = client.available("tiered_plan").text
    unfunded = plan.index[plan["spend_per_head"] == 0].tolist()
    assert unfunded  # both optimums fund High-Value only
    assert "customers get nothing from this budget: their tactics on the segmentation" in text
    for name in unfunded:
        assert escape_md(name) in text
    # the segmentation page promises no paid upside to a segment the budget leaves out
    steps = client.available("next_steps_segments").text
    assert "largest upside" not in steps
    # lapsed and net-zero customers are never in the plan; Low-Value ones have lapsed too
    assert not {"Lapsed", "Low-Value", rfm.NET_ZERO_SEGMENT} & set(plan.index)


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_sensitivity_grid_from_the_params_multipliers(client):
    settings = client.analysis.params.budget
    grid = client.analysis.sensitivity
    lifts = {round(settings.max_lift * m, 4) for m in (0.25, 0.5, 1, 2, 3)}
    scales = {round(settings.spend_scale * m, 2) for m in (0.25, 0.5, 1, 2, 4)}
    assert set(np.round(grid["max_lift"], 4)) == lifts
    assert set(np.round(grid["spend_scale"], 2)) == scales
    assert len(grid) == len(lifts) * len(scales)
    text = client.available("sensitivity").text
    assert (
        f"runs from {signed_percent(grid['centric_roi'].min())} to "
        f"{signed_percent(grid['centric_roi'].max())}"
    ) in text
    assert (
        f"ranges from {percent(grid['gain_pct'].min() / 100)} to "
        f"{percent(grid['gain_pct'].max() / 100)}"
    ) in text
    # both response curves scale with the lift, so the gain does not depend on it
    assert "does not depend on the maximum lift" in text
    summary = client.analysis.sensitivity_summary
    words = {"max_lift": "the assumed maximum lift", "spend_scale": "the spend scale"}
    assert f"The assumption that moves it most is {words[summary['driver']]}" in text
    # the plan's own cell is the plan: same value as the allocation on the strategy page
    plan = grid[
        np.isclose(grid["max_lift"], settings.max_lift)
        & np.isclose(grid["spend_scale"], settings.spend_scale)
    ].iloc[0]
    centric = client.analysis.strategy_comparison.set_index("strategy")
    assert plan["centric_value"] == pytest.approx(
        centric.loc["customer-centric (optimal)", "added_value"], rel=1e-9
    )
    break_even = money(client.analysis.break_even_budget, client.analysis.currency)
    assert f"beyond a budget of {break_even}." in text


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_test_plan_sentence(client):
    settings = client.analysis.params.budget
    plan = client.analysis.test_plan.set_index("segment")
    pooled = plan.loc["all treated"]
    customers = client.analysis.test_customers
    treated = customers[customers["effect"] > 0]
    # the outcome is revenue in the test window; the effect is the planned spend's
    assert pooled["customers"] == len(treated)
    assert pooled["absolute_lift"] == pytest.approx(treated["effect"].mean())
    assert pooled["mean_revenue"] == pytest.approx(treated["revenue"].mean())
    text = client.available("test_plan").text
    window = settings.test_window_days
    currency = client.analysis.currency
    assert f"revenue per customer over the {window} days after the spend" in text
    assert f"expected to add {money(pooled['absolute_lift'], currency)} per customer" in text
    # the test's window against the ROI's horizon: a detected lift is not the ROI reached
    months = client.analysis.params.horizon_months
    assert f"It sees {window} days of revenue, not the {months} months of margin" in text
    # the confidence and power size the test; they are not a property of the expected gain
    assert "The test is sized to detect a lift at 95% confidence with 80% power." in text
    # neither the demo's nor CDNOW's plan is detectable: said, with what it would take
    assert not plan["big_enough"].any()
    assert "No group is large enough to detect it" in text
    assert f"would take {count(pooled['total_needed'])} treated and held-out customers" in text
    # as precise as the table's column, so the two read the same
    smallest = percent(pooled["min_detectable_lift"], digits=1)
    assert f"the smallest lift the test could detect is {smallest}" in text
    table = client.available("test_plan").table.to_html()
    assert f">{smallest}<" in table


def test_a_feasible_test_is_recommended_and_an_infeasible_one_is_not(demo):
    assert "A holdout test cannot verify this plan" in demo.available("next_steps_budget").text
    assert "Test the plan" not in demo.available("next_steps_budget").text
    # CDNOW with a larger, concentrated budget, equal groups and a 180-day window: detectable
    analysis = _analysis(
        budget={"total": 20000, "max_lift": 0.6, "holdout_share": 0.5, "test_window_days": 180}
    )
    plan = analysis.test_plan.set_index("segment")
    assert plan.loc["all treated", "big_enough"] and plan.loc["High-Value", "big_enough"]
    text = report.test_plan(analysis).text
    big_enough = plan[plan["big_enough"]].index.tolist()  # High-Value, Medium-Value, pool
    assert f"large enough to detect it in: {', '.join(map(escape_md, big_enough))}." in text
    steps = report.next_steps_budget(analysis).text
    plt.close("all")
    assert "Test the plan before rolling it out" in steps
    assert "After 180 days compare revenue per customer" in steps


def test_acquisition_plan(demo):
    settings = demo.analysis.params.budget
    acquisition = demo.analysis.acquisition_plan
    plan = acquisition.table
    values = demo.analysis.new_customer_value
    paid = values[values["paid"]]
    assert sorted(plan["channel"]) == sorted(paid["acquisition_channel"])  # organic not bought
    assert "Organic search" not in set(plan["channel"])
    assert plan["spend"].sum() + acquisition.unspent == pytest.approx(settings.new_customer_budget)
    for row in plan.itertuples():
        capacity = settings.channel_capacity.get(row.channel, np.inf)
        assert row.new_customers <= capacity + 1e-9
        if row.spend > 0:
            assert row.value_per_cost > settings.target_ltv_cac
    section = demo.available("acquisition")
    assert f"The {money(settings.new_customer_budget, 'EUR')} acquisition budget" in section.text
    assert f"worth at least {settings.target_ltv_cac:g} times their cost" in section.text
    funded = ", ".join(
        f"{escape_md(row.channel)} {money(row.spend, 'EUR')}"
        for row in plan[plan["spend"] > 0].itertuples()
    )
    assert f"their cost: {funded or 'no channel qualifies'} (" in section.text
    assert "Never bought: Organic search, named organic, so by default" in section.text
    # the money left: a channel full at its capacity, the others not worth the threshold
    full = [
        row.channel
        for row in plan.itertuples()
        if row.spend > 0 and row.new_customers >= settings.channel_capacity.get(row.channel, 1e18)
    ]
    assert full == ["Referral"]  # params/demo.yaml: 600 new customers at most
    capacity = "(Referral up to its capacity of 600 new customers over the budget's period)"
    assert capacity in section.text
    assert f"{money(acquisition.unspent, 'EUR')} is left unspent (no other paid channel" in (
        section.text
    )
    html = _html(section)
    for row in plan.itertuples():
        assert money(row.cac, "EUR") in html


def test_budget_export_holds_out_the_planned_customers(demo):
    assignment = pd.read_csv(demo.exports / "test_assignment.csv")
    held = int((assignment["group"] == "holdout").sum())
    plan = demo.analysis.test_plan
    assert held == plan.loc[plan["segment"] != "all treated", "holdout_size"].sum()
    treated = len(demo.analysis.treated_customers)
    assert f"assignment of the {count(treated)} customers the recommended plan spends on " in (
        demo.available("budget_export").text
    )
    assert f"({count(held)} held out)" in demo.available("budget_export").text
    assert len(assignment) == treated


# --- the report's analytic choices are params --------------------------------------------


def _analysis(**overrides) -> ClientAnalysis:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(CACHE_DIR_VARIABLE, raising=False)
        return ClientAnalysis(ccnb.load_params(ROOT / "params" / "cdnow.yaml", **overrides))


def test_concentration_and_corner_follow_the_rfm_params():
    analysis = _analysis(rfm={"concentration_top": 0.1, "top_corner": 5})
    text = report.concentration(analysis).text
    plt.close("all")
    share = rfm.top_share(analysis.summary, top=0.1)
    assert f"the best 10% of customers brought {percent(share)}" in text
    scores = analysis.segments
    corner = scores[(scores["R"] >= 5) & (scores["F"] >= 5)]
    grid = report.rfm_grid(analysis).text
    plt.close("all")
    assert f"{percent(len(corner) / len(scores))} of customers sit" in grid
    assert "(R and F of 5)" in grid


def test_early_repeat_minimum_is_a_param():
    analysis = _analysis(early_repeat_min_eligible=1)
    cohorts = analysis.early_repeat_by_cohort
    pooled = cohorts["repeaters"].sum() / cohorts["eligible"].sum()
    assert analysis.early_repeat_pooled["early_repeat_rate"] == pytest.approx(pooled)
    assert analysis.early_repeat_pooled["groups"] == len(cohorts)
    text = report.early_repeat(analysis).text
    plt.close("all")
    # CDNOW has one acquisition cohort, Q1 1997: its rate is the pooled rate
    assert len(cohorts) == 1
    assert f"acquired in Q1 1997, {percent(pooled)} bought again" in text


def test_retention_period_is_a_param():
    analysis = _analysis(cohorts={"retention_period": "M"})
    triangle = analysis.retention
    assert sorted(triangle["cohort"].dt.month.unique()) == [1, 2, 3]  # monthly cohorts
    year_on = triangle[triangle["age"] == 12].dropna(subset=["retention"]).tail(4)
    assert len(year_on) == 3
    text = report.retention(analysis).text
    plt.close("all")
    retained = percent(year_on["active"].sum() / year_on["cohort_size"].sum())
    assert f"A year after their first month, {retained} of the last three measurable" in text
    assert "share still buying that month" in text


def test_holiday_months_and_years_are_params(demo):
    params = demo.analysis.params
    years = sorted(demo.analysis.seasonal_cohorts["season_year"].unique())
    changed = params.model_copy(
        update={
            "cohorts": params.cohorts.model_copy(
                update={"holiday_months": [12, 1], "season_years": years[:2]}
            )
        }
    )
    analysis = ClientAnalysis(changed)
    analysis._values["data"] = demo.analysis.data  # same client: reuse the loaded data
    table = analysis.seasonal_cohorts
    assert sorted(table["season_year"].unique()) == years[:2]
    assert table["season"].str.startswith("Dec ").all()
    text = report.seasonal(analysis).text
    plt.close("all")
    assert "(first purchase in December or January)" in text


def test_new_params_have_todays_defaults():
    cdnow_params = ccnb.load_params(ROOT / "params" / "cdnow.yaml")
    assert cdnow_params.cohorts.retention_period == "Q"
    assert cdnow_params.cohorts.holiday_months == [11, 12]
    assert cdnow_params.cohorts.seasons_compared == 3
    assert cdnow_params.cohorts.season_years is None
    assert cdnow_params.rfm.concentration_top == 0.2 and cdnow_params.rfm.corner_score == 4
    assert cdnow_params.early_repeat_min_eligible == 30 and cdnow_params.survey_min_answers == 30
    assert cdnow_params.budget.sensitivity_lift_multipliers == [0.25, 0.5, 2.0, 3.0]
    assert cdnow_params.budget.sensitivity_scale_multipliers == [0.25, 0.5, 2.0, 4.0]
    assert cdnow_params.budget.acquisition_threshold == cdnow_params.budget.target_ltv_cac
    grid = cdnow_params.iso_value
    assert (grid.max_frequency, grid.frequency_quantile, grid.recency_steps) == (30, 0.99, 40)
    assert grid.min_recency_step == 1.0


def test_exports_are_written_only_where_asked(demo):
    assert sorted(path.name for path in demo.exports.iterdir()) == [
        "allocation.csv",
        "clv.csv",
        "kpis.csv",
        "segments.csv",
        "test_assignment.csv",
    ]
    assert os.environ.get(EXPORT_DIR_VARIABLE) != str(demo.exports)


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_no_segment_contradicts_its_name(client):
    table = client.analysis.segment_summary.set_index("segment")
    window = client.analysis.params.churn_window_days
    shown = table[table["customers"] > 0]
    median = shown["median_revenue"]
    # value names rank by what customers spent
    assert median["High-Value"] > median["Medium-Value"] > median["Low-Value"]
    # active tiers bought within the churn window; Lapsed and Low-Value did not
    for name in ("High-Value", "Medium-Value", "First-Time"):
        if name in shown.index:
            assert shown.loc[name, "median_days_since_last"] < window, name
    for name in ("Lapsed", "Low-Value"):
        assert shown.loc[name, "median_days_since_last"] >= window, name
    assert (
        shown.loc["Lapsed", "median_orders"] >= 2 and shown.loc["Low-Value", "median_orders"] == 1
    )
    if rfm.NET_ZERO_SEGMENT in shown.index:
        assert median[rfm.NET_ZERO_SEGMENT] <= 0


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_holdout_purchases_by_decile_of_prediction(client):
    analysis = client.analysis
    table = analysis.holdout_deciles.set_index("decile")
    chosen = analysis.validation.table.loc[analysis.validation.chosen]
    # the deciles split the validation's totals: every calibration customer once
    assert table["customers"].sum() == len(analysis.calibration)
    assert table["predicted"].sum() == pytest.approx(chosen["holdout_predicted"])
    assert table["actual"].sum() == chosen["holdout_actual"]
    assert table["predicted_mean"].is_monotonic_decreasing  # ranked by the prediction
    text = client.available("holdout_deciles").text
    top = table.loc[1]
    assert (
        f"the top 10% were expected to make {top['predicted_mean']:.2f} repeat purchases each "
        f"and made {top['actual_mean']:.2f}"
    ) in text
    means = table["actual_mean"].to_numpy()
    steady = bool(np.all(np.diff(means) <= 0))
    assert ("the model ranks customers well" in text) == steady
    if not steady:  # CDNOW: the one-time buyers of the last decile bought more than decile 9
        rising = [int(i) + 2 for i in np.flatnonzero(np.diff(means) > 0)]
        pairs = ", ".join(f"{decile} over {decile - 1}" for decile in rising)
        assert f"(decile {pairs} bought more per head)" in text
    # a half predicted more than 20% off is named with what it means for its CLV
    bottom = table[table.index > 5]
    off = bottom["actual"].sum() / bottom["predicted"].sum() - 1
    named = f"the bottom half bought {percent(abs(off))} more than predicted" in text
    assert named == (off > 0.2)  # CDNOW: +74%, the demo: within 20%


@pytest.mark.parametrize("name", ["equity_headline", "clv_distribution"])
@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_the_equity_interval_says_what_it_includes(client, name):
    """Both pages name what the interval includes and leaves out; where the holdout total fell
    outside its own interval (the demo), they say the true uncertainty is wider."""
    analysis = client.analysis
    equity, currency = analysis.customer_equity, analysis.currency
    assert equity.uncertainty == "predictive"
    level = percent(analysis.predictions.settings["interval"])
    text = client.available(name).text
    assert (
        f"({level} interval {money(equity.low, currency)} to {money(equity.high, currency)})"
        in text
    )
    assert (
        "The interval includes the uncertainty of the model's parameters and each customer's "
        "own randomness (who stays, how often they buy, what they spend), not what the model "
        "does not know, such as seasonality or a change in the business"
    ) in text
    missed = analysis.holdout_total["inside"] == 0
    assert ("so the true uncertainty is wider" in text) == missed


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_holdout_total_against_its_predictive_interval(client):
    """The model check quotes the holdout total's predictive interval and whether the actual
    fell inside; the interval is wider than the parameter-only one and contains the expectation."""
    total = client.analysis.holdout_total
    assert total["actual"] == client.analysis.calibration["frequency_holdout"].sum()
    assert total["low"] < total["expected"] < total["high"]
    assert total["high"] - total["low"] > total["parameter_high"] - total["parameter_low"]
    text = client.available("model_validation").text
    assert (
        "The chosen model's 90% interval for that total, from the uncertainty of the parameters "
        f"and each customer's own randomness, ran from {count(total['low'])} to "
        f"{count(total['high'])}"
    ) in text
    if total["inside"]:
        assert f"the actual {count(total['actual'])} fell inside it." in text
        assert "missing something" not in text
    else:
        assert "so the model is missing something that moved all customers together" in text


def test_demo_holdout_miss_is_put_down_to_its_holiday_season(demo):
    """The demo generator has a holiday peak the models do not know; the calibration period
    ends on 31 December, right after it. The model over-predicts 2025 and the report says
    why, from the calibration period's own month-by-month ratio of actual to expected."""
    total, miss = demo.analysis.holdout_total, demo.analysis.holdout_miss
    assert total["inside"] == 0 and total["actual"] < total["low"]
    assert miss["cause"] == "seasonality" and miss["mechanism"] == "ends_after_peak"
    assert miss["peak_month"] in (11, 12) and miss["peak_ratio"] >= 1.5
    text = demo.available("model_validation").text
    assert "fell below it" in text
    assert (
        "The likely cause is seasonality: in the calibration period, customers bought "
        f"{miss['peak_ratio']:.1f} times as much"
    ) in text
    assert "The calibration period ends soon after" in text
    # the history the CLV model is fitted on also ends on 31 December: its CLV is likely high
    assert miss["data_end_after_peak"]
    assert (
        f"read them as likely too high, by roughly the holdout's +{total['error_pct']:.1f}%" in text
    )


def test_cdnow_holdout_total_falls_inside(cdnow):
    """CDNOW: Pareto/NBD predicts 1,666 of 1,882 holdout purchases (-11.5%); inside its
    predictive interval, outside the parameter-only one."""
    total = cdnow.analysis.holdout_total
    assert total["inside"] == 1
    assert not total["parameter_low"] <= total["actual"] <= total["parameter_high"]
    assert cdnow.analysis.holdout_miss["cause"] == "none"


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_purchase_probability_is_scored_against_who_bought(client):
    table, scores = client.analysis.purchase_reliability
    calibration = client.analysis.calibration
    bought = (calibration["frequency_holdout"] > 0).mean()
    assert scores["bought_share"] == pytest.approx(bought)
    assert table["customers"].sum() == len(calibration)
    assert scores["brier"] < scores["base_rate_brier"]  # the model beats the base rate
    text = client.available("purchase_probability").text
    assert f"{percent(bought)} of the customers did" in text
    assert f"Its Brier score is {scores['brier']:.3f}" in text
    assert f"for everyone scores {scores['base_rate_brier']:.3f}" in text


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_probability_bands_get_a_verdict(client):
    """The band furthest from its probability (30+ customers) is named with its numbers, or
    the probabilities are said to hold (within 10 points everywhere)."""
    table, _ = client.analysis.purchase_reliability
    judged = table[table["customers"] >= 30]
    gap = (judged["observed"] - judged["predicted"]).abs()
    text = client.available("purchase_probability").text
    worst = judged.loc[gap.idxmax()]
    if gap.max() > 0.1:
        assert (
            f"for the {count(worst['customers'])} customers given {worst['low']:.0%}–"
            f"{worst['high']:.0%} the model said {percent(worst['predicted'])} and "
            f"{percent(worst['observed'])} bought"
        ) in text
    else:
        assert "the probabilities can be taken at their word" in text


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_model_choice_names_a_model_closer_on_the_total(client):
    table = client.analysis.validation.table
    chosen = table.loc[client.analysis.validation.chosen]
    errors = table["aggregate_error_pct"].abs()
    closer = table[errors <= abs(chosen["aggregate_error_pct"]) - 5]
    text = client.available("model_validation").text
    assert ("came closer on the total" in text) == (not closer.empty)
    if not closer.empty:
        assert "the per-customer error decides" in text


@pytest.mark.parametrize("client", ["demo", "cdnow"], indirect=True)
def test_a_single_customers_interval_is_explained(client):
    table = client.analysis.predictions.table
    text = client.available("clv_distribution").text
    zero = (table["rclv_low"] <= 0).mean()
    if zero == 1:
        assert "It starts at 0 for every customer" in text
    else:  # "every" only when it is true; close to all, one decimal
        shown = percent(zero, digits=1) if zero >= 0.995 else percent(zero)
        assert f"It starts at 0 for {shown} of the customers" in text
    likely_none = (table["p_no_purchase"] > 0.5).mean()
    assert f"({percent(likely_none)} are more likely than not to buy nothing" in text


def test_excluded_revenue_is_never_shown_as_zero_percent():
    """A sliver of revenue reads 'under 0.01%', none at all leaves the clause out; while the
    total is under 10% shares keep two decimals, so the reasons' shares add up to it as read."""
    from ccnb.quality import SourceQuality
    from ccnb.report.common import _carrying

    def source(rejected_amount):
        return SourceQuality(
            source="transactions",
            file="f.csv",
            rows_read=1001,
            rows_used=1000,
            rejected={"bad_date": 1},
            customers=10,
            amount_used=100_000.0,
            amount_rejected={"bad_date": rejected_amount},
        )

    assert _carrying(source(4.0)) == " (carrying under 0.01% of the revenue in the file)"
    assert _carrying(source(12.0)) == " (carrying 0.01% of the revenue in the file)"
    assert _carrying(source(500.0)) == " (carrying 0.50% of the revenue in the file)"
    assert _carrying(source(0.0)) == ""
    assert _carrying(source(5_000.0)) == " (carrying 4.76% of the revenue in the file)"
    assert _carrying(source(20_000.0)) == " (carrying 16.7% of the revenue in the file)"


def test_a_channel_never_bought_says_why():
    """No recorded cost, the params' list, or the default rule for names saying organic."""
    from types import SimpleNamespace

    from ccnb.report._section import _not_bought_reason

    def analysis(listed):
        return SimpleNamespace(
            params=SimpleNamespace(budget=SimpleNamespace(unpaid_channels=listed))
        )

    def row(because):
        return SimpleNamespace(not_bought_because=because)

    # the channel table's reason (ccnb.clv.new_customer_value), worded with the params' rule
    assert _not_bought_reason(analysis(None), row("no cost recorded")) == (
        "no acquisition cost recorded"
    )
    assert _not_bought_reason(analysis(["Word of mouth"]), row("no cost recorded")) == (
        "no acquisition cost recorded"
    )
    assert _not_bought_reason(analysis(["Word of mouth"]), row("unpaid channel")) == (
        "listed in the params' `budget.unpaid_channels`"
    )
    assert _not_bought_reason(analysis(None), row("unpaid channel")).startswith("named organic")


def test_a_model_whose_fit_failed_is_named_with_the_reason():
    """The big client's Pareto/NBD row was all dashes with no word on why."""
    import html

    from ccnb.report.clv_modelling import _not_compared

    table = pd.DataFrame(
        {
            "label": ["BG/NBD", "Pareto/NBD", "MBG/NBD"],
            "converged": [True, False, True],
            "status": ["ok", "gradient 3e-2 > 1e-4", "holdout predictions are not finite"],
        },
        index=["bgnbd", "pareto", "mbgnbd"],
    )
    assert html.unescape(_not_compared(table)) == (  # as the page shows it
        "Pareto/NBD is not compared (its row is empty): its fit did not converge on this data "
        "(gradient 3e-2 > 1e-4). MBG/NBD is not compared (its row is empty): its holdout "
        "predictions are not finite. "
    )
    assert _not_compared(table.iloc[[0]]) == ""


def test_decimal_columns_group_thousands():
    """The big client's tables read '1125777' and '-13395667.7'."""
    from ccnb.report._section import _styled

    frame = pd.DataFrame({"total": [1125777.0, np.nan], "log_likelihood": [-13395667.66, 2.0]})
    html_table = _styled(frame, name="t", decimals={"total": 0, "log_likelihood": 1}).to_html()
    for shown in (">1,125,777<", ">-13,395,667.7<", ">2.0<", ">–<"):
        assert shown in html_table


def test_residual_clv_names_the_margin_and_discount_rate_it_rests_on(demo):
    written = (ROOT / "params" / "demo.yaml").read_text()
    assert "gross_margin: 0.35" in written and "discount_rate_annual: 0.10" in written
    assert (
        "Residual CLV (the margin of future purchases over 36 months at the params' gross "
        "margin of 35% of revenue, discounted at 10% a year)"
    ) in demo.available("clv_distribution").text
