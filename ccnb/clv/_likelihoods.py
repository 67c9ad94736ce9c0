"""Log-likelihoods of the BTYD and Gamma-Gamma models with analytic derivatives.

Private: the functions lifetimes' fitters maximise (BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gamma;
docs/methodology.md, "BG/NBD" to "Gamma-Gamma"), as weighted sums over distinct customer rows, with
gradients and Hessians with respect to the log-parameters, so ``ccnb.clv._btyd`` optimises without
autograd or finite differences. Terms that depend only on the frequency are computed once per
distinct frequency. Values equal lifetimes' ``_negative_log_likelihood`` (to rounding;
tests/test_likelihoods.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln, polygamma

#: tanh-sinh rule on (0, 1) for the Pareto/NBD integral: (step, half-width in nodes). With 65
#: nodes the log of the integral is accurate to about 1e-12 while alpha / beta is within
#: 1e-2..1e2 and to about 1e-7 at ratios of 1e4 (checked against lifetimes' hypergeometric
#: form); the coarse rule (29 nodes, about 1e-5) is for searches whose optimum is then refined
TANH_SINH_RULE = (0.1, 32)
COARSE_TANH_SINH_RULE = (0.2, 14)
#: distinct (frequency, time) pairs whose Pareto/NBD tail integrals are computed together: their
#: working arrays (pairs x 65 nodes, a dozen of them) then take about 8 MB each; at once, the
#: 81,440 pairs of a 700,000-customer calibration period took 362 MiB
PAIR_BLOCK = 16_384


def _dot(weights, values):
    """Weighted sum over rows (of a vector or of each column of a matrix).

    ``numpy.einsum`` rather than ``@``: a matrix product on long vectors wakes OpenBLAS' worker
    threads, which then spin and stall the fit when the cores are shared with other work.
    """
    return np.einsum("i,i...->...", weights, values)


def _trigamma(values):
    return polygamma(1, values)


def _frequency_groups(frequency: np.ndarray, weights: np.ndarray):
    """Distinct frequencies, each row's position among them, and the weight of each."""
    values, inverse = np.unique(frequency, return_inverse=True)
    return values, inverse, np.bincount(inverse, weights=weights, minlength=len(values))


def _symmetric(entries: dict[tuple[int, int], float], size: int) -> np.ndarray:
    matrix = np.zeros((size, size))
    for (i, j), value in entries.items():
        matrix[i, j] = matrix[j, i] = value
    return matrix


