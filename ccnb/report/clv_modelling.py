"""Sections of 03_clv_modelling: validation, P(alive), rCLV, CLV by segment, CAC ceiling."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from ccnb import plots
from ccnb.analysis import ClientAnalysis, Unavailable
from ccnb.batch import exports
from ccnb.errors import ModelUnavailable
from ccnb.formatting import (
    count,
    day_label,
    escape_md,
    money,
    month_name,
    percent,
    signed_percent,
)
from ccnb.report._section import (
    MODEL_CHECK_HERE,
    NO_COST_RECORDED,
    Section,
    _bullets,
    _equity_interval,
    _equity_interval_meaning,
    _figure,
    _not_bought_reason,
    _section,
    _styled,
)
from ccnb.rfm import NET_ZERO_SEGMENT
from ccnb.windows import date_range_label

__all__ = [
    "cac_ceiling",
    "clv_by_segment",
    "clv_distribution",
    "clv_export",
    "conditional_expectations",
    "holdout_deciles",
    "iso_value",
    "model_parameters",
    "model_validation",
    "naive_versus_model",
    "next_steps_clv",
    "p_alive",
    "purchase_probability",
    "retention_value",
    "tracking",
]


@_section(data="validation")
def model_validation(analysis: ClientAnalysis) -> Section:
    """Each purchase model scored on the holdout, and the one chosen (else the fallback)."""
    try:
        result = analysis.validation
    except ModelUnavailable as failure:
        return _value_ranking(analysis, failure)
    table = result.table
    chosen = table.loc[result.chosen]
    text = (
        _sample_sentence(analysis)
        + f"Each model was fitted on purchases up to {day_label(analysis.calibration_end)} and "
        f"asked to predict the {count(chosen['holdout_actual'])} repeat purchases that followed "
        f"up to {day_label(analysis.observation_end)}. The chosen model, "
        f"**{escape_md(chosen['label'])}** (smallest holdout error per customer; models within "
        "1% of it count as tied and the smaller total error decides), predicted "
        f"{count(chosen['holdout_predicted'])} "
        f"({signed_percent(chosen['aggregate_error_pct'] / 100, digits=1)}), with a mean "
        f"absolute error of {chosen['mae']:.2f} purchases per customer. "
        + _closer_total(table, chosen)
        + _not_compared(table)
        + _holdout_interval(analysis)
    )
    shown = table[
        [
            "label",
            "log_likelihood",
            "aic",
            "mae",
            "rmse",
            "holdout_predicted",
            "holdout_actual",
            "aggregate_error_pct",
        ]
    ]
    styled = _styled(
        shown,
        name="validation",
        decimals={
            "log_likelihood": 1,
            "aic": 1,
            "mae": 3,
            "rmse": 3,
            "holdout_predicted": 0,
            "holdout_actual": 0,
            "aggregate_error_pct": 1,
        },
        labels={
            "label": "model",
            "log_likelihood": "log-likelihood",
            "aic": "AIC",
            "mae": "holdout MAE per customer",
            "rmse": "holdout RMSE",
            "holdout_predicted": "holdout purchases predicted",
            "holdout_actual": "actual",
            "aggregate_error_pct": "error (%)",
        },
    )
    return Section(text=text, table=styled)


def _sample_sentence(analysis: ClientAnalysis) -> str:
    """Whom the validation counts when it ran on a sample of the calibration customers, or ''."""
    sample = analysis.validation_sample
    if sample.is_whole:
        return ""
    return (
        f"The models were validated on a random sample of {count(sample.sampled)} of the "
        f"{count(sample.population)} customers who bought by "
        f"{day_label(analysis.calibration_end)} (a re-run draws the same customers): enough "
        "to judge the models, at a cost that does not grow with the base. Every count in this "
        "validation is the sample's; the CLV figures further on come from every customer. "
    )


def _validated_customers(analysis: ClientAnalysis, whole: str = "the customers") -> str:
    """``whole``, or 'the sampled customers' when the validation ran on a sample."""
    return whole if analysis.validation_sample.is_whole else "the sampled customers"


def _not_compared(table: pd.DataFrame) -> str:
    """Why a candidate's row of the validation table is empty (its fit failed), or ''."""
    failed = table[table["status"] != "ok"]
    return "".join(
        f"{escape_md(row.label)} is not compared (its row is empty): "
        + (
            f"its fit did not converge on this data ({escape_md(str(row.status))}). "
            if not row.converged
            else f"its {escape_md(str(row.status))}. "
        )
        for row in failed.itertuples()
    )


