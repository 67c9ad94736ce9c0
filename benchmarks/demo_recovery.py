"""How well the chosen CLV model recovers the demo retailer's known truth.

The demo data are simulated from a known purchase-and-dropout process, so each customer's true
rate, dropout probability, spend and state at the end of the data are known. This script
prints the holdout validation table and the chosen model's holdout purchases by decile, then
the next 52 weeks: the predicted revenue against the true expected revenue (per customer and
in total), and where each customer's truth falls in the new predictive intervals. A
customer's realised future is drawn 50 times from the generator's own process (alive at the
end, Poisson purchases on its seasonal clock until the geometric dropout, Gamma spend); the
coverage is the share of those futures inside the customer's 90% interval, next to the share
the intervals themselves state (whole purchases and "buys nothing" make a 90% interval hold
more than 90%; see ``ccnb.clv.interval_coverage``).

Run: .venv/bin/python benchmarks/demo_recovery.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

import ccnb
from ccnb import clv
from ccnb.analysis import ClientAnalysis
from ccnb.datasets import simulate

PARAMS = Path(__file__).resolve().parents[1] / "params" / "demo.yaml"
#: the generator's spend shape (each purchase is Gamma(SPEND_SHAPE, nu))
SPEND_SHAPE = float(ccnb.datasets._demo_generator._SPEND_P)
FUTURES = 50


def true_futures(truth: pd.DataFrame, *, n_futures: int = FUTURES, seed: int = 0):
    """Realised next-52-week purchases and revenue per customer, ``n_futures`` times each.

    The generator's expected future ``(1 - exp(-lambda p t)) / p`` gives each customer's
    clock length ``t`` of the next 52 weeks (the same for every alive customer: the seasonal
    clock from the end of the data); purchases are ``min(Poisson(lambda t), Geometric(p))``
    for the customers alive at the end, each worth Gamma(SPEND_SHAPE, nu).
    """
    rng = np.random.default_rng(seed)
    lam = truth["lambda"].to_numpy() / 7.0  # per day, as the generator draws it
    p = truth["p_dropout"].to_numpy()
    alive = truth["alive_at_end"].to_numpy(bool)
    expected = truth["expected_purchases_next_52_weeks"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        clock = np.where(alive, -np.log1p(-expected * p) / (lam * p), 0.0)
    shape = (n_futures, len(truth))
    count = np.where(alive, np.minimum(rng.poisson(lam * clock, shape), rng.geometric(p, shape)), 0)
    nu = truth["nu"].to_numpy()
    revenue = np.where(count > 0, rng.gamma(np.maximum(count, 1) * SPEND_SHAPE, 1 / nu), 0.0)
    return count, revenue


def recovery(analysis: ClientAnalysis) -> dict:
    """Predicted vs true next-52-week revenue of the demo customers, and interval coverage."""
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
    parameter_only = clv.customer_equity(predictions, uncertainty="parameter")
    truth = simulate().truth.set_index("customer_id").reindex(predictions.table["customer_id"])
    table = predictions.table.set_index("customer_id")
    true_value = truth["expected_purchases_next_52_weeks"] * truth["mean_spend"]
    counts, revenues = true_futures(truth)
    rows = []
    for label, realised, low, high in (
        ("purchases", counts, table["purchases_low"], table["purchases_high"]),
        ("revenue", revenues, table["rclv_low"], table["rclv_high"]),
    ):
        inside = (realised >= low.to_numpy()) & (realised <= high.to_numpy())
        rows.append(
            pd.DataFrame(
                {"decile": table["decile"].to_numpy(), f"{label}_inside": inside.mean(axis=0)}
            )
            .groupby("decile")[f"{label}_inside"]
            .mean()
        )
    by_decile = pd.concat(rows, axis=1)
    by_decile["customers"] = table.groupby("decile").size()
    value_inside = (true_value >= table["rclv_low"]) & (true_value <= table["rclv_high"])
    parameter_inside = (true_value >= table["rclv_param_low"]) & (
        true_value <= table["rclv_param_high"]
    )
    draws, low, high = np.asarray(predictions.rclv_draws), table["rclv_low"], table["rclv_high"]
    stated = float(((draws >= low.to_numpy()) & (draws <= high.to_numpy())).mean())
    true_total = float(true_value.sum())
    realised_totals = revenues.sum(axis=1)
    return {
        "predicted_total": equity.value,
        "predicted_low": equity.low,
        "predicted_high": equity.high,
        "parameter_low": parameter_only.low,
        "parameter_high": parameter_only.high,
        "true_total": true_total,
        "total_covered": float(equity.low <= true_total <= equity.high),
        "realised_totals_covered": float(
            np.mean((realised_totals >= equity.low) & (realised_totals <= equity.high))
        ),
        "true_value_in_predictive": float(value_inside.mean()),
        "true_value_in_parameter_only": float(parameter_inside.mean()),
        "futures_purchases_inside": _weighted(by_decile, "purchases_inside"),
        "futures_revenue_inside": _weighted(by_decile, "revenue_inside"),
        "revenue_stated_content": stated,
        "by_decile": by_decile,
    }


def _weighted(by_decile: pd.DataFrame, column: str) -> float:
    """The deciles' shares weighted by their customers: the share over all customers."""
    return float((by_decile[column] * by_decile["customers"]).sum() / by_decile["customers"].sum())


def main() -> None:
    """Print the validation table, the holdout deciles and the recovery of the true future."""
    analysis = ClientAnalysis(ccnb.load_params(PARAMS))
    validation = analysis.validation
    print(validation.table[["label", "holdout_actual", "holdout_predicted", "aggregate_error_pct"]])
    print(f"chosen: {validation.chosen}")
    print(analysis.holdout_total.to_string())
    print("\nholdout purchases by decile of prediction (chosen model, calibration fit):")
    print(analysis.holdout_deciles[["decile", "customers", "predicted", "actual", "error_pct"]])
    result = recovery(analysis)
    print(
        f"\nnext 52 weeks revenue: predicted {result['predicted_total']:,.0f} "
        f"(90% predictive interval {result['predicted_low']:,.0f} to "
        f"{result['predicted_high']:,.0f}; parameter-only {result['parameter_low']:,.0f} to "
        f"{result['parameter_high']:,.0f}), true expected {result['true_total']:,.0f} "
        f"({result['predicted_total'] / result['true_total'] - 1:+.1%})"
    )
    for key in (
        "total_covered",
        "realised_totals_covered",
        "true_value_in_predictive",
        "true_value_in_parameter_only",
        "futures_purchases_inside",
        "futures_revenue_inside",
        "revenue_stated_content",
    ):
        print(f"{key}: {result[key]:.1%}")
    print("\nshare of the 50 true futures inside each customer's 90% interval, by decile:")
    print(result["by_decile"].round(3).to_string())


if __name__ == "__main__":
    main()
