"""One client's analysis: every table the notebooks show, computed once, on first use.

The notebooks share tables (segments feed the CLV cuts and the budget tiers; the CLV feeds the
budget), so the pipeline that builds them lives here rather than in copied cells. Each
property calls one public ccnb function with the client's parameters; a table that cannot be
built for this client (no survey, no channel data, too few repeat buyers) raises `Unavailable`
with a sentence saying why, which the report shows instead of the section.

With a cache folder (``cache_dir``, else the ``CCNB_CACHE_DIR`` environment variable that
``ccnb run`` sets for its kernels) every table is also kept on disk, keyed by the parameters,
the input files and the ccnb version, so the notebooks of one batch run compute each table
once: ``ccnb run`` calls :meth:`ClientAnalysis.precompute` in a thread while the first kernel
starts, and a kernel waits for a table still being computed.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import hashlib
import json
import os
import pickle
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ccnb import budget, rfm
from ccnb._lazy import lazy_module
from ccnb._process_folders import process_folder, process_prefix
from ccnb.customer_sample import CustomerSample, plan_sample
from ccnb.errors import ModelUnavailable, Unavailable
from ccnb.formatting import day_label
from ccnb.order_statistics import quantile_of_counts
from ccnb.params import Params, with_overrides
from ccnb.windows import AnalysisWindows, choose_windows

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from ccnb.data import ClientData
    from ccnb.partitioned_segments import PartitionedSegments
    from ccnb.quality import DataQuality
    from ccnb.table_files import TableFiles

# Ibis/DuckDB and lifetimes load only when a table is computed, not when it is read from the
# cache (see ccnb._lazy).
churn = lazy_module("ccnb.churn")
clv = lazy_module("ccnb.clv")
cohorts = lazy_module("ccnb.cohorts")
kpi = lazy_module("ccnb.kpi")
nps = lazy_module("ccnb.nps")
summary = lazy_module("ccnb.summary")
_periods = lazy_module("ccnb._periods")
_data = lazy_module("ccnb.data")
_engine = lazy_module("ccnb.engine")
_value_ranking = lazy_module("ccnb.value_ranking")
_orders = lazy_module("ccnb.orders")
_table_files = lazy_module("ccnb.table_files")
audit = lazy_module("ccnb.audit")

__all__ = ["CACHE_DIR_VARIABLE", "ClientAnalysis", "Unavailable", "default_calibration_end"]

#: name of the test plan's pooled tier: every customer the plan spends on
TREATED_POOL = "all treated"

#: environment variable naming the folder where `ClientAnalysis` keeps its tables
CACHE_DIR_VARIABLE = "CCNB_CACHE_DIR"


#: what every section that needs a customer-value model shows when none could be fitted
MODEL_UNAVAILABLE = (
    "Not shown: no customer-value model could be fitted to this history; Model validation in "
    "the CLV modelling report says why and ranks customers by their history instead."
)

#: how every model failure's reason starts; the rest says why
MODEL_REASON_PREFIX = "Customer value cannot be predicted: "

#: the fitting minimums in a reader's words
#: the purchase models are validated on a holdout: a shorter history has nothing to hold out
MIN_HISTORY_DAYS = 60

_PLAIN_REQUIREMENTS = {
    "repeat buyers (frequency > 0)": "customers who bought more than once",
    "repeat buyers with positive spend": "customers who bought more than once for a positive "
    "amount",
}


#: what a history that cannot be fitted does not show clearly enough, by model
_UNCLEAR = {
    "purchases": "how often customers buy and when they stop",
    "spend": "how much the spend per purchase differs from one customer to the next",
}


@dataclass(frozen=True)
class _ExecutorPredictions:
    """Predictions Spark's executors made: their totals and their table.

    ``totals`` (a `clv.partitioned.PartitionedPredictions`) carry the settings the executors
    ran, with the draws used; ``predicted`` is the Spark table of the customers' predictions
    they wrote (no customer is on the driver until a per-customer table is asked for).
    """

    totals: Any
    predicted: Any


@dataclass(frozen=True)
class _ExecutorBudget:
    """The budget's customers kept in Spark, written once: the driver holds none of them.

    ``customers`` is the Spark table of the customers the budget is spread over (active, with
    positive net revenue): ``customer_id``, ``revenue``, ``segment``, ``rclv`` and ``decile``
    (`partitioned_budget.ranked_by_rclv`); ``active`` and ``allocated`` count the active
    customers and those.
    """

    customers: Any
    active: int
    allocated: int


def _model_unavailable(
    error: Exception,
    *,
    subject: str,
    failed: str,
    period: str | None = None,
    unclear: str = _UNCLEAR["purchases"],
) -> ModelUnavailable:
    """One plain sentence for a fit that failed; the technical reason goes to ``detail``.

    ``subject`` is what needs the data (``"the spend model needs"``), ``failed`` what could not
    be fitted (``"the spend model"``), ``period`` the part of the data the fit used when it is
    not the whole (``"the calibration period (to 31 Aug 2024)"``), so the count it reports is
    not read as the client's customer count; ``unclear`` what a history that could not be
    fitted does not show clearly enough (`_UNCLEAR`).
    """
    if isinstance(error, clv.InsufficientDataError):
        needed = _PLAIN_REQUIREMENTS.get(error.requirement, error.requirement)
        scope, population = (f" in {period}", "it") if period else ("", "the data")
        why = (
            f"{subject} at least {error.minimum:,} {needed}{scope} and {population} has "
            f"{error.observed:,}"
        )
    else:
        why = (
            f"{failed} could not be fitted reliably to this history, which does not show "
            f"clearly enough {unclear}"
        )
    return ModelUnavailable(
        MODEL_UNAVAILABLE,
        reason=f"{MODEL_REASON_PREFIX}{why}.",
        detail=f"{type(error).__name__}: {error}",
    )


def default_calibration_end(first_date: dt.date, observation_end: dt.date) -> dt.date:
    """Hold out the last third of the observed history (used when params give no date)."""
    span = (observation_end - first_date).days
    return first_date + dt.timedelta(days=span - span // 3)


#: calendar periods in a year, for "a year after acquisition" in a retention triangle
_PERIODS_PER_YEAR = {"M": 12, "Q": 4, "Y": 1}


def _input_fingerprints(params: Params) -> list:
    """Path, size and modification time of each input file (builtin and engine tables: name)."""
    fingerprints = []
    for role in ("transactions", "customers", "survey"):
        source = getattr(params, role)
        if source is None or source.path is None or source.path.startswith("builtin:"):
            fingerprints.append([role, None if source is None else source.path or source.table])
            continue
        path = Path(source.path)
        stat = path.stat() if path.is_file() else None
        fingerprints.append([role, source.path, stat and stat.st_size, stat and stat.st_mtime_ns])
    return fingerprints


def cache_key(params: Params) -> str:
    """Hex key of an analysis: parameters (not the params file's location), inputs, version."""
    from ccnb import __version__

    described = {
        "params": params.model_dump(mode="json", exclude={"source_file"}),
        "inputs": _input_fingerprints(params),
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:24]


class _TableStore:
    """Pickled tables of one analysis in ``<folder>/<key>/`` (no folder: nothing is kept).

    The folder must be trusted (pickles are code): ``ccnb run`` uses a fresh temporary folder
    per client run. While :meth:`computing_every_table` holds its marker file (naming its
    process), another process that misses a table waits for it instead of computing it a
    second time; a marker whose process no longer runs (a killed run) is ignored.
    """

    #: seconds between two looks for a table another process is computing
    POLL_SECONDS = 0.02

    def __init__(self, folder: str | Path | None, key: str) -> None:
        self.folder = None if folder is None else Path(folder) / key
        self._computing_here = False
        self._unavailable: dict[str, Unavailable] = {}

    @property
    def _marker(self) -> Path:
        return self.folder / ".computing"

    @contextlib.contextmanager
    def computing_every_table(self):
        """Mark the folder as being filled by this process, for the duration of the block."""
        if self.folder is None:
            yield
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._marker.write_text(str(os.getpid()))
        self._computing_here = True
        try:
            yield
        finally:
            self._computing_here = False
            self._marker.unlink(missing_ok=True)

    def get(self, name: str, compute):
        """The stored table ``name``, else ``compute()`` stored (an `Unavailable` too).

        A table this client cannot have is kept as its `Unavailable` (in memory as well, so
        a failing model fit is tried once per analysis, not once per section) and raised again.
        """
        if name in self._unavailable:  # a fresh traceback: a kept one would grow each time
            raise self._unavailable[name].with_traceback(None)
        if self.folder is None:
            return self._remember_unavailable(name, compute)
        path = self.folder / f"{name}.pickle"
        while not self._computing_here and not path.exists() and self._another_is_computing():
            time.sleep(self.POLL_SECONDS)
        if path.exists():
            with path.open("rb") as handle:
                value = pickle.load(handle)
            if isinstance(value, Unavailable):
                self._unavailable[name] = value
                raise value
            return value
        try:
            value = self._remember_unavailable(name, compute)
        except Unavailable as error:
            self._write(path, error)
            raise
        self._write(path, value)
        return value

    def _remember_unavailable(self, name: str, compute):
        try:
            return compute()
        except Unavailable as error:
            self._unavailable[name] = error
            raise

    def stored_unavailable(self, name: str) -> Unavailable | None:
        """Why ``name`` is unavailable, if it was computed (here or by another process) and is."""
        if name not in self._unavailable and self.folder is not None:
            path = self.folder / f"{name}.pickle"
            if path.exists():
                with path.open("rb") as handle:
                    value = pickle.load(handle)
                if isinstance(value, Unavailable):
                    self._unavailable[name] = value
        return self._unavailable.get(name)

    def work_folder(self, purpose: str) -> Path:
        """A folder for ``purpose``'s files: ``<folder>/<purpose>``, else a temporary one.

        For big predictions' draws and what Spark's executors write. A temporary folder lives
        as long as this process (removed at exit), like the tables held in memory. The folder
        exists on return.
        """
        if self.folder is None:
            return process_folder(purpose)
        folder = self.folder / purpose
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _another_is_computing(self) -> bool:
        """A live process holds the marker (a marker left by a killed process is ignored)."""
        try:
            pid = int(self._marker.read_text())
        except (FileNotFoundError, ValueError):
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, another user's
            pass
        return True

    def _write(self, path: Path, value) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # written aside and renamed: a notebook never reads a half-written table
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
        with os.fdopen(handle, "wb") as stream:
            pickle.dump(value, stream, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)


class _ParamsRead:
    """The params as a table's computation sees them: each top-level field read is noted."""

    __slots__ = ("_note", "_params")

    def __init__(self, params: Params, note) -> None:
        object.__setattr__(self, "_params", params)
        object.__setattr__(self, "_note", note)

    def __getattr__(self, name: str):
        self._note(name)
        return getattr(self._params, name)


class _tracked_value(cached_property):
    """A value computed once per analysis, noting what it reads (params, other values).

    A data descriptor (it defines ``__set__``), so every access passes through ``__get__``:
    the analysis learns which values use which, for :meth:`ClientAnalysis.update`.
    """

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        instance._note_use(self.attrname)
        values = instance._values
        if self.attrname not in values:
            values[self.attrname] = self._compute(instance)
        return values[self.attrname]

    def _compute(self, instance):
        return instance._computing(self.attrname, lambda: self.func(instance))()

    def __set__(self, instance, value) -> None:
        raise AttributeError(f"{self.attrname} is computed from the params; use update()")


class _stored_table(_tracked_value):
    """A tracked value that is also kept in the analysis' table store (a table)."""

    def _compute(self, instance):
        return instance._store.get(
            self.attrname, instance._computing(self.attrname, lambda: self.func(instance))
        )


#: this process' analyses by params file, for :meth:`ClientAnalysis.for_params`
_IN_THIS_PROCESS: dict[str, ClientAnalysis] = {}


class ClientAnalysis:
    """Lazily computed tables of one client, in the order the notebooks need them.

    Parameters
    ----------
    params
        The client's validated parameters (see `ccnb.load_params`).
    cache_dir
        Folder where each table is kept once computed (see the module docstring); default
        the ``CCNB_CACHE_DIR`` environment variable, else tables live in memory only.
    """

    def __init__(self, params: Params, *, cache_dir: str | Path | None = None) -> None:
        self._params = params
        folder = cache_dir if cache_dir is not None else os.environ.get(CACHE_DIR_VARIABLE) or None
        self._store = _TableStore(folder, cache_key(params) if folder is not None else "")
        self._values: dict[str, object] = {}
        self._stack: list[str] = []  # the values being computed, innermost last
        self._params_read: dict[str, set[str]] = {}  # value -> top-level params it read
        self._used_by: dict[str, set[str]] = {}  # value -> values computed from it
        self._shared_folder: str | None = None  # this analysis' folder in engine.work_dir

    @classmethod
    def for_params(cls, params: Params, *, cache_dir: str | Path | None = None) -> ClientAnalysis:
        """The analysis of ``params``, reusing this process' last one of the same params file.

        In a notebook re-run in the same kernel with other overrides, the previous analysis
        is updated (:meth:`use_params`): only the tables that depend on what changed are
        computed again. With a cache folder (a batch run) or params not loaded from a file, a
        new analysis is returned.

        Parameters
        ----------
        params : Params
            The client's validated parameters.
        cache_dir : str or pathlib.Path, optional
            As for the constructor.

        Returns
        -------
        ClientAnalysis
            The reused and updated analysis, or a new one.
        """
        folder = cache_dir if cache_dir is not None else os.environ.get(CACHE_DIR_VARIABLE)
        if folder or params.source_file is None:
            return cls(params, cache_dir=cache_dir)
        key = str(params.source_file)
        previous = _IN_THIS_PROCESS.get(key)
        if previous is None:
            _IN_THIS_PROCESS[key] = previous = cls(params)
        else:
            previous.use_params(params)
        return previous

    @property
    def params(self) -> Params:
        """The client's parameters (change them with :meth:`update`)."""
        if self._stack:
            return _ParamsRead(
                self._params, self._params_read.setdefault(self._stack[-1], set()).add
            )
        return self._params

    def _note_use(self, name: str) -> None:
        if self._stack and self._stack[-1] != name:
            self._used_by.setdefault(name, set()).add(self._stack[-1])

    def _computing(self, name: str, compute):
        def run():
            self._stack.append(name)
            try:
                return compute()
            finally:
                self._stack.pop()

        return run

    def update(self, **overrides) -> list[str]:
        """Change parameters in place and forget only the tables that depend on them.

        The tables (and the values behind them) that read a changed top-level parameter, and
        every table computed from one of those, are computed again when next used; all others
        are kept. A budget change keeps the model fits and the predictions; a margin or
        discount-rate change keeps the fits and re-prices the predictions; a time-unit change
        refits. Dependencies are those noted while this analysis computed its tables; tables
        read from a cache folder (a batch run's kernels) have none, so an update forgets all
        of them; after an update this analysis keeps its tables in memory only.

        Parameters
        ----------
        **overrides
            Keys to change, nested as in the params file (``budget={"total": 9000}``).

        Returns
        -------
        list of str
            The tables and values forgotten, sorted.

        Raises
        ------
        ParamsError
            When the changed parameters are not valid (nothing is changed then).
        """
        return self.use_params(with_overrides(self._params, **overrides))

    def use_params(self, params: Params) -> list[str]:
        """Switch to other validated params; forget only what depends on the changes.

        See :meth:`update`, which validates overrides into such params.

        Parameters
        ----------
        params : Params
            The new parameters (e.g. the same file loaded with other overrides).

        Returns
        -------
        list of str
            The tables and values forgotten, sorted.
        """
        updated = params
        changed = {
            name
            for name in Params.model_fields
            if getattr(updated, name) != getattr(self._params, name)
        }
        stale = {name for name, read in self._params_read.items() if read & changed}
        if changed and self._store.folder is not None:
            # tables read from a cache folder were not computed here: their dependencies
            # are unknown, so every one is forgotten
            stale |= set(self._values) | set(self._store._unavailable)
        frontier = set(stale)
        while frontier:
            frontier = {user for name in frontier for user in self._used_by.get(name, ())}
            frontier -= stale
            stale |= frontier
        self._params = updated
        for name in stale:
            self._values.pop(name, None)
            self._params_read.pop(name, None)
        kept = {
            name: error for name, error in self._store._unavailable.items() if name not in stale
        }
        self._store = _TableStore(None, "")
        self._store._unavailable.update(kept)
        return sorted(stale)

    def what_if(self, **overrides) -> ClientAnalysis:
        """A new analysis under other parameters, sharing what they leave unchanged.

        The new analysis shares every table that does not depend on the overrides (see
        :meth:`update`), so a what-if on the budget reuses the fits and predictions.

        Parameters
        ----------
        **overrides
            Keys to change, nested as in the params file (``budget={"total": 9000}``).

        Returns
        -------
        ClientAnalysis
            The analysis under the changed parameters.

        Raises
        ------
        ParamsError
            When the changed parameters are not valid.
        """
        params = with_overrides(self._params, **overrides)
        copy = object.__new__(type(self))
        copy._params = self._params
        copy._store = self._store
        copy._values = dict(self._values)
        copy._stack = []
        copy._params_read = {name: set(read) for name, read in self._params_read.items()}
        copy._used_by = {name: set(users) for name, users in self._used_by.items()}
        copy._shared_folder = None  # its own: either may remove its files first
        copy.use_params(params)
        return copy

    #: computed first by :meth:`precompute`: what the first notebook (KPI overview) shows,
    #: so that its kernel, started alongside, waits as little as possible
    FIRST_TABLES = (
        "quality",
        "large_orders",  # the data-quality section's notes
        "windows",
        "customer_activity",
        "kpis",
        "kpi_changes",
        "window_flows",
        "customer_flow",
        "recent_quarters",
        "early_repeat_by_cohort",
        "early_repeat_pooled",
        "nps_score",
        "csat_score",
        "predictions",
        "customer_equity",
        "prediction_summary",
        "naive_versus_model",
    )

    @classmethod
    def table_names(cls) -> list[str]:
        """Names of the tables, in the order :meth:`precompute` computes them."""
        tables = [name for name, value in vars(cls).items() if isinstance(value, _stored_table)]
        return [*cls.FIRST_TABLES, *(name for name in tables if name not in cls.FIRST_TABLES)]

    def precompute(self, *, stop: threading.Event | None = None) -> dict[str, str]:
        """Compute every table now (and keep it in the cache folder when there is one).

        Except what no report reads for this client (`_read_by_no_report`: the value ranking
        while the models fit; the new customers' second purchases, which the reports read
        counted; on Spark's executors the customer summary, the segments, the
        survival paths, the whole predictions, the activation table and the budget's tables of
        customers). They are computed when asked for.

        Other processes reading the same cache folder meanwhile wait for a table they miss
        rather than compute it too; if this call fails, they compute what is left themselves.

        Parameters
        ----------
        stop : threading.Event, optional
            Checked before each table: once set, the tables not yet computed are left (a batch
            run sets it when its notebooks are done, so tables no notebook read are skipped).

        Returns
        -------
        dict of str to str
            The tables this client cannot have, each with the sentence saying why (among
            those computed).
        """
        unavailable = {}
        with self._store.computing_every_table():
            for name in self.table_names():
                if stop is not None and stop.is_set():
                    break
                if self._read_by_no_report(name):
                    continue
                try:
                    getattr(self, name)
                except Unavailable as error:
                    unavailable[name] = str(error)
                self._forget_stored_tables()
        return unavailable

    #: what the reports show in place of the customer-value models when a fit fails
    MODEL_FALLBACK_TABLES = ("value_ranking", "value_ranking_summary")
    #: a row per customer for a workshop to look at, which no report reads
    WORKSHOP_TABLES = ("second_purchases",)
    #: the budget's tables of customers: on Spark's executors the reports read what the
    #: partitions summed and wrote instead (`_budget_on_executors`)
    BUDGET_CUSTOMER_TABLES = (
        "budget_customers",
        "optimal_allocation",
        "allocations",
        "tier_rule_candidates",
        "test_customers",
        "test_assignment",
    )

    def _read_by_no_report(self, name: str) -> bool:
        """Whether :meth:`precompute` leaves ``name`` to whoever asks for it.

        The value ranking when every model fit (`model_failures`: the fits come earlier in
        :meth:`table_names`); the per-customer tables only a workshop reads
        (`WORKSHOP_TABLES`); on Spark's executors the customer summary, the segments, the
        survival paths, the predictions, the activation table and the budget's tables of
        customers (`BUDGET_CUSTOMER_TABLES`) read back whole, which no other table reads there
        (each customer's values are the executors', each table reads the columns it needs
        from them or sums them in Spark, and the exports stream what Spark wrote).
        """
        if name in self.MODEL_FALLBACK_TABLES:
            return not self.model_failures()
        if name in self.WORKSHOP_TABLES:
            return True
        read_back_whole = (
            "summary",
            "segments",
            "_survival_paths",
            "predictions",
            "activation",
            *self.BUDGET_CUSTOMER_TABLES,
        )
        return name in read_back_whole and self._on_executors

    def _forget_stored_tables(self) -> None:
        """With a cache folder, drop the tables already kept there from memory.

        A later table that needs one reads it back (a fraction of a second for a million
        customers), so the memory held is the working set of one table, not every
        per-customer table of the client at once.
        """
        if self._store.folder is None:
            return
        stored = {
            name for name, value in vars(type(self)).items() if isinstance(value, _stored_table)
        }
        for name in stored & set(self._values):
            del self._values[name]

    # --- data -------------------------------------------------------------------------------

    @_tracked_value
    def data(self) -> ClientData:
        """Validated transactions, customers and survey (an engine connection: never stored)."""
        return _data.load_client(self.params)

    @_stored_table
    def quality(self) -> DataQuality:
        """The data-quality report."""
        return self.data.quality

    @_stored_table
    def large_orders(self) -> pd.Series:
        """Orders above ten times the median order: count and share of the orders' value."""
        return _orders.large_orders(self.data.transactions)

    @_stored_table
    def observation_end(self) -> dt.date:
        """Date everything is measured at."""
        return self.data.observation_end

    @_tracked_value
    def calibration_end(self) -> dt.date:
        """End of the calibration period (params, else the last third is held out)."""
        first = self.quality.transactions.first_date
        return self.params.calibration_end or default_calibration_end(first, self.observation_end)

    @property
    def currency(self) -> str:
        """The client's currency code."""
        return self.params.currency

    def _require_customers(self) -> pd.DataFrame:
        if self.data.customers is None:
            raise Unavailable(
                "This client has no customers table with acquisition channels, so this view "
                "cannot be shown."
            )
        return self.data.customers

    def _require_survey(self) -> pd.DataFrame:
        if self.data.survey is None or self.data.survey.empty:
            raise Unavailable("This client has no NPS/CSAT survey, so this view cannot be shown.")
        return self.data.survey

    # --- customers and segments -----------------------------------------------------------

    @_stored_table
    def summary(self) -> pd.DataFrame:
        """One row per customer: RFM and BTYD inputs (see `ccnb.summary.customer_summary`)."""
        return summary.collect_summary(self._summary_in_engine, customers=self.data.customers)

    @_tracked_value
    def _summary_in_engine(self) -> ir.Table:
        """The customer summary's engine expression; on Spark kept there, computed once.

        On Spark the driver's summary, the segments' RFM inputs and the predictions' model
        inputs all read it: without the cache each would aggregate the transactions again
        (the segments' order statistics alone make several passes).
        """
        settings = self.params
        table = summary.summary_table(
            self.data.transactions,
            observation_end=self.observation_end,
            time_unit=settings.time_unit,
            bucket=settings.bucket,
        )
        if self._on_spark:
            return _engine.keep(table)
        return table

    @property
    def segment_scheme(self) -> rfm.SegmentScheme:
        """The segment rules of the params (built-in scheme or the client's own rules)."""
        settings = self.params.rfm
        scheme = settings.rules if settings.scheme == "custom" else settings.scheme
        return rfm.resolve_scheme(
            scheme,
            bins=settings.bins,
            lapsed_after_days=self.params.churn_window_days,
            business=self.params.business,
        )

    @property
    def _on_spark(self) -> bool:
        """Whether this client's data is in Spark (``engine.backend: spark``)."""
        return self.params.engine.backend == "spark"

    @property
    def _on_executors(self) -> bool:
        """Whether this client's segments are made on Spark's executors.

        See `_segments_on_executors`. Never for DuckDB, whose data is not loaded to say so.
        """
        return self._on_spark and self._segments_on_executors is not None

    def _executor_output(self, name: str) -> str | None:
        """A new folder where executors write a per-customer table the driver reads back.

        In ``engine.work_dir``, else (local Spark) in the run's folder; None on a cluster
        without a ``work_dir``, where the customers come to the driver instead.
        """
        work_dir = self.params.engine.work_dir
        if work_dir is not None:
            if self._shared_folder is None:
                prefix = process_prefix("executors")
                self._shared_folder = f"{work_dir.rstrip('/')}/{prefix}{uuid.uuid4().hex}"
                # a workshop session's analysis is not closed by anyone: its files go at exit
                atexit.register(self.remove_shared_files)
            return f"{self._shared_folder}/{name}-{uuid.uuid4().hex}"
        if _engine.spark_is_local(self.data.connection):
            return tempfile.mkdtemp(prefix=f"{name}-", dir=self._store.work_folder("executors"))
        return None

    def remove_shared_files(self) -> None:
        """Delete what Spark's executors wrote for this analysis in ``engine.work_dir``.

        For the end of the analysis: `ccnb run` calls it when a client's run ends, and a
        process calls it at a normal exit; a killed kernel leaves its folder
        (``ccnb-executors-<pid>-...``), safe to delete once that process is gone. The tables
        already computed stay; per-customer tables not yet read back can no longer be. A
        failure to delete (storage unreachable) is ignored: the folder is only left behind.
        """
        folder, self._shared_folder = self._shared_folder, None
        if folder is None:
            return
        atexit.unregister(self.remove_shared_files)
        try:
            _engine.remove_spark_path(self.data.connection, folder)
        except Exception:  # cleanup must never fail a run or an exit
            pass

    @_tracked_value
    def _segments_on_executors(self) -> PartitionedSegments | None:
        """Spark: the base scored and segmented where it is; the driver gets aggregates only.

        The customers' RFM inputs stay in the engine (`summary.rfm_inputs_table`); the
        executors write each customer's segment as parquet (`segments` reads it back only
        when a per-customer table is asked for). None when the executors have nowhere to
        write that the driver reads (`_executor_output`).
        """
        from ccnb import partitioned_segments

        output = self._executor_output("segments")
        if output is None:
            return None
        data = self.data
        settings = self.params.rfm
        customers = _engine.spark_frame(
            summary.rfm_inputs_table(self._summary_in_engine),
            connection=data.connection,
        )
        plan = partitioned_segments.plan_segments_on_spark(
            customers, bins=settings.bins, scheme=self.segment_scheme
        )
        return partitioned_segments.segment_on_spark(
            customers,
            plan,
            output=output,
            lapsed_after_days=self.params.churn_window_days,
            recent_days=self.params.early_repeat_days,
            corner_score=settings.corner_score,
            top=settings.concentration_top,
        )

    @_stored_table
    def segments(self) -> pd.DataFrame:
        """RFM scores with segment, description and tactic per customer."""
        bins = self.params.rfm.bins
        if self._on_executors:
            from ccnb import partitioned_segments

            return partitioned_segments.read_segments(
                self._segments_on_executors,
                session=_engine.spark_session_of(self.data.connection),
            )
        scores = rfm.score(self.summary, bins=bins)
        return rfm.segment(scores, scheme=self.segment_scheme, bins=bins)

    @_stored_table
    def segment_rows(self) -> TableFiles:
        """Every customer's CRM export row (`ccnb.rfm.CRM_COLUMNS`) as parquet files.

        In ``customer_id`` order, read a block of rows at a time by the export
        (`TableFiles.blocks`). On Spark's executors the segments they wrote, sorted and written
        by Spark: the driver never holds the customers' rows.
        """
        columns = list(rfm.CRM_COLUMNS)
        if self._on_executors:
            output = self._executor_output("segment_rows")
            written = self._executor_segments().select(*columns)
            written.orderBy("customer_id").write.parquet(output, mode="overwrite")
            return _table_files.table_files_in(output, columns=columns)
        return _table_files.write_table_files(
            self.segments[columns], self._files_folder("segments")
        )

    def _executor_segments(self):
        """The customers' segments the executors wrote, as a Spark table (nothing is read)."""
        session = _engine.spark_session_of(self.data.connection)
        return session.read.parquet(self._segments_on_executors.output)

    def _files_folder(self, name: str) -> str:
        """A new folder for a table kept as files (`ccnb.table_files`), in the store's.

        In the cache folder when there is one (the kernels read the files there), else a
        temporary folder removed when this process ends.
        """
        return tempfile.mkdtemp(prefix=f"{name}-", dir=self._store.work_folder("tables"))

    def _customer_segments(self, customer_ids: pd.Series | None = None) -> pd.DataFrame:
        """``customer_id`` and ``segment`` of every customer, or at least of ``customer_ids``.

        On Spark's executors those two columns are read back from what they wrote, for
        ``customer_ids`` only when given, not the whole `segments`.
        """
        columns = ["customer_id", "segment"]
        if not self._on_executors:
            return self.segments[columns]
        from ccnb import partitioned_segments

        return partitioned_segments.read_segments(
            self._segments_on_executors,
            session=_engine.spark_session_of(self.data.connection),
            columns=columns[1:],
            customer_ids=None if customer_ids is None else customer_ids.dropna().unique(),
        )

    @_stored_table
    def segment_summary(self) -> pd.DataFrame:
        """Segment sizes, revenue shares, medians and tactics."""
        if self._on_executors:
            return self._segments_on_executors.summary
        return rfm.segment_summary(self.segments, scheme=self.segment_scheme)

    @_stored_table
    def segment_recency(self) -> pd.DataFrame:
        """Per segment, how many customers lapsed (churn window) or bought recently."""
        if self._on_executors:
            return self._segments_on_executors.recency
        return rfm.segment_recency(
            self.segments,
            lapsed_after_days=self.params.churn_window_days,
            recent_days=self.params.early_repeat_days,
        )

    @_stored_table
    def frequency_scores(self) -> pd.DataFrame:
        """The order counts each frequency score F covers (empty scores included)."""
        if self._on_executors:
            return self._segments_on_executors.frequency_ranges
        return rfm.score_ranges(self.segments, bins=self.params.rfm.bins, score="F")

    @_stored_table
    def rfm_grid(self) -> pd.DataFrame:
        """Customers and net revenue in each cell of the R x F grid."""
        if self._on_executors:
            return self._segments_on_executors.grid
        return rfm.score_grid(self.segments, bins=self.params.rfm.bins)

    @_stored_table
    def rfm_corner(self) -> pd.Series:
        """Share of customers and revenue in the R x F grid's top-right corner."""
        if self._on_executors:
            return self._segments_on_executors.corner
        return rfm.corner_share(self.segments, min_score=self.params.rfm.corner_score)

    @_stored_table
    def revenue_concentration(self) -> pd.DataFrame:
        """Cumulative share of revenue against share of customers, best customers first.

        The curve at `rfm.CONCENTRATION_SHARES` (109 shares of customers, what the chart
        draws), not one point per customer; on Spark's executors from their two passes
        (`partitioned_segments`).
        """
        if self._on_executors:
            return self._segments_on_executors.concentration
        return rfm.concentration_curve(self.summary)

    @_stored_table
    def top_customers_share(self) -> float:
        """Share of net revenue from the best `rfm.concentration_top` of customers."""
        if self._on_executors:
            return self._segments_on_executors.top_share
        return rfm.top_share(self.summary, top=self.params.rfm.concentration_top)

    @_stored_table
    def survey_with_segments(self) -> pd.DataFrame:
        """Survey answers joined to each customer's segment and channel."""
        survey = self._require_survey()
        segments = self._customer_segments(survey["customer_id"])
        joined = survey.merge(segments, on="customer_id", how="left")
        customers = self.data.customers
        if customers is not None:
            # the summary's channel (``summary._with_channel``) for respondents in the base
            channels = customers.set_index("customer_id")["acquisition_channel"]
            channel = joined["customer_id"].map(channels).fillna("unknown").astype("string")
            joined["acquisition_channel"] = channel.where(joined["segment"].notna())
        return joined

    @_stored_table
    def nps_by_segment(self) -> pd.DataFrame:
        """NPS per segment with 95% intervals, small groups flagged as not reliable."""
        return nps.nps_by(
            self.survey_with_segments, by="segment", min_n=self.params.survey_min_answers
        )

    @_stored_table
    def nps_score(self) -> nps.NPSResult:
        """NPS of the answers in the latest comparison window (the KPI table's), 95% interval."""
        return self._window_score("nps")

    @_stored_table
    def csat_score(self) -> nps.CSATResult:
        """CSAT of the answers in the latest comparison window, with its 95% interval."""
        return self._window_score("csat")

    def _window_score(self, column: str):
        window = self.windows.last
        score = kpi.survey_score(self._require_survey(), column, window)
        if score is None:
            raise Unavailable(
                f"No survey answer with a {column.upper()} is dated in {window.label}, the "
                "period the KPIs describe."
            )
        return score

    # --- KPIs, churn and cohorts ------------------------------------------------------------

    @_stored_table
    def windows(self) -> AnalysisWindows:
        """The comparison windows and the warm-up chosen from the data (`ccnb.windows`)."""
        return choose_windows(
            data_start=self.quality.transactions.first_date,
            observation_end=self.observation_end,
            churn_window_days=self.params.churn_window_days,
            warm_up_days=self.params.warm_up_days,
        )

    @property
    def _acquired_from(self) -> pd.Timestamp | None:
        """Customers first seen before this day are the existing base (None: no warm-up)."""
        return self.windows.base_known_from if self.windows.warm_up_days else None

    @_stored_table
    def customer_activity(self) -> churn.CustomerActivity:
        """Customers' active spells: the source of every customer count of the reports."""
        return churn.customer_activity(
            self.data.transactions,
            observation_end=self.observation_end,
            churn_window_days=self.params.churn_window_days,
        )

    @_stored_table
    def kpis(self) -> pd.DataFrame:
        """Headline KPIs over the comparison windows (see `ccnb.kpi.kpi_overview`)."""
        return kpi.kpi_overview(
            self.data.transactions,
            windows=self.windows,
            activity=self.customer_activity,
            early_repeat_days=self.params.early_repeat_days,
            survey=self.data.survey,
        )

    @property
    def early_repeat_acquired_to(self) -> list[pd.Timestamp]:
        """Per comparison window, the last first-purchase day its early repeat KPI counts."""
        return kpi.early_repeat_acquired_to(
            self.windows, early_repeat_days=self.params.early_repeat_days
        )

    @_stored_table
    def kpi_changes(self) -> pd.DataFrame:
        """Each KPI's change from the first to the last comparison window of `kpis`."""
        return kpi.kpi_changes(self.kpis)

    @_stored_table
    def window_flows(self) -> pd.DataFrame:
        """The customer flow over each comparison window (the KPI table's columns)."""
        spans = [(window.start, window.end) for window in self.windows.comparison]
        return churn.flow_over(self.customer_activity, spans=spans, windows=self.windows)

    @_stored_table
    def customer_flow(self) -> pd.DataFrame:
        """Opening base, new, reactivated, lapsed, closing, churn and leaks per quarter."""
        return churn.customer_flow(self.customer_activity, windows=self.windows, freq="Q")

    @_stored_table
    def recent_quarters(self) -> pd.Series:
        """The complete quarters of the latest comparison window, summarised."""
        return churn.period_summary(self.customer_flow, start=self.windows.last.start)

    @_stored_table
    def early_repeat_by_channel(self) -> pd.DataFrame:
        """Early repeat rate per acquisition channel."""
        return churn.early_repeat_rate(
            self.data.transactions,
            observation_end=self.observation_end,
            early_repeat_days=self.params.early_repeat_days,
            by="channel",
            customers=self._require_customers(),
            acquired_from=self._acquired_from,
        )

    @property
    def early_repeat_followed_to(self) -> dt.date:
        """The last first-purchase day counted by early repeat rates (followed the whole window)."""
        return churn.last_followed_first_purchase(
            self.observation_end, early_repeat_days=self.params.early_repeat_days
        )

    @_stored_table
    def early_repeat_by_cohort(self) -> pd.DataFrame:
        """Early repeat rate per quarterly acquisition cohort."""
        return churn.early_repeat_rate(
            self.data.transactions,
            observation_end=self.observation_end,
            early_repeat_days=self.params.early_repeat_days,
            by="cohort",
            period="Q",
            acquired_from=self._acquired_from,
        )

    @_stored_table
    def early_repeat_pooled(self) -> pd.Series:
        """Early repeat rate pooled over the cohorts with enough eligible customers."""
        return churn.pooled_early_repeat(
            self.early_repeat_by_cohort, min_eligible=self.params.early_repeat_min_eligible
        )

    @_stored_table
    def retention(self) -> pd.DataFrame:
        """Retention triangle (tidy) by `cohorts.retention_period` (default quarters)."""
        return self._require_cohorts(
            cohorts.retention_triangle(
                self.data.transactions,
                observation_end=self.observation_end,
                period=self.params.cohorts.retention_period,
                acquired_from=self._acquired_from,
            )
        )

    @_stored_table
    def retention_a_year_on(self) -> pd.Series:
        """Retention a year after acquisition, pooled over the last four cohorts observed."""
        age = _PERIODS_PER_YEAR[self.params.cohorts.retention_period]
        return cohorts.retention_at_age(self.retention, age=age)

    @_stored_table
    def revenue_cohorts(self) -> pd.DataFrame:
        """Quarterly revenue triangle with cumulative revenue per acquired customer."""
        return self._require_cohorts(
            cohorts.revenue_triangle(
                self.data.transactions,
                observation_end=self.observation_end,
                period="Q",
                acquired_from=self._acquired_from,
            )
        )

    def _require_cohorts(self, triangle: pd.DataFrame) -> pd.DataFrame:
        if triangle.empty:
            since = (
                f" after the warm-up (from {day_label(self.windows.base_known_from)})"
                if self._acquired_from is not None
                else ""
            )
            raise Unavailable(f"No customer was acquired{since}, so there is no cohort to follow.")
        return triangle

    @_stored_table
    def layer_cake(self) -> pd.DataFrame:
        """Revenue per quarter by acquisition year (the existing base its own layer).

        Quarters run from the first one the data covers whole: a first quarter holding only
        the data's first weeks would look like a dip.
        """
        layers = cohorts.layer_cake(
            self.data.transactions,
            observation_end=self.observation_end,
            period="Q",
            acquired_from=self._acquired_from,
        )
        first = _periods.first_whole_period(self.windows.data_start, "Q")
        layers = layers[layers["period"] >= first].reset_index(drop=True)
        if layers.empty:
            raise Unavailable("The data covers no whole quarter, so there is no layer cake.")
        return layers

    @_stored_table
    def newest_layer_share(self) -> pd.Series:
        """Share of the last quarter's revenue brought by the newest acquisition year."""
        return cohorts.newest_layer_share(self.layer_cake)

    @_stored_table
    def seasonal_cohorts(self) -> pd.DataFrame:
        """Holiday-season cohorts of several years on the same ages (`cohorts` params).

        By default the last `seasons_compared` (3) seasons of `holiday_months` (November and
        December) followed for a full year after the season's last month.
        """
        settings = self.params.cohorts
        months = tuple(settings.holiday_months)
        if settings.season_years is not None:
            years = sorted(set(settings.season_years))
        else:
            first_year = self.quality.transactions.first_date.year
            # month index (year * 12 + month - 1) of the season's last month, from its year
            last_month = (months[0] - 1) + (len(months) - 1)
            acquired_from = self._acquired_from
            years = [
                year
                for year in range(first_year, self.observation_end.year + 1)
                if _periods.end_of(year * 12 + last_month + 12, "M").date() <= self.observation_end
                and (
                    acquired_from is None
                    or _periods.start_of(year * 12 + months[0] - 1, "M") >= acquired_from
                )
            ][-settings.seasons_compared :]
            if len(years) < 2:
                raise Unavailable(
                    "The history holds fewer than two holiday seasons of new customers (after "
                    "the warm-up) followed for a full year afterwards, so there is no earlier "
                    "season to compare with."
                )
        try:
            return cohorts.seasonal_cohorts(
                self.data.transactions,
                observation_end=self.observation_end,
                season_months=months,
                years=years,
                acquired_from=self._acquired_from,
            )
        except ValueError as error:  # a season of `season_years` not observed
            raise Unavailable(f"The holiday seasons cannot be compared: {error}.") from None

    @_stored_table
    def cohort_by_channel(self) -> pd.DataFrame:
        """First-year repeat share and revenue per customer by acquisition channel."""
        return cohorts.cohort_by_channel(
            self.data.transactions,
            self._require_customers(),
            observation_end=self.observation_end,
            period=None,
            acquired_from=self._acquired_from,
        )

    @_stored_table
    def channel_repeat_gap(self) -> pd.Series:
        """The channels with the highest and lowest first-year repeat share, and their gap."""
        try:
            return cohorts.repeat_share_gap(self.cohort_by_channel)
        except ValueError as error:
            raise Unavailable(f"The acquisition channels cannot be compared: {error}.") from None

    @_stored_table
    def cohort_evolution(self) -> pd.DataFrame:
        """Lens 3: each acquisition cohort by age (`audit.cohort_period`).

        Defined among the cohort tables, so :meth:`precompute` computes it with them: the
        cohorts notebook's retention section cites its whole-year share too.
        """
        period = self.params.audit.cohort_period
        unit = "year" if period == "Y" else "quarter"
        hint = " (quarterly cohorts, `audit.cohort_period: Q`, may have one)" * (period == "Y")
        table = audit.cohort_evolution(
            self.data.transactions,
            observation_end=self.observation_end,
            period=period,
            acquired_from=self._acquired_from,
        )
        if table.empty and self._acquired_from is not None:
            raise Unavailable(
                f"Cohorts are whole {unit}s after the warm-up (customers first seen before "
                f"{day_label(self._acquired_from)} are the existing base), and the data, which "
                f"ends on {day_label(self.observation_end)}, holds no whole calendar {unit} "
                f"after that day, so there is no cohort to follow yet{hint}."
            )
        table = self._require_cohorts(table)
        if table["age"].max() == 0:
            raise Unavailable(
                f"No cohort has been followed for a complete {unit} after its first yet (the "
                f"data ends {day_label(self.observation_end)}), so there is no evolution to "
                f"show{hint}."
            )
        return table

    # --- CLV models ---------------------------------------------------------------------------

    @_stored_table
    def validation_sample(self) -> CustomerSample:
        """The calibration period's customers the purchase models are validated on.

        All of them, or a seeded random sample of about ``params.validation_customers`` when
        more bought by the calibration end: the validation's counts and fits grow with the
        customers, its verdict does not need every one of them.
        """
        bought = summary.calibration_purchases(
            self.data.transactions, calibration_end=self.calibration_end
        )
        return plan_sample(bought, at_most=self.params.validation_customers, seed=self.params.seed)

    @_stored_table
    def calibration(self) -> pd.DataFrame:
        """Calibration-period inputs and holdout outcomes per validated customer."""
        return summary.calibration_holdout(
            self.validation_sample.rows_in(self.data.transactions),
            calibration_end=self.calibration_end,
            observation_end=self.observation_end,
            time_unit=self.params.time_unit,
            bucket=self.params.bucket,
        )

    @_stored_table
    def repeat_purchases(self) -> pd.DataFrame:
        """Actual repeat purchases per period of the validated calibration cohort."""
        return summary.repeat_purchases_by_period(
            self.validation_sample.rows_in(self.data.transactions),
            calibration_end=self.calibration_end,
            observation_end=self.observation_end,
            time_unit=self.params.time_unit,
        )

    @_stored_table
    def validation(self) -> clv.ValidationResult:
        """Every purchase model fitted on the calibration period and scored on the holdout."""
        try:
            history = (self.observation_end - self.quality.transactions.first_date).days + 1
            if history < MIN_HISTORY_DAYS or self.calibration_end >= self.observation_end:
                raise clv.InsufficientDataError(
                    "the purchase models", "days of history", MIN_HISTORY_DAYS, history
                )
            return clv.validate(
                self.calibration,
                actual_repeat_by_period=self.repeat_purchases["repeat_purchases"],
                seed=self.params.seed,
            )
        except clv.InsufficientDataError as error:
            period = None
            if error.requirement != "days of history":
                period = f"the calibration period (to {day_label(self.calibration_end)})"
            raise _model_unavailable(
                error,
                subject="the purchase models need",
                failed="the purchase models",
                period=period,
            ) from None
        except clv.FitError as error:
            raise _model_unavailable(
                error, subject="the purchase models need", failed="the purchase models"
            ) from None

    @_stored_table
    def holdout_deciles(self) -> pd.DataFrame:
        """The chosen model's holdout purchases, predicted vs actual, by decile of prediction."""
        result = self.validation
        return clv.holdout_by_decile(self.calibration, result.fitted[result.chosen])

    @_stored_table
    def purchase_reliability(self) -> tuple[pd.DataFrame, pd.Series]:
        """The chosen model's P(a purchase in the holdout) against who bought, and the scores."""
        result = self.validation
        return clv.purchase_reliability(self.calibration, result.fitted[result.chosen])

    @_stored_table
    def holdout_total(self) -> pd.Series:
        """The chosen model's holdout total: expected, predictive interval, realised, inside."""
        result = self.validation
        return clv.holdout_total(
            self.calibration, result.fitted[result.chosen], seed=self.params.seed
        )

    @_stored_table
    def holdout_miss(self) -> pd.Series:
        """Whether the holdout total missed its interval and the likeliest cause in the data."""
        result = self.validation
        ratio = clv.monthly_tracking_ratio(
            result.tracking[result.chosen], self.repeat_purchases["period_start"]
        )
        return clv.likely_miss_cause(
            self.holdout_total,
            ratio,
            calibration_end=self.calibration_end,
            observation_end=self.observation_end,
        )

    def _customer_patterns(self, *columns: str) -> pd.DataFrame:
        """The customers' distinct values of ``columns`` and how many share each (``customers``).

        What a fit or a quantile of the base needs. On Spark counted where the summary is
        kept (`summary.customer_patterns`), so no customer comes to the driver; elsewhere
        from the customer summary.
        """
        if self._on_spark:
            inputs = summary.btyd_inputs_table(self._summary_in_engine)
            return summary.customer_patterns(inputs, columns=columns)
        # missing values are a pattern too, as in the engine (the fits count and refuse them)
        counted = self.summary.groupby(list(columns), sort=True, dropna=False).size()
        return counted.rename("customers").reset_index()

    @_tracked_value
    def _purchase_patterns(self) -> pd.DataFrame:
        """``frequency``, ``recency``, ``T`` and ``customers``: the base's purchase patterns."""
        return self._customer_patterns("frequency", "recency", "T")

    @_stored_table
    def purchase_model(self) -> clv.FittedModel:
        """The chosen purchase model refitted on the whole history."""
        try:
            return clv.fit_purchases(
                self._purchase_patterns,
                model=self.validation.chosen,
                seed=self.params.seed,
                weights="customers",
            )
        except (clv.InsufficientDataError, clv.FitError) as error:
            raise _model_unavailable(
                error, subject="the purchase model needs", failed="the purchase model"
            ) from None

    @_stored_table
    def spend_model(self) -> clv.FittedModel:
        """Gamma-Gamma spend model on repeat buyers."""
        patterns = self._customer_patterns("frequency", "monetary_value")
        try:
            return clv.fit_spend(patterns, seed=self.params.seed, weights="customers")
        except (clv.InsufficientDataError, clv.FitError) as error:
            raise _model_unavailable(
                error,
                subject="the spend model needs",
                failed="the spend model",
                unclear=_UNCLEAR["spend"],
            ) from None

    #: the fits every customer-value table rests on
    MODEL_TABLES = ("validation", "purchase_model", "spend_model")

    def model_failures(self) -> dict[str, ModelUnavailable]:
        """The model fits that failed, among those already attempted (none is fitted here).

        Returns
        -------
        dict of str to ModelUnavailable
            Table name (see ``MODEL_TABLES``) to the failure: its reader-facing sentence and,
            in ``detail``, the technical reason.
        """
        failures = {}
        for name in self.MODEL_TABLES:
            error = self._store.stored_unavailable(name)
            if isinstance(error, ModelUnavailable):
                failures[name] = error
        return failures

    @_tracked_value
    def _last_year(self) -> tuple[dt.date, dt.date]:
        """The last 365 days of the data, or the whole history when it is shorter."""
        end = self.observation_end
        first = self.quality.transactions.first_date
        return max(first, end - dt.timedelta(days=364)), end

    @_stored_table
    def value_ranking(self) -> pd.DataFrame:
        """Customers ranked by last year's revenue, then recency: the fallback to rCLV."""
        start, end = self._last_year
        last_year = summary.revenue_between(self.data.transactions, start=start, end=end)
        return _value_ranking.value_ranking(
            self.summary, last_year, active_within_days=self.params.churn_window_days
        )

    @_stored_table
    def value_ranking_summary(self) -> pd.Series:
        """Buyers of the last year (``start`` to ``end``) and the top 10%'s share of its revenue."""
        start, end = self._last_year
        concentration = _value_ranking.ranking_summary(self.value_ranking)
        return pd.concat([concentration, pd.Series({"start": start, "end": end})])

    @property
    def _prediction_options(self) -> dict:
        """The params every prediction of the customers takes, whichever path makes it."""
        settings = self.params
        return {
            "discount_rate_annual": settings.discount_rate_annual,
            "horizon_months": settings.horizon_months,
            "time_unit": settings.time_unit,
            "seed": settings.seed,
        }

    @_tracked_value
    def _forecast(self) -> clv.Predictions:
        """Predictions at a gross margin of 100%: what a margin change re-prices.

        Above `ccnb.clv.draws.IN_MEMORY_CUSTOMERS` customers the draws go to files (in the
        cache folder, else in a temporary folder of this process), read a few at a time.
        """
        summary = self.summary
        folder = None
        if len(summary) > clv.IN_MEMORY_CUSTOMERS:
            folder = self._store.work_folder("draws")
        return clv.predict(
            summary,
            purchases=self.purchase_model,
            spend=self.spend_model,
            gross_margin=1.0,
            **self._prediction_options,
            draws_folder=folder,
        )

    @_tracked_value
    def _predictions_on_executors(self) -> _ExecutorPredictions | None:
        """Spark: every customer's draws made where the customer is; the driver gets totals.

        The customers' model inputs stay in the engine (`summary.btyd_inputs_table`), joined
        to the segments the executors wrote. The plan (`clv.partitioned.plan_predictions`)
        checks a new customer's value under each draw; each partition checks its customers, a
        draw invalid anywhere being dropped and the prediction made again. The executors write
        each customer's predictions and bounds, and return totals per segment and draw
        (`clv.partitioned.predict_on_spark`). None when the segments are not made on the
        executors (`_segments_on_executors`).
        """
        from ccnb.clv import partitioned

        if not self._on_executors:
            return None
        output = self._executor_output("predictions")
        settings = self.params
        inputs = _engine.spark_frame(
            summary.btyd_inputs_table(self._summary_in_engine), connection=self.data.connection
        )
        session = inputs.sparkSession
        segments = self._executor_segments().select("customer_id", "segment")
        # written once by the executors: the count and the prediction would each join the
        # kept summary to the segments' files again
        inputs_output = self._executor_output("model-inputs")
        inputs.join(segments, on="customer_id", how="left").write.mode("overwrite").parquet(
            inputs_output
        )
        customers = session.read.parquet(inputs_output)
        # no patterns: checking each under every draw here would be the executors' work again
        plan = partitioned.plan_predictions(
            None,
            purchases=self.purchase_model,
            spend=self.spend_model,
            gross_margin=settings.gross_margin,
            group_by="segment",
            **self._prediction_options,
        )
        totals = partitioned.predict_on_spark(customers, plan, output=output)
        predicted = session.read.parquet(output).where("kind = 'customer'")
        return _ExecutorPredictions(totals=totals, predicted=predicted)

    @_stored_table
    def predictions(self) -> clv.Predictions:
        """P(alive), expected purchases and spend, rCLV with interval, and the draws behind it.

        The forecast at a 100% margin re-priced at the params' margin (`clv.reprice`), so a
        margin change neither refits nor draws again. On Spark's executors
        (`_predictions_on_executors`) every customer's values are the executors' (read back
        here, ranked into deciles); the draws stay with the executors' totals.
        """
        run = self._predictions_on_executors
        if run is None:
            return clv.reprice(self._forecast, gross_margin=self.params.gross_margin)
        from ccnb.clv import partitioned

        horizon = self.params.horizon_months
        columns = ["customer_id", *partitioned.CUSTOMER_COLUMNS]
        table = run.predicted.select(*columns, *partitioned.margin_columns(horizon))
        return partitioned.predictions_from_partitions(_engine.spark_pandas(table), run.totals)

    @_stored_table
    def retention_scenarios(self) -> pd.DataFrame:
        """Customer equity if the one-year retention were N points higher or lower.

        On Spark's executors from the customers' sums per purchase pattern, scaled to the
        executors' customer equity: no customer, and no pattern's monthly margins, come to
        the driver.
        """
        run = self._predictions_on_executors
        if run is not None:
            from ccnb.clv import partitioned_summary

            settings = self.params
            return partitioned_summary.retention_scenarios_on_spark(
                run.predicted,
                self.purchase_model,
                equity=self.customer_equity.value,
                discount_rate_annual=settings.discount_rate_annual,
                horizon_months=settings.horizon_months,
                time_unit=settings.time_unit,
                changes=settings.retention_changes,
            )
        return clv.retention_scenarios(
            self.predictions, self._survival_paths, changes=self.params.retention_changes
        )

    @_stored_table
    def _survival_paths(self) -> clv.SurvivalPaths:
        """Each customer's survival if active now, month by month (kept over margin changes)."""
        return clv.survival_paths(
            self.purchase_model,
            self.summary,
            horizon_months=self.params.horizon_months,
            time_unit=self.params.time_unit,
        )

    @_stored_table
    def customer_equity(self) -> clv.CustomerEquity:
        """Sum of rCLV with its interval (on Spark's executors, from their totals)."""
        run = self._predictions_on_executors
        if run is not None:
            return run.totals.customer_equity()
        return clv.customer_equity(self.predictions)

    @_stored_table
    def prediction_summary(self) -> pd.Series:
        """Mean, spread of rCLV and the share of customers likely alive."""
        run = self._predictions_on_executors
        if run is not None:
            from ccnb.clv import partitioned_summary

            return partitioned_summary.prediction_summary_on_spark(run.predicted)
        return clv.prediction_summary(self.predictions)

    @_tracked_value
    def _histograms(self) -> tuple[clv.Histogram, clv.Histogram]:
        """P(alive)'s and residual CLV's histograms, from one pass on Spark's executors."""
        run = self._predictions_on_executors
        if run is not None:
            from ccnb.clv import partitioned_summary

            return partitioned_summary.histograms_on_spark(run.predicted)
        table = self.predictions.table
        return clv.p_alive_histogram(table), clv.rclv_histogram(table)

    @_stored_table
    def p_alive_histogram(self) -> clv.Histogram:
        """Customers per 5-point bin of P(alive): what the P(alive) figure draws."""
        return self._histograms[0]

    @_stored_table
    def rclv_histogram(self) -> clv.Histogram:
        """Customers per bin of residual CLV (log-spaced when skewed): what its figure draws."""
        return self._histograms[1]

    @_stored_table
    def naive_versus_model(self) -> pd.Series:
        """Mean naive CLV at the latest 12-month churn rate next to the mean rCLV.

        On Spark the naive annual revenue is averaged where the summary is kept, and the
        mean rCLV is the prediction summary's: no customer comes to the driver.
        """
        window = self.windows.last
        flow = self.window_flows.iloc[-1]
        if window.days < 365:
            raise Unavailable(
                f"The data covers {window.label}, less than a year, so there is no annual "
                "churn rate for the simple formula."
            )
        rate = float(flow["churn_rate"])
        if np.isnan(rate):
            raise Unavailable(
                f"The churn rate over {window.label} cannot be measured (the KPI overview's "
                "churn section says why, and gives quarterly rates where it can), so the "
                "simple formula has no lifespan."
            )
        if rate <= 0:
            raise Unavailable(
                f"No customer of the base lapsed in {window.label}, so the simple formula's "
                "lifespan (1 / churn rate) has no end."
            )
        end = self.observation_end
        if self._on_spark:  # from the summary kept there
            kept = self._summary_in_engine
            annual = clv.naive_annual_revenue_in_engine(kept, observation_end=end)
        else:
            naive = clv.naive_clv(self.summary, annual_churn_rate=rate, observation_end=end)
            annual = naive["naive_annual_revenue"].mean()
        return clv.naive_versus_model(
            naive_annual_revenue=annual,
            rclv=self.prediction_summary["rclv_mean"],
            annual_churn_rate=rate,
        )

    @_stored_table
    def clv_by_segment(self) -> pd.DataFrame:
        """Residual CLV per RFM segment with intervals (on Spark's executors, their totals)."""
        run = self._predictions_on_executors
        if run is not None:
            return run.totals.clv_by_group()
        return clv.clv_by(self.predictions, by="segment", segments=self.segments)

    @_tracked_value
    def first_purchase_values(self) -> pd.DataFrame:
        """Each customer's first purchase day and what they spent on it.

        Not a stored table: only `new_customer_value` reads it, and that table is stored, so
        a client without a customers table never ranks its customers' first days.
        """
        return summary.first_purchase_values(
            self.data.transactions, observation_end=self.observation_end
        )

    @_stored_table
    def new_customer_value(self) -> pd.DataFrame:
        """A new customer's value per channel (model per channel), CAC ceiling and verdict."""
        customers = self._require_customers()
        settings = self.params.budget
        return clv.new_customer_value(
            self._channel_inputs(customers),
            pooled=self.purchase_model,
            spend=self.spend_model,
            gross_margin=self.params.gross_margin,
            discount_rate_annual=self.params.discount_rate_annual,
            horizon_months=self.params.horizon_months,
            time_unit=self.params.time_unit,
            target_ltv_cac=settings.target_ltv_cac,
            unpaid_channels=tuple(self.unpaid_channels),
            seed=self.params.seed,
        )

    def _channel_inputs(self, customers: pd.DataFrame) -> clv.ChannelInputs:
        """Each channel's totals and purchase patterns (`clv.ChannelInputs`).

        On Spark aggregated where the summary is kept, the customers table joined to it there;
        else from the customer summary.
        """
        if not self._on_spark:
            return clv.channel_inputs(self.summary, self.first_purchase_values, customers)
        connection = self.data.connection
        channels = _engine.register_frame(
            connection, clv.channel_table(customers), name=f"ccnb_channels_{uuid.uuid4().hex}"
        )
        first_values = summary.first_purchase_values_table(
            self.data.transactions, observation_end=self.observation_end
        )
        return clv.channel_inputs_in_engine(self._summary_in_engine, first_values, channels)

    @property
    def unpaid_channels(self) -> list[str]:
        """Channels never bought: params ``budget.unpaid_channels``, else names with 'organic'."""
        listed = self.params.budget.unpaid_channels
        if listed is not None:
            return list(listed)
        names = self._require_customers()["acquisition_channel"].dropna().astype(str).unique()
        return sorted(name for name in names if "organic" in name.lower())

    @_stored_table
    def iso_value(self) -> pd.DataFrame:
        """Residual CLV over a frequency x recency grid at the median customer age."""
        grid = self.params.iso_value
        patterns = self._purchase_patterns
        counts = patterns["customers"]
        age = quantile_of_counts(patterns["T"], counts, quantile=0.5)
        top_frequency = quantile_of_counts(
            patterns["frequency"], counts, quantile=grid.frequency_quantile
        )
        return clv.iso_value(
            self.purchase_model,
            self.spend_model,
            max_frequency=int(min(top_frequency, grid.max_frequency)),
            max_recency=age,
            T=age,
            recency_step=max(age / grid.recency_steps, grid.min_recency_step),
            gross_margin=self.params.gross_margin,
            discount_rate_annual=self.params.discount_rate_annual,
            horizon_months=self.params.horizon_months,
            time_unit=self.params.time_unit,
        )

    @_stored_table
    def activation(self) -> pd.DataFrame:
        """Per-customer CLV table for CRM activation.

        On Spark's executors from a dozen of their columns read back, not the whole
        `predictions` (whose 36 monthly margins per customer no report reads there), and the
        customers' segment without the rest of `segments`.
        """
        run = self._predictions_on_executors
        if run is None:
            return clv.activation_table(self.predictions, self._customer_segments())
        from ccnb.clv import partitioned

        columns = run.predicted.select("customer_id", *partitioned.CUSTOMER_COLUMNS)
        customers = partitioned.customer_table_from_partitions(_engine.spark_pandas(columns))
        return clv.activation_table(customers, self._customer_segments())

    @_stored_table
    def clv_rows(self) -> TableFiles:
        """`activation`'s rows as parquet files, highest rCLV first (the CLV export's).

        Read a block of rows at a time by the export (`TableFiles.blocks`). On Spark's
        executors made by Spark from their values and segments
        (`clv.partitioned.activation_on_spark`): the driver never holds the customers' rows.
        """
        run = self._predictions_on_executors
        if run is None:
            return _table_files.write_table_files(self.activation, self._files_folder("clv"))
        from ccnb.clv import activation, partitioned

        output = self._executor_output("clv_rows")
        partitioned.activation_on_spark(run.predicted, output=output)  # with their segments
        return _table_files.table_files_in(output, columns=activation.CRM_COLUMNS)

    def _active_predicted_values(self, column: str) -> pd.Series:
        """One prediction column by ``customer_id``, of the active customers at least.

        On Spark that column read back alone for the active customers (`_is_active`), joined
        to them in Spark; elsewhere the predictions' column, every customer's.
        """
        run = self._predictions_on_executors
        if run is None:
            return self.predictions.table.set_index("customer_id")[column]
        active = self._active_in_engine.select("customer_id")
        values = run.predicted.select("customer_id", column).join(
            _engine.spark_frame(active, connection=self.data.connection), on="customer_id"
        )
        return _engine.spark_pandas(values).set_index("customer_id")[column]

    # --- customer-base audit -------------------------------------------------------------

    @_stored_table
    def customer_differences(self) -> audit.CustomerDifferences:
        """Lens 1: deciles of the latest window's buyers, Lorenz curve, Gini, one-time buyers."""
        window = self.windows.last
        return audit.customer_differences(
            self.data.transactions,
            start=window.start,
            end=window.end,
            gross_margin=self.params.gross_margin,
        )

    @_stored_table
    def revenue_bridge(self) -> audit.RevenueBridge:
        """Lens 2: customers and revenue of the two comparison windows (the KPI page's)."""
        windows = self.windows.comparison
        if len(windows) < 2:
            raise Unavailable(
                f"The data starts {day_label(self.windows.data_start)}: the 12 months before "
                f"{windows[-1].label} are not covered in full, so there is no earlier period "
                "to compare with."
            )
        previous, current = windows[-2], windows[-1]
        return audit.revenue_bridge(
            self.data.transactions,
            previous=(previous.start, previous.end),
            current=(current.start, current.end),
        )

    @_stored_table
    def cohort_comparison(self) -> pd.DataFrame:
        """Lens 4: the latest cohort against the one before, factor by factor, at ages 0 and 1."""
        tables = [
            audit.cohort_comparison(self.cohort_evolution, age=age).assign(age=age)
            for age in (0, 1)
        ]
        table = pd.concat([t for t in tables if len(t)] or tables[:1], ignore_index=True)
        if table.empty:
            raise Unavailable("Fewer than two complete cohorts: there is nothing to compare.")
        return table

    @_stored_table
    def base_health(self) -> audit.BaseHealth:
        """Lens 5: the latest window's revenue by acquisition year of its customers."""
        window = self.windows.last
        return audit.base_health(
            self.data.transactions,
            start=window.start,
            end=window.end,
            acquired_from=self._acquired_from,
        )

    @_stored_table
    def second_purchases(self) -> pd.DataFrame:
        """Each new customer's days to a second purchase (censored when none yet).

        For a workshop: the reports read `second_purchase_counts`, counted in the engine.
        """
        return self._acquired_after_warm_up(audit.second_purchases)

    @_stored_table
    def second_purchase_counts(self) -> pd.DataFrame:
        """New customers per cohort, channel and days to a second purchase (censored or not)."""
        return self._acquired_after_warm_up(audit.second_purchase_counts)

    def _acquired_after_warm_up(self, make):
        """``make`` (a second-purchase function of `ccnb.audit`) of this client's new customers."""
        found = make(
            self.data.transactions,
            observation_end=self.observation_end,
            acquired_from=self._acquired_from,
            customers=self.data.customers,
        )
        if found.empty:
            raise Unavailable("No customer was acquired after the warm-up.")
        return found

    @_stored_table
    def repeat_timing(self) -> pd.DataFrame:
        """Shares repeating within `audit.repeat_days`, overall, by cohort year and channel."""
        days = self.params.audit.repeat_days
        minimum = self.params.early_repeat_min_eligible
        second = self.second_purchase_counts
        tables = [audit.repeat_timing(second, days=days).assign(by="all")]
        for by in ("cohort", "channel"):
            if second[by].nunique() < 2:  # one group would repeat "all"
                continue
            table = audit.repeat_timing(second, by=by, days=days, min_customers=minimum)
            tables.append(table.assign(by=by))
        return pd.concat(tables, ignore_index=True)

    @_stored_table
    def repeat_curves(self) -> pd.DataFrame:
        """Kaplan-Meier share repeating by day, for everyone and by acquisition channel."""
        second = self.second_purchase_counts
        groups = [("all", second)]
        if second["channel"].nunique() > 1:
            groups += [
                (name, group)
                for name, group in second.groupby("channel")
                if group["customers"].sum() >= self.params.early_repeat_min_eligible
            ]
        return pd.concat(
            [
                audit.repeat_curve(
                    group["days"], group["repeated"], customers=group["customers"]
                ).assign(group=str(name))
                for name, group in groups
            ],
            ignore_index=True,
        )

    @_stored_table
    def product_lens(self) -> audit.ProductLens:
        """The product lens, when the params map a category column."""
        if self.params.transactions.columns.category is None:
            raise Unavailable(
                "No product category is mapped. With one (`transactions.columns.category` in "
                "the params: a category, brand or department column), this section shows "
                "which first-purchase categories bring the customers worth most and where "
                "repeat buyers go next."
            )
        try:
            run = self._predictions_on_executors
            if run is None:
                rclv = self.predictions.table.set_index("customer_id")["rclv"]
            else:  # averaged by first category in Spark: no customer comes to the driver
                rclv = _engine.spark_table(
                    run.predicted.select("customer_id", "rclv"), connection=self.data.connection
                )
        except Unavailable:
            rclv = None
        return audit.product_lens(
            self.data.transactions,
            observation_end=self.observation_end,
            acquired_from=self._acquired_from,
            rclv=rclv,
        )

    # --- budget ------------------------------------------------------------------------------

    @_stored_table
    def curve(self) -> budget.ResponseCurve:
        """The response curve from the budget assumptions."""
        return self._curve_family(self.params.budget.spend_scale)

    @_stored_table
    def budget_customers(self) -> pd.DataFrame:
        """Active customers (bought within the churn window) with rCLV, segment and revenue.

        The customer flow's definition: a purchase (not only returns) fewer than
        ``churn_window_days`` days before ``observation_end``, so the count is the KPI page's.
        On Spark's executors the engine joins the active customers to the segments and
        predictions the executors wrote: only the active customers come to the driver.
        """
        run = self._predictions_on_executors
        if run is not None:
            return self._budget_customers_on_executors(run)
        summary = self.summary
        table = summary.loc[self._is_active(summary), ["customer_id", "revenue"]]
        table = table.merge(self.segments[["customer_id", "segment"]], on="customer_id")
        table = table.merge(
            self.predictions.table[["customer_id", "rclv", "p_alive"]], on="customer_id"
        )
        return table.reset_index(drop=True)

    def _is_active(self, customers):
        """Whether each customer is active: a purchase within the churn window (the flow's).

        ``customers`` is the customer summary, in pandas or in the engine.
        """
        window = self.params.churn_window_days
        return (customers["orders"] > 0) & (customers["days_since_last"] < window)

    @property
    def _active_in_engine(self) -> ir.Table:
        """The active customers of the summary kept in the engine (`_is_active`)."""
        kept = self._summary_in_engine
        return kept.filter(self._is_active(kept))

    @_tracked_value
    def _active_model_inputs(self) -> pd.DataFrame:
        """The active customers' ``customer_id``, ``frequency``, ``recency`` and ``T``.

        What the test plan's expected purchases read; on Spark only these customers' inputs
        come to the driver, not the customer summary.
        """
        columns = ["customer_id", "frequency", "recency", "T"]
        if self._on_spark:
            inputs = summary.btyd_inputs_table(self._active_in_engine).select(*columns)
            frame = _engine.spark_frame(inputs, connection=self.data.connection)
            return _engine.spark_pandas(frame).sort_values("customer_id", ignore_index=True)
        customers = self.summary
        return customers.loc[self._is_active(customers), columns].reset_index(drop=True)

    def _budget_customers_on_executors(self, run: _ExecutorPredictions) -> pd.DataFrame:
        """`budget_customers` joined in Spark, in ``customer_id`` order as the summary's."""
        table = _engine.spark_pandas(self._active_on_executors(run, "rclv", "p_alive"))
        names = self.segment_scheme.segment_names  # as `rfm.segment` gives the segment
        table["segment"] = pd.Categorical(table["segment"], categories=names, ordered=True)
        return table.sort_values("customer_id", ignore_index=True)

    def _active_on_executors(self, run: _ExecutorPredictions, *values: str):
        """Spark: the active customers' revenue, segment and the executors' ``values`` columns.

        A Spark table, joined there (nothing is read).
        """
        active = _engine.spark_frame(
            summary.rfm_inputs_table(self._active_in_engine), connection=self.data.connection
        )
        return (
            active.select("customer_id", "revenue")
            .join(self._executor_segments().select("customer_id", "segment"), on="customer_id")
            .join(run.predicted.select("customer_id", *values), on="customer_id")
        )

    @property
    def allocated_customers(self) -> pd.DataFrame:
        """The active customers the budget is spread over: those with positive net revenue.

        A customer whose returns and cancellations equal or exceed their purchases is in
        the net-zero segment and never in a value-based allocation.
        """
        customers = self.budget_customers
        return customers[customers["revenue"] > 0].reset_index(drop=True)

    @_stored_table
    def budget_customer_counts(self) -> pd.Series:
        """``active`` customers (`budget_customers`) and those ``allocated`` to.

        On Spark's executors counted there (`_budget_on_executors`).
        """
        spread = self._budget_on_executors
        if spread is not None:
            return pd.Series({"active": spread.active, "allocated": spread.allocated})
        return pd.Series(
            {"active": len(self.budget_customers), "allocated": len(self.allocated_customers)}
        )

    @_tracked_value
    def _budget_on_executors(self) -> _ExecutorBudget | None:
        """Spark: the active customers joined to their segment and rCLV in Spark, written once.

        The customers with positive net revenue (`allocated_customers`') are ranked by rCLV
        into deciles (one ordered window) and written for the budget's passes
        (`partitioned_budget`). None when the predictions are not the executors'.
        """
        run = self._predictions_on_executors
        if run is None:
            return None
        from pyspark.sql import functions as F

        from ccnb import partitioned_budget

        joined = self._active_on_executors(run, "rclv")
        counts = joined.agg(
            F.count(F.lit(1)).alias("active"),
            F.sum((F.col("revenue") > 0).cast("long")).alias("allocated"),
        ).first()
        output = self._executor_output("budget-customers")
        ranked = partitioned_budget.ranked_by_rclv(joined.where(F.col("revenue") > 0))
        ranked.write.mode("overwrite").parquet(output)
        return _ExecutorBudget(
            customers=joined.sparkSession.read.parquet(output),
            active=int(counts["active"]),
            allocated=int(counts["allocated"] or 0),
        )

    @_tracked_value
    def _optimum_on_executors(self):
        """Spark: the customer-centric optimum planned and allocated by the partitions.

        The customers' allocation is written (sorted by customer) for the export; the driver
        gets the plan and the totals by segment (`partitioned_budget.allocate_on_spark`).
        """
        from ccnb import partitioned_budget

        settings = self.params.budget
        customers = self._budget_on_executors.customers
        plan = partitioned_budget.plan_allocation_on_spark(
            customers,
            strategy="customer_centric",
            budget=settings.total,
            curve=self.curve,
            max_lift=settings.max_lift,
        )
        output = self._executor_output("allocation")
        return partitioned_budget.allocate_on_spark(customers, plan, output=output)

    @_tracked_value
    def _plans_on_executors(self) -> dict:
        """Spark: the plans of `allocations` and `tier_rule_candidates`, by their names.

        ``"customer-focused"``, ``"customer-centric (optimal)"`` and the segment rules
        ``"optimum"`` (the optimum's own, rounded to `_tier_step`) and ``"params"``
        (``budget.tier_spend``), planned from the optimum's totals by segment.
        """
        from ccnb import partitioned_budget

        settings = self.params.budget
        options = {"budget": settings.total, "curve": self.curve, "max_lift": settings.max_lift}
        optimum = self._optimum_on_executors
        derived = partitioned_budget.tiers_from_totals(optimum, round_to=self._tier_step)
        plans = {
            "customer-focused": partitioned_budget.plan_allocation_on_spark(
                self._budget_on_executors.customers, strategy="customer_focused", **options
            ),
            "customer-centric (optimal)": optimum.plan,
            "optimum": partitioned_budget.plan_tiered(
                optimum, spend_per_head=derived["spend_per_head"].to_dict(), **options
            ),
        }
        if settings.tier_spend:
            plans["params"] = partitioned_budget.plan_tiered(
                optimum, spend_per_head=settings.tier_spend, **options
            )
        return plans

    @_tracked_value
    def _plan_totals(self) -> pd.DataFrame:
        """Spark: every plan of `_plans_on_executors` totalled by segment and decile, one pass."""
        from ccnb import partitioned_budget

        return partitioned_budget.plan_totals_on_spark(
            self._budget_on_executors.customers, self._plans_on_executors
        )

    @property
    def _strategy_names(self) -> dict[str, str]:
        """Spark: each strategy of `allocations` -> its plan's name in `_plan_totals`."""
        rules = self.tier_rules
        best = rules.loc[rules["recommended"], "source"].iloc[0]
        return {
            "customer-focused": "customer-focused",
            "customer-centric (optimal)": "customer-centric (optimal)",
            "customer-centric (tiered)": best,
        }

    def _allocate(self, allocator, **options) -> budget.Allocation:
        settings = self.params.budget
        return allocator(
            self.allocated_customers,
            budget=settings.total,
            curve=self.curve,
            max_lift=settings.max_lift,
            **options,
        )

    @_stored_table
    def optimal_allocation(self) -> budget.Allocation:
        """The customer-centric optimum: spend per customer where it adds most value."""
        return self._allocate(budget.customer_centric)

    @_stored_table
    def allocations(self) -> dict[str, budget.Allocation]:
        """Per-customer spend and added value for each strategy.

        The tiered plan is the recommended segment rule: of the optimum's own (its mean spend
        per segment, rounded) and the params file's ``budget.tier_spend``, the one adding
        more value (see `tier_rules`).
        """
        rules = self.tier_rule_candidates
        return {
            "customer-focused": self._allocate(budget.customer_focused),
            "customer-centric (optimal)": self.optimal_allocation,
            "customer-centric (tiered)": rules[budget.best_allocation(rules)],
        }

    @_tracked_value
    def _tier_step(self) -> float | None:
        """Rounding step of the optimum's segment rule (`budget.tier_rounding_step`)."""
        if self._budget_on_executors is not None:
            from ccnb import partitioned_budget

            tiers = partitioned_budget.tiers_from_totals(self._optimum_on_executors, round_to=None)
        else:
            tiers = budget.tiers_from_optimum(self.optimal_allocation, round_to=None)
        return budget.tier_rounding_step(float(tiers["mean_spend"].max()))

    @_stored_table
    def tier_rule_candidates(self) -> dict[str, budget.Allocation]:
        """The segment rules to choose from: the optimum's own, then the params file's."""
        derived = budget.tiers_from_optimum(self.optimal_allocation, round_to=self._tier_step)
        per_head = derived["spend_per_head"].to_dict()
        candidates = {"optimum": self._allocate(budget.tiered, spend_per_head=per_head)}
        if self.params.budget.tier_spend:
            candidates["params"] = self._allocate(
                budget.tiered, spend_per_head=self.params.budget.tier_spend
            )
        return candidates

    @_stored_table
    def tier_rules(self) -> pd.DataFrame:
        """The segment rules considered, with value and ROI, and which one is recommended.

        One row per source (``"optimum"``: the optimal plan's mean spend per segment,
        rounded to ``step``; ``"params"``: ``budget.tier_spend``), with ``spend_per_head``
        (a dict of the amounts after scaling to the budget), ``added_value``, ``roi`` and
        ``recommended``.
        """
        if self._budget_on_executors is not None:
            table, per_head = self._tier_rules_of_totals()
        else:
            candidates = self.tier_rule_candidates
            table = budget.compare(candidates, budget=self.params.budget.total)
            per_head = {
                source: budget.spend_per_head(plan).to_dict() for source, plan in candidates.items()
            }
        table = table.rename(columns={"strategy": "source"})
        table["spend_per_head"] = [per_head[source] for source in table["source"]]
        table["step"] = [
            self._tier_step if source == "optimum" else np.nan for source in table["source"]
        ]
        values = dict(zip(table["source"], table["added_value"], strict=True))
        table["recommended"] = table["source"] == budget._most_valuable(values)
        return table

    def _tier_rules_of_totals(self) -> tuple[pd.DataFrame, dict[str, dict]]:
        """Spark: `tier_rules`' comparison and spend per head by segment, from `_plan_totals`."""
        from ccnb import partitioned_budget

        totals = self._plan_totals
        sources = [name for name in ("optimum", "params") if name in self._plans_on_executors]
        table = partitioned_budget.comparison_of_totals(
            totals, {source: source for source in sources}, budget=self.params.budget.total
        )
        per_head = {}
        for source in sources:
            by_segment = totals[totals["strategy"] == source].groupby("segment")
            means = by_segment["spend"].sum() / by_segment["customers"].sum()
            per_head[source] = means.reindex(self._in_scheme_order(means.index)).to_dict()
        return table, per_head

    def _in_scheme_order(self, segments) -> list[str]:
        """The segments among ``segments``, in the scheme's order.

        The order of the in-memory tables, whose segments are categories of the scheme.
        """
        present = set(segments)
        return [name for name in self.segment_scheme.segment_names if name in present]

    @_stored_table
    def strategy_comparison(self) -> pd.DataFrame:
        """Spend, reach, added value and return of each strategy."""
        if self._budget_on_executors is not None:
            from ccnb import partitioned_budget

            return partitioned_budget.comparison_of_totals(
                self._plan_totals, self._strategy_names, budget=self.params.budget.total
            )
        return budget.compare(self.allocations, budget=self.params.budget.total)

    @_stored_table
    def centric_gain(self) -> pd.Series:
        """Value the optimal customer-centric plan adds over the customer-focused one."""
        return self._gain_over_focused("customer-centric (optimal)")

    def _gain_over_focused(self, strategy: str) -> pd.Series:
        """`budget.centric_gain` of a strategy of `allocations` over the customer-focused one."""
        if self._budget_on_executors is not None:
            from ccnb import partitioned_budget

            names = self._strategy_names
            return partitioned_budget.centric_gain_of_totals(
                self._plan_totals, focused=names["customer-focused"], centric=names[strategy]
            )
        return budget.centric_gain(self.allocations["customer-focused"], self.allocations[strategy])

    @property
    def recommended_strategy(self) -> str:
        """The recommended plan: the segment rule (tiered) when it pays back, else the optimum."""
        plans = self.strategy_comparison.set_index("strategy")
        tiered = "customer-centric (tiered)"
        return tiered if plans.loc[tiered, "roi"] >= 0 else "customer-centric (optimal)"

    @_stored_table
    def recommended_gain(self) -> pd.Series:
        """Value the recommended plan adds over the customer-focused one (`centric_gain`)."""
        return self._gain_over_focused(self.recommended_strategy)

    @_stored_table
    def break_even_budget(self) -> float:
        """Budget beyond which the last unit spent optimally returns less than it costs."""
        spread = self._budget_on_executors
        if spread is not None:
            from ccnb import partitioned_budget

            return partitioned_budget.break_even_on_spark(
                spread.customers, curve=self.curve, max_lift=self.params.budget.max_lift
            )
        return budget.break_even_budget(
            self.allocated_customers, curve=self.curve, max_lift=self.params.budget.max_lift
        )

    @_stored_table
    def allocation_deciles(self) -> pd.DataFrame:
        """Budget share per rCLV decile by strategy, next to the share of customer equity."""
        if self._budget_on_executors is not None:
            from ccnb import partitioned_budget

            return partitioned_budget.deciles_of_totals(self._plan_totals, self._strategy_names)
        return budget.allocation_by_decile(self.allocated_customers, self.allocations)

    @_stored_table
    def tier_plan(self) -> pd.DataFrame:
        """The recommended segment rule by segment: spend per head, value, optimum's reach.

        Indexed by segment (highest spend per head first): ``customers`` (active),
        ``spend_per_head`` and ``spend`` of the tiered plan, its ``added_value``, and
        ``optimal_funded`` (customers the optimal plan spends on) with ``optimal_spend``.
        """
        if self._budget_on_executors is not None:
            from ccnb import partitioned_budget

            totals = self._plan_totals
            tiered_totals = totals[
                totals["strategy"] == self._strategy_names["customer-centric (tiered)"]
            ]
            table = tiered_totals.groupby("segment")[["customers", "spend", "added_value"]].sum()
            present = self._in_scheme_order(table.index)
            table = table.reindex(present)
            table.index = pd.CategoricalIndex(
                present, categories=self.segment_scheme.segment_names, ordered=True, name="segment"
            )
            optimum = partitioned_budget.tiers_from_totals(self._optimum_on_executors)
        else:
            tiered = self.allocations["customer-centric (tiered)"].table
            optimum = budget.tiers_from_optimum(self.allocations["customer-centric (optimal)"])
            table = tiered.groupby("segment", observed=True).agg(
                customers=("spend", "size"),
                spend=("spend", "sum"),
                added_value=("added_value", "sum"),
            )
        table["spend_per_head"] = table["spend"] / table["customers"]
        table["optimal_funded"] = optimum["funded_customers"].reindex(table.index).fillna(0)
        table["optimal_spend"] = (optimum["mean_spend"] * optimum["customers"]).reindex(table.index)
        columns = ["customers", "spend_per_head", "spend", "added_value", "optimal_funded"]
        return table[[*columns, "optimal_spend"]].sort_values(
            ["spend_per_head", "customers"], ascending=False, kind="stable"
        )

    @_stored_table
    def sensitivity(self) -> pd.DataFrame:
        """Centric-vs-focused gain over multiples of the max lift and of the spend scale."""
        settings = self.params.budget
        lifts = sorted(
            {
                settings.max_lift,
                *np.round(settings.max_lift * np.array(settings.sensitivity_lift_multipliers), 4),
            }
        )
        scales = sorted(
            {
                settings.spend_scale,
                *np.round(
                    settings.spend_scale * np.array(settings.sensitivity_scale_multipliers), 2
                ),
            }
        )
        spread = self._budget_on_executors
        if spread is not None:
            from ccnb import partitioned_budget

            grid, customers = partitioned_budget.sensitivity_on_spark, spread.customers
        else:
            grid, customers = budget.sensitivity, self.allocated_customers
        return grid(
            customers,
            budget=settings.total,
            max_lifts=lifts,
            spend_scales=scales,
            curve=self._curve_family,
        )

    def _curve_family(self, spend_scale: float) -> budget.ResponseCurve:
        """The params' response curve (family and Hill shape) at another spend scale."""
        settings = self.params.budget
        if settings.response_curve == "hill":
            return budget.HillResponse(spend_scale, settings.hill_shape)
        return budget.ExponentialResponse(spend_scale)

    @_stored_table
    def sensitivity_summary(self) -> pd.Series:
        """Ranges of gain and ROI over the sensitivity grid, and the assumption that moves most."""
        settings = self.params.budget
        return budget.sensitivity_summary(
            self.sensitivity, max_lift=settings.max_lift, spend_scale=settings.spend_scale
        )

    @_stored_table
    def test_customers(self) -> pd.DataFrame:
        """The treated customers with the test's outcome and the planned spend's expected effect.

        ``revenue``: net revenue in the last ``test_window_days`` of the data (the outcome's
        spread per customer); ``expected_revenue``: the purchase and spend models' expected
        revenue over a window of that length from now; ``effect``: what the recommended
        plan's spend (`recommended_strategy`) is expected to add to it, the response curve's
        relative lift ``added_value / rclv`` applied to the expected revenue.
        """
        start, end, periods = self._test_window
        observed = summary.revenue_between(self.data.transactions, start=start, end=end)
        expected = clv.expected_purchases(
            self.purchase_model, self._active_model_inputs, periods=periods
        )
        plan = self.allocations[self.recommended_strategy].table
        table = self.treated_customers[["customer_id", "segment"]].merge(
            observed, on="customer_id", how="left"
        )
        table["revenue"] = table["revenue"].fillna(0.0)
        spend = self._active_predicted_values("expected_spend")  # the treated are active
        table["expected_revenue"] = (
            table["customer_id"].map(expected).to_numpy() * table["customer_id"].map(spend)
        ).astype("float64")
        lift = plan.set_index("customer_id")
        relative = (lift["added_value"] / lift["rclv"]).where(lift["rclv"] > 0, 0.0)
        table["effect"] = table["expected_revenue"] * table["customer_id"].map(relative).fillna(0)
        return table

    @_stored_table
    def test_plan(self) -> pd.DataFrame:
        """Per segment and pooled over the treated, whether a test detects the plan's effect."""
        settings = self.params.budget
        options = {
            "alpha": settings.test_alpha,
            "power": settings.test_power,
            "holdout_share": settings.holdout_share,
            "pool": TREATED_POOL,
        }
        if self._budget_on_executors is not None:
            from ccnb import partitioned_budget

            return partitioned_budget.test_plan_on_spark(
                self._test_inputs_on_executors,
                self._recommended_plan,
                outcome="window_revenue",
                expected="expected_revenue",
                **options,
            )
        return budget.test_plan(self.test_customers, effect="effect", **options)

    @property
    def _test_window(self) -> tuple[dt.date, dt.date, float]:
        """The test's outcome window: its first and last day, and its length in model units.

        The last ``test_window_days`` of the data.
        """
        window = self.params.budget.test_window_days
        end = self.observation_end
        return (
            end - dt.timedelta(days=window - 1),
            end,
            window / summary.DAYS_PER_UNIT[self.params.time_unit],
        )

    @property
    def _recommended_plan(self):
        """Spark: the recommended strategy's plan (`recommended_strategy`)."""
        return self._plans_on_executors[self._strategy_names[self.recommended_strategy]]

    @_tracked_value
    def _test_inputs_on_executors(self):
        """Spark: the budget's customers with the test's outcome and expectation, written once.

        As `test_customers` makes them: ``window_revenue`` (net revenue in the last
        ``test_window_days``, 0 without a row there) and ``expected_revenue`` (the purchase
        model's expected purchases over a window of that length, computed by the partitions,
        times the expected spend the executors predicted).
        """
        from pyspark.sql import functions as F

        from ccnb.clv import partitioned

        spread, run = self._budget_on_executors, self._predictions_on_executors
        connection = self.data.connection
        start, end, periods = self._test_window
        observed = _engine.spark_frame(
            summary.revenue_between_table(self.data.transactions, start=start, end=end),
            connection=connection,
        ).withColumnRenamed("revenue", "window_revenue")
        inputs = _engine.spark_frame(
            summary.btyd_inputs_table(self._active_in_engine), connection=connection
        )
        expected = partitioned.expected_purchases_on_spark(
            inputs,
            purchases=self.purchase_model,
            periods=periods,
        )
        table = (
            spread.customers.select("customer_id", "rclv", "segment")
            .join(observed, on="customer_id", how="left")
            .fillna(0.0, subset=["window_revenue"])
            .join(expected, on="customer_id")
            .join(run.predicted.select("customer_id", "expected_spend"), on="customer_id")
            .withColumn("expected_revenue", F.col("expected_purchases") * F.col("expected_spend"))
        )
        output = self._executor_output("test-inputs")
        table.write.mode("overwrite").parquet(output)
        return table.sparkSession.read.parquet(output)

    @property
    def treated_customers(self) -> pd.DataFrame:
        """The customers the recommended plan spends on: the test's population."""
        plan = self.allocations[self.recommended_strategy].table
        treated = plan.loc[plan["spend"] > 0, "customer_id"]
        customers = self.allocated_customers
        return customers[customers["customer_id"].isin(treated)].reset_index(drop=True)

    @_stored_table
    def test_assignment(self) -> pd.DataFrame:
        """Seeded random treatment / holdout group of each customer the plan spends on."""
        return budget.assign_holdout(
            self.treated_customers,
            holdout_share=self.params.budget.holdout_share,
            seed=self.params.seed,
        )

    @_stored_table
    def test_assignment_rows(self) -> TableFiles:
        """`test_assignment` as parquet files in customer order, for its export.

        On Spark's executors drawn by Spark from the customers the recommended plan funds
        (`partitioned_budget.assign_holdout_on_spark`): the driver holds none of them.
        """
        spread = self._budget_on_executors
        if spread is None:
            return _table_files.write_table_files(
                self.test_assignment, self._files_folder("test_assignment")
            )
        from ccnb import partitioned_budget

        funded = partitioned_budget.funded_on_spark(
            spread.customers, self._recommended_plan, columns=["customer_id", "segment"]
        )
        assigned = partitioned_budget.assign_holdout_on_spark(
            funded, holdout_share=self.params.budget.holdout_share, seed=self.params.seed
        )
        output = self._executor_output("test-assignment")
        assigned.orderBy("customer_id").write.mode("overwrite").parquet(output)
        return _table_files.table_files_in(output, columns=("customer_id", "segment", "group"))

    @_stored_table
    def allocation_rows(self) -> TableFiles:
        """The optimal allocation's export rows as parquet files, in customer order.

        ``customer_id``, ``segment``, ``rclv``, ``spend`` and ``added_value``; on Spark's
        executors the files they wrote (`_optimum_on_executors`).
        """
        columns = ["customer_id", "segment", "rclv", "spend", "added_value"]
        if self._budget_on_executors is None:
            return _table_files.write_table_files(
                self.optimal_allocation.table[columns], self._files_folder("allocation")
            )
        return _table_files.table_files_in(self._optimum_on_executors.output, columns=columns)

    @_stored_table
    def acquisition_plan(self) -> budget.AcquisitionPlan:
        """The acquisition budget over the paid channels, best new-customer value per cost first."""
        settings = self.params.budget
        if not settings.new_customer_budget:
            raise Unavailable("No acquisition budget is set (`budget.new_customer_budget`).")
        values = self.new_customer_value
        paid = values[values["paid"]]
        capacity = settings.channel_capacity or {}
        channels = pd.DataFrame(
            {
                "channel": paid["acquisition_channel"],
                "mean_clv": paid["new_customer_value"],
                "cac": paid["mean_acquisition_cost"],
                "capacity": paid["acquisition_channel"].map(capacity).astype("float64"),
            }
        )
        return budget.allocate_acquisition(
            channels,
            budget=settings.new_customer_budget,
            min_value_per_cost=settings.acquisition_threshold,
        )

    @_stored_table
    def acquisition_history(self) -> pd.DataFrame:
        """The acquisition plan's new customers per channel against the last window's.

        The KPI page's latest window (a year when the data allows): the customers each
        channel brought in it (`cohorts.new_customers_by_channel`) next to the plan's
        (`budget.acquisition_against_history`); ``start`` and ``end`` say which days.
        """
        plan = self.acquisition_plan
        window, flow = self.windows.last, self.window_flows.iloc[-1]
        if window.days < 365 or not flow["base_known"]:
            raise Unavailable(
                f"The data does not show a whole year of acquisitions ({window.label}), so the "
                "plan's new customers cannot be set against the channels' history."
            )
        acquired = cohorts.new_customers_by_channel(
            self.data.transactions,
            self._require_customers(),
            start=window.start,
            end=window.end,
            acquired_from=self._acquired_from,
        )
        by_channel = acquired.set_index("acquisition_channel")["new_customers"]
        table = budget.acquisition_against_history(plan.table, by_channel.to_dict())
        return table.assign(start=window.start, end=window.end)
