"""RFM scores, segment schemes with a tactic per segment, and revenue concentration.

RFM scores and segments (docs/methodology.md, "RFM scores", "Segment schemes", "Revenue
concentration")
(``value_tiers`` and ``rfm_grid``); the exact score rule is in :func:`score`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from ccnb._checks import did_you_mean, require_columns, require_frame

__all__ = [
    "NET_ZERO_SEGMENT",
    "resolve_scheme",
    "RFM_GRID",
    "VALUE_TIERS",
    "SegmentRule",
    "SegmentScheme",
    "builtin_scheme",
    "CONCENTRATION_SHARES",
    "check_score_inputs",
    "concentration_curve",
    "corner_share",
    "revenue_concentration",
    "rules_from_params",
    "edge_positions",
    "score",
    "score_by_edges",
    "score_edges",
    "score_grid",
    "score_ranges",
    "segment",
    "segment_recency",
    "segment_summary",
    "top_share",
    "value_tiers_scheme",
    "worst_first",
]

#: Customer-summary columns the scores are computed from.
RFM_INPUTS = ("days_since_last", "orders", "revenue")
#: Score columns, in the order they appear in ``rfm_cell``.
SCORE_COLUMNS = ("R", "F", "M")
#: The summary column each score ranks.
SCORE_INPUT = {"R": "days_since_last", "F": "orders", "M": "revenue"}
#: A segmented customer's columns in the CRM export (``segments.csv``), in order.
CRM_COLUMNS = (
    "customer_id",
    "segment",
    *SCORE_COLUMNS,
    "rfm_cell",
    *RFM_INPUTS,
    "tactic",
)

_RULE_KEYS = ("name", "description", "tactic", "R", "F", "M", "orders", "days_since_last")

#: The segment of customers whose net revenue is zero or negative (returns and cancellations
#: equal or exceed their purchases): added to every scheme, before its rules, so such a
#: customer is never in a value segment.
NET_ZERO_SEGMENT = "Net zero or negative"
_NET_ZERO_TEXT = (
    "Returns and cancellations equal or exceed what they bought: no net value so far.",
    "Find out why before any campaign (faulty goods, a dispute, test orders); leave them out "
    "of value campaigns and paid audiences.",
)


# --------------------------------------------------------------------------- validation


def _check_bins(bins: Any) -> int:
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 2:
        raise ValueError(f"bins must be a whole number of at least 2, got {bins!r}")
    return int(bins)


def _require_columns(frame: Any, columns: Sequence[str], *, what: str) -> None:
    require_columns(require_frame(frame, what=what), columns, what=what)


def _require_numeric(frame: pd.DataFrame, column: str, *, what: str) -> None:
    values = frame[column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise ValueError(f"{what} column {column!r} must be numeric, got dtype {values.dtype}")
    missing = int(values.isna().sum())
    if missing:
        raise ValueError(f"{what} column {column!r} has {missing} missing values")


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


# --------------------------------------------------------------------------- scores


def score(summary: pd.DataFrame, *, bins: int = 5) -> pd.DataFrame:
    """Score every customer 1..`bins` on recency, frequency and monetary value.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per customer with columns ``customer_id``, ``days_since_last``,
        ``orders`` and ``revenue`` (the customer summary; other columns are ignored).
    bins : int, default 5
        Number of score levels (at least 2). Scores run from 1 (worst) to `bins` (best).

    Returns
    -------
    pandas.DataFrame
        Same index and row order as `summary`, with columns:

        - ``customer_id``: as in `summary`.
        - ``days_since_last``, ``orders``, ``revenue``: the RFM inputs, unchanged.
        - ``R``: recency score (int); fewer days since the last purchase scores higher.
        - ``F``: frequency score (int) from ``orders``.
        - ``M``: monetary score (int) from net ``revenue``.
        - ``rfm_cell``: the scores as text ``"R-F-M"``, e.g. ``"5-3-4"`` (categorical
          over every possible cell).
        - ``rfm_score``: ``R + F + M`` (3 .. 3 * `bins`).

    Raises
    ------
    ValueError
        If a column is missing, not numeric or has missing values, if a customer id
        appears twice, if `summary` has no rows, or if `bins` is below 2.

    Notes
    -----
    Each of R, F and M comes from a percentile rank in which tied customers share the
    rank of the lowest-placed member of their group (``rank(method="min")``)::

        worse = number of customers with a strictly worse value
        score = ceil(bins * (worse + 1) / n)

    "Worse" means more days since the last purchase for R, fewer orders for F and less
    net revenue for M. Equivalently, a customer scores 1 plus the number of the base's
    :func:`score_edges` their value exceeds; :func:`score_by_edges` scores part of a base
    that way. The worst value always scores 1 (when ``n >= bins``) and equal
    values always share a score. Heavy ties collapse onto one score and leave others
    unused: when 6 of 10 customers have one order they all score F = 1 and the next
    customer up scores ``ceil(5 * 7 / 10) = 4``, so nobody scores F = 2 or 3. Likewise a
    tie at the top can keep everyone below `bins`. Customers whose net revenue is zero
    or negative (returns only) are kept and score the lowest M.
    """
    bins = check_score_inputs(summary, bins=bins)
    edges = {key: score_edges(worst_first(summary, key), bins=bins) for key in SCORE_COLUMNS}
    return score_by_edges(summary, edges=edges, bins=bins)


def check_score_inputs(summary: pd.DataFrame, *, bins: int) -> int:
    """Check what :func:`score` is given, without scoring; return ``bins`` as an int.

    Parameters
    ----------
    summary : pandas.DataFrame
        The customer summary, as :func:`score` takes it.
    bins : int
        Score scale.

    Returns
    -------
    int
        ``bins``.

    Raises
    ------
    ValueError
        As :func:`score` raises.
    """
    bins = _check_bins(bins)
    _require_columns(summary, ("customer_id", *RFM_INPUTS), what="summary")
    if len(summary) == 0:
        raise ValueError("summary has no customers; RFM scores need at least one row")
    for column in RFM_INPUTS:
        _require_numeric(summary, column, what="summary")
    duplicated = summary["customer_id"].duplicated()
    if duplicated.any():
        examples = summary.loc[duplicated, "customer_id"].unique()[:5].tolist()
        raise ValueError(
            f"summary must have one row per customer; {int(duplicated.sum())} customer ids "
            f"repeat, e.g. {examples}. Aggregate transactions with ccnb.summary first."
        )
    return bins


def worst_first(summary: pd.DataFrame, score: str) -> np.ndarray:
    """The values a score ranks, as float64 with the best largest: days since last negated.

    Parameters
    ----------
    summary : pandas.DataFrame
        The customer summary (``days_since_last``, ``orders``, ``revenue``).
    score : {"R", "F", "M"}
        Which score.

    Returns
    -------
    numpy.ndarray
        ``-days_since_last`` for R, ``orders`` for F, ``revenue`` for M.
    """
    values = summary[SCORE_INPUT[score]].to_numpy(dtype=np.float64)
    return -values if score == "R" else values


def edge_positions(n: int, *, bins: int) -> np.ndarray:
    """Where each score's lower edge sits in the ascending order of `n` values.

    By the rule of :func:`score` a customer scores at least ``k`` (2..`bins`) when at least
    ``w = floor((k - 1) n / bins)`` customers are strictly worse, that is when their value
    exceeds the ``w``-th worst value: position ``w - 1`` (0-based) of the values sorted worst
    first.

    Parameters
    ----------
    n : int
        Number of customers (at least 1).
    bins : int
        Score scale.

    Returns
    -------
    numpy.ndarray
        ``bins - 1`` positions (int64), -1 where every customer reaches the score (fewer
        customers than bins).
    """
    k = np.arange(2, _check_bins(bins) + 1, dtype=np.int64)
    return (k - 1) * int(n) // bins - 1


def score_edges(values: np.ndarray, *, bins: int) -> np.ndarray:
    """The `bins` - 1 values a customer must exceed to reach scores 2..`bins`.

    Parameters
    ----------
    values : numpy.ndarray
        Every customer's value, best largest (:func:`worst_first`), no missing values.
    bins : int
        Score scale.

    Returns
    -------
    numpy.ndarray
        float64 edges, ascending; ``-inf`` where every customer reaches the score. They are
        order statistics of `values` (:func:`edge_positions`): an engine that holds the
        customers computes the same edges exactly (``ccnb.partitioned_segments``).
    """
    positions = edge_positions(len(values), bins=bins)
    edges = np.full(len(positions), -np.inf)
    used = positions >= 0
    if used.any():
        ordered = np.partition(np.asarray(values, dtype=np.float64), positions[used])
        edges[used] = ordered[positions[used]]
    return edges


def score_by_edges(
    summary: pd.DataFrame, *, edges: Mapping[str, Sequence[float]], bins: int
) -> pd.DataFrame:
    """Score customers against edges of the whole base: :func:`score` for a part of it.

    Parameters
    ----------
    summary : pandas.DataFrame
        Some or all of the base's customers (``customer_id``, ``days_since_last``,
        ``orders``, ``revenue``).
    edges : mapping of str to sequence of float
        ``{"R": ..., "F": ..., "M": ...}``, each :func:`score_edges` of the whole base.
    bins : int
        Score scale the edges were made for.

    Returns
    -------
    pandas.DataFrame
        As :func:`score`: a customer's score is 1 plus the number of its edges their value
        (:func:`worst_first`) exceeds.
    """
    scores = summary[["customer_id", *RFM_INPUTS]].copy()
    for key in SCORE_COLUMNS:
        levels = np.asarray(edges[key], dtype=np.float64)
        if len(levels) != bins - 1:
            raise ValueError(f"{key} needs {bins - 1} edges for bins={bins}; got {len(levels)}")
        # searchsorted "left" counts the edges strictly below each value
        scores[key] = 1 + np.searchsorted(levels, worst_first(summary, key), side="left")
    scores["rfm_cell"] = _cell_labels(scores, bins=bins)
    scores["rfm_score"] = scores["R"] + scores["F"] + scores["M"]
    return scores


def score_ranges(scores: pd.DataFrame, *, bins: int, score: str = "F") -> pd.DataFrame:
    """The input values each score covers: which order counts F = 1, 2... stand for.

    Heavy ties leave scores empty (see `score`); this table says which ones and why.

    Parameters
    ----------
    scores : pandas.DataFrame
        `score` output.
    bins : int
        The score scale used.
    score : {"R", "F", "M"}
        The score to describe (default frequency).

    Returns
    -------
    pandas.DataFrame
        One row per score 1..`bins`: ``score``, ``customers`` (0 for an empty score),
        ``low`` and ``high`` (smallest and largest input value with that score: orders for F,
        days since the last purchase for R, net revenue for M; NaN when empty).
    """
    source = SCORE_INPUT[score]
    grouped = scores.groupby(score)[source].agg(customers="size", low="min", high="max")
    return _ranges_table(grouped, bins=bins)


def _ranges_table(grouped: pd.DataFrame, *, bins: int) -> pd.DataFrame:
    """`score_ranges`'s table from ``customers``, ``low`` and ``high`` by score."""
    table = grouped.reindex(range(1, _check_bins(bins) + 1))
    table["customers"] = table["customers"].fillna(0).astype("int64")
    table.index.name = "score"
    return table.reset_index().astype({"low": "float64", "high": "float64"})


