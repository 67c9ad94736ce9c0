import math
import re

import numpy as np
import pandas as pd
import pytest

from ccnb import rfm

# Ten customers, hand-made. 60% bought once (heavy tie on orders), two share the worst
# recency, two share revenue 20, one has only returns (revenue -5).
CUSTOMERS = pd.DataFrame(
    {
        "customer_id": list("abcdefghij"),
        "days_since_last": [5, 10, 10, 40, 80, 200, 300, 300, 20, 1],
        "orders": [1, 1, 1, 1, 1, 1, 2, 2, 3, 5],
        "revenue": [10.0, 20.0, 20.0, 0.0, -5.0, 50.0, 60.0, 70.0, 100.0, 400.0],
        "acquisition_channel": ["web"] * 10,
    }
)


def by_customer(frame, column):
    return dict(zip(frame["customer_id"], frame[column], strict=True))


def reference_score(values, *, bins, lower_is_better=False):
    """The documented rule written out literally: ceil(bins * (worse + 1) / n)."""
    n = len(values)
    scores = []
    for value in values:
        if lower_is_better:
            worse = sum(other > value for other in values)
        else:
            worse = sum(other < value for other in values)
        scores.append(math.ceil(bins * (worse + 1) / n))
    return scores


# ----------------------------------------------------------------------------- score


def test_scores_match_hand_worked_rule():
    scores = rfm.score(CUSTOMERS)
    # R: worse = customers with more days. j (1 day): 9 worse -> ceil(5*10/10) = 5;
    # a (5): 8 -> ceil(4.5) = 5; b, c (10): 6 -> ceil(3.5) = 4; i (20): 5 -> 3;
    # d (40): 4 -> ceil(2.5) = 3; e (80): 3 -> 2; f (200): 2 -> ceil(1.5) = 2;
    # g, h (300): 0 -> ceil(0.5) = 1.
    assert by_customer(scores, "R") == dict(a=5, b=4, c=4, d=3, e=2, f=2, g=1, h=1, i=3, j=5)
    # F: the six one-time buyers (60%) all score 1; the two 2-order customers have 6
    # worse -> ceil(3.5) = 4; nobody scores 2 or 3. i (3): 8 -> 5; j (5): 9 -> 5.
    assert by_customer(scores, "F") == dict(a=1, b=1, c=1, d=1, e=1, f=1, g=4, h=4, i=5, j=5)
    # M: e (-5, returns only) has 0 worse -> 1; d (0): 1 -> ceil(1.0) = 1; a (10): 2 -> 2;
    # b, c (20): 3 -> ceil(2.0) = 2 (exact boundary); f (50): 5 -> 3; g (60): 6 -> 4;
    # h (70): 7 -> 4; i, j: 5.
    assert by_customer(scores, "M") == dict(a=2, b=2, c=2, d=1, e=1, f=3, g=4, h=4, i=5, j=5)
    assert by_customer(scores, "rfm_cell")["j"] == "5-5-5"
    assert by_customer(scores, "rfm_cell")["g"] == "1-4-4"
    assert by_customer(scores, "rfm_score")["f"] == 2 + 1 + 3


def test_score_output_columns():
    scores = rfm.score(CUSTOMERS)
    assert list(scores.columns) == [
        "customer_id",
        "days_since_last",
        "orders",
        "revenue",
        "R",
        "F",
        "M",
        "rfm_cell",
        "rfm_score",
    ]
    assert scores["R"].dtype == np.int64
    assert scores["revenue"].tolist() == CUSTOMERS["revenue"].tolist()
    assert scores.index.equals(CUSTOMERS.index)
    assert scores.attrs == {}  # nothing hidden: bins are passed to segment() explicitly


def test_distinct_values_fill_equal_quintiles():
    # 15 distinct values: exactly 3 customers per score, no boundary drift.
    summary = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(15)],
            "days_since_last": np.arange(15),
            "orders": np.arange(1, 16),
            "revenue": np.linspace(1.0, 15.0, 15),
        }
    )
    scores = rfm.score(summary)
    for column in ("R", "F", "M"):
        assert scores[column].value_counts().sort_index().tolist() == [3, 3, 3, 3, 3]
    assert scores["F"].tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]
    assert scores["R"].tolist() == [5, 5, 5, 4, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1, 1]