#: another model whose total error is this many points smaller is named next to the choice
CLOSER_TOTAL_POINTS = 5.0


def _closer_total(table: pd.DataFrame, chosen: pd.Series) -> str:
    """Say so when another model came clearly closer on the total, and why it still lost."""
    errors = table["aggregate_error_pct"].abs()
    closer = table[errors <= abs(chosen["aggregate_error_pct"]) - CLOSER_TOTAL_POINTS]
    if closer.empty:
        return ""
    best = closer.loc[closer["aggregate_error_pct"].abs().idxmin()]
    return (
        f"{escape_md(best['label'])} came closer on the total "
        f"({signed_percent(best['aggregate_error_pct'] / 100, digits=1)}) but erred more per "
        f"customer ({best['mae']:.2f}); the per-customer error decides, because the CLV "
        "values and ranks customers one by one. "
    )


def _holdout_interval(analysis: ClientAnalysis) -> str:
    """The holdout total against its predictive interval; when it missed, why and what then."""
    total, miss = analysis.holdout_total, analysis.holdout_miss
    text = (
        f"The chosen model's {percent(total['interval'])} interval for that total, from the "
        "uncertainty of the parameters and each customer's own randomness, ran from "
        f"{count(total['low'])} "
        f"to {count(total['high'])}"
    )
    if miss["cause"] == "none":
        return text + f", and the actual {count(total['actual'])} fell inside it."
    text += (
        f"; the actual {count(total['actual'])} fell {miss['direction']} it, so the model is "
        "missing something that moved all customers together. "
    )
    if miss["cause"] == "seasonality":
        peak = month_name(miss["peak_month"])
        text += (
            f"The likely cause is seasonality: in the calibration period, customers bought "
            f"{miss['peak_ratio']:.1f} times as much in {peak} as in "
            f"{month_name(miss['quiet_month'])}, each measured against what the model "
            "expected, and the models have no calendar. "
        )
        if miss["mechanism"] == "holdout_has_peak":
            text += f"The holdout includes {peak}, when customers buy above the year's pace. "
        else:
            text += (
                f"The calibration period ends soon after {peak}, when many customers had just "
                "bought, so more of them looked still active than the next year bore out. "
            )
        if miss["data_end_after_peak"]:
            text += (
                f"The CLV figures below come from a fit on the whole history, which also ends "
                f"soon after {peak}: read them as likely too high, by roughly the holdout's "
                f"{signed_percent(total['error_pct'] / 100, digits=1)}, and the ranking of "
                "customers (the deciles below) as the safer guide."
            )
        else:
            text += (
                "The CLV figures below come from a fit on the whole history, which does not "
                "end at the peak; still, read single months with care, and the ranking of "
                "customers (the deciles below) as the safer guide."
            )
    else:
        text += (
            "The data show no seasonal peak that explains it, so the likely cause is a trend "
            "or a change in the business during the holdout (prices, range, marketing, a "
            "channel). Until it is understood, read the CLV totals as what the past pace "
            "would bring, with more uncertainty than their intervals say, and lean on the "
            "ranking of customers (the deciles below) more than on the totals."
        )
    return text


def _ranking_top(top: int, determiner: str) -> str:
    """The value ranking's leaders: 'the top 12', or 'the largest buyer' when there is one."""
    return f"{determiner} largest buyer" if top == 1 else f"{determiner} top {count(top)}"


#: customers of the value ranking shown in the report (the export has every customer)
RANKING_ROWS = 20


def _last_year(analysis: ClientAnalysis) -> str:
    summary = analysis.value_ranking_summary
    return date_range_label(summary["start"], summary["end"])


def _value_ranking(analysis: ClientAnalysis, failure: ModelUnavailable) -> Section:
    """The failure in one sentence, then the ranking from history that replaces the model."""
    ranking, summary = analysis.value_ranking, analysis.value_ranking_summary
    text = (
        f"*{failure.reason}*\n\nWhat the client can use instead is the value ranking: "
        f"customers ordered by their net revenue over {_last_year(analysis)}, then by how "
        "recently they bought. It describes the past and forecasts nothing. "
    )
    if summary["buyers_last_year"]:
        buyers, top = summary["buyers_last_year"], summary["top_customers"]
        text += (
            f"The {count(buyers, 'customer')} who bought in that year spent "
            f"{money(summary['revenue_last_year'], analysis.currency)} between them; "
            f"{_ranking_top(top, 'the')} "
            f"({percent(top / buyers)} of them) brought "
            f"{percent(summary['top_revenue_share'])} of it. "
        )
    shown = ranking.head(RANKING_ROWS).copy()
    text += (
        f"The first {count(len(shown))} are below; the exports section writes every customer."
        if len(ranking) > len(shown)
        else "All of them are below."
    )
    shown["active"] = shown["active"].map({True: "yes", False: "no"})
    styled = _styled(
        shown,
        name="value-ranking",
        currency=analysis.currency,
        money_columns=("revenue_last_year", "revenue"),
        count_columns=("orders", "days_since_last"),
        labels={
            "customer_id": "customer",
            "revenue_last_year": "revenue, last year",
            "revenue": "revenue, all history",
            "days_since_last": "days since last purchase",
            "active": f"bought in the last {analysis.params.churn_window_days} days",
        },
    )
    return Section(text=text, table=styled)


