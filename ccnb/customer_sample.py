"""A seeded random sample of customers that DuckDB, Spark and pandas draw alike.

A step whose cost grows with the customers and whose answer does not need every one of them
(the holdout validation of the purchase models) can run on a sample. The sample is drawn by
hashing each customer id with the seed: a customer is in it when the first eight hex digits of
``md5("<seed>:<customer_id>")`` fall below the sample's fraction of ``16**8``. Each engine
computes the same MD5, so the sample is the same customers whichever engine reads the data,
from one run to the next and in any order of rows; it filters transactions as well as
customers (every row of a sampled customer is kept). Definitions in docs/methodology.md,
"Validation on a sample".
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ccnb._lazy import lazy_module

if TYPE_CHECKING:
    import ibis.expr.types as ir

# a report reading a stored sample from the cache does not load Ibis (see ccnb._lazy)
ibis = lazy_module("ibis")

__all__ = ["KEY_DIGITS", "CustomerSample", "plan_sample"]

#: hex digits of the MD5 compared with the threshold: a fraction resolved to 1 / 16**8
KEY_DIGITS = 8


@dataclass(frozen=True)
class CustomerSample:
    """Which customers of a population a step works on: all of them, or a seeded sample.

    Attributes
    ----------
    population : int
        Customers in the population sampled from.
    sampled : int
        Customers in the sample (``population`` when it is the whole population).
    fraction : float
        Share of the population drawn; 1.0 for the whole population.
    seed : int
        Seed of the draw.
    """

    population: int
    sampled: int
    fraction: float
    seed: int

    @property
    def is_whole(self) -> bool:
        """True when the step works on every customer of the population."""
        return self.fraction >= 1.0

    @property
    def threshold(self) -> str:
        """The key below which a customer is in the sample, as ``KEY_DIGITS`` hex digits."""
        return _threshold(self.fraction)

    def rows_in(self, table: ir.Table) -> ir.Table:
        """The rows of ``table`` whose ``customer_id`` is in the sample (all when whole)."""
        if self.is_whole:
            return table
        return table.filter(_in_sample(table.customer_id, seed=self.seed, fraction=self.fraction))

    def contains(self, customer_ids: Iterable[str]) -> np.ndarray:
        """Whether each id is in the sample, computed in Python (the engines' draw, by hand)."""
        ids = list(customer_ids)
        if self.is_whole:
            return np.ones(len(ids), dtype=bool)
        threshold = self.threshold
        return np.array([_key(self.seed, str(one)) < threshold for one in ids], dtype=bool)


def plan_sample(table: ir.Table, *, at_most: int | None, seed: int) -> CustomerSample:
    """Draw about ``at_most`` of the customers of ``table``, or keep all when there are fewer.

    Parameters
    ----------
    table
        Rows with a text ``customer_id`` (transactions or customers, any engine).
    at_most
        Size the sample aims at; None keeps every customer.
    seed
        Seed of the draw: the same seed draws the same customers.

    Returns
    -------
    CustomerSample
        The population's distinct customers, the fraction ``at_most / population`` (1.0 when
        ``population <= at_most``) and the customers it draws, counted in the engine. The
        sample's size is binomial around ``at_most`` (within a few hundred of 100,000).
    """
    if at_most is not None and at_most < 1:
        raise ValueError(f"at_most must be at least 1 customer, got {at_most}")
    customers = table.select("customer_id").distinct()
    population = int(customers.count().execute())
    if at_most is None or population <= at_most:
        return CustomerSample(population=population, sampled=population, fraction=1.0, seed=seed)
    fraction = at_most / population
    drawn = customers.filter(_in_sample(customers.customer_id, seed=seed, fraction=fraction))
    return CustomerSample(
        population=population,
        sampled=int(drawn.count().execute()),
        fraction=fraction,
        seed=seed,
    )


def _threshold(fraction: float) -> str:
    """``fraction * 16**KEY_DIGITS``, rounded up, as hex digits (keys below it are drawn)."""
    if not 0 < fraction < 1:
        raise ValueError(f"a sample's fraction must be in (0, 1), got {fraction}")
    # below 16**KEY_DIGITS, so the key is always KEY_DIGITS digits (a fraction next to 1)
    return format(min(math.ceil(fraction * 16**KEY_DIGITS), 16**KEY_DIGITS - 1), f"0{KEY_DIGITS}x")


def _key(seed: int, customer_id: str) -> str:
    return hashlib.md5(f"{seed}:{customer_id}".encode()).hexdigest()[:KEY_DIGITS]


def _in_sample(customer_id: ir.StringValue, *, seed: int, fraction: float) -> ir.BooleanValue:
    """The engine's draw: the same MD5 key as `_key`, compared as fixed-width hex text."""
    salted = ibis.literal(f"{seed}:") + customer_id.cast("string")
    # hex digits of equal width order as their numbers do, in every engine's collation
    return salted.hexdigest("md5").substr(0, KEY_DIGITS) < _threshold(fraction)
