"""Seeded generator of the synthetic demo retailer shipped in ``ccnb.datasets``.

Run ``python -m ccnb.datasets._demo_generator`` to (re)write ``demo_transactions.csv.gz``,
``demo_customers.csv.gz`` and ``demo_survey.csv.gz`` byte for byte (gzip with ``mtime=0``).
The data follow the data contract (docs/methodology.md, "Data quality") and the BTYD
conventions of its "Customer summary" section, with known true parameters.

Generating process (all randomness from ``numpy.random.default_rng(seed)``, ``DEMO_SEED``)
------------------------------------------------------------------------------------------
Demo window: first purchases from 2021-01-01 to 2025-12-31, observation end 2025-12-31,
5,000 customers. Time is continuous inside a day; a row's date is the day of its event.

1. **Acquisition.** Each customer's first-purchase day is drawn from daily weights
   ``1.25 ** (years since start) * (2.5 if the month is November or December else 1)``: a
   growing business with visible holiday peaks. Customer ids ``C00001``, ``C00002``, ... follow
   the order of first purchase.
2. **Acquisition channel** (customer quality and cost). The channel mix moves linearly from
   the shares at the start of the window to those at its end (Social ads grow):

   ==============  =====  =====  ===  ===  ====  ===========  =========
   channel         r      alpha  a    b    CAC   share start  share end
   ==============  =====  =====  ===  ===  ====  ===========  =========
   Organic search  0.55   11.0   1.0  3.0   8.0  0.40         0.30
   Paid search     0.50   11.0   1.0  2.5  35.0  0.32         0.28
   Social ads      0.45   12.0   1.6  1.6  25.0  0.12         0.30
   Referral        0.80   10.0   0.8  4.0  15.0  0.16         0.12
   ==============  =====  =====  ===  ===  ====  ===========  =========

   Mean purchase rate r/alpha per week: 0.050, 0.045, 0.0375 and 0.080; mean dropout
   a/(a+b): 0.25, 0.29, 0.50 (one-and-done customers) and 0.17 (the best customers).
   Each customer's acquisition cost is Gamma distributed around the channel's CAC (mean CAC,
   coefficient of variation 0.35), rounded to cents.
3. **Repeat purchases (BG/NBD).** Per customer, ``lambda ~ Gamma(shape r, rate alpha)``
   purchases per week while alive and ``p ~ Beta(a, b)``; after each repeat purchase the
   customer drops out with probability ``p`` (so the number of repeat purchases before dropout
   is Geometric(p)). While alive, purchases arrive as a Poisson process of rate
   ``lambda * s(t)`` where the seasonal multiplier ``s`` is 1.5 in November and December and
   0.9 in the other months (mean over a year 1.0003). Equivalently the process is exactly
   BG/NBD on the clock ``C(t) = integral of s``, which is how it is simulated (vectorised: the
   first ``min(N, K)`` order statistics of ``N ~ Poisson`` uniform arrivals, ``K ~
   Geometric(p)``). Several purchases on one day merge into one purchase day in the summary.
4. **Spend (Gamma-Gamma, independent of frequency).** Per customer ``nu ~ Gamma(shape q=4,
   rate gamma=37.5)``; each purchase day's value ``~ Gamma(shape p=6, rate nu)`` (lifetimes
   calls ``gamma`` ``v``), rounded to cents, at least 1.00. Mean purchase-day value
   ``p * gamma / (q - 1) = 75`` EUR, the same in every channel (mean order about 72 EUR
   after the same-day splits below).
5. **Orders.** 4% of purchase days are split into two orders on the same day (value split
   uniformly between 25% and 75%), so orders and purchase days differ. Order ids ``O0000001``
   ... follow the date. Order channel: each customer has a home channel (web 0.55, app 0.30,
   store 0.15) used for 85% of orders, the other orders pick one of the three at random.
6. **Returns.** Each order is returned with probability 0.038, 0 to 30 days later (returns
   that would fall after the observation end are not generated): fully with probability 0.4
   (a one-order customer who returns everything has net revenue 0), otherwise a uniform 20% to
   80% of the order. A return row has a negative amount, the order's channel and its own id
   ``R0000001`` ... .
7. **Deliberately bad rows** (``DEMO_BAD_ROWS``, 44 rows, each with exactly one problem),
   inserted at random positions: 8 ``missing_customer_id`` (empty id), 10 ``bad_date``
   ("2023-02-30", "2022-04-31", "2024-13-01", "2021-06-00", "not a date", twice each),
   8 ``bad_amount`` ("n/a" and "12,3,4", four each), 6 ``after_observation_end`` (dates
   2026-01-01 .. 2026-02-14) and 12 ``duplicate`` (exact copies of purchase rows). The bad
   rows other than duplicates are extra orders with their own order ids; the clean rows are
   exactly the simulated process (``generate_transactions(n_customers=5000,
   seed=DEMO_SEED)``). The shipped file has 16,842 rows: 16,237 orders, 561 returns and the
   44 bad rows.
8. **Survey** (1,500 answers, one per respondent): respondents are drawn uniformly from the
   customers whose first purchase is before the observation end, answering on a uniform day
   after their first purchase. Latent satisfaction ``z = 0.6 * standardised
   log(lambda * mean spend) + channel effect + Normal(0, 0.8)`` (channel effect +0.3 Referral,
   -0.4 Social ads, 0 otherwise); ``nps = clip(round(8 + 1.5 z), 0, 10)`` and ``csat =
   clip(round(4 + 0.6 z + Normal(0, 0.5)), 1, 5)``. Three of the answers are deliberately out
   of range (``DEMO_BAD_SURVEY_ROWS``): nps 11 twice and csat 0 once.
9. **Product categories** (``category``: Home, Fashion, Beauty, Electronics), from a stream
   of their own (``default_rng([seed, 7])``), so every other column is as without them. Each
   customer has a favourite category drawn with weights ``exp(beta_c z)``, ``z`` the
   standardised ``log(lambda * mean spend)`` and ``beta = (-0.8, -0.2, 0.3, 1.0)``: the
   better the customer, the likelier Electronics, then Beauty. The first order is in the
   favourite with probability 0.75, later orders 0.6, else in a uniformly random category; a
   return has its order's category. The truth table names each customer's favourite.

The pooled population (all channels together) is a mixture, not one Gamma/Beta: its means are
exact and ``DEMO_TRUE_PARAMS["pooled"]`` also gives the moment-matched single Gamma (r, alpha)
and Beta (a, b), the single BG/NBD population closest to it. Channel shares there are the
expected shares over the demo window (the mix weighted by the acquisition weights). lifetimes'
BetaGeoFitter on the clean shipped purchases gives a mean purchase rate r/alpha of 0.053 per
week against the true 0.050 (see tests/test_datasets.py).
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import pathlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.optimize

from ccnb.datasets import DEMO_END, DEMO_FILES

DEMO_SEED = 20251231
DEMO_START = "2021-01-01"
DEMO_N_CUSTOMERS = 5000
DEMO_N_SURVEY_ANSWERS = 1500


@dataclasses.dataclass(frozen=True)
class _Channel:
    r: float
    alpha: float
    a: float
    b: float
    cac: float
    share_start: float
    share_end: float


_CHANNELS = {
    "Organic search": _Channel(0.55, 11.0, 1.0, 3.0, 8.0, 0.40, 0.30),
    "Paid search": _Channel(0.50, 11.0, 1.0, 2.5, 35.0, 0.32, 0.28),
    "Social ads": _Channel(0.45, 12.0, 1.6, 1.6, 25.0, 0.12, 0.30),
    "Referral": _Channel(0.80, 10.0, 0.8, 4.0, 15.0, 0.16, 0.12),
}
_CHANNEL_NAMES = tuple(_CHANNELS)
_CAC_COEFFICIENT_OF_VARIATION = 0.35
_SURVEY_CHANNEL_EFFECT = {
    "Organic search": 0.0,
    "Paid search": 0.0,
    "Social ads": -0.4,
    "Referral": 0.3,
}

# Gamma-Gamma spend model, shared by all channels (lifetimes names gamma "v").
_SPEND_P, _SPEND_Q, _SPEND_GAMMA = 6.0, 4.0, 37.5
_MIN_PURCHASE_VALUE = 1.00

_ACQUISITION_GROWTH_PER_YEAR = 1.25
_ACQUISITION_HOLIDAY_MULTIPLIER = 2.5
_REPEAT_HOLIDAY_MULTIPLIER = 1.5
_REPEAT_OFF_SEASON_MULTIPLIER = 0.9
_HOLIDAY_MONTHS = (11, 12)

_SAME_DAY_SPLIT_RATE = 0.04
_RETURN_RATE = 0.038
_FULL_RETURN_SHARE = 0.4
_RETURN_MAX_DELAY_DAYS = 30

_ORDER_CHANNELS = ("web", "app", "store")
_HOME_CHANNEL_SHARES = (0.55, 0.30, 0.15)
_HOME_CHANNEL_LOYALTY = 0.85
# product categories: a customer's favourite follows their true value (weights exp(beta * z),
# z the standardised log of lambda x mean spend), so Electronics brings the best customers
_CATEGORIES = ("Home", "Fashion", "Beauty", "Electronics")
_CATEGORY_VALUE_WEIGHT = (-0.8, -0.2, 0.3, 1.0)
_FIRST_ORDER_FAVOURITE, _LATER_ORDER_FAVOURITE = 0.75, 0.6
_CATEGORY_STREAM = 7  # categories come from their own stream: the other draws are unchanged

_DAYS_PER_WEEK = 7.0
_FUTURE_WEEKS = 52

DEMO_BAD_ROWS = {
    "missing_customer_id": 8,
    "bad_date": 10,
    "bad_amount": 8,
    "after_observation_end": 6,
    "duplicate": 12,
}
DEMO_BAD_SURVEY_ROWS = {"nps_out_of_range": 2, "csat_out_of_range": 1}

_BAD_DATES = ("2023-02-30", "2022-04-31", "2024-13-01", "2021-06-00", "not a date")
_BAD_AMOUNTS = ("n/a", "12,3,4")
_AFTER_END_MAX_DAYS = 45


@dataclasses.dataclass(frozen=True)
class DemoData:
    """Everything ``simulate`` produces.

    Attributes
    ----------
    transactions, customers, survey : pandas.DataFrame
        The tables exactly as written to the demo files: every column a string, bad rows
        included (``load_demo`` returns the same frames).
    truth : pandas.DataFrame
        One row per customer with the true latent values: ``customer_id``,
        ``acquisition_channel``, ``acquisition_date``, ``lambda`` (purchases per week while
        alive), ``p_dropout``, ``nu`` (spend rate), ``mean_spend`` (``p / nu``),
        ``repeat_purchases`` (repeat purchase events before the observation end, before merging
        same-day events), ``alive_at_end`` and ``expected_purchases_next_52_weeks`` (given the
        truth: ``(1 - exp(-lambda * p * C)) / p`` for an alive customer, ``C`` the seasonal
        clock length of the next 52 weeks in weeks; 0 once dropped out).
    """

    transactions: pd.DataFrame
    customers: pd.DataFrame
    survey: pd.DataFrame
    truth: pd.DataFrame


@dataclasses.dataclass(frozen=True)
class _Calendar:
    """Days of the window (plus a year after it) and the seasonal purchase clock."""

    days: np.ndarray  # datetime64[D], window then _FUTURE_WEEKS * 7 days after it
    n_window_days: int
    clock: np.ndarray  # clock[k] = integral of s over [0, k) days, length len(days) + 1

    def to_clock(self, time_in_days: np.ndarray) -> np.ndarray:
        return np.interp(time_in_days, np.arange(self.clock.size), self.clock)

    def from_clock(self, clock_time: np.ndarray) -> np.ndarray:
        return np.interp(clock_time, self.clock, np.arange(self.clock.size))


@dataclasses.dataclass(frozen=True)
class _Population:
    """Per-customer draws (index = customer number - 1) and per-row arrays of their rows."""

    calendar: _Calendar
    first_day: np.ndarray
    channel: np.ndarray
    lam: np.ndarray
    p_dropout: np.ndarray
    nu: np.ndarray
    repeat_purchases: np.ndarray
    alive_at_end: np.ndarray
    expected_future: np.ndarray
    # rows: purchases split into orders, then returns; sorted by day, orders before returns
    row_customer: np.ndarray
    row_day: np.ndarray
    row_amount: np.ndarray
    row_number: np.ndarray  # order number (O...) or return number (R...), 1-based
    row_is_return: np.ndarray
    row_channel: np.ndarray
    favourite_category: np.ndarray
    row_category: np.ndarray


def _months(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[M]").astype(np.int64) % 12 + 1


def _calendar(start: str, end: str) -> _Calendar:
    first, last = np.datetime64(start, "D"), np.datetime64(end, "D")
    if last < first:
        raise ValueError(f"end {end!r} is before start {start!r}")
    n_window_days = int((last - first).astype(np.int64)) + 1
    days = np.arange(first, last + 1 + _FUTURE_WEEKS * 7)
    holiday = np.isin(_months(days), _HOLIDAY_MONTHS)
    intensity = np.where(holiday, _REPEAT_HOLIDAY_MULTIPLIER, _REPEAT_OFF_SEASON_MULTIPLIER)
    clock = np.concatenate(([0.0], np.cumsum(intensity)))
    return _Calendar(days=days, n_window_days=n_window_days, clock=clock)


def _acquisition_weights(calendar: _Calendar) -> np.ndarray:
    days = calendar.days[: calendar.n_window_days]
    years = np.arange(days.size) / 365.25
    holiday = np.isin(_months(days), _HOLIDAY_MONTHS)
    weights = _ACQUISITION_GROWTH_PER_YEAR**years * np.where(
        holiday, _ACQUISITION_HOLIDAY_MULTIPLIER, 1.0
    )
    return weights / weights.sum()


def _channel_shares(fraction_of_window: np.ndarray) -> np.ndarray:
    """Channel probabilities (n x channels) at fractions 0..1 of the acquisition window."""
    start = np.array([c.share_start for c in _CHANNELS.values()])
    end = np.array([c.share_end for c in _CHANNELS.values()])
    fraction = np.asarray(fraction_of_window, dtype=float)[:, None]
    return (1.0 - fraction) * start + fraction * end


def _window_fraction(day_index: np.ndarray, n_window_days: int) -> np.ndarray:
    return day_index / max(n_window_days - 1, 1)


def _expected_repeat_purchases(lam_per_day, p_dropout, clock_length):
    """BG/NBD E[X(t) | lambda, p] = (1 - exp(-lambda p t)) / p."""
    return -np.expm1(-lam_per_day * p_dropout * clock_length) / p_dropout


def _purchase_scale(lam_per_day, p_dropout, clock_length, repeats_needed):
    """Scale s so that lambda -> s lambda (and p -> p / s when s > 1) gives the repeats needed.

    For s >= 1 the expected repeat count is exactly linear in s; below 1 it increases with s
    and the root is found with Brent's method.
    """
    at_one = _expected_repeat_purchases(lam_per_day, p_dropout, clock_length).sum()
    if repeats_needed >= at_one:
        return repeats_needed / at_one

    def shortfall(scale):
        expected = _expected_repeat_purchases(scale * lam_per_day, p_dropout, clock_length)
        return expected.sum() - repeats_needed

    return scipy.optimize.brentq(shortfall, 0.0, 1.0, xtol=1e-9)


def _first_order_statistics(rng, arrivals, kept):
    """The first ``kept[i]`` of ``arrivals[i]`` sorted uniform(0, 1) draws, for every i at once.

    Given N Poisson arrivals on an interval their times are N sorted uniforms; only the first
    min(N, K) happen before dropout. Drawing them directly costs sum(kept), not sum(N):
    ``log(1 - U_(j)) = sum_{k <= j} log(V_k) / (N - k + 1)`` with V_k uniform on (0, 1].

    Returns
    -------
    owner : numpy.ndarray
        Index i of each draw, grouped and in order.
    fraction : numpy.ndarray
        The order statistics, increasing within each group.
    """
    owner = np.repeat(np.arange(kept.size), kept)
    group_start = np.cumsum(kept) - kept
    rank = np.arange(owner.size) - group_start[owner]
    step = np.log1p(-rng.random(owner.size)) / (arrivals[owner] - rank)
    running = np.cumsum(step)
    before_group = np.concatenate(([0.0], running))[group_start]
    return owner, -np.expm1(running - before_group[owner])


def _draw_population(
    rng: np.random.Generator,
    *,
    n_customers: int,
    calendar: _Calendar,
    n_transactions_target: int | None = None,
    category_seed: int = 0,
) -> _Population:
    if n_customers < 1:
        raise ValueError(f"n_customers must be at least 1, got {n_customers}")
    n_days = calendar.n_window_days

    # 1-2. acquisition day and channel
    first_day = np.sort(rng.choice(n_days, size=n_customers, p=_acquisition_weights(calendar)))
    shares = _channel_shares(_window_fraction(first_day, n_days))
    channel = (rng.random(n_customers)[:, None] >= np.cumsum(shares, axis=1)).sum(axis=1)
    channel = np.minimum(channel, len(_CHANNELS) - 1)
    params = list(_CHANNELS.values())
    r = np.array([c.r for c in params])[channel]
    alpha = np.array([c.alpha for c in params])[channel]
    a = np.array([c.a for c in params])[channel]
    b = np.array([c.b for c in params])[channel]

    # 3. purchase process on the seasonal clock
    lam = rng.gamma(shape=r, scale=1.0 / alpha)
    p_dropout = np.clip(rng.beta(a, b), 1e-12, 1.0)
    nu = rng.gamma(shape=_SPEND_Q, scale=1.0 / _SPEND_GAMMA, size=n_customers)
    first_time = first_day + rng.random(n_customers)
    first_clock = calendar.to_clock(first_time)
    end_clock = calendar.clock[n_days]
    clock_length = end_clock - first_clock
    future_clock = calendar.clock[n_days + _FUTURE_WEEKS * 7] - end_clock

    if n_transactions_target is not None:
        rows_per_purchase = (1.0 + _SAME_DAY_SPLIT_RATE) * (1.0 + _RETURN_RATE)
        purchases_needed = n_transactions_target / rows_per_purchase
        if purchases_needed <= n_customers:
            raise ValueError(
                f"n_transactions_target={n_transactions_target} is too small for "
                f"n_customers={n_customers}: every customer has a first purchase, so ask for "
                f"more than {int(np.ceil(n_customers * rows_per_purchase))} transactions"
            )
        scale = _purchase_scale(
            lam / _DAYS_PER_WEEK, p_dropout, clock_length, purchases_needed - n_customers
        )
        lam = lam * scale
        if scale > 1.0:
            p_dropout = p_dropout / scale

    lam_per_day = lam / _DAYS_PER_WEEK
    arrivals = rng.poisson(lam_per_day * clock_length)
    purchases_before_dropout = rng.geometric(p_dropout)
    repeat_purchases = np.minimum(arrivals, purchases_before_dropout)
    alive_at_end = arrivals < purchases_before_dropout
    expected_future = np.where(
        alive_at_end, _expected_repeat_purchases(lam_per_day, p_dropout, future_clock), 0.0
    )

    owner, fraction = _first_order_statistics(rng, arrivals, repeat_purchases)
    repeat_time = calendar.from_clock(first_clock[owner] + clock_length[owner] * fraction)
    repeat_day = np.clip(np.floor(repeat_time).astype(np.int64), first_day[owner], n_days - 1)

    # 4. purchase days and their value
    purchase_customer = np.concatenate((np.arange(n_customers), owner))
    purchase_day = np.concatenate((first_day, repeat_day))
    value = rng.gamma(shape=_SPEND_P, scale=1.0 / nu[purchase_customer])
    value = np.maximum(np.round(value, 2), _MIN_PURCHASE_VALUE)

    # 5. orders: some purchase days are two orders
    split = rng.random(value.size) < _SAME_DAY_SPLIT_RATE
    first_part = np.round(value * rng.uniform(0.25, 0.75, size=value.size), 2)
    order_customer = np.concatenate((purchase_customer, purchase_customer[split]))
    order_day = np.concatenate((purchase_day, purchase_day[split]))
    order_amount = np.concatenate(
        (np.where(split, first_part, value), np.round(value[split] - first_part[split], 2))
    )
    home_channel = rng.choice(len(_ORDER_CHANNELS), size=n_customers, p=_HOME_CHANNEL_SHARES)
    loyal = rng.random(order_day.size) < _HOME_CHANNEL_LOYALTY
    other_channel = rng.integers(0, len(_ORDER_CHANNELS), size=order_day.size)
    order_channel = np.where(loyal, home_channel[order_customer], other_channel)
    # stable sorts on one integer key: ties keep their order (fast for millions of rows)
    order_sort = np.argsort(order_day * n_customers + order_customer, kind="stable")
    order_customer, order_day = order_customer[order_sort], order_day[order_sort]
    order_amount, order_channel = order_amount[order_sort], order_channel[order_sort]

    # 6. returns
    returned = rng.random(order_day.size) < _RETURN_RATE
    full = rng.random(order_day.size) < _FULL_RETURN_SHARE
    share = rng.uniform(0.2, 0.8, size=order_day.size)
    delay = rng.integers(0, _RETURN_MAX_DELAY_DAYS + 1, size=order_day.size)
    returned &= order_day + delay <= n_days - 1
    return_amount = np.where(full, order_amount, np.round(order_amount * share, 2))[returned]
    return_day = (order_day + delay)[returned]
    return_order = np.flatnonzero(returned)
    return_sort = np.argsort(return_day, kind="stable")

    row_customer = np.concatenate((order_customer, order_customer[return_order][return_sort]))
    row_day = np.concatenate((order_day, return_day[return_sort]))
    row_amount = np.concatenate((order_amount, -return_amount[return_sort]))
    row_number = np.concatenate(
        (np.arange(1, order_day.size + 1), np.arange(1, returned.sum() + 1))
    )
    row_is_return = np.repeat([False, True], [order_day.size, returned.sum()])
    row_channel = np.concatenate((order_channel, order_channel[return_order][return_sort]))
    row_sort = np.argsort(row_day * 2 + row_is_return, kind="stable")

    # 7. product categories (own stream): the first order's category is the favourite more often
    favourite, order_category = _order_categories(
        np.random.default_rng([category_seed, _CATEGORY_STREAM]),
        lam=lam,
        nu=nu,
        order_customer=order_customer,
    )
    row_category = np.concatenate((order_category, order_category[return_order][return_sort]))

    return _Population(
        calendar=calendar,
        first_day=first_day,
        channel=channel,
        lam=lam,
        p_dropout=p_dropout,
        nu=nu,
        repeat_purchases=repeat_purchases,
        alive_at_end=alive_at_end,
        expected_future=expected_future,
        row_customer=row_customer[row_sort],
        row_day=row_day[row_sort],
        row_amount=row_amount[row_sort],
        row_number=row_number[row_sort],
        row_is_return=row_is_return[row_sort],
        row_channel=row_channel[row_sort],
        favourite_category=favourite,
        row_category=row_category[row_sort],
    )


def _order_categories(rng, *, lam, nu, order_customer):
    """Each customer's favourite category (by true value) and each order's category."""
    log_value = np.log(lam * _SPEND_P / nu)
    z = (log_value - log_value.mean()) / log_value.std()
    weights = np.exp(np.outer(z, _CATEGORY_VALUE_WEIGHT))
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    favourite = (rng.random(lam.size)[:, None] >= cumulative).sum(axis=1)
    favourite = np.minimum(favourite, len(_CATEGORIES) - 1)
    first_order = np.zeros(order_customer.size, dtype=bool)
    first_order[np.unique(order_customer, return_index=True)[1]] = True
    keep = rng.random(order_customer.size) < np.where(
        first_order, _FIRST_ORDER_FAVOURITE, _LATER_ORDER_FAVOURITE
    )
    other = rng.integers(0, len(_CATEGORIES), size=order_customer.size)
    return favourite, np.where(keep, favourite[order_customer], other)


def _fixed_width_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.StringArray:
    """``prefix`` + zero-padded ``numbers`` as an Arrow string array, without Python loops."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if numbers.size and numbers.max() >= 10**width:
        raise ValueError(f"{numbers.max()} does not fit in {width} digits")
    row_width = len(prefix) + width
    chars = np.empty((numbers.size, row_width), dtype=np.uint8)
    chars[:, : len(prefix)] = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    remaining = numbers.copy()
    for position in range(row_width - 1, len(prefix) - 1, -1):
        chars[:, position] = remaining % 10 + ord("0")
        remaining //= 10
    offsets = np.arange(numbers.size + 1, dtype=np.int32) * row_width
    return pa.StringArray.from_buffers(numbers.size, pa.py_buffer(offsets), pa.py_buffer(chars))


