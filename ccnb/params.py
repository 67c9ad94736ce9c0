"""Parameter schema for one client and `load_params`, the only way notebooks read it.

The params schema: a pydantic model with ``extra="forbid"`` (a typo
fails with the closest valid key), documented defaults, paths resolved from the params file's
directory, and overrides validated exactly like the file.
"""

from __future__ import annotations

import codecs
import datetime as dt
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ccnb._checks import did_you_mean
from ccnb.errors import ParamsError

__all__ = [
    "AuditSettings",
    "BudgetSettings",
    "CohortSettings",
    "ColumnMapping",
    "CustomersSource",
    "EngineSettings",
    "IsoValueSettings",
    "Params",
    "ParamsError",
    "PopulationFilter",
    "RfmSettings",
    "SurveySource",
    "TransactionsSource",
    "load_params",
    "with_overrides",
]


def _as_text(value: Any) -> Any:
    """Accept unquoted YAML scalars (numbers, dates) where the schema wants text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | dt.date):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_as_text)]
OptionalText = Annotated[str | None, BeforeValidator(_as_text)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ColumnMapping(_Model):
    """Which column of the transactions file holds each field of the transaction contract."""

    customer_id: Text = Field("customer_id", description="Column with the customer id.")
    date: Text = Field("date", description="Column with the order date.")
    amount: OptionalText = Field(
        "amount",
        description="Column with the net revenue of the row (negative = return). "
        "Set to null and map `quantity` and `unit_price` to derive it.",
    )
    order_id: OptionalText = Field(None, description="Column with the order id, if any.")
    channel: OptionalText = Field(None, description="Column with the order channel, if any.")
    quantity: OptionalText = Field(None, description="Column with the quantity, if any.")
    unit_price: OptionalText = Field(
        None, description="Column with the unit price; amount = quantity x unit_price."
    )
    product: OptionalText = Field(
        None,
        description="Column with the product or line code (e.g. a stock code), if any: a "
        "return without its order's id is matched to the customer's latest earlier order "
        "holding the product, and `non_product.codes` are looked up in it.",
    )
    description: OptionalText = Field(
        None,
        description="Column with the line's description, if any (for `non_product.descriptions`).",
    )
    category: OptionalText = Field(
        None,
        description="Column with the product category (or brand, department), if any: the "
        "customer-base audit's product lens (which first categories bring the best customers).",
    )

    @model_validator(mode="after")
    def _amount_is_derivable(self) -> ColumnMapping:
        if self.amount is None and (self.quantity is None or self.unit_price is None):
            raise ValueError("map `amount`, or map both `quantity` and `unit_price` to derive it")
        return self


class _FileSource(_Model):
    path: OptionalText = Field(
        None,
        description="A csv, parquet or xlsx file (relative to the params file) or a URL the "
        "engine reads (e.g. 's3a://bucket/sales.parquet' with Spark), `builtin:NAME` for a "
        "dataset shipped with ccnb, or a DuckDB database file together with `table`. Null when "
        "`table` names a table of the engine itself.",
    )
    table: OptionalText = Field(
        None,
        description="Table name: inside the DuckDB database `path`, or, without `path`, a table "
        "of the engine (e.g. 'sales' or 'lake.sales' in Spark's catalog, or a table of the "
        "engine's DuckDB `database`).",
    )
    sheet: OptionalText = Field(None, description="Sheet name when `path` is an xlsx workbook.")
    delimiter: OptionalText = Field(None, description="CSV delimiter; detected when null.")
    encoding: OptionalText = Field(
        None,
        description="Text encoding of a CSV, e.g. 'utf-8', 'cp1252', 'latin-1', 'utf-16'; "
        "detected when null (a byte-order mark, else UTF-8 if the whole file decodes, else "
        "cp1252).",
    )
    skip_rows: int = Field(
        0,
        ge=0,
        description="Title lines above the header row to skip (CSV lines or xlsx rows); "
        "`ccnb new` detects them.",
    )
    date_format: OptionalText = Field(
        None,
        description="strftime format of text dates, e.g. '%d/%m/%Y'; ISO dates when null.",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str | None) -> str | None:
        if encoding is None:
            return None
        try:
            return codecs.lookup(encoding).name
        except LookupError:
            raise ValueError(
                f"unknown encoding {encoding!r}; use e.g. 'utf-8', 'cp1252', 'latin-1', 'utf-16'"
            ) from None

    @model_validator(mode="after")
    def _path_or_table(self) -> _FileSource:
        if self.path is None and self.table is None:
            raise ValueError("give the source a `path` (file or builtin:NAME) or a `table`")
        return self


class NonProductLines(_Model):
    """Lines that are not sales of products (postage, fees, discounts, manual adjustments)."""

    codes: list[Text] = Field(
        default_factory=list,
        description="Product codes (column `product`) of non-product lines, e.g. POST, M, D, "
        "'BANK CHARGES'; compared without case and surrounding spaces.",
    )
    descriptions: list[Text] = Field(
        default_factory=list,
        description="Regular expressions matched, without case, anywhere in the `description` "
        "column, e.g. 'postage|carriage'.",
    )

    @field_validator("descriptions")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"description pattern {pattern!r} is not valid: {error}") from None
        return patterns


class TransactionsSource(_FileSource):
    """Where the transactions come from and how their columns map to the contract."""

    columns: ColumnMapping = Field(default_factory=ColumnMapping, description="Column mapping.")
    non_product: NonProductLines = Field(
        default_factory=NonProductLines,
        description="Lines excluded as `non_product` (counted with their revenue).",
    )
    decimal: Literal[".", ","] = Field(".", description="Decimal separator of text amounts.")
    thousands: Literal[",", ".", " ", "'", ""] = Field(
        ",", description="Thousands separator of text amounts ('' for none)."
    )

    @model_validator(mode="after")
    def _separators_differ(self) -> TransactionsSource:
        if self.decimal == self.thousands:
            raise ValueError(f"decimal and thousands separators are both {self.decimal!r}")
        if self.non_product.codes and self.columns.product is None:
            raise ValueError("`non_product.codes` need the `product` column mapped")
        if self.non_product.descriptions and self.columns.description is None:
            raise ValueError("`non_product.descriptions` need the `description` column mapped")
        return self


class CustomerColumns(_Model):
    """Column mapping of the customers table."""

    customer_id: Text = Field("customer_id", description="Column with the customer id.")
    acquisition_channel: OptionalText = Field(
        "acquisition_channel", description="Column with the acquisition channel."
    )
    acquisition_cost: OptionalText = Field(
        "acquisition_cost", description="Column with the acquisition cost per customer."
    )


class CustomersSource(_FileSource):
    """Optional customers table: acquisition channel and cost per customer."""

    columns: CustomerColumns = Field(default_factory=CustomerColumns, description="Columns.")


class SurveyColumns(_Model):
    """Column mapping of the survey table."""

    customer_id: Text = Field("customer_id", description="Column with the customer id.")
    date: OptionalText = Field("date", description="Column with the answer date.")
    nps: OptionalText = Field("nps", description="Column with the 0-10 recommend score.")
    csat: OptionalText = Field("csat", description="Column with the 1-5 satisfaction score.")


class SurveySource(_FileSource):
    """Optional NPS/CSAT survey answers."""

    columns: SurveyColumns = Field(default_factory=SurveyColumns, description="Columns.")


class RfmSettings(_Model):
    """RFM scoring and segmentation."""

    bins: int = Field(5, ge=2, le=10, description="Number of score levels per dimension.")
    scheme: Literal["value_tiers", "rfm_grid", "custom"] = Field(
        "value_tiers",
        description="Segment scheme: the brief's four value tiers, the standard R x F grid, "
        "or `custom` with `rules`.",
    )
    rules: list[dict[str, Any]] | None = Field(
        None,
        description="Ordered custom rules (scheme: custom), each a name, description, tactic "
        "and inclusive score ranges, e.g. {name: Stars, R: [4, 5], F: [5, 5]}; the first "
        "matching rule wins and the last catches everyone else.",
    )
    top_corner: int | None = Field(
        None,
        ge=1,
        description="Lowest R and F score of the grid's top-right corner, whose share of "
        "customers and revenue the segmentation report quotes; when null, the value tiers' "
        "top score, floor(0.6 x bins) + 1 (4 of 5).",
    )
    concentration_top: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Share of best customers (by net revenue) whose share of revenue the "
        "concentration section quotes.",
    )

    @property
    def corner_score(self) -> int:
        """`top_corner`, else the value tiers' top score for `bins` (4 of 5)."""
        return self.top_corner if self.top_corner is not None else math.floor(0.6 * self.bins) + 1

    @model_validator(mode="after")
    def _rules_match_scheme(self) -> RfmSettings:
        if self.top_corner is not None and self.top_corner > self.bins:
            raise ValueError(f"top_corner {self.top_corner} is above the {self.bins} bins")
        if self.scheme == "custom" and not self.rules:
            raise ValueError("scheme 'custom' needs a non-empty `rules` list")
        if self.scheme != "custom" and self.rules:
            raise ValueError("`rules` are only used with scheme: custom")
        if self.rules:
            from ccnb.rfm import rules_from_params  # validates names, keys and ranges

            rules_from_params(self.rules, bins=self.bins)
        return self