@pytest.mark.parametrize("bins", [3, 4, 5, 10])
def test_scores_equal_literal_rule_with_many_ties(bins):
    rng = np.random.default_rng(7)
    summary = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(53)],
            "days_since_last": rng.integers(0, 12, 53),
            "orders": rng.choice([1, 1, 1, 1, 2, 2, 3, 7], 53),
            "revenue": rng.choice([-10.0, 0.0, 25.0, 25.0, 80.0, 300.0], 53),
        }
    )
    scores = rfm.score(summary, bins=bins)
    assert scores["R"].tolist() == reference_score(
        summary["days_since_last"].tolist(), bins=bins, lower_is_better=True
    )
    assert scores["F"].tolist() == reference_score(summary["orders"].tolist(), bins=bins)
    assert scores["M"].tolist() == reference_score(summary["revenue"].tolist(), bins=bins)
    for value_column, score_column in [("orders", "F"), ("revenue", "M")]:
        # Equal values always share a score, and better values never score lower.
        assert (scores.groupby(value_column)[score_column].nunique() == 1).all()
        ordered = scores.sort_values(value_column)[score_column]
        assert ordered.is_monotonic_increasing
    assert scores[["R", "F", "M"]].min().min() >= 1
    assert scores[["R", "F", "M"]].max().max() <= bins


@pytest.mark.parametrize("n", [1, 2, 4, 7])
def test_fewer_customers_than_bins_score_by_the_literal_rule(n):
    summary = CUSTOMERS.iloc[:n]
    scores = rfm.score(summary, bins=5)
    # with n < bins the lowest edges are -inf: everyone reaches those scores
    assert scores["R"].tolist() == reference_score(
        summary["days_since_last"].tolist(), bins=5, lower_is_better=True
    )
    assert scores["M"].tolist() == reference_score(summary["revenue"].tolist(), bins=5)


def test_parts_scored_against_the_whole_base_edges_score_as_the_whole():
    # The edges are the 2nd, 4th, 6th and 8th worst values of the ten (edge_positions
    # 1, 3, 5, 7): orders 1, 1, 1, 2 and revenue 0, 20, 50, 70, recency (negated) -300,
    # -80, -20, -10.
    assert rfm.edge_positions(10, bins=5).tolist() == [1, 3, 5, 7]
    edges = {key: rfm.score_edges(rfm.worst_first(CUSTOMERS, key), bins=5) for key in "RFM"}
    assert edges["F"].tolist() == [1, 1, 1, 2]
    assert edges["M"].tolist() == [0.0, 20.0, 50.0, 70.0]
    assert edges["R"].tolist() == [-300.0, -80.0, -20.0, -10.0]
    parts = [
        rfm.score_by_edges(part, edges=edges, bins=5)
        for part in (CUSTOMERS.iloc[:3], CUSTOMERS.iloc[3:4], CUSTOMERS.iloc[4:])
    ]
    pd.testing.assert_frame_equal(pd.concat(parts), rfm.score(CUSTOMERS))
    with pytest.raises(ValueError, match="M needs 4 edges for bins=5; got 3"):
        rfm.score_by_edges(CUSTOMERS, edges={**edges, "M": [0.0, 1.0, 2.0]}, bins=5)


def test_score_rejects_bad_input():
    with pytest.raises(ValueError, match=r"missing column 'orders'.*did you mean 'order'"):
        rfm.score(CUSTOMERS.rename(columns={"orders": "order"}))
    with pytest.raises(ValueError, match="one row per customer"):
        rfm.score(pd.concat([CUSTOMERS, CUSTOMERS.head(1)]))
    with pytest.raises(ValueError, match="'revenue' has 1 missing"):
        rfm.score(CUSTOMERS.assign(revenue=[np.nan] + [1.0] * 9))
    with pytest.raises(ValueError, match="bins must be"):
        rfm.score(CUSTOMERS, bins=1)
    with pytest.raises(ValueError, match="no customers"):
        rfm.score(CUSTOMERS.iloc[0:0])


