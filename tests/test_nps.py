import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from ccnb import nps as survey_metrics

Z95 = 1.959963984540054  # 97.5% normal quantile, "1.96"


# ----------------------------------------------------------------------------- NPS


def test_nps_hand_worked():
    result = survey_metrics.nps([10, 9, 9, 8, 7, 6, 0, 10, 5, 9])
    # Promoters 10, 9, 9, 10, 9 -> 0.5; passives 8, 7 -> 0.2; detractors 6, 0, 5 -> 0.3.
    assert result.n == 10
    assert (result.promoters, result.passives, result.detractors) == pytest.approx((0.5, 0.2, 0.3))
    assert result.nps == pytest.approx(20.0)
    # se = 100 * sqrt((0.5 + 0.3 - 0.2**2) / 10) = 100 * sqrt(0.076) = 27.5681
    assert result.se == pytest.approx(27.5681, abs=1e-4)
    # 20 -/+ z * 27.5681 with z = 1.95996 (the 97.5% normal quantile, "1.96") = 20 -/+ 54.0325
    assert result.ci_low == pytest.approx(-34.0325, abs=1e-3)
    assert result.ci_high == pytest.approx(74.0325, abs=1e-3)


def test_nps_se_is_the_spread_of_plus_minus_one_coding():
    # Independent check: code promoter +1, passive 0, detractor -1; NPS is 100 * mean and
    # the multinomial se is 100 * population std / sqrt(n).
    answers = np.array([10, 10, 9, 8, 8, 7, 6, 6, 5, 3, 2, 9, 9, 10, 0, 7, 8])
    coded = np.where(answers >= 9, 1, np.where(answers <= 6, -1, 0))
    result = survey_metrics.nps(answers)
    assert result.nps == pytest.approx(100 * coded.mean())
    assert result.se == pytest.approx(100 * coded.std() / math.sqrt(len(coded)))


def test_nps_all_promoters():
    result = survey_metrics.nps([9, 10, 10, 9])
    assert result.nps == 100.0
    assert result.se == 0.0
    assert (result.ci_low, result.ci_high) == (100.0, 100.0)


def test_nps_interval_is_clipped():
    result = survey_metrics.nps([10, 10, 0])
    # pP = 2/3, pD = 1/3: se = 100 * sqrt((1 - 1/9) / 3) = 54.4331; 33.33 + 106.69 > 100.
    assert result.se == pytest.approx(54.4331, abs=1e-4)
    assert result.ci_high == 100.0
    assert result.ci_low == pytest.approx(100 / 3 - Z95 * 54.4331, abs=1e-3)


def test_nps_ignores_missing_answers_and_accepts_nullable_ints():
    answers = pd.Series([10, None, 6, pd.NA, 8], dtype="Int64")
    result = survey_metrics.nps(answers)
    assert result.n == 3
    assert result.nps == pytest.approx(0.0)
    assert survey_metrics.nps(np.array([10.0, np.nan, 6.0, 8.0])) == result


def test_nps_without_answers():
    result = survey_metrics.nps(pd.Series([np.nan, np.nan]))
    assert result.n == 0
    assert math.isnan(result.nps)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ([10, 11, -1, 11], r"found 3 other values: \[-1\.0, 11\.0\]"),
        ([7.5, 8], r"\[7\.5\]"),
        (["9", "nine"], r"\['nine'\]"),
    ],
)
def test_nps_rejects_answers_outside_the_scale(answers, message):
    with pytest.raises(ValueError, match=message):
        survey_metrics.nps(answers)


def test_nps_result_makes_a_table_row():
    row = pd.DataFrame([survey_metrics.nps([10, 0])])
    assert list(row.columns) == [
        "n",
        "promoters",
        "passives",
        "detractors",
        "nps",
        "se",
        "ci_low",
        "ci_high",
    ]
    assert row.loc[0, "nps"] == 0.0


# ----------------------------------------------------------------------------- CSAT


def test_csat_four_of_five_by_hand():
    result = survey_metrics.csat([5, 4, 4, 5, 2])
    assert (result.n, result.satisfied, result.csat) == (5, 4, 80.0)
    # Wilson, p = 0.8, n = 5, z^2 = 3.8415:
    #   centre = (0.8 + 3.8415 / 10) / (1 + 3.8415 / 5) = 1.18415 / 1.76829 = 0.66965
    #   half   = 1.96 * sqrt(0.8 * 0.2 / 5 + 3.8415 / 100) / 1.76829 = 0.29412
    #   -> [0.3755, 0.9638]
    assert result.ci_low == pytest.approx(37.55, abs=0.01)
    assert result.ci_high == pytest.approx(96.38, abs=0.01)