def _cell_labels(scores: pd.DataFrame, *, bins: int) -> pd.Categorical:
    # A categorical over the bins**3 possible cells rather than one string per customer:
    # compares equal to "5-3-4" all the same, and is far faster on large bases.
    levels = range(1, bins + 1)
    cells = [f"{r}-{f}-{m}" for r in levels for f in levels for m in levels]
    position = ((scores["R"] - 1) * bins + (scores["F"] - 1)) * bins + (scores["M"] - 1)
    return pd.Categorical.from_codes(position.to_numpy(), categories=cells)


# --------------------------------------------------------------------------- rules


class SegmentRule(BaseModel):
    """One named segment and the score ranges that select it.

    A customer matches when every given range contains their value; a rule with no
    ranges matches everyone. Ranges are inclusive ``[low, high]`` pairs; a single
    number ``n`` means ``[n, n]``.

    Attributes
    ----------
    name : str
        Segment name shown in tables and exports (unique within a scheme).
    description : str
        Who the customers in the segment are, in one sentence.
    tactic : str
        What to do with them.
    R, F, M : tuple of (int, int), optional
        Inclusive score ranges within 1..bins.
    orders : tuple of (int, int or None), optional
        Inclusive range of the raw order count; ``None`` as the upper bound means no
        limit, e.g. ``[2, None]`` for repeat buyers, ``1`` for one-time buyers.
    days_since_last : tuple of (int, int or None), optional
        Inclusive range of days since the last purchase, e.g. ``[365, None]`` for customers
        silent for the churn window or longer.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    tactic: str = ""
    R: tuple[int, int] | None = None
    F: tuple[int, int] | None = None
    M: tuple[int, int] | None = None
    orders: tuple[int, int | None] | None = None
    days_since_last: tuple[int, int | None] | None = None

    @field_validator("R", "F", "M", "orders", "days_since_last", mode="before")
    @classmethod
    def _number_means_exact_range(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (value, value)
        return value

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("segment name must not be empty")
        if value == NET_ZERO_SEGMENT:
            raise ValueError(
                f"segment name {NET_ZERO_SEGMENT!r} is reserved: every scheme puts customers "
                "with no positive net revenue there"
            )
        return value

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> SegmentRule:
        for key in SCORE_COLUMNS:
            bounds = getattr(self, key)
            if bounds is None:
                continue
            low, high = bounds
            if low < 1:
                raise ValueError(f"{key} range {list(bounds)} starts below 1; scores start at 1")
            if low > high:
                raise ValueError(f"{key} range {list(bounds)} has its low end above its high end")
        for key in ("orders", "days_since_last"):
            bounds = getattr(self, key)
            if bounds is None:
                continue
            low, high = bounds
            if low < 0:
                raise ValueError(f"{key} range {list(bounds)} starts below 0")
            if high is not None and low > high:
                raise ValueError(f"{key} range {list(bounds)} has its low end above its high end")
        return self

    def matches(self, scores: pd.DataFrame) -> np.ndarray:
        """Return a boolean array: which rows of `scores` this rule selects.

        Parameters
        ----------
        scores : pandas.DataFrame
            Output of :func:`score` (needs ``orders`` and ``days_since_last`` only if the
            rule uses them).

        Returns
        -------
        numpy.ndarray of bool
            One entry per row of `scores`.
        """
        selected = np.ones(len(scores), dtype=bool)
        for key in SCORE_COLUMNS:
            bounds = getattr(self, key)
            if bounds is not None:
                values = scores[key].to_numpy()
                selected &= (values >= bounds[0]) & (values <= bounds[1])
        for key in ("orders", "days_since_last"):
            bounds = getattr(self, key)
            if bounds is None:
                continue
            values = scores[key].to_numpy()
            selected &= values >= bounds[0]
            if bounds[1] is not None:
                selected &= values <= bounds[1]
        return selected


class SegmentScheme(BaseModel):
    """An ordered list of segment rules: the first rule a customer matches wins.

    Customers matching no rule go to the `fallback` segment, so everyone lands in
    exactly one segment. The rule order is also the order of segments in tables.

    Attributes
    ----------
    name : str
        Scheme name, e.g. ``"value_tiers"``.
    bins : int
        The score scale the ranges are written for (scores 1..bins).
    rules : tuple of SegmentRule
        Rules in matching (and display) order; names unique.
    fallback : str, optional
        Name of the rule whose segment takes unmatched customers; defaults to the last
        rule.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "custom"
    bins: int = 5
    rules: tuple[SegmentRule, ...]
    fallback: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SegmentScheme:
        if self.bins < 2:
            raise ValueError(f"bins must be at least 2, got {self.bins}")
        if not self.rules:
            raise ValueError("a segment scheme needs at least one rule")
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"segment name {rule.name!r} is used by more than one rule")
            seen.add(rule.name)
            for key in SCORE_COLUMNS:
                bounds = getattr(rule, key)
                if bounds is not None and bounds[1] > self.bins:
                    raise ValueError(
                        f"segment {rule.name!r}: {key} range {list(bounds)} goes above "
                        f"bins={self.bins}; scores run 1..{self.bins}"
                    )
        if self.fallback is not None and self.fallback not in seen:
            raise ValueError(
                f"fallback {self.fallback!r} is not one of the segments {sorted(seen)}"
            )
        return self

    @property
    def segment_names(self) -> list[str]:
        """Segment names in scheme order, then `NET_ZERO_SEGMENT`."""
        return [*(rule.name for rule in self.rules), NET_ZERO_SEGMENT]

    @property
    def segment_text(self) -> dict[str, tuple[str, str]]:
        """Each segment's description and tactic, `NET_ZERO_SEGMENT` included."""
        text = {rule.name: (rule.description, rule.tactic) for rule in self.rules}
        return {**text, NET_ZERO_SEGMENT: _NET_ZERO_TEXT}

    @property
    def fallback_name(self) -> str:
        """Name of the segment that takes customers matching no rule."""
        return self.fallback if self.fallback is not None else self.rules[-1].name


