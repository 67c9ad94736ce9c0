"""ccnb: parameterised notebooks for customer-centric marketing analysis.

The public API is re-exported here: ``ccnb.load_params``, ``ccnb.load_client``,
``ccnb.customer_summary`` and the metric modules (``ccnb.rfm``, ``ccnb.nps``, ...).
"""

from ccnb import datasets, nps, rfm, summary
from ccnb.data import ClientData, DataError, DataQuality, load_client
from ccnb.params import Params, ParamsError, load_params
from ccnb.summary import calibration_holdout, customer_summary

__version__ = "0.1.0"

__all__ = [
    "ClientData",
    "DataError",
    "DataQuality",
    "Params",
    "ParamsError",
    "__version__",
    "calibration_holdout",
    "customer_summary",
    "datasets",
    "load_client",
    "load_params",
    "nps",
    "rfm",
    "summary",
]
