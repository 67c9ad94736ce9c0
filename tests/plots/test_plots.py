import math
import re

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection, QuadMesh
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ccnb import clv, plots, rfm
from ccnb.data import DataQuality, SourceQuality


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------- tables


def months(start, count):
    return pd.date_range(start, periods=count, freq="MS")


def quarters(start, count):
    return pd.date_range(start, periods=count, freq="QS")


def quality_counts():
    return pd.DataFrame(
        {
            "source": ["transactions", "transactions", "transactions", "survey", "survey"],
            "outcome": ["used", "bad_date", "duplicate", "used", "nps_out_of_range"],
            "rows": [100, 3, 2, 20, 1],
        }
    )


def flow_table():
    """A customer_flow-shaped table: four months, the last covered to the 20th only."""
    period = months("2024-01-01", 4)
    period_end = period + pd.offsets.MonthEnd(0)
    end = period_end.where(period_end < pd.Timestamp("2024-04-01"), pd.Timestamp("2024-04-20"))
    return pd.DataFrame(
        {
            "period": period,
            "period_end": period_end,
            "partial": [False, False, False, True],
            "start": period,
            "end": end,
            "opening": [0, 10, 18, 25],
            "new": [10, 9, 8, 7],
            "reactivated": [0, 0, 1, 0],
            "lapsed": [0, 1, 2, 3],
            "closing": [10, 18, 25, 29],
            "churn_rate": [np.nan, 0.1, 0.11, 0.12],
            "revenue": [1_000.0, 2_500.0, 40_000.0, 3_000.0],
        }
    )


def scores_table():
    # 12 customers on a 3-bin scale: R x F counts below, revenue 10 per customer except one.
    cells = [(3, 3)] * 4 + [(3, 1)] * 2 + [(2, 2)] * 3 + [(1, 1)] * 3
    frame = pd.DataFrame(cells, columns=["R", "F"])
    frame["revenue"] = 10.0
    frame.loc[0, "revenue"] = 5_000.0
    return frame


def segment_summary_table():
    return pd.DataFrame(
        {
            "segment": pd.Categorical(["High", "Medium", "Low"], ordered=True),
            "customers": [10, 30, 60],
            "share": [0.1, 0.3, 0.6],
            "revenue": [500.0, 300.0, 200.0],
            "revenue_share": [0.5, 0.3, 0.2],
        }
    )


def concentration_table():
    revenue = np.array([50.0, 20.0, 15.0, 10.0, 5.0])
    return pd.DataFrame(
        {
            "customer_id": list("abcde"),
            "revenue": revenue,
            "customer_share": np.arange(1, 6) / 5,
            "revenue_share": revenue.cumsum() / revenue.sum(),
        }
    )


def nps_table():
    return pd.DataFrame(
        {
            "segment": ["High", "Low", "Tiny", "Empty", "All"],
            "n": [200, 150, 12, 0, 362],
            "nps": [40.0, -10.0, 25.0, np.nan, 18.0],
            "se": [5.0, 6.0, 20.0, np.nan, 3.0],
            "ci_low": [30.2, -21.8, -14.2, np.nan, 12.1],
            "ci_high": [49.8, 1.8, 64.2, np.nan, 23.9],
            "reliable": [True, True, False, False, True],
        }
    )


def csat_table():
    return pd.DataFrame(
        {
            "channel": ["Email", "Shop", "All"],
            "n": [80, 90, 170],
            "satisfied": [60, 50, 110],
            "csat": [75.0, 55.6, 64.7],
            "ci_low": [64.5, 45.3, 57.3],
            "ci_high": [83.2, 65.4, 71.5],
            "reliable": [True, True, True],
        }
    )


def retention_tidy(n_cohorts=5):
    """Monthly triangle: cohort c is observed at ages 0..n_cohorts-1-c (NaN beyond)."""
    rows = []
    for c, cohort in enumerate(months("2024-01-01", n_cohorts)):
        for age in range(n_cohorts):
            observed = age <= n_cohorts - 1 - c
            retention = (1.0 if age == 0 else 0.1 + 0.01 * c) if observed else np.nan
            rows.append(
                {
                    "cohort": cohort,
                    "age": age,
                    "period": cohort + pd.DateOffset(months=age),
                    "cohort_size": 100,
                    "active": retention * 100,
                    "retention": retention,
                    "cumulative_revenue_per_customer": (50.0 + 10 * age) if observed else np.nan,
                }
            )
    return pd.DataFrame(rows)


def layer_cake_table():
    rows = []
    for period in quarters("2023-01-01", 4):
        rows.append({"period": period, "cohort": pd.Timestamp("2023-01-01"), "revenue": 1_000.0})
        if period.year >= 2023 and period.quarter >= 3:
            rows.append({"period": period, "cohort": pd.Timestamp("2024-01-01"), "revenue": 0.0})
    frame = pd.DataFrame(rows)
    frame["customers"] = 5
    return frame


def seasonal_table():
    return pd.DataFrame(
        {
            "season_year": [2022] * 3 + [2023] * 3,
            "season": ["Nov-Dec 2022"] * 3 + ["Nov-Dec 2023"] * 3,
            "age": [0, 1, 2] * 2,
            "customers": [50] * 3 + [60] * 3,
            "repeaters": [5.0, 10.0, 12.0, 6.0, 9.0, np.nan],
            "repeat_rate": [0.1, 0.2, 0.24, 0.1, 0.15, np.nan],
            "revenue_per_customer": [80.0, 10.0, 5.0, 70.0, 12.0, np.nan],
            "cumulative_revenue_per_customer": [80.0, 90.0, 95.0, 70.0, 82.0, np.nan],
        }
    )


def channel_cohort_table():
    return pd.DataFrame(
        {
            "cohort": pd.to_datetime(["2023-01-01", "2023-01-01", "2024-01-01", "2024-01-01"]),
            "acquisition_channel": ["Email", "Search", "Email", "Search"],
            "customers": [10, 20, 12, 25],
            "repeat_share": [0.5, 0.3, 0.6, 0.25],
            "revenue_per_customer": [100.0, 80.0, 110.0, 70.0],
        }
    )