# ----------------------------------------------------------------------------- value tiers


def grid_scores(orders_values=(1, 2, 5), days_values=(10,), revenue_values=(1.0,)):
    """Every (R, F, M, orders, days since last, revenue) combination on 1..5 scores."""
    rows = [
        {"R": r, "F": f, "M": m, "orders": orders, "days_since_last": days, "revenue": revenue}
        for r in range(1, 6)
        for f in range(1, 6)
        for m in range(1, 6)
        for orders in orders_values
        for days in days_values
        for revenue in revenue_values
    ]
    return pd.DataFrame(rows)


#: the hand-made customers' value tiers with a 100-day churn window
HAND_TIERS = rfm.value_tiers_scheme(bins=5, lapsed_after_days=100)


def test_value_tiers_on_hand_made_customers():
    segments = rfm.segment(rfm.score(CUSTOMERS), scheme=HAND_TIERS)
    # M scores (see test_scores_match_hand_worked_rule): a2 b2 c2 d1 e1 f3 g4 h4 i5 j5;
    # High-Value needs M >= 4 (top two-fifths), two orders or more and a purchase
    # within 100 days.
    assert by_customer(segments, "segment") == {
        "a": "First-Time",  # one order, 5 days ago
        "b": "First-Time",
        "c": "First-Time",
        "d": rfm.NET_ZERO_SEGMENT,  # revenue 0
        "e": rfm.NET_ZERO_SEGMENT,  # returns only (-5): never a value segment
        "f": "Low-Value",  # one order, 200 days ago
        "g": "Lapsed",  # two orders, silent 300 days
        "h": "Lapsed",
        "i": "High-Value",  # three orders, M 5, 20 days ago
        "j": "High-Value",
    }
    assert list(segments["segment"].cat.categories) == [
        "High-Value",
        "Medium-Value",
        "First-Time",
        "Lapsed",
        "Low-Value",
        rfm.NET_ZERO_SEGMENT,
    ]
    assert segments["segment"].cat.ordered
    assert by_customer(segments, "tactic")["j"] == HAND_TIERS.rules[0].tactic
    assert "Win them back" in by_customer(segments, "tactic")["g"]
    assert "e-mail" in by_customer(segments, "tactic")["f"]


def test_a_big_spender_outranks_a_frequent_small_buyer():
    customers = pd.DataFrame(
        {
            "customer_id": ["frequent", "big", "x", "y", "z"],
            "days_since_last": [3, 30, 5, 6, 7],
            "orders": [9, 2, 1, 1, 1],
            "revenue": [45.0, 900.0, 10.0, 12.0, 15.0],
        }
    )
    segments = rfm.segment(rfm.score(customers))
    # M: big 900 -> 5, frequent 45 -> 4 (3 worse: ceil(5 * 4 / 5)); both are repeat buyers,
    # but F decides nothing: it is revenue that makes High-Value
    assert by_customer(segments, "M")["frequent"] == 4
    assert by_customer(segments, "segment")["big"] == "High-Value"
    small = customers.assign(revenue=[11.0, 900.0, 10.0, 12.0, 15.0])  # frequent: M 2
    assert by_customer(rfm.segment(rfm.score(small)), "segment")["frequent"] == "Medium-Value"


def test_value_tiers_cover_every_customer_once():
    combos = grid_scores(days_values=(10, 99, 100, 400), revenue_values=(25.0, 0.0, -3.0))
    segments = rfm.segment(combos, scheme=HAND_TIERS, bins=5)
    assert segments["segment"].notna().all()
    expected = []
    for m, orders, days, revenue in zip(
        combos["M"], combos["orders"], combos["days_since_last"], combos["revenue"], strict=True
    ):
        if revenue <= 0:
            expected.append(rfm.NET_ZERO_SEGMENT)
        elif days >= 100:
            expected.append("Lapsed" if orders >= 2 else "Low-Value")
        elif orders == 1:
            expected.append("First-Time")
        elif m >= 4:
            expected.append("High-Value")
        else:
            expected.append("Medium-Value")
    assert segments["segment"].astype(str).tolist() == expected
    # R and F play no part: the same customer on any R or F lands in the same segment
    assert (
        segments.groupby(["M", "orders", "days_since_last", "revenue"])["segment"]
        .nunique()
        .eq(1)
        .all()
    )


