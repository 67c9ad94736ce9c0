"""Estimation core for the BTYD and Gamma-Gamma models behind ``ccnb.clv``.

Private: fits lifetimes' likelihoods (ccnb's implementations with analytic derivatives,
``ccnb.clv._likelihoods``) on condensed (unique-row, weighted) data with a multi-start quasi-Newton
optimiser, computes Hessians, convergence diagnostics, predictions on unique rows and parameter
draws. ``ccnb.clv`` turns the results into the public objects.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ccnb.clv import _likelihoods


@functools.cache
def _lifetimes():
    """lifetimes, imported on first use: reading stored predictions must not pay ~1.5 s for it.

    lifetimes 0.11.3 sets pandas' removed 'mode.chained_assignment' option on import and
    switches FutureWarning off process-wide; catch_warnings restores the caller's filters.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The 'mode.chained_assignment' option")
        import lifetimes
    return lifetimes


#: log-parameters (in lifetimes' scaled time) are searched in [-BOUND, BOUND]
LOG_PARAM_BOUND = 25.0
#: a fit is converged when the largest gradient component of the per-customer negative
#: log-likelihood (with respect to the log-parameters) is below this
GRADIENT_TOLERANCE = 1e-5
#: the Hessian counts as positive definite when its smallest eigenvalue exceeds this fraction
#: of its largest (smaller ratios mean a direction of the likelihood is flat: not identified)
HESSIAN_CONDITION_LIMIT = 1e-10
#: above this many distinct rows the starts are searched on a seeded subsample of this many
#: rows, and the best optimum is then refined on every row (see :func:`estimate`)
SUBSAMPLE_ROWS = 5_000


@dataclass(frozen=True)
class ModelSpec:
    """How one lifetimes fitter is estimated.

    ``likelihood`` builds the log-likelihood (``ccnb.clv._likelihoods``) from the data columns and
    weights; ``search_likelihood``, if given, a cheaper approximation for the optimiser's
    search, whose best optimum is then polished with ``likelihood``.
    ``penalizer_on_total``: lifetimes' fitter penalises the summed log-likelihood (Pareto/NBD)
    rather than the mean per customer (all others).
    """

    name: str
    label: str
    fitter_name: str  # the lifetimes class, e.g. "BetaGeoFitter"
    param_names: tuple[str, ...]
    time_params: tuple[str, ...]
    likelihood: Callable
    penalizer_on_total: bool
    simplicity: int
    start: float  # lifetimes' own starting log-parameter for every parameter
    search_likelihood: Callable | None = None

    @property
    def fitter_class(self) -> type:
        """The lifetimes fitter class."""
        return getattr(_lifetimes(), self.fitter_name)


MODEL_SPECS: dict[str, ModelSpec] = {
    "bgnbd": ModelSpec(
        name="bgnbd",
        label="BG/NBD",
        fitter_name="BetaGeoFitter",
        param_names=("r", "alpha", "a", "b"),
        time_params=("alpha",),
        likelihood=_likelihoods.BetaGeo,
        penalizer_on_total=False,
        simplicity=0,
        start=0.1,
    ),
    "mbgnbd": ModelSpec(
        name="mbgnbd",
        label="MBG/NBD",
        fitter_name="ModifiedBetaGeoFitter",
        param_names=("r", "alpha", "a", "b"),
        time_params=("alpha",),
        likelihood=functools.partial(_likelihoods.BetaGeo, modified=True),
        penalizer_on_total=False,
        simplicity=1,
        start=0.1,
    ),
    "paretonbd": ModelSpec(
        name="paretonbd",
        label="Pareto/NBD",
        fitter_name="ParetoNBDFitter",
        param_names=("r", "alpha", "s", "beta"),
        time_params=("alpha", "beta"),
        likelihood=_likelihoods.ParetoNBD,
        penalizer_on_total=True,
        simplicity=2,
        start=0.0,
        search_likelihood=functools.partial(_likelihoods.ParetoNBD, coarse=True),
    ),
    "gammagamma": ModelSpec(
        name="gammagamma",
        label="Gamma-Gamma",
        fitter_name="GammaGammaFitter",
        param_names=("p", "q", "v"),
        time_params=(),
        likelihood=_likelihoods.GammaGamma,
        penalizer_on_total=False,
        simplicity=0,
        start=0.1,
    ),
}

PURCHASE_MODELS = ("bgnbd", "mbgnbd", "paretonbd")


# ---------------------------------------------------------------------------------------------
# condensing to unique rows