#: (description, tactic) of each value tier for business customers (params ``business: b2b``)
_B2B_TIERS = {
    "High-Value": (
        "Active accounts ordering repeatedly, in the top two-fifths of net revenue: the key "
        "accounts.",
        "Give each a named account manager: regular business reviews, volume pricing agreed "
        "in advance and early sight of new ranges.",
    ),
    "Medium-Value": (
        "Active repeat accounts that order less than the key accounts.",
        "Grow the account: volume tiers that reward the next order size, range extensions "
        "and a named sales contact.",
    ),
    "First-Time": (
        "Accounts with one order so far, within the churn window.",
        "Follow up the first order personally: confirm delivery, send the trade catalogue and "
        "the terms for repeat orders.",
    ),
    "Lapsed": (
        "Former repeat accounts silent for {days} days or more.",
        "Call the account: find out whether they changed supplier or closed, with a reorder "
        "offer on what they used to buy.",
    ),
    "Low-Value": (
        "One order, {days} days ago or more.",
        "Keep them on the trade newsletter only; no sales calls.",
    ),
}


def value_tiers_scheme(
    *, bins: int = 5, lapsed_after_days: int = 365, business: str = "b2c"
) -> SegmentScheme:
    """The value tiers: active customers by value, lapsed ones by what they were.

    Active customers (a purchase fewer than `lapsed_after_days` days ago) are High-Value
    (repeat buyers in the top two-fifths of net revenue), Medium-Value (the other repeat
    buyers) or First-Time (one order). Silent ones are Lapsed (two orders or more: former
    regulars, worth a win-back) or Low-Value (one order, long ago). Customers with no
    positive net revenue are `NET_ZERO_SEGMENT`, in every scheme.

    Parameters
    ----------
    bins : int, default 5
        Score scale of the scores to segment (at least 3).
    lapsed_after_days : int, default 365
        Days without a purchase after which a customer is no longer active (the churn
        window).
    business : {"b2c", "b2b"}, default "b2c"
        Consumers or business accounts: the same rules, worded and with tactics for each.

    Returns
    -------
    SegmentScheme
        The five tiers with descriptions and tactics.
    """
    if business not in ("b2c", "b2b"):
        raise ValueError(f"business must be 'b2c' or 'b2b', got {business!r}")
    bins = _check_bins(bins)
    if bins < 3:
        raise ValueError(f"value_tiers needs at least 3 score levels, got bins={bins}")
    if not (isinstance(lapsed_after_days, int) and lapsed_after_days >= 1):
        raise ValueError(
            f"lapsed_after_days must be a whole number >= 1, got {lapsed_after_days!r}"
        )
    top = math.floor(0.6 * bins) + 1
    active = (0, lapsed_after_days - 1)
    silent = (lapsed_after_days, None)
    rules = [
        SegmentRule(
            name="High-Value",
            description=(
                "Active repeat buyers in the top two-fifths of net revenue: the customers "
                "the business leans on."
            ),
            tactic=(
                "Recognise and reward them: privileges such as early access to new "
                "products or an invitation to the company; keep in regular personal "
                "contact rather than sending discounts."
            ),
            M=(top, bins),
            orders=(2, None),
            days_since_last=active,
        ),
        SegmentRule(
            name="Medium-Value",
            description="Active repeat buyers who spend less than the High-Value ones.",
            tactic=(
                "Move them up a tier: propose a larger or premium package, a bundle "
                "or a subscription, and cross-sell related products."
            ),
            orders=(2, None),
            days_since_last=active,
        ),
        SegmentRule(
            name="First-Time",
            description="One order so far, within the churn window.",
            tactic=(
                "Onboard them towards a second purchase: a welcome series that helps "
                "them get value from what they bought and gives a reason to return."
            ),
            orders=(1, 1),
            days_since_last=active,
        ),
        SegmentRule(
            name="Lapsed",
            description=(f"Former repeat buyers silent for {lapsed_after_days} days or more."),
            tactic=(
                "Win them back: a personal message and an offer based on what they used "
                "to buy; ask what changed. One attempt, then treat them as Low-Value."
            ),
            orders=(2, None),
            days_since_last=silent,
        ),
        SegmentRule(
            name="Low-Value",
            description=f"One order, {lapsed_after_days} days ago or more.",
            tactic=(
                "Spend little: leave them out of paid acquisition and retargeting "
                "audiences and keep in touch through low-cost e-mail."
            ),
        ),
    ]
    if business == "b2b":
        rules = [
            rule.model_copy(
                update={
                    "description": _B2B_TIERS[rule.name][0].format(days=lapsed_after_days),
                    "tactic": _B2B_TIERS[rule.name][1],
                }
            )
            for rule in rules
        ]
    return SegmentScheme(name="value_tiers", bins=bins, rules=tuple(rules), fallback="Low-Value")


