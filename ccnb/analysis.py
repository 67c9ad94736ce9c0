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

import contextlib
import datetime as dt
import hashlib
import json
import os
import pickle
import tempfile
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ccnb import budget, rfm
from ccnb._lazy import lazy_module
from ccnb.errors import Unavailable
from ccnb.params import Params

if TYPE_CHECKING:
    from ccnb.data import ClientData
    from ccnb.quality import DataQuality

# Ibis/DuckDB and lifetimes load only when a table is computed, not when it is read from the
# cache (see ccnb._lazy).
churn = lazy_module("ccnb.churn")
clv = lazy_module("ccnb.clv")
cohorts = lazy_module("ccnb.cohorts")
kpi = lazy_module("ccnb.kpi")
summary = lazy_module("ccnb.summary")
_data = lazy_module("ccnb.data")

__all__ = ["CACHE_DIR_VARIABLE", "ClientAnalysis", "Unavailable", "default_calibration_end"]

#: environment variable naming the folder where `ClientAnalysis` keeps its tables
CACHE_DIR_VARIABLE = "CCNB_CACHE_DIR"


def default_calibration_end(first_date: dt.date, observation_end: dt.date) -> dt.date:
    """Hold out the last third of the observed history (used when params give no date)."""
    span = (observation_end - first_date).days
    return first_date + dt.timedelta(days=span - span // 3)


class _Missing(Unavailable):
    """Pickled in place of a table this client cannot have; raised again when loaded."""


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
        """The stored table ``name``, else ``compute()`` stored (an `Unavailable` too)."""
        if self.folder is None:
            return compute()
        path = self.folder / f"{name}.pickle"
        while not self._computing_here and not path.exists() and self._another_is_computing():
            time.sleep(self.POLL_SECONDS)
        if path.exists():
            with path.open("rb") as handle:
                value = pickle.load(handle)
            if isinstance(value, _Missing):
                raise Unavailable(str(value))
            return value
        try:
            value = compute()
        except Unavailable as error:
            self._write(path, _Missing(str(error)))
            raise
        self._write(path, value)
        return value

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


class _stored_table(cached_property):
    """A `functools.cached_property` that is also kept in the analysis' table store."""

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        # once stored in the instance's __dict__, that value shadows this (non-data) descriptor
        value = instance._store.get(self.attrname, lambda: self.func(instance))
        instance.__dict__[self.attrname] = value
        return value


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
        self.params = params
        folder = cache_dir if cache_dir is not None else os.environ.get(CACHE_DIR_VARIABLE) or None
        self._store = _TableStore(folder, cache_key(params) if folder is not None else "")

    #: computed first by :meth:`precompute`: what the first notebook (KPI overview) shows,
    #: so that its kernel, started alongside, waits as little as possible
    FIRST_TABLES = (
        "quality",
        "kpis",
        "active_base",
        "churn_by_quarter",
        "leaky_bucket",
        "early_repeat_by_cohort",
        "predictions",
        "customer_equity",
    )

    @classmethod
    def table_names(cls) -> list[str]:
        """Names of the tables, in the order :meth:`precompute` computes them."""
        tables = [name for name, value in vars(cls).items() if isinstance(value, _stored_table)]
        return [*cls.FIRST_TABLES, *(name for name in tables if name not in cls.FIRST_TABLES)]

    def precompute(self) -> dict[str, str]:
        """Compute every table now (and keep it in the cache folder when there is one).

        Other processes reading the same cache folder meanwhile wait for a table they miss
        rather than compute it too; if this call fails, they compute what is left themselves.

        Returns
        -------
        dict of str to str
            The tables this client cannot have, each with the sentence saying why.
        """
        unavailable = {}
        with self._store.computing_every_table():
            for name in self.table_names():
                try:
                    getattr(self, name)
                except Unavailable as error:
                    unavailable[name] = str(error)
        return unavailable

    # --- data -------------------------------------------------------------------------------

    @cached_property
    def data(self) -> ClientData:
        """Validated transactions, customers and survey (an engine connection: never stored)."""
        return _data.load_client(self.params)

    @_stored_table
    def quality(self) -> DataQuality:
        """The data-quality report."""
        return self.data.quality

    @_stored_table
    def observation_end(self) -> dt.date:
        """Date everything is measured at."""
        return self.data.observation_end

    @cached_property
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
        return summary.customer_summary(
            self.data.transactions,
            observation_end=self.observation_end,
            time_unit=self.params.time_unit,
            bucket=self.params.bucket,
            customers=self.data.customers,
        )

    @property
    def segment_scheme(self) -> rfm.SegmentScheme:
        """The segment rules of the params (built-in scheme or the client's own rules)."""
        settings = self.params.rfm
        scheme = settings.rules if settings.scheme == "custom" else settings.scheme
        return rfm.resolve_scheme(scheme, bins=settings.bins)

    @_stored_table
    def segments(self) -> pd.DataFrame:
        """RFM scores with segment, description and tactic per customer."""
        bins = self.params.rfm.bins
        scores = rfm.score(self.summary, bins=bins)
        return rfm.segment(scores, scheme=self.segment_scheme, bins=bins)

    @_stored_table
    def segment_summary(self) -> pd.DataFrame:
        """Segment sizes, revenue shares, medians and tactics."""
        return rfm.segment_summary(self.segments, scheme=self.segment_scheme)

    @_stored_table
    def survey_with_segments(self) -> pd.DataFrame:
        """Survey answers joined to each customer's segment and channel."""
        survey = self._require_survey()
        columns = ["customer_id", "segment"]
        joined = survey.merge(self.segments[columns], on="customer_id", how="left")
        if "acquisition_channel" in self.summary:
            channels = self.summary[["customer_id", "acquisition_channel"]]
            joined = joined.merge(channels, on="customer_id", how="left")
        return joined

    # --- KPIs, churn and cohorts ------------------------------------------------------------

    @_stored_table
    def kpis(self) -> pd.DataFrame:
        """Headline KPIs for the last two full years (see `ccnb.kpi.kpi_overview`)."""
        return kpi.kpi_overview(
            self.data.transactions,
            observation_end=self.observation_end,
            churn_window_days=self.params.churn_window_days,
            early_repeat_days=self.params.early_repeat_days,
            survey=self.data.survey,
        )

    def _window(self) -> dict:
        return {
            "observation_end": self.observation_end,
            "churn_window_days": self.params.churn_window_days,
        }

    @_stored_table
    def active_base(self) -> pd.DataFrame:
        """Active base, acquisitions, losses and revenue per quarter."""
        return churn.active_base(self.data.transactions, **self._window(), freq="Q")

    @_stored_table
    def churn_by_quarter(self) -> pd.DataFrame:
        """Churn rate per quarter."""
        return churn.churn_rate(self.data.transactions, **self._window(), freq="Q")

    @_stored_table
    def leaky_bucket(self) -> pd.DataFrame:
        """Acquired vs lost customers per quarter."""
        return churn.leaky_bucket(self.data.transactions, **self._window(), freq="Q")

    @_stored_table
    def early_repeat_by_channel(self) -> pd.DataFrame:
        """Early repeat rate per acquisition channel."""
        return churn.early_repeat_rate(
            self.data.transactions,
            observation_end=self.observation_end,
            early_repeat_days=self.params.early_repeat_days,
            by="channel",
            customers=self._require_customers(),
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
        )

    @_stored_table
    def retention(self) -> pd.DataFrame:
        """Monthly retention triangle (tidy)."""
        return cohorts.retention_triangle(
            self.data.transactions, observation_end=self.observation_end, period="M"
        )

    @_stored_table
    def quarterly_retention(self) -> pd.DataFrame:
        """Quarterly retention triangle (tidy), readable for long histories."""
        return cohorts.retention_triangle(
            self.data.transactions, observation_end=self.observation_end, period="Q"
        )

    @_stored_table
    def revenue_cohorts(self) -> pd.DataFrame:
        """Quarterly revenue triangle with cumulative revenue per acquired customer."""
        return cohorts.revenue_triangle(
            self.data.transactions, observation_end=self.observation_end, period="Q"
        )

    @_stored_table
    def layer_cake(self) -> pd.DataFrame:
        """Revenue per quarter by acquisition year."""
        return cohorts.layer_cake(
            self.data.transactions, observation_end=self.observation_end, period="Q"
        )

    @_stored_table
    def seasonal_cohorts(self) -> pd.DataFrame:
        """The last three holiday (Nov-Dec) cohorts followed for a year, on the same ages."""
        first_year = self.quality.transactions.first_date.year
        followed_for_a_year = [
            year
            for year in range(first_year, self.observation_end.year + 1)
            if dt.date(year + 1, 12, 31) <= self.observation_end
        ][-3:]
        if len(followed_for_a_year) < 2:
            raise Unavailable(
                "The history holds fewer than two holiday seasons followed for a full year "
                "afterwards, so there is no earlier season to compare with."
            )
        return cohorts.seasonal_cohorts(
            self.data.transactions,
            observation_end=self.observation_end,
            season_months=(11, 12),
            years=followed_for_a_year,
        )

    @_stored_table
    def cohort_by_channel(self) -> pd.DataFrame:
        """First-year repeat share and revenue per customer by acquisition channel."""
        return cohorts.cohort_by_channel(
            self.data.transactions,
            self._require_customers(),
            observation_end=self.observation_end,
            period=None,
        )

    # --- CLV models ---------------------------------------------------------------------------

    @_stored_table
    def calibration(self) -> pd.DataFrame:
        """Calibration-period inputs and holdout outcomes per customer."""
        return summary.calibration_holdout(
            self.data.transactions,
            calibration_end=self.calibration_end,
            observation_end=self.observation_end,
            time_unit=self.params.time_unit,
            bucket=self.params.bucket,
        )

    @_stored_table
    def repeat_purchases(self) -> pd.DataFrame:
        """Actual repeat purchases per period of the calibration cohort."""
        return summary.repeat_purchases_by_period(
            self.data.transactions,
            calibration_end=self.calibration_end,
            observation_end=self.observation_end,
            time_unit=self.params.time_unit,
        )

    @_stored_table
    def validation(self) -> clv.ValidationResult:
        """Every purchase model fitted on the calibration period and scored on the holdout."""
        try:
            return clv.validate(
                self.calibration,
                actual_repeat_by_period=self.repeat_purchases["repeat_purchases"],
                seed=self.params.seed,
            )
        except (clv.InsufficientDataError, clv.FitError) as error:
            raise Unavailable(f"The purchase models cannot be validated: {error}") from None

    @_stored_table
    def purchase_model(self) -> clv.FittedModel:
        """The chosen purchase model refitted on the whole history."""
        try:
            return clv.fit_purchases(
                self.summary, model=self.validation.chosen, seed=self.params.seed
            )
        except (clv.InsufficientDataError, clv.FitError) as error:
            raise Unavailable(f"The purchase model cannot be fitted: {error}") from None

    @_stored_table
    def spend_model(self) -> clv.FittedModel:
        """Gamma-Gamma spend model on repeat buyers."""
        try:
            return clv.fit_spend(self.summary, seed=self.params.seed)
        except (clv.InsufficientDataError, clv.FitError) as error:
            raise Unavailable(f"The spend model cannot be fitted: {error}") from None

    @_stored_table
    def predictions(self) -> clv.Predictions:
        """P(alive), expected purchases and spend, rCLV with interval, and the draws behind it."""
        return clv.predict(
            self.summary,
            purchases=self.purchase_model,
            spend=self.spend_model,
            gross_margin=self.params.gross_margin,
            discount_rate_annual=self.params.discount_rate_annual,
            horizon_months=self.params.horizon_months,
            time_unit=self.params.time_unit,
            seed=self.params.seed,
        )

    @_stored_table
    def customer_equity(self) -> clv.CustomerEquity:
        """Sum of rCLV with its interval."""
        return clv.customer_equity(self.predictions)

    @_stored_table
    def clv_by_segment(self) -> pd.DataFrame:
        """Residual CLV per RFM segment with intervals."""
        return clv.clv_by(self.predictions, by="segment", segments=self.segments)

    @_stored_table
    def cac_ceiling(self) -> pd.DataFrame:
        """CAC ceiling per acquisition channel next to the actual acquisition cost."""
        return clv.cac_ceiling(
            self.predictions,
            self._require_customers(),
            target_ltv_cac=self.params.budget.target_ltv_cac,
        )

    @_stored_table
    def iso_value(self) -> pd.DataFrame:
        """Residual CLV over a frequency x recency grid at the median customer age."""
        age = float(self.summary["T"].median())
        return clv.iso_value(
            self.purchase_model,
            self.spend_model,
            max_frequency=int(min(self.summary["frequency"].quantile(0.99), 30)),
            max_recency=age,
            T=age,
            recency_step=max(age / 40, 1.0),
            gross_margin=self.params.gross_margin,
            discount_rate_annual=self.params.discount_rate_annual,
            horizon_months=self.params.horizon_months,
            time_unit=self.params.time_unit,
        )

    @_stored_table
    def activation(self) -> pd.DataFrame:
        """Per-customer CLV table for CRM activation."""
        return clv.activation_table(self.predictions, self.segments)

    # --- budget ------------------------------------------------------------------------------

    @_stored_table
    def curve(self) -> budget.ResponseCurve:
        """The response curve from the budget assumptions."""
        settings = self.params.budget
        if settings.response_curve == "hill":
            return budget.HillResponse(settings.spend_scale, settings.hill_shape)
        return budget.ExponentialResponse(settings.spend_scale)

    @_stored_table
    def budget_customers(self) -> pd.DataFrame:
        """Active customers (bought within the churn window) with rCLV, segment and revenue."""
        active = self.summary["days_since_last"] < self.params.churn_window_days
        table = self.summary.loc[active, ["customer_id", "revenue"]]
        table = table.merge(self.segments[["customer_id", "segment"]], on="customer_id")
        table = table.merge(
            self.predictions.table[["customer_id", "rclv", "p_alive"]], on="customer_id"
        )
        return table.reset_index(drop=True)

    def _allocate(self, allocator, **options) -> budget.Allocation:
        settings = self.params.budget
        return allocator(
            self.budget_customers,
            budget=settings.total,
            curve=self.curve,
            max_lift=settings.max_lift,
            **options,
        )

    @_stored_table
    def allocations(self) -> dict[str, budget.Allocation]:
        """Per-customer spend and added value for each strategy."""
        result = {
            "customer-focused": self._allocate(budget.customer_focused),
            "customer-centric (optimal)": self._allocate(budget.customer_centric),
        }
        tier_spend = (
            self.params.budget.tier_spend
            or budget.tiers_from_optimum(result["customer-centric (optimal)"])[
                "spend_per_head"
            ].to_dict()
        )
        result["customer-centric (tiered)"] = self._allocate(
            budget.tiered, spend_per_head=tier_spend
        )
        return result
