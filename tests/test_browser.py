"""The real UI in a real browser: ``streamlit run Home.py`` as a subprocess, Debian's Chromium via Playwright.

The stack (warehouse server, state DB with history and today's run, the failed run of the last history day
and that day's warehouse data) is the one the page tests use. Every wait is bounded; the server subprocess
is always stopped. Screenshots of Home, Timeline and Workflow at 1400×1000 land in tests/artifacts/.

The rerun test plays the worker's part with the worker's own call (``engine.process_requests`` polled in
a thread of this process, which owns the embedded warehouse), so the repaired tasks are the real list jobs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from console.store import action_requests, audit_log
from console.ui import views
from tests.test_pages import ROOT, Stack, free_port, running_stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = ROOT / "tests" / "artifacts"

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def chromium_installed() -> None:
    """A browser test that cannot run is a set-up failure, not a skip: `make test` installs Chromium."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is not installed at /usr/bin/chromium: run `make test` (it installs it "
                    "with apt) or `apt-get install chromium`; never `playwright install`")


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


@contextmanager
def streamlit_server(stack_env: dict[str, str], log_path: Path) -> Iterator[str]:
    """``streamlit run Home.py`` on a free loopback port with this process's env plus ``stack_env``; yields its
    URL once healthy, and stops it however the test ends."""
    env = {**os.environ, **stack_env}
    env.pop("CONSOLE_SETTINGS", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, process, timeout=30)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[tuple[str, Stack]]:
    """The stack plus a Streamlit server on a free loopback port, stopped however the test ends."""
    with running_stack(tmp_path / "data", seed_days=1) as stack, \
            streamlit_server(stack.env, tmp_path / "streamlit.log") as url:
        yield url, stack


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright, closed however the test ends."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def settle(page: object, text: str) -> None:
    """Wait for ``text`` (the end of a page body), then let charts and canvases paint."""
    page.get_by_text(text).first.wait_for(timeout=30_000)  # type: ignore[attr-defined]
    page.wait_for_timeout(800)  # type: ignore[attr-defined]


def node_fill(page: object, short_key: str) -> str:
    """The fill colour of a task's box in the rendered DAG (SVG)."""
    node = page.locator("svg g.node", has_text=short_key).first  # type: ignore[attr-defined]
    return str(node.locator("path, polygon").first.get_attribute("fill"))


def test_home_checklist_audit_timeline_in_chromium_with_screenshots(ui: tuple[str, Stack]) -> None:
    url, stack = ui
    run = stack.adapters.engine.run_for_date(stack.day)
    done = f"{run.done_count if run else 0} of {len(stack.adapters.spec.tasks)}"
    started = time.perf_counter()
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, timeout=30_000)
        settle(page, "Refreshes every 30 s")
        shown = [v.strip() for v in page.get_by_test_id("stMetricValue").all_inner_texts()]
        assert stack.day.strftime("%d %b") in shown and done in shown
        body = page.inner_text("body")
        assert views.DEMO_BANNER in body and "Traceback" not in body
        assert any(word in body for word in ("On track ·", "At risk ·", "Late ·", "Failed ·", "Done ·"))
        page.screenshot(path=str(ARTIFACTS / "home.png"), timeout=15_000)

        before = int(next(v for v in shown if v.endswith(f"of {len(stack.adapters.settings.checklist)}"))
                     .split()[0])

        # An operator ticks an item with a note; Home's progress and the audit page show it.
        page.goto(f"{url}/Checklist", timeout=30_000)
        settle(page, "Day report (CSV)")
        item = page.get_by_role("combobox", name="Item")  # type to filter, Enter to choose
        item.click()
        item.fill("Tableau")
        page.get_by_role("option").filter(has_text="Check Tableau monitoring dashboard").first.wait_for()
        item.press("Enter")
        assert item.input_value() == "09:00 · Check Tableau monitoring dashboard"
        page.get_by_label("Note (plain text", exact=False).fill("<b>green</b> all dashboards")
        page.get_by_role("button", name="Apply").click()
        page.get_by_text("Check Tableau monitoring dashboard: ticked").first.wait_for(timeout=15_000)
        page.goto(url, timeout=30_000)
        settle(page, "Refreshes every 30 s")
        shown = [v.strip() for v in page.get_by_test_id("stMetricValue").all_inner_texts()]
        assert f"{before + 1} of {len(stack.adapters.settings.checklist)}" in shown
        page.goto(f"{url}/Audit", timeout=30_000)
        settle(page, "The audit log is append-only")
        assert "1 of 1 entries" in page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / "audit.png"), timeout=15_000)

        page.goto(f"{url}/Timeline?date={stack.failed_day}", timeout=30_000)
        settle(page, "every attempt, retries and repairs included")
        assert "Failed ·" in page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / "timeline.png"), timeout=15_000)
    assert time.perf_counter() - started < 90