def _take_strings(labels: pa.StringArray, codes: np.ndarray) -> pd.Series:
    """Strings ``labels[codes]`` as a pandas ``str`` Series, without Python objects."""
    return pd.Series(pd.array(labels.take(np.asarray(codes, dtype=np.int64)), dtype="str"))


def _id_width(count: int, minimum: int) -> int:
    return max(minimum, len(str(max(count, 1))))


def _customer_labels(n_customers: int) -> pa.StringArray:
    return _fixed_width_ids("C", np.arange(1, n_customers + 1), _id_width(n_customers, 5))


def _row_ids(population: _Population) -> pd.Series:
    """Order ids ``O...`` and return ids ``R...`` (same width) for the rows."""
    width = _id_width(int(population.row_number.max(initial=1)), 7)
    order_ids = _fixed_width_ids("O", population.row_number, width)
    return_ids = _fixed_width_ids("R", population.row_number, width)
    chosen = pc.if_else(pa.array(population.row_is_return), return_ids, order_ids)
    return pd.Series(pd.array(chosen, dtype="str"))


def generate_transactions(
    *,
    n_customers: int,
    n_transactions_target: int | None = None,
    years: float = 5,
    end: str = DEMO_END,
    seed: int = 0,
) -> pd.DataFrame:
    """Generate clean transactions of a demo-like retailer, fast, for benchmarks.

    The process is the demo retailer's (see the module docstring) without bad rows, vectorised
    in numpy: three million rows take a few seconds.

    Parameters
    ----------
    n_customers : int
        Number of customers (all make a first purchase inside the window).
    n_transactions_target : int, optional
        Approximate number of rows wanted (orders and returns). The purchase rates are scaled
        so that the expected row count matches: ``lambda * s`` and, when ``s > 1``, dropout
        ``p / s`` (which scales the expected BG/NBD purchase count exactly by ``s``). The
        realised count is random, usually within a few percent. None keeps the demo rates
        (about 3.4 rows per customer over five years).
    years : float, default 5
        Length of the acquisition and observation window, ending at ``end``.
    end : str, default "2025-12-31"
        Observation end (ISO date); no row is dated after it.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; the same arguments give the same frame.

    Returns
    -------
    pandas.DataFrame
        Validated-transactions shape of the data contract, sorted by date: ``customer_id``
        (str), ``date`` (datetime64[ns], midnight), ``amount`` (float64, negative for
        returns), ``order_id`` (str, ``O...`` for orders, ``R...`` for returns), ``channel``
        (str: web, app, store), ``category`` (str: the order's product category; a return
        has its order's).
    """
    window_days = int(round(365.25 * years))
    if window_days < 1:
        raise ValueError(f"years must cover at least one day, got {years}")
    last = np.datetime64(end, "D")
    start = str(last - (window_days - 1))
    population = _draw_population(
        np.random.default_rng(seed),
        n_customers=n_customers,
        calendar=_calendar(start, end),
        n_transactions_target=n_transactions_target,
        category_seed=seed,
    )
    dates = population.calendar.days[population.row_day].astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "customer_id": _take_strings(_customer_labels(n_customers), population.row_customer),
            "date": dates,
            "amount": population.row_amount,
            "order_id": _row_ids(population),
            "channel": _take_strings(pa.array(_ORDER_CHANNELS), population.row_channel),
            "category": _take_strings(pa.array(_CATEGORIES), population.row_category),
        }
    )