@_section(data="validation", model_note="none")
def tracking(analysis: ClientAnalysis) -> Section:
    """Cumulative repeat purchases, actual vs models, across calibration and holdout."""
    result = analysis.validation
    chosen = result.tracking[result.chosen]
    last = chosen.iloc[-1]
    text = (
        f"Cumulative repeat purchases of {_validated_customers(analysis)} acquired before the "
        "calibration end: by "
        f"the end of the holdout the chosen model expected {count(last['expected_cumulative'])} "
        f"against {count(last['actual_cumulative'])} actual. Lines that stay together after "
        "the grey line at the calibration end mean the model forecasts well."
    )
    title = _sampled_title(analysis, "Repeat purchases of {} sampled customers: actual vs model")
    figure = _figure(
        plots.holdout_tracking(result.tracking, time_unit=analysis.params.time_unit, title=title)
    )
    return Section(text=text, figure=figure)


def _sampled_title(analysis: ClientAnalysis, title: str) -> str | None:
    """A validation chart's title naming the sample (``title`` with its size), else None.

    A chart pasted on a slide without the page's text still says whose purchases it counts.
    """
    sample = analysis.validation_sample
    return None if sample.is_whole else title.format(count(sample.sampled))


@_section(data="validation", model_note="none")
def conditional_expectations(analysis: ClientAnalysis) -> Section:
    """Actual vs predicted holdout purchases by calibration frequency."""
    result = analysis.validation
    grouped = _validated_customers(analysis, whole="customers")
    text = (
        f"For {grouped} grouped by how often they repeated during calibration, the mean number "
        "of holdout purchases against the model's conditional expectation (the Fader-Hardie "
        "check): points near the actual line mean the model ranks customers well."
    )
    title = _sampled_title(analysis, "Holdout vs calibration purchases of {} sampled customers")
    figure = _figure(plots.conditional_expectations(result.conditional_expectations, title=title))
    return Section(text=text, figure=figure)


@_section(data="holdout_deciles", model_note="none")
def holdout_deciles(analysis: ClientAnalysis) -> Section:
    """Does the model rank customers? Holdout purchases by decile of the prediction."""
    table = analysis.holdout_deciles.set_index("decile")
    top, bottom = table.loc[table.index.min()], table[table.index > 5]
    start = analysis.calibration_end + dt.timedelta(days=1)
    ranked = _validated_customers(analysis, whole="customers").capitalize()
    text = (
        f"{ranked} ranked by the chosen model's prediction for the holdout "
        f"({date_range_label(start, analysis.observation_end)}): the top 10% were expected "
        f"to make {top['predicted_mean']:.2f} repeat purchases each and made "
        f"{top['actual_mean']:.2f}; the bottom half were expected to make "
        f"{bottom['predicted'].sum() / bottom['customers'].sum():.2f} and made "
        f"{bottom['actual'].sum() / bottom['customers'].sum():.2f}. "
    )
    rising = table.index[~table["below_previous"]].tolist()
    if not rising:
        text += (
            "Actual purchases fall from each decile to the next, as predicted: the model "
            "ranks customers well, whatever its total error."
        )
    else:
        pairs = ", ".join(f"{decile} over {decile - 1}" for decile in rising)
        text += (
            f"Actual purchases do not fall steadily (decile {pairs} bought more per head), "
            "so read the ranking in that range with care."
        )
    text += _bias_by_half(table)
    shown = table.reset_index()[
        ["decile", "customers", "predicted_mean", "actual_mean", "predicted", "actual", "error_pct"]
    ]
    styled = _styled(
        shown,
        name="holdout-deciles",
        count_columns=("customers",),
        decimals={
            "predicted_mean": 2,
            "actual_mean": 2,
            "predicted": 0,
            "actual": 0,
            "error_pct": 1,
        },
        labels={
            "decile": "decile of prediction (1 = highest)",
            "predicted_mean": "predicted per customer",
            "actual_mean": "actual per customer",
            "predicted": "predicted, total",
            "actual": "actual, total",
            "error_pct": "error (%)",
        },
    )
    return Section(text=text, table=styled)


