"""``python -m rehearsal up``: the whole production rehearsal (``rehearsal.stack``) until interrupted;
``python -m rehearsal workspace``: only the workspace emulator on 127.0.0.1.

    python -m rehearsal up [--work-dir DIR] [--seed-days 20]

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
from zoneinfo import ZoneInfo

from rehearsal.clock import EmulatorClock
from rehearsal.server import WorkspaceEmulator
from rehearsal.wheel import ROOT, build_wheel

NEW_YORK = ZoneInfo("America/New_York")


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
    up = sub.add_parser("up", help="start the production rehearsal: PostgreSQL, warehouse, OIDC, SMTP, Databricks "
                                   "emulator, worker and two UIs, on 127.0.0.1")
    up.add_argument("--work-dir", type=Path, default=None, help="where its files and logs go (default: a new temp dir)")
    up.add_argument("--seed-days", type=int, default=20, help="business days of demo history in the warehouse")
    args = parser.parse_args(argv)
    if args.command == "up":
        return _up(args.work_dir or Path(tempfile.mkdtemp(prefix="rehearsal-")), args.seed_days)
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


def _up(work: Path, seed_days: int) -> int:
    from rehearsal.stack import PEOPLE, ROLES, RehearsalError, rehearsal

    print(f"starting the production rehearsal in {work} (logs there) ...", flush=True)
    try:
        with rehearsal(work, seed_days=seed_days, log=lambda m: print(f"  {m}", flush=True)) as r:
            roles = {who["sub"]: ROLES.get(who["email"]) or ROLES.get("@" + who["email"].split("@")[1], "viewer")
                     for who in PEOPLE.values()}
            print(f"ready in {r.timings['total start']} s, clock "
                  f"{r.clock.now().astimezone(NEW_YORK):%a %d %b %Y %H:%M} ET\n"
                  f"  UIs: {', '.join(r.ui_urls)} (sign in as {', '.join(f'{k} ({v})' for k, v in roles.items())})\n"
                  f"  Databricks workspace: {r.emulator.host} (token {r.emulator.token}), job {r.job_id}\n"
                  f"  move the clock: curl -H 'Authorization: Bearer {r.emulator.token}' -d "
                  f"'{{\"advance_seconds\": 600}}' {r.emulator.host}/rehearsal/clock\n"
                  f"  worker health and metrics: {r.metrics_url}/healthz, {r.metrics_url}/metrics\n"
                  f"  PostgreSQL: {r.url()}\n  settings: {r.settings_file}\nCtrl-C stops everything.", flush=True)
            while True:
                time.sleep(1)
    except KeyboardInterrupt:
        return 0
    except RehearsalError as exc:
        print(f"the rehearsal did not start: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