def _format_amounts(amounts: np.ndarray) -> list[str]:
    return [f"{amount:.2f}" for amount in amounts]


def _clean_transactions(population: _Population, customer_ids: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": _row_ids(population).to_numpy(dtype=object),
            "customer_id": customer_ids[population.row_customer],
            "date": population.calendar.days[population.row_day].astype(str),
            "amount": _format_amounts(population.row_amount),
            "channel": np.array(_ORDER_CHANNELS)[population.row_channel],
            "category": np.array(_CATEGORIES)[population.row_category],
        },
        dtype="str",
    )


def _insert_at_random_positions(
    rng: np.random.Generator, rows: pd.DataFrame, extra: pd.DataFrame
) -> pd.DataFrame:
    total = len(rows) + len(extra)
    extra_positions = np.sort(rng.choice(total, size=len(extra), replace=False))
    is_extra = np.zeros(total, dtype=bool)
    is_extra[extra_positions] = True
    combined = pd.concat([rows, extra], ignore_index=True)
    order = np.empty(total, dtype=np.int64)
    order[~is_extra] = np.arange(len(rows))
    order[is_extra] = len(rows) + rng.permutation(len(extra))
    return combined.iloc[order].reset_index(drop=True)


def _with_bad_rows(
    rng: np.random.Generator, clean: pd.DataFrame, population: _Population
) -> pd.DataFrame:
    """Add DEMO_BAD_ROWS: each bad row has exactly one problem (see the module docstring)."""
    purchase_rows = np.flatnonzero(~population.row_is_return)
    templates = clean.iloc[
        rng.choice(purchase_rows, size=sum(DEMO_BAD_ROWS.values()), replace=False)
    ]
    templates = templates.reset_index(drop=True)
    counts = list(DEMO_BAD_ROWS.values())
    bounds = np.cumsum([0, *counts])
    groups = {
        reason: templates.iloc[bounds[i] : bounds[i + 1]].copy()
        for i, reason in enumerate(DEMO_BAD_ROWS)
    }
    groups["missing_customer_id"]["customer_id"] = ""
    groups["bad_date"]["date"] = np.resize(np.array(_BAD_DATES), len(groups["bad_date"]))
    groups["bad_amount"]["amount"] = np.resize(np.array(_BAD_AMOUNTS), len(groups["bad_amount"]))
    last_day = np.datetime64(population.calendar.days[population.calendar.n_window_days - 1])
    days_after = rng.integers(
        1, _AFTER_END_MAX_DAYS + 1, size=DEMO_BAD_ROWS["after_observation_end"]
    )
    groups["after_observation_end"]["date"] = (last_day + days_after).astype(str)

    new_order = pd.concat([g for reason, g in groups.items() if reason != "duplicate"])
    width = len(clean["order_id"].iloc[0]) - 1
    next_number = int(population.row_number[~population.row_is_return].max()) + 1
    new_numbers = np.arange(next_number, next_number + len(new_order))
    new_order["order_id"] = [f"O{number:0{width}d}" for number in new_numbers]
    bad = pd.concat([new_order, groups["duplicate"]], ignore_index=True)
    return _insert_at_random_positions(rng, clean, bad)