class BudgetSettings(_Model):
    """Budget allocation assumptions (shown as assumptions in the reports)."""

    total: float = Field(50_000.0, gt=0, description="Retention budget to allocate (currency).")
    response_curve: Literal["exponential", "hill"] = Field(
        "exponential", description="Response of added value to spend per customer."
    )
    max_lift: float = Field(
        0.2, gt=0, le=5, description="Largest share of rCLV that spending can add."
    )
    spend_scale: float = Field(
        20.0, gt=0, description="Spend (currency) at which ~63% of the max lift is reached."
    )
    hill_shape: float = Field(1.0, gt=0, le=1, description="Shape of the Hill curve (<= 1).")
    target_ltv_cac: float = Field(3.0, gt=0, description="Target ratio of CLV to CAC.")
    tier_spend: dict[str, float] | None = Field(
        None, description="Spend per head by segment for the tiered plan (scaled to `total`)."
    )
    unpaid_channels: list[Text] | None = Field(
        None,
        description="Acquisition channels that are not bought (organic, word of mouth): they "
        "are valued but never funded by the acquisition plan. Null: every channel whose name "
        "contains 'organic', and channels without a positive acquisition cost.",
    )
    new_customer_budget: float | None = Field(
        None,
        ge=0,
        description="Acquisition budget to split across channels, for the period it is "
        "planned for (e.g. a year); `channel_capacity` counts new customers over that period.",
    )
    channel_capacity: dict[str, float] | None = Field(
        None,
        description="Most new customers each channel can bring over the period the "
        "acquisition budget covers.",
    )
    acquisition_min_value_per_cost: float | None = Field(
        None,
        gt=0,
        description="The acquisition plan funds a channel only when its CLV per unit of "
        "acquisition cost is above this; `target_ltv_cac` when null.",
    )
    test_window_days: int = Field(
        90,
        gt=0,
        description="The test compares revenue per customer over this many days after the "
        "spend; its effect is what the response curve expects the planned spend to add in "
        "that window.",
    )
    test_alpha: float = Field(0.05, gt=0, lt=1, description="Test significance level.")
    test_power: float = Field(0.8, gt=0, lt=1, description="Test power.")
    holdout_share: float = Field(0.1, gt=0, lt=1, description="Share of customers held out.")
    sensitivity_lift_multipliers: list[Annotated[float, Field(gt=0)]] = Field(
        [0.25, 0.5, 2.0, 3.0],
        min_length=1,
        description="Multiples of `max_lift` tried in the sensitivity grid (rounded to 4 "
        "decimals; `max_lift` itself is always tried).",
    )
    sensitivity_scale_multipliers: list[Annotated[float, Field(gt=0)]] = Field(
        [0.25, 0.5, 2.0, 4.0],
        min_length=1,
        description="Multiples of `spend_scale` tried in the sensitivity grid (rounded to 2 "
        "decimals; `spend_scale` itself is always tried).",
    )

    @property
    def acquisition_threshold(self) -> float:
        """`acquisition_min_value_per_cost`, else the target LTV:CAC."""
        if self.acquisition_min_value_per_cost is not None:
            return self.acquisition_min_value_per_cost
        return self.target_ltv_cac


