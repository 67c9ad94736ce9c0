"""The result objects of the CLV models: fitted models, validation, customer equity.

What each number means: docs/methodology.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ccnb.clv import _btyd
from ccnb.clv.draws import DrawFiller, DrawMatrix
from ccnb.errors import FitError, InsufficientDataError

__all__ = [
    "CustomerEquity",
    "FitError",
    "FittedModel",
    "InsufficientDataError",
    "PredictiveDistribution",
    "Predictions",
    "ValidationResult",
]


@dataclass(eq=False, repr=False)
class FittedModel:
    """A fitted purchase (BG/NBD, MBG/NBD, Pareto/NBD) or spend (Gamma-Gamma) model.

    Attributes
    ----------
    name : str
        ``"bgnbd"``, ``"mbgnbd"``, ``"paretonbd"`` or ``"gammagamma"``.
    label : str
        Display name, e.g. ``"BG/NBD"``.
    params_ : pandas.Series
        Maximum-likelihood estimates; rate parameters (alpha, beta) in the data's time unit.
    standard_errors_ : pandas.Series
        Asymptotic standard errors (delta method from the log-parameters' covariance).
    log_params_covariance_ : pandas.DataFrame
        Inverse Hessian of the total negative log-likelihood (including the penalty) with
        respect to the log-parameters; used for parameter draws.
    log_likelihood_ : float
        Log-likelihood at the estimates, without the penalty, in the data's time unit.
    aic_ : float
        ``2 * k - 2 * log_likelihood_``.
    n_customers_ : int
        Customers the model was fitted on.
    n_unique_ : int
        Distinct data patterns actually evaluated (rows of ``fitter.data``).
    converged_ : bool
        The optimum passed every check (gradient, interior, positive definite Hessian, and
        for Gamma-Gamma q > 1).
    convergence_ : str
        ``"converged"`` or what failed.
    penalizer : float
        lifetimes' ``penalizer_coef`` used.
    fitter : object
        The lifetimes fitter carrying ``params_`` (use it for any lifetimes prediction).
    starts_ : pandas.DataFrame
        One row per optimiser start: ``start``, ``log_likelihood`` (unpenalised, data time
        unit), the parameters where it ended, ``max_gradient`` (per-customer objective) and
        ``optimizer_message`` (scipy). The best start is polished before the checks, so its
        row can differ slightly from ``params_``.
    excluded_ : dict
        Customers left out of the fit by reason (Gamma-Gamma: ``no_repeat_purchase``,
        ``non_positive_spend``); empty for purchase models.
    correlation_ : float or None
        Gamma-Gamma only: Pearson correlation of frequency and spend among the fitted
        customers.
    independence_ok_ : bool or None
        Gamma-Gamma only: ``abs(correlation_) <= INDEPENDENCE_THRESHOLD``.
    """

    name: str
    label: str
    params_: pd.Series
    standard_errors_: pd.Series
    log_params_covariance_: pd.DataFrame
    log_likelihood_: float
    aic_: float
    n_customers_: int
    n_unique_: int
    converged_: bool
    convergence_: str
    penalizer: float
    fitter: object
    starts_: pd.DataFrame = field(default_factory=pd.DataFrame)
    excluded_: dict = field(default_factory=dict)
    correlation_: float | None = None
    independence_ok_: bool | None = None

    @property
    def summary(self) -> pd.DataFrame:
        """Parameter table.

        Returns
        -------
        pandas.DataFrame
            Indexed by parameter name: ``coef`` (estimate), ``se`` (standard error),
            ``lower 95%`` and ``upper 95%``: a Wald interval on the log scale,
            ``exp(log(coef) +/- 1.96 * se / coef)``, which keeps the positive parameters
            positive.
        """
        log_se = np.sqrt(np.diag(self.log_params_covariance_.to_numpy(float)))
        return pd.DataFrame(
            {
                "coef": self.params_,
                "se": self.standard_errors_,
                "lower 95%": self.params_ * np.exp(-1.959964 * log_se),
                "upper 95%": self.params_ * np.exp(1.959964 * log_se),
            }
        )

    def __repr__(self) -> str:
        params = ", ".join(f"{name}={value:.4g}" for name, value in self.params_.items())
        status = "converged" if self.converged_ else f"NOT converged ({self.convergence_})"
        return (
            f"<FittedModel {self.label}: {params}; log-likelihood {self.log_likelihood_:.2f}, "
            f"{self.n_customers_} customers, {status}>"
        )


@dataclass(eq=False, repr=False)
class ValidationResult:
    """Outcome of :func:`validate`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate model (index: model name), columns documented in
        :func:`validate`.
    chosen : str
        Name of the chosen model (see :func:`validate` for the rule).
    fitted : dict of str to FittedModel
        Calibration-period fits of the models that converged.
    conditional_expectations : dict of str to pandas.DataFrame
        :func:`conditional_expectations` per fitted model.
    tracking : dict of str to pandas.DataFrame
        :func:`tracking` per fitted model (empty without ``actual_repeat_by_period``).
    failures : dict of str to str
        Why a candidate could not be fitted.
    rule : str
        The choice rule, in words.
    """

    table: pd.DataFrame
    chosen: str
    fitted: dict
    conditional_expectations: dict
    tracking: dict
    failures: dict
    rule: str

    def __repr__(self) -> str:
        label = _btyd.MODEL_SPECS[self.chosen].label
        return (
            f"<ValidationResult: {label} chosen among {len(self.table)} candidates "
            f"({len(self.failures)} failed)>"
        )


@dataclass(frozen=True)
class CustomerEquity:
    """Customer equity with its interval (see :func:`customer_equity`).

    Attributes
    ----------
    value, low, high : float
        Customer equity (existing plus new customers) and its interval bounds.
    existing_customers, existing_low, existing_high : float
        Sum of rCLV over the customers given, with interval.
    new_customers, new_low, new_high : float
        Discounted value of the expected new customers (0 when no volumes are given).
    top_decile_share : float
        Share of the existing customers' equity held by the top 10% by rCLV.
    n_customers : int
        Existing customers summed.
    interval : float
        Coverage of the intervals (e.g. 0.9 for 5% to 95%).
    uncertainty : str
        What the intervals include: ``"predictive"`` (parameter uncertainty and each
        customer's own randomness) or ``"parameter"`` (parameter uncertainty only).
    """

    value: float
    low: float
    high: float
    existing_customers: float
    existing_low: float
    existing_high: float
    new_customers: float
    new_low: float
    new_high: float
    top_decile_share: float
    n_customers: int
    interval: float
    uncertainty: str = "predictive"

    def to_frame(self) -> pd.DataFrame:
        """Return the components as a table.

        Returns
        -------
        pandas.DataFrame
            Index ``existing_customers``, ``new_customers``, ``total``; columns ``value``,
            ``low``, ``high``.
        """
        return pd.DataFrame(
            {
                "value": [self.existing_customers, self.new_customers, self.value],
                "low": [self.existing_low, self.new_low, self.low],
                "high": [self.existing_high, self.new_high, self.high],
            },
            index=pd.Index(["existing_customers", "new_customers", "total"], name="component"),
        )


@dataclass(frozen=True, eq=False)
class Predictions:
    """What :func:`predict` returns: the per-customer table and the draws behind it.

    The cuts (:func:`customer_equity`, :func:`clv_by`, :func:`clv_by` by channel) take this object,
    because intervals for a group cannot be rebuilt from per-customer bounds: they need the
    draws. Grouping columns come from any table with ``customer_id`` (a segment table, or
    ``predictions.table`` merged with one the pandas way). It round-trips to disk with
    :meth:`to_parquet` / :meth:`read_parquet`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per customer: ``customer_id``, ``p_alive``, ``p_no_purchase``,
        ``expected_purchases``, ``purchases_low``, ``purchases_high``, ``expected_spend``,
        ``rclv``, ``rclv_low``, ``rclv_high``, ``rclv_param_low``, ``rclv_param_high``,
        ``decile`` (see :func:`predict`).
    rclv_draws : DrawMatrix
        Realised rCLV per joint draw (a parameter draw and one draw of every customer's
        future under it), float32, shape (draws, customers) in the table's order; zero rows
        when predict ran without draws. Sums over customers are draws of group totals. In
        memory, or in a file read a few draws at a time (``numpy.asarray`` loads it all).
    rclv_parameter_draws : DrawMatrix
        Expected rCLV under each parameter draw (parameter uncertainty only), same shape.
    monthly_margin : numpy.ndarray
        Expected gross margin per customer and month of the horizon (undiscounted), float32,
        shape (customers, horizon_months).
    new_customer_value : float
        The model's value of a customer acquired today (discounted expected repeat-purchase
        margin over the horizon).
    new_customer_draws : numpy.ndarray
        That value per parameter draw.
    settings : dict
        The options of :func:`predict` and the draws actually used (``n_draws``).
    """

    table: pd.DataFrame
    rclv_draws: DrawMatrix
    rclv_parameter_draws: DrawMatrix
    monthly_margin: np.ndarray
    new_customer_value: float
    new_customer_draws: np.ndarray
    settings: dict

    def __post_init__(self) -> None:
        n = len(self.table)
        for name in ("rclv_draws", "rclv_parameter_draws"):
            draws = getattr(self, name)
            if not isinstance(draws, DrawMatrix):
                draws = DrawMatrix(draws)
                object.__setattr__(self, name, draws)
            if draws.shape[1] != n:
                raise ValueError(f"{name} must have one column per customer ({n})")
        if self.rclv_draws.shape != self.rclv_parameter_draws.shape:
            raise ValueError("rclv_draws and rclv_parameter_draws must come from the same draws")
        if self.monthly_margin.shape[0] != n:
            raise ValueError(f"monthly_margin must have one row per customer ({n})")
        if not pd.Index(self.table["customer_id"]).is_unique:
            raise ValueError("customer ids must be unique in the predictions")

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        return (
            f"<Predictions: {len(self)} customers, {self.rclv_draws.shape[0]} draws, "
            f"{self.settings.get('horizon_months')} months>"
        )

    def _repr_html_(self) -> str:
        return self.table._repr_html_()

    @property
    def n_draws(self) -> int:
        """Number of joint draws behind the intervals (0: no interval)."""
        return int(self.rclv_draws.shape[0])

    def positions(self, customer_ids) -> np.ndarray:
        """Row positions of ``customer_ids`` in the table (and columns in the draws)."""
        index = pd.Index(self.table["customer_id"])
        positions = index.get_indexer(pd.Index(customer_ids))
        if np.any(positions < 0):
            unknown = pd.Index(customer_ids)[positions < 0][:5].tolist()
            raise ValueError(f"customer ids {unknown} are not in these predictions")
        return positions

    def select(self, customer_ids) -> Predictions:
        """The predictions of some customers only (e.g. one country), draws included.

        Parameters
        ----------
        customer_ids : array-like
            Ids to keep, in the order wanted; each must be in the table.

        Returns
        -------
        Predictions
            A new object; deciles are those of the full population.
        """
        positions = self.positions(customer_ids)
        return Predictions(
            table=self.table.iloc[positions].reset_index(drop=True),
            rclv_draws=self.rclv_draws.take(positions),
            rclv_parameter_draws=self.rclv_parameter_draws.take(positions),
            monthly_margin=self.monthly_margin[positions],
            new_customer_value=self.new_customer_value,
            new_customer_draws=self.new_customer_draws,
            settings=dict(self.settings),
        )

    def to_parquet(self, path, *, block: int = 100_000) -> None:
        """Write everything to one parquet file, ``block`` customers per row group.

        Parameters
        ----------
        path : str or pathlib.Path
            File to write. Draw ``k`` is column ``_draw_k`` (realised) and ``_pdraw_k``
            (parameter only), month ``m`` of the margin is ``_margin_m``; the settings and
            the new-customer value are in the file's metadata.
        block : int, default 100,000
            Customers per row group: the memory needed is that many rows, whatever the total.
        """
        import json

        import pyarrow as pa
        import pyarrow.parquet as pq

        described = {
            "table_columns": list(self.table.columns),
            "n_draws": self.n_draws,
            "n_months": int(self.monthly_margin.shape[1]),
            "new_customer_value": self.new_customer_value,
            "new_customer_draws": self.new_customer_draws.tolist(),
            "settings": self.settings,
        }
        writer = schema = None
        n = len(self.table)
        try:
            for start in range(0, max(n, 1), block):
                rows = slice(start, min(start + block, n))
                columns = dict(self.table.iloc[rows].reset_index(drop=True).items())
                for prefix, draws in (
                    ("_draw", self.rclv_draws),
                    ("_pdraw", self.rclv_parameter_draws),
                ):
                    values = draws.column_block(rows)
                    columns.update({f"{prefix}_{k}": row for k, row in enumerate(values)})
                margins = self.monthly_margin[rows]
                columns.update({f"_margin_{m}": margins[:, m] for m in range(margins.shape[1])})
                arrow = pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False)
                if writer is None:
                    metadata = {
                        **(arrow.schema.metadata or {}),
                        b"ccnb.predictions": json.dumps(described),
                    }
                    schema = arrow.schema.with_metadata(metadata)
                    writer = pq.ParquetWriter(path, schema)
                writer.write_table(arrow.cast(schema))
        finally:
            if writer is not None:
                writer.close()

    @classmethod
    def read_parquet(cls, path, *, draws_folder=None) -> Predictions:
        """Read predictions written by :meth:`to_parquet`, a row group at a time.

        Parameters
        ----------
        path : str or pathlib.Path
            The file.
        draws_folder : str or pathlib.Path, optional
            Put the draws in files there (see `ccnb.clv.predict`) instead of memory.

        Returns
        -------
        Predictions
            Equal to the object written.
        """
        import json

        import pyarrow.parquet as pq

        file = pq.ParquetFile(path)
        raw = (file.schema_arrow.metadata or {}).get(b"ccnb.predictions")
        if raw is None:
            raise ValueError(f"{path} was not written by Predictions.to_parquet")
        described = json.loads(raw)
        n_draws, n = described["n_draws"], file.metadata.num_rows
        table = file.read(columns=described["table_columns"]).to_pandas()
        months = [f"_margin_{m}" for m in range(described["n_months"])]
        margins = np.empty((n, len(months)), dtype=np.float32)
        names = {
            prefix: [f"{prefix}_{k}" for k in range(n_draws)] for prefix in ("_draw", "_pdraw")
        }
        folder = None if draws_folder is None else Path(draws_folder)
        filling = {
            prefix: DrawFiller(
                (n_draws, n),
                path=None if folder is None else folder / f"{prefix}-{uuid.uuid4().hex}.float32",
            )
            for prefix in names
        }
        start = 0
        for group in range(file.num_row_groups):
            part = file.read_row_group(group, columns=months + names["_draw"] + names["_pdraw"])
            rows = slice(start, start + part.num_rows)
            margins[rows] = np.column_stack(
                [part.column(name).to_numpy() for name in months]
            ).reshape(part.num_rows, len(months))
            for prefix, columns in names.items():
                filling[prefix].put(
                    rows,
                    np.vstack([part.column(name).to_numpy() for name in columns])
                    if columns
                    else np.empty((0, part.num_rows), dtype=np.float32),
                )
            start = rows.stop
        return cls(
            table=table,
            rclv_draws=filling["_draw"].finish(),
            rclv_parameter_draws=filling["_pdraw"].finish(),
            monthly_margin=margins,
            new_customer_value=float(described["new_customer_value"]),
            new_customer_draws=np.asarray(described["new_customer_draws"], dtype=float),
            settings=described["settings"],
        )


@dataclass(frozen=True, eq=False)
class PredictiveDistribution:
    """What :func:`predictive_distribution` returns: per-customer intervals and the joint draws.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per customer: ``customer_id``, ``p_no_purchase``, ``expected_purchases``,
        ``purchases_low``, ``purchases_high`` and, with a spend model, ``expected_value``,
        ``value_low``, ``value_high``.
    purchase_draws : numpy.ndarray
        Purchases per draw, float32, shape (draws, customers) in the table's order.
    value_draws : numpy.ndarray or None
        Spend per draw, same shape; None without a spend model.
    settings : dict
        The options used and the valid draws (``n_draws``).
    """

    table: pd.DataFrame
    purchase_draws: np.ndarray
    value_draws: np.ndarray | None
    settings: dict

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        what = "own randomness and parameters"
        if not self.settings.get("own_randomness", True):
            what = "parameters only"
        elif not self.settings.get("parameter_uncertainty", True):
            what = "own randomness only"
        return (
            f"<PredictiveDistribution: {len(self)} customers, {self.settings['n_draws']} draws "
            f"({what})>"
        )

    def total(self, *, value: bool = False, members=None) -> tuple[float, float, float]:
        """Mean and central interval of the total over customers (all, or ``members``).

        Parameters
        ----------
        value : bool, default False
            Total spend instead of purchases (needs a spend model).
        members : array-like of int, optional
            Row positions of the customers to add up (a segment, a decile).

        Returns
        -------
        tuple of float
            ``(mean, low, high)`` of the draws' totals, at ``settings["interval"]``.
        """
        draws = self.value_draws if value else self.purchase_draws
        if draws is None:
            raise ValueError("these draws have no spend model: total(value=True) is undefined")
        if members is not None:
            draws = draws[:, np.asarray(members)]
        totals = draws.sum(axis=1, dtype=float)
        if len(totals) == 0:
            return np.nan, np.nan, np.nan
        level = self.settings["interval"]
        low, high = np.quantile(totals, [(1 - level) / 2, (1 + level) / 2])
        return float(totals.mean()), float(low), float(high)
