"""A per-customer table kept as parquet files, read a block of rows at a time."""

import pandas as pd
import pytest

from ccnb.table_files import TableFiles, table_files_in, write_table_files


@pytest.fixture
def customers():
    return pd.DataFrame(
        {
            "customer_id": pd.array([f"C{number:04d}" for number in range(1, 1_001)], "string"),
            "segment": pd.Categorical(["Gold", "Lapsed"] * 500, categories=["Lapsed", "Gold"]),
            "revenue": [number / 3 for number in range(1_000)],
        },
        index=range(5, 1_005),
    )


def test_a_written_table_reads_back_the_same_a_block_at_a_time(customers, tmp_path):
    files = write_table_files(customers, tmp_path, rows_per_group=300)
    assert files.rows == 1_000 and files.columns == ("customer_id", "segment", "revenue")
    blocks = list(files.blocks(rows_per_block=300))
    assert [len(block) for block in blocks] == [300, 300, 300, 100]
    read = pd.concat(blocks, ignore_index=True)
    pd.testing.assert_frame_equal(read, customers.reset_index(drop=True))


def test_a_table_without_rows_gives_one_empty_block_with_its_columns(customers, tmp_path):
    files = write_table_files(customers.iloc[:0], tmp_path)
    (block,) = files.blocks()
    assert block.empty and list(block.columns) == ["customer_id", "segment", "revenue"]
    nothing = TableFiles(files=(), rows=0, columns=("customer_id",))
    assert [list(block.columns) for block in nothing.blocks()] == [["customer_id"]]


def test_a_folders_part_files_read_in_name_order_by_path_or_uri(customers, tmp_path, monkeypatch):
    """As a Spark job writes a sorted table: part files in partition order; other files
    (Spark's _SUCCESS, checksums) are not the table's. A relative folder is kept absolute."""
    folder = tmp_path / "job"
    folder.mkdir()
    for number, start in enumerate(range(0, 1_000, 400)):
        customers.iloc[start : start + 400].to_parquet(folder / f"part-{number:05d}-x.parquet")
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00000-x.parquet.crc").write_text("")
    monkeypatch.chdir(tmp_path)
    for name in ("job", (folder).as_uri()):
        files = table_files_in(name, columns=list(customers.columns))
        assert files.rows == 1_000 and len(files.files) == 3
        monkeypatch.chdir("/")  # read from elsewhere, as a notebook's kernel may
        read = pd.concat(files.blocks(rows_per_block=250), ignore_index=True)
        pd.testing.assert_frame_equal(read, customers.reset_index(drop=True))
        monkeypatch.chdir(tmp_path)