def condense(
    columns: dict[str, np.ndarray], *, weights: np.ndarray | None = None
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Unique rows of ``columns`` with their counts and the row of each input.

    Returns ``(unique, counts, inverse)`` with ``unique.iloc[inverse]`` equal to the input
    and ``counts`` the rows' ``weights`` summed per unique row (default one per row); the
    unique rows are sorted lexicographically (as ``numpy.unique(..., axis=0)``, which is an
    order of magnitude slower on a million rows). Each column is coded by its sorted distinct
    values (a hash table, no sort of every row) and the codes are combined column by column;
    re-coding after each step keeps the combined codes below the number of rows.
    """
    names = list(columns)
    values = [np.asarray(columns[name], dtype=float) for name in names]
    group, distinct = pd.factorize(values[0], sort=True)
    rows = [distinct]
    for column in values[1:]:
        codes, uniques = pd.factorize(column, sort=True)
        group, keys = pd.factorize(group.astype(np.int64) * len(uniques) + codes, sort=True)
        rows = [row[keys // len(uniques)] for row in rows] + [uniques[keys % len(uniques)]]
    unique = pd.DataFrame(dict(zip(names, rows, strict=True)))
    counts = np.bincount(group, weights=weights).astype(float)
    return unique, counts, group.astype(np.intp)


# ---------------------------------------------------------------------------------------------
# objective


class Objective:
    """Per-customer negative log-likelihood of a lifetimes model on weighted rows.

    The log-likelihood is lifetimes' (time scaled so the largest T is 1, as lifetimes does),
    expressed per customer, with lifetimes' penalizer semantics: a weighted fit minimises
    exactly the function lifetimes minimises when fitting every row unweighted. Gradients and
    Hessians are analytic (``ccnb.clv._likelihoods``).
    """

    def __init__(
        self,
        spec: ModelSpec,
        data: tuple[np.ndarray, ...],
        weights: np.ndarray,
        penalizer: float,
        *,
        likelihood: Callable | None = None,
    ):
        self.spec = spec
        self.data = data
        self.weights = np.asarray(weights, dtype=float)
        self.penalizer = float(penalizer)
        self.n_customers = float(self.weights.sum())
        self.n_rows = len(self.weights)
        self.n_evaluations = 0
        self.likelihood = (likelihood or spec.likelihood)(*data, self.weights)
        # lifetimes penalises the per-customer mean, or for the Pareto/NBD the total
        self.penalty_scale = self.penalizer / (self.n_customers if spec.penalizer_on_total else 1.0)

    def subset(self, rows: np.ndarray, weights: np.ndarray) -> Objective:
        """The same objective on ``rows`` of the data with new ``weights``."""
        return Objective(self.spec, tuple(d[rows] for d in self.data), weights, self.penalizer)

    def for_search(self) -> Objective:
        """The objective with the model's cheaper ``search_likelihood``, if it has one."""
        if self.spec.search_likelihood is None:
            return self
        return Objective(
            self.spec,
            self.data,
            self.weights,
            self.penalizer,
            likelihood=self.spec.search_likelihood,
        )

    def evaluate(self, theta: np.ndarray, order: int) -> tuple:
        """Value, gradient (``order >= 1``) and Hessian (``order == 2``) at ``theta``.

        A value that is not finite (the optimiser probes extreme parameters, where terms
        overflow) is returned as ``inf`` with zero derivatives.
        """
        self.n_evaluations += 1
        theta = np.asarray(theta, dtype=float)
        # overflow and log(0) at extreme trial parameters end in a non-finite value, handled below
        with np.errstate(all="ignore"):
            value, gradient, hessian = self.likelihood.evaluate(theta, order=order)
            squares = np.exp(2 * theta)
        scale = -1.0 / self.n_customers
        value = scale * value + self.penalty_scale * squares.sum()
        results = [value]
        if order >= 1:
            results.append(scale * gradient + 2 * self.penalty_scale * squares)
        if order >= 2:
            results.append(scale * hessian + np.diag(4 * self.penalty_scale * squares))
        if not all(np.all(np.isfinite(item)) for item in results):
            return (np.inf, *(np.zeros_like(item) for item in results[1:]))
        return tuple(results)

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Value and gradient."""
        value, gradient = self.evaluate(theta, 1)
        return float(value), gradient

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Hessian of the per-customer objective."""
        return self.evaluate(theta, 2)[2]


# ---------------------------------------------------------------------------------------------
# optimisation


@dataclass
class Estimate:
    """Result of :func:`estimate` (log-parameters in lifetimes' scaled time)."""

    spec: ModelSpec
    theta: np.ndarray
    objective_value: float
    gradient: np.ndarray
    hessian: np.ndarray  # of the per-customer objective
    converged: bool
    problems: list[str]
    message: str
    starts: pd.DataFrame
    n_customers: float
    n_rows: int
    n_evaluations: int


def _newton_polish(objective: Objective, theta: np.ndarray, iterations: int = 8):
    """Safeguarded Newton steps with exact Hessians (sharpens an optimum to ~1e-11).

    Starts from a quasi-Newton optimum, or a subsample's optimum on every row. Returns
    ``(theta, value, gradient, hessian)`` at the last accepted point. The Hessian (also what
    the standard errors use) is recomputed only where a step moved the log-parameters by more
    than ``1e-6``: closer than that it agrees to about 1e-6, far below the standard errors' own
    precision, and the Newton steps still converge.
    """
    value, gradient, hessian = objective.evaluate(theta, 2)
    hessian_at = theta
    for _ in range(iterations):
        if not np.isfinite(value) or np.max(np.abs(gradient)) < 1e-11:
            break
        try:
            step = -np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or gradient @ step >= 0:
            break
        for shrink in (1.0, 0.5, 0.25, 0.125):
            candidate = np.clip(theta + shrink * step, -LOG_PARAM_BOUND, LOG_PARAM_BOUND)
            order = 2 if np.max(np.abs(candidate - hessian_at)) > 1e-6 else 1
            candidate_value, candidate_gradient, *candidate_hessian = objective.evaluate(
                candidate, order
            )
            if candidate_value <= value + 1e-15 * abs(value):
                theta, value, gradient = candidate, candidate_value, candidate_gradient
                if candidate_hessian:
                    hessian, hessian_at = candidate_hessian[0], candidate
                break
        else:
            break
    return theta, float(value), gradient, hessian


def _search(objective: Objective, theta0: np.ndarray, number: int, *, precise: bool) -> dict:
    """One L-BFGS-B run on the log-parameters."""
    from scipy.optimize import minimize  # here: a kernel reading stored results never fits

    k = len(theta0)
    result = minimize(
        objective.value_and_gradient,
        theta0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-LOG_PARAM_BOUND, LOG_PARAM_BOUND)] * k,
        options={
            "maxiter": 2000,
            "ftol": 1e-12 if precise else 1e-10,
            "gtol": 1e-8 if precise else 1e-6,
        },
    )
    return {
        "start": number,
        "objective": float(result.fun) if np.isfinite(result.fun) else np.inf,
        "max_gradient": float(np.max(np.abs(result.jac))),
        "optimizer_message": str(result.message),
        "theta": result.x,
    }


