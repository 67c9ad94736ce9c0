"""Sections of 04_budget_allocation: strategies, tiers, sensitivity, test plan, acquisition."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ccnb import plots
from ccnb.analysis import TREATED_POOL, ClientAnalysis, Unavailable
from ccnb.batch import exports
from ccnb.formatting import count, escape_md, in_words, money, percent, signed_percent
from ccnb.report._section import (
    MODEL_CHECK_ELSEWHERE,
    Section,
    _bullets,
    _figure,
    _not_bought_reason,
    _section,
    _styled,
    likely_too_high,
)
from ccnb.windows import date_range_label

__all__ = [
    "acquisition",
    "allocation_deciles",
    "budget_assumptions",
    "budget_export",
    "next_steps_budget",
    "sensitivity",
    "strategies",
    "test_plan",
    "tiered_plan",
]


@_section(data="budget_customer_counts")
def budget_assumptions(analysis: ClientAnalysis) -> Section:
    """The assumptions the allocation rests on."""
    settings = analysis.params.budget
    counts = analysis.budget_customer_counts
    active, allocated = int(counts["active"]), int(counts["allocated"])
    left_out = active - allocated
    rows = [
        ["Budget", money(settings.total, analysis.currency)],
        ["Active customers (bought in the churn window)", count(active)],
        ["Of whom with no positive net revenue (left out)", count(left_out)],
        ["Response curve", settings.response_curve],
        ["Largest lift (share of rCLV spending can add)", percent(settings.max_lift)],
        [
            "Spend per customer reaching 63% of that lift",
            money(settings.spend_scale, analysis.currency),
        ],
    ]
    table = pd.DataFrame(rows, columns=["assumption", "value"])
    text = f"The allocation spreads {money(settings.total, analysis.currency)} over "
    if left_out:
        text += (
            f"{count(allocated)} of the {count(active)} active customers: the "
            f"{count(left_out)} whose returns and cancellations equal or exceed their "
            "purchases are left out. "
        )
    else:
        text += f"{count(active)} active customers. "
    text += (
        f"Spending on a customer is assumed to add at most {percent(settings.max_lift)} of "
        "their residual CLV, with diminishing returns; these are assumptions to test, not "
        "measurements."
    )
    too_high = likely_too_high(analysis)
    if too_high:
        text += (
            f" The residual CLV it rests on is likely too high, {too_high}; see "
            f"{MODEL_CHECK_ELSEWHERE}: the value the plans add below is likely overstated by "
            "about as much, while the ranking of customers, which decides who gets the "
            "spend, holds better."
        )
    return Section(text=text, table=_styled(table, name="assumptions"))


#: the plan the report recommends, as the test plan names it
_PLAN_NAMES = {
    "customer-centric (tiered)": "the tiered plan's spend per head by segment",
    "customer-centric (optimal)": "the optimal spend per customer, as no segment rule pays",
}


def _returns(roi: float) -> str:
    """'ROI +91%' or 'ROI -34%: it loses money'."""
    shown = f"ROI {signed_percent(roi, digits=0)}"
    return f"{shown}, it loses money" if roi < 0 else shown


@_section(data="strategy_comparison", model_note="brief")
def strategies(analysis: ClientAnalysis) -> Section:
    """Customer-focused vs customer-centric (optimal and tiered)."""
    table = analysis.strategy_comparison
    gain = analysis.centric_gain
    settings = analysis.params.budget
    currency = analysis.currency
    plans = table.set_index("strategy")
    centric = plans.loc["customer-centric (optimal)"]
    text = (
        f"A simulation from stated assumptions, not a measurement: if spending on a customer "
        f"adds at most {percent(settings.max_lift)} of their residual CLV, and "
        f"{money(settings.spend_scale, currency)} per customer reaches 63% of that, then "
        f"spending {money(settings.total, currency)} where the predicted value is "
        f"(customer-centric) brings {money(centric['added_value'], currency)} of margin over "
        f"the residual CLV's {analysis.params.horizon_months} months: "
        f"{_returns(centric['roi'])}. "
    )
    losing = [
        f"the {name} plan brings {money(row.added_value, currency)} ({_returns(row.roi)})"
        for name, row in plans.drop(index="customer-centric (optimal)").iterrows()
        if row.roi < 0
    ]
    if losing:
        text += "For the same money " + "; ".join(losing) + ". "
    text += (
        f"The value-led plan adds {money(gain['gain'], currency)} "
        f"({signed_percent(gain['gain_pct'] / 100, digits=1)}) over spreading the budget "
        "evenly (customer-focused)."
    )
    break_even = analysis.break_even_budget
    if settings.total > break_even:
        text += (
            f" Under these assumptions the budget is larger than what pays back: beyond "
            f"{money(break_even, currency)} the last unit spent returns less than it costs, "
            "however it is allocated."
        )
    shown = table[
        ["strategy", "customers_reached", "spend", "added_value", "roi", "value_per_unit"]
    ]
    styled = _styled(
        shown,
        name="strategies",
        currency=analysis.currency,
        money_columns=("spend", "added_value"),
        percent_columns=("roi",),
        count_columns=("customers_reached",),
        decimals={"value_per_unit": 2},
        labels={
            "customers_reached": "customers reached",
            "added_value": "expected added value",
            "value_per_unit": "value per unit spent",
            "roi": "ROI",
        },
    )
    figure = _figure(plots.strategy_comparison(table, currency=analysis.currency))
    return Section(text=text, figure=figure, table=styled)


@_section(data="allocation_deciles", model_note="none")
def allocation_deciles(analysis: ClientAnalysis) -> Section:
    """Budget share per rCLV decile by strategy vs share of customer equity."""
    table = analysis.allocation_deciles
    centric = table[table["strategy"] == "customer-centric (optimal)"]
    top = centric[centric["decile"] == 1].iloc[0]
    everyone = analysis.customer_equity.top_decile_share
    text = (
        f"The customer-centric plan puts {percent(top['budget_share'])} of the budget on the "
        f"top 10% by residual CLV of the {count(analysis.budget_customer_counts['allocated'])} "
        "customers "
        f"the budget is spread over, who hold {percent(top['equity_share'])} of their equity "
        "(among "
        f"all customers, as on the CLV page, the top 10% hold {percent(everyone)}); the "
        "customer-focused plan gives every decile 10%."
    )
    return Section(text=text, figure=_figure(plots.allocation_by_decile(table)))


def _rule(per_head: pd.Series | dict, currency: str) -> str:
    """'High-Value €4.73, Medium-Value €0.00' in the order given."""
    return ", ".join(
        f"{escape_md(segment)} {money(amount, currency)}"
        for segment, amount in dict(per_head).items()
    )


def _and_list(names: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _rule_source(analysis: ClientAnalysis) -> str:
    """Where the recommended rule's amounts come from, and the rule it was preferred to."""
    rules = analysis.tier_rules.set_index("source")
    currency = analysis.currency
    chosen = rules[rules["recommended"]].index[0]
    # the rounding (`tier_rules`' step) only sets the proportions; scaling to the budget then moves
    # the amounts off the step, so a rounding said next to them read as wrong (€1.00, €3.76)
    from_optimum = (
        "in the proportions of the optimal plan's mean spend per segment, scaled to spend the "
        "budget"
    )
    if "params" not in rules.index:
        return f"The amounts are {from_optimum}."
    other = rules.loc["optimum" if chosen == "params" else "params"]
    if chosen == "params":
        return (
            "The amounts are the params file's `budget.tier_spend`, scaled to the budget; "
            f"the optimum's own segment rule would bring less ({_returns(other['roi'])})."
        )
    listed = _rule(analysis.params.budget.tier_spend, currency)
    return (
        f"The params file's `budget.tier_spend` ({listed} a head, scaled to the budget) "
        f"would bring {money(other['added_value'], currency)} ({_returns(other['roi'])}), "
        f"so the amounts are {from_optimum}."
    )