#: a half of the base whose actual holdout purchases differ from the prediction by more than
#: this share is said to be under- or over-predicted
HALF_BIAS = 0.2


def _bias_by_half(table: pd.DataFrame) -> str:
    """A sentence when the top or bottom half is predicted too high or too low by over 20%."""
    parts = []
    for label, half in (("top", table[table.index <= 5]), ("bottom", table[table.index > 5])):
        predicted, actual = half["predicted"].sum(), half["actual"].sum()
        if predicted > 0 and abs(actual / predicted - 1) > HALF_BIAS:
            more = actual > predicted
            parts.append(
                f"the {label} half bought {percent(abs(actual / predicted - 1))} "
                f"{'more' if more else 'less'} than predicted, so its customers' CLV is likely "
                f"too {'low' if more else 'high'}"
            )
    return (" Overall, " + "; ".join(parts) + ".") if parts else ""


@_section(data="purchase_reliability", model_note="none")
def purchase_probability(analysis: ClientAnalysis) -> Section:
    """P(a purchase in the holdout) against who bought: reliability by band, Brier score."""
    table, scores = analysis.purchase_reliability
    text = (
        f"The chosen model also gives each customer a probability of buying at least once in "
        f"the holdout; {percent(scores['bought_share'])} of {_validated_customers(analysis)} "
        "did. Its Brier score "
        f"is {scores['brier']:.3f} (0 is perfect; predicting "
        f"{percent(scores['bought_share'])} for everyone scores "
        f"{scores['base_rate_brier']:.3f}). In each band of probability the share who bought "
        "should be close to the band's mean probability. " + _worst_band(table)
    )
    shown = table.assign(
        band=[
            f"{low:.0%}–{high:.0%}" for low, high in zip(table["low"], table["high"], strict=True)
        ]
    )
    shown = shown[["band", "customers", "predicted", "observed"]]
    styled = _styled(
        shown,
        name="purchase-probability",
        percent_columns=("predicted", "observed"),
        count_columns=("customers",),
        labels={
            "band": "predicted probability",
            "predicted": "mean probability",
            "observed": "share who bought",
        },
    )
    return Section(text=text, table=styled)


#: bands with fewer customers than this are too noisy to judge; a band further than this
#: from its probability is named
BAND_MIN_CUSTOMERS = 30
BAND_GAP = 0.1


def _worst_band(table: pd.DataFrame) -> str:
    """Name the band furthest from its probability, or say the probabilities hold."""
    judged = table[table["customers"] >= BAND_MIN_CUSTOMERS]
    if judged.empty:
        return "No band has enough customers to judge."
    gap = judged["observed"] - judged["predicted"]
    worst = judged.loc[gap.abs().idxmax()]
    if abs(gap.loc[gap.abs().idxmax()]) <= BAND_GAP:
        return (
            f"In every band of at least {BAND_MIN_CUSTOMERS} customers they are within "
            f"{BAND_GAP * 100:.0f} percentage points: the probabilities can be taken at their "
            "word."
        )
    verb = "underrates" if worst["observed"] > worst["predicted"] else "overrates"
    return (
        f"They are not everywhere: for the {count(worst['customers'])} customers given "
        f"{worst['low']:.0%}–{worst['high']:.0%} the model said {percent(worst['predicted'])} "
        f"and {percent(worst['observed'])} bought, so it {verb} their chance of buying."
    )


@_section(data="purchase_model", model_note="brief")
def model_parameters(analysis: ClientAnalysis) -> Section:
    """The refitted purchase model's and the spend model's parameters with standard errors."""
    purchases, spend = analysis.purchase_model, analysis.spend_model
    independence = (
        "spend and frequency are close to independent, as the Gamma-Gamma model assumes"
        if spend.independence_ok_
        else "spend and frequency are correlated, which breaks the Gamma-Gamma model's "
        "independence assumption: read spend predictions with care"
    )
    no_repeat = spend.excluded_.get("no_repeat_purchase", 0)
    returns_only = spend.excluded_.get("non_positive_spend", 0)
    text = (
        f"The {escape_md(purchases.label)} model refitted on the whole history, and the "
        f"Gamma-Gamma spend model fitted on {count(spend.n_customers_)} repeat buyers (left "
        f"out: {count(no_repeat, 'customer')} without a repeat purchase day, as the models "
        "count days: several orders on one day are one purchase"
        + (
            f"; and {count(returns_only)} whose repeat purchases net to zero or less after returns"
            if returns_only
            else ""
        )
        + "). The correlation between "
        f"purchase frequency and spend is {spend.correlation_:+.2f}: {independence}."
    )
    tables = []
    for model in (purchases, spend):
        frame = model.summary.reset_index().rename(columns={"index": "parameter"})
        frame.insert(0, "model", model.label)
        tables.append(frame)
    combined = pd.concat(tables, ignore_index=True)
    numeric = [column for column in combined.columns if column not in ("model", "parameter")]
    styled = _styled(combined, name="parameters", decimals=dict.fromkeys(numeric, 4))
    return Section(text=text, table=styled)


