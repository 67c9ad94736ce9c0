"""The section core: what a notebook cell shows (`Section`) and reader-ready tables."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from ccnb.analysis import ClientAnalysis, Unavailable
from ccnb.batch import charts
from ccnb.clv import NOT_BOUGHT_REASONS
from ccnb.errors import ModelUnavailable
from ccnb.formatting import count, money, month_name, percent, signed_percent

__all__ = ["Section"]

#: what a section needing the customer-value model shows when its page has said in full that
#: none could be fitted (the CLV page's model validation, the budget page's assumptions)
MODEL_NEEDED = "Not shown: this section needs the customer-value model."

#: how a section says that no customer-value model could be fitted (see `_section`)
_MODEL_NOTES = {"full": None, "brief": MODEL_NEEDED, "none": ""}


@dataclass
class Section:
    """What a notebook cell shows: a sentence, then a figure and/or a table.

    Attributes
    ----------
    text
        Markdown generated from the client's numbers.
    figure
        A matplotlib figure (closed once shown).
    table
        A DataFrame or Styler shown below the figure.
    note
        When set, the section is unavailable and only this sentence is shown (nothing when
        it is empty: a detail of a section above that already said why).
    extra
        Further objects shown after the table.
    name
        The section's name (its function), naming its chart in a batch run's chart pack.
    data
        The analysis table the section words and draws (usually a DataFrame), for further
        work in the notebook: ``report.retention(analysis).data``.
    """

    text: str = ""
    figure: Figure | None = None
    table: Any = None
    note: str | None = None
    extra: list[Any] = field(default_factory=list)
    name: str | None = None
    data: Any = None

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, Markdown, display

        if self.note is not None:
            if self.note:
                display(Markdown(f"*{without_math(self.note)}*"))
            return
        if self.text:
            display(Markdown(without_math(self.text)))
        if self.figure is not None:
            display(self.figure)
            plt.close(self.figure)  # closed first: the chart pack's copy is not pyplot's
            charts.save_slide(self.figure, self.name or "figure")  # batch runs only
        if self.table is not None:
            # As plain HTML: a Styler's text form carries its memory address, which varies.
            html = self.table.to_html() if hasattr(self.table, "to_html") else self.table
            display(HTML(html))
        for item in self.extra:
            display(item)


def without_math(markdown: str) -> str:
    """``markdown`` with every ``$`` as a character reference, so it is never a math delimiter.

    Jupyter's Markdown treats ``$...$`` as LaTeX: two dollar amounts in one sentence
    (``$5.00 ... $0.00``) turned the text between them into math, where escaped client
    text is shown literally (``Medium&#45;Value``). ``&#36;`` shows as ``$``.
    """
    return markdown.replace("$", "&#36;")


def _section(
    function: Callable[..., Section] | None = None,
    *,
    data: str | None = None,
    options: Mapping[str, str] | None = None,
    model_note: str = "full",
) -> Any:
    """Make a report section: `Unavailable` (and too-little-data errors) become one sentence.

    Used bare (``@_section``) or with:

    ``data``
        The analysis table the section words (a dotted attribute path,
        ``"predictions.table"``), which becomes the section's ``.data``.
    ``options``
        The section's keyword options for analytic choices, each with the params key it
        overrides (``{"period": "cohorts.retention_period"}``). An option left at None is the
        params' value; one given computes the section on ``analysis.what_if(...)`` with it,
        which shares every table the option does not change.
    ``model_note``
        What the section shows when no customer-value model could be fitted: ``"full"`` the
        model's sentence (`ModelUnavailable`), ``"brief"`` only `MODEL_NEEDED` (a section of
        a page where an earlier one says it in full, so a page resting on the model does not
        repeat two lines under every heading), ``"none"`` nothing (a detail of the section
        just above, under the same heading, which says why).
    """
    if function is None:
        return functools.partial(_section, data=data, options=options, model_note=model_note)

    @functools.wraps(function)
    def wrapper(analysis: ClientAnalysis, *args: Any, **kwargs: Any) -> Section:
        overrides: dict[str, Any] = {}
        for option, key in (options or {}).items():
            value = kwargs.pop(option, None)
            if value is not None:
                *parents, leaf = key.split(".")
                level = overrides
                for parent in parents:
                    level = level.setdefault(parent, {})
                level[leaf] = list(value) if isinstance(value, tuple | range) else value
        try:
            if overrides:
                analysis = analysis.what_if(**overrides)
            section = function(analysis, *args, **kwargs)
        except Unavailable as reason:
            plt.close("all")
            note = _MODEL_NOTES[model_note] if isinstance(reason, ModelUnavailable) else None
            return Section(note=str(reason) if note is None else note, name=function.__name__)
        section.name = section.name or function.__name__
        if section.data is None and data is not None:
            try:
                section.data = functools.reduce(getattr, data.split("."), analysis)
            except Unavailable:  # a section that words a fallback when its table is missing
                pass
        return section

    return wrapper


def _figure(drawn: Any) -> Figure:
    return drawn if isinstance(drawn, Figure) else drawn.figure


def _styled(
    frame: pd.DataFrame,
    *,
    name: str,
    currency: str | None = None,
    money_columns: tuple[str, ...] = (),
    percent_columns: tuple[str, ...] = (),
    count_columns: tuple[str, ...] = (),
    decimals: Mapping[str, int] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Any:
    """A reader-ready table: formatted numbers, escaped text, no index, stable HTML ids."""
    formats: dict[str, Callable[[Any], str]] = {}
    for column in money_columns:
        formats[column] = functools.partial(money, currency=currency)
    for column in percent_columns:
        formats[column] = functools.partial(percent, digits=1)
    for column in count_columns:
        formats[column] = count
    for column, digits in (decimals or {}).items():
        formats[column] = lambda value, digits=digits: (
            "–" if pd.isna(value) else f"{value:,.{digits}f}"
        )
    shown = frame.rename(columns=dict(labels or {}))
    formats = {(labels or {}).get(column, column): f for column, f in formats.items()}
    styler = shown.style.format(formats, escape="html", na_rep="–").hide(axis="index")
    digest = hashlib.sha256(f"{name}:{frame.shape}".encode()).hexdigest()[:8]
    return styler.set_uuid(f"ccnb-{name}-{digest}").set_table_attributes('class="ccnb-table"')


def _equity_interval(analysis: ClientAnalysis) -> str:
    """Customer equity's interval bounds, e.g. "90% interval €185k to €210k"."""
    equity, currency = analysis.customer_equity, analysis.currency
    low, high = money(equity.low, currency), money(equity.high, currency)
    return f"{percent(equity.interval)} interval {low} to {high}"


