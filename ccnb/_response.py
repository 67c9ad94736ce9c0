"""Response curves (value added by marketing spend) and the equal-marginal budget solver.

The response curves and the exact customer-centric optimum (docs/methodology.md, "Response
curves" and "Budget allocation"); the public names are re-exported by :mod:`ccnb.budget`.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

# Newton on the Hill inverse takes 2-3 steps from its tabulated start; the cap is a guard only.
_MAX_NEWTON_STEPS = 100
_NEWTON_LAST_STEP = 1e-8
# The shadow-price search takes about 10 steps; guard only.
_MAX_SEARCH_STEPS = 500
# The shadow price is resolved to 4 ulps: the bracket's ends end up this close, relatively.
_MIN_STEP = 4 * np.finfo(float).eps
#: shadow prices tried in one pass over customers kept elsewhere (`narrowed_bracket`)
LEVELS_AT_ONCE = 64


@runtime_checkable
class ResponseCurve(Protocol):
    """How much value a spend adds to a customer: the interface the allocators use.

    ``base`` is the value reached at saturation, ``rCLV_i * max_lift``; the added
    value of a spend ``s`` is ``value(base, s)``, between 0 and ``base``. All methods
    take and return numpy arrays (one entry per customer) and broadcast their
    arguments. The allocators are exact for a curve whose value is concave in spend
    (marginal value non-increasing), which both shipped curves are, and need
    ``inverse_marginal`` to grow without bound as the level falls to 0.
    """

    def value(self, base: ArrayLike, spend: ArrayLike) -> FloatArray:
        """Return the value added by ``spend`` to a customer with saturation value ``base``."""
        ...

    def marginal(self, base: ArrayLike, spend: ArrayLike) -> FloatArray:
        """Return the derivative of :meth:`value` in spend: value of the next unit."""
        ...

    def inverse_marginal(self, base: ArrayLike, marginal_level: ArrayLike) -> FloatArray:
        """Spend at which :meth:`marginal` equals ``marginal_level`` (> 0).

        0 where the marginal value at zero spend is already at or below the level.
        """
        ...


@dataclass(frozen=True)
class ExponentialResponse:
    """Diminishing returns: ``value = base * (1 - exp(-spend / spend_scale))``.

    See docs/methodology.md, "Response curves". ``spend_scale`` is the spend that reaches 63% of the
    saturation value ``base``; the marginal value at zero spend is ``base / spend_scale``.

    Parameters
    ----------
    spend_scale : float
        Spend scale in currency, > 0.
    """

    spend_scale: float

    def __post_init__(self) -> None:
        _check_positive("spend_scale", self.spend_scale)

    def value(self, base: ArrayLike, spend: ArrayLike) -> FloatArray:
        """Return the added value ``base * (1 - exp(-spend / spend_scale))``."""
        base, spend = _as_float_arrays(base, spend)
        return base * -np.expm1(-spend / self.spend_scale)

    def marginal(self, base: ArrayLike, spend: ArrayLike) -> FloatArray:
        """Marginal value ``base / spend_scale * exp(-spend / spend_scale)``."""
        base, spend = _as_float_arrays(base, spend)
        return base / self.spend_scale * np.exp(-spend / self.spend_scale)

    def inverse_marginal(self, base: ArrayLike, marginal_level: ArrayLike) -> FloatArray:
        """Spend ``spend_scale * ln(base / (spend_scale * marginal_level))``, floored at 0."""
        base, level = _as_float_arrays(base, marginal_level)
        _check_levels(level)
        with np.errstate(over="ignore", divide="ignore"):  # extreme levels: infinite ratio
            ratio = base / (self.spend_scale * level)
        # the log only where the customer is funded: most of the cost when few are
        return self.spend_scale * np.log(ratio, out=np.zeros(ratio.shape), where=ratio > 1)


@dataclass(frozen=True)
class HillResponse:
    """Hill (ADBUDG) curve: ``value = base * s**shape / (s**shape + spend_scale**shape)``.

    ``spend_scale`` is the spend that reaches half the saturation value. Only concave
    shapes, ``0 < shape <= 1``, are accepted: with ``shape > 1`` the curve is S-shaped,
    the allocation problem is no longer convex (small spends are wasted below the
    inflection point, so the optimum funds fewer customers and is a knapsack-like
    combinatorial problem) and equal marginal values give a stationary point, not the
    optimum. With ``shape < 1`` the marginal value at zero spend is infinite, so every
    customer with positive rCLV receives some spend under the optimal allocation; with
    ``shape == 1`` it is ``base / spend_scale``.

    Parameters
    ----------
    spend_scale : float
        Half-saturation spend in currency, > 0.
    shape : float, default 1.0
        Hill exponent, ``0 < shape <= 1``.
    """

    spend_scale: float
    shape: float = 1.0

    def __post_init__(self) -> None:
        _check_positive("spend_scale", self.spend_scale)
        _check_positive("shape", self.shape)
        if self.shape > 1:
            raise ValueError(
                f"HillResponse shape={self.shape} > 1 gives an S-shaped curve: the budget "
                "problem is then not convex and equal marginal values are not the optimum. "
                "Use shape <= 1 (concave), or ExponentialResponse."
            )

    def value(self, base: ArrayLike, spend: ArrayLike) -> FloatArray:
        """Return the added value ``base * x / (1 + x)``, ``x = (spend / spend_scale) ** shape``."""
        base, spend = _as_float_arrays(base, spend)
        ratio = (spend / self.spend_scale) ** self.shape
        return base * ratio / (1.0 + ratio)

    def marginal(self, base: ArrayLike, spend: ArrayLike) -> FloatArray:
        """Marginal value ``base * shape / spend_scale * u**(shape-1) / (1 + u**shape)**2``.

        ``u = spend / spend_scale``. At zero spend it is ``base / spend_scale`` for
        ``shape == 1`` and infinite for ``shape < 1`` (0 when ``base`` is 0).
        """
        base, spend = np.broadcast_arrays(*_as_float_arrays(base, spend))
        shape = self.shape
        scaled = spend / self.spend_scale
        positive = scaled > 0
        log_scaled = np.log(scaled, out=np.zeros_like(scaled), where=positive)
        # log of u**(k-1) / (1 + u**k)**2, safe from overflow for any u > 0
        log_factor = (shape - 1.0) * log_scaled - 2.0 * np.logaddexp(0.0, shape * log_scaled)
        with np.errstate(over="ignore"):  # u -> 0 with shape < 1: the marginal is +inf
            factor = np.exp(log_factor)
        at_zero = 1.0 if shape == 1 else np.inf
        factor = np.where(positive, factor, at_zero)
        marginal = np.zeros_like(factor)
        funded = base > 0  # base 0 has marginal 0 even where the factor is infinite
        marginal[funded] = base[funded] * shape / self.spend_scale * factor[funded]
        return marginal

    def inverse_marginal(self, base: ArrayLike, marginal_level: ArrayLike) -> FloatArray:
        """Spend where the marginal value equals ``marginal_level``; 0 where it never does.

        Closed form for ``shape == 1`` (``spend_scale * (sqrt(base / (spend_scale *
        level)) - 1)``); for ``shape < 1`` a vectorised Newton solve in log spend.
        """
        base, level = _as_float_arrays(base, marginal_level)
        _check_levels(level)
        shape, scale = self.shape, self.spend_scale
        positive = base > 0
        # y = log(level / (base * shape / scale)): target of log of the unit-free marginal
        log_target = np.log(level) - _log_or_minus_inf(base) - math.log(shape / scale)
        log_target = np.where(positive, log_target, 0.0)
        if shape == 1:
            # u = 1 / sqrt(t) - 1 with t = exp(y), so log u = log(1 - exp(y / 2)) - y / 2
            gap = -np.expm1(0.5 * log_target)
            log_scaled = _log_or_minus_inf(gap) - 0.5 * log_target
        else:
            log_scaled = _solve_hill_log_spend(log_target, shape)
        with np.errstate(over="ignore"):  # absurdly low levels: infinite spend
            spend = scale * np.exp(log_scaled)
        return np.where(positive, spend, 0.0)


def _solve_hill_log_spend(target: FloatArray, shape: float) -> FloatArray:
    """Solve ``h(t) = (k-1) t - 2 log(1 + e^(k t)) = target`` for t (k = shape < 1).

    ``h`` is strictly decreasing and concave, so Newton's method converges from any
    start (a first step from the left lands right of the root, from where the steps
    move monotonically left, quadratically). The start is interpolated from a table of
    ``h`` on ``|k t| <= 40``; beyond it ``h`` equals an asymptote, ``(k-1) t`` or
    ``-(k+1) t``, to within ``e**-40``.
    """
    table_target, table_log_scaled = _hill_table(shape)
    asymptote = np.minimum(target / (shape - 1.0), -target / (shape + 1.0))
    inside = (target >= table_target[0]) & (target <= table_target[-1])
    log_scaled = np.where(inside, np.interp(target, table_target, table_log_scaled), asymptote)
    for _ in range(_MAX_NEWTON_STEPS):
        kt = shape * log_scaled
        tail = np.exp(-np.abs(kt))  # shared by log(1 + e^kt) and the logistic function
        softplus = np.maximum(kt, 0.0) + np.log1p(tail)
        logistic = np.where(kt >= 0, 1.0, tail) / (1.0 + tail)
        h = (shape - 1.0) * log_scaled - 2.0 * softplus
        step = (h - target) / ((shape - 1.0) - 2.0 * shape * logistic)
        log_scaled = log_scaled - step
        # Newton's error after a step is at most 0.5 * step**2 here (|h''| / (2 |h'|) <=
        # 1/2), so a step below 1e-8 leaves an error below rounding in log spend.
        if np.all(np.abs(step) <= _NEWTON_LAST_STEP):
            break
    return log_scaled


@functools.lru_cache(maxsize=16)
def _hill_table(shape: float) -> tuple[FloatArray, FloatArray]:
    """``h(t)`` on a grid of ``k t`` in [-40, 40], ordered by increasing ``h``."""
    log_scaled = np.linspace(40.0, -40.0, 2001) / shape
    target = (shape - 1.0) * log_scaled - 2.0 * np.logaddexp(0.0, shape * log_scaled)
    return target, log_scaled


def equal_marginal_spend(
    base: ArrayLike, budget: float, curve: ResponseCurve
) -> tuple[FloatArray, float]:
    """Spend per customer maximising total added value for a fixed total budget.

    KKT conditions of ``max sum value(base_i, s_i)`` s.t. ``sum s_i = budget``,
    ``s_i >= 0`` for a concave curve: every funded customer has the same marginal
    value ``lam``, every unfunded one a marginal value at zero spend ``<= lam``. So
    ``s_i(lam) = curve.inverse_marginal(base_i, lam)`` and ``lam`` solves
    ``sum s_i(lam) = budget``, a non-increasing function of ``lam``.

    ``lam`` is bracketed, then the bracket ``[lo, hi]`` is shrunk by regula falsi in
    ``log(lam)`` (Anderson-Bjorck variant, with a bisection step whenever the bracket stops
    halving) until ``lo`` and ``hi`` are 8 ulps apart or the budget is met to
    rounding. The spend is the convex combination of ``s(lo)`` and ``s(hi)`` that
    sums to the budget (a KKT point with every funded marginal between ``lo`` and
    ``hi``); the last rounding residual goes to the largest spender.

    Parameters
    ----------
    base : array_like
        Saturation value per customer (``rCLV * max_lift``), >= 0.
    budget : float
        Total budget, >= 0.
    curve : ResponseCurve
        Concave response curve.

    Returns
    -------
    spend : numpy.ndarray
        Spend per customer, summing to ``budget``.
    shadow_price : float
        ``lam``: marginal value of the last unit of budget.
    """
    base = np.asarray(base, dtype=float)
    if budget == 0:
        return np.zeros_like(base), float(np.max(curve.marginal(base, 0.0), initial=0.0))
    fundable = base > 0
    if not np.any(fundable):
        raise ValueError(
            "every customer has rCLV 0, so no spend adds value and there is no optimal "
            "allocation; check the CLV model output or use the customer-focused split"
        )
    candidates = base[fundable]
    first_unit = curve.marginal(candidates, 0.0)

    def trial(level: float) -> _Trial:
        spend = curve.inverse_marginal(candidates, level)
        return _Trial(level, spend, float(spend.sum()) - budget)

    finite = first_unit[np.isfinite(first_unit)]
    lo, hi = _bracket(trial, float(finite.max()) if finite.size else 1.0)
    # Customers whose first unit returns no more than lo stay unfunded anywhere in the
    # bracket (their spend is 0 at lo and hi): leave them out from here on.
    still_open = first_unit > lo.level
    if not still_open.all():
        candidates = candidates[still_open]
        fundable[fundable] = still_open
        lo, hi = lo.restricted(still_open, budget), hi.restricted(still_open, budget)
    lo, hi = _shrink_bracket(trial, lo, hi, tolerance=8 * np.finfo(float).eps * budget)

    weight = budget_weight(lo, hi, budget=budget)
    spend = np.zeros_like(base)
    spend[fundable] = hi.spend + weight * (lo.spend - hi.spend)
    spend[np.argmax(spend)] += budget - spend.sum()
    return spend, hi.level - weight * (hi.level - lo.level)


def shadow_price_bracket(
    total_spend,
    *,
    budget: float,
    start: float,
    bracket: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> tuple[_Trial, _Trial]:
    """The search of `equal_marginal_spend` over a total alone: for spend kept elsewhere.

    Parameters
    ----------
    total_spend : callable
        ``total_spend(level)``: the customers' summed ``inverse_marginal`` at a shadow price.
    budget : float
        Total budget, > 0.
    start : float
        First level tried: the largest finite marginal value of a first unit of spend.
    bracket : ((float, float), (float, float)), optional
        ``((lo, total at lo), (hi, total at hi))`` with the totals either side of the budget,
        when the caller has narrowed it already; `start` is then not used.

    Returns
    -------
    lo, hi : _Trial
        Levels a few ulps apart (or equal) whose totals bracket the budget; with
        :func:`budget_weight` each customer's spend is ``s(hi) + w (s(lo) - s(hi))``.
    """

    def trial(level: float) -> _Trial:
        return _Trial(level, None, float(total_spend(level)) - budget)

    if bracket is None:
        lo, hi = _bracket(trial, start)
    else:
        (lo_level, lo_total), (hi_level, hi_total) = bracket
        lo = _Trial(lo_level, None, lo_total - budget)
        hi = _Trial(hi_level, None, hi_total - budget)
    return _shrink_bracket(trial, lo, hi, tolerance=8 * np.finfo(float).eps * budget)


def narrowed_bracket(total_spends, *, budget: float, start: float) -> tuple:
    """A bracket of the shadow price from total spends at `LEVELS_AT_ONCE` prices a pass.

    For customers kept elsewhere (Spark's partitions), where each call of ``total_spends``
    (a sequence of prices to the customers' summed ``inverse_marginal`` at each) is a pass
    over them; :func:`shadow_price_bracket` then finishes the search from the bracket.

    From ``start`` (the most a first unit of spend is worth, where nobody is funded) levels
    log-spaced over 40 orders of magnitude a pass, down while the total stays under the
    budget (up while it exceeds it, when ``start`` is only a guess), until the budget is
    crossed; then each pass cuts the bracket's log-width ``LEVELS_AT_ONCE - 1`` times, down
    to ``1e-6``. Returns ``((lo, total at lo), (hi, total at hi))``: the total at ``lo`` at
    least the budget, at ``hi`` below it.
    """
    (bracket,) = narrowed_brackets(
        lambda requests: {0: total_spends(requests[0])}, budgets=[budget], starts=[start]
    )
    return bracket


def narrowed_brackets(
    total_spends, *, budgets: Sequence[float], starts: Sequence[float], width: float = 1e-6
) -> list[tuple]:
    """:func:`narrowed_bracket` for many budget problems, one pass over the customers each step.

    Parameters
    ----------
    total_spends : callable
        ``total_spends(requests)``, ``requests`` a dict of problem index to the prices to try
        for it: the same keys, each to the summed ``inverse_marginal`` of that problem's
        customers at its prices. One call is one pass over the customers; problems whose
        search has ended are left out of the requests.
    budgets, starts : sequence of float
        Each problem's budget (> 0) and first price, as :func:`narrowed_bracket` takes them.
    width : float, default 1e-6
        The search ends when a bracket's log-width is at most this (>= 1e-13: a pass's
        prices are then still distinct floats).

    Returns
    -------
    list of ((float, float), (float, float))
        Each problem's ``((lo, total at lo), (hi, total at hi))``.
    """
    searches = {
        index: _bracket_search(float(budget), float(start), width=width)
        for index, (budget, start) in enumerate(zip(budgets, starts, strict=True))
    }
    brackets: dict[int, tuple] = {}
    requests = {index: next(search) for index, search in searches.items()}
    while requests:
        totals = total_spends(requests)
        pending = {}
        for index, levels in requests.items():
            try:
                pending[index] = searches[index].send(
                    np.asarray(totals[index], dtype=float).reshape(len(levels))
                )
            except StopIteration as done:
                brackets[index] = done.value
        requests = pending
    return [brackets[index] for index in range(len(searches))]


def _bracket_search(budget: float, start: float, *, width: float):
    """`narrowed_bracket`'s steps: yields the prices of each pass, is sent their totals."""
    step = 92.0  # 40 orders of magnitude, in log
    at_start = (start, float((yield np.array([start]))[0]))
    downwards = at_start[1] < budget
    last, crossing = at_start, None
    edge = math.log(start)
    while crossing is None:
        edge += -step if downwards else step
        levels = np.exp(np.linspace(math.log(last[0]), edge, LEVELS_AT_ONCE))[1:]
        if not np.isfinite(levels).all() or levels[-1] == 0:
            raise RuntimeError("could not bracket the shadow price of the budget")
        totals = yield levels
        crossed = np.flatnonzero((totals >= budget) if downwards else (totals < budget))
        if crossed.size:
            crossing = (float(levels[crossed[0]]), float(totals[crossed[0]]))
            if crossed[0] > 0:
                last = (float(levels[crossed[0] - 1]), float(totals[crossed[0] - 1]))
        else:
            last = (float(levels[-1]), float(totals[-1]))
    lo, hi = (crossing, last) if downwards else (last, crossing)
    while math.log(hi[0] / lo[0]) > width:
        levels = np.exp(np.linspace(math.log(lo[0]), math.log(hi[0]), LEVELS_AT_ONCE))[1:-1]
        totals = yield levels
        for level, total in zip(levels, totals, strict=True):
            if total >= budget:
                lo = (float(level), float(total))
            else:
                hi = (float(level), float(total))
                break
    return lo, hi


def budget_weight(lo: _Trial, hi: _Trial, *, budget: float) -> float:
    """The weight ``w`` of ``s(lo)`` in a spend ``s(hi) + w (s(lo) - s(hi))`` summing to budget.

    0 when both ends give the same total.
    """
    total_lo, total_hi = lo.excess + budget, hi.excess + budget
    weight = (budget - total_hi) / (total_lo - total_hi) if total_lo > total_hi else 0.0
    return min(max(weight, 0.0), 1.0)


@dataclass(frozen=True)
class _Trial:
    """The optimal spend at one shadow price ``level`` and its excess over the budget."""

    level: float
    spend: FloatArray | None  # None when the customers' spend is kept elsewhere
    excess: float

    def restricted(self, keep: NDArray[np.bool_], budget: float) -> _Trial:
        spend = self.spend[keep]
        return _Trial(self.level, spend, float(spend.sum()) - budget)


def _bracket(trial, start: float) -> tuple[_Trial, _Trial]:
    """Trials at ``lo <= hi`` with excess spend >= 0 at lo and <= 0 at hi."""
    lo = hi = trial(start)
    factor = 2.0
    while hi.excess > 0:
        lo, hi = hi, trial(_checked_level(hi.level * factor))
        factor = min(2 * factor, 1e16)
    while lo.excess < 0:
        lo, hi = trial(_checked_level(lo.level / factor)), lo
        factor = min(2 * factor, 1e16)
    return lo, hi


def _anderson_bjorck(new_excess: float, replaced_excess: float) -> float:
    factor = 1.0 - new_excess / replaced_excess
    return factor if factor > 0 else 0.5


def _checked_level(level: float) -> float:
    if level == 0 or not math.isfinite(level):
        raise RuntimeError(
            "could not bracket the shadow price of the budget; the response curve's "
            "inverse_marginal must decrease from infinite to zero spend as the level rises"
        )
    return level


def _shrink_bracket(trial, lo: _Trial, hi: _Trial, *, tolerance: float):
    """Shrink the bracket until its ends are a few ulps apart or one meets the budget.

    As in Brent's method, a trial point is kept at least ``_MIN_STEP * level`` inside
    the bracket, so an end sitting on the root is confirmed by one step next to it.
    """
    excess_lo, excess_hi = lo.excess, hi.excess  # scaled copies for the secant
    widths = [math.log(hi.level / lo.level)]
    kept = ""  # which end the last step kept
    for _ in range(_MAX_SEARCH_STEPS):
        if lo.excess <= tolerance:
            return lo, lo
        if -hi.excess <= tolerance:
            return hi, hi
        min_step = _MIN_STEP * hi.level
        if hi.level - lo.level <= 2 * min_step:
            break
        log_lo, log_hi = math.log(lo.level), math.log(hi.level)
        level = math.exp(log_lo + (log_hi - log_lo) * excess_lo / (excess_lo - excess_hi))
        if len(widths) >= 4 and widths[-1] > 0.5 * widths[-4]:  # stalled: bisect
            level = math.sqrt(lo.level) * math.sqrt(hi.level)
        level = min(max(level, lo.level + min_step), hi.level - min_step)
        middle = trial(level)
        # Anderson-Bjorck: when the same end is kept twice, scale its excess down so the
        # next secant point crosses over (plain regula falsi stalls on one side).
        if middle.excess >= 0:
            if kept == "hi":
                excess_hi *= _anderson_bjorck(middle.excess, lo.excess)
            lo, excess_lo, kept = middle, middle.excess, "hi"
        else:
            if kept == "lo":
                excess_lo *= _anderson_bjorck(middle.excess, hi.excess)
            hi, excess_hi, kept = middle, middle.excess, "lo"
        widths.append(math.log(hi.level / lo.level))
    return lo, hi


def _as_float_arrays(*values: ArrayLike) -> list[FloatArray]:
    return [np.asarray(value, dtype=float) for value in values]


def _log_or_minus_inf(values: FloatArray) -> FloatArray:
    """Natural log, -inf at 0, without numpy's divide-by-zero warning."""
    return np.log(values, out=np.full(values.shape, -np.inf), where=values > 0)


def _check_levels(level: FloatArray) -> None:
    if np.any(~(level > 0)):
        raise ValueError(
            "marginal_level must be > 0: the spend for a marginal value <= 0 is infinite"
        )


def _check_positive(name: str, value: float) -> None:
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (is_number and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