def _customers_table(
    rng: np.random.Generator, population: _Population, customer_ids: np.ndarray
) -> pd.DataFrame:
    cac = np.array([c.cac for c in _CHANNELS.values()])[population.channel]
    shape = 1.0 / _CAC_COEFFICIENT_OF_VARIATION**2
    cost = rng.gamma(shape=shape, scale=cac / shape)
    return pd.DataFrame(
        {
            "customer_id": customer_ids,
            "acquisition_channel": np.array(_CHANNEL_NAMES)[population.channel],
            "acquisition_cost": _format_amounts(np.round(cost, 2)),
            "acquisition_date": population.calendar.days[population.first_day].astype(str),
        },
        dtype="str",
    )


def _survey_table(
    rng: np.random.Generator, population: _Population, customer_ids: np.ndarray
) -> pd.DataFrame:
    last = population.calendar.n_window_days - 1
    eligible = np.flatnonzero(population.first_day < last)
    n_answers = min(
        round(DEMO_N_SURVEY_ANSWERS * customer_ids.size / DEMO_N_CUSTOMERS), eligible.size
    )
    respondents = np.sort(rng.choice(eligible, size=n_answers, replace=False))
    first = population.first_day[respondents]
    answer_day = first + 1 + np.floor(rng.random(n_answers) * (last - first)).astype(np.int64)

    log_value = np.log(population.lam * _SPEND_P / population.nu)
    value_score = (log_value - log_value.mean()) / log_value.std()
    channel_effect = np.array([_SURVEY_CHANNEL_EFFECT[name] for name in _CHANNEL_NAMES])
    satisfaction = (
        0.6 * value_score[respondents]
        + channel_effect[population.channel[respondents]]
        + rng.normal(0.0, 0.8, size=n_answers)
    )
    nps = np.clip(np.round(8.0 + 1.5 * satisfaction), 0, 10).astype(np.int64)
    csat = np.round(4.0 + 0.6 * satisfaction + rng.normal(0.0, 0.5, size=n_answers))
    csat = np.clip(csat, 1, 5).astype(np.int64)

    # the deliberately out-of-range answers replace randomly chosen answers' scores
    n_bad_nps = DEMO_BAD_SURVEY_ROWS["nps_out_of_range"]
    n_bad_csat = DEMO_BAD_SURVEY_ROWS["csat_out_of_range"]
    bad = rng.choice(n_answers, size=n_bad_nps + n_bad_csat, replace=False)
    nps[bad[:n_bad_nps]] = 11
    csat[bad[n_bad_nps:]] = 0

    order = np.lexsort((respondents, answer_day))
    return pd.DataFrame(
        {
            "customer_id": customer_ids[respondents[order]],
            "date": population.calendar.days[answer_day[order]].astype(str),
            "nps": nps[order].astype(str),
            "csat": csat[order].astype(str),
        },
        dtype="str",
    )