#: where a report points to the holdout check: on the CLV page itself, and from elsewhere
MODEL_CHECK_HERE = "[Model validation](#model-validation) above"
MODEL_CHECK_ELSEWHERE = (
    "[Model validation](03_clv_modelling.html#model-validation) in the CLV report"
)


def _equity_interval_meaning(analysis: ClientAnalysis, *, see: str) -> str:
    """One sentence on what customer equity's interval includes, leaves out, and how it held.

    ``see`` points to the holdout check (`MODEL_CHECK_HERE` or `MODEL_CHECK_ELSEWHERE`).
    """
    text = (
        "The interval includes the uncertainty of the model's parameters and each customer's "
        "own randomness (who stays, how often they buy, what they spend), not what the model "
        "does not know, such as seasonality or a change in the business"
    )
    try:
        missed = analysis.holdout_miss["cause"] != "none"
    except Unavailable:
        missed = False
    if missed:
        text += (
            f"; on the holdout the actual total fell outside such an interval (see {see}), so "
            "the true uncertainty is wider"
        )
        too_high = likely_too_high(analysis)
        if too_high:
            text += f", and the figures are likely too high, {too_high}"
    return text + "."


def likely_too_high(analysis: ClientAnalysis) -> str | None:
    """By how much the CLV figures are likely too high, when the holdout check says so.

    The CLV report's model validation reads the figures as likely too high when the holdout
    total missed its interval for seasonality and the whole history, like the calibration
    period, ends soon after the seasonal peak. Every page using residual CLV says the same:
    ``"by roughly the holdout's +8.6% (the history ends soon after the December peak)"``;
    None otherwise.
    """
    try:
        miss, total = analysis.holdout_miss, analysis.holdout_total
    except Unavailable:
        return None
    if miss["cause"] != "seasonality" or not miss["data_end_after_peak"]:
        return None
    return (
        f"by roughly the holdout's {signed_percent(total['error_pct'] / 100, digits=1)} (the "
        f"history ends soon after the {month_name(miss['peak_month'])} peak)"
    )


#: the channel table's reason for a channel without a positive recorded acquisition cost
NO_COST_RECORDED = NOT_BOUGHT_REASONS[0]


def _not_bought_reason(analysis: ClientAnalysis, row) -> str:
    """Why a channel of ``analysis.new_customer_value`` is never bought, in words.

    ``row`` is the channel's row; its ``not_bought_because`` (`ccnb.clv.NOT_BOUGHT_REASONS`)
    says which rule applied. An unpaid channel is named by the params' list or, without one,
    by its name (`ClientAnalysis.unpaid_channels`).
    """
    if row.not_bought_because == NO_COST_RECORDED:
        return "no acquisition cost recorded"
    if analysis.params.budget.unpaid_channels is not None:
        return "listed in the params' `budget.unpaid_channels`"
    return (
        "named organic, so by default more spend is not taken to bring more of its customers "
        "whatever cost is recorded (the params' `budget.unpaid_channels` sets the channels "
        "never bought)"
    )


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)