def _diagnose(spec: ModelSpec, theta, max_gradient, hessian, message) -> list[str]:
    problems = []
    if max_gradient > GRADIENT_TOLERANCE:
        problems.append(
            f"the optimiser stopped away from an optimum (largest gradient {max_gradient:.2g} "
            f"> {GRADIENT_TOLERANCE:g}; scipy: {message})"
        )
    at_bound = [
        name
        for name, value in zip(spec.param_names, theta, strict=True)
        if abs(value) >= LOG_PARAM_BOUND - 1e-6
    ]
    if at_bound:
        problems.append(f"parameter(s) {', '.join(at_bound)} at the search bound (0 or inf)")
    if not np.all(np.isfinite(hessian)):
        problems.append("the Hessian is not finite")
    else:
        eigenvalues = np.linalg.eigvalsh((hessian + hessian.T) / 2)
        if eigenvalues[0] <= HESSIAN_CONDITION_LIMIT * max(abs(eigenvalues[-1]), 1e-300):
            problems.append(
                "the Hessian is not positive definite (smallest/largest eigenvalue "
                f"{eigenvalues[0] / eigenvalues[-1]:.2g}): the likelihood is flat in some "
                "direction, so the parameters are not identified"
            )
    return problems


def estimate(objective: Objective, *, n_starts: int, seed: int, extra_starts: int = 3) -> Estimate:
    """Minimise ``objective`` (see :func:`_estimate_all_rows`), via a subsample on large data.

    With more than ``SUBSAMPLE_ROWS`` distinct rows the whole search (every start, polish,
    checks) runs on a seeded subsample, which lands within sampling error of the optimum, and
    Newton steps with exact Hessians (:func:`_newton_polish`) then finish on every row, so the
    full data is evaluated a handful of times instead of once per optimiser iteration. The
    optimum is the same (to the optimiser's tolerance) as a search on every row; if the
    refinement fails a check, the search is repeated on every row.
    """
    if objective.n_rows <= SUBSAMPLE_ROWS:
        return _estimate_all_rows(
            objective, n_starts=n_starts, seed=seed, extra_starts=extra_starts
        )
    rows, weights = _subsample(objective.weights, SUBSAMPLE_ROWS, seed)
    sample = _estimate_all_rows(
        objective.subset(rows, weights), n_starts=n_starts, seed=seed, extra_starts=extra_starts
    )
    if np.all(np.isfinite(sample.hessian)) and np.isfinite(sample.objective_value):
        theta, value, gradient, hessian = _newton_polish(objective, sample.theta)
        max_gradient = float(np.max(np.abs(gradient)))
        problems = _diagnose(objective.spec, theta, max_gradient, hessian, "Newton refinement")
        if not problems:
            starts = sample.starts.copy()
            best = next(row for row, start in enumerate(starts["theta"]) if start is sample.theta)
            starts.at[best, "theta"] = theta
            starts.at[best, "max_gradient"] = max_gradient
            starts.at[best, "optimizer_message"] = "refined on every row"
            return Estimate(
                spec=objective.spec,
                theta=theta,
                objective_value=value,
                gradient=gradient,
                hessian=hessian,
                converged=True,
                problems=[],
                message="converged",
                starts=starts,
                n_customers=objective.n_customers,
                n_rows=objective.n_rows,
                n_evaluations=objective.n_evaluations + sample.n_evaluations,
            )
    return _estimate_all_rows(objective, n_starts=n_starts, seed=seed, extra_starts=extra_starts)