class CohortSettings(_Model):
    """Cohort views: the retention triangle and the same-season (holiday) comparison."""

    retention_period: Literal["M", "Q", "Y"] = Field(
        "Q",
        description="Calendar period of the retention triangle in the cohorts report: month, "
        "quarter or year; its retention a year after acquisition is quoted.",
    )
    holiday_months: list[int] = Field(
        [11, 12],
        min_length=1,
        max_length=12,
        description="Consecutive calendar months (1-12, in order, wrapping from 12 to 1) of "
        "the holiday season whose new customers are compared year on year.",
    )
    seasons_compared: int = Field(
        3,
        ge=2,
        description="How many seasons to compare: the latest ones followed for a full year "
        "after the season (unless `season_years` are given).",
    )
    season_years: list[int] | None = Field(
        None,
        min_length=2,
        description="Years (the year a season starts) of the seasons to compare; when null, "
        "the last `seasons_compared` seasons followed for a full year.",
    )

    @field_validator("holiday_months")
    @classmethod
    def _consecutive_months(cls, months: list[int]) -> list[int]:
        consecutive = all(
            later == earlier % 12 + 1 for earlier, later in zip(months, months[1:], strict=False)
        )
        if any(not 1 <= month <= 12 for month in months) or not consecutive:
            raise ValueError(
                "holiday_months must be consecutive calendar months 1..12 in order, wrapping "
                f"from 12 to 1 if needed (e.g. [11, 12] or [12, 1, 2]); got {months}"
            )
        return months

    @field_validator("season_years")
    @classmethod
    def _two_distinct_years(cls, years: list[int] | None) -> list[int] | None:
        if years is not None and len(set(years)) < 2:
            raise ValueError(f"season_years must name at least two different years; got {years}")
        return years


