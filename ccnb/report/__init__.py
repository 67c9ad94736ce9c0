"""Report sections: for each question a notebook answers, a chart, a table and their sentence.

Every sentence is generated from the client's numbers (markdown that quotes a number is never
typed in): a section takes a ``ccnb.ClientAnalysis``, reads the tables it computed, words them
and arranges them with a figure from ``ccnb.plots``; it computes nothing itself. A section that
cannot be computed for this client shows one sentence saying why, and the notebook carries on.
One module per notebook, everything public re-exported here (``report.segments(analysis)``):

=======================  ==========================================================
``common``               client header and data quality, at the top of every notebook
``kpi_overview``         00_kpi_overview
``segmentation``         01_segmentation
``cohorts``              02_cohorts
``clv_modelling``        03_clv_modelling
``budget_allocation``    04_budget_allocation
``customer_base_audit``  05_customer_base_audit
``_section``             the `Section` object and table styling (private)
=======================  ==========================================================
"""

from ccnb.analysis import Unavailable
from ccnb.report._section import Section
from ccnb.report.budget_allocation import (
    acquisition,
    allocation_deciles,
    budget_assumptions,
    budget_export,
    next_steps_budget,
    sensitivity,
    strategies,
    test_plan,
    tiered_plan,
)
from ccnb.report.clv_modelling import (
    cac_ceiling,
    clv_by_segment,
    clv_distribution,
    clv_export,
    conditional_expectations,
    holdout_deciles,
    iso_value,
    model_parameters,
    model_validation,
    naive_versus_model,
    next_steps_clv,
    p_alive,
    purchase_probability,
    retention_value,
    tracking,
)
from ccnb.report.cohorts import (
    channel_cohorts,
    cumulative_revenue,
    layer_cake,
    next_steps_cohorts,
    retention,
    seasonal,
)
from ccnb.report.common import client_header, data_quality, data_quality_summary
from ccnb.report.customer_base_audit import (
    base_health,
    cohort_comparison,
    cohort_evolution,
    customer_differences,
    product_lens,
    revenue_bridge,
    time_to_second_purchase,
)
from ccnb.report.kpi_overview import (
    active_base,
    churn_and_leaks,
    early_repeat,
    equity_headline,
    kpi_export,
    kpi_table,
    next_steps_overview,
    satisfaction,
)
from ccnb.report.segmentation import (
    concentration,
    next_steps_segments,
    nps_by_segment,
    rfm_grid,
    segment_export,
    segments,
)

__all__ = [
    "Section",
    "Unavailable",
    "acquisition",
    "active_base",
    "allocation_deciles",
    "base_health",
    "budget_assumptions",
    "budget_export",
    "cac_ceiling",
    "channel_cohorts",
    "churn_and_leaks",
    "client_header",
    "clv_by_segment",
    "clv_distribution",
    "clv_export",
    "cohort_comparison",
    "cohort_evolution",
    "concentration",
    "conditional_expectations",
    "cumulative_revenue",
    "customer_differences",
    "data_quality",
    "data_quality_summary",
    "early_repeat",
    "equity_headline",
    "holdout_deciles",
    "iso_value",
    "kpi_export",
    "kpi_table",
    "layer_cake",
    "model_parameters",
    "model_validation",
    "naive_versus_model",
    "next_steps_budget",
    "next_steps_clv",
    "next_steps_cohorts",
    "next_steps_overview",
    "next_steps_segments",
    "nps_by_segment",
    "p_alive",
    "product_lens",
    "purchase_probability",
    "retention",
    "retention_value",
    "revenue_bridge",
    "rfm_grid",
    "satisfaction",
    "seasonal",
    "segment_export",
    "segments",
    "sensitivity",
    "strategies",
    "test_plan",
    "tiered_plan",
    "time_to_second_purchase",
    "tracking",
]