def _truth_table(population: _Population, customer_ids: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.array(customer_ids, dtype="str"),
            "acquisition_channel": pd.array(
                np.array(_CHANNEL_NAMES)[population.channel], dtype="str"
            ),
            "acquisition_date": population.calendar.days[population.first_day].astype(
                "datetime64[ns]"
            ),
            "lambda": population.lam,
            "p_dropout": population.p_dropout,
            "nu": population.nu,
            "mean_spend": _SPEND_P / population.nu,
            "repeat_purchases": population.repeat_purchases,
            "alive_at_end": population.alive_at_end,
            "expected_purchases_next_52_weeks": population.expected_future,
            "favourite_category": pd.array(
                np.array(_CATEGORIES)[population.favourite_category], dtype="str"
            ),
        }
    )


def simulate(
    *,
    n_customers: int = DEMO_N_CUSTOMERS,
    start: str = DEMO_START,
    end: str = DEMO_END,
    seed: int = DEMO_SEED,
) -> DemoData:
    """Simulate the demo retailer: transactions, customers, survey and the per-customer truth.

    With the defaults this returns exactly the content of the shipped demo files.

    Parameters
    ----------
    n_customers : int, default 5000
        Number of customers; the survey gets 30% as many answers.
    start, end : str, default "2021-01-01", "2025-12-31"
        First possible acquisition day and observation end (ISO dates).
    seed : int, default DEMO_SEED
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    DemoData
        ``transactions``, ``customers`` and ``survey`` as string tables (bad rows included),
        ``truth`` with the latent per-customer values.
    """
    rng = np.random.default_rng(seed)
    population = _draw_population(
        rng, n_customers=n_customers, calendar=_calendar(start, end), category_seed=seed
    )
    customer_ids = np.array(_customer_labels(n_customers).to_pylist(), dtype=object)
    clean = _clean_transactions(population, customer_ids)
    return DemoData(
        transactions=_with_bad_rows(rng, clean, population),
        customers=_customers_table(rng, population, customer_ids),
        survey=_survey_table(rng, population, customer_ids),
        truth=_truth_table(population, customer_ids),
    )


