"""The result objects of the CLV models: fitted models, validation, customer equity."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ccnb.clv import _btyd
from ccnb.errors import FitError, InsufficientDataError

__all__ = ["CustomerEquity", "FitError", "FittedModel", "InsufficientDataError", "ValidationResult"]


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


class _PredictionContext(dict):
    """What :func:`predict` attaches to its output in ``DataFrame.attrs``.

    Per-draw rCLV (float32, draws x customers), the expected monthly margin per customer, the
    model-based value of a new customer, and the settings. pandas deep-copies ``attrs`` on most
    operations; this object is read-only, so copies return the same object. It is an empty
    ``dict`` to the outside (data in attributes) so that parquet/feather writers, which store
    ``attrs`` as JSON, write ``{}`` instead of failing; equality is identity so that pandas
    keeps it through ``concat`` only for frames from the same prediction.
    """

    __hash__ = None

    def __init__(self, customer_ids, rclv_draws, monthly_margin, new_customer, settings):
        super().__init__()
        self.customer_ids = pd.Index(customer_ids)
        self.rclv_draws = rclv_draws
        self.monthly_margin = monthly_margin
        self.new_customer = new_customer  # (point, draws array)
        self.settings = settings

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def __repr__(self) -> str:
        return (
            f"<ccnb.clv predictions: {len(self.customer_ids)} customers, "
            f"{self.rclv_draws.shape[0]} parameter draws>"
        )

    def positions(self, customer_ids) -> np.ndarray:
        positions = self.customer_ids.get_indexer(pd.Index(customer_ids))
        if np.any(positions < 0):
            unknown = pd.Index(customer_ids)[positions < 0][:5].tolist()
            raise ValueError(
                f"customer ids {unknown} are not in the predictions these draws belong to"
            )
        return positions
