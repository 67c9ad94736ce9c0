"""Per-customer predictions: P(alive), expected purchases and spend, residual CLV with intervals.

Definitions in docs/methodology.md, "Predictive CLV" and "Intervals".
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ccnb.clv import _btyd
from ccnb.clv.draws import DrawMatrix, DrawWriter
from ccnb.clv.fitting import _btyd_inputs, _customer_ids, _require_columns
from ccnb.clv.predictive import (
    OWN_RANDOMNESS_STREAM,
    _draw_future,
    _expected_spend,
    _spend_model_mean,
    column_quantiles,
    probability_of_purchase,
)
from ccnb.clv.results import FittedModel, Predictions

__all__ = ["expected_purchases", "margin_columns", "predict", "reprice"]


#: model time units per month, for time_unit D (days), W (days / 7), M (days / (365.25 / 12))
UNITS_PER_MONTH = {"D": 365.25 / 12, "W": 365.25 / 12 / 7, "M": 1.0}


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
    draws_folder: str | Path | None = None,
) -> Predictions:
    """Residual CLV per customer with predictive intervals (parameters and own randomness).

    ``rclv = gross_margin * expected_spend * sum_k v_k * purchases_k`` over months
    k = 1..``horizon_months``, where ``purchases_k`` is the expected number of purchases in
    month k (differences of lifetimes' conditional expectation at k months, a month being
    365.25 / 12 days in the model's time unit) and ``v_k = (1 + d_m) ** -k`` with the monthly
    rate ``d_m = (1 + discount_rate_annual) ** (1 / 12) - 1`` (cash flows at month ends).

    The intervals redraw the parameters ``n_draws`` times from the asymptotic normal of the
    log-parameters (covariance: inverse Hessian) of each model, seeded. Under each draw, every
    customer's future is drawn once (:func:`ccnb.clv.predictive.future_purchases`,
    :func:`~ccnb.clv.predictive.future_spend`: still active or not, the purchases, their
    spend) and its realised rCLV kept; ``rclv_low``/``rclv_high`` (and the purchases' bounds)
    are the ``(1 - interval) / 2`` and ``(1 + interval) / 2`` quantiles of these joint draws:
    parameter uncertainty and the customer's own randomness. ``rclv_param_low``/``_high`` are
    the quantiles of the expected rCLV under each parameter draw (parameter uncertainty only;
    the estimate lies inside them for every CDNOW customer, see the tests). Draws that give a
    non-finite or negative value (e.g. Gamma-Gamma q <= 1) are dropped whole;
    ``settings["n_draws"]`` of the result says how many were used. Spend is evaluated
    exactly per draw; each customer's discounted and total expected purchases per draw come
    from a polynomial in the draws' coordinates fitted to exact evaluations at 23 parameter
    points
    (``ccnb.clv._btyd.PathExpansion``; exact per draw where the expansion cannot be built),
    which moves the bounds by a small fraction of the interval's width (see the tests).

    The result keeps both kinds of draws (float32, ``8 * n_draws`` bytes per customer) and the
    expected monthly margin per customer (``4 * horizon_months`` bytes) next to the table, for
    :func:`customer_equity` and :func:`clv_by`, whose totals come from the same joint draws.
    With ``draws_folder`` the draws go to files there as they are made (`DrawMatrix`), and
    the intervals are read back a block of customers at a time: memory then grows with the
    customers, not with customers x draws.

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
    draws_folder : str or pathlib.Path, optional
        Write the draws to files in this folder (which must outlive the result) instead of
        keeping them in memory.

    Returns
    -------
    Predictions
        The draws, the monthly margins and ``table``, one row per customer in the summary's
        order:

        - ``customer_id``
        - ``p_alive``: probability the customer is still active (lifetimes'
          ``conditional_probability_alive``)
        - ``p_no_purchase``: probability of no purchase within the horizon, exact at the
          estimates (:func:`ccnb.clv.predictive.probability_of_purchase`; NaN for a purchase
          model other than BG/NBD, MBG/NBD and Pareto/NBD)
        - ``expected_purchases``: expected repeat purchases over the horizon (undiscounted)
        - ``purchases_low``, ``purchases_high``: predictive interval of the purchases
        - ``expected_spend``: Gamma-Gamma conditional expected spend per purchase; customers
          excluded from Gamma-Gamma (no repeat purchase or spend <= 0) get the population
          mean ``v * p / (q - 1)``
        - ``rclv``: residual CLV, discounted gross margin over the horizon
        - ``rclv_low``, ``rclv_high``: predictive interval (parameters and own randomness)
        - ``rclv_param_low``, ``rclv_param_high``: parameter-only interval
        - ``decile``: 1 (highest rclv) to 10; equal rclv values share a decile (by the
          rank of the first of them)
    """
    _check_options(gross_margin=gross_margin, interval=interval)
    ids = pd.Index(_customer_ids(summary))
    if not ids.is_unique:
        duplicated = ids[ids.duplicated()][:3].tolist()
        raise ValueError(f"customer ids must be unique in the summary; repeated: {duplicated}")
    point = _point_predictions(
        summary,
        purchases=purchases,
        spend=spend,
        mean_spend=None,
        gross_margin=gross_margin,
        discount_rate_annual=discount_rate_annual,
        horizon_months=horizon_months,
        time_unit=time_unit,
    )
    draws = _Draws.empty(len(point.ids))
    if n_draws > 0:
        draws = _rclv_draws(
            point,
            purchases,
            spend,
            parameters=_parameter_draws(purchases, spend, n_draws=n_draws, seed=seed),
            own_rng=np.random.default_rng([seed, OWN_RANDOMNESS_STREAM]),
            folder=None if draws_folder is None else Path(draws_folder),
        )
    table = _customer_table(point, draws, interval)
    table["decile"] = _deciles(point.rclv)
    monthly_margin = _monthly_margin(
        gross_margin * point.expected_spend, point.monthly, point.inputs.row_of_customer
    )
    return Predictions(
        table=table,
        rclv_draws=draws.predictive,
        rclv_parameter_draws=draws.parameter,
        monthly_margin=monthly_margin,
        new_customer_value=point.new_customer_value,
        new_customer_draws=np.asarray(draws.new_customer, dtype=float),
        settings=_settings(
            purchases,
            spend,
            gross_margin=gross_margin,
            discount_rate_annual=discount_rate_annual,
            horizon_months=horizon_months,
            time_unit=time_unit,
            interval=interval,
            n_draws_requested=n_draws,
            n_draws=len(draws.parameter),
            seed=seed,
        ),
    )


def _check_options(*, gross_margin: float, interval: float) -> None:
    """Refuse a margin outside [0, 1] or an interval outside (0, 1)."""
    if not 0 <= gross_margin <= 1:
        raise ValueError(f"gross_margin must be a fraction in [0, 1], got {gross_margin}")
    if not 0 < interval < 1:
        raise ValueError(f"interval must be in (0, 1), got {interval}")


def _settings(purchases, spend, **options) -> dict:
    """The options of a prediction and the draws it used, as ``Predictions.settings``."""
    return {
        "gross_margin": options["gross_margin"],
        "discount_rate_annual": options["discount_rate_annual"],
        "horizon_months": int(options["horizon_months"]),
        "time_unit": options["time_unit"],
        "interval": options["interval"],
        "n_draws_requested": options["n_draws_requested"],
        "n_draws": int(options["n_draws"]),
        "seed": options["seed"],
        "purchase_model": purchases.name,
        "spend_model": None if spend is None else spend.name,
    }


def margin_columns(horizon_months: int) -> list[str]:
    """The columns of a table that holds ``Predictions.monthly_margin`` (a month each).

    ``margin_month_1`` to ``margin_month_<horizon_months>``: each customer's (or a group's
    summed) expected margin in that month of the horizon, undiscounted. Tables of
    predictions made where the customers are carry them (`ccnb.clv.partitioned`).
    """
    return [f"margin_month_{month}" for month in range(1, int(horizon_months) + 1)]


#: customers per block when spreading the monthly path to every customer
_MARGIN_BLOCK = 100_000


def _monthly_margin(value_per_purchase, monthly: np.ndarray, row_of_customer) -> np.ndarray:
    """Expected margin per customer and month (float32), a block of customers at a time."""
    margin = np.empty((len(row_of_customer), monthly.shape[0]), dtype=np.float32)
    for start in range(0, len(row_of_customer), _MARGIN_BLOCK):
        block = slice(start, start + _MARGIN_BLOCK)
        margin[block] = value_per_purchase[block, None] * monthly[:, row_of_customer[block]].T
    return margin


@dataclass
class _Point:
    """Point predictions of a set of customers, and what their draws are computed from."""

    ids: np.ndarray
    inputs: _ClvInputs
    expected_spend: np.ndarray
    mean_spend: float
    monthly: np.ndarray  # expected purchases per month and distinct row
    rclv: np.ndarray
    p_alive: np.ndarray
    p_no_purchase: np.ndarray
    new_customer_value: float


def _clv_inputs(
    frequency, recency, age, *, gross_margin, discount_rate_annual, horizon_months, time_unit
) -> _ClvInputs:
    """Customers' inputs to rCLV under any parameter set, from their distinct rows.

    Without ``monetary`` (set it for a spend model).
    """
    rows, _, inverse = _btyd.condense({"frequency": frequency, "recency": recency, "T": age})
    row_values = [rows[name].to_numpy() for name in ("frequency", "recency", "T")]
    return _ClvInputs(
        path=_btyd.PurchasePath(_month_edges(horizon_months, time_unit), *row_values),
        row_of_customer=inverse,
        frequency=np.asarray(frequency, dtype=float),
        age=np.asarray(age, dtype=float),
        monetary=None,
        discount=_monthly_discount(horizon_months, discount_rate_annual),
        gross_margin=gross_margin,
    )


def _point_predictions(
    summary: pd.DataFrame,
    *,
    purchases: FittedModel,
    spend: FittedModel | None,
    mean_spend: float | None,
    gross_margin: float,
    discount_rate_annual: float,
    horizon_months: int,
    time_unit: str,
) -> _Point:
    """What :func:`predict` gives at the estimates, for the customers of ``summary``.

    ``mean_spend`` is the value of a purchase without a spend model; None takes the mean
    ``monetary_value`` of the summary's repeat buyers (a part of the customers must be given
    the whole population's).
    """
    ids = _customer_ids(summary)
    frequency, recency, age = _btyd_inputs(summary, "predict")
    inputs = _clv_inputs(
        frequency,
        recency,
        age,
        gross_margin=gross_margin,
        discount_rate_annual=discount_rate_annual,
        horizon_months=horizon_months,
        time_unit=time_unit,
    )
    path = inputs.path
    if spend is not None:
        _require_columns(summary, ["monetary_value"], "predict with a spend model")
        inputs.monetary = summary["monetary_value"].to_numpy(float)
        expected_spend, mean_spend = inputs.spend(spend.fitter)
    else:
        if mean_spend is None:
            mean_spend = _mean_observed_spend(summary, frequency)
        expected_spend = np.full(len(frequency), mean_spend)
    monthly = inputs.path.per_period(purchases.fitter)
    no_purchase = np.full(len(ids), np.nan)  # the three purchase models only (not a stand-in)
    if purchases.name in _btyd.PURCHASE_MODELS:
        horizon = np.full(len(ids), path.edges[-1])
        no_purchase = 1 - probability_of_purchase(purchases, frequency, recency, age, horizon)
    return _Point(
        ids=ids,
        inputs=inputs,
        expected_spend=expected_spend,
        mean_spend=float(mean_spend),
        monthly=monthly,
        rclv=inputs.rclv(inputs.weights @ monthly, expected_spend),
        p_alive=_btyd.probability_alive(purchases.fitter, path.frequency, path.recency, path.age)[
            inputs.row_of_customer
        ],
        p_no_purchase=no_purchase,
        new_customer_value=float(inputs.new_customer_value(purchases.fitter, mean_spend)),
    )


def _customer_table(point: _Point, draws: _Draws, interval: float) -> pd.DataFrame:
    """The per-customer table of :func:`predict`, without the deciles (they rank everyone).

    The purchase draws are dropped once their interval is read.
    """
    quantiles = [(1 - interval) / 2, (1 + interval) / 2]
    nan = np.full(len(point.ids), np.nan)
    low = high = param_low = param_high = purchases_low = purchases_high = nan
    if len(draws.parameter):
        param_low, param_high = column_quantiles(draws.parameter, quantiles)
        # the empirical distribution's own quantiles: whole purchases stay whole
        low, high = column_quantiles(draws.predictive, quantiles, method="inverted_cdf")
        purchases_low, purchases_high = column_quantiles(
            draws.purchases, quantiles, method="inverted_cdf"
        )
    draws.purchases.delete()
    return pd.DataFrame(
        {
            "customer_id": point.ids,
            "p_alive": point.p_alive,
            "p_no_purchase": point.p_no_purchase,
            "expected_purchases": point.monthly.sum(axis=0)[point.inputs.row_of_customer],
            "purchases_low": np.asarray(purchases_low, dtype=float),
            "purchases_high": np.asarray(purchases_high, dtype=float),
            "expected_spend": point.expected_spend,
            "rclv": point.rclv,
            "rclv_low": np.asarray(low, dtype=float),
            "rclv_high": np.asarray(high, dtype=float),
            "rclv_param_low": np.asarray(param_low, dtype=float),
            "rclv_param_high": np.asarray(param_high, dtype=float),
        }
    )


def reprice(predictions: Predictions, *, gross_margin: float) -> Predictions:
    """The same predictions at another gross margin, without drawing or fitting again.

    Every value in money (rCLV, its bounds and draws, the monthly margins, a new customer's
    value) is gross margin times revenue, so it scales by ``gross_margin / old``; the
    purchases, spend and probabilities are unchanged. Exact: the result equals :func:`predict`
    run at ``gross_margin`` up to float32 rounding of the draws.

    Parameters
    ----------
    predictions : Predictions
        Output of :func:`predict`.
    gross_margin : float
        The new margin, a fraction in (0, 1].

    Returns
    -------
    Predictions
        A new object; ``predictions`` is not changed.
    """
    if not 0 < gross_margin <= 1:
        raise ValueError(f"gross_margin must be a fraction in (0, 1], got {gross_margin}")
    old = predictions.settings["gross_margin"]
    if old <= 0:
        raise ValueError("predictions at a zero gross margin cannot be re-priced")
    factor = gross_margin / old
    table = predictions.table.copy()
    money = ["rclv", "rclv_low", "rclv_high", "rclv_param_low", "rclv_param_high"]
    table[money] = table[money] * factor
    return Predictions(
        table=table,
        rclv_draws=predictions.rclv_draws.scaled(factor),
        rclv_parameter_draws=predictions.rclv_parameter_draws.scaled(factor),
        monthly_margin=predictions.monthly_margin * np.float32(factor),
        new_customer_value=predictions.new_customer_value * factor,
        new_customer_draws=predictions.new_customer_draws * factor,
        settings={**predictions.settings, "gross_margin": gross_margin},
    )


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
    age: np.ndarray
    monetary: np.ndarray | None
    discount: np.ndarray  # per month
    gross_margin: float

    def spend(self, spend_fitter) -> tuple[np.ndarray, float]:
        """Expected spend per customer and the population mean under a Gamma-Gamma fitter."""
        params = spend_fitter.params_
        return (
            _expected_spend(params, self.frequency, self.monetary),
            _spend_model_mean(tuple(params[name] for name in ("p", "q", "v"))),
        )

    @property
    def weights(self) -> np.ndarray:
        """The two sums of the monthly purchases kept per row: discounted, and in all."""
        return np.vstack([self.discount, np.ones_like(self.discount)])

    def rclv(self, sums: np.ndarray, expected_spend: np.ndarray) -> np.ndarray:
        """Discounted margin per customer from each row's purchase sums (see ``weights``)."""
        return self.gross_margin * expected_spend * sums[0][self.row_of_customer]

    def alive_and_timing(self, fitter, sums) -> tuple[np.ndarray, np.ndarray]:
        """Per customer under a draw: P(alive) and the discount of an average purchase.

        The second is the ratio of the customer's discounted to total expected purchases
        (``sums``, see ``weights``): each purchase drawn by :meth:`realised` counts at it.
        """
        path = self.path
        p_alive = _btyd.probability_alive(fitter, path.frequency, path.recency, path.age)
        discounted, expected = sums
        safe = np.where(expected > 0, expected, 1.0)
        timing = np.where(expected > 0, discounted / safe, 1.0)
        return p_alive[self.row_of_customer], timing[self.row_of_customer]

    def realised(self, model, params, p_alive, timing, spend_params, mean_spend, rng):
        """One draw of each customer's purchases and discounted margin under ``params``.

        Returns ``(purchases, rclv)``: the purchases over the horizon
        (:func:`ccnb.clv.predictive.future_purchases`), their spend (Gamma-Gamma, or the mean
        spend without a spend model) times the margin, and each purchase discounted at the
        average discount factor of the customer's expected purchases under the draw
        (``p_alive`` and ``timing`` from :meth:`alive_and_timing`).
        """
        count, spend = _draw_future(
            model,
            params,
            p_alive=p_alive,
            frequency=self.frequency,
            age=self.age,
            duration=self.path.edges[-1],
            monetary=self.monetary,
            spend_params=spend_params,
            rng=rng,
        )
        if spend is None:  # no spend model: each purchase is worth the mean spend
            spend = count * mean_spend
        return count, self.gross_margin * spend * timing

    def new_customer_value(self, fitter, mean_spend: float) -> float:
        """Discounted repeat-purchase margin of a customer acquired now."""
        cumulative = _btyd.unconditional_expected_purchases(fitter, self.path.edges)
        monthly = np.diff(cumulative, prepend=0.0)
        return self.gross_margin * mean_spend * float(self.discount @ monthly)