def tracking_table(scale=1.0):
    return pd.DataFrame(
        {
            "period": np.arange(1, 7),
            "actual": [1.0, 2, 3, 3, 2, 2],
            "expected": np.array([1.0, 2, 2.5, 3, 2.5, 2]) * scale,
            "actual_cumulative": np.cumsum([1.0, 2, 3, 3, 2, 2]),
            "expected_cumulative": np.cumsum([1.0, 2, 2.5, 3, 2.5, 2]) * scale,
            "in_calibration": [True, True, True, True, False, False],
        }
    )


def expectations_table(scale=1.0):
    return pd.DataFrame(
        {
            "frequency_cal": ["0", "1", "2", "3+"],
            "n_customers": [500, 120, 40, 1_234],
            "actual": [0.2, 0.6, 1.1, 2.5],
            "predicted": np.array([0.25, 0.55, 1.0, 2.7]) * scale,
        }
    )


def predictions_table():
    rng = np.random.default_rng(7)
    rclv = np.concatenate([rng.lognormal(3, 1.5, 195), [1e-9, 1e-8, 1e-7, 1e-6, 1e-5]])
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(200)],
            "p_alive": np.linspace(0.0, 1.0, 200),
            "rclv": rclv,
            "rclv_low": rclv * 0.9,
            "rclv_high": rclv * 1.1,
        }
    )


def clv_by_table():
    return pd.DataFrame(
        {
            "segment": ["Low", "High", "Medium"],
            "n_customers": [300, 50, 150],
            "rclv_mean": [5.0, 120.0, 40.0],
            "rclv_mean_low": [4.5, 110.0, 37.0],
            "rclv_mean_high": [5.5, 131.0, 43.0],
        }
    )


def new_customer_table():
    return pd.DataFrame(
        {
            "acquisition_channel": ["Referral", "Paid search"],
            "customers": [100, 300],
            "first_purchase_margin": [25.0, 20.0],
            "future_margin": [35.0, 15.0],
            "new_customer_value": [60.0, 35.0],
            "cac_ceiling": [20.0, 35.0 / 3],
            "mean_acquisition_cost": [15.0, 40.0],
            "verdict": ["below target", "loses money"],
        }
    )


def iso_table():
    recency = np.array([0.0, 2.5, 5.0, 7.5, 10.0])
    frequency = np.arange(4)
    values = np.add.outer(recency, 3 * frequency) + 1.0
    values[1:, 0] = np.nan  # no repeat purchase with a positive recency is impossible
    return pd.DataFrame(
        values,
        index=pd.Index(recency, name="recency"),
        columns=pd.Index(frequency, name="frequency"),
    )


def allocation_table():
    rows = []
    equity = np.array([40, 20, 12, 8, 6, 5, 4, 3, 1.5, 0.5]) / 100
    centric = np.array([50, 30, 20, 0, 0, 0, 0, 0, 0, 0]) / 100
    for decile in range(1, 11):
        for strategy, share in (("focused", 0.1), ("centric", centric[decile - 1])):
            rows.append(
                {
                    "decile": decile,
                    "customers": 10,
                    "equity_share": equity[decile - 1],
                    "strategy": strategy,
                    "spend": 1_000 * share,
                    "budget_share": share,
                    "added_value": 10.0,
                }
            )
    return pd.DataFrame(rows)


def sensitivity_table(budgets=(1_000.0,)):
    rows = []
    for budget in budgets:
        for lift in (0.1, 0.2, 0.3):
            for scale in (10, 50):
                rows.append(
                    {
                        "max_lift": lift,
                        "spend_scale": scale,
                        "budget": budget,
                        "gain_pct": 100 * lift + scale / 10,
                        "centric_roi": lift * 10 - scale / 20,
                    }
                )
    return pd.DataFrame(rows)


def compare_table():
    return pd.DataFrame(
        {
            "strategy": ["focused", "centric", "tiered"],
            "spend": [50_000.0, 50_000.0, 50_000.0],
            "added_value": [15_000.0, 26_000.0, 22_500.0],
        }
    )


# --------------------------------------------------------------------------- helpers


def drawn(artist):
    figure = artist if isinstance(artist, Figure) else artist.figure
    figure.canvas.draw()
    return artist


def charts(figure):
    return [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]


def colorbar(ax):
    bars = [axes for axes in ax.figure.axes if axes.get_label() == "<colorbar>"]
    assert len(bars) == 1
    return bars[0]


def tick_texts(axis):
    return [label.get_text() for label in axis.get_ticklabels() if label.get_text()]


def heatmap_cells(ax):
    meshes = [collection for collection in ax.collections if isinstance(collection, QuadMesh)]
    assert len(meshes) == 1
    return meshes[0].get_array()


def legend_texts(ax):
    legend = ax.get_legend() or (ax.figure.legends[0] if ax.figure.legends else None)
    assert legend is not None, "no legend"
    return [text.get_text() for text in legend.get_texts()]


def bar_widths(ax):
    return [patch.get_width() for patch in ax.patches if isinstance(patch, Rectangle)]


def bar_heights(ax):
    return [patch.get_height() for patch in ax.patches if isinstance(patch, Rectangle)]


def texts(ax):
    return [text.get_text() for text in ax.texts]


# --------------------------------------------------------------------------- theme and money


def test_money_formatter_labels_ticks_with_the_currency():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 50_000])
    ax.yaxis.set_major_formatter(plots.money_formatter("EUR"))
    fig.canvas.draw()
    labels = tick_texts(ax.yaxis)
    assert labels and all(label.startswith(("€", "−€")) for label in labels)
    assert "€50k" in labels


def test_a_count_axis_of_a_handful_labels_only_whole_numbers():
    """The wholesaler's churn chart read '1, 0, 0, 0, 1, 2': ticks at 0.25 steps, rounded."""
    from ccnb.plots._theme import count_formatter

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 2])
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2])
    ax.yaxis.set_major_formatter(count_formatter())
    fig.canvas.draw()
    assert [label for label in tick_texts(ax.yaxis) if label] == ["0", "1", "2"]
    ax.set_yticks([0, 5_000, 10_000])
    fig.canvas.draw()
    assert tick_texts(ax.yaxis) == ["0", "5,000", "10,000"]
    plt.close(fig)