class BetaGeo:
    """BG/NBD (``modified=False``) or MBG/NBD log-likelihood on weighted rows.

    Log-parameters ``(log r, log alpha, log a, log b)``. Each row's likelihood is
    ``exp(A1 + A2) * (exp(A3) + exp(A4))`` in lifetimes' notation; ``A1``, ``A2`` depend on the
    frequency only, and the BG/NBD drops ``A4`` for customers without repeat purchases.
    """

    n_params = 4

    def __init__(self, frequency, recency, age, weights, *, modified: bool = False):
        self.frequency = np.asarray(frequency, dtype=float)
        self.recency = np.asarray(recency, dtype=float)
        self.age = np.asarray(age, dtype=float)
        self.weights = np.asarray(weights, dtype=float)
        self.shift = 1.0 if modified else 0.0  # MBG/NBD: b + x where the BG/NBD has b + x - 1
        # added to A4: -inf drops it where the BG/NBD has none (no repeat purchase)
        self.dropout_offset = np.where(modified | (self.frequency > 0), 0.0, -np.inf)
        self.levels, self.at_level, self.level_weights = _frequency_groups(
            self.frequency, self.weights
        )
        # logs of alpha + time are taken once per distinct time and gathered
        self.at_age, self.ages = pd.factorize(self.age)
        self.at_recency, self.recencies = pd.factorize(self.recency)

    def evaluate(self, log_params, *, order: int = 1):
        """Weighted log-likelihood, its gradient (``order >= 1``) and Hessian (``order == 2``)."""
        r, alpha, a, b = np.exp(np.asarray(log_params, dtype=float))
        value, gradient, hessian = self._frequency_terms(r, alpha, a, b)
        row_value, row_gradient, row_hessian = self._row_terms(r, alpha, a, b, order)
        return (
            value + row_value,
            gradient + row_gradient if order >= 1 else None,
            hessian + row_hessian if order >= 2 else None,
        )

    def _frequency_terms(self, r, alpha, a, b):
        """A1 + A2 summed per distinct frequency (gammaln terms) with derivatives."""
        x, weight = self.levels, self.level_weights
        k = self.shift
        value = weight @ (
            gammaln(r + x)
            - gammaln(r)
            + r * np.log(alpha)
            + gammaln(a + b)
            + gammaln(b + x + k)
            - gammaln(b)
            - gammaln(a + b + x + k)
        )
        d_r = digamma(r + x) - digamma(r)
        d_a = digamma(a + b) - digamma(a + b + x + k)
        d_b = d_a + digamma(b + x + k) - digamma(b)
        t_r = _trigamma(r + x) - _trigamma(r)
        t_a = _trigamma(a + b) - _trigamma(a + b + x + k)
        t_b = t_a + _trigamma(b + x + k) - _trigamma(b)
        total = weight.sum()
        d_log_r = r * (weight @ d_r + total * np.log(alpha))
        gradient = np.array([d_log_r, r * total, a * (weight @ d_a), b * (weight @ d_b)])
        hessian = _symmetric(
            {
                (0, 0): d_log_r + r**2 * (weight @ t_r),
                (0, 1): r * total,
                (2, 2): a * (weight @ d_a) + a**2 * (weight @ t_a),
                (2, 3): a * b * (weight @ t_a),
                (3, 3): b * (weight @ d_b) + b**2 * (weight @ t_b),
            },
            4,
        )
        return value, gradient, hessian

    def _row_terms(self, r, alpha, a, b, order):
        """log(exp(A3) + exp(A4)) per row: a two-component log-sum-exp with derivatives."""
        x, w = self.frequency, self.weights
        rx = r + x
        log_age = np.log(alpha + self.ages)[self.at_age]
        log_recency = np.log(alpha + self.recencies)[self.at_recency]
        level_denominator = b + np.maximum(self.levels + self.shift, 1.0) - 1.0
        alive = -rx * log_age
        dropout = (
            np.log(a) - np.log(level_denominator)[self.at_level] - rx * log_recency
        ) + self.dropout_offset
        share, softplus = _softplus(dropout - alive)  # share of A4; log(1 + exp(A4 - A3))
        value = _dot(w, alive + softplus)
        if order < 1:
            return value, None, None
        ratio_age = (alpha / (alpha + self.ages))[self.at_age]
        ratio_recency = (alpha / (alpha + self.recencies))[self.at_recency]
        b_ratio = (b / level_denominator)[self.at_level]
        # gradients of A4 - A3: d/dlog r, d/dlog alpha, d/dlog a (1), d/dlog b
        difference = (-r * (log_recency - log_age), -rx * (ratio_recency - ratio_age), -b_ratio)
        weighted_share = w * share
        gradient = np.array(
            [
                -r * _dot(w, log_age) + _dot(weighted_share, difference[0]),
                -_dot(w, rx * ratio_age) + _dot(weighted_share, difference[1]),
                weighted_share.sum(),
                _dot(weighted_share, difference[2]),
            ]
        )
        if order < 2:
            return value, gradient, None
        spread = weighted_share * (1 - share)
        products = {(0, 0): difference[0] ** 2, (0, 1): difference[0] * difference[1]}
        products.update({(1, 1): difference[1] ** 2, (3, 3): difference[2] ** 2})
        products.update({(0, 3): difference[0] * difference[2]})
        products.update({(1, 3): difference[1] * difference[2]})
        hessian = {key: _dot(spread, product) for key, product in products.items()}
        hessian[(0, 2)] = _dot(spread, difference[0])
        hessian[(1, 2)] = _dot(spread, difference[1])
        hessian[(2, 2)] = spread.sum()
        hessian[(2, 3)] = _dot(spread, difference[2])
        # each component's own Hessian, mixed by the shares
        alive_curvature = ratio_age * (1 - ratio_age)
        dropout_curvature = ratio_recency * (1 - ratio_recency)
        hessian[(0, 0)] += gradient[0]
        hessian[(0, 1)] = hessian[(0, 1)] - r * (
            _dot(w, ratio_age) + _dot(weighted_share, ratio_recency - ratio_age)
        )
        hessian[(1, 1)] -= _dot(w, rx * alive_curvature) + _dot(
            weighted_share, rx * (dropout_curvature - alive_curvature)
        )
        hessian[(3, 3)] -= _dot(weighted_share, b_ratio * (1 - b_ratio))
        return value, gradient, _symmetric(hessian, 4)


