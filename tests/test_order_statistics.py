"""Order statistics without Spark: quantiles of counted values (Spark's side is in test_spark)."""

import numpy as np
import pytest

from ccnb.order_statistics import quantile_of_counts


@pytest.mark.parametrize("quantile", [0.0, 0.1, 0.25, 0.5, 0.9, 0.99, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_quantile_of_counted_values_is_numpys_on_the_repeated_values(quantile, seed):
    rng = np.random.default_rng(seed)
    values = rng.choice(np.arange(40) / 7, size=25, replace=False)  # distinct, unsorted
    counts = rng.integers(0, 6, size=25)
    counts[0] += 1  # at least one counted value
    expected = np.quantile(np.repeat(values, counts), quantile)
    assert quantile_of_counts(values, counts, quantile=quantile) == expected


def test_a_quantile_of_counts_by_hand():
    """Values 1 (3 times) and 10 (once): sorted 1, 1, 1, 10; the median is 1, the 0.9
    quantile sits at position 2.7, 70% of the way from 1 to 10."""
    assert quantile_of_counts([10.0, 1.0], [1, 3], quantile=0.5) == 1.0
    assert quantile_of_counts([10.0, 1.0], [1, 3], quantile=0.9) == pytest.approx(7.3)
    with pytest.raises(ValueError, match="at least one counted value"):
        quantile_of_counts([1.0], [0], quantile=0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        quantile_of_counts([1.0], [1], quantile=1.5)