def test_a_percent_axis_labels_each_tick_with_its_own_value():
    """The big client's churn chart read '0, 2, 5, 8, 10, 12%': ticks at 2.5% steps, rounded."""
    from ccnb.plots._axes import TickPercentFormatter, _percent

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 0.125])
    _percent(ax)
    fig.canvas.draw()
    values = ax.yaxis.get_majorticklocs()
    labels = tick_texts(ax.yaxis)
    # every label reads back as its tick's value
    for value, label in zip(values, labels, strict=True):
        assert float(label.rstrip("%").replace("\u2212", "-")) == pytest.approx(value * 100)
    # a spacing the locator would not choose still gets the decimals it needs
    ax.set_yticks([0, 0.025, 0.05, 0.075, 0.1])
    fig.canvas.draw()
    assert tick_texts(ax.yaxis) == ["0.0%", "2.5%", "5.0%", "7.5%", "10.0%"]
    # whole percents stay whole; values already in percent (xmax=100) too
    ax.set_yticks([0, 0.2, 0.4])
    fig.canvas.draw()
    assert tick_texts(ax.yaxis) == ["0%", "20%", "40%"]
    ax.yaxis.set_major_formatter(TickPercentFormatter(xmax=100))
    ax.set_yticks([0, 50, 100])
    fig.canvas.draw()
    assert tick_texts(ax.yaxis) == ["0%", "50%", "100%"]
    plt.close(fig)


def test_set_theme_is_idempotent_and_plots_leave_global_settings_alone():
    with mpl.rc_context():
        plots.set_theme()
        first = dict(mpl.rcParams)
        plots.set_theme()
        assert dict(mpl.rcParams) == first
        assert mpl.rcParams["axes.spines.top"] is False
        assert mpl.rcParams["figure.dpi"] == 100
    with mpl.rc_context({"axes.spines.top": True, "figure.figsize": (4.0, 3.0)}):
        ax = plots.segment_share_bars(segment_summary_table())
        assert mpl.rcParams["axes.spines.top"] is True  # restored after drawing
        assert tuple(mpl.rcParams["figure.figsize"]) == (4.0, 3.0)
    # ...while the figure itself got the theme.
    assert not ax.spines["top"].get_visible()
    assert ax.figure.dpi == 100


def test_new_figures_have_the_default_size_and_palette():
    ax = plots.p_alive_hist(clv.p_alive_histogram(predictions_table()))
    assert tuple(ax.figure.get_size_inches()) == pytest.approx((9.0, 5.0))
    assert to_hex(ax.patches[0].get_facecolor()) == plots.PALETTE[0]
    assert len(plots.PALETTE) >= 8


def test_plot_functions_draw_on_a_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    assert plots.p_alive_hist(clv.p_alive_histogram(predictions_table()), ax=right) is right
    assert not left.patches and right.patches


# --------------------------------------------------------------------------- data quality and base


def test_data_quality_bar_has_one_annotated_bar_per_source_and_outcome():
    ax = drawn(plots.data_quality_bar(quality_counts()))
    assert bar_widths(ax) == [100, 3, 2, 20, 1]
    assert tick_texts(ax.yaxis) == [
        "transactions: used",
        "transactions: bad date",
        "transactions: duplicate",
        "survey: used",
        "survey: nps out of range",
    ]
    assert texts(ax) == ["100", "3", "2", "20", "1"]
    assert legend_texts(ax) == ["used", "rejected"]
    assert ax.get_title() and ax.get_xlabel() == "Rows"


def test_data_quality_bar_accepts_the_report_itself():
    report = DataQuality(
        sources=(
            SourceQuality("transactions", "t.csv", 10, 8, {"bad_date": 2}, customers=3),
            SourceQuality("customers", "c.csv", 3, 3, {}, customers=3),
        ),
        rejected_rows=pd.DataFrame(),
    )
    ax = plots.data_quality_bar(report)
    assert bar_widths(ax) == [8, 2, 3]


def test_active_base_revenue_has_two_panels_and_marks_the_partial_period():
    fig = drawn(plots.active_base_revenue(flow_table(), currency="EUR"))
    assert isinstance(fig, Figure)
    upper, lower = charts(fig)
    assert list(upper.lines[0].get_ydata()) == [10, 18, 25, 29]
    assert list(upper.lines[1].get_ydata()) == [29]  # the partial month, drawn hollow
    assert bar_heights(lower) == [1_000.0, 2_500.0, 40_000.0, 3_000.0]
    hatched = [bar.get_hatch() for bar in lower.patches]
    assert hatched == [None, None, None, "//"]
    assert legend_texts(lower) == ["partial month (1 Apr 2024 to 20 Apr 2024)"]
    assert fig.get_suptitle() and upper.get_title() and lower.get_title()
    assert upper.get_ylabel() == "Active customers"
    assert lower.get_ylabel() == "Revenue (EUR)" and lower.get_xlabel() == "Month"
    assert "€40k" in tick_texts(lower.yaxis)


def test_churn_and_customer_flow_draws_rates_and_signed_flows():
    fig = drawn(plots.churn_and_customer_flow(flow_table()))
    upper, lower = charts(fig)
    assert np.allclose(bar_heights(upper), [np.nan, 0.1, 0.11, 0.12], equal_nan=True)
    heights = bar_heights(lower)
    # new, reactivated stacked on new, lapsed below zero: the bars of a month add up to its
    # change in the active base
    assert heights[:4] == [10, 9, 8, 7] and heights[4:8] == [0, 0, 1, 0]
    assert heights[8:] == [0, -1, -2, -3]
    assert [bar.get_y() for bar in lower.patches[4:8]] == [10, 9, 8, 7]
    assert "%" in upper.get_ylabel() and lower.get_xlabel() == "Month"
    assert "opening base" in upper.get_title()
    assert legend_texts(lower) == [
        "new",
        "reactivated",
        "lapsed (below 0)",
        "partial month (1 Apr 2024 to 20 Apr 2024)",
    ]