def _grid_rule(name: str, recency: tuple[int, int], frequency: tuple[int, int], **text: str):
    return SegmentRule(name=name, R=recency, F=frequency, **text)


#: The default scheme for 1..5 scores (see :func:`value_tiers_scheme`).
VALUE_TIERS = value_tiers_scheme(bins=5)

#: The 5 x 5 R x F grid. Each segment is one rectangle of (R, F) cells; together they
#: cover all 25 cells exactly once. This is the widely used ten-segment R-F map with its
#: bottom-left "Hibernating" block (R 1-2, F 1-2) split into Lost (R 1) and
#: Hibernating (R 2).
RFM_GRID = SegmentScheme(
    name="rfm_grid",
    bins=5,
    fallback="Lost",
    rules=(
        _grid_rule(
            "Champions",
            (5, 5),
            (4, 5),
            description="Bought very recently and buy often.",
            tactic="Reward and involve them: early access, loyalty perks, reviews, referrals.",
        ),
        _grid_rule(
            "Loyal Customers",
            (3, 4),
            (4, 5),
            description="Buy often; last purchase fairly recent.",
            tactic="Keep them close with membership benefits; offer higher-value products.",
        ),
        _grid_rule(
            "Potential Loyalists",
            (4, 5),
            (2, 3),
            description="Recent customers with a few purchases behind them.",
            tactic="Make them regulars: loyalty programme sign-up, tailored recommendations.",
        ),
        _grid_rule(
            "New Customers",
            (5, 5),
            (1, 1),
            description="Bought very recently, rarely so far: mostly first purchases.",
            tactic="Onboard them: welcome series, early help, a reason for a second order.",
        ),
        _grid_rule(
            "Promising",
            (4, 4),
            (1, 1),
            description="Fairly recent, few purchases so far.",
            tactic="Build the relationship: brand story, a modest incentive for the next order.",
        ),
        _grid_rule(
            "Need Attention",
            (3, 3),
            (3, 3),
            description="Middling recency and frequency.",
            tactic="Reactivate with a limited-time offer based on what they bought before.",
        ),
        _grid_rule(
            "About to Sleep",
            (3, 3),
            (1, 2),
            description="Middling recency, low frequency: interest is fading.",
            tactic="Remind them with popular products before they lapse; keep contact cheap.",
        ),
        _grid_rule(
            "At Risk",
            (1, 2),
            (3, 4),
            description="Bought fairly often, but not for a long time.",
            tactic="Win them back with personal e-mail and a relevant offer; ask what changed.",
        ),
        _grid_rule(
            "Can't Lose Them",
            (1, 2),
            (5, 5),
            description="Were among the most frequent buyers; silent for a long time.",
            tactic="Contact them personally with a strong win-back offer and ask for feedback.",
        ),
        _grid_rule(
            "Hibernating",
            (2, 2),
            (1, 2),
            description="Bought rarely, and long ago.",
            tactic="Low-cost reactivation only: occasional e-mail, no paid media.",
        ),
        _grid_rule(
            "Lost",
            (1, 1),
            (1, 2),
            description="Lowest recency and frequency: most likely gone.",
            tactic="At most one cheap win-back attempt; exclude from paid campaigns.",
        ),
    ),
)