@_section(data="tier_plan", model_note="brief")
def tiered_plan(analysis: ClientAnalysis) -> Section:
    """The one spend-per-head rule recommended, why, and what it gives up against the optimum."""
    plan = analysis.tier_plan
    currency = analysis.currency
    rules = analysis.tier_rules.set_index("source")
    chosen = rules[rules["recommended"]].iloc[0]
    optimal = analysis.strategy_comparison.set_index("strategy").loc["customer-centric (optimal)"]
    testable = bool(_feasible(analysis.test_plan))
    opening = "The rule to run" if chosen["roi"] >= 0 and testable else "The best segment rule"
    text = (
        f"{opening}: a fixed spend per head for each segment of active customers (bought "
        f"in the last {analysis.params.churn_window_days} days, with positive net revenue: "
        f"{count(plan['customers'].sum())} "
        f"of the {count(analysis.segment_summary['customers'].sum())} customers on the "
        "segmentation page). "
        f"{_rule_source(analysis)} Under the budget assumptions it brings "
        f"{money(chosen['added_value'], currency)} for {money(chosen['spend'], currency)} "
        f"({_returns(chosen['roi'])}). "
    )
    unfunded = plan.index[plan["spend_per_head"] <= 0]
    if len(unfunded):
        names = _and_list([escape_md(name) for name in unfunded])
        text += (
            f"{names} customers get nothing from this budget: their tactics on the "
            "segmentation page run through contacts already paid for (e-mail, the website). "
        )
    lapsed = analysis.segment_summary.set_index("segment")["customers"].get("Lapsed", 0)
    if lapsed:
        text += (
            f"The {count(lapsed)} Lapsed customers are outside this budget, which spends on "
            "active customers: their win-back on the segmentation page is a one-off personal "
            "contact. "
        )
    text += (
        f"A segment rule cannot pick customers one by one: the optimal plan funds "
        f"{count(plan['optimal_funded'].sum())} of these customers "
        f"({_returns(optimal['roi'])}); `allocation.csv` holds it for a CRM that can target "
        "each customer."
    )
    if chosen["roi"] < 0:
        text += (
            " Even the best segment rule loses money under these assumptions: do not run one; "
            "spend customer by customer or spend less."
        )
    elif not testable:
        text += (
            " Its gain rests on the assumed lift alone: no holdout test at these sizes can "
            "detect it (see the test plan), so treat this rule as a trial, not a measured result."
        )
    frame = plan.reset_index()[["segment", "customers", "spend_per_head", "spend", "added_value"]]
    frame["optimal_funded"] = plan["optimal_funded"].to_numpy()
    styled = _styled(
        frame,
        name="tiers",
        currency=currency,
        money_columns=("spend_per_head", "spend", "added_value"),
        count_columns=("customers", "optimal_funded"),
        labels={
            "customers": "active customers",
            "spend_per_head": "spend per head",
            "spend": "segment budget",
            "added_value": "expected added value",
            "optimal_funded": "funded by the optimal plan",
        },
    )
    return Section(text=text, table=styled)


