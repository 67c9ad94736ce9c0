"""Do the predictive intervals hold? Coverage on customers simulated from known parameters.

For each purchase model (BG/NBD, MBG/NBD, Pareto/NBD, with Gamma-Gamma spend) and each
replicate: simulate customers from the published CDNOW estimates (39-week calibration after a
12-week acquisition window, 39-week holdout), fit both models on the calibration period,
draw every customer's predictive distribution of holdout purchases and spend, and count

- per customer: the share whose realised holdout purchases (and spend) fall inside their 90%
  interval, three ways (see ``ccnb.clv.interval_coverage``): plainly inside, the probability
  the intervals themselves state, and the randomised-PIT share that is exactly 90% for a
  right model whatever the whole purchases and the point mass at zero do;
- in aggregate: the share of replicates whose realised total falls inside the total's 90%
  interval.

The parameter-only interval (expected values under the parameter draws) is scored the same
way for contrast.

Run: .venv/bin/python benchmarks/coverage.py [--replicates 100] [--customers 2000]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from ccnb import clv
from ccnb.datasets.btyd_population import (
    CDNOW_ESTIMATES,
    CDNOW_PERIODS,
    CDNOW_SPEND_ESTIMATES,
    simulate_population,
)


def replicate(model: str, *, n_customers: int, seed: int, n_draws: int = 200) -> dict:
    """Fit, predict and score one simulated population; predictive and parameter-only."""
    population = simulate_population(
        model,
        CDNOW_ESTIMATES[model],
        spend_params=CDNOW_SPEND_ESTIMATES,
        n_customers=n_customers,
        seed=seed,
        **CDNOW_PERIODS,
    )
    purchases = clv.fit_purchases(population, model=model)
    spend = clv.fit_spend(
        population.rename(
            columns={"frequency_cal": "frequency", "monetary_value_cal": "monetary_value"}
        )
    )
    scores = {}
    for kind, own in (("predictive", True), ("parameter", False)):
        distribution = clv.predictive_distribution(
            population,
            purchases=purchases,
            spend=spend,
            n_draws=n_draws,
            seed=seed,
            own_randomness=own,
        )
        scores[kind] = clv.interval_coverage(
            distribution,
            actual_purchases=population["frequency_holdout"],
            actual_value=population["value_holdout"],
            seed=seed,
        )
    return scores


def coverage_table(models, *, replicates: int, n_customers: int) -> pd.DataFrame:
    """One row per model and interval kind, averaged over the replicates."""
    rows = []
    for model in models:
        started = time.perf_counter()
        results = [replicate(model, n_customers=n_customers, seed=s) for s in range(replicates)]
        seconds = time.perf_counter() - started
        for kind in ("predictive", "parameter"):
            frame = pd.DataFrame([result[kind] for result in results])
            rows.append(
                {
                    "model": clv._btyd.MODEL_SPECS[model].label,
                    "interval": kind,
                    "replicates": replicates,
                    "customers": n_customers,
                    "purchases inside": frame["purchases_inside"].mean(),
                    "purchases stated": frame["purchases_stated_content"].mean(),
                    "purchases PIT": frame["purchases_pit_inside"].mean(),
                    "spend inside": frame["value_inside"].mean(),
                    "spend stated": frame["value_stated_content"].mean(),
                    "spend PIT": frame["value_pit_inside"].mean(),
                    "total purchases inside": frame["total_purchases_inside"].mean(),
                    "total spend inside": frame["total_value_inside"].mean(),
                    "seconds": seconds,
                }
            )
    return pd.DataFrame(rows)


def _markdown(table: pd.DataFrame) -> str:
    shown = table.copy()
    for column in shown.columns:
        if column.endswith(("inside", "stated", "PIT")):
            shown[column] = shown[column].map(lambda v: f"{v:.1%}")
    shown["seconds"] = shown["seconds"].map(lambda v: f"{v:.0f}")
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "| " + " | ".join("---" for _ in shown.columns) + " |"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.to_numpy()]
    return "\n".join([header, rule, *body])


def main() -> None:
    """Print the coverage table (markdown) for the three purchase models."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--models", nargs="+", default=list(CDNOW_ESTIMATES))
    options = parser.parse_args()
    table = coverage_table(
        options.models, replicates=options.replicates, n_customers=options.customers
    )
    print(_markdown(table))
    print("(seconds: all replicates of one model, both interval kinds; replicate k uses seed k)")


if __name__ == "__main__":
    main()