@dataclass
class _Draws:
    """The draws behind predict's intervals, one row per valid draw."""

    parameter: DrawMatrix  # expected rCLV under each parameter draw
    predictive: DrawMatrix  # rCLV realised: the draw's parameters and one draw of each future
    purchases: DrawMatrix  # purchases over the horizon in that same future (uint16)
    new_customer: np.ndarray  # a new customer's value under each parameter draw
    kept: np.ndarray  # each row's position among the parameter sets (the invalid left out)

    @classmethod
    def empty(cls, n_customers: int) -> _Draws:
        """No draws (predict with n_draws=0)."""
        nothing = DrawMatrix(np.empty((0, n_customers), dtype=np.float32))
        return cls(
            nothing, nothing, DrawMatrix(nothing, dtype=np.uint16), np.empty(0), np.empty(0, int)
        )


@dataclass(frozen=True)
class _ParameterDraws:
    """The parameter sets behind the intervals, one row per draw.

    The purchase model's come with their standard normal coordinates (for the path
    expansion); the spend model's are None without a spend model.
    """

    purchase_z: np.ndarray  # (draws, k)
    purchase: np.ndarray  # (draws, k)
    spend: np.ndarray | None  # (draws, 3)

    def __len__(self) -> int:
        return len(self.purchase)

    def subset(self, keep: np.ndarray) -> _ParameterDraws:
        """The draws where ``keep`` is True, in order."""
        return _ParameterDraws(
            self.purchase_z[keep],
            self.purchase[keep],
            None if self.spend is None else self.spend[keep],
        )