@_section(
    data="sensitivity",
    options={
        "lift_multipliers": "budget.sensitivity_lift_multipliers",
        "scale_multipliers": "budget.sensitivity_scale_multipliers",
    },
    model_note="brief",
)
def sensitivity(
    analysis: ClientAnalysis,
    *,
    lift_multipliers: list[float] | None = None,
    scale_multipliers: list[float] | None = None,
) -> Section:
    """Gain of centric over focused across assumptions, and the break-even budget.

    Parameters
    ----------
    analysis : ClientAnalysis
        The client's analysis.
    lift_multipliers, scale_multipliers : list of float, optional
        Multiples of the largest lift and of the spend scale on the grid
        (``budget.sensitivity_lift_multipliers``, ``budget.sensitivity_scale_multipliers``).
    """
    settings = analysis.params.budget
    grid = analysis.sensitivity
    summary = analysis.sensitivity_summary
    driver = {
        "max_lift": "the assumed maximum lift",
        "spend_scale": "the spend scale (the spend needed before returns flatten)",
    }[summary["driver"]]
    text = (
        "Each cell is the customer-centric plan's ROI under one pair of assumptions (the "
        "outlined cell is the plan's). Across the grid it runs from "
        f"{signed_percent(summary['centric_roi_min'])} to "
        f"{signed_percent(summary['centric_roi_max'])}"
        + (
            f", and in {in_words(summary['centric_loses'])} of the {in_words(len(grid))} "
            "cases the plan loses money"
            if summary["centric_loses"]
            else "; it returns more than it costs in every case"
        )
        + f". The assumption that moves it most is {driver}: test it first. "
        f"Its gain over the customer-focused plan ranges from "
        f"{percent(summary['gain_pct_min'] / 100)} to {percent(summary['gain_pct_max'] / 100)}"
        + (
            " and does not depend on the maximum lift, which scales both plans alike. "
            if summary["lift_invariant"]
            else ". "
        )
        + "Under the base assumptions spending more stops paying (the last unit returns less "
        f"than it costs) beyond a budget of {money(analysis.break_even_budget, analysis.currency)}."
    )
    figure = _figure(
        plots.sensitivity_heatmap(
            grid, highlight=(settings.max_lift, settings.spend_scale), currency=analysis.currency
        )
    )
    return Section(text=text, figure=figure)


