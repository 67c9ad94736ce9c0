"""Customer lifetime value: simple CLV, BTYD and Gamma-Gamma models, validation, rCLV.

Implements the DESIGN.md definitions *Simple CLV*, *Predictive CLV*, *Model choice* and *CAC
ceiling* on top of lifetimes' fitters (estimated on distinct customer patterns, see
:func:`fit_purchases`); metric code only, figures live in ``ccnb.plots``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ccnb import _btyd

__all__ = [
    "MIN_CUSTOMERS",
    "MIN_REPEAT_BUYERS",
    "MIN_SPEND_CUSTOMERS",
    "INDEPENDENCE_THRESHOLD",
    "InsufficientDataError",
    "FitError",
    "FittedModel",
    "ValidationResult",
    "CustomerEquity",
    "simple_clv",
    "naive_clv",
    "fit_purchases",
    "fit_spend",
    "refit",
    "validate",
    "conditional_expectations",
    "tracking",
    "expected_purchases",
    "predict",
    "customer_equity",
    "clv_by",
    "cac_ceiling",
    "iso_value",
    "activation_table",
]

#: fewest customers a purchase model is fitted on (four parameters need a population)
MIN_CUSTOMERS = 50
#: fewest repeat buyers (frequency > 0) a purchase model is fitted on; below this the
#: purchase-rate and dropout parameters are not identified in practice
MIN_REPEAT_BUYERS = 20
#: fewest repeat buyers with positive spend the Gamma-Gamma model is fitted on
MIN_SPEND_CUSTOMERS = 20
#: |Pearson r| between frequency and spend above which Gamma-Gamma's independence is flagged
INDEPENDENCE_THRESHOLD = 0.3
#: model time units per month, for time_unit D (days), W (days / 7), M (days / (365.25 / 12))
UNITS_PER_MONTH = {"D": 365.25 / 12, "W": 365.25 / 12 / 7, "M": 1.0}

PURCHASE_MODELS = _btyd.PURCHASE_MODELS
_DEFAULT_STARTS = {"bgnbd": 1, "mbgnbd": 1, "paretonbd": 3}
_CONTEXT_KEY = "ccnb.clv"


# ---------------------------------------------------------------------------------------------
# errors and result objects


class InsufficientDataError(ValueError):
    """Too little data to fit a model; names the requirement and the minimum.

    Attributes
    ----------
    model : str
        Model that cannot be fitted.
    requirement : str
        What is counted (e.g. ``"repeat buyers (frequency > 0)"``).
    minimum : int
        The minimum ccnb requires.
    observed : int
        What the data has.
    """

    def __init__(self, model: str, requirement: str, minimum: int, observed: int):
        self.model = model
        self.requirement = requirement
        self.minimum = minimum
        self.observed = observed
        super().__init__(
            f"{model} needs at least {minimum} {requirement}; the data has {observed}. "
            "Use a longer observation period or skip this model."
        )


class FitError(RuntimeError):
    """A model fit did not converge to a usable optimum.

    Attributes
    ----------
    fitted : FittedModel
        The best attempt, with ``converged_`` False and ``convergence_`` saying why.
    """

    def __init__(self, fitted: FittedModel, message: str | None = None):
        self.fitted = fitted
        if message is None:
            message = (
                f"{fitted.label} fit on {fitted.n_customers_} customers did not converge: "
                f"{fitted.convergence_}"
            )
        super().__init__(
            f"{message}. This usually means the data cannot identify the model (for example "
            "too short a history to see customers drop out): try another model, a longer "
            "history, or a small penalizer such as 0.001."
        )


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


# ---------------------------------------------------------------------------------------------
# simple CLV


def simple_clv(annual_revenue, lifespan_years, acquisition_cost):
    """Simple CLV (the brief's formula): annual revenue x lifespan in years - acquisition cost.

    Parameters
    ----------
    annual_revenue : float or array-like
        Revenue per customer per year.
    lifespan_years : float or array-like
        Expected customer lifespan in years (e.g. ``1 / annual churn rate``).
    acquisition_cost : float or array-like
        Cost of acquiring the customer.

    Returns
    -------
    float or array-like
        ``annual_revenue * lifespan_years - acquisition_cost`` (no margin, no discounting):
        ``simple_clv(1000, 10, 1000) == 9000``.
    """
    if np.any(np.asarray(lifespan_years, dtype=float) < 0):
        raise ValueError(f"lifespan_years must be >= 0, got {lifespan_years}")
    return annual_revenue * lifespan_years - acquisition_cost


def _per_group(value, groups: pd.Series, name: str) -> pd.Series:
    """Broadcast a scalar, or look up a mapping / Series by group label."""
    if value is None:
        return pd.Series(0.0, index=groups.index)
    if isinstance(value, Mapping | pd.Series):
        mapping = pd.Series(value) if isinstance(value, Mapping) else value
        missing = sorted(set(groups.dropna().unique()) - set(mapping.index), key=str)
        if missing:
            raise ValueError(f"{name} has no value for group(s) {missing[:5]}")
        return groups.map(mapping).astype(float)
    return pd.Series(float(value), index=groups.index)


def naive_clv(
    summary: pd.DataFrame,
    *,
    annual_churn_rate,
    acquisition_cost=None,
    by: str | None = None,
    observation_end=None,
    min_years_observed: float = 1.0,
) -> pd.DataFrame:
    """Naive CLV from observed revenue and an assumed churn rate (Simple CLV, per customer).

    NAIVE: no purchase model, no margin, no discounting. The annual revenue of a customer is
    their net revenue divided by the years they have been observed (first purchase to
    observation end, at least ``min_years_observed`` so that recent customers are not
    extrapolated from a few weeks); the lifespan is ``1 / annual_churn_rate`` years;
    ``naive_clv = naive_annual_revenue * naive_lifespan_years - acquisition_cost``. Show it
    next to the model-based rCLV, never instead of it.

    Parameters
    ----------
    summary : pandas.DataFrame
        Customer summary with ``customer_id``, ``revenue``, ``first_purchase`` and either
        ``observation_end`` given here or ``last_purchase`` and ``days_since_last`` (the
        observation end is then ``last_purchase + days_since_last`` days).
    annual_churn_rate : float or mapping
        Share of customers lost per year, in (0, 1]; with ``by``, a mapping or Series from
        group to rate is accepted.
    acquisition_cost : float, mapping or None
        Cost per acquired customer (mapping by group with ``by``); None counts 0.
    by : str, optional
        Column to aggregate by (e.g. ``"acquisition_channel"``); None gives one row per
        customer.
    observation_end : date-like, optional
        End of observation; default derived from ``last_purchase + days_since_last``.
    min_years_observed : float
        Floor on the years observed per customer.

    Returns
    -------
    pandas.DataFrame
        Per customer (``by=None``): ``customer_id``, ``revenue``, ``years_observed`` (floored),
        ``naive_annual_revenue``, ``naive_lifespan_years``, ``acquisition_cost``,
        ``naive_clv``. With ``by``: the ``by`` column, ``n_customers``, ``revenue`` (sum),
        ``customer_years`` (sum of floored years observed), ``naive_annual_revenue`` (revenue /
        customer_years), ``naive_lifespan_years``, ``acquisition_cost``, ``naive_clv``.
    """
    needed = ["customer_id", "revenue", "first_purchase"]
    if observation_end is None:
        needed += ["last_purchase", "days_since_last"]
    _require_columns(summary, needed, "naive_clv")
    first = pd.to_datetime(summary["first_purchase"])
    if observation_end is None:
        end = pd.to_datetime(summary["last_purchase"]) + pd.to_timedelta(
            summary["days_since_last"].astype(float), unit="D"
        )
    else:
        end = pd.Series(pd.Timestamp(observation_end), index=summary.index)
    days_observed = (end - first) / pd.Timedelta(days=1)
    if np.any(days_observed < 0):
        raise ValueError("observation_end is before some customers' first_purchase")
    years = np.maximum(days_observed / 365.25, min_years_observed)
    groups = summary[by] if by is not None else pd.Series("all", index=summary.index)
    churn = _per_group(annual_churn_rate, groups, "annual_churn_rate")
    if np.any((churn <= 0) | (churn > 1)):
        raise ValueError("annual_churn_rate must be in (0, 1]")
    cost = _per_group(acquisition_cost, groups, "acquisition_cost")
    if by is None:
        annual = summary["revenue"].astype(float) / years
        lifespan = 1.0 / churn
        return pd.DataFrame(
            {
                "customer_id": summary["customer_id"].to_numpy(),
                "revenue": summary["revenue"].astype(float).to_numpy(),
                "years_observed": years.to_numpy(),
                "naive_annual_revenue": annual.to_numpy(),
                "naive_lifespan_years": lifespan.to_numpy(),
                "acquisition_cost": cost.to_numpy(),
                "naive_clv": simple_clv(annual, lifespan, cost).to_numpy(),
            }
        )
    frame = pd.DataFrame(
        {
            by: groups,
            "revenue": summary["revenue"].astype(float),
            "customer_years": years,
            "churn": churn,
            "cost": cost,
        }
    )
    table = frame.groupby(by, dropna=False, sort=True).agg(
        n_customers=("revenue", "size"),
        revenue=("revenue", "sum"),
        customer_years=("customer_years", "sum"),
        churn=("churn", "first"),
        acquisition_cost=("cost", "first"),
    )
    table["naive_annual_revenue"] = table["revenue"] / table["customer_years"]
    table["naive_lifespan_years"] = 1.0 / table.pop("churn")
    table["naive_clv"] = simple_clv(
        table["naive_annual_revenue"], table["naive_lifespan_years"], table["acquisition_cost"]
    )
    columns = ["n_customers", "revenue", "customer_years", "naive_annual_revenue"]
    columns += ["naive_lifespan_years", "acquisition_cost", "naive_clv"]
    return table[columns].reset_index()


# ---------------------------------------------------------------------------------------------
# input handling


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{where} needs column(s) {missing}; the frame has {list(frame.columns)}")


def _customer_ids(frame: pd.DataFrame) -> np.ndarray:
    """The ``customer_id`` column, else the index (lifetimes' frames are indexed by it)."""
    if "customer_id" in frame.columns:
        return frame["customer_id"].to_numpy()
    return frame.index.to_numpy()


def _btyd_inputs(frame: pd.DataFrame, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """frequency, recency, T from calibration (``*_cal``) or summary columns, checked."""
    if {"frequency_cal", "recency_cal", "T_cal"} <= set(frame.columns):
        names = ("frequency_cal", "recency_cal", "T_cal")
    elif {"frequency", "recency", "T"} <= set(frame.columns):
        names = ("frequency", "recency", "T")
    else:
        raise ValueError(
            f"{where} needs columns frequency, recency, T (customer summary) or frequency_cal, "
            f"recency_cal, T_cal (calibration frame); the frame has {list(frame.columns)}"
        )
    frequency, recency, age = (frame[name].to_numpy(dtype=float) for name in names)
    _check_btyd(frame, frequency, recency, age, names)
    return frequency, recency, age


def _check_btyd(frame, frequency, recency, age, names) -> None:
    checks = [
        (~np.isfinite(frequency) | ~np.isfinite(recency) | ~np.isfinite(age), "missing values"),
        (frequency < 0, f"negative {names[0]}"),
        (frequency != np.round(frequency), f"non-integer {names[0]}"),
        (recency < 0, f"negative {names[1]}"),
        (recency > age + 1e-9, f"{names[1]} > {names[2]}"),
        ((frequency == 0) & (recency != 0), f"{names[1]} != 0 where {names[0]} == 0"),
    ]
    for bad, problem in checks:
        if np.any(bad):
            ids = _customer_ids(frame)  # only on failure: strings are slow to convert
            raise ValueError(
                f"{int(bad.sum())} customer(s) with {problem} (e.g. {ids[bad][:3].tolist()}); "
                "BTYD inputs follow lifetimes' conventions (see ccnb.summary)"
            )


def _check_minimums(label: str, frequency: np.ndarray) -> None:
    if len(frequency) < MIN_CUSTOMERS:
        raise InsufficientDataError(label, "customers", MIN_CUSTOMERS, len(frequency))
    repeat = int(np.sum(frequency > 0))
    if repeat < MIN_REPEAT_BUYERS:
        raise InsufficientDataError(
            label, "repeat buyers (frequency > 0)", MIN_REPEAT_BUYERS, repeat
        )


def _to_fitted(model_fit: _btyd.ModelFit, n_customers: int, penalizer: float) -> FittedModel:
    spec, result = model_fit.spec, model_fit.estimate
    log_se = np.sqrt(np.clip(np.diag(model_fit.log_params_covariance.to_numpy(float)), 0, None))
    return FittedModel(
        name=spec.name,
        label=spec.label,
        params_=model_fit.params.copy(),
        standard_errors_=pd.Series(
            model_fit.params.to_numpy() * log_se, index=model_fit.params.index
        ),
        log_params_covariance_=model_fit.log_params_covariance,
        log_likelihood_=model_fit.log_likelihood,
        aic_=2 * len(spec.param_names) - 2 * model_fit.log_likelihood,
        n_customers_=int(n_customers),
        n_unique_=int(result.n_rows),
        converged_=bool(result.converged),
        convergence_=result.message,
        penalizer=float(penalizer),
        fitter=model_fit.fitter,
        starts_=result.starts,
    )


# ---------------------------------------------------------------------------------------------
# fitting


def fit_purchases(
    data: pd.DataFrame,
    *,
    model: str = "bgnbd",
    penalizer: float = 0.0,
    n_starts: int | None = None,
    seed: int = 0,
) -> FittedModel:
    """Fit a purchase model (BG/NBD, MBG/NBD or Pareto/NBD) with lifetimes' likelihood.

    The likelihood is lifetimes' (ccnb's implementation with analytic derivatives, equal to
    lifetimes' function), evaluated once per distinct (frequency, recency, T) with the number
    of customers sharing it as weight (customers with one purchase and the same first day are
    one row), which gives the estimates of a fit on every row in a fraction of the time. The
    optimiser (L-BFGS-B on the log-parameters from ``n_starts`` seeded starts, the best
    polished by Newton steps) keeps the best log-likelihood and checks the optimum:
    gradient near zero, parameters inside the search bounds, Hessian positive definite. When
    the best optimum fails a check, up to three more seeded starts are tried before
    :class:`FitError` is raised. ``starts_`` lists every start's log-likelihood.

    Parameters
    ----------
    data : pandas.DataFrame
        Customer summary (``frequency``, ``recency``, ``T``) or calibration frame
        (``frequency_cal``, ``recency_cal``, ``T_cal``; used when present), lifetimes'
        conventions, in the model's time unit.
    model : {"bgnbd", "mbgnbd", "paretonbd"}
        Purchase model.
    penalizer : float
        lifetimes' ``penalizer_coef`` (L2 on the parameters in lifetimes' scaled time, with
        lifetimes' own scaling per model), so results equal lifetimes' fit on every row.
    n_starts : int, optional
        Optimiser starts; start 1 is lifetimes' default, the others seeded random. Default 1
        for BG/NBD and MBG/NBD (well-behaved likelihoods), 3 for Pareto/NBD (long flat
        ridges).
    seed : int
        Seed for the extra starting points.

    Returns
    -------
    FittedModel
        Converged fit; ``fitter`` is the lifetimes fitter for predictions.

    Raises
    ------
    InsufficientDataError
        Fewer than ``MIN_CUSTOMERS`` customers or ``MIN_REPEAT_BUYERS`` repeat buyers.
    FitError
        The optimum failed a check; ``error.fitted`` holds the attempt.
    """
    if model not in PURCHASE_MODELS:
        raise ValueError(f"model must be one of {PURCHASE_MODELS}, got {model!r}")
    spec = _btyd.MODEL_SPECS[model]
    frequency, recency, age = _btyd_inputs(data, "fit_purchases")
    _check_minimums(spec.label, frequency)
    if np.max(age) <= 0:
        raise ValueError("every customer has T == 0: nothing was observed after first purchases")
    rows, weights, _ = _btyd.condense({"frequency": frequency, "recency": recency, "T": age})
    starts = _DEFAULT_STARTS[model] if n_starts is None else int(n_starts)
    if starts < 1:
        raise ValueError(f"n_starts must be >= 1, got {n_starts}")
    model_fit = _btyd.fit_model(
        spec, rows, weights, penalizer=penalizer, n_starts=starts, seed=seed
    )
    fitted = _to_fitted(model_fit, len(frequency), penalizer)
    if not fitted.converged_:
        raise FitError(fitted)
    return fitted


def fit_spend(
    data: pd.DataFrame,
    *,
    penalizer: float = 0.0,
    n_starts: int = 1,
    seed: int = 0,
) -> FittedModel:
    """Fit the Gamma-Gamma spend model on repeat buyers with positive spend.

    Customers with ``frequency == 0`` (no repeat purchase, so no spend observation) or
    ``monetary_value <= 0`` (net returns) are excluded and counted in ``excluded_``. Gamma-Gamma
    assumes spend is independent of purchase frequency: ``correlation_`` is the Pearson
    correlation of frequency and monetary value among the fitted customers and
    ``independence_ok_`` is False when ``abs(correlation_) > INDEPENDENCE_THRESHOLD`` (0.3).

    Parameters
    ----------
    data : pandas.DataFrame
        Customer summary (``frequency``, ``monetary_value``) or calibration frame
        (``frequency_cal``, ``monetary_value_cal``; used when present).
    penalizer : float
        lifetimes' ``penalizer_coef``.
    n_starts : int
        Optimiser starts (start 1 is lifetimes' default; more are added on failure as in
        :func:`fit_purchases`).
    seed : int
        Seed for the extra starting points.

    Returns
    -------
    FittedModel
        Parameters p, q, v. The population mean spend is ``v * p / (q - 1)``.

    Raises
    ------
    InsufficientDataError
        Fewer than ``MIN_SPEND_CUSTOMERS`` repeat buyers with positive spend.
    FitError
        The optimum failed a check, or q <= 1 (mean spend undefined).
    """
    if {"frequency_cal", "monetary_value_cal"} <= set(data.columns):
        names = ("frequency_cal", "monetary_value_cal")
    else:
        names = ("frequency", "monetary_value")
        _require_columns(data, names, "fit_spend")
    frequency = data[names[0]].to_numpy(float)
    spend = data[names[1]].to_numpy(float)
    no_repeat = ~(frequency > 0)
    non_positive = ~no_repeat & ~(spend > 0)  # includes missing spend
    used = ~no_repeat & ~non_positive
    excluded = {
        "no_repeat_purchase": int(no_repeat.sum()),
        "non_positive_spend": int(non_positive.sum()),
    }
    spec = _btyd.MODEL_SPECS["gammagamma"]
    if used.sum() < MIN_SPEND_CUSTOMERS:
        raise InsufficientDataError(
            spec.label,
            "repeat buyers with positive spend",
            MIN_SPEND_CUSTOMERS,
            int(used.sum()),
        )
    rows, weights, _ = _btyd.condense({"frequency": frequency[used], "monetary_value": spend[used]})
    model_fit = _btyd.fit_model(
        spec, rows, weights, penalizer=penalizer, n_starts=n_starts, seed=seed
    )
    fitted = _to_fitted(model_fit, int(used.sum()), penalizer)
    if fitted.params_["q"] <= 1:
        problem = "q <= 1, so the population mean spend v * p / (q - 1) is undefined"
        fitted.converged_ = False
        fitted.convergence_ = (
            problem if fitted.convergence_ == "converged" else f"{fitted.convergence_}; {problem}"
        )
    if np.std(frequency[used]) > 0 and np.std(spend[used]) > 0:
        correlation = float(np.corrcoef(frequency[used], spend[used])[0, 1])
    else:
        correlation = float("nan")
    fitted.excluded_ = excluded
    fitted.correlation_ = correlation
    fitted.independence_ok_ = bool(abs(correlation) <= INDEPENDENCE_THRESHOLD)
    if not fitted.converged_:
        raise FitError(fitted)
    return fitted


def refit(
    summary: pd.DataFrame,
    validation: ValidationResult,
    *,
    penalizer: float = 0.0,
    n_starts: int | None = None,
    seed: int = 0,
) -> FittedModel:
    """Fit the model chosen by :func:`validate` on the whole period.

    Parameters
    ----------
    summary : pandas.DataFrame
        Customer summary over the whole observation period.
    validation : ValidationResult
        Output of :func:`validate`; its ``chosen`` model is fitted.
    penalizer, n_starts, seed
        As in :func:`fit_purchases`.

    Returns
    -------
    FittedModel
        See :func:`fit_purchases`.
    """
    return fit_purchases(
        summary, model=validation.chosen, penalizer=penalizer, n_starts=n_starts, seed=seed
    )


# ---------------------------------------------------------------------------------------------
# validation


def _holdout_predictions(fitted: FittedModel, calibration: pd.DataFrame) -> np.ndarray:
    frequency, recency, age = _btyd_inputs(calibration, "validation")
    duration = calibration["duration_holdout"].to_numpy(float)
    rows, _, inverse = _btyd.condense(
        {"frequency": frequency, "recency": recency, "T": age, "duration": duration}
    )
    predicted = _btyd.conditional_expected_purchases(
        fitted.fitter,
        rows["duration"].to_numpy(),
        rows["frequency"].to_numpy(),
        rows["recency"].to_numpy(),
        rows["T"].to_numpy(),
    )
    return predicted[inverse]


def conditional_expectations(
    calibration: pd.DataFrame, fitted: FittedModel, *, max_frequency: int = 7
) -> pd.DataFrame:
    """Actual vs predicted mean holdout purchases by calibration frequency (Fader-Hardie check).

    Parameters
    ----------
    calibration : pandas.DataFrame
        Calibration/holdout frame (``frequency_cal``, ``recency_cal``, ``T_cal``,
        ``frequency_holdout``, ``duration_holdout``).
    fitted : FittedModel
        Purchase model fitted on the calibration columns.
    max_frequency : int
        Last bucket collects ``frequency_cal >= max_frequency`` (label ``"7+"`` for 7).

    Returns
    -------
    pandas.DataFrame
        One row per bucket 0..max_frequency (all buckets, empty ones with NaN means):
        ``frequency_cal`` (bucket label, str), ``n_customers``, ``actual`` (mean holdout
        purchases), ``predicted`` (mean conditional expectation over ``duration_holdout``).
    """
    _require_columns(calibration, ["frequency_holdout", "duration_holdout"], "validation")
    predicted = _holdout_predictions(fitted, calibration)
    frequency = calibration["frequency_cal"].to_numpy(float)
    bucket = np.minimum(frequency, max_frequency).astype(int)
    frame = pd.DataFrame(
        {
            "bucket": bucket,
            "actual": calibration["frequency_holdout"].to_numpy(float),
            "predicted": predicted,
        }
    )
    table = frame.groupby("bucket").agg(
        n_customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
    )
    table = table.reindex(range(max_frequency + 1))
    table["n_customers"] = table["n_customers"].fillna(0).astype(int)
    labels = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
    table.insert(0, "frequency_cal", labels)
    return table.reset_index(drop=True)


def tracking(
    fitted: FittedModel,
    *,
    calibration: pd.DataFrame,
    actual_repeat_by_period: pd.Series,
    period_length: float = 1.0,
) -> pd.DataFrame:
    """Actual vs model-expected repeat purchases per period for the calibration cohort.

    Time 0 is the earliest first purchase in the calibration frame, i.e. ``calibration_end -
    max(T_cal)``; customer i is born at ``b_i = max(T_cal) - T_cal_i``. Period k covers model
    time ``[(k - 1) * period_length, k * period_length)``: with days, customer-days whose
    ``floor(days_since_time_0 / (period_length * days_per_unit)) + 1 == k``. The model's
    cumulative repeat purchases by the end of period k are
    ``sum_i E[X(k * period_length - b_i)]`` (lifetimes' unconditional
    ``expected_number_of_purchases_up_to_time``, 0 before birth), as in Fader, Hardie & Lee
    (2005).

    Parameters
    ----------
    fitted : FittedModel
        Purchase model fitted on the calibration period.
    calibration : pandas.DataFrame
        The calibration frame the model was fitted on (``T_cal``).
    actual_repeat_by_period : pandas.Series
        Actual repeat-purchase days of the calibration cohort per period, indexed by period
        number 1..n (missing periods count 0). Purchases are counted once per customer-day,
        each customer's first day excluded.
    period_length : float
        Period length in model time units.

    Returns
    -------
    pandas.DataFrame
        One row per period 1..n: ``period``, ``actual``, ``expected`` (repeat purchases in the
        period), ``actual_cumulative``, ``expected_cumulative``, ``in_calibration`` (the period
        starts on or before the calibration end).
    """
    if period_length <= 0:
        raise ValueError(f"period_length must be > 0, got {period_length}")
    _, _, age = _btyd_inputs(calibration, "tracking")
    index = pd.Index(actual_repeat_by_period.index)
    if len(index) == 0 or not pd.api.types.is_integer_dtype(index) or index.min() < 1:
        raise ValueError("actual_repeat_by_period must be indexed by period numbers 1, 2, ...")
    n_periods = int(index.max())
    actual = actual_repeat_by_period.reindex(range(1, n_periods + 1), fill_value=0).astype(float)
    calibration_length = float(np.max(age))
    births, counts = np.unique(calibration_length - age, return_counts=True)
    ends = np.arange(1, n_periods + 1) * period_length
    ages = np.maximum(ends[:, None] - births[None, :], 0.0)
    # births fall on the data's day grid, so the ages repeat: evaluate each distinct one once
    distinct_ages, positions = np.unique(ages, return_inverse=True)
    expected = _btyd.unconditional_expected_purchases(fitted.fitter, distinct_ages)
    expected_cumulative = expected[positions.reshape(ages.shape)] @ counts
    return pd.DataFrame(
        {
            "period": np.arange(1, n_periods + 1),
            "actual": actual.to_numpy(),
            "expected": np.diff(expected_cumulative, prepend=0.0),
            "actual_cumulative": actual.cumsum().to_numpy(),
            "expected_cumulative": expected_cumulative,
            "in_calibration": (ends - period_length) <= calibration_length + 1e-9,
        }
    )


_CHOICE_RULE = (
    "lowest per-customer holdout MAE; models within 1% of the best MAE count as tied and the "
    "tie goes to the lowest absolute aggregate holdout error (rounded to 0.01 percentage "
    "points), then to the simpler model (BG/NBD, MBG/NBD, Pareto/NBD)"
)


def validate(
    calibration: pd.DataFrame,
    *,
    models: Sequence[str] = PURCHASE_MODELS,
    penalizer: float = 0.0,
    n_starts: int | None = None,
    seed: int = 0,
    max_frequency: int = 7,
    actual_repeat_by_period: pd.Series | None = None,
    period_length: float = 1.0,
) -> ValidationResult:
    """Fit each candidate on the calibration period, score it on the holdout, choose one.

    Choice rule: lowest per-customer holdout MAE; models within 1% of the best MAE count as
    tied, and the tie goes to the lowest absolute aggregate holdout error (in % of actual,
    rounded to 0.01 points), then to the simpler model (BG/NBD < MBG/NBD < Pareto/NBD).
    Candidates that fail to converge are reported and skipped.

    Parameters
    ----------
    calibration : pandas.DataFrame
        Calibration/holdout frame: ``frequency_cal``, ``recency_cal``, ``T_cal``,
        ``frequency_holdout``, ``duration_holdout``.
    models : sequence of str
        Candidates among ``"bgnbd"``, ``"mbgnbd"``, ``"paretonbd"``.
    penalizer, n_starts, seed
        As in :func:`fit_purchases`.
    max_frequency : int
        For :func:`conditional_expectations`.
    actual_repeat_by_period : pandas.Series, optional
        For :func:`tracking`; without it no tracking tables are made.
    period_length : float
        For :func:`tracking`.

    Returns
    -------
    ValidationResult
        ``table`` has one row per candidate (index ``model``): ``label``, ``converged``,
        ``status`` (``"ok"`` or why it failed), ``log_likelihood`` and ``aic`` (calibration),
        ``holdout_actual`` and ``holdout_predicted`` (total holdout repeat purchases),
        ``aggregate_error_pct`` (100 * (predicted - actual) / actual), ``mae`` and ``rmse``
        (per customer), ``chosen``.

    Raises
    ------
    InsufficientDataError
        The calibration data is below the minimums (every model would fail).
    FitError
        No candidate converged.
    """
    _require_columns(calibration, ["frequency_holdout", "duration_holdout"], "validate")
    unknown = [model for model in models if model not in PURCHASE_MODELS]
    if unknown or not models:
        raise ValueError(f"models must be a non-empty subset of {PURCHASE_MODELS}, got {models}")
    actual = calibration["frequency_holdout"].to_numpy(float)
    rows, fitted_models, expectations, tracks, failures = [], {}, {}, {}, {}
    failed_fits = {}
    for model in models:
        spec = _btyd.MODEL_SPECS[model]
        row = {"model": model, "label": spec.label}
        try:
            fitted = fit_purchases(
                calibration, model=model, penalizer=penalizer, n_starts=n_starts, seed=seed
            )
        except FitError as error:
            failures[model] = error.fitted.convergence_
            failed_fits[model] = error.fitted
            row.update(converged=False, status=error.fitted.convergence_)
            rows.append(row)
            continue
        predicted = _holdout_predictions(fitted, calibration)
        if not np.all(np.isfinite(predicted)):
            failures[model] = "holdout predictions are not finite"
            row.update(converged=True, status=failures[model])
            rows.append(row)
            continue
        errors = predicted - actual
        row.update(
            converged=True,
            status="ok",
            log_likelihood=fitted.log_likelihood_,
            aic=fitted.aic_,
            holdout_actual=actual.sum(),
            holdout_predicted=predicted.sum(),
            aggregate_error_pct=100 * (predicted.sum() - actual.sum()) / actual.sum()
            if actual.sum() > 0
            else np.nan,
            mae=float(np.mean(np.abs(errors))),
            rmse=float(np.sqrt(np.mean(errors**2))),
        )
        rows.append(row)
        fitted_models[model] = fitted
        expectations[model] = conditional_expectations(
            calibration, fitted, max_frequency=max_frequency
        )
        if actual_repeat_by_period is not None:
            tracks[model] = tracking(
                fitted,
                calibration=calibration,
                actual_repeat_by_period=actual_repeat_by_period,
                period_length=period_length,
            )
    columns = ["label", "converged", "status", "log_likelihood", "aic", "holdout_actual"]
    columns += ["holdout_predicted", "aggregate_error_pct", "mae", "rmse"]
    table = pd.DataFrame(rows).set_index("model").reindex(columns=columns)
    if not fitted_models:
        reasons = "; ".join(f"{model}: {reason}" for model, reason in failures.items())
        if not failed_fits:
            raise ValueError(f"no candidate gave usable holdout predictions ({reasons})")
        raise FitError(next(iter(failed_fits.values())), f"no candidate converged ({reasons})")
    chosen = _choose(table.loc[list(fitted_models)])
    table["chosen"] = table.index == chosen
    return ValidationResult(
        table=table,
        chosen=chosen,
        fitted=fitted_models,
        conditional_expectations=expectations,
        tracking=tracks,
        failures=failures,
        rule=_CHOICE_RULE,
    )


def _choose(table: pd.DataFrame) -> str:
    best_mae = table["mae"].min()
    tied = table[table["mae"] <= best_mae * 1.01].copy()
    tied["abs_aggregate"] = tied["aggregate_error_pct"].abs().round(2).fillna(np.inf)
    tied["simplicity"] = [_btyd.MODEL_SPECS[name].simplicity for name in tied.index]
    return str(tied.sort_values(["abs_aggregate", "simplicity"]).index[0])


# ---------------------------------------------------------------------------------------------
# predictions


def expected_purchases(fitted: FittedModel, summary: pd.DataFrame, *, periods: float) -> pd.Series:
    """Expected repeat purchases per customer over the next ``periods`` model time units.

    Parameters
    ----------
    fitted : FittedModel
        Purchase model.
    summary : pandas.DataFrame
        Customer summary (``frequency``, ``recency``, ``T``), in the model's time unit.
    periods : float
        Horizon in model time units (e.g. 52 for a year with weekly units).

    Returns
    -------
    pandas.Series
        ``expected_purchases``, indexed by ``customer_id``: lifetimes'
        ``conditional_expected_number_of_purchases_up_to_time(periods, ...)``.
    """
    if periods < 0:
        raise ValueError(f"periods must be >= 0, got {periods}")
    frequency, recency, age = _btyd_inputs(summary, "expected_purchases")
    rows, _, inverse = _btyd.condense({"frequency": frequency, "recency": recency, "T": age})
    values = _btyd.conditional_expected_purchases(
        fitted.fitter, float(periods), rows["frequency"], rows["recency"], rows["T"]
    )
    return pd.Series(
        np.asarray(values)[inverse],
        index=pd.Index(_customer_ids(summary), name="customer_id"),
        name="expected_purchases",
    )


def _month_edges(horizon_months: int, time_unit: str) -> np.ndarray:
    if time_unit not in UNITS_PER_MONTH:
        raise ValueError(f"time_unit must be one of {list(UNITS_PER_MONTH)}, got {time_unit!r}")
    if int(horizon_months) != horizon_months or horizon_months < 1:
        raise ValueError(f"horizon_months must be a positive integer, got {horizon_months}")
    return np.arange(1, int(horizon_months) + 1) * UNITS_PER_MONTH[time_unit]


def _monthly_discount(horizon_months: int, discount_rate_annual: float) -> np.ndarray:
    """Discount factor of each month's cash flow: (1 + d_month) ** -k, k = 1..horizon."""
    if discount_rate_annual < 0:
        raise ValueError(f"discount_rate_annual must be >= 0, got {discount_rate_annual}")
    monthly_rate = (1 + discount_rate_annual) ** (1 / 12) - 1
    return (1 + monthly_rate) ** -np.arange(1, int(horizon_months) + 1)


def _spend_model_mean(params: np.ndarray) -> float:
    p, q, v = params
    return v * p / (q - 1) if q > 1 else np.nan


def _expected_spend(spend_fitter, frequency, monetary, use_individual) -> np.ndarray:
    """Gamma-Gamma conditional expected spend; the population mean where not fitted."""
    p, q, v = (spend_fitter.params_[name] for name in ("p", "q", "v"))
    result = np.full(len(frequency), _spend_model_mean((p, q, v)))
    if np.any(use_individual):
        result[use_individual] = spend_fitter.conditional_expected_average_profit(
            frequency[use_individual], monetary[use_individual]
        )
    return result


def predict(
    summary: pd.DataFrame,
    *,
    purchases: FittedModel,
    spend: FittedModel | None = None,
    gross_margin: float,
    discount_rate_annual: float,
    horizon_months: int,
    time_unit: str,
    n_draws: int = 200,
    seed: int = 0,
    interval: float = 0.9,
) -> pd.DataFrame:
    """Residual CLV per customer with an interval from parameter uncertainty.

    ``rclv = gross_margin * expected_spend * sum_k v_k * purchases_k`` over months
    k = 1..``horizon_months``, where ``purchases_k`` is the expected number of purchases in
    month k (differences of lifetimes' conditional expectation at k months, a month being
    365.25 / 12 days in the model's time unit) and ``v_k = (1 + d_m) ** -k`` with the monthly
    rate ``d_m = (1 + discount_rate_annual) ** (1 / 12) - 1`` (cash flows at month ends).

    The interval redraws the parameters ``n_draws`` times from the asymptotic normal of the
    log-parameters (covariance: inverse Hessian) of each model, seeded, recomputes rCLV per
    draw and takes the ``(1 - interval) / 2`` and ``(1 + interval) / 2`` quantiles. It reflects
    parameter uncertainty only, not the randomness of a single customer's purchases. The point
    estimate uses the maximum-likelihood parameters and is not forced inside the interval:
    rCLV is nonlinear in the parameters, so for some customer it could fall outside (on the
    CDNOW data every customer's estimate lies inside, see the tests). Draws that give a
    non-finite or negative value (e.g. Gamma-Gamma q <= 1) are dropped whole;
    ``attrs["ccnb.clv"].settings["n_draws"]`` says how many were used. Spend is evaluated
    exactly per draw; the expected purchases per draw come from a polynomial in the draws'
    coordinates fitted to exact evaluations at 23 parameter points (``ccnb._btyd.PathExpansion``;
    exact per draw where the expansion cannot be built), which moves the bounds by a small
    fraction of the interval's width (see the tests).

    The draws (float32, ``4 * n_draws`` bytes per customer), the expected monthly margin per
    customer (``4 * horizon_months`` bytes) and the settings are attached in
    ``result.attrs["ccnb.clv"]`` for :func:`customer_equity`, :func:`clv_by` and
    :func:`cac_ceiling`. pandas keeps ``attrs`` through filtering, sorting and ``assign`` but
    drops them in ``merge``/``join`` and file round trips: pass segment tables to those
    functions instead of merging.

    Parameters
    ----------
    summary : pandas.DataFrame
        Customer summary: ``customer_id`` (column, else the index), ``frequency``,
        ``recency``, ``T`` (model time unit), and ``monetary_value`` when ``spend`` is given.
    purchases : FittedModel
        Purchase model fitted on the whole period.
    spend : FittedModel, optional
        Gamma-Gamma model. Without it every customer's expected spend is the mean
        ``monetary_value`` of repeat buyers with positive spend (no spend uncertainty).
    gross_margin : float
        Margin as a fraction of revenue, in [0, 1].
    discount_rate_annual : float
        Annual discount rate (e.g. 0.1).
    horizon_months : int
        Months ahead.
    time_unit : {"D", "W", "M"}
        The purchase model's time unit.
    n_draws : int
        Parameter draws for the interval (0: no interval, NaN bounds).
    seed : int
        Seed of the draws.
    interval : float
        Central coverage of the interval, default 0.9 (5% to 95%).

    Returns
    -------
    pandas.DataFrame
        One row per customer, in the summary's order:

        - ``customer_id``
        - ``p_alive``: probability the customer is still active (lifetimes'
          ``conditional_probability_alive``)
        - ``expected_purchases``: expected repeat purchases over the horizon (undiscounted)
        - ``expected_spend``: Gamma-Gamma conditional expected spend per purchase; customers
          excluded from Gamma-Gamma (no repeat purchase or spend <= 0) get the population
          mean ``v * p / (q - 1)``
        - ``rclv``: residual CLV, discounted gross margin over the horizon
        - ``rclv_low``, ``rclv_high``: interval bounds
        - ``decile``: 1 (highest rclv) to 10; equal rclv values share a decile (by the
          rank of the first of them)
    """
    if not 0 <= gross_margin <= 1:
        raise ValueError(f"gross_margin must be a fraction in [0, 1], got {gross_margin}")
    if not 0 < interval < 1:
        raise ValueError(f"interval must be in (0, 1), got {interval}")
    edges = _month_edges(horizon_months, time_unit)
    ids = _customer_ids(summary)
    if not pd.Index(ids).is_unique:
        duplicated = pd.Index(ids)[pd.Index(ids).duplicated()][:3].tolist()
        raise ValueError(f"customer ids must be unique in the summary; repeated: {duplicated}")
    frequency, recency, age = _btyd_inputs(summary, "predict")
    rows, _, inverse = _btyd.condense({"frequency": frequency, "recency": recency, "T": age})
    row_values = [rows[name].to_numpy() for name in ("frequency", "recency", "T")]
    inputs = _ClvInputs(
        path=_btyd.PurchasePath(edges, *row_values),
        row_of_customer=inverse,
        frequency=frequency,
        monetary=None,
        discount=_monthly_discount(horizon_months, discount_rate_annual),
        gross_margin=gross_margin,
    )
    if spend is not None:
        _require_columns(summary, ["monetary_value"], "predict with a spend model")
        inputs.monetary = summary["monetary_value"].to_numpy(float)
        expected_spend, mean_spend = inputs.spend(spend.fitter)
    else:
        mean_spend = _mean_observed_spend(summary, frequency)
        expected_spend = np.full(len(frequency), mean_spend)

    monthly = inputs.path.per_period(purchases.fitter)
    rclv = inputs.rclv(monthly, expected_spend)
    p_alive = _btyd.probability_alive(purchases.fitter, *row_values)[inverse]
    new_customer = inputs.new_customer_value(purchases.fitter, mean_spend)

    draws = np.empty((0, len(ids)), dtype=np.float32)
    new_customer_draws = np.empty(0)
    if n_draws > 0:
        draws, new_customer_draws = _rclv_draws(
            inputs, purchases, spend, expected_spend, mean_spend, n_draws=n_draws, seed=seed
        )
    if len(draws):
        low, high = np.quantile(draws, [(1 - interval) / 2, (1 + interval) / 2], axis=0)
    else:
        low = high = np.full(len(ids), np.nan)
    result = pd.DataFrame(
        {
            "customer_id": ids,
            "p_alive": p_alive,
            "expected_purchases": (monthly.sum(axis=0))[inverse],
            "expected_spend": expected_spend,
            "rclv": rclv,
            "rclv_low": np.asarray(low, dtype=float),
            "rclv_high": np.asarray(high, dtype=float),
            "decile": _deciles(rclv),
        }
    )
    monthly_margin = (gross_margin * expected_spend[:, None] * monthly[:, inverse].T).astype(
        np.float32
    )
    result.attrs[_CONTEXT_KEY] = _PredictionContext(
        customer_ids=ids,
        rclv_draws=draws,
        monthly_margin=monthly_margin,
        new_customer=(new_customer, new_customer_draws),
        settings={
            "gross_margin": gross_margin,
            "discount_rate_annual": discount_rate_annual,
            "horizon_months": int(horizon_months),
            "time_unit": time_unit,
            "interval": interval,
            "n_draws_requested": n_draws,
            "n_draws": len(draws),
            "seed": seed,
            "purchase_model": purchases.name,
            "spend_model": None if spend is None else spend.name,
        },
    )
    return result


def _mean_observed_spend(summary: pd.DataFrame, frequency: np.ndarray) -> float:
    _require_columns(summary, ["monetary_value"], "predict without a spend model")
    monetary = summary["monetary_value"].to_numpy(float)
    usable = (frequency > 0) & (monetary > 0)
    if not usable.any():
        raise ValueError("no repeat buyer with positive monetary_value to estimate spend from")
    return float(monetary[usable].mean())


@dataclass
class _ClvInputs:
    """Customer data prepared once for rCLV under any parameter set (point or draw)."""

    path: _btyd.PurchasePath  # distinct (frequency, recency, T) rows, monthly edges
    row_of_customer: np.ndarray
    frequency: np.ndarray
    monetary: np.ndarray | None
    discount: np.ndarray  # per month
    gross_margin: float

    def spend(self, spend_fitter) -> tuple[np.ndarray, float]:
        """Expected spend per customer and the population mean under a Gamma-Gamma fitter."""
        use_individual = (self.frequency > 0) & (self.monetary > 0)
        params = np.array([spend_fitter.params_[name] for name in ("p", "q", "v")])
        return (
            _expected_spend(spend_fitter, self.frequency, self.monetary, use_individual),
            _spend_model_mean(params),
        )

    def rclv(self, monthly: np.ndarray, expected_spend: np.ndarray) -> np.ndarray:
        """Discounted margin per customer from monthly purchases per row."""
        return self.gross_margin * expected_spend * (self.discount @ monthly)[self.row_of_customer]

    def new_customer_value(self, fitter, mean_spend: float) -> float:
        """Discounted repeat-purchase margin of a customer acquired now."""
        cumulative = _btyd.unconditional_expected_purchases(fitter, self.path.edges)
        monthly = np.diff(cumulative, prepend=0.0)
        return self.gross_margin * mean_spend * float(self.discount @ monthly)


def _rclv_draws(inputs, purchases, spend, expected_spend, mean_spend, *, n_draws, seed):
    """Residual CLV per parameter draw (draws x customers, float32), invalid draws dropped.

    The purchase path of each draw comes from :class:`ccnb._btyd.PathExpansion` (exact
    evaluation at 23 points instead of one per draw) unless an expansion point is invalid;
    spend and the new-customer value are evaluated exactly for every draw, and a draw whose
    new-customer value is not finite (a parameter past a singularity) is dropped.
    """
    rng = np.random.default_rng(seed)
    purchase_z, purchase_draws = _btyd.draw_log_params(
        purchases.params_, purchases.log_params_covariance_, n_draws, rng
    )
    if spend is not None:
        _, spend_draws = _btyd.draw_log_params(
            spend.params_, spend.log_params_covariance_, n_draws, rng
        )
    expansion = _btyd.PathExpansion(
        inputs.path, purchases.fitter, purchases.params_, purchases.log_params_covariance_
    )
    paths = expansion.per_period_draws(purchase_z) if expansion.usable else None
    draws = np.empty((n_draws, len(inputs.row_of_customer)), dtype=np.float32)
    new_customer = np.empty(n_draws)
    valid = np.ones(n_draws, dtype=bool)
    for d in range(n_draws):
        fitter = _btyd.with_params(purchases.fitter, purchase_draws[d], purchases.params_.index)
        spend_d, mean_spend_d = expected_spend, mean_spend
        if spend is not None:
            spend_fitter = _btyd.with_params(spend.fitter, spend_draws[d], spend.params_.index)
            spend_d, mean_spend_d = inputs.spend(spend_fitter)
        monthly = next(paths) if paths is not None else inputs.path.per_period(fitter)
        values = inputs.rclv(monthly, spend_d)
        new_customer[d] = inputs.new_customer_value(fitter, mean_spend_d)
        valid[d] = bool(np.all(np.isfinite(values)) and np.all(values >= -1e-9))
        valid[d] &= bool(np.isfinite(new_customer[d]) and new_customer[d] >= 0)
        draws[d] = values
    return draws[valid], new_customer[valid]


def _deciles(values: np.ndarray) -> np.ndarray:
    """Decile 1 (highest) to 10 by rank; ties share the decile of the first of them."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return np.empty(0, dtype=int)
    rank = pd.Series(values).rank(method="min", ascending=False).to_numpy()
    return (np.floor((rank - 1) * 10 / len(values)) + 1).astype(int)


# ---------------------------------------------------------------------------------------------
# customer equity and business cuts


def _context(predictions: pd.DataFrame, where: str) -> _PredictionContext | None:
    """The draws predict() attached, or None when predict ran without draws.

    Raises when the predictions carry interval bounds but the draws were lost (pandas drops
    ``attrs`` in merge/join), because group intervals cannot be rebuilt from per-customer
    bounds.
    """
    context = predictions.attrs.get(_CONTEXT_KEY)
    if not isinstance(context, _PredictionContext):  # absent, or emptied by a file round trip
        context = None
    if context is None and "rclv_low" in predictions and predictions["rclv_low"].notna().any():
        raise ValueError(
            f"{where}: the parameter draws predict() attached to its output are missing "
            "(pandas drops DataFrame.attrs in merge/join and file round trips). Pass the "
            "predict() output unchanged (filtering, sorting and assign() keep them) and give "
            "segment or channel tables as arguments instead of merging them in."
        )
    return context


def _quantiles(values: np.ndarray, interval: float) -> tuple[float, float]:
    if len(values) == 0:
        return np.nan, np.nan
    low, high = np.quantile(values, [(1 - interval) / 2, (1 + interval) / 2])
    return float(low), float(high)


def customer_equity(
    predictions: pd.DataFrame,
    *,
    new_customers_per_period=None,
    new_customer_clv: float | None = None,
) -> CustomerEquity:
    """Customer equity: sum of rCLV plus, optionally, the value of expected new customers.

    New customers: ``new_customers_per_period`` acquisitions per month (the period of the
    horizon) in months 1..horizon_months, each worth ``new_customer_clv`` at acquisition,
    discounted to today with the monthly rate of :func:`predict`. Without
    ``new_customer_clv`` the model's value of a new customer is used: the discounted expected
    repeat-purchase margin over the horizon of a customer just acquired (the first purchase's
    margin is not included, so this is conservative). The interval sums each parameter draw
    over customers (shared parameters make customers' values move together).

    Parameters
    ----------
    predictions : pandas.DataFrame
        Output of :func:`predict` (possibly filtered).
    new_customers_per_period : float or sequence of float, optional
        Expected acquisitions per month; a sequence gives one value per month.
    new_customer_clv : float, optional
        Value of one new customer at acquisition (e.g. from a CAC analysis); fixed, no
        uncertainty.

    Returns
    -------
    CustomerEquity
        Value, interval, components and ``top_decile_share``.
    """
    context = _context(predictions, "customer_equity")
    interval = context.settings["interval"] if context else 0.9
    rclv = predictions["rclv"].to_numpy(float)
    existing = float(rclv.sum())
    if context is not None and len(context.rclv_draws):
        draws = context.rclv_draws[:, context.positions(predictions["customer_id"])]
        existing_draws = draws.sum(axis=1, dtype=float)
    else:
        existing_draws = np.empty(0)
    new_value, new_draws = 0.0, np.zeros(len(existing_draws))
    if new_customers_per_period is not None:
        if context is None:
            raise ValueError("customer_equity needs predict() output to value new customers")
        horizon = context.settings["horizon_months"]
        volumes = np.broadcast_to(np.asarray(new_customers_per_period, dtype=float), (horizon,))
        weight = float(
            volumes @ _monthly_discount(horizon, context.settings["discount_rate_annual"])
        )
        if new_customer_clv is not None:
            new_value = weight * float(new_customer_clv)
            new_draws = np.full(len(existing_draws), new_value)
        else:
            point, per_draw = context.new_customer
            new_value = weight * point
            new_draws = weight * per_draw
    existing_low, existing_high = _quantiles(existing_draws, interval)
    new_low, new_high = _quantiles(new_draws, interval) if len(new_draws) else (np.nan, np.nan)
    total_low, total_high = _quantiles(existing_draws + new_draws, interval)
    top = _deciles(rclv) == 1
    return CustomerEquity(
        value=float(existing + new_value),
        low=total_low,
        high=total_high,
        existing_customers=existing,
        existing_low=existing_low,
        existing_high=existing_high,
        new_customers=float(new_value),
        new_low=new_low,
        new_high=new_high,
        top_decile_share=float(rclv[top].sum() / existing) if existing > 0 else np.nan,
        n_customers=len(rclv),
        interval=interval,
    )


def _with_groups(predictions, by, table, where) -> pd.DataFrame:
    """Predictions with the ``by`` columns, looked up by customer_id in ``table`` if given."""
    by_columns = [by] if isinstance(by, str) else list(by)
    if table is None:
        _require_columns(predictions, by_columns, where)
        return predictions
    if "customer_id" not in table.columns:
        table = table.reset_index()
    _require_columns(table, ["customer_id", *by_columns], where)
    lookup = table.drop_duplicates("customer_id").set_index("customer_id")[by_columns]
    found = lookup.reindex(predictions["customer_id"].to_numpy())
    return predictions.assign(**{column: found[column].to_numpy() for column in by_columns})


def clv_by(
    predictions: pd.DataFrame,
    *,
    by,
    segments: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Mean, median and total rCLV per group with intervals from the parameter draws.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Output of :func:`predict`, optionally with the ``by`` column(s) added by ``assign``.
    by : str or list of str
        Grouping column(s), e.g. ``"segment"`` or ``"acquisition_channel"``.
    segments : pandas.DataFrame, optional
        Table with ``customer_id`` and the ``by`` column(s), looked up per customer (keeps
        the draws, unlike merging it into ``predictions``). Customers not in it form the
        group NaN.

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` column(s), ``n_customers``, ``rclv_mean``,
        ``rclv_mean_low``, ``rclv_mean_high``, ``rclv_median``, ``rclv_median_low``,
        ``rclv_median_high``, ``rclv_sum``, ``rclv_sum_low``, ``rclv_sum_high``,
        ``share_of_equity`` (group sum / total sum). Bounds are quantiles over the draws of
        the group statistic (NaN when predict ran without draws).
    """
    context = _context(predictions, "clv_by")
    frame = _with_groups(predictions, by, segments, "clv_by")
    by_columns = [by] if isinstance(by, str) else list(by)
    has_draws = context is not None and len(context.rclv_draws) > 0
    positions = context.positions(frame["customer_id"]) if has_draws else None
    interval = context.settings["interval"] if context else 0.9
    total = frame["rclv"].sum()
    records = []
    grouped = frame.groupby(by_columns, dropna=False, sort=True)
    for key, members in grouped.indices.items():
        key = key if isinstance(key, tuple) else (key,)
        values = frame["rclv"].to_numpy(float)[members]
        record = dict(zip(by_columns, key, strict=True))
        record.update(
            n_customers=len(members),
            rclv_mean=values.mean(),
            rclv_median=float(np.median(values)),
            rclv_sum=values.sum(),
            share_of_equity=values.sum() / total if total > 0 else np.nan,
        )
        if has_draws:
            draws = context.rclv_draws[:, positions[members]]
            sums = draws.sum(axis=1, dtype=float)
            for name, statistic in (
                ("rclv_mean", sums / len(members)),
                ("rclv_median", np.median(draws, axis=1).astype(float)),
                ("rclv_sum", sums),
            ):
                record[f"{name}_low"], record[f"{name}_high"] = _quantiles(statistic, interval)
        records.append(record)
    columns = by_columns + ["n_customers"]
    for name in ("rclv_mean", "rclv_median", "rclv_sum"):
        columns += [name, f"{name}_low", f"{name}_high"]
    columns += ["share_of_equity"]
    return pd.DataFrame.from_records(records).reindex(columns=columns)


def _payback_months(cumulative_margin: np.ndarray, cost: float) -> float:
    """Months (linear within a month) until cumulative margin reaches ``cost``."""
    if not np.isfinite(cost):
        return np.nan
    if cost <= 0:
        return 0.0
    reached = np.nonzero(cumulative_margin >= cost)[0]
    if len(reached) == 0:
        return np.inf
    month = reached[0]
    before = cumulative_margin[month - 1] if month > 0 else 0.0
    return float(month + (cost - before) / (cumulative_margin[month] - before))


def cac_ceiling(
    predictions: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    target_ltv_cac: float = 3.0,
) -> pd.DataFrame:
    """CAC ceiling per acquisition channel: mean predicted CLV / target LTV:CAC ratio.

    Payback: months until the channel's mean cumulative expected gross margin per customer
    (undiscounted, from the prediction date, ``gross_margin * expected_spend * expected
    purchases`` month by month as in :func:`predict`) reaches the channel's mean actual
    acquisition cost, interpolated linearly within the month; ``inf`` when not reached within
    the horizon, NaN when the cost is unknown. The CLV used is the residual CLV of the
    channel's current customers (future value only), a conservative stand-in for the value of
    a newly acquired one.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Output of :func:`predict`.
    customers : pandas.DataFrame
        ``customer_id``, ``acquisition_channel`` and optionally ``acquisition_cost``
        (nullable). Customers without a channel form the group ``"unknown"``.
    target_ltv_cac : float
        Target LTV:CAC ratio (default 3).

    Returns
    -------
    pandas.DataFrame
        One row per channel: ``acquisition_channel``, ``n_customers``, ``mean_clv``,
        ``mean_clv_low``, ``mean_clv_high``, ``cac_ceiling`` (= mean_clv / target_ltv_cac),
        ``cac_ceiling_low``, ``cac_ceiling_high``, ``mean_acquisition_cost`` (mean of the
        known costs, NaN if none), ``n_with_cost``, ``ltv_cac_ratio`` (mean_clv /
        mean_acquisition_cost), ``payback_months``.
    """
    if target_ltv_cac <= 0:
        raise ValueError(f"target_ltv_cac must be > 0, got {target_ltv_cac}")
    context = _context(predictions, "cac_ceiling")
    columns = ["acquisition_channel"]
    if "acquisition_cost" in customers.columns:
        columns.append("acquisition_cost")
    frame = _with_groups(predictions, columns, customers, "cac_ceiling")
    frame = frame.assign(
        acquisition_channel=frame["acquisition_channel"].astype(object).fillna("unknown")
    )
    if "acquisition_cost" not in frame:
        frame = frame.assign(acquisition_cost=np.nan)
    by_channel = clv_by(frame, by="acquisition_channel")
    has_margin = context is not None
    positions = context.positions(frame["customer_id"]) if has_margin else None
    records = []
    for row in by_channel.itertuples(index=False):
        in_channel = (frame["acquisition_channel"] == row.acquisition_channel).to_numpy()
        costs = frame.loc[in_channel, "acquisition_cost"].astype(float)
        mean_cost = float(costs.mean()) if costs.notna().any() else np.nan
        payback = np.nan
        if has_margin:
            margin = context.monthly_margin[positions[in_channel]].astype(float).mean(axis=0)
            payback = _payback_months(np.cumsum(margin), mean_cost)
        records.append(
            {
                "acquisition_channel": row.acquisition_channel,
                "n_customers": row.n_customers,
                "mean_clv": row.rclv_mean,
                "mean_clv_low": row.rclv_mean_low,
                "mean_clv_high": row.rclv_mean_high,
                "cac_ceiling": row.rclv_mean / target_ltv_cac,
                "cac_ceiling_low": row.rclv_mean_low / target_ltv_cac,
                "cac_ceiling_high": row.rclv_mean_high / target_ltv_cac,
                "mean_acquisition_cost": mean_cost,
                "n_with_cost": int(costs.notna().sum()),
                "ltv_cac_ratio": row.rclv_mean / mean_cost if mean_cost > 0 else np.nan,
                "payback_months": payback,
            }
        )
    return pd.DataFrame.from_records(records)


def iso_value(
    fitted_purchases: FittedModel,
    spend_mean: float | FittedModel,
    *,
    max_frequency: int,
    max_recency: float,
    T: float,
    recency_step: float = 1.0,
    gross_margin: float = 1.0,
    discount_rate_annual: float = 0.0,
    horizon_months: int = 12,
    time_unit: str = "W",
) -> pd.DataFrame:
    """Residual CLV over a frequency x recency grid at a fixed age T (iso-value curves).

    Each cell is :func:`predict`'s rCLV for a customer with that history and spend
    ``spend_mean`` (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves").

    Parameters
    ----------
    fitted_purchases : FittedModel
        Purchase model.
    spend_mean : float or FittedModel
        Expected spend per purchase; a Gamma-Gamma model gives its population mean.
    max_frequency : int
        Frequencies 0..max_frequency.
    max_recency : float
        Recencies 0, recency_step, ..., max_recency (model time units, <= T).
    T : float
        Age of the customers (model time units).
    recency_step : float
        Grid step of recency.
    gross_margin, discount_rate_annual, horizon_months, time_unit
        As in :func:`predict`.

    Returns
    -------
    pandas.DataFrame
        rCLV with index ``recency`` (grid values) and columns ``frequency`` (0..max);
        impossible cells (frequency 0 with recency > 0) are NaN.
    """
    if max_recency > T:
        raise ValueError(f"max_recency ({max_recency}) cannot exceed T ({T})")
    if isinstance(spend_mean, FittedModel):
        spend_mean = _spend_model_mean(spend_mean.params_.to_numpy())
    if recency_step <= 0:
        raise ValueError(f"recency_step must be > 0, got {recency_step}")
    recencies = np.arange(0.0, max_recency + recency_step / 2, recency_step)
    recencies = recencies[recencies <= max_recency + 1e-9]
    frequencies = np.arange(0, int(max_frequency) + 1)
    grid_frequency, grid_recency = (a.ravel() for a in np.meshgrid(frequencies, recencies))
    valid = (grid_frequency > 0) | (grid_recency == 0)
    edges = _month_edges(horizon_months, time_unit)
    discount = _monthly_discount(horizon_months, discount_rate_annual)
    path = _btyd.PurchasePath(
        edges,
        grid_frequency[valid].astype(float),
        grid_recency[valid],
        np.full(valid.sum(), float(T)),
    )
    monthly = path.per_period(fitted_purchases.fitter)
    values = np.full(len(grid_frequency), np.nan)
    values[valid] = gross_margin * float(spend_mean) * (discount @ monthly)
    table = pd.DataFrame(
        values.reshape(len(recencies), len(frequencies)),
        index=pd.Index(recencies, name="recency"),
        columns=pd.Index(frequencies, name="frequency"),
    )
    return table


def activation_table(
    predictions: pd.DataFrame,
    segments: pd.DataFrame,
    *,
    segment_col: str = "segment",
) -> pd.DataFrame:
    """Per-customer CLV table for CRM activation, highest rCLV first.

    Parameters
    ----------
    predictions : pandas.DataFrame
        Output of :func:`predict`.
    segments : pandas.DataFrame
        ``customer_id`` (column or index) and ``segment_col``.
    segment_col : str
        Segment column in ``segments``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``segment`` (NaN when the customer has none), ``p_alive``,
        ``expected_purchases``, ``expected_spend``, ``rclv``, ``rclv_low``, ``rclv_high``,
        ``decile``; sorted by rclv descending then customer_id, with a fresh RangeIndex
        (write with ``to_csv(index=False)``).
    """
    frame = _with_groups(predictions, segment_col, segments, "activation_table")
    frame = frame.rename(columns={segment_col: "segment"})
    columns = ["customer_id", "segment", "p_alive", "expected_purchases", "expected_spend"]
    columns += ["rclv", "rclv_low", "rclv_high", "decile"]
    table = frame[columns].sort_values(["rclv", "customer_id"], ascending=[False, True])
    table = table.reset_index(drop=True)
    table.attrs = {}
    return table