def test_value_tiers_for_other_bins():
    scheme = rfm.value_tiers_scheme(bins=10, lapsed_after_days=180)
    rules = {rule.name: rule for rule in scheme.rules}
    assert rules["High-Value"].M == (7, 10)
    assert rules["High-Value"].days_since_last == (0, 179)
    assert rules["Lapsed"].days_since_last == (180, None)
    assert "180 days" in rules["Lapsed"].description
    with pytest.raises(ValueError, match="at least 3"):
        rfm.value_tiers_scheme(bins=2)
    with pytest.raises(ValueError, match="lapsed_after_days"):
        rfm.value_tiers_scheme(lapsed_after_days=0)


def test_the_net_zero_name_is_reserved():
    with pytest.raises(ValueError, match="reserved"):
        rfm.rules_from_params([{"name": rfm.NET_ZERO_SEGMENT}])


# ----------------------------------------------------------------------------- rfm grid

# The widely used ten-segment R-F map (R digit then F digit), with its bottom-left
# hibernating block split: R 1 -> Lost, R 2 -> Hibernating.
REFERENCE_GRID = {
    r"[1-2][1-2]": "Hibernating",
    r"[1-2][3-4]": "At Risk",
    r"[1-2]5": "Can't Lose Them",
    r"3[1-2]": "About to Sleep",
    r"33": "Need Attention",
    r"[3-4][4-5]": "Loyal Customers",
    r"41": "Promising",
    r"51": "New Customers",
    r"[4-5][2-3]": "Potential Loyalists",
    r"5[4-5]": "Champions",
}


def reference_grid_segment(r, f):
    names = [name for pattern, name in REFERENCE_GRID.items() if re.fullmatch(pattern, f"{r}{f}")]
    assert len(names) == 1
    return "Lost" if names[0] == "Hibernating" and r == 1 else names[0]


def test_rfm_grid_partitions_the_5x5_grid():
    for r in range(1, 6):
        for f in range(1, 6):
            cell = pd.DataFrame({"R": [r], "F": [f], "M": [3], "revenue": [1.0]})
            owners = [rule.name for rule in rfm.RFM_GRID.rules if rule.matches(cell)[0]]
            assert len(owners) == 1, (r, f, owners)
            assert owners[0] == reference_grid_segment(r, f)


def test_rfm_grid_segments_and_names():
    combos = grid_scores(orders_values=(1,))
    segments = rfm.segment(combos, scheme="rfm_grid", bins=5)
    expected = [reference_grid_segment(r, f) for r, f in zip(combos["R"], combos["F"], strict=True)]
    assert segments["segment"].astype(str).tolist() == expected
    assert list(segments["segment"].cat.categories) == [
        "Champions",
        "Loyal Customers",
        "Potential Loyalists",
        "New Customers",
        "Promising",
        "Need Attention",
        "About to Sleep",
        "At Risk",
        "Can't Lose Them",
        "Hibernating",
        "Lost",
        rfm.NET_ZERO_SEGMENT,
    ]
    assert all(rule.description and rule.tactic for rule in rfm.RFM_GRID.rules)


def test_rfm_grid_needs_five_bins():
    scores = rfm.score(CUSTOMERS, bins=4)
    with pytest.raises(ValueError, match="rfm_grid.*bins=4"):
        rfm.segment(scores, scheme="rfm_grid", bins=4)
    with pytest.raises(ValueError, match="written for 1..5.*bins=4"):
        rfm.segment(scores, scheme=rfm.RFM_GRID, bins=4)


# ----------------------------------------------------------------------------- custom rules