@pytest.mark.parametrize(("satisfied", "n"), [(4, 5), (0, 7), (7, 7), (31, 40), (512, 1000)])
def test_csat_wilson_matches_scipy(satisfied, n):
    answers = [5] * satisfied + [1] * (n - satisfied)
    result = survey_metrics.csat(answers)
    reference = binomtest(satisfied, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert result.ci_low == pytest.approx(100 * reference.low, abs=1e-9)
    assert result.ci_high == pytest.approx(100 * reference.high, abs=1e-9)


def test_csat_other_level_matches_scipy():
    result = survey_metrics.csat([5, 5, 3, 4, 2, 1, 4], level=0.9)
    reference = binomtest(4, 7).proportion_ci(confidence_level=0.9, method="wilson")
    assert (result.ci_low, result.ci_high) == pytest.approx(
        (100 * reference.low, 100 * reference.high)
    )


def test_csat_rejects_answers_outside_the_scale():
    with pytest.raises(
        ValueError, match=r"CSAT answers must be whole numbers from 1 to 5.*\[0\.0, 6\.0\]"
    ):
        survey_metrics.csat([0, 3, 6])


# ----------------------------------------------------------------------------- by group


@pytest.fixture
def survey():
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(9)],
            "nps": pd.array([10, 9, 3, 8, None, 10, 0, 6, 9], dtype="Int64"),
            "csat": pd.array([5, 4, 2, 4, 5, 1, None, 3, 5], dtype="Int64"),
            "segment": pd.Categorical(
                ["Top", "Top", "Top", "Rest", "Rest", "Rest", "Rest", None, "Top"],
                categories=["Top", "Middle", "Rest"],
                ordered=True,
            ),
            "channel": ["web", "shop", "web", "web", "shop", "app", "app", "web", "shop"],
        }
    )


def test_nps_by_categorical_keeps_category_order_and_empty_groups(survey):
    table = survey_metrics.nps_by(survey, by="segment", min_n=3)
    assert table["segment"].astype(str).tolist() == ["Top", "Middle", "Rest", "All"]
    assert table["n"].tolist() == [4, 0, 3, 8]
    assert table["reliable"].tolist() == [True, False, True, True]
    top = table.iloc[0]
    # Top: 10, 9, 3, 9 -> 3 promoters, 1 detractor -> NPS 50.
    assert top["nps"] == pytest.approx(50.0)
    assert top["se"] == pytest.approx(100 * math.sqrt((0.75 + 0.25 - 0.5**2) / 4))
    # Rest: 8, 10, 0 (the missing answer is ignored) -> 1 promoter, 1 detractor -> 0.
    assert table.iloc[2]["nps"] == pytest.approx(0.0)
    assert math.isnan(table.iloc[1]["nps"])
    # All: every answer, including the one whose segment is missing (6).
    overall = survey_metrics.nps(survey["nps"])
    for field, value in dataclasses.asdict(overall).items():
        assert table.iloc[3][field] == pytest.approx(value)
    assert list(table["segment"].cat.categories) == ["Top", "Middle", "Rest", "All"]


def test_nps_by_plain_column_is_sorted(survey):
    table = survey_metrics.nps_by(survey, by="channel", overall=False)
    assert table["channel"].tolist() == ["app", "shop", "web"]
    assert table["n"].tolist() == [2, 2, 4]
    assert not table["reliable"].any()  # default min_n = 30
    assert "All" not in table["channel"].tolist()


def test_csat_by(survey):
    table = survey_metrics.csat_by(survey, by="channel", min_n=3)
    assert list(table.columns) == [
        "channel",
        "n",
        "satisfied",
        "csat",
        "ci_low",
        "ci_high",
        "reliable",
    ]
    assert table["channel"].tolist() == ["app", "shop", "web", "All"]
    # app: 1 (and a missing answer); shop: 4, 5, 5; web: 5, 2, 4, 3.
    assert table["n"].tolist() == [1, 3, 4, 8]
    assert table["satisfied"].tolist() == [0, 3, 2, 5]
    assert table["csat"].tolist() == pytest.approx([0.0, 100.0, 50.0, 62.5])
    assert table["reliable"].tolist() == [False, True, True, True]
    web = binomtest(2, 4).proportion_ci(method="wilson")
    assert table.loc[2, "ci_low"] == pytest.approx(100 * web.low)


def test_by_group_errors(survey):
    with pytest.raises(ValueError, match="missing column 'segmnt'"):
        survey_metrics.nps_by(survey, by="segmnt")
    with pytest.raises(ValueError, match=r"\[11\.0\]"):
        survey_metrics.nps_by(survey.assign(nps=[11] + [5] * 8), by="channel")
    with pytest.raises(ValueError, match="clashes with the overall row"):
        survey_metrics.nps_by(survey.assign(channel="All"), by="channel")
