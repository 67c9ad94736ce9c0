"""Signals sent to a real `ccnb run`: nothing from the stopped run is published, the previous
outputs stay, no process is left behind, and the exit code says what happened."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures" / "notebooks"
SALES = """\
order_id,customer_id,date,amount
O1,C1,2024-01-05,100.00
O2,C1,2024-02-05,50.00
O3,C2,2024-01-06,20.00
"""
PARAMS = """\
client: Acme
slug: acme
transactions:
  path: sales.csv
  columns:
    order_id: order_id
observation_end: "2024-12-31"
"""


def _notebooks(folder: Path, **names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for target, source in names.items():
        (folder / f"{target}.ipynb").write_bytes((FIXTURES / source).read_bytes())
    return folder


def _snapshot(outputs: Path) -> dict[str, str]:
    """Every file under the outputs with its content hash."""
    return {
        str(path.relative_to(outputs)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(outputs.rglob("*"))
        if path.is_file()
    }


def _children() -> dict[int, int]:
    """pid -> parent pid of every process, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _descendants(pid: int) -> set[int]:
    parents, found, frontier = _children(), set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


def _ccnb_run(params: Path, notebooks: Path, outputs: Path) -> subprocess.Popen:
    """`ccnb run` in its own session: a signal reaches the main process only (as `kill`)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from ccnb.batch.cli import app; app()",
            "run",
            str(params),
            "--notebook-dir",
            str(notebooks),
            "--output-dir",
            str(outputs),
            "--no-precompute",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.fixture
def engagement(tmp_path):
    """A client with good outputs from a first run, and notebooks that hang in a second."""
    (tmp_path / "sales.csv").write_text(SALES)
    params = tmp_path / "acme.yaml"
    params.write_text(PARAMS)
    outputs = tmp_path / "outputs"
    quick = _notebooks(tmp_path / "quick", **{"01_overview": "01_overview.ipynb"})
    first = _ccnb_run(params, quick, outputs)
    _, stderr = first.communicate(timeout=180)
    assert first.returncode == 0, stderr
    hangs = _notebooks(
        tmp_path / "hangs", **{"01_overview": "01_overview.ipynb", "02_sleeps": "sleeps.ipynb"}
    )
    return {"params": params, "outputs": outputs, "hangs": hangs, "before": _snapshot(outputs)}


def _hung_run(engagement) -> tuple[subprocess.Popen, set[int]]:
    """Start the second run and wait until its second notebook's kernel sleeps."""
    run = _ccnb_run(engagement["params"], engagement["hangs"], engagement["outputs"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        staging = list(engagement["outputs"].glob(".acme.tmp-*"))
        if staging and (staging[0] / "01_overview.ipynb").exists():
            break
        if run.poll() is not None:
            pytest.fail(f"the run ended early: {run.communicate()}")
        time.sleep(0.2)
    else:
        pytest.fail("the run never reached its second notebook")
    time.sleep(3)  # the second kernel starts and sleeps
    processes = _descendants(run.pid)
    assert len(processes) >= 2  # a worker and its kernel at least
    return run, processes


def _gone(pids: set[int], seconds: float = 20) -> set[int]:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _alive(pids)


@pytest.mark.parametrize(("name", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_stops_the_run_unpublished(engagement, name, code):
    run, processes = _hung_run(engagement)
    started = time.monotonic()
    os.kill(run.pid, getattr(signal, name))
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == code, stderr
    assert time.monotonic() - started < 30  # not the 600 s the notebook sleeps
    assert f"ccnb run stopped by {name}" in stderr and "Traceback" not in stderr
    assert _gone(processes) == set()  # workers and kernels
    outputs = engagement["outputs"]
    assert _snapshot(outputs) == engagement["before"]  # nothing published, nothing lost
    assert not list(outputs.glob(".*tmp-*"))


def test_a_killed_main_process_leaves_workers_that_stop_unpublished(engagement):
    run, processes = _hung_run(engagement)
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=10)
    left = _gone(processes)
    assert left == set(), [Path(f"/proc/{pid}/cmdline").read_bytes()[:200] for pid in left]
    run.communicate(timeout=10)  # the pipes close once every process holding them is gone
    outputs = engagement["outputs"]
    assert _snapshot(outputs) == engagement["before"]
    # the next run removes whatever the killed one left and publishes normally
    quick = _notebooks(outputs.parent / "quick2", **{"01_overview": "01_overview.ipynb"})
    after = _ccnb_run(engagement["params"], quick, outputs)
    _, stderr = after.communicate(timeout=180)
    assert after.returncode == 0, stderr
    assert not list(outputs.glob(".*tmp-*"))