def test_early_repeat_rate_by_cohort_and_by_channel():
    by_cohort = pd.DataFrame(
        {
            "group": months("2024-01-01", 3),
            "eligible": [10, 10, 0],
            "early_repeat_rate": [0.3, 0.4, np.nan],
        }
    )
    by_cohort = pd.concat([by_cohort, by_cohort.assign(group=months("2024-04-01", 3))])
    ax = plots.early_repeat_rate(by_cohort, period="M")
    assert "month of first purchase" in ax.get_xlabel()
    assert np.allclose(ax.lines[0].get_ydata(), [0.3, 0.4, np.nan] * 2, equal_nan=True)
    by_channel = pd.DataFrame(
        {"group": ["Email", "Search"], "eligible": [10, 20], "early_repeat_rate": [0.3, 0.2]}
    )
    ax = drawn(plots.early_repeat_rate(by_channel))
    assert bar_heights(ax) == [0.3, 0.2]
    assert texts(ax) == ["30%", "20%"]
    assert "%" in ax.get_ylabel()
    # one cohort is a labelled bar, not a dot on a long date axis
    one = pd.DataFrame(
        {"group": pd.to_datetime(["1997-01-01"]), "eligible": [2357], "early_repeat_rate": [0.29]}
    )
    ax = drawn(plots.early_repeat_rate(one, period="Q"))
    assert bar_heights(ax) == [0.29]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["Q1 1997\n(n=2,357)"]
    assert "quarter of first purchase" in ax.get_xlabel()


# --------------------------------------------------------------------------- RFM


def test_rfm_heatmap_counts_customers_per_r_f_cell():
    ax = drawn(plots.rfm_heatmap(rfm.score_grid(scores_table(), bins=3)))
    cells = heatmap_cells(ax)
    assert cells.size == 9 and not np.ma.getmaskarray(cells).any()
    # Rows R = 3, 2, 1 (top down), columns F = 1, 2, 3; empty pairs are a real 0.
    assert np.asarray(cells).reshape(3, 3).tolist() == [[2, 0, 4], [0, 3, 0], [3, 0, 0]]
    assert texts(ax) == ["2", "0", "4", "0", "3", "0", "3", "0", "0"]
    assert tick_texts(ax.yaxis) == ["3", "2", "1"] and tick_texts(ax.xaxis) == ["1", "2", "3"]
    assert "Recency" in ax.get_ylabel() and "Frequency" in ax.get_xlabel()
    assert colorbar(ax).get_ylabel() == "Customers"


def test_rfm_heatmap_of_revenue_uses_money_labels():
    ax = drawn(
        plots.rfm_heatmap(rfm.score_grid(scores_table(), bins=3), value="revenue", currency="EUR")
    )
    assert np.asarray(heatmap_cells(ax)).reshape(3, 3)[0].tolist() == [20.0, 0.0, 5_030.0]
    assert texts(ax)[:3] == ["€20", "€0", "€5.03k"]
    bar = colorbar(ax)
    assert bar.get_ylabel() == "Net revenue (EUR)"
    assert any(label.startswith("€") for label in tick_texts(bar.yaxis))


def test_rfm_heatmap_of_real_scores_has_25_cells_summing_to_the_customers():
    summary = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(20)],
            "days_since_last": np.arange(20) * 7,
            "orders": np.arange(20) % 6 + 1,
            "revenue": np.linspace(10, 200, 20),
        }
    )
    ax = plots.rfm_heatmap(rfm.score_grid(rfm.score(summary)))
    cells = heatmap_cells(ax)
    assert cells.size == 25 and cells.sum() == 20


def test_segment_share_bars_pairs_customer_and_revenue_shares():
    ax = drawn(plots.segment_share_bars(segment_summary_table()))
    widths = bar_widths(ax)
    assert widths == [0.1, 0.3, 0.6, 0.5, 0.3, 0.2]
    assert tick_texts(ax.yaxis) == ["High", "Medium", "Low"]
    assert texts(ax) == ["10%", "30%", "60%", "50%", "30%", "20%"]
    assert legend_texts(ax) == ["share of customers", "share of net revenue"]
    assert "(%)" in ax.get_xlabel()


def test_revenue_concentration_marks_the_top_share_on_the_curve():
    ax = drawn(plots.revenue_concentration(concentration_table()))
    curve = ax.lines[0]
    assert list(curve.get_xdata()) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert list(curve.get_ydata()) == pytest.approx([0, 0.5, 0.7, 0.85, 0.95, 1.0])
    diagonal = [line for line in ax.lines if list(line.get_ydata()) == [0, 1]]
    assert len(diagonal) == 1
    marker = [line for line in ax.lines if line.get_marker() == "o"][0]
    assert list(marker.get_xdata()) == [0.2] and list(marker.get_ydata()) == [pytest.approx(0.5)]
    assert "50% of net revenue" in texts(ax)[0]
    assert "(%)" in ax.get_xlabel() and "(%)" in ax.get_ylabel()


# --------------------------------------------------------------------------- NPS


def test_nps_by_segment_greys_unreliable_groups_and_separates_all():
    ax = drawn(plots.nps_by_segment(nps_table()))
    points = [line for line in ax.lines if line.get_marker() == "o"]
    assert [float(line.get_xdata()[0]) for line in points] == [40.0, -10.0, 25.0, 18.0]
    colours = [to_hex(line.get_color()) for line in points]
    assert colours[0] == colours[1] == plots.PALETTE[0]
    assert colours[2] == "#9a9a9a"  # unreliable: grey
    assert colours[3] != colours[0]  # the overall row stands apart
    assert "25 (few answers)" in texts(ax)
    assert any("no answers" in text for text in texts(ax))
    assert tick_texts(ax.yaxis)[2] == "Tiny\n(n=12)"
    assert ax.get_xlim() == (-100.0, 100.0)
    assert "too few answers to rely on" in legend_texts(ax)
    assert ax.get_title() == "NPS by segment" and "Promoter" in ax.get_xlabel()


