"""``python -m rehearsal workspace``: serve the workspace emulator on 127.0.0.1 until interrupted.

    python -m rehearsal workspace [--port 8765] [--work-dir DIR] [--clock 2026-11-25T05:59:00-05:00]
                                  [--clock-file DIR/clock.json] [--secrets secrets.toml] [--env NAME=VALUE ...]

Builds the console's wheel from this checkout, puts it at ``/Workspace/Shared/outbound-ops-console/<wheel>``
and prints that path (for ``[databricks] wheel``), the host and the token. ``--secrets`` is a TOML file of
secret scopes (``[snowflake] password = "..."``) for ``{{secrets/scope/key}}`` in ``--env`` values; secrets
never go on the command line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from rehearsal.clock import EmulatorClock
from rehearsal.server import WorkspaceEmulator
from rehearsal.wheel import ROOT, build_wheel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal")
    sub = parser.add_subparsers(dest="command", required=True)
    ws = sub.add_parser("workspace", help="serve the Databricks workspace emulator")
    ws.add_argument("--port", type=int, default=0)
    ws.add_argument("--work-dir", type=Path, default=None)
    ws.add_argument("--clock", type=dt.datetime.fromisoformat, default=None, help="start time, ISO with offset")
    ws.add_argument("--clock-file", type=Path, default=None, help="where to write the clock (CONSOLE_CLOCK_FILE)")
    ws.add_argument("--secrets", type=Path, default=None)
    ws.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    ws.add_argument("--token", default="rehearsal-token")
    args = parser.parse_args(argv)
    env = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--env {item!r}: expected NAME=VALUE")
        env[name] = value
    secrets = tomllib.loads(args.secrets.read_text()) if args.secrets else {}
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="rehearsal-workspace-"))
    clock = EmulatorClock(args.clock, file=args.clock_file)
    wheel = build_wheel(ROOT / ".data" / "rehearsal" / "wheels")
    with WorkspaceEmulator(work, clock=clock, token=args.token, port=args.port, secrets=secrets,
                           cluster_env=env) as emulator:
        path = emulator.workspace.put_file(f"/Workspace/Shared/outbound-ops-console/{wheel.name}", wheel)
        sys.stdout.write(f"workspace emulator on {emulator.host} (token {args.token}); wheel at {path}; "
                         f"clock {clock.now().isoformat()}; work dir {work}\n")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