def _feasible(plan: pd.DataFrame) -> list[str]:
    return plan.loc[plan["big_enough"].astype(bool), "segment"].tolist()


@_section(data="test_plan", model_note="brief")
def test_plan(analysis: ClientAnalysis) -> Section:
    """Whether a holdout test can detect what the planned spend is expected to add."""
    settings = analysis.params.budget
    plan = analysis.test_plan
    currency = analysis.currency
    window = settings.test_window_days
    pooled = plan.set_index("segment").loc[TREATED_POOL]
    feasible = _feasible(plan)
    text = (
        f"The test compares revenue per customer over the {window} days after the spend, "
        f"customers who get it against a random {percent(settings.holdout_share)} held out. "
        f"The recommended plan ({_PLAN_NAMES[analysis.recommended_strategy]}) is expected to add "
        f"{money(pooled['absolute_lift'], currency)} per customer "
        f"it spends on in those {window} days ({signed_percent(pooled['lift'], digits=1)} on "
        f"the {money(pooled['mean_revenue'], currency)} each of them bought for in the last "
        f"{window} days). The test is sized to detect a lift at "
        f"{percent(1 - settings.test_alpha)} confidence with {percent(settings.test_power)} "
        f"power. It sees {window} days of revenue, not the {analysis.params.horizon_months} "
        "months of margin the plans' ROI counts: a lift it detects shows that the spend "
        "works, not that the ROI is reached. "
    )
    if feasible:
        text += (
            "The groups are large enough to detect it in: "
            + ", ".join(escape_md(name) for name in feasible)
            + "."
        )
    else:
        options = [
            f"{count(pooled['total_needed'])} treated and held-out customers "
            f"(there are {count(pooled['customers'])})"
        ]
        if pd.notna(pooled["holdout_share_needed"]):
            options.append(f"a holdout of {percent(pooled['holdout_share_needed'])}")
        if pd.notna(pooled["window_multiple_needed"]):
            days = window * pooled["window_multiple_needed"]
            options.append(
                f"a window of about {count(days)} days"
                if days <= 730
                else f"a window of over {int(days // 365)} years, longer than any useful test"
            )
        text += (
            "No group is large enough to detect it: even pooling every customer the plan "
            f"spends on, the smallest lift the test could detect is "
            f"{percent(pooled['min_detectable_lift'], digits=1)}. Detecting the expected "
            f"{percent(pooled['lift'], digits=1)} would take " + " or ".join(options) + ". "
            "Treat the plan's gain as an assumption, or test a larger spend per customer, "
            "where the effect is bigger."
        )
    styled = _styled(
        plan[
            [
                "segment",
                "customers",
                "mean_revenue",
                "absolute_lift",
                "lift",
                "min_detectable_lift",
            ]
        ].assign(detectable=np.where(plan["big_enough"], "yes", "no")),
        name="test-plan",
        currency=currency,
        money_columns=("mean_revenue", "absolute_lift"),
        percent_columns=("lift", "min_detectable_lift"),
        count_columns=("customers",),
        labels={
            "mean_revenue": f"revenue per customer ({window} days)",
            "absolute_lift": "expected effect",
            "lift": "expected lift",
            "min_detectable_lift": "smallest detectable lift",
        },
    )
    return Section(text=text, table=styled)


