"""How often the intervals hold: realised outcomes against their predictive distributions.

Definitions in docs/methodology.md, "Predictive intervals".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ccnb.clv.results import PredictiveDistribution

__all__ = ["interval_coverage"]


def _randomised_pit(draws: np.ndarray, actual: np.ndarray, rng) -> np.ndarray:
    """Each outcome's place in its predictive distribution, ties spread uniformly.

    ``F(y-) + U * P(Y = y)`` with U uniform: exactly uniform on (0, 1) when the distribution
    is right, also for whole purchases and for the point mass of spending nothing
    (Czado, Gneiting & Held 2009).
    """
    below = (draws < actual).mean(axis=0)
    equal = (draws == actual).mean(axis=0)
    return below + rng.random(len(actual)) * equal


def _shares(draws, actual, low, high, interval, rng) -> dict[str, float]:
    inside = (actual >= low) & (actual <= high)
    content = ((draws >= low) & (draws <= high)).mean(axis=0)
    pit = _randomised_pit(draws, actual, rng)
    tail = (1 - interval) / 2
    return {
        "inside": float(inside.mean()),
        "stated_content": float(content.mean()),
        "pit_inside": float(((pit >= tail) & (pit <= 1 - tail)).mean()),
    }


def interval_coverage(
    distribution: PredictiveDistribution,
    *,
    actual_purchases,
    actual_value=None,
    seed: int = 0,
) -> pd.Series:
    """Share of customers, and whether the total, fall inside the predictive intervals.

    Whole purchases and the point mass at "spends nothing" make a customer's 90% interval
    hold more than 90% (the interval [0, 0] of a customer with P(no purchase) = 97% holds
    97%). So each check is given three ways: ``inside`` (the realised value is within the
    interval), ``stated_content`` (the probability the draws put inside the interval,
    averaged over customers: what ``inside`` should be when the model is right) and
    ``pit_inside`` (the randomised probability integral transform within the central
    ``interval``: exactly ``interval`` when the model is right, for any distribution).

    Parameters
    ----------
    distribution : PredictiveDistribution
        Output of :func:`predictive_distribution` for the window the outcomes cover.
    actual_purchases : array-like
        Realised purchases per customer, in the table's order.
    actual_value : array-like, optional
        Realised spend per customer (needs value draws).
    seed : int, default 0
        Seed of the tie-breaking uniforms.

    Returns
    -------
    pandas.Series
        ``purchases_inside``, ``purchases_stated_content``, ``purchases_pit_inside``,
        ``total_purchases``, ``total_purchases_low``, ``total_purchases_high``,
        ``total_purchases_inside`` and the same for ``value`` when given; ``customers`` and
        ``draws``.
    """
    rng = np.random.default_rng(seed)
    interval = distribution.settings["interval"]
    table = distribution.table
    result: dict[str, float] = {"customers": len(table), "draws": distribution.settings["n_draws"]}
    checks = [("purchases", distribution.purchase_draws, actual_purchases, False)]
    if actual_value is not None:
        checks.append(("value", distribution.value_draws, actual_value, True))
    for name, draws, actual, is_value in checks:
        if draws is None:
            raise ValueError(f"the distribution has no {name} draws")
        actual = np.asarray(actual, dtype=float)
        if actual.shape != (len(table),):
            raise ValueError(f"actual {name} must have one value per customer ({len(table)})")
        low = table[f"{name}_low"].to_numpy(float)
        high = table[f"{name}_high"].to_numpy(float)
        shares = _shares(draws, actual.astype(np.float32), low, high, interval, rng)
        result.update({f"{name}_{key}": value for key, value in shares.items()})
        _, total_low, total_high = distribution.total(value=is_value)
        realised = float(actual.sum())
        result.update(
            {
                f"total_{name}": realised,
                f"total_{name}_low": total_low,
                f"total_{name}_high": total_high,
                f"total_{name}_inside": float(total_low <= realised <= total_high),
            }
        )
    return pd.Series(result)