def test_nps_by_segment_draws_csat_tables_too():
    ax = plots.nps_by_segment(csat_table())
    points = [line for line in ax.lines if line.get_marker() == "o"]
    assert [float(line.get_xdata()[0]) for line in points] == [75.0, 55.6, 64.7]
    assert ax.get_xlim() == (0.0, 100.0)
    assert "CSAT" in ax.get_title() and "(%)" in ax.get_xlabel()
    assert ax.get_ylabel() == "Channel"


# --------------------------------------------------------------------------- cohorts


def test_retention_heatmap_masks_unobserved_cells_and_annotates_small_grids():
    ax = drawn(plots.retention_heatmap(retention_tidy(5)))
    cells = heatmap_cells(ax)
    assert cells.size == 25
    assert np.ma.getmaskarray(cells).sum() == 10  # the unobserved lower-right triangle
    assert len([text for text in texts(ax) if text]) == 15
    assert texts(ax)[:2] == ["100%", "10%"]
    assert tick_texts(ax.yaxis)[0] == "Jan 2024"
    assert ax.get_xlabel() == "Months since first purchase"
    assert "(% of cohort)" in colorbar(ax).get_ylabel()
    # Colour scale ignores age 0 (always 100%) so later ages keep their contrast.
    assert ax.collections[0].norm.vmax == pytest.approx(0.13)


def test_retention_heatmap_limits_cohorts_and_skips_annotations_on_big_grids():
    ax = plots.retention_heatmap(retention_tidy(5), max_cohorts=3)
    assert heatmap_cells(ax).size == 9  # last 3 cohorts, ages 0..2
    assert tick_texts(ax.yaxis)[0] == "Mar 2024"
    ax = plots.retention_heatmap(retention_tidy(20))
    assert heatmap_cells(ax).size == 400 and texts(ax) == []


def test_retention_heatmap_takes_the_wide_triangle_and_refuses_channel_splits():
    from ccnb.cohorts import to_triangle

    wide = to_triangle(retention_tidy(4))
    assert heatmap_cells(plots.retention_heatmap(wide)).size == 16
    split = retention_tidy(3).assign(acquisition_channel="Email")
    with pytest.raises(ValueError, match="acquisition channel"):
        plots.retention_heatmap(split)


def test_retention_heatmap_of_revenue_uses_money():
    ax = drawn(
        plots.retention_heatmap(
            retention_tidy(3), value="cumulative_revenue_per_customer", currency="USD"
        )
    )
    assert texts(ax)[:3] == ["$50", "$60", "$70"]
    assert colorbar(ax).get_ylabel().endswith("(USD)")


def test_cumulative_revenue_curves_one_line_per_cohort():
    ax = drawn(plots.cumulative_revenue_curves(retention_tidy(3), currency="EUR"))
    assert len(ax.lines) == 3
    assert list(ax.lines[0].get_ydata()) == [50.0, 60.0, 70.0]
    assert legend_texts(ax) == ["Jan 2024", "Feb 2024", "Mar 2024"]
    assert ax.get_ylabel() == "Net revenue per customer (EUR)"
    assert any(label.startswith("€") for label in tick_texts(ax.yaxis))


def test_cumulative_revenue_curves_colour_many_cohorts_by_year():
    tidy = retention_tidy(14)  # Jan 2024 .. Feb 2025
    ax = plots.cumulative_revenue_curves(tidy, max_cohorts=8)
    assert len(ax.lines) == 14
    assert legend_texts(ax) == ["2024", "2025"]
    assert len({to_hex(line.get_color()) for line in ax.lines}) == 2


def test_layer_cake_stacks_one_layer_per_cohort():
    ax = drawn(plots.layer_cake(layer_cake_table(), currency="CHF"))
    layers = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(layers) == 2
    assert legend_texts(ax) == ["2024", "2023"]  # top layer first, like the stack
    assert ax.get_ylabel() == "Net revenue per quarter (CHF)"
    assert any(label.startswith("CHF ") for label in tick_texts(ax.yaxis))


def test_seasonal_cohorts_one_line_per_season():
    ax = plots.seasonal_cohorts(seasonal_table(), currency="EUR")
    assert [line.get_label() for line in ax.lines] == ["Nov-Dec 2022", "Nov-Dec 2023"]
    assert np.allclose(ax.lines[1].get_ydata(), [70.0, 82.0, np.nan], equal_nan=True)
    assert ax.get_xlabel() == "Months since first purchase"
    ax = drawn(plots.seasonal_cohorts(seasonal_table(), value="repeat_rate"))
    assert tick_texts(ax.yaxis)[-1].endswith("%")


def test_cohort_by_channel_one_line_per_channel():
    ax = drawn(plots.cohort_by_channel(channel_cohort_table()))
    assert [line.get_label() for line in ax.lines] == ["Email", "Search"]
    assert list(ax.lines[1].get_ydata()) == [0.3, 0.25]
    assert tick_texts(ax.xaxis) == ["2023", "2024"]
    ax = plots.cohort_by_channel(
        channel_cohort_table(), value="revenue_per_customer", currency="EUR"
    )
    assert ax.get_ylabel() == "Revenue per customer (EUR)"


# --------------------------------------------------------------------------- CLV


def test_holdout_tracking_draws_actual_models_and_calibration_end():
    tables = {"bgnbd": tracking_table(), "paretonbd": tracking_table(1.2)}
    ax = plots.holdout_tracking(tables, time_unit="W")
    labels = [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]
    assert labels == ["actual", "BG/NBD", "Pareto/NBD"]
    assert list(ax.lines[0].get_ydata()) == [1, 3, 6, 9, 11, 13]
    assert ax.lines[2].get_ydata()[-1] == pytest.approx(13 * 1.2)
    vertical = [line for line in ax.lines if list(line.get_xdata()) == [4.0, 4.0]]
    assert len(vertical) == 1  # end of the last calibration period
    assert "(weeks)" in ax.get_xlabel() and ax.get_ylabel() == "Cumulative repeat purchases"


