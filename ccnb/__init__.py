"""ccnb: parameterised notebooks for customer-centric marketing analysis.

The public API is re-exported here: ``ccnb.load_params``, ``ccnb.load_client``,
``ccnb.customer_summary`` and the metric modules (``ccnb.rfm``, ``ccnb.nps``, ...). They are
imported on first use, so ``import ccnb`` is cheap and a notebook only pays for what it uses.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "analysis",
    "batch",
    "budget",
    "churn",
    "clv",
    "cohorts",
    "data",
    "datasets",
    "errors",
    "kpi",
    "nps",
    "params",
    "plots",
    "report",
    "rfm",
    "summary",
}
_NAMES = {
    "ClientAnalysis": "ccnb.analysis",
    "CcnbError": "ccnb.errors",
    "Unavailable": "ccnb.errors",
    "ClientData": "ccnb.data",
    "DataError": "ccnb.errors",
    "DataQuality": "ccnb.quality",
    "load_client": "ccnb.data",
    "Params": "ccnb.params",
    "ParamsError": "ccnb.errors",
    "load_params": "ccnb.params",
    "calibration_holdout": "ccnb.summary",
    "customer_summary": "ccnb.summary",
}

__all__ = ["__version__", *sorted(_SUBMODULES), *sorted(_NAMES)]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"ccnb.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'ccnb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