def _softplus(difference):
    """``sigmoid(d)`` and ``log(1 + exp(d))``, stable for any ``d`` including -inf."""
    small = np.exp(-np.abs(difference))
    share = np.where(difference > 0, 1.0, small) / (1.0 + small)
    return share, np.maximum(difference, 0.0) + np.log1p(small)


class GammaGamma:
    """Gamma-Gamma spend log-likelihood on weighted rows (log-parameters ``log p, q, v``).

    Only ``log(x * m + v)`` is evaluated per row; every other term is a sum per distinct
    frequency computed once.
    """

    n_params = 3

    def __init__(self, frequency, monetary_value, weights):
        self.frequency = np.asarray(frequency, dtype=float)
        self.spend = np.asarray(monetary_value, dtype=float)
        self.weights = np.asarray(weights, dtype=float)
        self.levels, inverse, self.level_weights = _frequency_groups(self.frequency, self.weights)
        log_spend = self.weights * np.log(self.spend)
        self.level_log_spend = np.bincount(inverse, weights=log_spend, minlength=len(self.levels))
        self.total_log_spend = log_spend.sum()
        self.weighted_frequency = self.weights * self.frequency
        self.total = self.weights.sum()

    def evaluate(self, log_params, *, order: int = 1):
        """Weighted log-likelihood, its gradient (``order >= 1``) and Hessian (``order == 2``)."""
        p, q, v = np.exp(np.asarray(log_params, dtype=float))
        x, weight, total = self.levels, self.level_weights, self.total
        px = p * x
        log_total = np.log(self.frequency * self.spend + v)
        wx_log, w_log = _dot(self.weighted_frequency, log_total), _dot(self.weights, log_total)
        value = (
            weight @ (gammaln(px + q) - gammaln(px) + px * np.log(x))
            + p * (x @ self.level_log_spend)
            - self.total_log_spend
            + total * (q * np.log(v) - gammaln(q))
            - p * wx_log
            - q * w_log
        )
        if order < 1:
            return value, None, None
        share = v / (self.frequency * self.spend + v)
        wx_share, w_share = _dot(self.weighted_frequency, share), _dot(self.weights, share)
        d_p = digamma(px + q) - digamma(px) + np.log(x)
        d_q = digamma(px + q)
        grad_p = p * (weight @ (x * d_p)) + p * (x @ self.level_log_spend) - p * wx_log
        grad_q = q * (weight @ d_q) + total * q * (np.log(v) - digamma(q)) - q * w_log
        gradient = np.array([grad_p, grad_q, total * q - p * wx_share - q * w_share])
        if order < 2:
            return value, gradient, None
        t_pq = _trigamma(px + q)
        spread = share * (1 - share)
        hessian = _symmetric(
            {
                (0, 0): grad_p + p**2 * (weight @ (x**2 * (t_pq - _trigamma(px)))),
                (0, 1): p * q * (weight @ (x * t_pq)),
                (0, 2): -p * wx_share,
                (1, 1): grad_q + q**2 * (weight @ t_pq - total * _trigamma(q)),
                (1, 2): total * q - q * w_share,
                (2, 2): -(
                    p * _dot(self.weighted_frequency, spread) + q * _dot(self.weights, spread)
                ),
            },
            3,
        )
        return value, gradient, hessian


def _tanh_sinh_rule(step: float, half_width: int) -> tuple[np.ndarray, np.ndarray]:
    """log-nodes and weights of the tanh-sinh rule on (0, 1) (nodes crowd both ends)."""
    k = np.arange(-half_width, half_width + 1) * step
    u = np.pi / 2 * np.sinh(k)
    log_nodes = -np.logaddexp(0.0, -2.0 * u)  # log(1 / (1 + exp(-2u))), exact near both ends
    weights = step * np.pi / 2 * np.cosh(k) / (2.0 * np.cosh(u) ** 2)
    return log_nodes, weights