def test_a_failed_task_is_rerun_from_the_workflow_page_once(ui: tuple[str, Stack]) -> None:
    url, stack = ui
    engine = stack.adapters.engine
    stop = threading.Event()

    def worker() -> None:  # the worker's action poll, bounded by the test
        while not stop.wait(0.5):
            engine.process_requests()

    poller = threading.Thread(target=worker, name="action-poll", daemon=True)
    poller.start()
    link = f"{url}/Workflow?date={stack.failed_day}"
    try:
        with chromium() as browser:
            first = browser.new_page(viewport={"width": 1400, "height": 1000})
            second = browser.new_page(viewport={"width": 1400, "height": 1000})
            for page in (first, second):
                page.goto(link, timeout=30_000)
                settle(page, "Run history: last 30 business days")
            assert node_fill(first, "DI-749") == "#c62828"  # red: failed
            first.screenshot(path=str(ARTIFACTS / "workflow.png"), timeout=15_000)

            for page in (first, second):  # two people open the same confirmation
                page.get_by_role("button", name="Rerun failed tasks and their dependents").click()
                dialog = page.get_by_role("dialog")
                dialog.get_by_text("These 5 task(s) will run").wait_for(timeout=15_000)
                assert "already uploaded" in dialog.inner_text()
                dialog.get_by_text("I understand that lists already uploaded").click()
                page.wait_for_timeout(300)
            first.get_by_role("dialog").get_by_role("button", name="Confirm").click(no_wait_after=True)
            second.get_by_role("dialog").get_by_role("button", name="Confirm").click(no_wait_after=True)

            first.get_by_text("Requested").first.wait_for(timeout=15_000)
            deadline = time.monotonic() + 90
            while node_fill(first, "DI-749") != "#2e7d32" and time.monotonic() < deadline:  # green
                first.wait_for_timeout(1000)
            assert node_fill(first, "DI-749") == "#2e7d32", first.inner_text("body")[:2000]
            assert "Traceback" not in first.inner_text("body") + second.inner_text("body")
            first.screenshot(path=str(ARTIFACTS / "workflow-after-rerun.png"), timeout=15_000)
    finally:
        stop.set()
        poller.join(timeout=120)
    repaired = engine.get_run(stack.failed_run)
    assert repaired.state.value == "succeeded" and len(repaired.repairs) == 1
    with stack.adapters.store.connect() as conn:
        requests = conn.execute(sa.select(action_requests)).all()
        outcomes = sorted(r.outcome for r in conn.execute(sa.select(audit_log)))
    assert len(requests) == 1 and requests[0].kind == "repair"
    assert outcomes in (["accepted", "duplicate"], ["accepted", "refused"])  # the second click queued nothing


def test_a_leak_holds_the_list_on_home_and_an_engineer_releases_it_in_chromium(ui: tuple[str, Stack]) -> None:
    from snowflake.snowpark import functions as F

    from console import reconcile
    from console.clock import FrozenClock, at_et

    url, stack = ui
    day, tables = stack.failed_day, stack.adapters.settings.tables
    with stack.adapters.warehouse.session() as session:  # 06:40: lists built, nothing uploaded; one leak
        session.table(tables.import_log).delete(F.col("BUSINESS_DATE") == F.lit(day))
        leak = (session.table(tables.suppressions).filter(F.col("CHANNEL") == "ALL").sort("ACCOUNT_ID")
                .limit(1).collect()[0])
        session.sql(f"INSERT INTO {tables.outbound_lists} (BUSINESS_DATE, LIST_NAME, CHANNEL, DESTINATION, "
                    f"ACCOUNT_ID, TASK_KEY, CONTACT, DAYS_PAST_DUE, PRIORITY, GENERATED_AT) VALUES ('{day}', "
                    f"'GR_CALL_LIST', 'CALL', 'GENESYS', {leak['ACCOUNT_ID']}, 'BI-737', '555-0100', 40, 999999, "
                    f"'{day} 11:00:00')").collect()
    reconcile.reconcile_day(stack.adapters, day, "worker", trigger="CHANGE", clock=FrozenClock(at_et(day, "06:40")))
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/?date={day}", timeout=30_000)
        settle(page, "Refreshes every 30 s")
        body = page.inner_text("body")
        assert "GR_CALL_LIST held" in body and f"suppressed account(s) ({leak['REASON']})" in body
        assert "Failed ·" in body and "Traceback" not in body
        page.screenshot(path=str(ARTIFACTS / "home-held.png"), timeout=15_000)
        page.get_by_label("Why GR_CALL_LIST may be uploaded as it is").fill("legal cleared the account")
        page.get_by_role("button", name="Release GR_CALL_LIST").click()
        page.get_by_text("released for the upload by").first.wait_for(timeout=15_000)
        assert "GR_CALL_LIST held" not in page.inner_text("body")
        page.goto(f"{url}/Audit", timeout=30_000)
        settle(page, "The audit log is append-only")
        assert "2 of 2 entries" in page.inner_text("body")  # the console's hold and the person's release
        page.screenshot(path=str(ARTIFACTS / "audit-release.png"), timeout=15_000)
    with stack.adapters.store.connect() as conn:
        released = conn.execute(sa.select(audit_log).where(audit_log.c.action == "gate.release")).all()
    assert [(r.actor, r.outcome) for r in released] == [(stack.adapters.settings.local_user, "accepted")]
    assert "legal cleared the account" in released[0].detail
