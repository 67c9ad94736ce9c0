import numpy as np
import pandas as pd
import pytest

from ccnb.formatting import (
    count,
    currency_symbol,
    day_label,
    in_words,
    money,
    percent,
    period_label,
    signed_percent,
)


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (12_000, "EUR", "€12k"),
        (1_200_000, "USD", "$1.2M"),
        (12_000, "CHF", "CHF 12k"),
        (12_000, "chf", "CHF 12k"),
        (1_250, "GBP", "£1.25k"),
        (-12_000, "EUR", "-€12k"),
        (850, "EUR", "€850"),
        (0.5, "EUR", "€0.5"),
        (0, "EUR", "€0"),
        (999_999, "EUR", "€1M"),  # rounds up into the next suffix, not "€1000k"
        (2.5e9, "USD", "$2.5B"),
        (15_556.64, None, "15.6k"),
        (float("nan"), "EUR", "–"),
    ],
)
def test_compact_money(value, currency, expected):
    assert money(value, currency, compact=True) == expected


def test_full_money_and_shares():
    assert money(1234.5, "EUR") == "€1,235"
    assert money(12.5, "USD") == "$12.50"
    assert money(-7, "CHF") == "-CHF 7.00"
    # an amount that rounds to nothing shows no sign ('-€0.00' reads as a loss); a cent does
    assert money(-0.004, "EUR") == "€0.00" and money(-0.0, "EUR") == "€0.00"
    assert money(-0.01, "EUR") == "-€0.01"
    assert (
        money(-0.004, "EUR", compact=True) == "€0" and money(-0.3, "EUR", compact=True) == "-€0.3"
    )
    assert money(float("nan"), "EUR") == "–"
    # a sum of cents exactly on a half shows the same whichever order it was added in: the
    # demo's 2021 cohort at age 4 sums to 17,742.50, and a parallel sum is off by an ulp
    half = 17742.5
    assert np.nextafter(half, np.inf) != half != np.nextafter(half, -np.inf)
    shown = {money(value, "EUR") for value in np.nextafter(half, [-np.inf, np.inf])}
    assert shown == {money(half, "EUR")} == {"€17,743"}
    # a half rounds up (away from zero), as Excel's ROUND of the exported value: whatever the
    # float's binary digits (2.675 is stored just below, 2.125 exactly)
    assert money(np.nextafter(2.125, -np.inf), "EUR") == money(2.125, "EUR") == "€2.13"
    assert money(2.675, "EUR") == "€2.68" and money(-2.675, "EUR") == "-€2.68"
    assert money(188.955, "USD") == money((188.37 + 189.54) / 2, "USD") == "$188.96"
    assert money(999.995, "EUR") == "€1,000" and money(1234.5, "EUR") == "€1,235"
    assert currency_symbol("eur") == "€" and currency_symbol(None) == ""
    assert percent(0.256) == "26%" and percent(0.256, digits=1) == "25.6%"
    # a half rounds up, as Excel shows the exported share: 1/8 is 13%, 0.145 (stored just
    # below) 15%, 2/3 rounds as usual
    assert percent(1 / 8) == "13%" and percent(0.145) == "15%" and percent(2 / 3) == "67%"
    assert percent(0.0125, digits=1) == "1.3%" and percent(-0.125) == "-13%"
    assert signed_percent(0.125) == "+13%" and signed_percent(-0.145) == "-15%"
    assert signed_percent(0.05) == "+5%" and signed_percent(-0.123, digits=1) == "-12.3%"
    # near zero: the sign is kept with the digits that show it, never '-0%'
    assert signed_percent(-0.003) == "-0.3%" and signed_percent(0.0004) == "+0.04%"
    assert signed_percent(0.0) == "0%" and signed_percent(-0.00001) == "0%"
    assert count(12345.0) == "12,345"


def test_period_label_names_the_period_as_a_reader_does():
    assert period_label("2025-01-01", "M") == "Jan 2025"
    assert period_label("2025-04-01", "Q") == "Q2 2025"
    assert period_label("2025-01-01", "Y") == "2025"
    with pytest.raises(ValueError, match="'M', 'Q' or 'Y'"):
        period_label("2025-01-01", "W")


def test_day_label_has_no_leading_zero():
    assert day_label("2025-12-09") == "9 Dec 2025"
    assert day_label(pd.Timestamp("1997-01-01")) == "1 Jan 1997"


def test_in_words_spells_small_counts():
    assert [in_words(n) for n in (0, 1, 4, 9, 10, 1234)] == [
        "no",
        "one",
        "four",
        "nine",
        "10",
        "1,234",
    ]
    assert in_words(0, zero="none") == "none"
