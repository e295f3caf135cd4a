"""Jobs API requests per 30 s with N browser sessions on Home, in production mode (the rehearsal).

    .venv/bin/python bench/bench_rehearsal_sessions.py [--sessions 1,20] [--seconds 30]

Starts the rehearsal (``rehearsal.stack``: PostgreSQL, the warehouse through ``[connections.snowflake]``, the
workspace emulator, a worker and two UIs, all in production mode), lets the 06:00 schedule fire on the
rehearsal's clock, signs N Chromium sessions in through the OIDC provider (spread over the two UIs) and keeps
them on Home. It counts every request the emulator answers during ``--seconds`` (after the sessions have
rendered), by path, with the worker running, and prints the figures. Bounded: at most 20 sessions, 120 s.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.clock import at_et  # noqa: E402
from rehearsal.stack import PEOPLE, WEDNESDAY, rehearsal  # noqa: E402
from tests.test_browser import launch  # noqa: E402


def sign_in(page, url: str, who: str) -> None:
    page.goto(url, timeout=60_000)
    page.get_by_role("button", name="Log in").click(timeout=60_000)
    page.locator("input[name=sub]").fill(PEOPLE[who]["sub"], timeout=30_000)
    page.get_by_role("button", name="Authorize").click()
    page.get_by_text("Refreshes every 30 s").first.wait_for(timeout=90_000)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", default="1,20")
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    counts = [min(20, int(n)) for n in args.sessions.split(",")]
    seconds = min(120.0, args.seconds)
    from playwright.sync_api import sync_playwright

    with rehearsal(Path(tempfile.mkdtemp(prefix="bench-rehearsal-")), seed_days=10) as r:
        r.clock.set(at_et(WEDNESDAY, "05:59") + dt.timedelta(seconds=58))
        run_id = r.wait_for_runs(1)[0]["run_id"]
        print(f"rehearsal up in {r.timings['total start']} s; run {run_id} started on the rehearsal clock")
        with sync_playwright() as p:
            browser = launch(p)
            try:
                for n in counts:
                    contexts = []
                    for i in range(n):
                        context = browser.new_context(viewport={"width": 1200, "height": 900})
                        sign_in(context.new_page(), r.ui_urls[i % len(r.ui_urls)], "olga")
                        contexts.append(context)
                    start = len(r.emulator.requests)
                    time.sleep(seconds)
                    seen = r.emulator.requests[start:]
                    paths = collections.Counter(path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1]
                                                for _, path in seen)
                    print(f"{n:>2} session(s) on Home: {len(seen)} Jobs API requests in {seconds:.0f} s "
                          f"({len(seen) * 30 / seconds:.1f} per 30 s): {dict(paths.most_common())}")
                    for context in contexts:
                        context.close()
            finally:
                browser.close()
        state = r.emulator.workspace.get_run({"run_id": str(run_id)})["state"]
        print(f"the run meanwhile: {state['life_cycle_state']} {state.get('result_state') or ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