def test_conditional_expectations_actual_vs_each_model():
    ax = drawn(
        plots.conditional_expectations({"bgnbd": expectations_table(), "x": expectations_table(2)})
    )
    assert [line.get_label() for line in ax.lines] == ["actual", "BG/NBD", "x"]
    assert list(ax.lines[0].get_ydata()) == [0.2, 0.6, 1.1, 2.5]
    assert tick_texts(ax.xaxis) == ["0\n500", "1\n120", "2\n40", "3+\n1,234"]
    assert ax.get_ylabel() and ax.get_xlabel() and ax.get_title()


def test_p_alive_hist_counts_every_customer_in_20_bins():
    ax = drawn(plots.p_alive_hist(clv.p_alive_histogram(predictions_table())))
    heights = bar_heights(ax)
    assert len(heights) == 20 and sum(heights) == 200
    assert tick_texts(ax.xaxis)[-1] == "100%"
    assert ax.get_ylabel() == "Customers" and "(%)" in ax.get_xlabel()


def test_clv_distribution_draws_log_spaced_bins_on_a_log_axis():
    histogram = clv.rclv_histogram(predictions_table(), bins=30)
    ax = drawn(plots.clv_distribution(histogram, currency="USD"))
    assert ax.get_xscale() == "log"
    heights = bar_heights(ax)
    assert heights == histogram.bins["customers"].tolist() and sum(heights) == 200
    assert "5 customers below" in texts(ax)[0]  # the five tiny values sit in the first bar
    assert to_hex(ax.patches[0].get_facecolor()) != to_hex(ax.patches[1].get_facecolor())
    assert all(label.startswith("$") for label in tick_texts(ax.xaxis))
    assert "USD" in ax.get_xlabel()
    even = pd.DataFrame({"rclv": np.linspace(10, 20, 50)})
    ax = plots.clv_distribution(clv.rclv_histogram(even, bins=10))
    assert ax.get_xscale() == "linear" and sum(bar_heights(ax)) == 50 and not texts(ax)


def test_the_histograms_draw_the_bars_matplotlib_draws_from_every_customer():
    """The figures from the binned counts are the figures drawn from the customers before."""
    table = predictions_table()
    for plot, histogram, values in (
        (plots.p_alive_hist, clv.p_alive_histogram(table), table["p_alive"]),
        (plots.clv_distribution, clv.rclv_histogram(table, log=False), table["rclv"]),
    ):
        edges = [*histogram.bins["low"], histogram.bins["high"].iloc[-1]]
        _, reference = plt.subplots()
        reference.hist(values, bins=edges)
        drawn_bars = [[p.get_x(), p.get_width(), p.get_height()] for p in plot(histogram).patches]
        expected = [[p.get_x(), p.get_width(), p.get_height()] for p in reference.patches]
        np.testing.assert_allclose(drawn_bars, expected, rtol=0, atol=1e-12)


def test_clv_by_group_sorted_bars_with_intervals():
    ax = drawn(plots.clv_by_group(clv_by_table(), currency="EUR"))
    assert bar_widths(ax) == [120.0, 40.0, 5.0]
    assert tick_texts(ax.yaxis) == ["High\n(n=50)", "Medium\n(n=150)", "Low\n(n=300)"]
    assert texts(ax) == ["€120", "€40", "€5"]
    assert legend_texts(ax) == [
        "mean rCLV (90% interval: parameters and customers' own randomness)"
    ]
    assert ax.get_xlabel() == "Mean residual CLV per customer (EUR)"


def test_new_customer_value_stacks_first_and_later_margin_beside_ceiling_and_cost():
    ax = drawn(plots.new_customer_value(new_customer_table(), currency="EUR"))
    # bars: first purchase (25, 20) then later purchases (35, 15) starting where they end
    assert bar_widths(ax) == [25.0, 20.0, 35.0, 15.0]
    assert [bar.get_x() for bar in ax.patches[2:4]] == [25.0, 20.0]
    ceiling = [line for line in ax.lines if line.get_label().startswith("CAC ceiling")][0]
    assert list(ceiling.get_xdata()) == [20.0, pytest.approx(35 / 3)]
    losing = [line for line in ax.lines if "loses money" in line.get_label()][0]
    assert list(losing.get_xdata()) == [40.0]  # Paid search, in red
    assert to_hex(losing.get_color()) == plots.PALETTE[3]
    assert [tick.get_text() for tick in ax.get_yticklabels()] == [
        "Referral\n(n=100)",
        "Paid search\n(n=300)",
    ]


def test_iso_value_contours_with_blank_impossible_cells():
    ax = drawn(plots.iso_value(iso_table(), currency="EUR", time_unit="W"))
    filled = [c for c in ax.collections if c.get_array() is not None]
    assert filled, "no filled contours"
    assert "(weeks)" in ax.get_xlabel() and "repeat purchases" in ax.get_ylabel()
    bar = colorbar(ax)
    assert bar.get_ylabel() == "Residual CLV per customer (EUR)"
    assert all(label.startswith("€") for label in tick_texts(bar.yaxis))


def retention_table():
    return pd.DataFrame(
        {
            "change_points": [-2.0, 0.0, 1.0, 5.0],
            "retention": [0.58, 0.6, 0.61, 0.65],
            "equity_change": [-4_000.0, 0.0, 2_100.0, 11_000.0],
        }
    )


def lorenz_tables():
    lorenz = pd.DataFrame({"customer_share": [0, 0.5, 1], "revenue_share": [0, 0.2, 1]})
    deciles = pd.DataFrame({"decile": range(1, 11), "revenue_share": [0.4] + [0.6 / 9] * 9})
    return lorenz, deciles


def bridge_table():
    steps = [
        "previous period",
        "lost customers",
        "retained, spending less",
        "retained, spending more",
        "reactivated customers",
        "new customers",
        "current period",
    ]
    return pd.DataFrame({"step": steps, "amount": [395, -120, -100, 50, 90, 335, 650.0]})


