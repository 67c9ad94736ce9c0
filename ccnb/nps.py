"""Net Promoter Score and customer satisfaction with confidence intervals, overall and by group.

NPS (multinomial standard error) and CSAT (share of 4-5 answers with a Wilson score interval);
definitions in docs/methodology.md, "NPS and CSAT".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from ccnb._checks import require_columns
from ccnb._docstrings import docstring_template

__all__ = ["CSATResult", "NPSResult", "csat", "csat_by", "nps", "nps_by"]

#: Label of the row that pools every answer in :func:`nps_by` and :func:`csat_by`.
OVERALL_LABEL = "All"


@dataclass(frozen=True)
class NPSResult:
    """Net Promoter Score of a set of 0-10 answers.

    ``pd.DataFrame([result])`` turns it into a one-row table.

    Attributes
    ----------
    n : int
        Number of valid answers (missing answers are not counted).
    promoters, passives, detractors : float
        Shares (0..1) of answers 9-10, 7-8 and 0-6.
    nps : float
        ``100 * (promoters - detractors)``, in [-100, 100].
    se : float
        Standard error of `nps`: ``100 * sqrt((pP + pD - (pP - pD)**2) / n)``.
    ci_low, ci_high : float
        Normal-approximation interval ``nps -/+ z * se`` (z = 1.96 for 95%), clipped
        to [-100, 100].
    """

    n: int
    promoters: float
    passives: float
    detractors: float
    nps: float
    se: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class CSATResult:
    """Customer satisfaction (CSAT) of a set of 1-5 answers.

    ``pd.DataFrame([result])`` turns it into a one-row table.

    Attributes
    ----------
    n : int
        Number of valid answers (missing answers are not counted).
    satisfied : int
        Number of answers 4 or 5.
    csat : float
        ``100 * satisfied / n``, in [0, 100].
    ci_low, ci_high : float
        Wilson score interval for `csat`, in percent.
    """

    n: int
    satisfied: int
    csat: float
    ci_low: float
    ci_high: float


def nps(scores: Any, *, level: float = 0.95) -> NPSResult:
    """Compute the Net Promoter Score with its standard error and interval.

    Parameters
    ----------
    scores : array-like
        Answers on the 0-10 scale (Series, array or list). Missing values are ignored.
    level : float, default 0.95
        Confidence level of the interval.

    Returns
    -------
    NPSResult
        Fields ``n``, ``promoters``, ``passives``, ``detractors`` (shares 0..1),
        ``nps`` (-100..100), ``se``, ``ci_low``, ``ci_high``. With no valid answers
        ``n`` is 0 and every other field is NaN.

    Raises
    ------
    ValueError
        If an answer is not a whole number from 0 to 10 (the message lists them).
    """
    answers = _valid_answers(scores, low=0, high=10, what="NPS")
    return _nps(answers, z=_z(level))


def csat(scores: Any, *, level: float = 0.95) -> CSATResult:
    """Compute CSAT, the percentage of 4-5 answers on a 1-5 scale, with a Wilson interval.

    Parameters
    ----------
    scores : array-like
        Answers on the 1-5 scale (Series, array or list). Missing values are ignored.
    level : float, default 0.95
        Confidence level of the interval.

    Returns
    -------
    CSATResult
        Fields ``n``, ``satisfied`` (count of 4-5), ``csat`` (0..100), ``ci_low``,
        ``ci_high`` (Wilson score interval in percent). With no valid answers ``n``
        and ``satisfied`` are 0 and the other fields NaN.

    Raises
    ------
    ValueError
        If an answer is not a whole number from 1 to 5 (the message lists them).

    Notes
    -----
    With ``p = satisfied / n`` and ``z`` the normal quantile for `level`, the Wilson
    interval is ``(p + z²/2n -/+ z * sqrt(p(1 - p)/n + z²/4n²)) / (1 + z²/n)``.
    """
    answers = _valid_answers(scores, low=1, high=5, what="CSAT")
    return _csat(answers, z=_z(level))


# Parameter descriptions shared by nps_by and csat_by.
_by_group_docstring = docstring_template(
    {
        "survey_by": """survey : pandas.DataFrame
        Survey answers, one row per response, already joined to the grouping column.
    by : str
        Column holding the group of each answer.""",
        "group_options": """min_n : int, default 30
        Groups with fewer valid answers are flagged ``reliable = False``; they are
        kept, not dropped.
    overall : bool, default True
        Add a last row, labelled ``"All"``, computed from every valid answer
        (including answers whose group is missing).
    level : float, default 0.95
        Confidence level of the intervals.""",
        "group_rows": """One row per group: categories in their categorical order (unobserved ones
        included with ``n = 0``), otherwise sorted values; then the overall row.""",
    }
)


@_by_group_docstring
def nps_by(
    survey: pd.DataFrame,
    *,
    by: str,
    column: str = "nps",
    min_n: int = 30,
    overall: bool = True,
    level: float = 0.95,
) -> pd.DataFrame:
    """Compute NPS per group (segment, channel, cohort, ...) with a reliability flag.

    Parameters
    ----------
    {survey_by}
    column : str, default "nps"
        Column holding the 0-10 answers; missing answers are ignored.
    {group_options}

    Returns
    -------
    pandas.DataFrame
        {group_rows}
        Columns: `by` (the group), ``n``, ``promoters``, ``passives``,
        ``detractors``, ``nps``, ``se``, ``ci_low``, ``ci_high`` (as in :func:`nps`),
        ``reliable`` (``n >= min_n``).
    """
    return _by_group(
        survey,
        by=by,
        column=column,
        min_n=min_n,
        overall=overall,
        compute=lambda answers: _nps(answers, z=_z(level)),
        low=0,
        high=10,
        what="NPS",
    )


@_by_group_docstring
def csat_by(
    survey: pd.DataFrame,
    *,
    by: str,
    column: str = "csat",
    min_n: int = 30,
    overall: bool = True,
    level: float = 0.95,
) -> pd.DataFrame:
    """Compute CSAT per group (segment, channel, cohort, ...) with a reliability flag.

    Parameters
    ----------
    {survey_by}
    column : str, default "csat"
        Column holding the 1-5 answers; missing answers are ignored.
    {group_options}

    Returns
    -------
    pandas.DataFrame
        {group_rows}
        Columns: `by` (the group), ``n``, ``satisfied``, ``csat``, ``ci_low``,
        ``ci_high`` (as in :func:`csat`), ``reliable`` (``n >= min_n``).
    """
    return _by_group(
        survey,
        by=by,
        column=column,
        min_n=min_n,
        overall=overall,
        compute=lambda answers: _csat(answers, z=_z(level)),
        low=1,
        high=5,
        what="CSAT",
    )


# --------------------------------------------------------------------------- core


def _nps(answers: np.ndarray, *, z: float) -> NPSResult:
    n = len(answers)
    if n == 0:
        nan = float("nan")
        return NPSResult(0, nan, nan, nan, nan, nan, nan, nan)
    promoters = float(np.count_nonzero(answers >= 9)) / n
    detractors = float(np.count_nonzero(answers <= 6)) / n
    passives = float(np.count_nonzero((answers >= 7) & (answers <= 8))) / n
    score = 100.0 * (promoters - detractors)
    # Variance of a difference of two multinomial shares; max() guards a -0.0 from rounding.
    variance = max(promoters + detractors - (promoters - detractors) ** 2, 0.0) / n
    se = 100.0 * math.sqrt(variance)
    return NPSResult(
        n=n,
        promoters=promoters,
        passives=passives,
        detractors=detractors,
        nps=score,
        se=se,
        ci_low=max(score - z * se, -100.0),
        ci_high=min(score + z * se, 100.0),
    )


def _csat(answers: np.ndarray, *, z: float) -> CSATResult:
    n = len(answers)
    satisfied = int(np.count_nonzero(answers >= 4))
    if n == 0:
        nan = float("nan")
        return CSATResult(0, 0, nan, nan, nan)
    share = satisfied / n
    denominator = 1.0 + z**2 / n
    centre = (share + z**2 / (2 * n)) / denominator
    half_width = z * math.sqrt(share * (1 - share) / n + z**2 / (4 * n**2)) / denominator
    return CSATResult(
        n=n,
        satisfied=satisfied,
        csat=100.0 * share,
        ci_low=100.0 * max(centre - half_width, 0.0),
        ci_high=100.0 * min(centre + half_width, 1.0),
    )


def _by_group(
    survey: pd.DataFrame,
    *,
    by: str,
    column: str,
    min_n: int,
    overall: bool,
    compute: Callable[[np.ndarray], Any],
    low: int,
    high: int,
    what: str,
) -> pd.DataFrame:
    if not isinstance(survey, pd.DataFrame):
        raise TypeError(f"survey must be a pandas DataFrame, got {type(survey).__name__}")
    require_columns(survey, (by, column), what="survey")
    if min_n < 1:
        raise ValueError(f"min_n must be at least 1, got {min_n}")

    answers = _answers_as_float(survey[column], low=low, high=high, what=what)
    groups = survey[by]
    if isinstance(groups.dtype, pd.CategoricalDtype):
        labels = list(groups.cat.categories)
    else:
        labels = sorted(groups.dropna().unique())
    if overall and OVERALL_LABEL in labels:
        raise ValueError(
            f"group {OVERALL_LABEL!r} in column {by!r} clashes with the overall row; "
            "rename it or pass overall=False"
        )

    keys = groups.to_numpy(dtype=object)
    answered = ~np.isnan(answers)
    rows = []
    for label in labels:
        result = compute(answers[answered & (keys == label)])
        rows.append({by: label, **dataclasses.asdict(result)})
    if overall:
        rows.append({by: OVERALL_LABEL, **dataclasses.asdict(compute(answers[answered]))})

    table = pd.DataFrame(rows, columns=[by, *_field_names(compute)])
    table["reliable"] = table["n"] >= min_n
    if isinstance(groups.dtype, pd.CategoricalDtype):
        categories = labels + ([OVERALL_LABEL] if overall else [])
        table[by] = pd.Categorical(table[by], categories=categories, ordered=groups.cat.ordered)
    return table


def _field_names(compute: Callable[[np.ndarray], Any]) -> list[str]:
    return [field.name for field in dataclasses.fields(compute(np.array([], dtype=float)))]


def _valid_answers(scores: Any, *, low: int, high: int, what: str) -> np.ndarray:
    answers = _answers_as_float(scores, low=low, high=high, what=what)
    return answers[~np.isnan(answers)]


def _answers_as_float(scores: Any, *, low: int, high: int, what: str) -> np.ndarray:
    series = (
        scores if isinstance(scores, pd.Series) else pd.Series(np.asarray(scores, dtype=object))
    )
    numeric = pd.to_numeric(series, errors="coerce")
    not_numbers = series.notna() & numeric.isna()
    if not_numbers.any():
        examples = series[not_numbers].unique()[:10].tolist()
        raise ValueError(f"{what} answers must be numbers from {low} to {high}; got {examples}")
    answers = numeric.to_numpy(dtype=float, na_value=np.nan)
    present = answers[~np.isnan(answers)]
    bad = present[(present < low) | (present > high) | (present != np.round(present))]
    if bad.size:
        examples = np.unique(bad)[:10].tolist()
        raise ValueError(
            f"{what} answers must be whole numbers from {low} to {high}; "
            f"found {bad.size} other values: {examples}"
        )
    return answers


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, e.g. 0.95; got {level}")
    # the stdlib's normal quantile (Wichura's AS241, as scipy's ndtri): no scipy import
    return NormalDist().inv_cdf(0.5 + level / 2)
