"""Modules loaded on first use, so that reading cached tables never imports the engines.

A notebook of ``ccnb run`` reads the tables its client's run computed beforehand (see
``ccnb.analysis``); it needs neither Ibis/DuckDB (loading data) nor lifetimes (fitting) unless a
table is missing. Importing them costs a second or more per kernel, so the modules that need
them are bound with :func:`lazy_module` and executed when an attribute is first used.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """The module ``name``, executed on first attribute access (``importlib.util.LazyLoader``).

    Parameters
    ----------
    name : str
        Absolute module name, e.g. ``"ccnb.clv"``.

    Returns
    -------
    types.ModuleType
        The module itself when it is already imported, else a lazily loading module that is
        registered in ``sys.modules`` (so a later ``import`` gets the same object).
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