class AuditSettings(_Model):
    """The customer-base audit (05_customer_base_audit)."""

    cohort_period: Literal["Q", "Y"] = Field(
        "Y", description="Cohorts of the audit's cohort lenses: acquisition quarter or year."
    )
    repeat_days: list[Annotated[int, Field(gt=0)]] = Field(
        [30, 60, 90, 180],
        min_length=1,
        description="Days after the first purchase at which the share of new customers who "
        "bought again is shown.",
    )


class IsoValueSettings(_Model):
    """The frequency x recency grid of the iso-value curves (at the median customer age)."""

    max_frequency: int = Field(
        30, ge=1, description="Largest repeat-purchase frequency on the grid."
    )
    frequency_quantile: float = Field(
        0.99,
        gt=0,
        le=1,
        description="The grid stops at this quantile of the customers' frequency when it is "
        "below `max_frequency`.",
    )
    recency_steps: int = Field(
        40, ge=1, description="Recency steps from 0 to the median customer age."
    )
    min_recency_step: float = Field(
        1.0, gt=0, description="Smallest recency step, in `time_unit` periods."
    )


def _spark_value(value: Any) -> Any:
    """Spark config values are text; YAML's true/false become 'true'/'false'."""
    if isinstance(value, bool):
        return str(value).lower()
    return _as_text(value)


SparkValue = Annotated[str, BeforeValidator(_spark_value)]


class PopulationFilter(_Model):
    """One condition on who is analysed: a column of the transactions or customers file."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    column: Text = Field(
        description="The column's name in the transactions file, else in the customers file "
        "(a customer is kept when their row there matches)."
    )
    equals: OptionalText = Field(None, description="Keep rows whose value is this text.")
    in_: list[Text] | None = Field(
        None, alias="in", min_length=1, description="Keep rows whose value is one of these."
    )
    between: list[Text] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="Keep rows whose value lies in [low, high], both included: numbers, or "
        "dates written YYYY-MM-DD.",
    )

    @model_validator(mode="after")
    def _one_condition(self) -> PopulationFilter:
        given = [name for name in ("equals", "in_", "between") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"filter on {self.column!r} needs exactly one of equals, in, between")
        if self.between is not None:
            low, high = self.bounds
            if low > high:
                raise ValueError(f"filter on {self.column!r}: between {low} and {high} is empty")
        return self

    @property
    def bounds(self) -> tuple[float, float] | tuple[dt.date, dt.date] | None:
        """``between`` as two numbers or two dates (None without ``between``)."""
        if self.between is None:
            return None
        try:
            return float(self.between[0]), float(self.between[1])
        except ValueError:
            pass
        try:
            return dt.date.fromisoformat(self.between[0]), dt.date.fromisoformat(self.between[1])
        except ValueError:
            raise ValueError(
                f"filter on {self.column!r}: between needs two numbers or two YYYY-MM-DD "
                f"dates, got {self.between}"
            ) from None

    @property
    def label(self) -> str:
        """The condition in a reader's words, e.g. ``country = UK``."""
        if self.equals is not None:
            return f"{self.column} = {self.equals}"
        if self.in_ is not None:
            return f"{self.column} in {', '.join(self.in_)}"
        low, high = self.between
        return f"{self.column} from {low} to {high}"


