"""Order semantics on a hand-worked wholesaler (tests/conftest.py, WHOLESALER_LINES).

Amounts are quantity x unit price. Observation end 2024-12-31, churn window 365 days.

- A: order 101 (2024-03-01, mug 20 + postage 5), order 102 (2024-06-01, vase 30) cancelled by
  C900 (2024-06-10, -30, same product, own number), order 103 (2024-11-01, mugs 40).
  Purchases: 101 and 103. Revenue 20 + 30 - 30 + 40 = 60 (postage excluded); frequency 1;
  orders 2; 60 days since the last purchase.
- B: order 104 (2024-05-01, 100), partly returned by C901 (2024-05-15, -40): net 60, still a
  purchase; order 105 (2024-12-01, 20). Revenue 80, frequency 1, orders 2, 30 days.
- C: only C902 (-15) for a candle C never bought: matches no order. Revenue -15, no purchase.
- D: order 106 (2024-02-01, 30) cancelled in full by C903 (2024-02-03): no purchase, revenue 0.
- W (wholesale): orders 107, 108, 109 (1,500, 1,200, 1,800; bank charges 15 on 108 and
  postage 40 on 109 excluded). Revenue 4,500, frequency 2, orders 3, 16 days.
- E: one order 2023-06-01 (25), 579 days ago. F: two orders in 2023 (24, 12), last 2023-08-01,
  518 days ago. G: one order 2024-12-20 (35). I: two orders in autumn 2024 (8, 8), last
  2024-10-01, 91 days ago. Order 114 has no customer id.

M scores (9 customers; score = ceil(5 * (worse + 1) / 9)): C -15 -> 1, D 0 -> 2, I 16 -> 2,
E 25 -> 3, G 35 -> 3, F 36 -> 4, A 60 -> 4, B 80 -> 5, W 4500 -> 5. High-Value needs M >= 4.
"""

import pandas as pd
import pytest

import ccnb
from ccnb import report, rfm
from ccnb.analysis import ClientAnalysis


@pytest.fixture(scope="module")
def wholesaler(tmp_path_factory):
    from conftest import write_wholesaler_export

    params = write_wholesaler_export(tmp_path_factory.mktemp("wholesaler"))
    return ClientAnalysis(ccnb.load_params(params))


def test_postage_fees_and_lines_without_a_customer_are_counted_with_their_revenue(wholesaler):
    quality = wholesaler.quality.transactions
    # POST on 101 (5) and 109 (40), BANK CHARGES on 108 (15); order 114 without a customer
    assert quality.rejected == {"missing_customer_id": 1, "non_product": 3}
    assert quality.amount_rejected == {"missing_customer_id": 20.0, "non_product": 60.0}
    # used: the 19 other lines, 4,737 net (4,792 bought - 55 returned)
    assert quality.rows_used == 19 and quality.amount_used == pytest.approx(4737.0)
    assert quality.revenue_share("non_product") == pytest.approx(60 / 4817)


def test_returns_are_matched_to_the_order_they_cancel(wholesaler):
    netting = wholesaler.quality.orders
    assert netting.rule == "order_and_product"
    # C900 -> 102, C901 -> 104, C903 -> 106 by product; C902 (C's candle) matches nothing
    assert (netting.return_lines, netting.matched_by_order_id, netting.matched_by_product) == (
        4,
        0,
        3,
    )
    assert netting.unmatched_returns == 1
    # 102 (30) and 106 (30) net to zero: not purchases
    assert (netting.cancelled_orders, netting.cancelled_value) == (2, 60.0)


def test_frequencies_revenues_and_orders_by_hand(wholesaler):
    summary = wholesaler.summary.set_index("customer_id")
    expected = {
        #    frequency, orders, revenue, days since last
        "A": (1, 2, 60.0, 60),
        "B": (1, 2, 80.0, 30),
        "C": (0, 0, -15.0, 274),  # the return's day (2024-04-01)
        "D": (0, 0, 0.0, 332),  # the cancellation's day (2024-02-03)
        "E": (0, 1, 25.0, 579),
        "F": (1, 2, 36.0, 518),
        "G": (0, 1, 35.0, 11),
        "I": (1, 2, 16.0, 91),
        "W": (2, 3, 4500.0, 16),
    }
    for customer, (frequency, orders, revenue, days) in expected.items():
        row = summary.loc[customer]
        assert (row["frequency"], row["orders"], row["days_since_last"]) == (
            frequency,
            orders,
            days,
        ), customer
        assert row["revenue"] == pytest.approx(revenue), customer
    # A's cancelled June order is no purchase day: A's repeat purchase is in November
    assert summary.loc["A", "recency"] == pytest.approx(
        (pd.Timestamp("2024-11-01") - pd.Timestamp("2024-03-01")).days / 7
    )


def test_segments_by_hand(wholesaler):
    segments = wholesaler.segments.set_index("customer_id")
    assert segments["M"].to_dict() == {
        "A": 4, "B": 5, "C": 1, "D": 2, "E": 3, "F": 4, "G": 3, "I": 2, "W": 5
    }  # fmt: skip
    assert segments["segment"].astype(str).to_dict() == {
        "A": "High-Value",  # active, 2 orders, M 4
        "B": "High-Value",
        "C": rfm.NET_ZERO_SEGMENT,  # returns only
        "D": rfm.NET_ZERO_SEGMENT,  # its only order was cancelled
        "E": "Low-Value",  # one order, 579 days ago
        "F": "Lapsed",  # two orders, silent 518 days
        "G": "First-Time",
        "I": "Medium-Value",  # active repeat buyer, M 2
        "W": "High-Value",
    }
    # business: b2b words the tiers for accounts
    assert "account manager" in segments.loc["W", "tactic"]


def test_the_wholesale_orders_are_flagged(wholesaler):
    large = wholesaler.large_orders
    # 13 purchase orders; median 25 (E's); W's three are over 250
    assert (large["orders"], large["median_order"], large["large_orders"]) == (13, 25.0, 3)
    assert large["value_share"] == pytest.approx(4500 / 4792)


def test_the_report_says_which_rule_applied_and_what_it_removed(wholesaler):
    text = report.data_quality(wholesaler).text
    # postage 5 + 40 and bank charges 15 of the file's net 4,817; the line without an id 20
    assert "3 non product (1.25% of the revenue), 1 missing customer id (0.42% of" in text
    assert "(carrying 1.66% of the revenue in the file)" in text
    assert "by order id, else by product to the customer's latest earlier order" in text
    assert "3 of the 4 return lines matched an order; 2 orders (£60.00) were cancelled" in text
    assert "1 return matched no order and reduces revenue only." in text
    assert "3 orders are over ten times the median order (£25.00)" in text
    assert "trade accounts differ in size" in text
    steps = report.next_steps_segments(wholesaler).text
    assert "Look into the 2 customers whose returns and cancellations" in steps
    assert "with a named account manager" in steps


def test_without_order_ids_the_same_day_rule_applies(tmp_path):
    from conftest import write_wholesaler_export

    params = write_wholesaler_export(tmp_path)
    analysis = ClientAnalysis(
        ccnb.load_params(params, transactions={"columns": {"order_id": None}})
    )
    assert analysis.quality.orders.rule == "same_day"
    # D's cancelled order stays a purchase day under the same-day rule
    assert analysis.summary.set_index("customer_id").loc["D", "orders"] == 1
    assert "no order ids: returns net into the revenue of their day" in (
        report.data_quality(analysis).text
    )