def _parameter_draws(purchases, spend, *, n_draws: int, seed: int) -> _ParameterDraws:
    """``n_draws`` parameter sets of each model from the asymptotic normal, seeded."""
    rng = np.random.default_rng(seed)
    purchase_z, purchase_sets = _btyd.draw_log_params(
        purchases.params_, purchases.log_params_covariance_, n_draws, rng
    )
    spend_sets = None
    if spend is not None:
        _, spend_sets = _btyd.draw_log_params(
            spend.params_, spend.log_params_covariance_, n_draws, rng
        )
    return _ParameterDraws(purchase_z, purchase_sets, spend_sets)


def _draw_sums(inputs: _ClvInputs, purchases, parameters: _ParameterDraws) -> Iterator:
    """Each draw's fitter and weighted path sums (see ``_ClvInputs.weights``), in order.

    The sums come from :class:`ccnb.clv._btyd.PathExpansion` (exact evaluation at 23 points
    instead of one per draw) unless an expansion point is invalid; then exactly per draw.
    """
    weights = inputs.weights
    expansion = _btyd.PathExpansion(
        inputs.path,
        weights,
        purchases.fitter,
        purchases.params_,
        purchases.log_params_covariance_,
    )
    paths = expansion.weighted_sums_draws(parameters.purchase_z) if expansion.usable else None
    names = purchases.params_.index
    for params in parameters.purchase:
        fitter = _btyd.with_params(purchases.fitter, params, names)
        sums = next(paths) if paths is not None else inputs.path.weighted_sums(fitter, weights)
        yield fitter, sums


