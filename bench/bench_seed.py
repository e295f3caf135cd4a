"""Seed the demo history on a fresh temporary warehouse and print the time of each step.

    PYTHONPATH=. .venv/bin/python bench/bench_seed.py [--accounts 200000] [--days 90] [--workflow-days 2]

Then runs the whole workflow (all 11 tasks, serial) for the next business day(s), as the 06:00 run does,
after ``prepare_day``, and the Genesys upload and export for it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._util import free_port


class ServerProcess:
    """The warehouse server in its own process, as ``make run`` runs it (no GIL shared with the client)."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        from console.adapters.embedded_warehouse import is_listening

        code = ("from console.settings import load_settings\n"
                "from console.adapters.embedded_warehouse import WarehouseServer\n"
                "WarehouseServer(load_settings()).serve_forever()\n")
        root = Path(__file__).resolve().parent.parent
        env = {**os.environ, "PYTHONPATH": str(root)}
        self.process = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=root)
        deadline = time.monotonic() + 60
        while not is_listening(self.settings.warehouse_host, self.settings.warehouse_port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the warehouse server process did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workflow-days", type=int, default=2, help="daily workflow runs to time after the seed")
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 11, 25))
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument("--in-process", action="store_true",
                        help="run the warehouse server in this process (as the tests do) instead of its own")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench_seed_"))
    os.environ["CONSOLE_DATA_DIR"] = str(data_dir)
    os.environ["CONSOLE_WAREHOUSE_PORT"] = str(free_port())
    import dataclasses

    from console.adapters.embedded_warehouse import WarehouseServer, open_session
    from console.clock import last_business_days, next_business_day
    from console.settings import load_settings
    from console.workflow import load_workflow
    from jobs.demo import genesys
    from jobs.demo.seed import build_warehouse, prepare_day, run_tasks

    settings = dataclasses.replace(load_settings(), demo_accounts=args.accounts)
    server = WarehouseServer(settings) if args.in_process else ServerProcess(settings)
    server.start()
    try:
        session = open_session(settings)
        spec = load_workflow(settings.workflow_spec)
        days = last_business_days(args.end, args.days)
        print(f"seeding {args.accounts:,} accounts x {len(days)} business days ({days[0]} to {days[-1]})")
        started = time.perf_counter()
        result = build_warehouse(session, settings, spec, days, progress=lambda msg: print("  " + msg, flush=True))
        print(f"build_warehouse total: {time.perf_counter() - started:.1f} s")
        for step, seconds in result["timings"].items():
            print(f"  {step:<22} {seconds:6.2f} s")

        day = days[-1]
        for _ in range(args.workflow_days):
            day = next_business_day(day)
            t0 = time.perf_counter()
            prepare_day(session, settings, day)
            t1 = time.perf_counter()
            timings: list[str] = []
            run_tasks(session, settings, spec, day, day, progress=timings.append)
            t2 = time.perf_counter()
            genesys.upload(session, settings.tables, [day])
            t3 = time.perf_counter()
            genesys.export(session, settings.tables, [day])
            t4 = time.perf_counter()
            print(f"{day}: prepare_day {t1 - t0:.2f} s, workflow (11 tasks, serial) {t2 - t1:.2f} s, "
                  f"upload {t3 - t2:.2f} s, export {t4 - t3:.2f} s")
            for line in timings:
                print("    " + line)
    finally:
        server.stop()
        if args.keep:
            print(f"data kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
