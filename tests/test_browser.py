"""The real UI in a real browser: ``streamlit run Home.py`` as a subprocess, Debian's Chromium via Playwright.

The stack (warehouse server, state DB with history and today's run) is the one the page tests use. Every
wait is bounded; the server subprocess is always stopped. A screenshot lands in tests/artifacts/home.png.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.ui import views
from tests.test_pages import ROOT, Stack, free_port, running_stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = ROOT / "tests" / "artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium "
                                                     "(apt-get install chromium); never `playwright install`"),
]

def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"streamlit was not healthy within {timeout} s")


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[tuple[str, Stack]]:
    """The stack plus a Streamlit server on a free loopback port, stopped however the test ends."""
    with running_stack(tmp_path / "data") as stack:
        env = {**os.environ, **stack.env}
        env.pop("CONSOLE_SETTINGS", None)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        port = free_port()
        log = (tmp_path / "streamlit.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, process, timeout=30)
            yield url, stack
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            log.close()


def test_home_in_chromium_shows_the_business_date_and_the_workflow_state(ui: tuple[str, Stack]) -> None:
    from playwright.sync_api import sync_playwright

    url, stack = ui
    run = stack.adapters.engine.run_for_date(stack.day)
    headline = views.workflow_headline(run)
    done = f"{run.done_count if run else 0} of {len(stack.adapters.spec.tasks)}"
    started = time.perf_counter()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, timeout=30_000)
            values = page.get_by_test_id("stMetricValue")
            values.first.wait_for(timeout=30_000)
            page.get_by_text("Refreshes every 30 s").first.wait_for(timeout=15_000)  # the end of the body
            shown = [v.strip() for v in values.all_inner_texts()]
            assert stack.day.isoformat() in shown
            assert headline in shown
            assert done in shown
            body = page.inner_text("body")
            assert views.DEMO_BANNER in body
            assert "Traceback" not in body
            page.wait_for_timeout(500)  # let the charts and the dataframe canvas paint
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True, timeout=15_000)
        finally:
            browser.close()
    assert time.perf_counter() - started < 45