def _gzip_csv_bytes(table: pd.DataFrame) -> bytes:
    """CSV text gzipped reproducibly: no file name and mtime 0 in the gzip header."""
    text = table.to_csv(index=False, lineterminator="\n")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    return buffer.getvalue()


def write_demo_files(directory: str | pathlib.Path | None = None) -> list[pathlib.Path]:
    """Write the three demo files (defaults to the package's ``datasets`` folder).

    Parameters
    ----------
    directory : str or pathlib.Path, optional
        Target folder; defaults to the folder of this module.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    folder = pathlib.Path(directory) if directory is not None else pathlib.Path(__file__).parent
    folder.mkdir(parents=True, exist_ok=True)
    demo = simulate()
    written = []
    for table_name, table in (
        ("transactions", demo.transactions),
        ("customers", demo.customers),
        ("survey", demo.survey),
    ):
        path = folder / DEMO_FILES[table_name]
        path.write_bytes(_gzip_csv_bytes(table))
        written.append(path)
    return written


def _expected_channel_shares() -> dict[str, float]:
    """Channel shares of the demo window: the drifting mix weighted by acquisition weights."""
    calendar = _calendar(DEMO_START, DEMO_END)
    weights = _acquisition_weights(calendar)
    fraction = _window_fraction(np.arange(calendar.n_window_days), calendar.n_window_days)
    shares = weights @ _channel_shares(fraction)
    return {name: float(share) for name, share in zip(_CHANNEL_NAMES, shares, strict=True)}


def _true_params() -> dict:
    shares = _expected_channel_shares()
    spend = {"p": _SPEND_P, "q": _SPEND_Q, "gamma": _SPEND_GAMMA}
    channels = {}
    for name, c in _CHANNELS.items():
        channels[name] = {
            "r": c.r,
            "alpha": c.alpha,
            "a": c.a,
            "b": c.b,
            **spend,
            "cac": c.cac,
            "share": shares[name],
            "share_start": c.share_start,
            "share_end": c.share_end,
            "mean_lambda": c.r / c.alpha,
            "mean_dropout": c.a / (c.a + c.b),
        }
    weight = np.array([shares[name] for name in _CHANNEL_NAMES])
    r = np.array([c.r for c in _CHANNELS.values()])
    alpha = np.array([c.alpha for c in _CHANNELS.values()])
    a = np.array([c.a for c in _CHANNELS.values()])
    b = np.array([c.b for c in _CHANNELS.values()])
    lambda_mean = float(weight @ (r / alpha))
    lambda_var = float(weight @ (r * (r + 1) / alpha**2)) - lambda_mean**2
    dropout_mean = float(weight @ (a / (a + b)))
    dropout_var = float(weight @ (a * (a + 1) / ((a + b) * (a + b + 1)))) - dropout_mean**2
    beta_concentration = dropout_mean * (1 - dropout_mean) / dropout_var - 1
    pooled = {
        "r": lambda_mean**2 / lambda_var,
        "alpha": lambda_mean / lambda_var,
        "a": dropout_mean * beta_concentration,
        "b": (1 - dropout_mean) * beta_concentration,
        **spend,
        "cac": float(weight @ np.array([c.cac for c in _CHANNELS.values()])),
        "mean_lambda": lambda_mean,
        "mean_dropout": dropout_mean,
        "mean_spend": _SPEND_P * _SPEND_GAMMA / (_SPEND_Q - 1),
        "channel_shares": shares,
    }
    return {
        "time_unit": "W",
        "start": DEMO_START,
        "observation_end": DEMO_END,
        "n_customers": DEMO_N_CUSTOMERS,
        "seed": DEMO_SEED,
        "channels": channels,
        "pooled": pooled,
        "seasonality": {
            "acquisition_holiday_multiplier": _ACQUISITION_HOLIDAY_MULTIPLIER,
            "acquisition_growth_per_year": _ACQUISITION_GROWTH_PER_YEAR,
            "repeat_holiday_multiplier": _REPEAT_HOLIDAY_MULTIPLIER,
            "repeat_off_season_multiplier": _REPEAT_OFF_SEASON_MULTIPLIER,
            "holiday_months": _HOLIDAY_MONTHS,
        },
        "orders": {
            "same_day_split_rate": _SAME_DAY_SPLIT_RATE,
            "return_rate": _RETURN_RATE,
            "full_return_share": _FULL_RETURN_SHARE,
            "return_max_delay_days": _RETURN_MAX_DELAY_DAYS,
        },
    }


DEMO_TRUE_PARAMS = _true_params()


if __name__ == "__main__":
    for written_path in write_demo_files():
        print(f"{written_path}  {written_path.stat().st_size:,} bytes")
