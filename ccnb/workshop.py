"""Live what-ifs in JupyterLab: controls that redraw a section, a static section everywhere else.

In a notebook opened in JupyterLab, ``workshop.budget_what_if(analysis)`` shows sliders for the
budget assumptions above the section they change; moving one recomputes only what depends on
it (``ClientAnalysis.what_if``) and redraws the chart and sentence in place. Executed by
papermill (``ccnb run``), nbval or nbconvert, where no one can move a control, the same cell
shows the section for the params' values, never a widget. The callbacks (`budget_sections`,
`value_sections`, `segment_sections`, `tier_sections`) are plain functions of the analysis and
the controls' values.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ccnb import report
from ccnb.analysis import ClientAnalysis, Unavailable
from ccnb.errors import ParamsError
from ccnb.report import Section

__all__ = [
    "Control",
    "WhatIf",
    "budget_sections",
    "budget_what_if",
    "is_live",
    "segment_sections",
    "segment_what_if",
    "tier_sections",
    "tier_what_if",
    "value_sections",
    "value_what_if",
]

#: set to 1 or 0 to force controls on or off (default: on in a Jupyter server's kernel)
LIVE_VARIABLE = "CCNB_WIDGETS"


def is_live() -> bool:
    """Whether controls can be moved here: a kernel a Jupyter server started, with ipywidgets.

    A Jupyter server (JupyterLab, Notebook) names the notebook in the kernel's environment
    (``JPY_SESSION_NAME``); papermill, nbval and nbconvert start kernels without it. The
    ``CCNB_WIDGETS`` environment variable (1 or 0) overrides the guess.
    """
    forced = os.environ.get(LIVE_VARIABLE, "").strip()
    if forced in {"0", "1"}:
        return forced == "1"
    return "JPY_SESSION_NAME" in os.environ and importlib.util.find_spec("ipywidgets") is not None


@dataclass(frozen=True)
class Control:
    """One control of a what-if: a slider (numbers) or a drop-down (``options``)."""

    name: str
    label: str
    value: Any
    low: float | None = None
    high: float | None = None
    step: float | None = None
    options: Sequence[Any] | None = None
    readout: str = ".2f"

    def widget(self):
        """The ipywidgets control (redraws when released, not while dragged)."""
        import ipywidgets as widgets

        style = {"description_width": "16em"}
        layout = widgets.Layout(width="38em")
        if self.options is not None:
            return widgets.Dropdown(
                options=list(self.options),
                value=self.value,
                description=self.label,
                style=style,
                layout=layout,
            )
        kind = widgets.IntSlider if isinstance(self.value, int) else widgets.FloatSlider
        options = {"readout_format": self.readout} if kind is widgets.FloatSlider else {}
        return kind(
            value=self.value,
            min=self.low,
            max=self.high,
            step=self.step,
            description=self.label,
            continuous_update=False,
            style=style,
            layout=layout,
            **options,
        )


@dataclass
class WhatIf:
    """Controls and the sections they redraw.

    Attributes
    ----------
    sections : callable
        ``sections(**values) -> list[Section]``, one keyword per control.
    controls : list of Control
        The controls, at the params' values.
    """

    sections: Callable[..., list[Section]]
    controls: list[Control] = field(default_factory=list)

    @property
    def values(self) -> dict[str, Any]:
        """The controls' starting values (the params')."""
        return {control.name: control.value for control in self.controls}

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if is_live() and self.controls:
            display(self.widget())
            return
        for section in self.sections(**self.values):
            display(section)

    def widget(self):
        """The controls above an output area that each change redraws."""
        import ipywidgets as widgets

        controls = {control.name: control.widget() for control in self.controls}
        output = widgets.Output()

        def redraw(_change=None) -> None:
            from IPython.display import Markdown, display

            values = {name: control.value for name, control in controls.items()}
            with output:
                output.clear_output(wait=True)
                try:
                    shown = self.sections(**values)
                except (ParamsError, ValueError) as error:
                    display(Markdown(f"*These values cannot be used: {error}*"))
                    return
                for section in shown:
                    display(section)

        for control in controls.values():
            control.observe(redraw, names="value")
        redraw()
        return widgets.VBox([*controls.values(), output])


def _slider(name: str, label: str, value: float, *, low: float, high: float, step: float, **kw):
    """A slider whose range always contains the params' value."""
    return Control(name, label, value, low=min(low, value), high=max(high, value), step=step, **kw)