def _capacity_clause(funded: pd.DataFrame) -> str:
    """' (Referral up to its capacity of 600 new customers)' for channels funded to capacity."""
    full = funded[funded["capacity"].notna() & (funded["new_customers"] >= funded["capacity"])]
    if full.empty:
        return ""
    return (
        " ("
        + ", ".join(
            f"{escape_md(row.channel)} up to its capacity of {count(row.capacity)} new customers "
            "over the budget's period"
            for row in full.itertuples()
        )
        + ")"
    )


def _history_period(history: pd.DataFrame) -> str:
    return date_range_label(history["start"].iloc[0], history["end"].iloc[0])


def _history_check(analysis: ClientAnalysis) -> str:
    """A sentence per funded channel whose planned new customers exceed what it brought."""
    try:
        history = analysis.acquisition_history
    except Unavailable:
        return ""
    period = _history_period(history)
    stretched = history[history["beyond_history"] & (history["new_customers"] > 0)]
    sentences = [
        f" The plan counts on {count(row.new_customers)} new customers from "
        f"{escape_md(row.channel)} over the budget's period, "
        + (
            f"{row.ratio:.1f} times the {count(row.acquired)} it brought in {period}"
            if row.acquired
            else f"and it brought none in {period}"
        )
        + ": if that period is a year, check with the channel that it can bring them before "
        "spending on it."
        for row in stretched.itertuples()
    ]
    return "".join(sentences)


@_section(data="acquisition_plan", model_note="brief")
def acquisition(analysis: ClientAnalysis) -> Section:
    """Acquisition budget across the paid channels, best new-customer value per cost first."""
    settings = analysis.params.budget
    plan = analysis.acquisition_plan
    funded = plan.table[plan.table["spend"] > 0]
    values = analysis.new_customer_value
    unpaid = [
        f"{escape_md(row.acquisition_channel)}, {_not_bought_reason(analysis, row)}"
        for row in values[~values["paid"]].itertuples()
    ]
    text = (
        f"The {money(settings.new_customer_budget, analysis.currency)} acquisition budget goes "
        "to the paid channels in order of a new customer's value (CLV notebook) per unit of "
        "acquisition cost, only where a new customer is worth at least "
        f"{settings.acquisition_threshold:g} times their cost: "
        + (
            ", ".join(
                f"{escape_md(row.channel)} {money(row.spend, analysis.currency)}"
                for row in funded.itertuples()
            )
            or "no channel qualifies"
        )
        + _capacity_clause(funded)
        + f"; {money(plan.unspent, analysis.currency)} is left unspent"
        + (
            " (no other paid channel's new customer is worth "
            f"{settings.acquisition_threshold:g} times their cost)."
            if plan.unspent > 0 and len(plan.table) > len(funded)
            else "."
        )
        + (f" Never bought: {'; '.join(unpaid)}." if unpaid else "")
        + _history_check(analysis)
    )
    too_high = likely_too_high(analysis)
    if too_high and len(funded):
        text += (
            " A new customer's value comes from the same kind of model as the residual CLV, "
            f"likely too high {too_high}: so may the plan's expected value be, and a channel "
            f"near the {settings.acquisition_threshold:g}x threshold may not clear it."
        )
    shown = plan.table[
        [
            "channel",
            "mean_clv",
            "cac",
            "capacity",
            "value_per_cost",
            "spend",
            "new_customers",
            "expected_value",
        ]
    ]
    labels = {}
    try:
        history = analysis.acquisition_history
    except Unavailable:
        pass
    else:
        column = f"new customers in {_history_period(history)}"
        shown = shown.assign(**{column: history["acquired"].to_numpy()})
        labels[column] = column
    styled = _styled(
        shown,
        name="acquisition",
        currency=analysis.currency,
        money_columns=("mean_clv", "cac", "spend", "expected_value"),
        count_columns=("capacity", *labels),
        decimals={"value_per_cost": 2, "new_customers": 0},
        labels={
            "mean_clv": "new customer's value",
            "cac": "acquisition cost",
            "capacity": "capacity (new customers over the budget's period)",
            "value_per_cost": "value / cost",
            "new_customers": "new customers",
            "expected_value": "expected value",
        },
    )
    return Section(text=text, table=styled)