#: DuckDB's memory by default: its working set on a 10-million-row export with room for the
#: kernels beside it (benchmarks/README.md, "Big client"); DuckDB's own default is 80% of RAM
DUCKDB_MEMORY_LIMIT = "2GB"


class EngineSettings(_Model):
    """Where transaction-level work runs: DuckDB in-process (default) or a Spark cluster."""

    backend: Literal["duckdb", "spark"] = Field(
        "duckdb",
        description="Engine: `duckdb` in-process, or `spark` (needs `pip install ccnb[spark]` "
        "and Java 17).",
    )
    database: OptionalText = Field(
        None, description="DuckDB database file for the engine; in-memory when null."
    )
    memory_limit: str = Field(
        DUCKDB_MEMORY_LIMIT,
        pattern=r"(?i)^\d+(\.\d+)?\s*(MB|GB|TB|MiB|GiB|TiB)$",
        description="Most memory DuckDB holds (e.g. '2GB'); beyond it, it spills to a "
        "temporary folder, so a big export is slower rather than out of memory. Raise it on a "
        "machine with memory to spare.",
    )
    master: OptionalText = Field(
        None,
        description="Spark master, e.g. 'local[2]' or 'spark://host:7077'; 'local[*]' when null "
        "(an already running Spark session is reused as it is).",
    )
    config: dict[str, SparkValue] = Field(
        default_factory=dict,
        description="Spark config entries, e.g. {spark.sql.shuffle.partitions: 8}.",
    )
    work_dir: OptionalText = Field(
        None,
        description="Spark: a folder every executor and the driver reach (a path or URI, e.g. "
        "'s3a://bucket/ccnb-work'), where the executors write per-customer tables (the "
        "customers' segments) for the driver to read back, each analysis in its own folder "
        "`ccnb-executors-<pid>-...`, removed when the run (or the process) ends. When null, "
        "a local session uses a temporary folder of the run, and a cluster collects the "
        "customers to the driver instead.",
    )

    @model_validator(mode="after")
    def _options_match_backend(self) -> EngineSettings:
        if self.backend == "duckdb" and (
            self.master is not None or self.config or self.work_dir is not None
        ):
            raise ValueError(
                "`master`, `config` and `work_dir` are Spark settings: set `backend: spark`"
            )
        if self.backend == "spark" and "memory_limit" in self.model_fields_set:
            raise ValueError(
                "`memory_limit` is a DuckDB setting: with Spark set the driver's and executors' "
                "memory in `config` (spark.driver.memory, spark.executor.memory)"
            )
        if self.backend == "spark" and self.database is not None:
            raise ValueError(
                "`database` is a DuckDB file; with Spark name tables as `table:` in the sources"
            )
        return self