def _subsample(weights: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded row subsample whose weighted objective estimates the full one without bias.

    Rows shared by several customers (e.g. every one-time buyer of a day) are few and heavy:
    they are all kept with their weights; the single-customer rows are sampled uniformly and
    their weights scaled up by the inverse sampling fraction.
    """
    rng = np.random.default_rng([seed, 20_000])
    heavy = np.flatnonzero(weights > 1)
    if len(heavy) > size // 2:
        heavy = np.zeros(0, dtype=np.intp)
    is_light = np.ones(len(weights), dtype=bool)
    is_light[heavy] = False
    light = np.flatnonzero(is_light)
    picked = np.sort(rng.choice(light, size=min(size - len(heavy), len(light)), replace=False))
    rows = np.concatenate([heavy, picked])
    sampled = np.concatenate(
        [weights[heavy], weights[picked] * (weights[light].sum() / weights[picked].sum())]
    )
    return rows, sampled


def _estimate_all_rows(
    objective: Objective, *, n_starts: int, seed: int, extra_starts: int = 3
) -> Estimate:
    """Minimise ``objective`` from ``n_starts`` seeded starts; diagnose the best optimum.

    Start 1 is lifetimes' own starting point, searched precisely; the others are drawn
    uniformly in [-2, 2] on the log-parameters (scaled time) from
    ``numpy.random.default_rng(seed)`` and searched to a looser tolerance (they only have to
    show whether a better basin exists); searches use the model's ``search_likelihood`` where
    it has one. The best is polished by Newton steps on ``objective`` and checked. When it
    fails a check, up to ``extra_starts`` further seeded starts are tried before
    giving up.
    """
    spec = objective.spec
    k = len(spec.param_names)
    rng = np.random.default_rng(seed)
    searcher = objective.for_search()
    results = [_search(searcher, np.full(k, spec.start), 1, precise=True)]
    results += [
        _search(searcher, rng.uniform(-2.0, 2.0, k), number, precise=False)
        for number in range(2, n_starts + 1)
    ]
    polished: dict[int, tuple] = {}
    while True:
        best = min(results, key=lambda row: row["objective"])
        if best["start"] not in polished:
            if np.isfinite(best["objective"]):
                theta, value, gradient, hessian = _newton_polish(objective, best["theta"])
                max_gradient = float(np.max(np.abs(gradient)))
                best.update(objective=value, max_gradient=max_gradient, theta=theta)
                problems = _diagnose(spec, theta, max_gradient, hessian, best["optimizer_message"])
            else:
                gradient, hessian = np.full(k, np.nan), np.full((k, k), np.nan)
                problems = ["the log-likelihood is not finite at any start"]
            polished[best["start"]] = (gradient, hessian, problems)
        gradient, hessian, problems = polished[best["start"]]
        if not problems or len(results) >= n_starts + extra_starts:
            break
        results.append(
            _search(searcher, rng.uniform(-2.0, 2.0, k), len(results) + 1, precise=False)
        )
    starts_table = pd.DataFrame(
        {
            "start": [row["start"] for row in results],
            "theta": [row["theta"] for row in results],  # replaced by fit_model
            "max_gradient": [row["max_gradient"] for row in results],
            "optimizer_message": [row["optimizer_message"] for row in results],
        }
    )
    return Estimate(
        spec=spec,
        theta=best["theta"],
        objective_value=best["objective"],
        gradient=gradient,
        hessian=hessian,
        converged=not problems,
        problems=problems,
        message="converged" if not problems else "; ".join(problems),
        starts=starts_table,
        n_customers=objective.n_customers,
        n_rows=objective.n_rows,
        n_evaluations=objective.n_evaluations
        + (searcher.n_evaluations if searcher is not objective else 0),
    )


# ---------------------------------------------------------------------------------------------
# fitting a model on condensed data


@dataclass
class ModelFit:
    """A fitted lifetimes object plus what ``ccnb.clv.FittedModel`` reports."""

    spec: ModelSpec
    fitter: object
    params: pd.Series
    log_params_covariance: pd.DataFrame
    log_likelihood: float
    estimate: Estimate


def _time_shift(spec: ModelSpec, scale: float) -> np.ndarray:
    """Add to scaled log-parameters to get log-parameters in the data's time unit."""
    return np.array(
        [-np.log(scale) if name in spec.time_params else 0.0 for name in spec.param_names]
    )


def _data_unit_log_likelihoods(objective: Objective, thetas, best, scale: float) -> list[float]:
    """Unpenalised log-likelihoods at scaled log-parameters ``thetas`` and ``best``, in data units.

    Measuring time in units ``1 / scale`` times longer multiplies each customer's likelihood
    (a density of x purchase times) by ``scale^x``, whatever the model, so the data-unit value
    is the scaled one plus ``log(scale)`` times the total frequency. Non-finite values are -inf.
    """
    shift = np.log(scale) * float((objective.weights * objective.data[0]).sum())
    values = {}
    for theta in [*thetas, best]:
        key = np.asarray(theta, dtype=float).tobytes()
        if key not in values:
            with np.errstate(all="ignore"):  # extreme start values may overflow: -inf below
                value = objective.likelihood.evaluate(theta, order=0)[0] + shift
            values[key] = float(value) if np.isfinite(value) else -np.inf
    return [values[np.asarray(theta, dtype=float).tobytes()] for theta in [*thetas, best]]


def fit_model(
    spec: ModelSpec,
    data: pd.DataFrame,
    weights: np.ndarray,
    *,
    penalizer: float,
    n_starts: int,
    seed: int,
) -> ModelFit:
    """Fit ``spec`` on condensed rows.

    ``data`` holds frequency, recency, T (purchase models) or frequency, monetary_value
    (Gamma-Gamma), one row per distinct pattern, and ``weights`` the number of customers
    with each pattern.
    """
    weights = np.asarray(weights, dtype=float)
    if spec.name == "gammagamma":
        scale = 1.0
        scaled = (data["frequency"].to_numpy(float), data["monetary_value"].to_numpy(float))
        unscaled = scaled
    else:
        frequency = data["frequency"].to_numpy().astype(int)
        recency = data["recency"].to_numpy(float)
        age = data["T"].to_numpy(float)
        scale = 1.0 / age.max()  # lifetimes' _scale_time
        scaled = (frequency, recency * scale, age * scale)
        unscaled = (frequency, recency, age)
    objective = Objective(spec, scaled, weights, penalizer)
    result = estimate(objective, n_starts=n_starts, seed=seed)

    theta = result.theta + _time_shift(spec, scale)
    params = pd.Series(np.exp(theta), index=list(spec.param_names), dtype=float)
    n_customers = weights.sum()
    with np.errstate(all="ignore"):
        total_hessian = result.hessian * n_customers
        try:
            covariance = np.linalg.inv(total_hessian)
        except np.linalg.LinAlgError:
            covariance = np.full_like(total_hessian, np.nan)
    log_params_covariance = pd.DataFrame(
        covariance, index=params.index, columns=params.index, dtype=float
    )
    # log-likelihood in the data's own time unit, without the penalty
    log_likelihoods = _data_unit_log_likelihoods(
        objective, result.starts["theta"].to_list(), result.theta, scale
    )
    log_likelihood = log_likelihoods[-1]
    shift = _time_shift(spec, scale)
    start_params = np.exp(np.vstack(result.starts["theta"].to_list()) + shift)
    starts = result.starts.drop(columns="theta")
    starts.insert(1, "log_likelihood", log_likelihoods[:-1])
    for position, name in enumerate(spec.param_names, start=2):
        starts.insert(position, name, start_params[:, position - 2])
    result.starts = starts

    fitter = spec.fitter_class(penalizer_coef=penalizer)
    fitter.params_ = params.copy()
    if spec.name == "gammagamma":
        fitter.data = pd.DataFrame(
            {"monetary_value": unscaled[1], "frequency": unscaled[0], "weights": weights}
        )
    else:
        fitter.data = pd.DataFrame(
            {"frequency": unscaled[0], "recency": unscaled[1], "T": unscaled[2], "weights": weights}
        )
        fitter._scale = scale
        fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time
    # lifetimes' attributes, consistent with ccnb's (delta method from the log-parameters)
    variance = np.outer(params, params) * covariance
    fitter.variance_matrix_ = pd.DataFrame(variance, index=params.index, columns=params.index)
    fitter.standard_errors_ = pd.Series(
        np.sqrt(np.clip(np.diag(variance), 0, None)), index=params.index
    )
    fitter._negative_log_likelihood_ = result.objective_value * (
        result.n_rows if spec.penalizer_on_total else 1.0
    )
    return ModelFit(spec, fitter, params, log_params_covariance, float(log_likelihood), result)


# ---------------------------------------------------------------------------------------------
# predictions


def with_params(fitter, params: np.ndarray, names) -> object:
    """A fresh lifetimes fitter of the same class carrying ``params`` (for predictions)."""
    clone = fitter.__class__(penalizer_coef=getattr(fitter, "penalizer_coef", 0.0))
    clone.params_ = pd.Series(np.asarray(params, dtype=float), index=list(names))
    return clone


def conditional_expected_purchases(fitter, t, frequency, recency, age) -> np.ndarray:
    """Conditional expected purchases from lifetimes, numpy floating-point warnings silenced.

    lifetimes' BG/NBD evaluates an alternative hypergeometric form everywhere and keeps it only
    where the first is infinite, so log(negative) warnings are expected and harmless. Where
    lifetimes' Pareto/NBD gives no finite value for a customer who bought on their last
    observed day, the exact value there is used (`_pareto_given_alive`).
    """
    with np.errstate(all="ignore"):
        result = fitter.conditional_expected_number_of_purchases_up_to_time(
            t, frequency, recency, age
        )
    result = np.asarray(result, dtype=float)
    if isinstance(fitter, _lifetimes().ParetoNBDFitter):
        last_day = np.asarray(recency, dtype=float) == np.asarray(age, dtype=float)
        repair = last_day & ~np.isfinite(result)
        if repair.any():  # the formula only when lifetimes failed: this runs once per draw
            result = np.where(repair, _pareto_given_alive(fitter, t, frequency, age), result)
    return result


def probability_alive(fitter, frequency, recency, age) -> np.ndarray:
    """P(alive) from lifetimes, numpy floating-point warnings silenced.

    lifetimes' Pareto/NBD gives NaN for some customers who bought on their last observed day
    (recency = T and a high frequency: a difference of two equal hypergeometric terms); there
    the integral of the death times after the last purchase is empty and P(alive) is exactly 1.
    """
    with np.errstate(all="ignore"):
        result = fitter.conditional_probability_alive(frequency, recency, age)
    result = np.asarray(result, dtype=float).reshape(-1)
    if isinstance(fitter, _lifetimes().ParetoNBDFitter):
        last_day = np.asarray(recency, dtype=float).reshape(-1) == np.asarray(
            age, dtype=float
        ).reshape(-1)
        result = np.where(last_day & ~np.isfinite(result), 1.0, result)
    return result


def _pareto_given_alive(fitter, t, frequency, age) -> np.ndarray:
    """Pareto/NBD expected purchases in (T, T + t] of a customer alive at T.

    ``(r + x) (beta + T) / ((alpha + T) (s - 1)) * (1 - ((beta + T) / (beta + T + t))^(s - 1))``
    (Fader, Hardie and Lee's equation 41 divided by P(alive); ``log(1 + t / (beta + T))``
    times the same factor's limit at s = 1). Broadcasts like lifetimes' expectation.
    """
    r, alpha, s, beta = fitter._unload_params("r", "alpha", "s", "beta")
    x = np.asarray(frequency, dtype=float)
    age = np.asarray(age, dtype=float)
    t = np.asarray(t, dtype=float)
    scale = (r + x) / (alpha + age)
    if abs(s - 1.0) < 1e-12:
        return scale * (beta + age) * np.log1p(t / (beta + age))
    shrink = 1.0 - ((beta + age) / (beta + age + t)) ** (s - 1.0)
    return scale * (beta + age) * shrink / (s - 1.0)


def unconditional_expected_purchases(fitter, t) -> np.ndarray:
    """Expected repeat purchases of a new customer by age ``t`` (lifetimes)."""
    with np.errstate(all="ignore"):
        result = fitter.expected_number_of_purchases_up_to_time(np.asarray(t, dtype=float))
    return np.asarray(result, dtype=float)


class PurchasePath:
    """Expected cumulative purchases at fixed horizons for fixed customer patterns.

    In BG/NBD, MBG/NBD and Pareto/NBD the conditional expectation factorises as
    ``E[X(t) | x, t_x, T] = P(alive | x, t_x, T) * G(x, T, t)``: recency enters only through
    P(alive) (the expectation is P(alive) times the expectation given alive). So the path is
    lifetimes' P(alive) for every distinct (frequency, recency, T) row times G, computed with
    lifetimes' own expectation divided by its P(alive) once per distinct (frequency, T) pair
    (at recency T, where P(alive) is largest). This is exact (checked against lifetimes in the
    tests) and avoids most hypergeometric evaluations; the patterns are prepared once and reused
    for every parameter draw.
    """

    def __init__(self, edges, frequency, recency, age):
        self.edges = np.asarray(edges, dtype=float)
        self.frequency = np.asarray(frequency, dtype=float)
        self.recency = np.asarray(recency, dtype=float)
        self.age = np.asarray(age, dtype=float)
        pairs, inverse = np.unique(
            np.column_stack([self.frequency, self.age]), axis=0, return_inverse=True
        )
        self.pair_frequency, self.pair_age = pairs[:, 0], pairs[:, 1]
        self.pair_recency = np.where(self.pair_frequency > 0, self.pair_age, 0.0)
        self.pair_of_row = inverse.reshape(-1)

    def factors(self, fitter) -> tuple[np.ndarray, np.ndarray]:
        """P(alive) per row, shape (rows,), and G per pair and edge, shape (len(edges), pairs)."""
        alive = probability_alive(fitter, self.frequency, self.recency, self.age)
        pair_alive = probability_alive(
            fitter, self.pair_frequency, self.pair_recency, self.pair_age
        )
        pair_path = conditional_expected_purchases(
            fitter, self.edges[:, None], self.pair_frequency, self.pair_recency, self.pair_age
        )
        with np.errstate(all="ignore"):
            given_alive = pair_path / pair_alive
        return alive, given_alive

    def combine(self, alive: np.ndarray, given_alive: np.ndarray) -> np.ndarray:
        """Expected cumulative purchases from the two factors, shape (len(edges), rows)."""
        return alive[None, :] * given_alive[:, self.pair_of_row]

    def cumulative(self, fitter) -> np.ndarray:
        """Expected cumulative purchases, shape (len(edges), rows)."""
        return self.combine(*self.factors(fitter))

    def per_period(self, fitter) -> np.ndarray:
        """Expected purchases between consecutive edges (from 0), shape (len(edges), rows)."""
        return np.diff(self.cumulative(fitter), axis=0, prepend=0.0)

    @staticmethod
    def per_pair(given_alive: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The weighted sums given alive, per (frequency, T) pair: shape (sums, pairs)."""
        with np.errstate(invalid="ignore"):
            return _on_cumulative(weights) @ given_alive

    def spread(self, alive: np.ndarray, per_pair: np.ndarray) -> np.ndarray:
        """Each row's sums: its P(alive) times its pair's sums given alive, (sums, rows)."""
        return alive[None, :] * per_pair[:, self.pair_of_row]

    def weighted_sums(self, fitter, weights: np.ndarray) -> np.ndarray:
        """Weighted sums of the per-period purchases, without building the path.

        ``weights`` (sums, len(edges)) weighs the purchases between consecutive edges; the
        result (sums, rows) equals ``weights @ per_period(fitter)`` but is computed per
        (frequency, T) pair and then scaled by each row's P(alive), so no (edges, rows) array
        is built: ``sum_k w_k (G_k - G_(k-1)) = sum_k (w_k - w_(k+1)) G_k``, ``w_(n+1) = 0``.
        """
        alive, given_alive = self.factors(fitter)
        return self.spread(alive, self.per_pair(given_alive, weights))


def _on_cumulative(weights: np.ndarray) -> np.ndarray:
    """Weights on the cumulative path equal to ``weights`` on the per-period purchases."""
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    return weights - np.pad(weights[:, 1:], ((0, 0), (0, 1)))


def _expansion_points(k: int) -> np.ndarray:
    """0, +-e_i, +-2 e_i and e_i + e_j (i < j): 1 + 4k + k(k - 1) / 2 points."""
    eye = np.eye(k)
    pairs = [eye[i] + eye[j] for i in range(k) for j in range(i + 1, k)]
    return np.vstack([np.zeros((1, k)), eye, -eye, 2 * eye, -2 * eye, *pairs])


def _expansion_features(z: np.ndarray) -> np.ndarray:
    """Monomials 1, z_i ** p (p = 1..4) and z_i * z_j (i < j) of each row of ``z``."""
    z = np.atleast_2d(z)
    upper_i, upper_j = np.triu_indices(z.shape[1], k=1)
    return np.column_stack([np.ones(len(z)), z, z**2, z**3, z**4, z[:, upper_i] * z[:, upper_j]])


class PathExpansion:
    """Weighted sums of the purchase path under parameter draws, from a polynomial in the draws.

    Draws are ``exp(theta + chol @ z)`` with ``z`` standard normal (see
    :func:`draw_log_params`). Rather than evaluating lifetimes' hypergeometric expectations
    for every draw, the log-odds of P(alive) of every row and the log of each weighted sum
    of the path given alive (e.g. discounted and total purchases over the horizon) of every
    (frequency, T) pair (see :class:`PurchasePath`) are evaluated exactly at the
    1 + 4k + k(k - 1) / 2 points ``z`` = 0, +-e_i, +-2 e_i, e_i + e_j (steps of one standard
    deviation along each axis of the draws' distribution) and interpolated by the polynomial
    with terms 1, z_i ** p (p <= 4) and z_i * z_j through them. Expanding the sums rather
    than each month keeps two values per pair instead of one per month (a million customers
    have ~200,000 pairs). On the CDNOW and demo fits the draws' interval bounds agree with
    exact per-draw evaluation to a fraction of the Monte Carlo error of 200 draws (see the
    tests). ``usable`` is False when an evaluation point leaves the region where the
    expectation is finite and positive; evaluate each draw exactly then.
    """

    #: draws evaluated together hold at most this many values (8 MB of float64)
    CHUNK_VALUES = 2**20

    def __init__(
        self,
        path: PurchasePath,
        weights: np.ndarray,
        fitter,
        params: pd.Series,
        covariance: pd.DataFrame,
    ):
        self.path = path
        self.weights = np.atleast_2d(np.asarray(weights, dtype=float))
        theta, chol = _log_normal(params, covariance)
        points = _expansion_points(len(theta))
        # coefficients = F^-1 @ logs, accumulated one evaluation point (one column of F^-1)
        # at a time, so the logs of every point are never held together
        inverse = np.linalg.inv(_expansion_features(points))
        self.n_rows = len(path.frequency)
        coefficients = None
        self.usable = True
        for j, z in enumerate(points):
            alive, given_alive = path.factors(
                with_params(fitter, np.exp(theta + chol @ z), params.index)
            )
            per_pair = path.per_pair(given_alive, self.weights)
            # log-odds of P(alive), clipped so that 0 and 1 stay finite (and constant)
            alive = np.clip(alive, 1e-300, 1 - 2**-53)
            with np.errstate(divide="ignore", invalid="ignore"):
                logs = np.concatenate([np.log(alive / (1 - alive)), np.log(per_pair).ravel()])
            if not np.all(np.isfinite(logs)):
                self.usable = False
                break
            if coefficients is None:
                # column-major: the products with many draws run ~6x faster than row-major
                coefficients = np.zeros((len(points), len(logs)), order="F")
            for i in range(len(points)):
                coefficients[i] += inverse[i, j] * logs
        self.coefficients = coefficients if self.usable else None

    def _sums(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            alive = 1 / (1 + 1 / values[: self.n_rows])
        return self.path.spread(alive, values[self.n_rows :].reshape(len(self.weights), -1))

    def weighted_sums(self, z: np.ndarray) -> np.ndarray:
        """The weighted sums at the draw with coordinates ``z``, shape (sums, rows)."""
        return self._sums(np.exp(_expansion_features(z)[0] @ self.coefficients))

    def weighted_sums_draws(self, z: np.ndarray) -> Iterator[np.ndarray]:
        """The weighted sums, shape (sums, rows), at each draw ``z[d]`` in turn.

        The polynomial is evaluated for a chunk of draws at once (one matrix product) into a
        reused buffer: fresh memory for every chunk costs more in page faults than the maths.
        """
        values_per_draw = max(1, self.coefficients.shape[1])  # no rows: a plan's empty patterns
        size = max(1, min(len(z), self.CHUNK_VALUES // values_per_draw))
        buffer = np.empty((size, self.coefficients.shape[1]))
        for start in range(0, len(z), size):
            features = _expansion_features(z[start : start + size])
            values = buffer[: len(features)]
            np.matmul(features, self.coefficients, out=values)
            np.exp(values, out=values)
            for row in values:
                yield self._sums(row)


def draw_log_params(
    params: pd.Series, covariance: pd.DataFrame, n_draws: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Parameter sets from the asymptotic normal of the log-parameters.

    Returns the standard normal coordinates ``z`` (n_draws, k) and the parameter sets
    ``exp(theta + z @ chol.T)`` (n_draws, k), ``chol`` the Cholesky factor of ``covariance``.
    """
    theta, chol = _log_normal(params, covariance)
    z = rng.standard_normal((n_draws, len(theta)))
    return z, np.exp(theta + z @ chol.T)


def _log_normal(params: pd.Series, covariance: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Mean (log-parameters) and Cholesky factor of the draws' normal: their coordinates."""
    return np.log(params.to_numpy(float)), np.linalg.cholesky(covariance.to_numpy(float))
