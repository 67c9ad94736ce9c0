"""Customer lifetime value: simple CLV, the BTYD and Gamma-Gamma models, validation, rCLV.

One module per concern; everything public is re-exported here, so ``ccnb.clv.predict`` and
``from ccnb.clv import fit_purchases`` work as they always did. Definitions and formulas are in
docs/methodology.md (Simple CLV, BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gamma, Predictive CLV,
Intervals, Model choice, CAC ceiling, Iso-value curves).

=====================  ==============================================================
``simple``             simple and naive CLV (margin x lifespan), before any model
``fitting``            purchase and spend models fitted on distinct customer patterns
``validation``         holdout validation, tracking, conditional expectations, model choice
``prediction``         P(alive), expected purchases and spend, rCLV with parameter draws
``draws``              the draws x customers matrices, in memory or in files read in parts
``predictive``         each customer's predictive distribution (own randomness included)
``coverage``           how often realised outcomes fall inside the predictive intervals
``holdout_total``      the holdout total against its interval; where in the calendar it missed
``retention``          customer equity if a year's retention were N points higher or lower
``cuts``               customer equity, CLV by group, iso-value curves
``histograms``         customers per bin of P(alive) and of rCLV (what the figures draw)
``partitioned``        predictions a partition of customers at a time (Spark's executors)
``partitioned_summary`` the whole base's spread and histograms from the executors' predictions
``new_customers``      a newly acquired customer's value per channel, CAC ceiling, verdict
``activation``         the per-customer table for CRM activation
``results``            the result objects (fitted model, validation, predictions, equity)
``_btyd``              estimation core: distinct rows, starts, optimiser, draws (private)
``_likelihoods``       log-likelihoods with analytic gradients and Hessians (private)
=====================  ==============================================================
"""

from ccnb.clv.activation import activation_table
from ccnb.clv.coverage import interval_coverage
from ccnb.clv.cuts import clv_by, customer_equity, iso_value, prediction_summary
from ccnb.clv.draws import IN_MEMORY_CUSTOMERS, DrawMatrix
from ccnb.clv.fitting import (
    INDEPENDENCE_THRESHOLD,
    MIN_CUSTOMERS,
    MIN_REPEAT_BUYERS,
    MIN_SPEND_CUSTOMERS,
    fit_purchases,
    fit_spend,
    refit,
)
from ccnb.clv.histograms import Histogram, p_alive_histogram, rclv_histogram
from ccnb.clv.holdout_total import holdout_total, likely_miss_cause, monthly_tracking_ratio
from ccnb.clv.new_customers import (
    NOT_BOUGHT_REASONS,
    VERDICTS,
    ChannelInputs,
    channel_inputs,
    channel_inputs_in_engine,
    channel_table,
    new_customer_value,
)
from ccnb.clv.prediction import (
    UNITS_PER_MONTH,
    expected_purchases,
    margin_columns,
    predict,
    reprice,
)
from ccnb.clv.predictive import (
    future_purchases,
    future_spend,
    predictive_distribution,
    probability_of_purchase,
)
from ccnb.clv.results import (
    CustomerEquity,
    FitError,
    FittedModel,
    InsufficientDataError,
    Predictions,
    PredictiveDistribution,
    ValidationResult,
)
from ccnb.clv.retention import (
    DEFAULT_RETENTION_CHANGES,
    SurvivalPaths,
    retention_scenarios,
    retention_scenarios_of_patterns,
    survival_if_alive,
    survival_paths,
)
from ccnb.clv.simple import (
    naive_annual_revenue_in_engine,
    naive_clv,
    naive_versus_model,
    simple_clv,
)
from ccnb.clv.validation import (
    conditional_expectations,
    holdout_by_decile,
    purchase_reliability,
    tracking,
    validate,
)

__all__ = [
    "INDEPENDENCE_THRESHOLD",
    "MIN_CUSTOMERS",
    "MIN_REPEAT_BUYERS",
    "MIN_SPEND_CUSTOMERS",
    "UNITS_PER_MONTH",
    "DEFAULT_RETENTION_CHANGES",
    "IN_MEMORY_CUSTOMERS",
    "ChannelInputs",
    "CustomerEquity",
    "DrawMatrix",
    "FitError",
    "FittedModel",
    "Histogram",
    "InsufficientDataError",
    "PredictiveDistribution",
    "Predictions",
    "SurvivalPaths",
    "ValidationResult",
    "NOT_BOUGHT_REASONS",
    "VERDICTS",
    "activation_table",
    "channel_inputs",
    "channel_inputs_in_engine",
    "channel_table",
    "clv_by",
    "conditional_expectations",
    "holdout_by_decile",
    "holdout_total",
    "likely_miss_cause",
    "monthly_tracking_ratio",
    "probability_of_purchase",
    "purchase_reliability",
    "customer_equity",
    "expected_purchases",
    "fit_purchases",
    "future_purchases",
    "future_spend",
    "interval_coverage",
    "fit_spend",
    "iso_value",
    "p_alive_histogram",
    "rclv_histogram",
    "margin_columns",
    "naive_annual_revenue_in_engine",
    "naive_clv",
    "naive_versus_model",
    "new_customer_value",
    "predict",
    "predictive_distribution",
    "prediction_summary",
    "refit",
    "reprice",
    "retention_scenarios",
    "retention_scenarios_of_patterns",
    "simple_clv",
    "survival_if_alive",
    "survival_paths",
    "tracking",
    "validate",
]