_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Params(_Model):
    """Everything a run for one client may change; defaults are the documented ones."""

    client: Text = Field(description="Client name shown in reports.")
    slug: OptionalText = Field(
        None,
        description="Folder name for the client's outputs; derived from `client` when null. "
        "Letters, digits, '-', '_' and '.', no path separators.",
    )
    currency: Text = Field("EUR", description="ISO currency code used to format money.")
    transactions: TransactionsSource = Field(description="The transaction export.")
    customers: CustomersSource | None = Field(None, description="Optional customers table.")
    survey: SurveySource | None = Field(None, description="Optional NPS/CSAT survey.")
    observation_end: dt.date | None = Field(
        None,
        description="Date at which everything is measured; later rows are excluded. "
        "The last transaction date when null.",
    )
    calibration_end: dt.date | None = Field(
        None,
        description="End of the model calibration period; the rest is the holdout. "
        "When null, the last third of the observed history is held out.",
    )
    validation_customers: int | None = Field(
        100_000,
        ge=1_000,
        description="The purchase models are validated on a seeded random sample of about "
        "this many of the customers who bought in the calibration period, when more did; "
        "null validates on all of them. The CLV figures always come from every customer.",
    )
    time_unit: Literal["D", "W", "M"] = Field("W", description="BTYD period: day, week, month.")
    bucket: Literal["day", "period"] = Field(
        "day",
        description="Count purchases once per day (default, Fader-Hardie) or once per period.",
    )
    returns: Literal["net", "exclude"] = Field(
        "net", description="Net returns into revenue, or exclude negative rows."
    )
    business: Literal["b2c", "b2b"] = Field(
        "b2c",
        description="Consumers or businesses: B2B reports word segments and tactics for "
        "accounts (account management, volume tiers) and flag very large orders.",
    )
    gross_margin: float = Field(0.3, gt=0, le=1, description="Gross margin on revenue.")
    discount_rate_annual: float = Field(0.1, ge=0, lt=1, description="Annual discount rate.")
    horizon_months: int = Field(36, gt=0, le=240, description="CLV horizon in months.")
    retention_changes: list[Annotated[float, Field(gt=-100, lt=100)]] = Field(
        [-5.0, -2.0, -1.0, 1.0, 2.0, 5.0],
        min_length=1,
        description="Changes of the one-year retention, in percentage points, whose customer "
        "equity the CLV report shows (what retention is worth).",
    )
    churn_window_days: int = Field(
        365, gt=0, description="Days without a purchase after which a customer counts as lost."
    )
    warm_up_days: int | None = Field(
        None,
        ge=0,
        description="Days at the start of the data whose first-time buyers are the existing "
        "base, not new customers (cohorts, new-customer counts, early repeat). Null: the churn "
        "window, capped at half the history. 0 when the business starts with the data.",
    )
    early_repeat_days: int = Field(
        90, gt=0, description="Window for the early repeat rate, in days."
    )
    early_repeat_min_eligible: int = Field(
        30,
        ge=1,
        description="The report shows the early repeat rate of acquisition cohorts with at "
        "least this many customers observed for the whole window.",
    )
    survey_min_answers: int = Field(
        30,
        ge=1,
        description="NPS of a group (segment) with fewer answers is shown as not reliable.",
    )
    rfm: RfmSettings = Field(default_factory=RfmSettings, description="RFM settings.")
    cohorts: CohortSettings = Field(default_factory=CohortSettings, description="Cohort settings.")
    iso_value: IsoValueSettings = Field(
        default_factory=IsoValueSettings, description="Iso-value grid."
    )
    budget: BudgetSettings = Field(default_factory=BudgetSettings, description="Budget settings.")
    audit: AuditSettings = Field(
        default_factory=AuditSettings, description="Customer-base audit settings."
    )
    engine: EngineSettings = Field(default_factory=EngineSettings, description="Engine.")
    filter: list[PopulationFilter] = Field(
        [],
        description="Sub-population analysed: conditions on columns of the transactions or "
        "customers file, all of which a row must meet, applied before anything is computed, "
        "e.g. [{column: country, equals: UK}]. Every report says which population it shows.",
    )
    normalise_ids: bool = Field(
        False,
        description="Read customer ids as a number would print them in every source: '00123' "
        "and '17851.0' become '123' and '17851' (ids with letters are left alone). Set it when "
        "`ccnb check` warns that ids collide or that the customers table does not match.",
    )
    pseudonymize_ids: bool = Field(
        False,
        description="Replace customer ids by keyed hashes (HMAC) in every output; the key is "
        "CCNB_PSEUDONYM_KEY, else .ccnb-pseudonym.key next to this file (created on first use).",
    )
    seed: int = Field(42, description="Seed for every random draw (intervals, test groups).")

    @property
    def population(self) -> str | None:
        """The ``filter`` in a reader's words (``country = UK and channel in web, app``)."""
        return " and ".join(condition.label for condition in self.filter) or None

    @property
    def display_name(self) -> str:
        """The client's name as reports show it: with the population when filtered."""
        return f"{self.client} ({self.population})" if self.filter else self.client

    source_file: Path | None = Field(
        None, exclude=True, description="The params file this was loaded from (set by ccnb)."
    )

    @field_validator("slug")
    @classmethod
    def _safe_slug(cls, slug: str | None) -> str | None:
        if slug is not None and (not _SLUG.match(slug) or ".." in slug):
            raise ValueError(
                f"slug {slug!r} is not a safe folder name: use letters, digits, '-', '_' "
                "and '.', no path separators and no '..'"
            )
        return slug

    @model_validator(mode="after")
    def _derive_slug_and_check_dates(self) -> Params:
        if self.slug is None:
            derived = re.sub(r"[^a-z0-9]+", "-", self.client.lower()).strip("-")
            object.__setattr__(self, "slug", derived or "client")
        if (
            self.calibration_end is not None
            and self.observation_end is not None
            and self.calibration_end >= self.observation_end
        ):
            raise ValueError(
                f"calibration_end {self.calibration_end} must be before "
                f"observation_end {self.observation_end}"
            )
        return self


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1 surprises: `no`/`on` stay text, `0123` stays text."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
# YAML 1.1 reads 0123 as octal 83 and 1:20 as sexagesimal 80: keep such scalars as text.
_Yaml12Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag != "tag:yaml.org,2002:int" or first not in "0123456789+-_"
    ]
    for first, resolvers in _Yaml12Loader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789")
)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"params file {path} not found") from None
    try:
        data = yaml.load(text, Loader=_Yaml12Loader)
    except yaml.YAMLError as error:
        raise ParamsError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path} must hold a mapping of parameters, got {type(data).__name__}")
    return data


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge overrides into base: nested mappings merge, everything else replaces."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _model_at(location: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the field at an error location, for suggestions."""
    model: type[BaseModel] | None = Params
    for part in location[:-1]:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    return model