def test_custom_rules_first_match_wins_and_fallback():
    rules = [
        {"name": "Best", "R": [5, 5], "F": [4, 5], "tactic": "thank them"},
        {"name": "Recent", "R": [4, 5], "description": "bought lately"},
        {"name": "Once", "orders": 1},
        {"name": "Everyone else"},
    ]
    segments = rfm.segment(rfm.score(CUSTOMERS), scheme=rules)
    assert by_customer(segments, "segment") == {
        "a": "Recent",  # R 5 but F 1
        "b": "Recent",
        "c": "Recent",
        "d": rfm.NET_ZERO_SEGMENT,  # revenue 0: before any rule
        "e": rfm.NET_ZERO_SEGMENT,
        "f": "Once",
        "g": "Everyone else",
        "h": "Everyone else",
        "i": "Everyone else",
        "j": "Best",
    }
    assert by_customer(segments, "tactic")["j"] == "thank them"


def test_rules_from_params_with_named_fallback():
    scheme = rfm.rules_from_params(
        {
            "name": "two_tiers",
            "rules": [{"name": "Other"}, {"name": "Top", "M": [5, 5], "orders": [2, None]}],
            "fallback": "Other",
        }
    )
    assert scheme.fallback_name == "Other"
    assert scheme.rules[1].orders == (2, None)
    # "Other" has no ranges, so it matches everyone first: Top is unreachable by design.
    segments = rfm.segment(rfm.score(CUSTOMERS), scheme=scheme)
    assert set(segments["segment"].astype(str)) == {"Other", rfm.NET_ZERO_SEGMENT}
    assert list(segments["segment"].cat.categories) == ["Other", "Top", rfm.NET_ZERO_SEGMENT]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"name": "A", "Rr": [1, 2]}, {"name": "B"}], r"rule 1 \('A'\): unknown key 'Rr'"),
        ([{"name": "A", "r": [1, 2]}], r"unknown key 'r'.*did you mean 'R'"),
        ([{"name": "A", "F": [4, 6]}], r"'A'.*F range \[4, 6\].*bins=5"),
        ([{"name": "A", "F": [4, 2]}], r"low end above its high end"),
        ([{"name": "A", "M": [0, 2]}], r"starts below 1"),
        ([{"name": "A", "R": [1.5, 2]}], r"rule 1 \('A'\): R\.0"),
        ([{"name": "A"}, {"name": "A"}], r"'A' is used by more than one rule"),
        ([{"name": " "}], r"name must not be empty"),
        ([{"R": [1, 2]}], r"rule 1 has no 'name'"),
        ([], r"empty"),
        ({"rules": [{"name": "A"}], "fallback": "Z"}, r"fallback 'Z' is not one of"),
        ({"rules": [{"name": "A"}], "fallbak": "A"}, r"unknown keys \['fallbak'\]"),
    ],
)
def test_rules_from_params_rejects_bad_rules(rules, message):
    with pytest.raises(ValueError, match=message):
        rfm.rules_from_params(rules)


def test_unknown_scheme_name():
    with pytest.raises(ValueError, match="unknown segment scheme 'tiers'"):
        rfm.segment(rfm.score(CUSTOMERS), scheme="tiers")


def test_segment_checks_score_range():
    scores = rfm.score(CUSTOMERS, bins=10)
    with pytest.raises(ValueError, match="'R' must hold scores 1..5"):
        rfm.segment(scores)  # bins default to 5: scores above 5 are caught
    assert rfm.segment(scores, bins=10)["segment"].notna().all()


# ----------------------------------------------------------------------------- summary


