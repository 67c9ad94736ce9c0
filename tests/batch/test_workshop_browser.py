"""The workshop in a real JupyterLab: run the budget notebook, move the budget, the chart redraws.

JupyterLab is started headless on a free port with a token in an engagement folder (`ccnb
init`), and the system Chromium, driven by Playwright, opens ``04_budget_allocation``, runs
every cell, moves the budget slider with the keyboard as a consultant would, and the section
under it changes (its sentence names the new budget; the screenshots differ).
"""

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server in a fresh engagement folder: (base url, token, folder)."""
    engagement = tmp_path / "engagement"
    subprocess.run([BIN / "ccnb", "init", str(engagement)], check=True, capture_output=True)
    port, token = free_port(), secrets.token_hex(16)
    environment = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config")}
    environment.pop("CCNB_WIDGETS", None)
    environment.pop("CCNB_CACHE_DIR", None)
    server = subprocess.Popen(
        [
            BIN / "jupyter",
            "lab",
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={engagement}",
            "--LabApp.expose_app_in_browser=True",
            "--allow-root",  # CI containers run as root
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        cwd=engagement,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 60 s")
        yield base, token, engagement
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_moving_the_budget_slider_redraws_the_strategies_section(jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright

    base, token, _ = jupyterlab
    url = f"{base}/lab/tree/notebooks/04_budget_allocation.ipynb?token={token}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
            "&& window.jupyterapp.shell.currentWidget.sessionContext "
            "&& window.jupyterapp.shell.currentWidget.sessionContext.session",
            timeout=120_000,
        )
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        what_if = page.locator(".jp-OutputArea-output .widget-vbox").first
        what_if.wait_for(timeout=180_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-OutputArea-output .widget-vbox')]"
            ".some(box => box.textContent.includes('spending €4,000 where'))",
            timeout=120_000,
        )
        before = what_if.screenshot(path=str(tmp_path / "before.png"))

        handle = what_if.locator(".widget-slider .noUi-handle").first
        handle.focus()
        for _ in range(5):
            handle.press("ArrowRight")  # the budget control: five steps up
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-OutputArea-output .widget-vbox')]"
            ".some(box => /spending €[0-9,]+ where/.test(box.textContent)"
            " && !box.textContent.includes('spending €4,000 where'))",
            timeout=60_000,
        )
        moved = what_if.text_content()
        after = what_if.screenshot(path=str(tmp_path / "after.png"))
        browser.close()
    assert "spending €4,000 where" not in moved
    assert before != after
