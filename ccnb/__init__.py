"""ccnb: parameterised notebooks for customer-centric marketing analysis.

The public API is re-exported here: ``ccnb.load_params``, ``ccnb.load_client``,
``ccnb.customer_summary`` and the metric modules (``ccnb.rfm``, ``ccnb.nps``, ...).
"""

from ccnb import (
    budget,
    churn,
    clv,
    cohorts,
    datasets,
    exports,
    kpi,
    nps,
    plots,
    report,
    rfm,
    summary,
)
from ccnb.analysis import ClientAnalysis, Unavailable
from ccnb.data import ClientData, DataError, DataQuality, load_client
from ccnb.params import Params, ParamsError, load_params
from ccnb.summary import calibration_holdout, customer_summary

__version__ = "0.1.0"

__all__ = [
    "ClientAnalysis",
    "ClientData",
    "DataError",
    "DataQuality",
    "Params",
    "ParamsError",
    "Unavailable",
    "__version__",
    "budget",
    "churn",
    "clv",
    "cohorts",
    "exports",
    "kpi",
    "plots",
    "report",
    "calibration_holdout",
    "customer_summary",
    "datasets",
    "load_client",
    "load_params",
    "nps",
    "rfm",
    "summary",
]
