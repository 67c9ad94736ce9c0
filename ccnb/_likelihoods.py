"""Log-likelihoods of the BTYD and Gamma-Gamma models with analytic derivatives.

Private: the functions lifetimes' fitters maximise (BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gamma;
DESIGN.md, CLV), as weighted sums over distinct customer rows, with gradients and Hessians with
respect to the log-parameters, so ``ccnb._btyd`` optimises without autograd or finite
differences. Terms that depend only on the frequency are computed once per distinct frequency.
Values equal lifetimes' ``_negative_log_likelihood`` (to rounding; tests/test_likelihoods.py).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln, polygamma

#: tanh-sinh rule on (0, 1) for the Pareto/NBD integral: step and half-width in nodes. With
#: 65 nodes the log of the integral is accurate to about 1e-12 while alpha / beta is within
#: 1e-2..1e2 and to about 1e-7 at ratios of 1e4 (checked against lifetimes' hypergeometric form)
TANH_SINH_STEP = 0.1
TANH_SINH_HALF_WIDTH = 32


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
        self.has_dropout_term = (
            np.ones(len(self.frequency), dtype=bool) if modified else self.frequency > 0
        )
        self.levels, _, self.level_weights = _frequency_groups(self.frequency, self.weights)

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
        log_age, log_recency = np.log(alpha + self.age), np.log(alpha + self.recency)
        denominator = b + np.maximum(x + self.shift, 1.0) - 1.0
        alive = -rx * log_age
        dropout = np.log(a) - np.log(denominator) - rx * log_recency
        # share of the dropout component; exactly 0 where the BG/NBD has no A4
        share = np.zeros_like(alive)
        has = self.has_dropout_term
        share[has] = 1.0 / (1.0 + np.exp(alive[has] - dropout[has]))
        row = alive.copy()
        row[has] = np.logaddexp(alive[has], dropout[has])
        value = _dot(w, row)
        if order < 1:
            return value, None, None
        ratio_age, ratio_recency = alpha / (alpha + self.age), alpha / (alpha + self.recency)
        b_ratio = b / denominator
        # gradient of each component: d/dlog r, d/dlog alpha, d/dlog a, d/dlog b
        alive_grad = (-r * log_age, -rx * ratio_age)
        dropout_grad = (-r * log_recency, -rx * ratio_recency, 1.0, -b_ratio)
        mixed = [
            (1 - share) * alive_grad[0] + share * dropout_grad[0],
            (1 - share) * alive_grad[1] + share * dropout_grad[1],
            share,
            -share * b_ratio,
        ]
        gradient = np.array([_dot(w, column) for column in mixed])
        if order < 2:
            return value, gradient, None
        difference = [
            dropout_grad[0] - alive_grad[0],
            dropout_grad[1] - alive_grad[1],
            np.where(has, 1.0, 0.0),
            -b_ratio,
        ]
        spread = w * share * (1 - share)
        hessian = np.array([[_dot(spread, di * dj) for dj in difference] for di in difference])
        component = {
            (0, 0): _dot(w, (1 - share) * -r * log_age + share * -r * log_recency),
            (0, 1): _dot(w, (1 - share) * -r * ratio_age + share * -r * ratio_recency),
            (1, 1): _dot(
                w,
                (1 - share) * -rx * ratio_age * (1 - ratio_age)
                + share * -rx * ratio_recency * (1 - ratio_recency),
            ),
            (3, 3): _dot(w * share, -b_ratio * (1 - b_ratio)),
        }
        return value, gradient, hessian + _symmetric(component, 4)


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

    def __init__(self, frequency, recency, age, weights):
        self.frequency = np.asarray(frequency, dtype=float)
        self.recency = np.asarray(recency, dtype=float)
        self.age = np.asarray(age, dtype=float)
        self.weights = np.asarray(weights, dtype=float)
        self.levels, _, self.level_weights = _frequency_groups(self.frequency, self.weights)
        self.pair_frequency, self.pair_time, self.at_recency, self.at_age = _distinct_pairs(
            self.frequency, self.recency, self.age
        )
        self.open = self.recency < self.age  # rows whose death-time integral is not empty
        self.log_nodes, self.node_weights = _tanh_sinh_rule(TANH_SINH_STEP, TANH_SINH_HALF_WIDTH)

    def evaluate(self, log_params, *, order: int = 1):
        """Weighted log-likelihood, its gradient (``order >= 1``) and Hessian (``order == 2``).

        The Hessian is the central difference of the analytic gradient (step 1e-5 in the
        log-parameters, error about 1e-10 relative).
        """
        log_params = np.asarray(log_params, dtype=float)
        value, gradient = self._value_and_gradient(log_params, order)
        if order < 2:
            return value, gradient, None
        step = 1e-5
        columns = [
            (
                self._value_and_gradient(log_params + step * unit, 1)[1]
                - self._value_and_gradient(log_params - step * unit, 1)[1]
            )
            / (2 * step)
            for unit in np.eye(self.n_params)
        ]
        hessian = np.column_stack(columns)
        return value, gradient, (hessian + hessian.T) / 2

    def _value_and_gradient(self, log_params, order):
        r, alpha, s, beta = np.exp(log_params)
        value, gradient = self._frequency_terms(r, alpha, s, beta)
        log_g, grad_log_g = self._tail_integrals(r, alpha, s, beta, order)
        row_value, row_gradient = self._row_terms(r, alpha, s, beta, log_g, grad_log_g, order)
        if order < 1:
            return value + row_value, None
        return value + row_value, gradient + row_gradient

    def _frequency_terms(self, r, alpha, s, beta):
        x, weight = self.levels, self.level_weights
        total = weight.sum()
        value = weight @ (gammaln(r + x) - gammaln(r)) + total * (
            r * np.log(alpha) + s * np.log(beta)
        )
        d_r = r * (weight @ (digamma(r + x) - digamma(r)) + total * np.log(alpha))
        return value, np.array([d_r, r * total, s * total * np.log(beta), s * total])

    def _tail_integrals(self, r, alpha, s, beta, order):
        """Log G(x, t) per distinct pair and, with ``order >= 1``, its gradient (pairs x 4)."""
        x, t = self.pair_frequency, self.pair_time
        n = r + s + x
        alpha_larger = alpha >= beta
        large, small = (alpha, beta) if alpha_larger else (beta, alpha)
        small_exponent = np.full_like(x, s + 1.0) if alpha_larger else r + x
        log_large = np.log(large + t)
        log_eps = np.log(small + t) - log_large  # eps = (m + t) / (M + t) in (0, 1]
        slope = (large - small) / (small + t)  # c / eps
        # tau at node v: (M + t) / (M + tau) = y = v^(1/n); eta = 1 - y
        log_y = self.log_nodes[None, :] / n[:, None]
        eta = -np.expm1(log_y)
        log_rise = np.log1p(eta * slope[:, None])  # log((eps + c * eta) / eps)
        mass = self.node_weights * np.exp(-small_exponent[:, None] * log_rise)
        total = mass.sum(axis=1)
        log_g = -n * log_large - np.log(n) - small_exponent * log_eps + np.log(total)
        if order < 1:
            return log_g, None
        share = mass / total[:, None]
        # moments over the death time tau: E log(M + tau), E log(m + tau), E M/(M + tau), ...
        log_large_tau = log_large - np.einsum("ij,j->i", share, self.log_nodes) / n
        log_small_tau = log_large_tau + log_eps + np.sum(share * log_rise, axis=1)
        y = np.exp(log_y)
        ratio_large = large / (large + t) * np.sum(share * y, axis=1)
        # m / (m + tau) = m / (m + t) * y * (eps / (eps + c * eta))
        ratio_small = small / (small + t) * np.sum(share * y * np.exp(-log_rise), axis=1)
        large_moments, small_moments = (log_large_tau, ratio_large), (log_small_tau, ratio_small)
        alpha_moments, beta_moments = (
            (large_moments, small_moments) if alpha_larger else (small_moments, large_moments)
        )
        (log_alpha, ratio_alpha), (log_beta, ratio_beta) = alpha_moments, beta_moments
        gradient = np.column_stack(
            [-r * log_alpha, -(r + x) * ratio_alpha, -s * log_beta, -(s + 1) * ratio_beta]
        )
        return log_g, gradient

    def _row_terms(self, r, alpha, s, beta, log_g, grad_log_g, order):
        x, w, age = self.frequency, self.weights, self.age
        log_alpha_age, log_beta_age = np.log(alpha + age), np.log(beta + age)
        alive = -(r + x) * log_alpha_age - s * log_beta_age
        opened = self.open
        log_g_recency = log_g[self.at_recency[opened]]
        log_g_age = log_g[self.at_age[opened]]
        # quadrature rounding must not make G(x, T) >= G(x, t_x); where T - t_x is that small
        # the integral is negligible next to the alive term anyway
        gap = np.minimum(log_g_age - log_g_recency, -1e-15)
        log_integral = np.full_like(alive, -np.inf)
        log_integral[opened] = np.log(s) + log_g_recency + np.log(-np.expm1(gap))
        row = np.logaddexp(alive, log_integral)
        value = _dot(w, row)
        if order < 1:
            return value, None
        alive_share = np.exp(alive - row)
        gradient = np.array(
            [
                _dot(w, alive_share * -r * log_alpha_age),
                _dot(w, alive_share * -(r + x) * alpha / (alpha + age)),
                _dot(w, alive_share * -s * log_beta_age),
                _dot(w, alive_share * -s * beta / (beta + age)),
            ]
        )
        # the integral's share: s G(x, t_x) / L times its log-gradient minus the same at T
        w_open, row_open = w[opened], row[opened]
        upper = w_open * np.exp(np.log(s) + log_g_recency - row_open)
        lower = w_open * np.exp(np.log(s) + log_g_age - row_open)
        gradient += _dot(upper, grad_log_g[self.at_recency[opened]])
        gradient -= _dot(lower, grad_log_g[self.at_age[opened]])
        gradient[2] += upper.sum() - lower.sum()
        return value, gradient
