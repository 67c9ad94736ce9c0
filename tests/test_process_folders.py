"""Temporaries of killed processes (notebook kernels) are removed by the next ccnb process."""

from __future__ import annotations

import os
import subprocess
import sys

from ccnb._process_folders import remove_orphans

DEAD = 2**22 + 12_345  # above any pid a Linux machine hands out (pid_max is at most 2**22)


def test_only_the_temporaries_of_ended_processes_are_removed(tmp_path):
    dead_spill = tmp_path / f"ccnb-duckdb-spill-{DEAD}-ab_c1"
    dead_spill.mkdir()
    (dead_spill / "duckdb_temp_block-1.block").write_bytes(b"spilled")
    dead_log = tmp_path / f"ccnb-spark-{DEAD}-x9.log"
    dead_log.write_text("JVM output")
    live = tmp_path / f"ccnb-draws-{os.getpid()}-q1"
    live.mkdir()
    parent = tmp_path / f"ccnb-tables-{os.getppid()}-q2"  # another running process
    parent.mkdir()
    foreign = [tmp_path / f"other-{DEAD}-x", tmp_path / "ccnb-notes", tmp_path / "ccnb-2024-q1"]
    for path in foreign:
        path.mkdir()

    removed = remove_orphans(tmp_path)

    assert sorted(removed) == sorted([dead_spill, dead_log])
    assert not dead_spill.exists() and not dead_log.exists()
    assert live.is_dir() and parent.is_dir() and all(path.is_dir() for path in foreign)


def test_a_killed_process_folder_is_removed_by_the_next_process(tmp_path):
    """A kernel is shut down without its exit handlers: its DuckDB spill folder stays until
    the next process that makes a folder of its own (here, the same call in a new process)."""
    make = (
        "import os, sys; from ccnb._process_folders import process_folder; "
        "print(process_folder('duckdb-spill')); sys.stdout.flush(); os._exit(0)"
    )
    environment = {**os.environ, "TMPDIR": str(tmp_path)}

    def folder_of_a_killed_process() -> str:
        run = subprocess.run(
            [sys.executable, "-c", make], env=environment, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    first = folder_of_a_killed_process()
    assert os.path.isdir(first)  # os._exit skipped the exit handler, as a killed kernel does
    second = folder_of_a_killed_process()
    assert not os.path.exists(first)
    assert os.path.isdir(second) and os.path.dirname(second) == str(tmp_path)