def evolution_table():
    rows = []
    for cohort, ages in (("2023-01-01", 3), ("2024-01-01", 2), ("2025-01-01", 1)):
        for age in range(ages):
            rows.append(
                {
                    "cohort": pd.Timestamp(cohort),
                    "age": age,
                    "active_share": 1 / (age + 1),
                    "orders_per_active": 1.5 + age,
                    "average_order_value": 60.0 + age,
                    "revenue_per_customer": 90.0 / (age + 1),
                }
            )
    return pd.DataFrame(rows)


def test_cohort_evolution_panels_start_at_zero():
    """The big client's order values (69.6 to 70.6) filled their panel as if they swung."""
    table = evolution_table()
    table["average_order_value"] = 69.6 + table["age"] * 0.5
    figure = plots.cohort_evolution(table, currency="EUR")
    for ax in figure.axes[:4]:
        low, high = ax.get_ylim()
        assert low == 0.0 and high > 0.0, ax.get_title()
    plt.close(figure)


def factors_table():
    factors = ["size", "active_share", "orders_per_active", "average_order_value", "revenue"]
    return pd.DataFrame(
        {
            "factor": factors * 2,
            "ratio": [1.0, 1.0, 1.25, 0.9, 1.125, 2.0, 1.0, 1.0, 1.25, 2.5],
            "age": [0] * 5 + [1] * 5,
        }
    )


def curves_table():
    return pd.DataFrame(
        {
            "group": ["all"] * 3 + ["Referral"] * 2,
            "day": [30, 31, 337, 20, 200],
            "repeated_share": [0.1, 0.2125, 0.37, 0.2, 0.5],
        }
    )


def categories_table():
    return pd.DataFrame(
        {
            "category": ["Toys", "Books", "Garden"],
            "value_12m": [200.0, 78.3, 65.0],
            "first_purchase_share": [0.3, 0.4, 0.3],
        }
    )


def test_revenue_bridge_floats_the_changes_between_the_two_totals():
    ax = drawn(plots.revenue_bridge(bridge_table(), currency="EUR"))
    bars = [patch for patch in ax.patches if isinstance(patch, Rectangle)]
    assert [bar.get_height() for bar in bars] == [395, 120, 100, 50, 90, 335, 650]
    # each change starts where the running total stands: 395 - 120 = 275, then 175, 225, 315
    assert [bar.get_y() for bar in bars] == [0, 275, 175, 175, 225, 315, 0]
    assert texts(ax)[1] == "\u2212€120"


def test_cohort_factors_one_bar_per_factor_and_age():
    ax = drawn(plots.cohort_factors(factors_table()))
    heights = bar_heights(ax)
    assert heights[:5] == pytest.approx([0.0, 0.0, 0.25, -0.1, 0.125])
    assert heights[5:] == pytest.approx([1.0, 0.0, 0.0, 0.25, 1.5])


def test_retention_scenarios_one_bar_per_change_without_today():
    ax = drawn(plots.retention_scenarios(retention_table(), currency="EUR"))
    assert bar_heights(ax) == [-4_000.0, 2_100.0, 11_000.0]
    assert texts(ax) == ["\u2212€4k", "€2.1k", "€11k"]  # a true minus sign
    assert tick_texts(ax.xaxis) == ["-2 pt\n(58.0%)", "+1 pt\n(61.0%)", "+5 pt\n(65.0%)"]
    assert "EUR" in ax.get_ylabel()


# --------------------------------------------------------------------------- budget


def test_allocation_by_decile_bars_per_strategy_and_equity_line():
    ax = drawn(plots.allocation_by_decile(allocation_table()))
    heights = bar_heights(ax)
    assert len(heights) == 20
    assert heights[:10] == [0.1] * 10  # focused: same share in every decile
    assert list(ax.lines[0].get_ydata()) == pytest.approx(
        [0.4, 0.2, 0.12, 0.08, 0.06, 0.05, 0.04, 0.03, 0.015, 0.005]
    )
    assert legend_texts(ax) == [
        "share of customer equity",
        "budget: focused",
        "budget: centric",
    ]
    assert tick_texts(ax.xaxis)[0] == "1\n(top)" and "(%)" in ax.get_ylabel()


def test_sensitivity_heatmap_one_annotated_cell_per_assumption_pair():
    ax = drawn(
        plots.sensitivity_heatmap(
            sensitivity_table(), value="gain_pct", currency="EUR", highlight=(0.2, 50)
        )
    )
    cells = heatmap_cells(ax)
    assert cells.size == 6
    assert sorted(texts(ax)) == sorted(["11%", "15%", "21%", "25%", "31%", "35%"])
    assert tick_texts(ax.xaxis) == ["€10", "€50"]
    assert sorted(tick_texts(ax.yaxis)) == ["10%", "20%", "30%"]
    outlined = [p for p in ax.patches if isinstance(p, Rectangle) and not p.get_fill()]
    assert len(outlined) == 1
    assert "(EUR" in ax.get_xlabel() and "(%" in ax.get_ylabel()


def test_sensitivity_heatmap_of_the_return_is_red_where_the_plan_loses_money():
    ax = drawn(plots.sensitivity_heatmap(sensitivity_table(), currency="EUR"))
    # ROI = 10 lift - scale / 20: from -150% (lift 0.1, scale 50) to +250%
    assert sorted(texts(ax)) == sorted(["+50%", "-150%", "+150%", "-50%", "+250%", "+50%"])
    mesh = ax.collections[0]
    losing, earning = mesh.cmap(mesh.norm(-50.0)), mesh.cmap(mesh.norm(50.0))
    assert losing[0] > losing[2] and earning[2] > earning[0]  # red below 0, blue above
    assert "ROI" in ax.figure.axes[-1].get_ylabel()


def test_sensitivity_heatmap_needs_a_budget_when_the_grid_has_several():
    table = sensitivity_table(budgets=(1_000.0, 2_000.0))
    with pytest.raises(ValueError, match="pass budget="):
        plots.sensitivity_heatmap(table)
    assert heatmap_cells(plots.sensitivity_heatmap(table, budget=2_000.0)).size == 6


