"""Customers simulated from a BTYD model with known parameters, split into calibration and holdout.

The check of any interval: simulate from known parameters, fit on the calibration period,
predict the holdout, count how often the realised holdout falls inside (benchmarks/coverage.py
and the tests).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["CDNOW_ESTIMATES", "CDNOW_PERIODS", "CDNOW_SPEND_ESTIMATES", "simulate_population"]

MODELS = ("bgnbd", "mbgnbd", "paretonbd")

#: published CDNOW estimates (weeks), the known truth of the coverage checks: Fader, Hardie &
#: Lee (2005) for BG/NBD and Pareto/NBD, Batislam et al. (2007) for MBG/NBD
CDNOW_ESTIMATES = {
    "bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "mbgnbd": {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614},
    "paretonbd": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},
}
#: Gamma-Gamma on CDNOW (Fader, Hardie & Lee 2005b)
CDNOW_SPEND_ESTIMATES = {"p": 6.25, "q": 3.74, "v": 15.44}
#: CDNOW's layout: acquired over 12 weeks, 39-week calibration, 39-week holdout
CDNOW_PERIODS = {"calibration_periods": 39.0, "holdout_periods": 39.0, "acquisition_periods": 12.0}


def simulate_population(
    model: str,
    params: Mapping[str, float],
    *,
    spend_params: Mapping[str, float],
    n_customers: int,
    calibration_periods: float,
    holdout_periods: float,
    acquisition_periods: float,
    seed: int,
) -> pd.DataFrame:
    """Simulate customers from a purchase model and Gamma-Gamma spend; calibration and holdout.

    Each customer is acquired at a uniform time in ``[0, acquisition_periods)`` (the first
    purchase) and draws a purchase rate Gamma(r, alpha) and a dropout: BG/NBD, leaves after
    each repeat purchase with probability p ~ Beta(a, b); MBG/NBD, also at the first purchase;
    Pareto/NBD, at an exponential lifetime with rate Gamma(s, beta). Spend per purchase is
    Gamma(p, nu) with nu ~ Gamma(q, v) per customer. Time is continuous, in model periods.

    Parameters
    ----------
    model : {"bgnbd", "mbgnbd", "paretonbd"}
        Purchase model.
    params : mapping
        Its parameters (rates per period).
    spend_params : mapping
        Gamma-Gamma ``p``, ``q``, ``v``.
    n_customers : int
        Customers.
    calibration_periods, holdout_periods, acquisition_periods : float
        Length of the calibration period (from time 0), of the holdout after it, and of the
        acquisition window at the start (at most ``calibration_periods``).
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (0..n-1), with the columns of
        ``ccnb.summary.calibration_holdout``: ``frequency_cal``, ``recency_cal``, ``T_cal``,
        ``monetary_value_cal`` (mean spend of the calibration repeat purchases, 0 when none),
        ``frequency_holdout``, ``monetary_value_holdout`` (mean spend per holdout purchase),
        ``duration_holdout``; and ``value_holdout`` (total holdout spend).
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if not 0 < acquisition_periods <= calibration_periods:
        raise ValueError("acquisition_periods must be in (0, calibration_periods]")
    rng = np.random.default_rng(seed)
    n = int(n_customers)
    acquired = rng.uniform(0, acquisition_periods, n)
    age = calibration_periods - acquired
    end = age + holdout_periods  # the holdout's end, in each customer's own clock
    rate = rng.gamma(params["r"], 1 / params["alpha"], n)
    if model == "paretonbd":
        lifetime = rng.exponential(1 / rng.gamma(params["s"], 1 / params["beta"], n))
    else:
        dropout = rng.beta(params["a"], params["b"], n)
        # MBG/NBD customers may leave at the first purchase; the count of repeat purchases
        # after which each customer leaves (infinite lifetime: beyond any horizon)
        first = 1 if model == "bgnbd" else 0
        leaves_after = rng.geometric(dropout) - 1 + first
    nu = rng.gamma(spend_params["q"], 1 / spend_params["v"], n)

    frequency_cal = np.zeros(n)
    recency_cal = np.zeros(n)
    spend_cal = np.zeros(n)
    frequency_holdout = np.zeros(n)
    spend_holdout = np.zeros(n)
    clock = np.zeros(n)
    made = np.zeros(n, dtype=np.int64)
    active = np.arange(n)
    if model != "paretonbd":
        active = active[leaves_after > 0]
    while len(active):
        clock[active] += rng.exponential(1 / rate[active])
        limit = end[active] if model != "paretonbd" else np.minimum(end[active], lifetime[active])
        active = active[clock[active] <= limit]
        amount = rng.gamma(spend_params["p"], 1 / nu[active])
        in_calibration = clock[active] <= age[active]
        cal, hold = active[in_calibration], active[~in_calibration]
        frequency_cal[cal] += 1
        recency_cal[cal] = clock[cal]
        spend_cal[cal] += amount[in_calibration]
        frequency_holdout[hold] += 1
        spend_holdout[hold] += amount[~in_calibration]
        made[active] += 1
        if model != "paretonbd":
            active = active[made[active] < leaves_after[active]]
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary_cal = np.where(frequency_cal > 0, spend_cal / frequency_cal, 0.0)
        monetary_holdout = np.where(frequency_holdout > 0, spend_holdout / frequency_holdout, 0.0)
    return pd.DataFrame(
        {
            "frequency_cal": frequency_cal,
            "recency_cal": recency_cal,
            "T_cal": age,
            "monetary_value_cal": monetary_cal,
            "frequency_holdout": frequency_holdout,
            "monetary_value_holdout": monetary_holdout,
            "duration_holdout": float(holdout_periods),
            "value_holdout": spend_holdout,
        },
        index=pd.RangeIndex(n, name="customer_id"),
    )
