"""Issue 18 in a real browser: a newcomer starts the demo at 19:30 ET on a business day, on a fresh data dir,
and Home and the Timeline look like 19:30 of a real day (done on time, the Gantt at 06:00-06:45), not a day
run live at 19:31.

The console's processes follow the rehearsal clock file (``CONSOLE_CLOCK_FILE``) set to 19:30 ET; the worker
runs in this process (it owns the embedded warehouse) on a clock frozen there, and keeps running while the
browser looks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from console import demo
from console.adapters.protocols import Adapters
from console.clock import CLOCK_FILE_ENV, ET, at_et
from console.ui import views
from rehearsal.clock import EmulatorClock
from tests.test_browser import ARTIFACTS, chromium, chromium_installed, settle, streamlit_server  # noqa: F401
from tests.test_pages import embedded_stack
from tests.test_replay_today import DAY, SMALL, running_worker

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/today-1930.png")


@pytest.fixture
def evening(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Adapters]]:
    """A fresh demo started at 19:30 ET: seeded (small), the worker's start-up done, and the UI serving."""
    clock_file = tmp_path / "clock.json"
    EmulatorClock(at_et(DAY, "19:30"), file=clock_file)
    monkeypatch.setenv(CLOCK_FILE_ENV, str(clock_file))  # this process and the Streamlit server
    monkeypatch.setenv("CONSOLE_METRICS_PORT", "0")
    with embedded_stack(tmp_path / "data") as (adapters, env):
        demo.ensure_demo(adapters, **SMALL)  # "now" is the clock file's: history ends the business day before
        with running_worker(adapters, at_et(DAY, "19:30"), {"workflow": 1, "alerts": 1}), \
                streamlit_server(env, tmp_path / "streamlit.log") as url:
            yield url, adapters


def gantt_bars(page: object) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """The Timeline's Gantt as the browser holds it: (task, start, end) of every bar, from the Plotly data."""
    page.locator(".js-plotly-plot .bars").first.wait_for(timeout=30_000)  # type: ignore[attr-defined]
    traces = page.evaluate(  # type: ignore[attr-defined]  # _fullData: the arrays as Plotly decoded them
        "() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(d => d._fullData"
        ".filter(t => t.type === 'bar')"
        ".map(t => ({base: Array.from(t.base), x: Array.from(t.x), y: Array.from(t.y)})))")
    bars = []
    for trace in traces:
        for base, width, task in zip(trace["base"], trace["x"], trace["y"], strict=True):
            start = dt.datetime.fromisoformat(str(base)[:26]).replace(tzinfo=ET)  # "…T06:03:43.470913000" ET
            bars.append((task, start, start + dt.timedelta(milliseconds=float(width))))
    return bars


def test_a_demo_started_at_1930_shows_today_as_it_would_have_happened(evening: tuple[str, Adapters]) -> None:
    url, adapters = evening
    names = [m.name for m in adapters.settings.milestones]
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, timeout=30_000)
        settle(page, "Refreshes every 30 s")
        body = page.inner_text("body")
        assert views.DEMO_BANNER in body and "Traceback" not in body
        assert "On track · Campaign results exported next, due 22:30 ET" in body, body[:1500]
        assert "Late ·" not in body and "Worker alive" in body
        shown = [v.strip() for v in page.get_by_test_id("stMetricValue").all_inner_texts()]
        assert DAY.strftime("%d %b") in shown and "19:3" in " ".join(shown)
        assert f"{len(adapters.spec.tasks)} of {len(adapters.spec.tasks)}" in shown
        cards = {name: page.get_by_test_id("stColumn").filter(has_text=name).last
                 .inner_text() for name in names}
        for name, text in cards.items():  # each milestone card: done, or not due yet; never late
            assert not any(word in text.lower() for word in ("late", "at risk", "failed")), (name, text)
        assert all("done" in cards[m] for m in names[:4]) and "pending" in cards[names[4]], cards
        page.screenshot(path=str(SCREENSHOT), timeout=15_000)

        page.goto(f"{url}/Timeline", timeout=30_000)
        settle(page, "every attempt, retries and repairs included")
        page.locator(".js-plotly-plot .bars").first.wait_for(timeout=30_000)
        bars = gantt_bars(page)
        assert {task for task, _, _ in bars} == {t.short_key for t in adapters.spec.tasks}
        first, last = min(s for _, s, _ in bars), max(e for _, _, e in bars)
        assert at_et(DAY, "06:00") <= first <= at_et(DAY, "06:15"), first
        assert at_et(DAY, "06:30") <= last <= at_et(DAY, "06:50"), last
        assert "Late ·" not in page.inner_text("body")
        axis = page.evaluate("() => document.querySelector('.js-plotly-plot')._fullLayout.xaxis.range")
        low, high = (dt.datetime.fromisoformat(str(v)[:19]).replace(tzinfo=ET) for v in axis)
        assert at_et(DAY, "05:50") <= low and high <= at_et(DAY, "08:15"), axis  # the run and the target
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "timeline-1930.png"), timeout=15_000)