def test_strategy_comparison_spend_and_added_value_per_strategy():
    ax = drawn(plots.strategy_comparison(compare_table(), currency="EUR"))
    assert bar_widths(ax) == [50_000.0] * 3 + [15_000.0, 26_000.0, 22_500.0]
    assert texts(ax)[3:] == ["€15k", "€26k", "€22.5k"]
    assert ax.get_xlabel() == "Amount (EUR)"


# --------------------------------------------------------------------------- errors


def test_missing_columns_name_the_table_and_the_columns():
    with pytest.raises(ValueError, match=r"ccnb\.rfm\.segment_summary.*revenue_share"):
        plots.segment_share_bars(segment_summary_table().drop(columns="revenue_share"))
    with pytest.raises(TypeError, match="DataFrame"):
        plots.layer_cake([1, 2, 3])


# --------------------------------------------------------------------------- rendering

FIGURES = {
    "data_quality_bar": lambda: plots.data_quality_bar(quality_counts()),
    "active_base_revenue": lambda: plots.active_base_revenue(flow_table(), currency="EUR"),
    "churn_and_customer_flow": lambda: plots.churn_and_customer_flow(flow_table()),
    "early_repeat_rate": lambda: plots.early_repeat_rate(
        pd.DataFrame(
            {"group": months("2024-01-01", 2), "eligible": [5, 5], "early_repeat_rate": [0.2, 0.3]}
        )
    ),
    "rfm_heatmap": lambda: plots.rfm_heatmap(
        rfm.score_grid(scores_table(), bins=3), value="revenue", currency="EUR"
    ),
    "segment_share_bars": lambda: plots.segment_share_bars(segment_summary_table()),
    "revenue_concentration": lambda: plots.revenue_concentration(concentration_table()),
    "nps_by_segment": lambda: plots.nps_by_segment(nps_table()),
    "retention_heatmap": lambda: plots.retention_heatmap(retention_tidy(5)),
    "cumulative_revenue_curves": lambda: plots.cumulative_revenue_curves(
        retention_tidy(12), currency="GBP"
    ),
    "layer_cake": lambda: plots.layer_cake(layer_cake_table(), currency="EUR"),
    "seasonal_cohorts": lambda: plots.seasonal_cohorts(seasonal_table(), currency="EUR"),
    "cohort_by_channel": lambda: plots.cohort_by_channel(channel_cohort_table()),
    "holdout_tracking": lambda: plots.holdout_tracking({"bgnbd": tracking_table()}),
    "conditional_expectations": lambda: plots.conditional_expectations(expectations_table()),
    "p_alive_hist": lambda: plots.p_alive_hist(clv.p_alive_histogram(predictions_table())),
    "clv_distribution": lambda: plots.clv_distribution(
        clv.rclv_histogram(predictions_table()), currency="EUR"
    ),
    "clv_by_group": lambda: plots.clv_by_group(clv_by_table(), currency="EUR"),
    "new_customer_value": lambda: plots.new_customer_value(new_customer_table(), currency="EUR"),
    "iso_value": lambda: plots.iso_value(iso_table(), currency="EUR"),
    "allocation_by_decile": lambda: plots.allocation_by_decile(allocation_table()),
    "sensitivity_heatmap": lambda: plots.sensitivity_heatmap(
        sensitivity_table(), currency="EUR", highlight=(0.1, 10)
    ),
    "strategy_comparison": lambda: plots.strategy_comparison(compare_table(), currency="EUR"),
    "retention_scenarios": lambda: plots.retention_scenarios(retention_table(), currency="EUR"),
    "lorenz_deciles": lambda: plots.lorenz_deciles(*lorenz_tables(), gini=0.46),
    "revenue_bridge": lambda: plots.revenue_bridge(bridge_table(), currency="EUR"),
    "cohort_evolution": lambda: plots.cohort_evolution(evolution_table(), currency="EUR"),
    "cohort_factors": lambda: plots.cohort_factors(factors_table()),
    "repeat_curves": lambda: plots.repeat_curves(curves_table()),
    "category_value": lambda: plots.category_value(categories_table(), currency="EUR"),
}


def test_every_public_plot_function_is_rendered_below():
    public = {
        name
        for name in plots.__all__
        if callable(getattr(plots, name)) and name not in {"set_theme", "theme", "money_formatter"}
    }
    assert public == set(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_renders_to_png_without_warnings(name, tmp_path):
    # pytest turns every warning into an error here (missing glyph, tight_layout, ...).
    result = FIGURES[name]()
    assert isinstance(result, Axes | Figure)
    figure = result if isinstance(result, Figure) else result.figure
    path = tmp_path / f"{name}.png"
    figure.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for ax in charts(figure):
        assert ax.get_title() or figure.get_suptitle()
        assert ax.get_ylabel()
    assert charts(figure)[-1].get_xlabel()
    assert math.isclose(figure.dpi, 100)


def test_rendering_is_deterministic(tmp_path):
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    FIGURES["retention_heatmap"]().figure.savefig(first)
    FIGURES["retention_heatmap"]().figure.savefig(second)
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_docstrings_have_their_shared_parts_filled_in(name):
    doc = getattr(plots, name).__doc__
    assert not re.search(r"\{(currency|title|ax|axes|returns_ax|returns_fig)\}", doc)
    assert "Parameters" in doc and "Returns" in doc


def test_one_quarterly_cohort_is_labelled_by_quarter_when_told():
    # A client acquired in one quarter only (CDNOW): the spacing of the cohorts cannot say
    # that the cells are quarters, the period the triangle was computed with does.
    single = retention_tidy(3)
    single = single[single["cohort"] == single["cohort"].min()]
    guessed = plots.retention_heatmap(single)
    assert guessed.get_xlabel() == "Months since first purchase"
    ax = plots.retention_heatmap(single, period="Q")
    assert ax.get_xlabel() == "Quarters since first purchase"
    assert ax.get_ylabel() == "Acquisition cohort (quarter)"
    assert tick_texts(ax.yaxis) == ["Q1 2024"]
    curves = plots.cumulative_revenue_curves(single, period="Q")
    assert curves.get_xlabel() == "Quarters since first purchase"
