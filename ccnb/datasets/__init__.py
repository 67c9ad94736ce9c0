"""Built-in datasets: the synthetic demo retailer and the CDNOW data shipped with lifetimes.

These are the ``builtin:NAME`` sources of the data layer: the demo files keep their bad rows so the
data-quality report (docs/methodology.md, "Data quality") has something to count; CDNOW comes typed,
in the transaction contract's column names.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pathlib
from typing import TYPE_CHECKING

import pandas as pd

from ccnb._checks import did_you_mean

if TYPE_CHECKING:
    from ccnb.datasets._demo_generator import (
        DEMO_BAD_ROWS,
        DEMO_BAD_SURVEY_ROWS,
        DEMO_SEED,
        DEMO_TRUE_PARAMS,
        DemoData,
        generate_transactions,
        simulate,
    )

# The generator is imported on first use (module __getattr__ below), not here: importing it
# with the package would make `python -m ccnb.datasets._demo_generator` warn that the module
# was already in sys.modules before running.
_GENERATOR_NAMES = (
    "DEMO_BAD_ROWS",
    "DEMO_BAD_SURVEY_ROWS",
    "DEMO_SEED",
    "DEMO_TRUE_PARAMS",
    "DemoData",
    "generate_transactions",
    "simulate",
)

__all__ = [
    "BUILTIN_DATASETS",
    "DEMO_BAD_ROWS",
    "DEMO_BAD_SURVEY_ROWS",
    "DEMO_END",
    "DEMO_FILES",
    "DEMO_SEED",
    "DEMO_TRUE_PARAMS",
    "BuiltinDataset",
    "DemoData",
    "builtin_frame",
    "dataset_path",
    "generate_transactions",
    "load_cdnow",
    "load_demo",
    "simulate",
]

DEMO_END = "2025-12-31"
"""Observation end of the demo retailer (no clean row is dated after it)."""

DEMO_FILES = {
    "transactions": "demo_transactions.csv.gz",
    "customers": "demo_customers.csv.gz",
    "survey": "demo_survey.csv.gz",
}
"""Committed demo file name of each table, in this package's folder."""

_DATASETS_DIR = pathlib.Path(__file__).parent
_CDNOW_FILES = {"sample": "CDNOW_sample.txt", "master": "CDNOW_master.txt"}
_CDNOW_COLUMNS = {
    "sample": ["customer_id", "sample_id", "date", "quantity", "amount"],
    "master": ["customer_id", "date", "quantity", "amount"],
}


@dataclasses.dataclass(frozen=True)
class BuiltinDataset:
    """A dataset the data layer accepts as a ``builtin:NAME`` source.

    Attributes
    ----------
    name : str
        The name after ``builtin:``.
    description : str
        One line saying what the data are.
    tables : tuple of str
        Tables available from ``builtin_frame(name, table=...)``; always ``"transactions"``.
    observation_end : str
        Last day of the data (ISO date), the natural ``observation_end``.
    currency : str
        Currency of ``amount``.
    typed : bool
        False when ``builtin_frame`` returns raw strings (the demo, bad rows included) that the
        data layer must parse; True when columns are already typed (CDNOW).
    columns : tuple of str
        Columns of the transactions frame, named as in the data contract.
    """

    name: str
    description: str
    tables: tuple[str, ...]
    observation_end: str
    currency: str
    typed: bool
    columns: tuple[str, ...]


BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    "demo": BuiltinDataset(
        name="demo",
        description="Synthetic online retailer, 5,000 customers 2021-2025, with known truth",
        tables=("transactions", "customers", "survey"),
        observation_end=DEMO_END,
        currency="EUR",
        typed=False,
        columns=("order_id", "customer_id", "date", "amount", "channel", "category"),
    ),
    "cdnow_sample": BuiltinDataset(
        name="cdnow_sample",
        description="CDNOW 1/10 sample: 2,357 customers of Q1 1997, purchases to June 1998",
        tables=("transactions",),
        observation_end="1998-06-30",
        currency="USD",
        typed=True,
        columns=("customer_id", "date", "amount", "quantity"),
    ),
    "cdnow_master": BuiltinDataset(
        name="cdnow_master",
        description="CDNOW full cohort: 23,570 customers of Q1 1997, purchases to June 1998",
        tables=("transactions",),
        observation_end="1998-06-30",
        currency="USD",
        typed=True,
        columns=("customer_id", "date", "amount", "quantity"),
    ),
}


def _unknown(kind: str, value: str, options, *, where: str = "") -> ValueError:
    options = list(options)
    hint = did_you_mean(value, options)
    return ValueError(f"unknown {kind} {value!r}{where}; choose one of {options}{hint}")


def _lifetimes_datasets_dir() -> pathlib.Path:
    # find_spec locates the installed package without importing it (importing lifetimes
    # runs its fitters' module code and sets a deprecated pandas option).
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the CDNOW data ship with lifetimes: pip install lifetimes")
    return pathlib.Path(next(iter(spec.submodule_search_locations))) / "datasets"


def dataset_path(name: str = "demo", *, table: str = "transactions") -> pathlib.Path:
    """Return the file behind a built-in dataset (for provenance, e.g. its sha256).

    Parameters
    ----------
    name : str, default "demo"
        A key of ``BUILTIN_DATASETS`` or the file name of a committed demo file
        (``"demo_transactions.csv.gz"``, ``"demo_customers.csv.gz"``,
        ``"demo_survey.csv.gz"``).
    table : {"transactions", "customers", "survey"}, default "transactions"
        Which table of a built-in dataset; only the demo has customers and survey.

    Returns
    -------
    pathlib.Path
        The committed demo file, or CDNOW's text file inside the installed lifetimes.
    """
    if name in DEMO_FILES.values():
        return _DATASETS_DIR / name
    dataset = _builtin(name)
    if table not in dataset.tables:
        raise _unknown("table", table, dataset.tables, where=f" of builtin dataset {name!r}")
    if name == "demo":
        return _DATASETS_DIR / DEMO_FILES[table]
    return _lifetimes_datasets_dir() / _CDNOW_FILES[name.removeprefix("cdnow_")]


