"""How well the chosen CLV model recovers the demo retailer's known truth.

The demo data are simulated from a known purchase-and-dropout process, so each customer's true
expected purchases and spend over the next 52 weeks are known. This script prints the holdout
validation table, the chosen model's prediction of next-year revenue against the truth (per
customer and in total), and how often the parameter-uncertainty interval covers the true value.

Run: .venv/bin/python benchmarks/demo_recovery.py
"""

from pathlib import Path

import ccnb
from ccnb import clv
from ccnb.analysis import ClientAnalysis
from ccnb.datasets import simulate

PARAMS = Path(__file__).resolve().parents[1] / "params" / "demo.yaml"


def recovery(analysis: ClientAnalysis) -> dict[str, float]:
    """Predicted vs true next-52-week revenue of the demo customers, with interval coverage."""
    predictions = clv.predict(
        analysis.summary,
        purchases=analysis.purchase_model,
        spend=analysis.spend_model,
        gross_margin=1.0,
        discount_rate_annual=0.0,
        horizon_months=12,
        time_unit=analysis.params.time_unit,
        seed=analysis.params.seed,
    )
    equity = clv.customer_equity(predictions)
    truth = simulate().truth.set_index("customer_id")
    predictions = predictions.table.set_index("customer_id")
    true_value = (truth["expected_purchases_next_52_weeks"] * truth["mean_spend"]).reindex(
        predictions.index
    )
    inside = (true_value >= predictions["rclv_low"]) & (true_value <= predictions["rclv_high"])
    return {
        "predicted_total": equity.value,
        "predicted_low": equity.low,
        "predicted_high": equity.high,
        "true_total": float(true_value.sum()),
        "customer_coverage": float(inside.mean()),
        "total_covered": float(equity.low <= true_value.sum() <= equity.high),
    }


def main() -> None:
    """Print the validation table and the recovery of the true future value."""
    analysis = ClientAnalysis(ccnb.load_params(PARAMS))
    validation = analysis.validation
    print(validation.table[["label", "holdout_actual", "holdout_predicted", "aggregate_error_pct"]])
    print(f"chosen: {validation.chosen}")
    result = recovery(analysis)
    print(
        f"next 52 weeks revenue: predicted {result['predicted_total']:,.0f} "
        f"(90% interval {result['predicted_low']:,.0f} to {result['predicted_high']:,.0f}), "
        f"true {result['true_total']:,.0f} "
        f"({result['predicted_total'] / result['true_total'] - 1:+.1%})"
    )
    print(
        f"per-customer coverage of the true value by the 90% parameter interval: "
        f"{result['customer_coverage']:.1%} (parameter uncertainty only, not a customer's own "
        "randomness); total inside the equity interval: "
        f"{'yes' if result['total_covered'] else 'no'}"
    )


if __name__ == "__main__":
    main()
