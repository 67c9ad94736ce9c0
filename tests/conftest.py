import os
from pathlib import Path

import ibis
import lifetimes.datasets
import pandas as pd
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def cdnow_master():
    """CDNOW master as shipped with lifetimes (pandas) and as an engine table."""
    path = Path(lifetimes.datasets.__file__).parent / "CDNOW_master.txt"
    raw = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    frame = pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "date": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "amount": raw["dollar_value"].astype(float),
        }
    )
    engine_frame = frame.assign(
        order_id=pd.Series([None] * len(frame), dtype="string"),
        channel=pd.Series([None] * len(frame), dtype="string"),
    )
    table = ibis.duckdb.connect().create_table("cdnow", ibis.memtable(engine_frame))
    return frame, table.mutate(date=table.date.cast("date"))