@_section(data="p_alive_histogram.bins", model_note="brief")
def p_alive(analysis: ClientAnalysis) -> Section:
    """Distribution of P(alive)."""
    summary = analysis.prediction_summary
    text = (
        f"The model puts {percent(summary['alive_share'])} of customers at a "
        f"{percent(summary['alive_threshold'])} or better chance of still being active on "
        f"{day_label(analysis.observation_end)}; the model-based churn of the whole base (1 - "
        f"P(alive): the share of all customers ever seen that it believes have left by then, "
        f"not a yearly rate) is {percent(summary['model_churn'])}."
    )
    return Section(text=text, figure=_figure(plots.p_alive_hist(analysis.p_alive_histogram)))


@_section(data="rclv_histogram.bins", model_note="brief")
def clv_distribution(analysis: ClientAnalysis) -> Section:
    """Residual CLV per customer and customer equity."""
    summary = analysis.prediction_summary
    equity = analysis.customer_equity
    text = (
        f"Residual CLV (the margin of future purchases over {analysis.params.horizon_months} "
        f"months at the params' gross margin of {100 * analysis.params.gross_margin:.4g}% of "
        f"revenue, discounted at {100 * analysis.params.discount_rate_annual:.4g}% a year) "
        f"ranges from {money(summary['rclv_min'], analysis.currency)} "
        f"to {money(summary['rclv_max'], analysis.currency)}, median "
        f"{money(summary['rclv_median'], analysis.currency)}. Together the customers are "
        f"worth {money(equity.value, analysis.currency)} ("
        + _equity_interval(analysis)
        + f"), {percent(equity.top_decile_share)} of it in the top 10%. "
        + _equity_interval_meaning(analysis, see=MODEL_CHECK_HERE)
        + " "
        + _own_intervals(analysis)
    )
    figure = _figure(plots.clv_distribution(analysis.rclv_histogram, currency=analysis.currency))
    return Section(text=text, figure=figure)


def _own_intervals(analysis: ClientAnalysis) -> str:
    """What a single customer's interval says: wide, and from 0 for whoever may buy nothing."""
    summary = analysis.prediction_summary
    tail = percent((1 - analysis.customer_equity.interval) / 2)
    months = analysis.params.horizon_months
    share = summary["low_zero_share"]
    if share >= 1:
        start = (
            "It starts at 0 for every customer, because the model gives each of them at least "
            f"a {tail} chance of buying nothing more"
        )
    else:
        shown = percent(share, digits=1) if share >= 0.995 else percent(share)
        start = (
            f"It starts at 0 for {shown} of the customers, "
            f"because the model gives them at least a {tail} chance of buying nothing more"
        )
    return (
        f"A single customer's own interval is wide. {start} "
        f"({percent(summary['likely_none_share'])} are more likely than not to buy nothing in "
        f"the {months} months). The uncertainty shrinks only when customers are added up, as "
        "in the total."
    )


def _points(change: float) -> str:
    """'+1 point', '-5 points'."""
    return f"{change:+g} point" + ("" if abs(change) == 1 else "s")


