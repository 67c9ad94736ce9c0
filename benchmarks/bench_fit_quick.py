"""Quick timing of ccnb.clv: weighted unique-row fits vs lifetimes on every row, and predict().

Run: .venv/bin/python benchmarks/bench_fit_quick.py [n_customers]
Prints wall-clock seconds; numbers vary with the machine, the estimates must not.
"""

import sys
import time
import warnings

import numpy as np
import pandas as pd

from ccnb import clv

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import lifetimes


def simulate_bgnbd_summary(n_customers, *, r=0.25, alpha=4.0, a=0.8, b=2.5, days=730, seed=1):
    """BG/NBD customers born uniformly over `days`, purchases counted once per day, weeks."""
    rng = np.random.default_rng(seed)
    birth = rng.integers(0, days, n_customers)
    rate = rng.gamma(r, 1 / alpha, n_customers)
    dropout = rng.beta(a, b, n_customers)
    rows = []
    for i in range(n_customers):
        t, purchase_days = 0.0, set()
        horizon = (days - birth[i]) / 7
        while True:
            t += rng.exponential(1 / rate[i])
            if t >= horizon:
                break
            purchase_days.add(int(t * 7))
            if rng.random() < dropout[i]:
                break
        purchase_days.discard(0)
        frequency = len(purchase_days)
        recency = max(purchase_days) / 7 if purchase_days else 0.0
        rows.append((f"c{i:07d}", frequency, recency, horizon))
    summary = pd.DataFrame(rows, columns=["customer_id", "frequency", "recency", "T"])
    spend = rng.gamma(6.0, 1 / 6.0, n_customers) * rng.gamma(4.0, 30.0, n_customers)
    summary["monetary_value"] = np.where(summary["frequency"] > 0, spend, 0.0)
    return summary


def timed(label, function):
    start = time.perf_counter()
    result = function()
    print(f"{label:<45} {time.perf_counter() - start:8.2f} s")
    return result


def main(n_customers):
    summary = timed(
        f"simulate {n_customers} customers", lambda: simulate_bgnbd_summary(n_customers)
    )
    n_unique = len(summary.drop_duplicates(["frequency", "recency", "T"]))
    print(f"{n_customers} customers, {n_unique} distinct (frequency, recency, T)")
    ours = timed("ccnb fit_purchases bgnbd (weighted)", lambda: clv.fit_purchases(summary))
    theirs = timed(
        "lifetimes BetaGeoFitter every row",
        lambda: lifetimes.BetaGeoFitter().fit(
            summary["frequency"], summary["recency"], summary["T"]
        ),
    )
    print("max relative difference", float((ours.params_ / theirs.params_ - 1).abs().max()))
    pareto = timed(
        "ccnb fit_purchases paretonbd (3 starts)",
        lambda: clv.fit_purchases(summary, model="paretonbd"),
    )
    print(pareto)
    spend = timed("ccnb fit_spend", lambda: clv.fit_spend(summary))
    for purchases in (ours, pareto):
        timed(
            f"predict {purchases.label}, 200 draws, 12 months",
            lambda purchases=purchases: clv.predict(
                summary,
                purchases=purchases,
                spend=spend,
                gross_margin=0.3,
                discount_rate_annual=0.1,
                horizon_months=12,
                time_unit="W",
            ),
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
