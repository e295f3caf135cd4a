"""The Volumes page's script run with 365 business days of history in the daily aggregate, warm cache.

Seeds a small real demo (the last days, so the page has lists for the date), then fills the daily volume
aggregate with a year of history per list and channel, and reruns the page in AppTest: one cold run, then
``--runs`` warm reruns for the default view (60 business days) and for the whole year in the chart.

Target (issue 5): warm-cache script run median within 150 ms.
Usage: python bench/bench_volumes_page.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._util import ROOT, warehouse_process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365, help="business days of history in the aggregate")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with warehouse_process("bench-volumes-"):
        run(args)


def run(args: argparse.Namespace) -> None:
    import dataclasses

    from streamlit.testing.v1 import AppTest

    from console import volumes
    from console.app import build_adapters
    from console.clock import SystemClock, last_business_days
    from console.demo import history_end
    from console.settings import load_settings
    from jobs.common import values_frame
    from jobs.demo import seed

    settings = load_settings()
    adapters = build_adapters(settings)
    day = history_end(SystemClock().now())
    recent = last_business_days(day, 5)
    year = last_business_days(day, args.days)
    with adapters.warehouse.session() as session:
        seed.build_warehouse(session, dataclasses.replace(settings, demo_accounts=5000), adapters.spec, recent)
        volumes.refresh_daily_volumes(session, settings.tables)
        lists = volumes.daily_volumes(session, settings.tables, recent[-1], recent[-1])
        older = [d for d in year if d < recent[0]]
        # Each list's size today, give or take 10 %, on every older day.
        rows = [(d, r.LIST_NAME, r.CHANNEL, r.DESTINATION, int(r.RECORDS * (0.9 + ((d.toordinal() * 7 + i) % 11) / 50)))
                for d in older for i, r in enumerate(lists.itertuples())]
        for start in range(0, len(rows), 2000):
            frame = values_frame(session, [("BUSINESS_DATE", "DATE"), ("LIST_NAME", "VARCHAR"), ("CHANNEL", "VARCHAR"),
                                           ("DESTINATION", "VARCHAR"), ("RECORDS", "NUMBER(12,0)")],
                                 rows[start:start + 2000])
            frame.select("BUSINESS_DATE", "LIST_NAME", "CHANNEL", "DESTINATION", "RECORDS",
                         frame["RECORDS"].alias("ACCOUNTS"), frame["BUSINESS_DATE"].cast("TIMESTAMP_NTZ")
                         .alias("REFRESHED_AT")).write.save_as_table(settings.tables.daily_volumes, mode="append",
                                                                     column_order="name")
        total = session.table(settings.tables.daily_volumes).count()
    print(f"daily aggregate: {total:,} rows over {len(year)} business days ({year[0]} to {year[-1]}), "
          f"{len(lists)} lists")

    def timed(at: AppTest) -> float:
        started = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - started
        assert not at.exception, at.exception
        return elapsed

    at = AppTest.from_file(str(ROOT / "pages/4_Volumes.py"), default_timeout=60)
    at.run()
    at.date_input(key="business_date").set_value(day)
    cold = timed(at)
    warm = [timed(at) for _ in range(args.runs)]
    print(f"default view (60 business days): cold {cold * 1000:.0f} ms; warm median "
          f"{statistics.median(warm) * 1000:.0f} ms (min {min(warm) * 1000:.0f}, max {max(warm) * 1000:.0f}) "
          f"over {args.runs} runs")
    at.date_input(key="trend_dates").set_value((year[0], day))
    cold = timed(at)
    warm = [timed(at) for _ in range(args.runs)]
    charts = at.get("plotly_chart")
    print(f"whole year in the chart ({len(year)} business days): cold {cold * 1000:.0f} ms; warm median "
          f"{statistics.median(warm) * 1000:.0f} ms (min {min(warm) * 1000:.0f}, max {max(warm) * 1000:.0f}) "
          f"over {args.runs} runs; {len(charts)} charts")


if __name__ == "__main__":
    main()