def _builtin(name: str) -> BuiltinDataset:
    if name not in BUILTIN_DATASETS:
        raise _unknown("builtin dataset", name, BUILTIN_DATASETS)
    return BUILTIN_DATASETS[name]


def load_demo(table: str = "transactions") -> pd.DataFrame:
    """Load a table of the synthetic demo retailer, exactly as shipped (all columns strings).

    The data come from ``ccnb.datasets._demo_generator`` (seed ``DEMO_SEED``): 5,000
    customers of an online retailer acquired from 2021-01-01 to 2025-12-31 through four
    acquisition channels, buying by a BG/NBD process with Gamma-Gamma spend, holiday
    seasonality, same-day second orders, returns and a customer survey. The true parameters
    are in ``DEMO_TRUE_PARAMS``; the generator's docstring documents the process. Values are
    read as text (``dtype=str``, no NA conversion) so the deliberately bad rows stay visible
    exactly as shipped: see ``DEMO_BAD_ROWS`` and ``DEMO_BAD_SURVEY_ROWS``.

    Parameters
    ----------
    table : {"transactions", "customers", "survey"}, default "transactions"
        Which table to load:

        - ``transactions``: ``order_id`` (``O...`` orders, ``R...`` returns), ``customer_id``
          (``C00001`` ...), ``date`` (YYYY-MM-DD), ``amount`` (EUR, 2 decimals, negative for
          returns), ``channel`` (web, app, store); 16,842 rows of which 561 are returns
          and 44 are deliberately bad.
        - ``customers``: ``customer_id``, ``acquisition_channel`` (Organic search, Paid
          search, Social ads, Referral), ``acquisition_cost`` (EUR), ``acquisition_date``.
        - ``survey``: ``customer_id``, ``date``, ``nps`` (0-10), ``csat`` (1-5); 1,500
          answers, 3 of them out of range.

    Returns
    -------
    pandas.DataFrame
        The table with every column of dtype ``str``.
    """
    if table not in DEMO_FILES:
        raise _unknown("demo table", table, DEMO_FILES)
    return pd.read_csv(
        _DATASETS_DIR / DEMO_FILES[table], dtype=str, keep_default_na=False, compression="gzip"
    )


def load_cdnow(kind: str = "sample") -> pd.DataFrame:
    """Load the CDNOW transactions shipped inside lifetimes, in the transaction contract.

    CDNOW is the online CD retailer data of Fader, Hardie and Lee (2005), "Counting your
    customers the easy way: an alternative to the Pareto/NBD model": the 23,570 customers who
    made their first purchase in the first quarter of 1997, with all their purchases until
    1998-06-30 (``master``), and the 1/10 sample of 2,357 of them (``sample``) used in the
    paper and in lifetimes' documentation. Read from ``lifetimes/datasets/CDNOW_*.txt``.

    Parameters
    ----------
    kind : {"sample", "master"}, default "sample"
        The 1/10 sample (6,919 rows) or the full cohort (69,659 rows).

    Returns
    -------
    pandas.DataFrame
        One row per purchase line, sorted as in the file:

        - ``customer_id`` (str): the master customer id as written in the file, zero-padded
          (``"00004"``), for both kinds, so a sample customer has the same id as in the master
          file (the sample's own sequence number is dropped);
        - ``date`` (datetime64[ns]);
        - ``amount`` (float64): dollar value;
        - ``quantity`` (int64): number of CDs.

        CDNOW has no order ids, so there is no ``order_id`` column.
    """
    if kind not in _CDNOW_FILES:
        raise _unknown("CDNOW kind", kind, _CDNOW_FILES)
    raw = pd.read_csv(
        _lifetimes_datasets_dir() / _CDNOW_FILES[kind],
        sep=r"\s+",
        header=None,
        skiprows=1 if kind == "master" else 0,
        names=_CDNOW_COLUMNS[kind],
        dtype={"customer_id": str, "sample_id": str, "date": str},
    )
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "date": pd.to_datetime(raw["date"], format="%Y%m%d").astype("datetime64[ns]"),
            "amount": raw["amount"].astype("float64"),
            "quantity": raw["quantity"].astype("int64"),
        }
    )


def builtin_frame(name: str, *, table: str = "transactions") -> pd.DataFrame:
    """Return the raw frame of a built-in dataset, as the data layer reads a source.

    Parameters
    ----------
    name : str
        A key of ``BUILTIN_DATASETS``: ``"demo"``, ``"cdnow_sample"`` or ``"cdnow_master"``.
    table : {"transactions", "customers", "survey"}, default "transactions"
        Which table; only the demo has customers and survey.

    Returns
    -------
    pandas.DataFrame
        ``load_demo(table)`` for the demo (strings, bad rows included), ``load_cdnow(kind)``
        for CDNOW (typed). ``BUILTIN_DATASETS[name].typed`` says which.
    """
    dataset = _builtin(name)
    if table not in dataset.tables:
        raise _unknown("table", table, dataset.tables, where=f" of builtin dataset {name!r}")
    if name == "demo":
        return load_demo(table)
    return load_cdnow(name.removeprefix("cdnow_"))


def __getattr__(name: str):
    if name in _GENERATOR_NAMES:
        generator = importlib.import_module("ccnb.datasets._demo_generator")
        return getattr(generator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_GENERATOR_NAMES))
