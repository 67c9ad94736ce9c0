"""jsonschema imported without the IRI grammar it would build and a batch run never uses.

nbformat validates notebooks with jsonschema, which imports ``rfc3987_syntax`` when it is
installed (jupyter-events, a JupyterLab dependency, asks for it). That module builds a Lark
grammar at import: 0.8 s in each process of a run that reads or writes a notebook (the
client's worker and the rendering process), on the way to its first notebook. Only
jsonschema's ``iri`` and ``iri-reference`` format checks use it, and the notebook schema has
no format keyword.
"""

from __future__ import annotations

import sys

__all__ = ["import_without_iri_grammar"]

_GRAMMAR = "rfc3987_syntax"


def import_without_iri_grammar() -> None:
    """Import jsonschema now, skipping its optional IRI grammar; later imports are unaffected.

    A ``None`` entry in ``sys.modules`` makes jsonschema's guarded ``import rfc3987_syntax``
    fail at once, so it leaves out the two IRI format checks; the entry is removed afterwards,
    so anything else may import the module normally. Does nothing when jsonschema or the
    grammar is already imported.
    """
    if "jsonschema" in sys.modules or _GRAMMAR in sys.modules:
        return
    sys.modules[_GRAMMAR] = None
    try:
        import jsonschema  # noqa: F401
    finally:
        del sys.modules[_GRAMMAR]