@_section(data="test_plan", model_note="brief")
def budget_export(analysis: ClientAnalysis) -> Section:
    """Write the allocation and the test assignment for activation."""
    if exports.export_dir() is not None:  # a workshop exports nothing: no files are made
        exports.export(analysis.allocation_rows.blocks(), "allocation")
        exports.export(analysis.test_assignment_rows.blocks(), "test_assignment")
    # the assignment's groups per segment are the test plan's (the same rounding)
    tiers = analysis.test_plan[analysis.test_plan["segment"] != TREATED_POOL]
    text = (
        f"The optimal spend per customer is exported as `allocation.csv`, and a seeded "
        f"random assignment of the {count(int(tiers['customers'].sum()))} customers the "
        f"recommended plan spends on ({count(int(tiers['holdout_size'].sum()))} held out) as "
        "`test_assignment.csv`."
    )
    if not _feasible(analysis.test_plan):
        text += (
            " The test plan finds no group large enough to detect the expected lift: the "
            "assignment keeps the holdout honest if the plan is run, but it will not prove the "
            "gain."
        )
    return Section(text=text)


@_section(model_note="brief")
def next_steps_budget(analysis: ClientAnalysis) -> Section:
    """Roll-out advice from the recommended plan and the test plan."""
    gain = analysis.recommended_gain
    plan = analysis.tier_plan
    window = analysis.params.budget.test_window_days
    if analysis.recommended_strategy != "customer-centric (tiered)":
        how = (
            "customer by customer from `allocation.csv` (no segment rule pays under these "
            "assumptions)"
        )
    else:
        funded = plan.loc[plan["spend_per_head"] > 0, "spend_per_head"]
        others = " and nothing for the others" if len(funded) < len(plan) else ""
        how = f"as a spend per head by segment ({_rule(funded, analysis.currency)}{others})"
    feasible = _feasible(analysis.test_plan)
    if feasible:
        lines = [
            "Test the plan before rolling it out (the model expects "
            f"{signed_percent(gain['gain_pct'] / 100, digits=1)} more value for the same "
            f"budget) in {', '.join(escape_md(name) for name in feasible)}: run it {how} and "
            "keep the holdout group from `test_assignment.csv` untouched.",
            f"After {window} days compare revenue per customer in treatment and holdout; set "
            "the assumed lift to what the test shows and re-run this notebook.",
        ]
    else:
        lines = [
            "A holdout test cannot verify this plan: its expected effect is too small for the "
            "customers available (see the test plan). Do not present the gain as measured.",
            f"If the plan is run, run it {how}, and treat the assumed lift as the number to "
            "learn: a larger spend on fewer customers is the test that can detect it.",
        ]
    settings, break_even = analysis.params.budget, analysis.break_even_budget
    if settings.total > break_even:
        cut = 1 - break_even / settings.total
        lines.insert(
            0,
            f"Spend at most {money(break_even, analysis.currency)} of the "
            f"{money(settings.total, analysis.currency)}: beyond it the last unit returns less "
            "than it costs under these assumptions. The plans and amounts on this page spend "
            f"the whole budget, as set: lower each amount by {percent(cut)}, or set "
            f"`budget.total` to {money(break_even, analysis.currency)} and re-run, until a "
            "test has measured the lift.",
        )
    return Section(text=_bullets(lines))