def _distinct_pairs(frequency, recency, age):
    """Distinct (frequency, time) pairs among (x, t_x) and (x, T), and each row's two indices."""
    times, time_codes = np.unique(np.concatenate([recency, age]), return_inverse=True)
    codes = np.concatenate([frequency, frequency]).astype(np.int64) * len(times) + time_codes
    keys, inverse = np.unique(codes, return_inverse=True)
    n_rows = len(frequency)
    frequencies = (keys // len(times)).astype(float)
    return frequencies, times[keys % len(times)], inverse[:n_rows], inverse[n_rows:]


class ParetoNBD:
    """Pareto/NBD log-likelihood on weighted rows (log-parameters ``log r, alpha, s, beta``).

    A customer's likelihood is ``Gamma(r + x) alpha^r beta^s / Gamma(r) * (E + s * I)`` with
    ``E = (alpha + T)^-(r + x) (beta + T)^-s`` and ``I`` the integral over the death time
    ``tau`` in (t_x, T) of ``h(tau) = (alpha + tau)^-(r + x) (beta + tau)^-(s + 1)``: the same
    function lifetimes evaluates with hypergeometric functions (Fader, Hardie & Lee 2005,
    note 009), here in logarithms, so it stays finite on long histories in any time unit.
    ``I = G(x, t_x) - G(x, T)`` with ``G(x, t)`` the integral of ``h`` from ``t`` to infinity,
    computed once per distinct (x, t) pair by a tanh-sinh rule after the substitution
    ``v = ((M + t) / (M + tau))^(r + s + x)`` (``M`` the larger of alpha and beta), under which
    the integrand is bounded and smooth. Derivatives are moments of the same nodes. The
    difference of the two ``G`` loses no precision that matters: ``s * G(x, T) <= E``.
    """

    n_params = 4

    def __init__(
        self,
        frequency,
        recency,
        age,
        weights,
        *,
        coarse: bool = False,
        pair_block: int = PAIR_BLOCK,
    ):
        self.pair_block = pair_block
        self.frequency = np.asarray(frequency, dtype=float)
        self.recency = np.asarray(recency, dtype=float)
        self.age = np.asarray(age, dtype=float)
        self.weights = np.asarray(weights, dtype=float)
        self.levels, _, self.level_weights = _frequency_groups(self.frequency, self.weights)
        self.pair_frequency, self.pair_time, self.at_recency, self.at_age = _distinct_pairs(
            self.frequency, self.recency, self.age
        )
        self.pair_level = np.searchsorted(self.levels, self.pair_frequency)
        self.age_code, self.distinct_ages = pd.factorize(self.age)
        # added to the log of the death-time integral: -inf where it is empty (t_x = T)
        self.closed_offset = np.where(self.recency < self.age, 0.0, -np.inf)
        rule = COARSE_TANH_SINH_RULE if coarse else TANH_SINH_RULE
        self.log_nodes, self.node_weights = _tanh_sinh_rule(*rule)

    def evaluate(self, log_params, *, order: int = 1):
        """Weighted log-likelihood, its gradient (``order >= 1``) and Hessian (``order == 2``)."""
        r, alpha, s, beta = np.exp(np.asarray(log_params, dtype=float))
        value, gradient, hessian = self._frequency_terms(r, alpha, s, beta)
        tails = self._tail_integrals(r, alpha, s, beta, order)
        row_value, row_gradient, row_hessian = self._row_terms(r, alpha, s, beta, tails, order)
        return (
            value + row_value,
            gradient + row_gradient if order >= 1 else None,
            hessian + row_hessian if order >= 2 else None,
        )

    def _frequency_terms(self, r, alpha, s, beta):
        """log(Gamma(r + x) alpha^r beta^s / Gamma(r)) summed per distinct frequency."""
        x, weight = self.levels, self.level_weights
        total = weight.sum()
        value = _dot(weight, gammaln(r + x) - gammaln(r)) + total * (
            r * np.log(alpha) + s * np.log(beta)
        )
        d_log_r = r * (_dot(weight, digamma(r + x) - digamma(r)) + total * np.log(alpha))
        d_log_s = s * total * np.log(beta)
        gradient = np.array([d_log_r, r * total, d_log_s, s * total])
        t_r = r**2 * _dot(weight, _trigamma(r + x) - _trigamma(r))
        hessian = _symmetric(
            {(0, 0): d_log_r + t_r, (0, 1): r * total, (2, 2): d_log_s, (2, 3): s * total}, 4
        )
        return value, gradient, hessian

    def _tail_integrals(self, r, alpha, s, beta, order):
        """Per distinct pair: log G(x, t) and, by ``order``, grad G / G and Hessian G / G.

        Computed `PAIR_BLOCK` pairs at a time (`_tail_block`): each pair's values are its own,
        and the working arrays (pairs x nodes) stay a few MB whatever the number of pairs.
        """
        blocks = [
            self._tail_block(r, alpha, s, beta, order, slice(start, start + self.pair_block))
            for start in range(0, len(self.pair_frequency), self.pair_block)
        ]
        if len(blocks) == 1:
            return blocks[0]
        return tuple(
            None if parts[0] is None else np.concatenate(parts)
            for parts in zip(*blocks, strict=True)
        )

    def _tail_block(self, r, alpha, s, beta, order, block: slice):
        """`_tail_integrals` for the pairs of ``block``.

        Nodes are death times ``tau``; ``log(M + tau)``, ``log(m + tau)``, ``M / (M + tau)``
        and ``m / (m + tau)`` are affine in four node features (``-log y``, ``log`` of the
        rise of the smaller-parameter factor, ``y`` and ``y`` over that rise), so the
        derivatives need only the features' first and second moments over the nodes.
        """
        x, t = self.pair_frequency[block], self.pair_time[block]
        pair_level = self.pair_level[block]
        n = r + s + x
        alpha_larger = alpha >= beta
        large, small = (alpha, beta) if alpha_larger else (beta, alpha)
        small_exponent = np.full(len(x), s + 1.0) if alpha_larger else r + x
        log_large = np.log(large + t)
        log_eps = np.log(small + t) - log_large  # eps = (m + t) / (M + t) in (0, 1]
        # node v = y^n with y = (M + t) / (M + tau); eta = 1 - y depends on x through n only, so
        # it is computed per distinct frequency. Arrays are pairs x nodes, updated in place:
        # this is the fit's inner loop.
        level_log_y = np.multiply.outer(1.0 / (r + s + self.levels), self.log_nodes)
        level_eta = -np.expm1(level_log_y)
        eta = level_eta[pair_level]
        rise = eta * ((large - small) / (small + t))[:, None]
        rise += 1.0
        log_rise = np.log(rise)
        mass = log_rise * -small_exponent[:, None]
        # nodes below exp(-600) (relative to the largest, 1) change nothing; clipping keeps the
        # weighted sums out of subnormal numbers, which are two orders of magnitude slower
        np.maximum(mass, -600.0, out=mass)
        np.exp(mass, out=mass)
        mass *= self.node_weights
        total = mass.sum(axis=1)
        log_g = -n * log_large - np.log(n) - small_exponent * log_eps + np.log(total)
        if order < 1:
            return log_g, None, None
        y = 1.0 - eta
        over_rise = y / rise
        # features: -log y (linear in the nodes' logs), log rise, y, y / rise
        features = (-level_log_y[pair_level], log_rise, y, over_rise)
        first = np.column_stack(
            [
                -np.einsum("ij,j->i", mass, self.log_nodes) / n,
                *(np.einsum("ij,ij->i", mass, f) for f in features[1:]),
            ]
        )
        first /= total[:, None]
        # node functions u = (log(alpha + tau), alpha / (alpha + tau), log(beta + tau),
        # beta / (beta + tau)) = offset + slope @ features
        size = len(x)
        offset_large, offset_small = log_large, log_large + log_eps
        ratio_large, ratio_small = large / (large + t), small / (small + t)
        offset = np.zeros((size, 4))
        slope = np.zeros((size, 4, 4))
        log_slot, ratio_slot = (0, 1) if alpha_larger else (2, 3)  # M's slots
        other_log, other_ratio = (2, 3) if alpha_larger else (0, 1)
        offset[:, log_slot], offset[:, other_log] = offset_large, offset_small
        slope[:, log_slot, 0] = 1.0
        slope[:, other_log, 0] = slope[:, other_log, 1] = 1.0
        slope[:, ratio_slot, 2], slope[:, other_ratio, 3] = ratio_large, ratio_small
        mean_u = offset + np.einsum("pij,pj->pi", slope, first)
        coefficient = np.column_stack(
            [np.full(size, -r), -(r + x), np.full(size, -s), np.full(size, -(s + 1))]
        )
        gradient = coefficient * mean_u  # d log h / d log-parameters, averaged
        if order < 2:
            return log_g, gradient, None
        second_f = np.empty((size, 4, 4))
        for i, fi in enumerate(features):
            for j in range(i + 1):
                second_f[:, i, j] = second_f[:, j, i] = np.einsum(
                    "ij,ij->i", mass, fi * features[j]
                )
        second_f /= total[:, None, None]
        sloped_first = np.einsum("pij,pj->pi", slope, first)
        second_u = (
            offset[:, :, None] * offset[:, None, :]
            + offset[:, :, None] * sloped_first[:, None, :]
            + sloped_first[:, :, None] * offset[:, None, :]
            + np.einsum("pia,pab,pjb->pij", slope, second_f, slope)
        )
        second = coefficient[:, :, None] * coefficient[:, None, :] * second_u
        # plus the mean Hessian of log h over the nodes
        second[:, 0, 0] += -r * mean_u[:, 0]
        second[:, 0, 1] += -r * mean_u[:, 1]
        second[:, 1, 0] += -r * mean_u[:, 1]
        second[:, 1, 1] += -(r + x) * (mean_u[:, 1] - second_u[:, 1, 1])
        second[:, 2, 2] += -s * mean_u[:, 2]
        second[:, 2, 3] += -s * mean_u[:, 3]
        second[:, 3, 2] += -s * mean_u[:, 3]
        second[:, 3, 3] += -(s + 1) * (mean_u[:, 3] - second_u[:, 3, 3])
        return log_g, gradient, second

    def _row_terms(self, r, alpha, s, beta, tails, order):
        """log(E + s * I) per row, with derivatives from the pairs' ``G`` and moments."""
        log_g, pair_gradient, pair_hessian = tails
        x, w, ages, code = self.frequency, self.weights, self.distinct_ages, self.age_code
        log_alpha_age, log_beta_age = np.log(alpha + ages)[code], np.log(beta + ages)[code]
        alive = -(r + x) * log_alpha_age - s * log_beta_age
        log_g_recency, log_g_age = log_g[self.at_recency], log_g[self.at_age]
        # quadrature rounding must not make G(x, T) >= G(x, t_x); where T - t_x is that small
        # the integral is negligible next to the alive term anyway
        gap = np.minimum(log_g_age - log_g_recency, -1e-15)
        log_upper = np.log(s) + log_g_recency + self.closed_offset
        integral_share, softplus = _softplus(log_upper + np.log(-np.expm1(gap)) - alive)
        row = alive + softplus
        value = _dot(w, row)
        if order < 1:
            return value, None, None
        alive_share = 1.0 - integral_share
        ratio_alpha, ratio_beta = (alpha / (alpha + ages))[code], (beta / (beta + ages))[code]
        alive_gradient = (
            -r * log_alpha_age,
            -(r + x) * ratio_alpha,
            -s * log_beta_age,
            -s * ratio_beta,
        )
        # shares of s G(x, t_x) and s G(x, T) in the row's likelihood
        upper = np.exp(log_upper - row)
        lower = np.exp(log_upper + gap - row)
        n_pairs = len(log_g)
        pair_weight = np.bincount(self.at_recency, w * upper, n_pairs)
        pair_weight -= np.bincount(self.at_age, w * lower, n_pairs)
        alive_weight = w * alive_share
        gradient = np.array([_dot(alive_weight, column) for column in alive_gradient])
        gradient += _dot(pair_weight, pair_gradient)
        gradient[2] += pair_weight.sum()
        if order < 2:
            return value, gradient, None
        # per-row gradient: alive share times its gradient plus the integral's
        row_gradient = [
            alive_share * alive_gradient[k]
            + upper * pair_gradient[self.at_recency, k]
            - lower * pair_gradient[self.at_age, k]
            for k in range(4)
        ]
        row_gradient[2] += upper - lower
        hessian = np.empty((4, 4))
        for j in range(4):
            for k in range(j + 1):
                hessian[j, k] = hessian[k, j] = _dot(
                    alive_weight * alive_gradient[j], alive_gradient[k]
                ) - _dot(w * row_gradient[j], row_gradient[k])
        hessian += _symmetric(
            {
                (0, 0): _dot(alive_weight, alive_gradient[0]),
                (0, 1): -r * _dot(alive_weight, ratio_alpha),
                (1, 1): _dot(alive_weight, alive_gradient[1] * (1 - ratio_alpha)),
                (2, 2): _dot(alive_weight, alive_gradient[2]),
                (2, 3): _dot(alive_weight, alive_gradient[3]),
                (3, 3): _dot(alive_weight, alive_gradient[3] * (1 - ratio_beta)),
            },
            4,
        )
        # Hessian of s G / (s G) = Hessian G / G + e_s grad^T + grad e_s^T + e_s e_s^T
        pair_terms = np.einsum("p,pij->ij", pair_weight, pair_hessian)
        pair_terms[2, :] += _dot(pair_weight, pair_gradient)
        pair_terms[:, 2] += _dot(pair_weight, pair_gradient)
        pair_terms[2, 2] += pair_weight.sum()
        return value, gradient, hessian + pair_terms
