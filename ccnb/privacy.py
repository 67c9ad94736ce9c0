"""Pseudonymous customer ids: a keyed hash whose key never leaves the engagement folder.

With ``pseudonymize_ids: true`` every customer id, in every source and every output (reports,
exports, rejected rows), is replaced by HMAC-SHA256(key, id), its first 16 hexadecimal
characters. Without the key nobody can recompute a pseudonym from a candidate id (an e-mail
address, a customer number); with it, the same id gets the same pseudonym in every run of the
engagement, so exports of two runs can be compared. Definitions in docs/methodology.md,
"Data quality".
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

__all__ = ["KEY_FILE", "KEY_VARIABLE", "pseudonym_key", "pseudonymize", "pseudonymize_ids"]

#: the environment variable holding the key (any text); it wins over the key file
KEY_VARIABLE = "CCNB_PSEUDONYM_KEY"
#: the key file, next to the params file (created on first use, readable by its owner only)
KEY_FILE = ".ccnb-pseudonym.key"
#: hexadecimal characters kept of each HMAC (64 bits: no collision among a billion ids)
PSEUDONYM_LENGTH = 16


def pseudonym_key(params_file: str | Path | None) -> bytes:
    """The engagement's pseudonym key: ``CCNB_PSEUDONYM_KEY``, else the key file.

    Parameters
    ----------
    params_file : str or pathlib.Path, optional
        The params file; its folder holds ``.ccnb-pseudonym.key``, created with 32 random
        bytes on first use. Without a params file (params built in code) the environment
        variable is required.

    Returns
    -------
    bytes
        The key.

    Raises
    ------
    ValueError
        When neither the variable nor a params file is there to hold the key.
    """
    variable = os.environ.get(KEY_VARIABLE, "")
    if variable:
        return variable.encode("utf-8")
    if params_file is None:
        raise ValueError(
            f"pseudonymize_ids needs a key: set {KEY_VARIABLE}, or load the params from a file "
            f"(the key is then kept next to it in {KEY_FILE})"
        )
    path = Path(params_file).expanduser().resolve().parent / KEY_FILE
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="ascii").strip().encode("ascii")


def _one(value: str, key: bytes) -> str:
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_LENGTH]


def pseudonymize(ids: pd.Series, *, key: bytes) -> pd.Series:
    """Keyed pseudonyms of ids (missing values stay missing).

    Parameters
    ----------
    ids : pandas.Series
        Customer ids as text (trimmed, as the sources read them).
    key : bytes
        The engagement's key (:func:`pseudonym_key`).

    Returns
    -------
    pandas.Series
        ``HMAC-SHA256(key, id)``, first 16 hexadecimal characters.
    """
    return ids.map(lambda value: _one(str(value), key), na_action="ignore")


def pseudonymize_ids(
    table: ir.Table, *, key: bytes, connection: ibis.BaseBackend, column: str = "customer_id"
) -> ir.Table:
    """Replace an id column of an engine table by its pseudonyms (each distinct id hashed once).

    The distinct ids are hashed in Python (the engines have no keyed hash) and joined back:
    time and memory grow with customers, not rows. The ids come back through Arrow
    (`engine.to_arrow`), not a Python row per customer.
    """
    from ccnb import engine

    distinct = engine.distinct_values(table, column)
    lookup = pd.DataFrame(
        {"_ccnb_id": distinct, "_ccnb_pseudonym": pseudonymize(distinct, key=key)}
    )
    mapped = engine.register_frame(connection, lookup, name="ccnb_pseudonyms")
    joined = table.left_join(mapped, table[column] == mapped["_ccnb_id"])
    return joined.mutate(**{column: joined["_ccnb_pseudonym"]}).select(table.columns)