def _is_valid_draw(values: np.ndarray, new_customer: float) -> bool:
    """A draw is kept when every value and a new customer's value are finite and >= 0."""
    valid = bool(np.all(np.isfinite(values)) and np.all(values >= -1e-9))
    return valid and bool(np.isfinite(new_customer) and new_customer >= 0)


def _rclv_draws(
    point: _Point, purchases, spend, *, parameters: _ParameterDraws, own_rng, folder
) -> _Draws:
    """Residual CLV per parameter draw, expected and realised (draws x customers), invalid dropped.

    Spend and the new-customer value are evaluated exactly for every draw, the purchase path
    sums as in :func:`_draw_sums`; a draw whose value is negative or not finite for any
    customer, or whose new-customer value is not (a parameter past a singularity), is dropped.
    The realised rCLV of a draw draws each customer's future under the draw's parameters
    (:func:`ccnb.clv.predictive.future_purchases`, :func:`~ccnb.clv.predictive.future_spend`,
    with ``own_rng``) and discounts it with the draw's expected timing: each purchase counts
    at the average discount factor of the customer's expected purchases under that draw. Each
    valid draw is written as it is made (`DrawWriter`: into ``folder``, else memory).
    """
    inputs = point.inputs
    n_draws, n_customers = len(parameters), len(inputs.row_of_customer)

    def writer(name, dtype=np.float32):
        path = None if folder is None else folder / f"{name}-{uuid.uuid4().hex}.{dtype.__name__}"
        return DrawWriter(n_draws, n_customers, path=path, dtype=dtype)

    parameter, predictive = writer("rclv_parameter_draws"), writer("rclv_draws")
    purchase_counts = writer("purchase_draws", np.uint16)

    def keep_realised(pending: Future) -> None:
        count, realised = pending.result()
        # purchase counts above 65,535 in one horizon do not occur in any retail history
        purchase_counts.append(np.minimum(count, np.iinfo(np.uint16).max))
        predictive.append(realised)

    new_customer = np.empty(n_draws)
    valid = np.ones(n_draws, dtype=bool)
    names = purchases.params_.index
    # Each valid draw's future is drawn by one worker thread, in draw order, from ``own_rng``
    # (the same stream as drawn inline, so the same values), while this thread evaluates the
    # next draw's expectations: numpy releases the interpreter in both. At most one draw's
    # future is pending, so memory holds the customers of two draws at a time.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ccnb-draws") as drawing:
        pending = None
        for d, (fitter, sums) in enumerate(_draw_sums(inputs, purchases, parameters)):
            spend_d, mean_spend_d, spend_params = point.expected_spend, point.mean_spend, None
            if spend is not None:
                spend_fitter = _btyd.with_params(
                    spend.fitter, parameters.spend[d], spend.params_.index
                )
                spend_d, mean_spend_d = inputs.spend(spend_fitter)
                spend_params = spend_fitter.params_
            values = inputs.rclv(sums, spend_d)
            new_customer[d] = inputs.new_customer_value(fitter, mean_spend_d)
            valid[d] = _is_valid_draw(values, new_customer[d])
            if not valid[d]:
                continue
            parameter.append(values)
            drawn = drawing.submit(
                inputs.realised,
                purchases.name,
                dict(zip(names, parameters.purchase[d], strict=True)),
                *inputs.alive_and_timing(fitter, sums),
                spend_params,
                mean_spend_d,
                own_rng,
            )
            if pending is not None:
                keep_realised(pending)
            pending = drawn
        if pending is not None:
            keep_realised(pending)
    return _Draws(
        parameter=parameter.finish(),
        predictive=predictive.finish(),
        purchases=purchase_counts.finish(),
        new_customer=new_customer[valid],
        kept=np.flatnonzero(valid),
    )


def _deciles(values: np.ndarray) -> np.ndarray:
    """Decile 1 (highest) to 10 by rank; ties share the decile of the first of them."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return np.empty(0, dtype=int)
    rank = pd.Series(values).rank(method="min", ascending=False).to_numpy()
    return (np.floor((rank - 1) * 10 / len(values)) + 1).astype(int)