@_section(data="retention_scenarios", options={"changes": "retention_changes"}, model_note="brief")
def retention_value(analysis: ClientAnalysis, *, changes: list[float] | None = None) -> Section:
    """What retention is worth: customer equity if a year's retention were N points higher.

    Parameters
    ----------
    analysis : ClientAnalysis
        The client's analysis.
    changes : list of float, optional
        Retention changes in percentage points; default the params' ``retention_changes``.
    """
    table = analysis.retention_scenarios
    currency = analysis.currency
    today = table.loc[table["change_points"] == 0].iloc[0]
    moved = table[table["change_points"] != 0]
    gains = moved[moved["change_points"] > 0]
    quoted = gains if len(gains) else moved.iloc[::-1]
    quoted = quoted.iloc[[0, -1]].drop_duplicates()
    model = analysis.purchase_model.label
    parts = [
        f"{_points(row.change_points)} (to {percent(row.retention, digits=1)}): "
        f"{money(row.equity_change, currency)} ({signed_percent(row.equity_change_pct, digits=1)})"
        for row in quoted.itertuples()
    ]
    months = analysis.params.horizon_months
    text = (
        f"Of the customers active today (each counted by how likely the {model} model thinks "
        f"they are still active), it expects {percent(today['retention'], digits=1)} to be "
        "active a year from now: the one-year retention. Were that retention "
        + ("higher" if len(gains) else "lower")
        + f", the customer equity of today's customers ({money(today['equity'], currency)} "
        f"over {months} months) would change by: " + "; ".join(parts) + ". "
    )
    smallest = quoted.iloc[0]
    kept_more = smallest["change_points"] / 100 / today["retention"]
    ratio = smallest["equity_change_pct"] / kept_more
    more = "more" if kept_more > 0 else "fewer"
    text += (
        f"{_points(smallest['change_points'])} keeps {percent(abs(kept_more), digits=1)} "
        f"{more} customers and changes equity by "
        f"{signed_percent(smallest['equity_change_pct'], digits=1)}, {ratio:.1f} times as much"
        + (
            ": small retention gains bring more than proportional value here, because a "
            "customer kept this year also buys in the years after. "
            if ratio > 1
            else ": retention gains bring no more than proportional value here. "
        )
        + "A scenario on the model's estimates, not a forecast: every customer's "
        "risk of dropping out is scaled by one factor until the base's retention moves by "
        "that many points; it has no interval and leaves out new customers. It says what a "
        "retention programme could be worth, not what one would achieve."
    )
    kpis = analysis.kpis
    churn = kpis[kpis["kpi"] == "churn_rate"].iloc[-1]
    if pd.notna(churn["value"]):
        text += (
            " This retention counts the customers the model believes still active, whether "
            "or not they buy in a given year; it is not one minus the KPI overview's churn "
            f"rate ({percent(churn['value'])} in {churn['window']}), which counts customers "
            f"with no purchase for {analysis.params.churn_window_days} days as lost."
        )
    shown = table[["change_points", "retention", "equity", "equity_change", "equity_change_pct"]]
    styled = _styled(
        shown,
        name="retention-value",
        currency=currency,
        money_columns=("equity", "equity_change"),
        percent_columns=("retention", "equity_change_pct"),
        decimals={"change_points": 0},
        labels={
            "change_points": "change in retention (points)",
            "retention": "one-year retention",
            "equity": "customer equity (today's customers)",
            "equity_change": "change in equity",
            "equity_change_pct": "change in equity (%)",
        },
    )
    figure = _figure(plots.retention_scenarios(table, currency=currency))
    return Section(text=text, figure=figure, table=styled)


@_section(data="clv_by_segment", model_note="brief")
def clv_by_segment(analysis: ClientAnalysis) -> Section:
    """Mean rCLV per segment with intervals."""
    table = analysis.clv_by_segment.dropna(subset=["segment"])
    top = table.loc[table["rclv_mean"].idxmax()]
    text = (
        f"{escape_md(top['segment'])} customers are worth "
        f"{money(top['rclv_mean'], analysis.currency)} each on average from here on and hold "
        f"{percent(top['share_of_equity'])} of customer equity."
    )
    net_zero = table[table["segment"] == NET_ZERO_SEGMENT]
    if len(net_zero) and net_zero["n_customers"].iloc[0] > 0:
        row = net_zero.iloc[0]
        text += (
            f" The model values the {count(row['n_customers'], 'customer')} of the segment "
            f"{escape_md(NET_ZERO_SEGMENT)} at {money(row['rclv_mean'], analysis.currency)} "
            "each, as if they kept what they buy next, while so far their returns and "
            "cancellations have equalled or exceeded their purchases; the budget allocation "
            "spends nothing on them."
        )
    figure = _figure(plots.clv_by_group(table, currency=analysis.currency))
    return Section(text=text, figure=figure)


_VERDICT_WORDS = {
    "loses money": "a new customer loses money",
    "below target": "profitable, but below the {ratio}:1 target",
    "within the ceiling": "within the ceiling",
}


def _verdict(row, ratio: str) -> str:
    if row.verdict is None or pd.isna(row.verdict):
        return "no acquisition cost recorded"
    return _VERDICT_WORDS[row.verdict].format(ratio=ratio)


