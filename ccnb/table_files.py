"""A per-customer table kept as parquet files and read a block of rows at a time.

For the CRM exports of a big client: the table is written once where the tables are computed
(by pandas, or by Spark's executors in ``customer_id`` order), and the notebook that exports
it streams the files into the CSV (`ccnb.batch.exports.export`), so neither the notebook
nor Spark's driver holds a million customers' rows for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

__all__ = ["ROWS_PER_BLOCK", "TableFiles", "table_files_in", "write_table_files"]

#: rows read (and written, as a parquet row group) at a time
ROWS_PER_BLOCK = 100_000


@dataclass(frozen=True)
class TableFiles:
    """A table kept as parquet files, in row order.

    Attributes
    ----------
    files : tuple of str
        The files (paths or URIs), read one after the other.
    rows : int
        Rows in all the files.
    columns : tuple of str
        The table's columns, in order: what `blocks` reads of the files (which may hold more).
    """

    files: tuple[str, ...]
    rows: int
    columns: tuple[str, ...]

    def blocks(self, *, rows_per_block: int = ROWS_PER_BLOCK) -> Iterator[pd.DataFrame]:
        """The table's rows, at most ``rows_per_block`` at a time, in order.

        Parameters
        ----------
        rows_per_block : int, default ROWS_PER_BLOCK
            Rows per block.

        Yields
        ------
        pandas.DataFrame
            The next rows; a table without rows gives one empty block, so a CSV of it
            still has its header.
        """
        given = False
        for name in self.files:
            filesystem, path = fs.FileSystem.from_uri(_uri(name))
            with filesystem.open_input_file(path) as handle:
                batches = pq.ParquetFile(handle).iter_batches(
                    batch_size=rows_per_block, columns=list(self.columns)
                )
                for batch in batches:
                    if batch.num_rows:
                        given = True
                        yield batch.to_pandas()[list(self.columns)]  # in the table's order
        if not given:
            yield pd.DataFrame(columns=list(self.columns))


def write_table_files(
    frame: pd.DataFrame, folder: str | Path, *, rows_per_group: int = ROWS_PER_BLOCK
) -> TableFiles:
    """Write ``frame`` as one parquet file in ``folder``, in groups of rows.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table (its index is not kept).
    folder : str or pathlib.Path
        An existing local folder; its ``table.parquet`` is replaced.
    rows_per_group : int, default ROWS_PER_BLOCK
        Rows per parquet row group: what :meth:`TableFiles.blocks` reads at a time.

    Returns
    -------
    TableFiles
    """
    path = Path(folder).resolve() / "table.parquet"
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, row_group_size=rows_per_group)
    return TableFiles(files=(str(path),), rows=len(frame), columns=tuple(frame.columns))


def table_files_in(folder: str, *, columns: Sequence[str]) -> TableFiles:
    """The parquet files a Spark job wrote to ``folder``, in its partitions' order.

    Parameters
    ----------
    folder : str
        The job's output folder (a path, or a URI Arrow reads: ``s3://``, ``gs://``,
        ``hdfs://``...).
    columns : sequence of str
        The table's columns, in order.

    Returns
    -------
    TableFiles
        Its ``part-*.parquet`` files by name: a sorted table's partitions in sort order.
    """
    filesystem, path = fs.FileSystem.from_uri(_uri(folder))
    parts = sorted(
        info.base_name
        for info in filesystem.get_file_info(fs.FileSelector(path))
        if info.is_file and info.base_name.startswith("part-") and info.path.endswith(".parquet")
    )
    rows = 0
    for part in parts:
        with filesystem.open_input_file(f"{path.rstrip('/')}/{part}") as handle:
            rows += pq.ParquetFile(handle).metadata.num_rows
    base = _uri(folder).rstrip("/")  # a local folder absolute: the reader may be elsewhere
    files = tuple(f"{base}/{part}" for part in parts)
    return TableFiles(files=files, rows=rows, columns=tuple(columns))


def _uri(name: str) -> str:
    """A path or URI as Arrow's ``FileSystem.from_uri`` takes it (a local path: absolute)."""
    return name if "://" in name else str(Path(name).resolve())