def builtin_scheme(
    name: str, *, bins: int = 5, lapsed_after_days: int = 365, business: str = "b2c"
) -> SegmentScheme:
    """Return a built-in segment scheme by name.

    Parameters
    ----------
    name : {"value_tiers", "rfm_grid"}
        Scheme name.
    bins : int, default 5
        Score scale of the scores to segment. ``rfm_grid`` exists only for 5.
    lapsed_after_days : int, default 365
        The churn window, for ``value_tiers`` (see :func:`value_tiers_scheme`).
    business : {"b2c", "b2b"}, default "b2c"
        Customers' kind, for ``value_tiers``'s wording and tactics.

    Returns
    -------
    SegmentScheme
        The scheme, written for `bins`.

    Raises
    ------
    ValueError
        For an unknown name, or ``rfm_grid`` with `bins` other than 5.
    """
    if name == "value_tiers":
        return value_tiers_scheme(bins=bins, lapsed_after_days=lapsed_after_days, business=business)
    if name == "rfm_grid":
        if bins != 5:
            raise ValueError(
                f"the rfm_grid scheme is defined on 1..5 scores, but bins={bins}; "
                "score with bins=5 or use the value_tiers scheme or custom rules"
            )
        return RFM_GRID
    raise ValueError(
        f"unknown segment scheme {name!r}; built-in schemes are 'value_tiers' and "
        "'rfm_grid', or pass a list of rules"
    )


def rules_from_params(
    rules: Sequence[Mapping[str, Any]] | Mapping[str, Any], *, bins: int = 5
) -> SegmentScheme:
    """Build a segment scheme from rules written in a params file.

    Parameters
    ----------
    rules : list of dict, or dict
        Either a list of rule dicts, e.g.
        ``[{"name": "Best", "R": [4, 5], "F": [4, 5], "tactic": "..."}, {"name": "Rest"}]``,
        where the last rule is the fallback, or a dict
        ``{"rules": [...], "fallback": "Rest", "name": "my_scheme"}``.
        Rule keys: ``name`` (required), ``description``, ``tactic``, ``R``, ``F``,
        ``M`` (inclusive ``[low, high]`` score ranges or a single score) and
        ``orders`` (``[low, high]`` raw order count, ``high`` may be null).
    bins : int, default 5
        Score scale the ranges must lie within.

    Returns
    -------
    SegmentScheme
        The validated scheme.

    Raises
    ------
    ValueError
        Naming the rule and the problem: unknown key (with the closest allowed key),
        missing or duplicate name, a range outside 1..`bins` or reversed, or an
        unknown fallback.
    """
    bins = _check_bins(bins)
    if isinstance(rules, Mapping):
        unknown = sorted(set(rules) - {"name", "rules", "fallback"})
        if unknown:
            raise ValueError(
                f"segment scheme has unknown keys {unknown}; allowed keys are "
                "'name', 'rules' and 'fallback'"
            )
        if "rules" not in rules:
            raise ValueError("segment scheme needs a 'rules' list")
        scheme_name = rules.get("name", "custom")
        fallback = rules.get("fallback")
        rule_list = rules["rules"]
    else:
        scheme_name, fallback, rule_list = "custom", None, rules
    if isinstance(rule_list, str | bytes) or not isinstance(rule_list, Sequence):
        raise ValueError(f"segment rules must be a list of dicts, got {type(rule_list).__name__}")
    if not rule_list:
        raise ValueError("segment rules are empty; give at least one rule (the fallback)")

    parsed = []
    for position, raw in enumerate(rule_list, start=1):
        label = f"segment rule {position}"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{label} must be a dict, got {type(raw).__name__}: {raw!r}")
        if "name" in raw:
            label += f" ({raw['name']!r})"
        for key in raw:
            if key not in _RULE_KEYS:
                raise ValueError(
                    f"{label}: unknown key {key!r}{did_you_mean(str(key), _RULE_KEYS)}; "
                    f"allowed keys are {list(_RULE_KEYS)}"
                )
        if "name" not in raw:
            raise ValueError(f"{label} has no 'name'")
        try:
            parsed.append(SegmentRule.model_validate(dict(raw)))
        except ValidationError as error:
            raise ValueError(f"{label}: {_describe(error)}") from None
    try:
        return SegmentScheme(name=scheme_name, bins=bins, rules=tuple(parsed), fallback=fallback)
    except ValidationError as error:
        raise ValueError(f"segment scheme {scheme_name!r}: {_describe(error)}") from None


def resolve_scheme(
    scheme: Any, *, bins: int, lapsed_after_days: int = 365, business: str = "b2c"
) -> SegmentScheme:
    """The `SegmentScheme` that :func:`segment` applies for ``scheme`` on scores 1..``bins``.

    Parameters
    ----------
    scheme : {"value_tiers", "rfm_grid"}, SegmentScheme, list of dict or dict
        As accepted by :func:`segment`.
    bins : int
        Score scale.
    lapsed_after_days : int, default 365
        The churn window, for the built-in ``value_tiers``.
    business : {"b2c", "b2b"}, default "b2c"
        Customers' kind, for the built-in ``value_tiers``.

    Returns
    -------
    SegmentScheme
        The scheme, checked against the score scale.
    """
    if isinstance(scheme, SegmentScheme):
        if scheme.bins != bins:
            raise ValueError(
                f"segment scheme {scheme.name!r} is written for 1..{scheme.bins} scores, "
                f"but the scores use bins={bins}; re-score with bins={scheme.bins} or "
                "use a scheme written for these scores"
            )
        return scheme
    if isinstance(scheme, str):
        return builtin_scheme(
            scheme, bins=bins, lapsed_after_days=lapsed_after_days, business=business
        )
    if isinstance(scheme, Mapping | Sequence):
        return rules_from_params(scheme, bins=bins)
    raise TypeError(
        "scheme must be 'value_tiers', 'rfm_grid', a SegmentScheme or a list of rule "
        f"dicts, got {type(scheme).__name__}"
    )


