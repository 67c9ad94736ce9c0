"""Modules loaded on first use, so that reading cached tables never imports the engines.

A notebook of ``ccnb run`` reads the tables its client's run computed beforehand (see
``ccnb.analysis``); it needs neither Ibis/DuckDB (loading data) nor lifetimes and scipy
(fitting) unless a table is missing. Importing them costs a second or more per kernel, so the
modules that need them are bound with :func:`lazy_module` and imported when an attribute is
first used.

The stand-in is deliberately not registered in ``sys.modules``: unpickling a stored table
imports its class's module (e.g. ``ccnb.clv.results``) the ordinary way. A lazily loading
package in ``sys.modules`` (``importlib.util.LazyLoader``) would be executed by that import
halfway through, and Python 3.11 would then execute the submodule a second time, giving two
different classes of the same name.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

__all__ = ["lazy_module"]


class _LazyModule:
    """Stands for a module; imports it on the first attribute access and delegates to it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str):
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        state = "imported" if self._name in sys.modules else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name: str) -> ModuleType | _LazyModule:
    """The module ``name``, imported on first attribute access.

    Parameters
    ----------
    name : str
        Absolute module name, e.g. ``"ccnb.clv"``.

    Returns
    -------
    types.ModuleType or stand-in
        The module itself when it is already imported, else a stand-in whose attributes are
        those of the module, imported at the first access.
    """
    if name in sys.modules:
        return sys.modules[name]
    if importlib.util.find_spec(name) is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    return _LazyModule(name)