def _describe(error: ValidationError, origin: str) -> str:
    lines = [f"invalid parameters in {origin}:"]
    for problem in error.errors():
        location = tuple(problem["loc"])
        where = ".".join(str(part) for part in location) or "(top level)"
        if problem["type"] == "extra_forbidden":
            model = _model_at(location)
            valid = sorted(model.model_fields) if model else []
            valid = [name for name in valid if name != "source_file"]
            hint = did_you_mean(location[-1], valid)
            lines.append(f"- unknown key {where!r}{hint} (valid keys: {', '.join(valid)})")
        else:
            lines.append(f"- {where}: {problem['msg']} (got {problem.get('input')!r})")
    return "\n".join(lines)


def _resolve_paths(params: Params, directory: Path) -> None:
    """Make source paths absolute, relative to the params file's directory."""
    for source in (params.transactions, params.customers, params.survey):
        if source is None or source.path is None or source.path.startswith("builtin:"):
            continue
        if "://" in source.path:  # a URL the engine reads (s3a://, hdfs://, file://)
            continue
        path = Path(source.path).expanduser()  # "~/exports/sales.csv"
        source.path = str(path if path.is_absolute() else (directory / path).resolve())
    if params.engine.database and not Path(params.engine.database).is_absolute():
        params.engine.database = str((directory / params.engine.database).resolve())


def with_overrides(params: Params, /, **overrides: Any) -> Params:
    """A copy of ``params`` with ``overrides`` deep-merged in and the result validated.

    Parameters
    ----------
    params : Params
        Validated parameters (paths already resolved).
    **overrides
        Keys to change, nested as in the YAML (``budget={"total": 9000}``).

    Returns
    -------
    Params
        The new parameters, with the same ``source_file``.

    Raises
    ------
    ParamsError
        When the result is not valid; the message names the key and the closest valid one.
    """
    raw = params.model_dump(mode="python")
    # the engine's checks read which settings were given (a DuckDB `memory_limit` left at its
    # default is no error on Spark): only those go round again
    raw["engine"] = params.engine.model_dump(mode="python", exclude_unset=True)
    raw = _merge(raw, overrides)
    try:
        updated = Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(_describe(error, "the overrides")) from None
    updated.source_file = params.source_file
    return updated


def load_params(path: str | Path, /, **overrides: Any) -> Params:
    """Read a client's params file, apply overrides, and validate both.

    Parameters
    ----------
    path
        The YAML params file. Relative paths inside it resolve from its directory.
    **overrides
        Keys of the file to change for this run, validated like the file. Nested
        sections merge: ``budget={"total": 1000}`` keeps the other budget settings.

    Returns
    -------
    Params
        The validated parameters, with absolute source paths and ``source_file`` set.

    Raises
    ------
    ParamsError
        When the file is missing, is not YAML, or a value is invalid; unknown keys name
        the closest valid key.
    """
    params_path = Path(path).expanduser().resolve()
    raw = _merge(_read_yaml(params_path), overrides)
    try:
        params = Params.model_validate(raw)
    except ValidationError as error:
        origin = str(params_path) + (" with overrides" if overrides else "")
        raise ParamsError(_describe(error, origin)) from None
    _resolve_paths(params, params_path.parent)
    params.source_file = params_path
    return params