# --------------------------------------------------------------------------- segments


def segment(
    scores: pd.DataFrame,
    *,
    scheme: str | SegmentScheme | Sequence[Mapping[str, Any]] | Mapping[str, Any] = "value_tiers",
    bins: int = 5,
) -> pd.DataFrame:
    """Assign every scored customer to exactly one segment.

    Parameters
    ----------
    scores : pandas.DataFrame
        Output of :func:`score`: needs ``R``, ``F``, ``M``, ``revenue`` and, when a rule
        uses them, ``orders`` and ``days_since_last``.
    scheme : {"value_tiers", "rfm_grid"}, SegmentScheme, list of dict or dict
        Segment rules: a built-in name (see :func:`value_tiers_scheme` and
        ``RFM_GRID``), a scheme, or rules as accepted by :func:`rules_from_params`.
        Customers with net revenue <= 0 go to `NET_ZERO_SEGMENT`; the others try the
        rules in order, the first match wins, and unmatched customers go to the fallback
        segment.
    bins : int, default 5
        Score scale of `scores`: the ``bins`` they were scored with (:func:`score`).

    Returns
    -------
    pandas.DataFrame
        A copy of `scores` with three more columns:

        - ``segment``: ordered categorical; categories are every segment of the scheme
          in scheme order, then `NET_ZERO_SEGMENT`, including segments nobody falls into.
        - ``segment_description``: who the segment's customers are (categorical text).
        - ``tactic``: what to do with them (categorical text).

        Pass the same scheme to :func:`segment_summary` to list empty segments with
        their text.

    Raises
    ------
    ValueError
        If a needed column is missing, scores lie outside 1..`bins`, or the scheme is
        invalid or written for another score scale (``rfm_grid`` needs bins=5).
    """
    bins = _check_bins(bins)
    resolved = resolve_scheme(scheme, bins=bins)
    needed = [*SCORE_COLUMNS, "revenue"]
    for key in ("orders", "days_since_last"):
        if any(getattr(rule, key) is not None for rule in resolved.rules):
            needed.append(key)
    _require_columns(scores, needed, what="scores")
    for key in SCORE_COLUMNS:
        values = scores[key]
        outside = values.isna() | (values < 1) | (values > bins)
        if outside.any():
            examples = values[outside].unique()[:5].tolist()
            raise ValueError(
                f"scores column {key!r} must hold scores 1..{bins}; found {examples}. "
                "Pass bins= if the scores were made with another number of bins."
            )

    names = resolved.segment_names
    text = resolved.segment_text
    # No positive net revenue comes first; then np.select takes the first true rule.
    conditions = [
        scores["revenue"].to_numpy() <= 0,
        *(rule.matches(scores) for rule in resolved.rules),
    ]
    choices = [names.index(NET_ZERO_SEGMENT), *range(len(resolved.rules))]
    codes = np.select(conditions, choices, default=names.index(resolved.fallback_name))
    segments = scores.copy()
    segments["segment"] = pd.Categorical.from_codes(codes, categories=names, ordered=True)
    for column, texts in [
        ("segment_description", [text[name][0] for name in names]),
        ("tactic", [text[name][1] for name in names]),
    ]:
        # Texts may repeat across rules; categories must be unique.
        categories = list(dict.fromkeys(texts))
        lookup = np.array([categories.index(text) for text in texts], dtype=np.int64)
        segments[column] = pd.Categorical.from_codes(lookup[codes], categories=categories)
    return segments


def segment_summary(
    segments: pd.DataFrame,
    *,
    scheme: SegmentScheme | None = None,
) -> pd.DataFrame:
    """Summarise each segment: size, revenue, typical customer and tactic.

    Parameters
    ----------
    segments : pandas.DataFrame
        Output of :func:`segment` (columns ``segment``, ``days_since_last``,
        ``orders``, ``revenue``).
    scheme : SegmentScheme, optional
        Scheme that made `segments` (see :func:`resolve_scheme`). Gives the order of rows
        and the text of segments nobody falls into. Without it, the categories of
        ``segment`` (or sorted names) and the ``segment_description`` / ``tactic``
        columns are used.

    Returns
    -------
    pandas.DataFrame
        One row per segment in scheme order, segments without customers included
        (zero counts, missing medians) so tables line up across clients. Columns:

        - ``segment``: segment name (ordered categorical).
        - ``customers``: number of customers (int).
        - ``share``: ``customers`` / all customers; sums to 1.
        - ``revenue``: net revenue of the segment.
        - ``revenue_share``: ``revenue`` / total net revenue; sums to 1. Can be
          negative for a segment of net returners; missing if the total is not positive.
        - ``median_days_since_last``, ``median_orders``, ``median_revenue``: medians
          over the segment's customers.
        - ``description``, ``tactic``: the segment's text from the scheme.
    """
    _require_columns(segments, ("segment", *RFM_INPUTS), what="segments")
    names, text = _segment_names_and_text(segments, scheme)
    codes = _segment_codes(segments["segment"], names)
    medians = (
        segments[list(RFM_INPUTS)]
        .groupby(codes)
        .median()
        .reindex(range(len(names)))
        .astype(float)
        .to_numpy()
    )
    return _summary_table(
        names,
        text,
        customers=np.bincount(codes, minlength=len(names)),
        revenue=np.bincount(
            codes, weights=segments["revenue"].to_numpy(float), minlength=len(names)
        ),
        medians=medians,
    )


def _summary_table(
    names: list[str],
    text: Mapping[str, tuple[str, str]],
    *,
    customers: np.ndarray,
    revenue: np.ndarray,
    medians: np.ndarray,
) -> pd.DataFrame:
    """`segment_summary`'s table from each segment's count, revenue and input medians."""
    total_customers = customers.sum()
    total_revenue = revenue.sum()
    return pd.DataFrame(
        {
            "segment": pd.Categorical(names, categories=names, ordered=True),
            "customers": customers.astype(np.int64),
            "share": customers / total_customers if total_customers else np.nan,
            "revenue": revenue,
            "revenue_share": revenue / total_revenue if total_revenue > 0 else np.nan,
            "median_days_since_last": medians[:, 0],
            "median_orders": medians[:, 1],
            "median_revenue": medians[:, 2],
            "description": [text.get(name, ("", ""))[0] for name in names],
            "tactic": [text.get(name, ("", ""))[1] for name in names],
        }
    )


