"""The customer-base audit (Fader, Hardie & Ross, *The Customer-Base Audit*, 2022).

The questions a client asks first, one module per lens; everything public re-exported here
(``ccnb.audit.revenue_bridge``). Definitions in docs/methodology.md, "Customer-base audit".

=====================  ==================================================================
``differences``        lens 1: deciles of buyers, Lorenz curve, Gini, one-time buyers
``bridge``             lens 2: new, retained, reactivated, lost; the revenue bridge
``cohort_lenses``      lenses 3 and 4: a cohort by age; cohorts compared factor by factor
``health``             lens 5: a period's revenue by acquisition year, dependence on new
``second_purchase``    time to second purchase (Kaplan-Meier), the follow-up day
``products``           the product lens: first categories, where repeat buyers go next
``_activity``          revenue and orders per customer and period, in the engine (private)
=====================  ==================================================================
"""

from ccnb.audit.bridge import BRIDGE_STEPS, FLOW_STATUSES, RevenueBridge, revenue_bridge
from ccnb.audit.cohort_lenses import FACTORS, cohort_comparison, cohort_evolution
from ccnb.audit.differences import LORENZ_POINTS, CustomerDifferences, customer_differences
from ccnb.audit.health import BaseHealth, base_health
from ccnb.audit.products import ProductLens, product_lens
from ccnb.audit.second_purchase import (
    repeat_curve,
    repeat_timing,
    second_purchase_counts,
    second_purchases,
)

__all__ = [
    "BRIDGE_STEPS",
    "FACTORS",
    "FLOW_STATUSES",
    "LORENZ_POINTS",
    "BaseHealth",
    "CustomerDifferences",
    "ProductLens",
    "RevenueBridge",
    "base_health",
    "cohort_comparison",
    "cohort_evolution",
    "customer_differences",
    "product_lens",
    "repeat_curve",
    "repeat_timing",
    "revenue_bridge",
    "second_purchase_counts",
    "second_purchases",
]