def test_segment_summary_value_tiers_by_hand():
    segments = rfm.segment(rfm.score(CUSTOMERS), scheme=HAND_TIERS)
    table = rfm.segment_summary(segments, scheme=HAND_TIERS)
    assert table["segment"].tolist() == [
        "High-Value",
        "Medium-Value",
        "First-Time",
        "Lapsed",
        "Low-Value",
        rfm.NET_ZERO_SEGMENT,
    ]
    assert table["customers"].tolist() == [2, 0, 3, 2, 1, 2]
    assert table["share"].tolist() == pytest.approx([0.2, 0.0, 0.3, 0.2, 0.1, 0.2])
    # Total net revenue 725 = 10 + 20 + 20 + 0 - 5 + 50 + 60 + 70 + 100 + 400.
    assert table["revenue"].tolist() == pytest.approx([500.0, 0.0, 50.0, 130.0, 50.0, -5.0])
    assert table["revenue_share"].tolist() == pytest.approx(
        [500 / 725, 0.0, 50 / 725, 130 / 725, 50 / 725, -5 / 725]
    )
    assert table["share"].sum() == pytest.approx(1.0)
    assert table["revenue_share"].sum() == pytest.approx(1.0)
    lapsed = table.set_index("segment").loc["Lapsed"]
    assert lapsed["median_days_since_last"] == 300.0
    assert lapsed["median_orders"] == 2.0
    assert lapsed["median_revenue"] == 65.0  # median of 60, 70
    assert lapsed["tactic"] == HAND_TIERS.rules[3].tactic
    net_zero = table.set_index("segment").loc[rfm.NET_ZERO_SEGMENT]
    assert net_zero["median_revenue"] == -2.5 and "Find out why" in net_zero["tactic"]
    assert list(table.columns) == [
        "segment",
        "customers",
        "share",
        "revenue",
        "revenue_share",
        "median_days_since_last",
        "median_orders",
        "median_revenue",
        "description",
        "tactic",
    ]


def test_segment_summary_keeps_empty_segments():
    segments = rfm.segment(rfm.score(CUSTOMERS), scheme="rfm_grid")
    table = rfm.segment_summary(segments, scheme=rfm.resolve_scheme("rfm_grid", bins=5))
    assert table["segment"].tolist() == rfm.RFM_GRID.segment_names
    empty = table.set_index("segment").loc["Can't Lose Them"]
    assert empty["customers"] == 0
    assert empty["share"] == 0
    assert empty["revenue"] == 0
    assert np.isnan(empty["median_orders"])
    assert empty["tactic"] == rfm.RFM_GRID.rules[8].tactic
    assert table["customers"].sum() == len(CUSTOMERS)
    assert table["share"].sum() == pytest.approx(1.0)


def test_segment_summary_merged_the_pandas_way_uses_passed_scheme():
    segments = rfm.segment(rfm.score(CUSTOMERS), scheme="rfm_grid")
    segments = segments.merge(CUSTOMERS[["customer_id"]], on="customer_id")
    table = rfm.segment_summary(segments, scheme=rfm.RFM_GRID)
    assert len(table) == 12  # the eleven cells' segments and the net-zero group
    assert table.set_index("segment").loc["Lost", "description"] != ""
    # Without the scheme the categories still give every segment, in order.
    fallback_table = rfm.segment_summary(segments)
    assert fallback_table["segment"].tolist() == rfm.RFM_GRID.segment_names
    assert fallback_table["customers"].tolist() == table["customers"].tolist()


# ----------------------------------------------------------------------------- concentration