@_section(data="new_customer_value", model_note="brief")
def cac_ceiling(analysis: ClientAnalysis) -> Section:
    """A new customer's value per channel, the CAC ceiling and each channel's verdict."""
    table = analysis.new_customer_value
    settings = analysis.params
    currency = analysis.currency
    ratio = f"{settings.budget.target_ltv_cac:g}"
    fitted = table["model"].eq("channel fit")
    how = (
        f"the {escape_md(analysis.purchase_model.label)} model fitted on each channel's own "
        "customers"
        if fitted.all()
        else f"the {escape_md(analysis.purchase_model.label)} model, fitted per channel where a "
        "channel has enough customers and pooled otherwise (see the table)"
    )
    lines = []
    for row in table.itertuples():
        cost = (
            f"; cost {money(row.mean_acquisition_cost, currency)}: {_verdict(row, ratio)}"
            if row.not_bought_because != NO_COST_RECORDED
            else ""
        )
        unpaid = "" if row.paid else f". Never bought: {_not_bought_reason(analysis, row)}"
        lines.append(
            f"{escape_md(row.acquisition_channel)}: worth "
            f"{money(row.new_customer_value, currency)} "
            f"({money(row.first_purchase_margin, currency)} first purchase, "
            f"{money(row.future_margin, currency)} later), ceiling "
            f"{money(row.cac_ceiling, currency)}{cost}{unpaid}"
        )
    text = (
        "What a newly acquired customer is worth: the margin of their first purchase plus the "
        f"discounted margin of the repeat purchases {how} expects over "
        f"{settings.horizon_months} months. The CAC ceiling is that value over the target "
        f"{ratio}:1 ratio of value to acquisition cost.\n\n" + _bullets(lines)
    )
    check = _first_year_check(analysis, table)
    if check:
        text += "\n\n" + check
    shown = table[
        [
            "acquisition_channel",
            "customers",
            "model",
            "new_customer_value",
            "cac_ceiling",
            "mean_acquisition_cost",
            "value_per_cost",
            "payback_months",
        ]
    ].assign(verdict=[_verdict(row, ratio) for row in table.itertuples()])
    styled = _styled(
        shown,
        name="new-customer-value",
        currency=currency,
        money_columns=("new_customer_value", "cac_ceiling", "mean_acquisition_cost"),
        count_columns=("customers",),
        decimals={"value_per_cost": 2, "payback_months": 1},
        labels={
            "acquisition_channel": "channel",
            "new_customer_value": "new customer's value",
            "cac_ceiling": "CAC ceiling",
            "mean_acquisition_cost": "actual CAC",
            "value_per_cost": "value per unit of cost",
            "payback_months": "payback (months; 0: the first purchase pays the cost)",
        },
    )
    figure = _figure(plots.new_customer_value(table, currency=currency))
    return Section(text=text, figure=figure, table=styled)


def _first_year_check(analysis: ClientAnalysis, table: pd.DataFrame) -> str:
    """The model's first-year margin of a new customer against what cohorts actually brought."""
    try:
        observed = analysis.cohort_by_channel.set_index("acquisition_channel")
    except Unavailable:
        return ""
    margin = analysis.params.gross_margin
    parts = []
    for row in table.itertuples():
        if row.acquisition_channel not in observed.index:
            continue
        actual = observed.loc[row.acquisition_channel]
        if not actual["eligible"] or pd.isna(actual["revenue_per_customer"]):
            continue
        seen = money(margin * actual["revenue_per_customer"], analysis.currency)
        expected = money(row.first_year_margin_model, analysis.currency)
        parts.append(
            f"{escape_md(row.acquisition_channel)} {seen} observed against {expected} expected"
        )
    if not parts:
        return ""
    return (
        "Checked against what happened: the first-year margin per customer of the cohorts "
        "observed for a whole year, " + "; ".join(parts) + "."
    )


@_section(
    data="iso_value",
    options={
        "max_frequency": "iso_value.max_frequency",
        "recency_steps": "iso_value.recency_steps",
    },
    model_note="brief",
)
def iso_value(
    analysis: ClientAnalysis,
    *,
    max_frequency: int | None = None,
    recency_steps: int | None = None,
) -> Section:
    """Iso-value curves over frequency and recency.

    Parameters
    ----------
    analysis : ClientAnalysis
        The client's analysis.
    max_frequency : int, optional
        Highest repeat-purchase count on the grid (``iso_value.max_frequency``).
    recency_steps : int, optional
        Recency points on the grid (``iso_value.recency_steps``).
    """
    text = (
        "Customers on the same curve are worth the same: a customer who bought often but not "
        "recently can be worth less than an occasional buyer who bought last week, because "
        "the model reads a long silence from a frequent buyer as a sign they have left."
    )
    figure = _figure(
        plots.iso_value(
            analysis.iso_value, currency=analysis.currency, time_unit=analysis.params.time_unit
        )
    )
    return Section(text=text, figure=figure)