def _segment_names_and_text(
    segments: pd.DataFrame, scheme: SegmentScheme | None
) -> tuple[list[str], dict[str, tuple[str, str]]]:
    if scheme is not None:
        names = scheme.segment_names
        text = scheme.segment_text
    else:
        column = segments["segment"]
        if isinstance(column.dtype, pd.CategoricalDtype):
            names = [str(name) for name in column.cat.categories]
        else:
            names = sorted(column.dropna().astype(str).unique())
        text = {}
        if {"segment_description", "tactic"} <= set(segments.columns):
            firsts = segments.drop_duplicates("segment")
            for label, description, tactic in zip(
                firsts["segment"], firsts["segment_description"], firsts["tactic"], strict=True
            ):
                text[str(label)] = (description, tactic)
    return names, text


def _segment_codes(labels: pd.Series, names: list[str]) -> np.ndarray:
    if labels.isna().any():
        raise ValueError(
            f"{int(labels.isna().sum())} customers have no segment; run ccnb.rfm.segment"
        )
    if isinstance(labels.dtype, pd.CategoricalDtype):
        categories = [str(name) for name in labels.cat.categories]
        used = labels.cat.codes.to_numpy()
        position = {name: i for i, name in enumerate(names)}
        unknown = sorted({categories[code] for code in np.unique(used)} - set(names))
        if not unknown:
            lookup = np.array([position.get(name, -1) for name in categories], dtype=np.int64)
            return lookup[used]
    else:
        unknown = sorted(set(labels.astype(str).unique()) - set(names))
    if unknown:
        raise ValueError(
            f"segments {unknown} are not in the scheme's segments {names}; "
            "pass the scheme that produced them"
        )
    return pd.Categorical(labels.astype(str), categories=names).codes.astype(np.int64)


# --------------------------------------------------------------------------- concentration


def segment_recency(
    segments: pd.DataFrame, *, lapsed_after_days: int, recent_days: int
) -> pd.DataFrame:
    """How many of each segment's customers have lapsed, in days rather than in scores.

    R scores rank customers against each other: in a base that stopped buying, the "most
    recent" fifth may not have bought for a year. A segment's tactic (upgrade, onboarding,
    recognition) assumes customers who still buy, so the reports check it against this table.

    Parameters
    ----------
    segments : pandas.DataFrame
        `segment` output (``segment``, ``days_since_last``, ``orders``).
    lapsed_after_days : int
        A customer whose last purchase is this many days old or more has lapsed (the churn
        window).
    recent_days : int
        A first purchase at most this many days old is recent enough for onboarding (the
        early repeat window).

    Returns
    -------
    pandas.DataFrame
        One row per segment in `segment` order: ``segment``, ``customers``,
        ``median_days_since_last``, ``lapsed`` (customers lapsed, or without a purchase),
        ``lapsed_share``, ``recent`` (customers whose last purchase is at most
        ``recent_days`` old), ``lapsed_repeat_buyers`` (lapsed customers with two or more
        orders: former regulars, worth a win-back test).
    """
    _require_columns(segments, ("segment", "days_since_last", "orders"), what="segments")
    lapsed = (segments["days_since_last"] >= lapsed_after_days) | (segments["orders"] < 1)
    frame = segments.assign(
        lapsed=lapsed,
        recent=(segments["days_since_last"] <= recent_days) & (segments["orders"] >= 1),
        lapsed_repeat_buyers=lapsed & (segments["orders"] >= 2),
    )
    table = frame.groupby("segment", observed=False, sort=False).agg(
        customers=("segment", "size"),
        median_days_since_last=("days_since_last", "median"),
        lapsed=("lapsed", "sum"),
        recent=("recent", "sum"),
        lapsed_repeat_buyers=("lapsed_repeat_buyers", "sum"),
    )
    if isinstance(segments["segment"].dtype, pd.CategoricalDtype):
        table = table.reindex(segments["segment"].cat.categories)
    return _recency_table(table)


def _recency_table(table: pd.DataFrame) -> pd.DataFrame:
    """`segment_recency`'s table from its counts and median by segment (the index)."""
    table.index.name = "segment"
    table = table.reset_index()
    counts = ["customers", "lapsed", "recent", "lapsed_repeat_buyers"]
    table[counts] = table[counts].fillna(0).astype("int64")
    table["lapsed_share"] = np.divide(
        table["lapsed"],
        table["customers"],
        out=np.full(len(table), np.nan),
        where=table["customers"].to_numpy() > 0,
    )
    return table[
        [
            "segment",
            "customers",
            "median_days_since_last",
            "lapsed",
            "lapsed_share",
            "recent",
            "lapsed_repeat_buyers",
        ]
    ]


def revenue_concentration(summary: pd.DataFrame) -> pd.DataFrame:
    """Cumulative share of revenue against share of customers, best customers first.

    This is the Pareto (Lorenz-type) curve: how much of the revenue the top x% of
    customers bring. Customers with zero or negative net revenue are kept, at the end, and
    count as bringing nothing: a negative net (returns of purchases made before the data
    starts, say) would lift the curve above 100% before pulling it back, which no share can
    do. The curve therefore ends at 1 and never exceeds it.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per customer with ``customer_id`` and ``revenue`` (the customer
        summary, scores or segments).

    Returns
    -------
    pandas.DataFrame
        One row per customer, sorted by revenue descending (ties by ``customer_id``),
        with a fresh RangeIndex and columns:

        - ``customer_id``, ``revenue``: as in `summary`.
        - ``customer_share``: rank / number of customers (1/n .. 1).
        - ``revenue_share``: cumulative revenue of customers up to this rank / total
          revenue, each customer's net revenue counted from 0 (ends at 1).

        The curve starts at (0, 0); that point is not a row.

    Raises
    ------
    ValueError
        If a column is missing, `summary` is empty, or total net revenue is not
        positive.
    """
    _require_columns(summary, ("customer_id", "revenue"), what="summary")
    _require_numeric(summary, "revenue", what="summary")
    total = float(summary["revenue"].clip(lower=0).sum())
    if len(summary) == 0 or total <= 0:
        raise ValueError(
            f"revenue concentration needs positive total revenue; got {total:g} over "
            f"{len(summary)} customers"
        )
    ordered = summary[["customer_id", "revenue"]].sort_values(
        ["revenue", "customer_id"], ascending=[False, True], kind="mergesort"
    )
    ordered = ordered.reset_index(drop=True)
    ordered["customer_share"] = np.arange(1, len(ordered) + 1) / len(ordered)
    ordered["revenue_share"] = ordered["revenue"].clip(lower=0).cumsum() / total
    return ordered


