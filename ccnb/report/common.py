"""Sections atop every notebook: whose data and period; rows read, used and rejected."""

from __future__ import annotations

from ccnb import plots
from ccnb.analysis import ClientAnalysis
from ccnb.formatting import count, escape_md, percent
from ccnb.report._section import Section, _bullets, _figure, _section

__all__ = ["client_header", "data_quality"]


@_section
def client_header(analysis: ClientAnalysis) -> Section:
    """The opening note: whose data, which period, which currency."""
    quality = analysis.quality.transactions
    text = (
        f"**{escape_md(analysis.params.client)}**: {count(quality.customers)} customers and "
        f"{count(quality.rows_used)} transaction rows from {quality.first_date:%d %b %Y} to "
        f"{analysis.observation_end:%d %b %Y}; amounts in {escape_md(analysis.currency)}."
    )
    return Section(text=text)


@_section
def data_quality(analysis: ClientAnalysis) -> Section:
    """Rows read, used and rejected by reason, as a chart, a table and a sentence."""
    quality = analysis.quality
    lines = []
    for source in quality.sources:
        reasons = ", ".join(
            f"{count(n)} {reason.replace('_', ' ')}"
            for reason, n in sorted(source.rejected.items(), key=lambda item: (-item[1], item[0]))
        )
        detail = f" ({reasons})" if reasons else ""
        lines.append(
            f"{escape_md(source.source)}: {count(source.rows_used)} of "
            f"{count(source.rows_read)} rows used, {count(source.rows_rejected)} excluded{detail}"
        )
    text = (
        f"Every row read is accounted for: {percent(quality.excluded_share, digits=1)} of the "
        "transaction rows "
        "were excluded, each with its reason (listed in `rejected_rows.csv`).\n\n" + _bullets(lines)
    )
    figure = _figure(plots.data_quality_bar(quality.counts()))
    return Section(text=text, figure=figure, extra=[quality])
