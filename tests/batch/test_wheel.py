"""The built wheel works outside the repository: ccnb init, ccnb new, ccnb run in an
engagement folder, with the notebooks and templates the wheel carries."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _export(path: Path) -> None:
    """A small shop: 120 customers buying every few weeks over two years, some stopping."""
    rng = np.random.default_rng(4)
    lines = ["Kundennummer;Datum;Betrag"]
    start = dt.date(2023, 1, 1)
    for customer in range(120):
        day, stop = int(rng.integers(0, 200)), int(rng.integers(150, 730))
        while day < min(stop, 729):
            amount = f"{rng.gamma(4, 8):.2f}".replace(".", ",")  # a German export
            lines.append(f"K{customer:04d};{start + dt.timedelta(days=day):%d.%m.%Y};{amount}")
            day += int(rng.integers(10, 60))
    path.write_text("\n".join(lines) + "\n", encoding="cp1252")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this checkout, installed into a fresh virtual environment.

    The wheel goes in without its dependencies, which the fresh environment reads from this
    test environment's site-packages (a .pth line): ccnb itself comes from the wheel only.
    """
    import sysconfig

    root = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(root / "dist"), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = (root / "dist").glob("ccnb-*.whl")
    fresh = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True)
    python = fresh / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", wheel],
        check=True,
        capture_output=True,
    )
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # nbconvert's templates live under the environment that installed nbconvert
    environment["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    environment["PATH"] = f"{fresh / 'bin'}{os.pathsep}{environment.get('PATH', '')}"
    return fresh, environment


def _ccnb(args, *, cwd, environment, timeout=600):
    return subprocess.run(
        ["ccnb", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_init_new_run_in_an_engagement_folder(installed, tmp_path):
    fresh, environment = installed
    where = subprocess.run(
        ["python", "-c", "import ccnb; print(ccnb.__file__)"],
        cwd=tmp_path,  # not the checkout, whose ccnb/ the current folder would shadow
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(fresh))  # the wheel's ccnb, not the checkout's

    result = _ccnb(["init", "engagement"], cwd=tmp_path, environment=environment)
    assert result.returncode == 0, result.stderr
    engagement = tmp_path / "engagement"
    assert sorted(p.name for p in engagement.iterdir()) == [
        "README.md",
        "notebooks",
        "outputs",
        "params",
        "params-template.yaml",
    ]
    assert len(list((engagement / "notebooks").glob("0*.ipynb"))) == 6
    again = _ccnb(["init", "engagement"], cwd=tmp_path, environment=environment)
    assert again.returncode == 2 and "not empty; nothing was changed" in again.stderr

    _export(engagement / "export.csv")
    result = _ccnb(
        ["new", "acme", "--transactions", "export.csv"], cwd=engagement, environment=environment
    )
    assert result.returncode == 0, result.stdout + result.stderr
    result = _ccnb(["run", "params/acme.yaml"], cwd=engagement, environment=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    reports = sorted(p.name for p in (engagement / "outputs" / "acme").glob("0*.html"))
    assert reports == [f"{p.stem}.html" for p in sorted((engagement / "notebooks").glob("0*"))]
    assert (engagement / "outputs" / "index.html").exists()