@_section(data="naive_versus_model", model_note="brief")
def naive_versus_model(analysis: ClientAnalysis) -> Section:
    """The brief's simple CLV next to the model-based value."""
    compared = analysis.naive_versus_model
    currency = analysis.currency
    text = (
        "The simple formula (annual revenue x expected lifespan: each customer's net revenue "
        "per year since their first purchase, counting at least one year, "
        f"{money(compared['naive_annual_revenue'], currency)} on average, times a lifespan of "
        f"1 / the churn rate of {analysis.windows.last.label} "
        f"({percent(compared['annual_churn_rate'], digits=1)}) = "
        f"{compared['naive_lifespan_years']:.1f} years) gives "
        f"{money(compared['naive_clv'], currency)} of revenue per customer; the "
        f"model's residual CLV, which counts margin only, discounts and lets customers lapse, "
        f"is {money(compared['rclv'], currency)}. Use the simple number for a first "
        "conversation, the model for decisions."
    )
    return Section(text=text)


@_section(model_note="brief")  # its table is `analysis.activation`: the export streams its files
def clv_export(analysis: ClientAnalysis) -> Section:
    """Write the per-customer CLV table for CRM activation (else the value ranking)."""
    try:
        equity = analysis.customer_equity
    except ModelUnavailable:
        ranking = analysis.value_ranking
        exports.export(ranking, "value_ranking")
        return Section(
            text=f"Without a customer-value model there is no `clv.csv`; the value ranking "
            f"from history of {count(len(ranking))} customers is exported as "
            "`value_ranking.csv` instead."
        )
    if exports.export_dir() is not None:  # a workshop exports nothing: no files are made
        exports.export(analysis.clv_rows.blocks(), "clv")
    return Section(
        text=f"P(alive), P(no purchase), expected purchases and residual CLV with its "
        f"{percent(equity.interval)} predictive interval for {count(equity.n_customers)} "
        "customers are exported as `clv.csv`: the interval is the customer's own range, and a "
        "lower bound of 0 means the customer may buy nothing more."
    )


@_section
def next_steps_clv(analysis: ClientAnalysis) -> Section:
    """CAC ceilings and where the value sits (the value ranking when no model fits)."""
    try:
        equity = analysis.customer_equity
    except ModelUnavailable:
        return _next_steps_without_model(analysis)
    lines = [
        f"The top 10% of customers hold {percent(equity.top_decile_share)} of customer equity: "
        "give them the attention the segments notebook recommends for High-Value customers."
    ]
    try:
        table = analysis.new_customer_value
    except Unavailable:
        lines.append(
            "With acquisition channels and costs per customer, this notebook would give each "
            "channel the value of a new customer and its CAC ceiling."
        )
        table = None
    advice = {
        "loses money": "a new customer is worth less than they cost: cut spend or renegotiate",
        "below target": "profitable but below the target ratio, so no more acquisition budget "
        "until conversion or retention improves",
        "within the ceiling": "room to grow while the cost stays below the ceiling",
    }
    for row in [] if table is None else table.itertuples():
        if row.verdict is None or pd.isna(row.verdict) or not row.paid:
            continue
        lines.append(
            f"{escape_md(row.acquisition_channel)}: pay at most "
            f"{money(row.cac_ceiling, analysis.currency)} per new customer (today "
            f"{money(row.mean_acquisition_cost, analysis.currency)}): {advice[row.verdict]}."
        )
    return Section(text=_bullets(lines))


def _next_steps_without_model(analysis: ClientAnalysis) -> Section:
    summary = analysis.value_ranking_summary
    lines = []
    if summary["buyers_last_year"]:
        lines.append(
            "Until a model can be fitted, look after customers in the order of the value "
            f"ranking: {_ranking_top(summary['top_customers'], 'its')} brought "
            f"{percent(summary['top_revenue_share'])} of what that year's buyers spent "
            f"({_last_year(analysis)})."
        )
    lines.append(
        "Fit the models again as history accumulates (re-run this notebook each quarter): "
        "they need customers who bought more than once over a period long enough to see "
        "some of them stop."
    )
    return Section(text=_bullets(lines))
