"""Fixtures shared by the CLV tests: the CDNOW sample shipped with lifetimes, summarised and fitted.

The summary is built with lifetimes' own function (weekly time, days / 7, observation end
1998-06-30), so the inputs do not depend on ccnb.summary.
"""

from pathlib import Path

import lifetimes
import lifetimes.datasets
import pandas as pd
import pytest
from lifetimes.utils import summary_data_from_transaction_data

from ccnb import clv

OBSERVATION_END = "1998-06-30"


@pytest.fixture(scope="module")
def cdnow_transactions():
    path = Path(lifetimes.datasets.__file__).parent / "CDNOW_sample.txt"
    names = ["customer_id", "sample_id", "date", "number_of_cds", "dollar_value"]
    raw = pd.read_csv(path, sep=r"\s+", header=None, names=names, dtype=str)
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "date": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "dollar_value": raw["dollar_value"].astype(float),
        }
    )


@pytest.fixture(scope="module")
def summary(cdnow_transactions):
    """Whole-period summary in ccnb's shape: RangeIndex and a customer_id column."""
    frame = summary_data_from_transaction_data(
        cdnow_transactions,
        "customer_id",
        "date",
        monetary_value_col="dollar_value",
        observation_period_end=OBSERVATION_END,
        freq="D",
        freq_multiplier=7,
    )
    return frame.reset_index()


@pytest.fixture(scope="module")
def purchases(summary):
    return clv.fit_purchases(summary, model="bgnbd")


@pytest.fixture(scope="module")
def spend(summary):
    return clv.fit_spend(summary)
