"""Every figure of the ccnb notebooks, drawn in one theme from the tables the analysis computed.

A plot function takes a finished table (from ``ccnb.ClientAnalysis`` or a metric module),
reshapes it for display at most (pivot, sort, top-N), draws on ``ax`` (a new figure when None)
and returns the axes; it never computes a metric. One module per notebook topic, everything
public re-exported here (``ccnb.plots.retention_heatmap``):

=======================  ===========================================================
``kpi_overview``         data quality, active base and revenue, churn and leaky bucket, early repeat
``segmentation``         RFM heatmap, segment shares, revenue concentration, NPS by segment
``cohorts``              retention, cumulative revenue, layer cake, seasonal and channel cohorts
``clv_modelling``        tracking, conditional expectations, P(alive), rCLV, CLV by group, iso-value
``budget_allocation``    allocation by decile, sensitivity heatmap, strategy comparison
``customer_base_audit``  Lorenz curve and deciles, revenue bridge, cohort lenses, repeat, categories
``_theme``               palette, matplotlib settings, money ticks (private)
``_axes``                axes helpers shared by the notebooks' figures (private)
=======================  ===========================================================

Theme: notebooks call :func:`set_theme` once; every plot function also draws inside
:func:`theme`, so a figure looks the same with or without that call and no global setting changes.
"""

from ccnb.plots._theme import PALETTE, money_formatter, set_theme, theme
from ccnb.plots.budget_allocation import (
    allocation_by_decile,
    sensitivity_heatmap,
    strategy_comparison,
)
from ccnb.plots.clv_modelling import (
    clv_by_group,
    clv_distribution,
    conditional_expectations,
    holdout_tracking,
    iso_value,
    new_customer_value,
    p_alive_hist,
    retention_scenarios,
)
from ccnb.plots.cohorts import (
    cohort_by_channel,
    cumulative_revenue_curves,
    layer_cake,
    retention_heatmap,
    seasonal_cohorts,
)
from ccnb.plots.customer_base_audit import (
    category_value,
    cohort_evolution,
    cohort_factors,
    lorenz_deciles,
    repeat_curves,
    revenue_bridge,
)
from ccnb.plots.kpi_overview import (
    active_base_revenue,
    churn_and_customer_flow,
    data_quality_bar,
    early_repeat_rate,
)
from ccnb.plots.segmentation import (
    nps_by_segment,
    revenue_concentration,
    rfm_heatmap,
    segment_share_bars,
)

__all__ = [
    "PALETTE",
    "active_base_revenue",
    "allocation_by_decile",
    "category_value",
    "churn_and_customer_flow",
    "clv_by_group",
    "clv_distribution",
    "cohort_by_channel",
    "cohort_evolution",
    "cohort_factors",
    "conditional_expectations",
    "cumulative_revenue_curves",
    "data_quality_bar",
    "early_repeat_rate",
    "holdout_tracking",
    "iso_value",
    "layer_cake",
    "lorenz_deciles",
    "money_formatter",
    "new_customer_value",
    "nps_by_segment",
    "p_alive_hist",
    "repeat_curves",
    "retention_heatmap",
    "retention_scenarios",
    "revenue_bridge",
    "revenue_concentration",
    "rfm_heatmap",
    "seasonal_cohorts",
    "segment_share_bars",
    "sensitivity_heatmap",
    "set_theme",
    "strategy_comparison",
    "theme",
]