def top_share(summary: pd.DataFrame, *, top: float = 0.2) -> float:
    """Share of total net revenue that comes from the top `top` share of customers.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per customer with ``customer_id`` and ``revenue``.
    top : float, default 0.2
        Share of customers, best first, in (0, 1]. When ``top * n`` is not a whole
        number the boundary customer counts pro rata (linear interpolation on the
        curve of :func:`revenue_concentration`, starting from (0, 0)).

    Returns
    -------
    float
        Revenue of the top customers / total net revenue, e.g. 0.8 for "80% of
        revenue from the top 20% of customers".
    """
    if not 0 < top <= 1:
        raise ValueError(f"top must be a share of customers in (0, 1], got {top}")
    return float(concentration_curve(summary, shares=[top])["revenue_share"].iloc[0])


#: shares of customers at which `concentration_curve` reads the curve by default: every 0.1%
#: up to 1% (where the curve is steepest), then every 1%
CONCENTRATION_SHARES = tuple(
    float(share) for share in np.concatenate([np.arange(1, 10) / 1_000, np.arange(1, 101) / 100])
)


def concentration_curve(
    summary: pd.DataFrame, *, shares: Sequence[float] = CONCENTRATION_SHARES
) -> pd.DataFrame:
    """The revenue concentration curve at given shares of customers: what a chart draws.

    Each share is read as :func:`top_share` reads it: on the curve of
    :func:`revenue_concentration`, linearly between two customers and from (0, 0), so the
    boundary customer counts pro rata. A chart of a million customers needs no more points
    than the default 109; at the params' ``rfm.concentration_top`` (20%, one of them) the
    curve is the top share the segmentation report quotes.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per customer with ``customer_id`` and ``revenue``.
    shares : sequence of float, default CONCENTRATION_SHARES
        Shares of customers, best first, each in (0, 1].

    Returns
    -------
    pandas.DataFrame
        One row per share, in the order given: ``customer_share`` (the share) and
        ``revenue_share`` (the share of net revenue the best ``customer_share`` of customers
        bring).

    Raises
    ------
    ValueError
        If a share is outside (0, 1], or as :func:`revenue_concentration`.
    """
    shares = np.asarray(shares, dtype=np.float64)
    outside = shares[~((shares > 0) & (shares <= 1))]
    if outside.size:
        raise ValueError(f"shares of customers must be in (0, 1], got {outside.tolist()}")
    curve = revenue_concentration(summary)
    customer_share = np.concatenate([[0.0], curve["customer_share"].to_numpy()])
    revenue_share = np.concatenate([[0.0], curve["revenue_share"].to_numpy()])
    return pd.DataFrame(
        {
            "customer_share": shares,
            "revenue_share": np.interp(shares, customer_share, revenue_share),
        }
    )


def corner_share(scores: pd.DataFrame, *, min_score: int = 4) -> pd.Series:
    """Share of customers and of net revenue in the top-right corner of the R x F grid.

    Parameters
    ----------
    scores : pandas.DataFrame
        `score` or `segment` output (``R``, ``F`` and ``revenue`` per customer).
    min_score : int, default 4
        The corner holds the customers with both R and F at least this score.

    Returns
    -------
    pandas.Series
        ``min_score``, ``customers`` in the corner, ``customer_share`` (of all customers) and
        ``revenue_share`` (their net revenue / total net revenue; NaN when the total is not
        positive).
    """
    _require_columns(scores, ("R", "F", "revenue"), what="scores")
    best = scores[(scores["R"] >= min_score) & (scores["F"] >= min_score)]
    return _corner_series(
        min_score,
        customers=len(best),
        revenue=best["revenue"].sum(),
        all_customers=len(scores),
        all_revenue=scores["revenue"].sum(),
    )


def score_grid(scores: pd.DataFrame, *, bins: int = 5) -> pd.DataFrame:
    """Customers and net revenue in each cell of the R x F grid, empty cells included.

    Parameters
    ----------
    scores : pandas.DataFrame
        `score` or `segment` output (``R``, ``F`` and ``revenue`` per customer).
    bins : int, default 5
        The score scale the scores were made with.

    Returns
    -------
    pandas.DataFrame
        ``bins * bins`` rows, R from `bins` down to 1, then F from 1 up to `bins` (the grid
        read row by row with the most recent at the top): ``R``, ``F``, ``customers`` (int,
        0 for a pair nobody has) and ``revenue`` (their net revenue, 0.0 when empty).
    """
    _require_columns(scores, ("R", "F", "revenue"), what="scores")
    grouped = scores.groupby(["R", "F"])["revenue"].agg(customers="size", revenue="sum")
    return _grid_table(grouped, bins=bins)


def _grid_table(grouped: pd.DataFrame, *, bins: int) -> pd.DataFrame:
    """`score_grid`'s table from ``customers`` and ``revenue`` indexed by (R, F)."""
    levels = range(1, _check_bins(bins) + 1)
    cells = pd.MultiIndex.from_product([levels[::-1], levels], names=["R", "F"])
    table = grouped.reindex(cells).fillna({"customers": 0, "revenue": 0.0})
    return table.astype({"customers": "int64", "revenue": "float64"}).reset_index()


def _corner_series(
    min_score: int, *, customers: int, revenue: float, all_customers: int, all_revenue: float
) -> pd.Series:
    """`corner_share`'s series from the corner's and the base's counts and revenue."""
    return pd.Series(
        {
            "min_score": min_score,
            "customers": int(customers),
            "customer_share": customers / all_customers if all_customers else float("nan"),
            "revenue_share": revenue / all_revenue if all_revenue > 0 else float("nan"),
        },
        dtype=object,
    )
