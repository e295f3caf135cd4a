"""First `serve` on an empty data dir (builds the demo history) and a second start, to /_stcore/health.

Targets (issue 2): first start healthy with 90 days at 200k accounts within 60 s; later starts within 10 s.
Usage: python bench/bench_startup.py [--accounts 200000] [--days 90]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._util import ROOT, env_for, free_port, healthy


def start_and_time(env: dict[str, str], ui_port: int, limit: float = 300) -> tuple[float, subprocess.Popen[bytes]]:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "console", "serve"], cwd=ROOT, env=env, start_new_session=True)
    while not healthy(ui_port):
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited with {proc.returncode}")
        if time.perf_counter() - started > limit:
            os.killpg(proc.pid, signal.SIGKILL)
            raise RuntimeError("not healthy in time")
        time.sleep(0.2)
    return time.perf_counter() - started, proc


def stop(proc: subprocess.Popen[bytes]) -> float:
    started = time.perf_counter()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        data = Path(tmp)
        settings = data / "console.toml"
        text = (ROOT / "console.toml").read_text()
        text = text.replace("accounts = 200000", f"accounts = {args.accounts}")
        text = text.replace("history_days = 90", f"history_days = {args.days}")
        text = text.replace('spec = "jobs/outbound_lists.job.yml"', f'spec = "{ROOT / "jobs/outbound_lists.job.yml"}"')
        settings.write_text(text)
        ui_port, wh_port = free_port(), free_port()
        env = env_for(data / "data", wh_port, ui_port)
        env["CONSOLE_SETTINGS"] = str(settings)
        first, proc = start_and_time(env, ui_port)
        stop_first = stop(proc)
        second, proc = start_and_time(env, ui_port)
        stop(proc)
    print(f"accounts={args.accounts:,} history_days={args.days}")
    print(f"first start (install done, empty data dir) to healthy: {first:.1f} s   (target 60 s)")
    print(f"stop: {stop_first:.1f} s")
    print(f"second start to healthy: {second:.1f} s   (target 10 s)")


if __name__ == "__main__":
    main()