def _nice_step(value: float) -> float:
    """A round step of about a fiftieth of ``value`` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    raw = value / 50
    power = 10 ** int(f"{raw:e}".split("e")[1])
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


# --- budget -------------------------------------------------------------------------------


def budget_sections(
    analysis: ClientAnalysis, *, total: float, max_lift: float, spend_scale: float
) -> list[Section]:
    """Customer-centric against customer-focused under another budget and response curve.

    Parameters
    ----------
    analysis : ClientAnalysis
        The client's analysis (not changed).
    total, max_lift, spend_scale : float
        The budget settings to use (``budget.total``, ``budget.max_lift``,
        ``budget.spend_scale``).

    Returns
    -------
    list of Section
        `ccnb.report.strategies` under these settings.
    """
    scenario = _budget(analysis, total=total, max_lift=max_lift, spend_scale=spend_scale)
    return [report.strategies(scenario)]


def _budget(analysis: ClientAnalysis, **settings) -> ClientAnalysis:
    current = analysis.params.budget
    changed = {name: value for name, value in settings.items() if getattr(current, name) != value}
    return analysis.what_if(budget=changed) if changed else analysis


def budget_what_if(analysis: ClientAnalysis) -> WhatIf:
    """Sliders for the budget, the largest lift and the spend scale over `budget_sections`."""
    settings = analysis.params.budget
    step = _nice_step(settings.total)
    controls = [
        _slider(
            "total",
            "Budget",
            settings.total,
            low=step,
            high=3 * settings.total,
            step=step,
            readout=",.0f",
        ),
        _slider(
            "max_lift",
            "Largest lift (share of rCLV)",
            settings.max_lift,
            low=0.01,
            high=0.5,
            step=0.01,
        ),
        _slider(
            "spend_scale",
            "Spend reaching 63% of the lift",
            settings.spend_scale,
            low=_nice_step(settings.spend_scale),
            high=4 * settings.spend_scale,
            step=_nice_step(settings.spend_scale),
            readout=",.1f",
        ),
    ]
    return WhatIf(lambda **values: budget_sections(analysis, **values), controls)


def tier_sections(analysis: ClientAnalysis, **spend_per_head: float) -> list[Section]:
    """The tiered plan with the consultant's spend per head per segment as a candidate rule.

    Parameters
    ----------
    analysis : ClientAnalysis
        The client's analysis (not changed).
    **spend_per_head : float
        Spend per head by segment name (``budget.tier_spend``); the plan compares it with
        the optimum's own rule and recommends the one that adds more value.

    Returns
    -------
    list of Section
        `ccnb.report.tiered_plan` under this rule.
    """
    if spend_per_head == _recommended_tiers(analysis):
        return [report.tiered_plan(analysis)]
    return [report.tiered_plan(analysis.what_if(budget={"tier_spend": dict(spend_per_head)}))]


def _recommended_tiers(analysis: ClientAnalysis) -> dict[str, float]:
    rules = analysis.tier_rules
    chosen = rules.loc[rules["recommended"], "spend_per_head"].iloc[0]
    return {str(name): round(float(value), 2) for name, value in chosen.items()}


def tier_what_if(analysis: ClientAnalysis) -> WhatIf:
    """A spend-per-head slider per segment over `tier_sections`, at the recommended rule.

    Without a tiered plan (no customer-value model for this client) there is nothing to
    move: the section's one sentence saying why, no controls.
    """
    try:
        tiers = _recommended_tiers(analysis)
    except Unavailable:
        return WhatIf(lambda: [report.tiered_plan(analysis)])
    top = max([*tiers.values(), 1.0])
    step = _nice_step(top)
    controls = [
        _slider(
            name, f"Spend per head: {name}", value, low=0.0, high=3 * top, step=step, readout=",.2f"
        )
        for name, value in tiers.items()
    ]
    return WhatIf(lambda **values: tier_sections(analysis, **values), controls)


# --- customer value -------------------------------------------------------------------------


def value_sections(
    analysis: ClientAnalysis,
    *,
    gross_margin: float,
    discount_rate_annual: float,
    horizon_months: int,
    retention_change: float,
) -> list[Section]:
    """Residual CLV, customer equity and a retention change under other value settings.

    Parameters
    ----------
    analysis : ClientAnalysis
        The client's analysis (not changed).
    gross_margin, discount_rate_annual : float
        Margin on revenue and annual discount rate (a margin change re-prices the forecast,
        a discount-rate change draws it again; neither refits).
    horizon_months : int
        CLV horizon.
    retention_change : float
        Change of the one-year retention in percentage points; 0 shows the params'
        ``retention_changes``.

    Returns
    -------
    list of Section
        `ccnb.report.clv_distribution` and `ccnb.report.retention_value` under these
        settings.
    """
    params = analysis.params
    wanted = {
        "gross_margin": gross_margin,
        "discount_rate_annual": discount_rate_annual,
        "horizon_months": int(horizon_months),
    }
    changed = {name: value for name, value in wanted.items() if getattr(params, name) != value}
    scenario = analysis.what_if(**changed) if changed else analysis
    changes = [float(retention_change)] if retention_change else None
    return [report.clv_distribution(scenario), report.retention_value(scenario, changes=changes)]


def value_what_if(analysis: ClientAnalysis) -> WhatIf:
    """Sliders for margin, discount rate, horizon and a retention change over `value_sections`."""
    params = analysis.params
    controls = [
        _slider("gross_margin", "Gross margin", params.gross_margin, low=0.05, high=0.9, step=0.01),
        _slider(
            "discount_rate_annual",
            "Annual discount rate",
            params.discount_rate_annual,
            low=0.0,
            high=0.3,
            step=0.01,
        ),
        _slider(
            "horizon_months",
            "Horizon (months)",
            int(params.horizon_months),
            low=6,
            high=120,
            step=6,
        ),
        _slider(
            "retention_change",
            "Retention change (points)",
            0.0,
            low=-10.0,
            high=10.0,
            step=1.0,
            readout="+.0f",
        ),
    ]
    return WhatIf(lambda **values: value_sections(analysis, **values), controls)


# --- segments -------------------------------------------------------------------------------


def segment_sections(
    analysis: ClientAnalysis, *, scheme: str, bins: int, lapsed_after_days: int
) -> list[Section]:
    """Segments and tactics under another scheme, score scale or lapse threshold.

    Parameters
    ----------
    analysis : ClientAnalysis
        The client's analysis (not changed).
    scheme : {"value_tiers", "rfm_grid", "custom"}
        Segment scheme (``rfm.scheme``; custom only when the params hold rules).
    bins : int
        Score levels per dimension (``rfm.bins``).
    lapsed_after_days : int
        Days without a purchase after which a customer counts as lapsed
        (``churn_window_days``, which also moves the KPI page's churn).

    Returns
    -------
    list of Section
        `ccnb.report.segments` under these settings.
    """
    params = analysis.params
    overrides: dict[str, Any] = {}
    rfm = {
        name: value
        for name, value in {"scheme": scheme, "bins": int(bins)}.items()
        if getattr(params.rfm, name) != value
    }
    if rfm:
        overrides["rfm"] = rfm
    if lapsed_after_days != params.churn_window_days:
        overrides["churn_window_days"] = int(lapsed_after_days)
    scenario = analysis.what_if(**overrides) if overrides else analysis
    return [report.segments(scenario)]


def segment_what_if(analysis: ClientAnalysis) -> WhatIf:
    """A scheme menu, score levels and lapse threshold over `segment_sections`."""
    params = analysis.params
    schemes = ["value_tiers", "rfm_grid", *(["custom"] if params.rfm.rules else [])]
    controls = [
        Control("scheme", "Segment scheme", params.rfm.scheme, options=schemes),
        _slider("bins", "Score levels", int(params.rfm.bins), low=3, high=10, step=1),
        _slider(
            "lapsed_after_days",
            "Lapsed after (days)",
            int(params.churn_window_days),
            low=30,
            high=730,
            step=15,
        ),
    ]
    return WhatIf(lambda **values: segment_sections(analysis, **values), controls)