def test_revenue_concentration_curve():
    curve = rfm.revenue_concentration(CUSTOMERS)
    assert curve["customer_id"].tolist() == list("jihgfbcade")
    assert curve["customer_share"].tolist() == pytest.approx([i / 10 for i in range(1, 11)])
    # The returns-only customer (-5) is last and counts as 0: the curve reaches exactly 1
    # with the last positive customer and never goes above it.
    cumulative = np.cumsum([400, 100, 70, 60, 50, 20, 20, 10, 0, 0]) / 730
    assert curve["revenue_share"].to_numpy() == pytest.approx(cumulative)
    assert curve["revenue_share"].max() == pytest.approx(1.0)
    assert curve["revenue_share"].iloc[-3:].tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_top_share():
    assert rfm.top_share(CUSTOMERS) == pytest.approx(500 / 730)  # j and i
    assert rfm.top_share(CUSTOMERS, top=0.15) == pytest.approx((400 + 0.5 * 100) / 730)
    assert rfm.top_share(CUSTOMERS, top=1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        rfm.top_share(CUSTOMERS, top=20)


def test_the_concentration_curve_at_shares_reads_the_customers_curve_pro_rata():
    """Ten customers (400, 100, 70, 60, 50, 20, 20, 10, 0, -5 counted as 0; total 730): at
    15% of them the best one and half of the second, at 20% the best two, at 100% all."""
    curve = rfm.concentration_curve(CUSTOMERS, shares=[0.05, 0.15, 0.2, 0.55, 1.0])
    assert curve["customer_share"].tolist() == [0.05, 0.15, 0.2, 0.55, 1.0]
    assert curve["revenue_share"].tolist() == pytest.approx(
        [200 / 730, 450 / 730, 500 / 730, (680 + 0.5 * 20) / 730, 1.0]
    )
    default = rfm.concentration_curve(CUSTOMERS)
    assert len(default) == 109
    assert default["customer_share"].iloc[[0, 8, 9, 10, -1]].tolist() == pytest.approx(
        [0.001, 0.009, 0.01, 0.02, 1.0]
    )
    # the chart's point at the report's share is the top share the report quotes
    assert default["customer_share"].iloc[28] == pytest.approx(0.2)
    assert default["revenue_share"].iloc[28] == pytest.approx(rfm.top_share(CUSTOMERS, top=0.2))
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        rfm.concentration_curve(CUSTOMERS, shares=[0.5, 0.0])


def test_concentration_needs_positive_revenue():
    with pytest.raises(ValueError, match="positive total revenue"):
        rfm.revenue_concentration(CUSTOMERS.assign(revenue=-1.0))


def test_segment_summary_rejects_segments_outside_the_scheme():
    segments = rfm.segment(rfm.score(CUSTOMERS))
    with pytest.raises(ValueError, match=r"segments \['First-Time', 'High-Value'"):
        rfm.segment_summary(segments, scheme=rfm.RFM_GRID)


def test_segment_recency_counts_lapsed_and_recent_customers_by_hand():
    segments = rfm.segment(rfm.score(CUSTOMERS), scheme="value_tiers")
    table = rfm.segment_recency(segments, lapsed_after_days=100, recent_days=30)
    # lapsed: days_since_last >= 100 (f 200, g 300, h 300) or no order (none here);
    # recent: at most 30 days (a 5, b 10, c 10, i 20, j 1); g and h are former regulars
    by_segment = table.set_index("segment")
    assert by_segment["customers"].sum() == 10
    assert by_segment["lapsed"].sum() == 3 and by_segment["recent"].sum() == 5
    assert by_segment["lapsed_repeat_buyers"].sum() == 2
    for name, group in segments.groupby("segment", observed=True):
        row = by_segment.loc[name]
        assert row["customers"] == len(group)
        assert row["median_days_since_last"] == group["days_since_last"].median()
        assert row["lapsed_share"] == pytest.approx((group["days_since_last"] >= 100).mean())
    assert table["segment"].tolist() == rfm.VALUE_TIERS.segment_names


def test_score_grid_counts_and_totals_every_cell_by_hand():
    """Four customers on a 3-level scale: two share cell R1-F1 (one returns-only), seven
    pairs are empty and read 0, rows run R = 3, 2, 1 and columns F = 1, 2, 3."""
    scores = pd.DataFrame({"R": [1, 1, 3, 2], "F": [1, 1, 2, 3], "revenue": [5.0, -1.0, 2.0, 4.0]})
    grid = rfm.score_grid(scores, bins=3)
    assert grid[["R", "F"]].to_numpy().tolist() == [[r, f] for r in (3, 2, 1) for f in (1, 2, 3)]
    assert grid["customers"].tolist() == [0, 1, 0, 0, 0, 1, 2, 0, 0]
    assert grid["revenue"].tolist() == [0.0, 2.0, 0.0, 0.0, 0.0, 4.0, 4.0, 0.0, 0.0]
    assert grid["customers"].dtype == "int64"
