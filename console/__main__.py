"""The console's one command line: ``python -m console --help``.

Each command imports the services it uses when it runs ("on demand" below): they pull in Snowpark, pandas,
SQLAlchemy and databricks-sdk (about 2 s), which ``--help``, ``check`` and ``ui`` have no use for.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from console import logs
from console.auth import check_ui, cli_user
from console.clock import SystemClock, business_date
from console.errors import ConsoleError, InvalidRequest
from console.settings import Settings, load_settings, resolve_mode, secrets_path
from console.workflow import load_workflow

ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger("console")


def _setup_logging(verbose: bool = False) -> None:
    logs.configure(verbose)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; use YYYY-MM-DD") from None


def _adapters(process: str = "cli"):  # type: ignore[no-untyped-def]
    # on demand (see the module docstring)
    from console.app import build_adapters

    return build_adapters(load_settings(), process)


def _progress(message: str) -> None:
    print(f"  {message}", flush=True)


# ------------------------------------------------------------------------------------------------ commands
def cmd_check(_: argparse.Namespace) -> int:
    settings = load_settings()
    spec = load_workflow(settings.workflow_spec)
    print(f"settings OK: {settings.source}")
    print(f"workflow OK: {spec.path} ({spec.job_name}, {len(spec.tasks)} tasks)")
    print(f"mode: {resolve_mode(settings)}")
    return 0


def cmd_warehouse(_: argparse.Namespace) -> int:
    # on demand (see the module docstring)
    from console.adapters.embedded_warehouse import WarehouseServer

    settings = load_settings()
    server = WarehouseServer(settings)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(f"embedded warehouse on {settings.warehouse_host}:{settings.warehouse_port} "
          f"(data in {settings.warehouse_dir}); Ctrl-C stops it", flush=True)
    server.serve_forever()
    return 0


def cmd_worker(_: argparse.Namespace) -> int:
    # on demand (see the module docstring)
    from console.worker import run_worker

    run_worker(_adapters("worker"))
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    # on demand (see the module docstring)
    from console import demo

    adapters = _adapters()
    if not adapters.is_demo:
        raise InvalidRequest("seed only works on the embedded stack (demo data); this is production mode.")
    summary = demo.ensure_demo(adapters, progress=_progress, days=args.days, accounts=args.accounts,
                               force=args.force)
    print(summary)
    return 0


def cmd_run_workflow(args: argparse.Namespace) -> int:
    # on demand (see the module docstring)
    from console import demo
    from console.actions import trigger_from_cli
    from console.status import check_date

    adapters = _adapters()
    who = cli_user(adapters.settings, adapters.mode, os.environ)
    day = check_date(args.date or business_date(SystemClock().now(), adapters.settings.day_rolls_at), SystemClock())
    if adapters.is_demo:
        print(f"preparing upstream feeds for {day} (demo loan tape, SFTP drop)", flush=True)
        demo.prepare_day(adapters, day)
    run = trigger_from_cli(adapters, who, day, args.rerun)
    if run.state.is_terminal and not args.rerun:
        print(f"run {run.run_id} for {day} already ended: {run.state.label} (use --rerun for a new run)")
    else:
        print(f"run {run.run_id} for {day}: executing {len(adapters.spec.tasks)} tasks", flush=True)
        started = time.perf_counter()
        run = adapters.engine.execute(run.run_id)
        print(f"run {run.run_id} {run.state.label} in {time.perf_counter() - started:.1f} s")
    for task in run.tasks:
        line = f"  {task.state.label:16} {task.task_key}"
        if task.duration_seconds is not None:
            line += f"  ({task.duration_seconds:.1f} s, attempt {task.attempt})"
        if task.error_message and task.state.value != "succeeded":
            line += f"\n      {task.error_message}"
        print(line)
    return 0 if run.state.value == "succeeded" else 1


def cmd_status(args: argparse.Namespace) -> int:
    # on demand (see the module docstring)
    from console import alerts
    from console.facts import alert_rows
    from console.reconcile import status_sections  # checks, reconciliation, anomalies
    from console.status import check_date, day_status

    adapters = _adapters()
    day = check_date(args.date, SystemClock()) if args.date else None
    status = day_status(adapters, day)
    data = status.to_json()
    data["alerts"] = alerts.to_json(alert_rows(adapters, status.business_date, status.business_date))
    # For cron and monitoring: 1 when the day failed or, for the current business date, the worker is down.
    current = status.business_date == business_date(status.now, adapters.settings.day_rolls_at)
    worker_down = current and status.worker is not None and not status.worker.alive
    code = 1 if status.overall.state == "failed" or worker_down else 0
    if args.json:
        data.update(status_sections(adapters, status.business_date))
        print(json.dumps(data, indent=2))
        return code
    wf = data["workflow"]
    print(f"{data['business_date']}  {status.overall.words.upper()}: {status.overall.reason}")
    print(f"  mode {data['mode']}  workflow {wf['state']} ({wf['tasks_done']}/{wf['tasks_total']} tasks)  "
          f"worker: {data['worker']['message']}")
    for m in data["milestones"]:
        print(f"  {m['planned'][11:16]}  {m['status']:8} {m['name']}: {m['detail']}")
    for item in data["lists"]:
        print(f"  {item['records']:>9,}  {item['channel']:5} {item['list_name']}")
    if data["warehouse_error"]:
        print(f"  warehouse: {data['warehouse_error']}")
    return code


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check every configured system; exit 1 if one is unreachable."""
    # on demand (see the module docstring)
    from console.app import build_adapters
    from console.doctor import resolved_settings, run_checks

    settings = load_settings()
    checks = run_checks(settings, build_adapters(settings))
    for check in checks:
        mark = "skip" if check.skipped else "ok" if check.ok else "FAIL"
        print(f"{mark:4}  {check.system:16} {check.detail}")
        if not check.ok and check.fix:
            print(f"      {'':16} fix: {check.fix}")
    if args.settings:
        print(json.dumps(resolved_settings(settings), indent=2, default=str))
    failed = [c.system for c in checks if not c.ok]
    print(f"{len(failed)} system(s) unreachable: {', '.join(failed)}" if failed else "every configured system answers")
    return 1 if failed else 0


def cmd_deploy_job(args: argparse.Namespace) -> int:
    """Create or reset the Databricks job from the workflow spec (``--dry-run``: only show the difference)."""
    # on demand (see the module docstring)
    from console.adapters.databricks import DatabricksEngine
    from console.deploy import deploy_job
    from console.store import StateStore

    settings = load_settings()
    spec = load_workflow(settings.workflow_spec)
    engine = DatabricksEngine(StateStore(settings.resolved_state_url), spec, settings.databricks)
    what, lines = deploy_job(engine, spec, settings.databricks, dry_run=args.dry_run)
    for line in lines:
        print(f"  {line}")
    print(what)
    return 0

def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the state DB's schema to this console's migrations, as its owner; ``--grant`` the console's role."""
    # on demand (see the module docstring)
    from console.store import migrate

    url = args.url or os.environ.get("CONSOLE_STATE_OWNER_URL") or load_settings().resolved_state_url
    for line in migrate(url, grant=args.grant or ""):
        print(line)
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Reconcile a date and run the quality checks; stored like the worker's runs. Exit 1 on a mismatch/fail."""
    # on demand (see the module docstring)
    from console.reconcile import request_reconcile
    from console.status import check_date

    adapters = _adapters()
    who = cli_user(adapters.settings, adapters.mode, os.environ)
    day = check_date(args.date or business_date(SystemClock().now(), adapters.settings.day_rolls_at), SystemClock())
    result = request_reconcile(adapters, who, day, trigger="CLI")
    failed = [c for c in result.checks if c.status == "fail"]
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(f"{day}: {result.matched} of {result.pairs} Genesys lists matched, "
              f"{len(result.mismatches)} mismatch(es), {len(failed)} failed check(s)")
        for r in result.rows.itertuples():
            accepted = "—" if _missing(r.ACCEPTED) else f"{int(r.ACCEPTED):,}"  # pd.NA before the upload
            print(f"  {r.STATUS:8} {r.LIST_NAME} ({r.CHANNEL}): {int(r.GENERATED):,} → {accepted} → "
                  f"{int(r.EXPORTED):,}  {r.REASON}")
        for c in result.checks:
            print(f"  [{c.status}] {c.title}: {c.evidence}")
    return 1 if failed or len(result.mismatches) else 0


def _missing(value: object) -> bool:
    """None, NaN or pandas' NA (``NA != NA`` raises "boolean value of NA is ambiguous")."""
    return value is None or str(value) in ("nan", "<NA>", "NaT")


def cmd_ui(_: argparse.Namespace) -> int:
    # on demand (see the module docstring)
    from console.app import check_mode

    settings = load_settings()
    check_ui(settings, check_mode(settings), settings.ui_address, settings.secrets.get("auth"))
    return subprocess.call(_ui_command(settings), cwd=ROOT)


def _ui_command(settings: Settings) -> list[str]:
    """Streamlit on ``[console] ui_address``/``ui_port``, reading the console's own secrets file (``st.login``)."""
    return [sys.executable, "-m", "streamlit", "run", str(ROOT / "Home.py"), "--server.address", settings.ui_address,
            "--server.port", str(settings.ui_port), "--server.headless", "true", "--browser.gatherUsageStats",
            "false", "--secrets.files", str(secrets_path())]


def _local_host(address: str) -> str:
    """Where this machine reaches a server bound to ``address``."""
    return "127.0.0.1" if address in ("", "0.0.0.0", "::") else address


def cmd_serve(args: argparse.Namespace) -> int:
    """Warehouse + worker + UI together; Ctrl-C stops all three."""
    # on demand (see the module docstring)
    from console import demo
    from console.adapters.embedded_warehouse import is_listening
    from console.app import build_adapters

    settings = load_settings()
    adapters = build_adapters(settings)
    check_ui(settings, adapters.mode, settings.ui_address, settings.secrets.get("auth"))  # before anything starts
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    started = time.perf_counter()

    def spawn(name: str, command: list[str]) -> subprocess.Popen[bytes]:
        print(f"starting {name}", flush=True)
        child = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
        children.append(child)
        return child

    try:
        if adapters.is_demo:
            if is_listening(settings.warehouse_host, settings.warehouse_port):
                raise ConsoleError(f"Port {settings.warehouse_port} is already in use: is another console running?",
                                   "Stop it (Ctrl-C in its terminal) or change [warehouse] port in console.toml.")
            warehouse = spawn("embedded warehouse", [sys.executable, "-m", "console", "warehouse"])
            _wait_for(lambda: is_listening(settings.warehouse_host, settings.warehouse_port), 60,
                      lambda: warehouse.poll() is None, "the embedded warehouse")
            print(demo.ensure_demo(adapters, progress=_progress), flush=True)
        spawn("worker", [sys.executable, "-m", "console", "worker"])
        ui = spawn("UI", _ui_command(settings))
        host = _local_host(settings.ui_address)
        _wait_for(lambda: _healthy(host, settings.ui_port), 60, lambda: ui.poll() is None, "the UI")
        print(f"console ready at http://{host}:{settings.ui_port} after {time.perf_counter() - started:.1f} s "
              "(Ctrl-C stops it)", flush=True)
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    print(f"a console process exited (code {child.returncode}); stopping the others", flush=True)
                    stopping = True
            time.sleep(0.5)
        return 0
    finally:
        # UI, then worker (it finishes the task attempts in flight), then the warehouse they both use.
        for child in reversed(children):
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        print("console stopped", flush=True)


def _healthy(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/_stcore/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _wait_for(ready: Callable[[], bool], seconds: float, alive: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if not alive():
            raise ConsoleError(f"{what} exited during start-up.", "Read its messages above.")
        if time.monotonic() > deadline:
            raise ConsoleError(f"{what} did not become ready within {seconds:.0f} s.")
        time.sleep(0.2)


def cmd_logs(args: argparse.Namespace) -> int:
    """Every attempt of one task on a business date: state, times, the error and its stack trace."""
    # on demand (see the module docstring)
    from console.status import check_date
    from console.text import plain

    adapters = _adapters()
    clock = SystemClock()
    day = check_date(args.date, clock) if args.date else business_date(clock.now(), adapters.settings.day_rolls_at)
    task = adapters.spec.task(args.task)  # an unknown task: ConfigError naming the known ones
    run = adapters.engine.run_for_date(day)
    if run is None:
        raise InvalidRequest(f"{day} has no run yet.", "Pick a date with a run (`python -m console status --date D`).")
    attempts = [a for a in run.attempts if a.task_key == task.key]
    if args.attempt is not None:
        tries = ", ".join(str(a.attempt + 1) for a in attempts) or "none"
        attempts = [a for a in attempts if a.attempt + 1 == args.attempt]
        if not attempts:
            raise InvalidRequest(f"{task.short_key} has no try {args.attempt} in run {run.run_id} of {day}.",
                                 f"Its tries: {tries}.")
    if not attempts:
        print(f"{task.short_key} has not started in run {run.run_id} of {day}.")
        return 0
    for a in attempts:
        repair = f", repair {a.repair_id}" if a.repair_id else ""
        times = f" · {a.start:%H:%M:%S} to {a.end:%H:%M:%S} UTC" if a.start and a.end else ""
        print(f"== {task.short_key} · run {run.run_id} of {day} · try {a.attempt + 1}{repair} · {a.state.label}{times}")
        if a.error_message:
            print(f"error: {plain(a.error_message)}")
        print(a.error_trace.rstrip() if a.error_trace else "(no stack trace recorded for this try)")
    return 0


# ------------------------------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m console",
                                     description="Outbound Ops Console: the daily outbound-list pipeline.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", help="warehouse + worker + UI together (what `make run` calls); Ctrl-C stops all")
    sub.add_parser("ui", help="the Streamlit UI only")
    sub.add_parser("worker", help="the scheduler worker (APScheduler) only")
    sub.add_parser("warehouse", help="the embedded warehouse (fakesnow server) only")
    seed = sub.add_parser("seed", help="build the demo history (embedded stack)")
    seed.add_argument("--days", type=int, help="business days of history (default from console.toml)")
    seed.add_argument("--accounts", type=int, help="synthetic accounts (default from console.toml)")
    seed.add_argument("--force", action="store_true", help="rebuild even if a history exists")
    run = sub.add_parser("run-workflow", help="run the workflow for a business date to completion")
    run.add_argument("--date", type=_date, help="business date YYYY-MM-DD (default: today's)")
    run.add_argument("--rerun", action="store_true", help="start a new run even if the date has one")
    status = sub.add_parser("status", help="status of a business date; exits 1 when the day failed or the worker "
                                           "is down (for cron and monitoring)")
    status.add_argument("--date", type=_date, help="business date YYYY-MM-DD (default: today's)")
    status.add_argument("--json", action="store_true", help="one JSON object")
    sub.add_parser("check", help="validate console.toml and the workflow file")
    doctor = sub.add_parser("doctor", help="check every configured system (state DB, warehouse, engine, SMTP)")
    doctor.add_argument("--settings", action="store_true", help="also print the resolved settings (redacted)")
    deploy = sub.add_parser("deploy-job", help="create or reset the Databricks job from the workflow spec")
    deploy.add_argument("--dry-run", action="store_true", help="only print the difference with the deployed job")
    mig = sub.add_parser("migrate", help="apply the state DB's schema migrations as the database owner")
    mig.add_argument("--url", help="the owner's SQLAlchemy URL (default: $CONSOLE_STATE_OWNER_URL, else [state] url)")
    mig.add_argument("--grant", metavar="ROLE", help="PostgreSQL: grant the console's role its privileges "
                                                     "(INSERT/SELECT only on audit_log)")
    sub.add_parser("rehearse", help="the production rehearsal on 127.0.0.1 (from a checkout; see the README)")
    rec = sub.add_parser("reconcile", help="reconcile a date (generated → uploaded → exported) and run the checks; "
                                           "exit 1 on a mismatch or a failed check")
    rec.add_argument("--date", type=_date, help="business date YYYY-MM-DD (default: today's)")
    rec.add_argument("--json", action="store_true", help="one JSON object")
    logs_ = sub.add_parser("logs", help="a task's tries on a date: state, error and stack trace")
    logs_.add_argument("--date", type=_date, help="business date YYYY-MM-DD (default: today's)")
    logs_.add_argument("--task", required=True, help="the task's key or short key (e.g. DI-749)")
    logs_.add_argument("--attempt", type=int, help="only this try (1 is the first)")
    return parser


def cmd_rehearse(_: argparse.Namespace) -> int:
    """The production rehearsal (``python -m rehearsal up``): it ships with the checkout, not with the wheel."""
    if not (ROOT / "rehearsal" / "stack.py").exists():
        raise InvalidRequest("The rehearsal is not part of this installation.",
                             "Run it from a checkout of the console: `make rehearse`.")
    return subprocess.call([sys.executable, "-m", "rehearsal", "up"], cwd=ROOT)


COMMANDS = {"serve": cmd_serve, "ui": cmd_ui, "worker": cmd_worker, "warehouse": cmd_warehouse, "seed": cmd_seed,
            "run-workflow": cmd_run_workflow, "status": cmd_status, "check": cmd_check, "doctor": cmd_doctor,
            "deploy-job": cmd_deploy_job, "reconcile": cmd_reconcile, "migrate": cmd_migrate,
            "rehearse": cmd_rehearse, "logs": cmd_logs}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return COMMANDS[args.command](args)
    except ConsoleError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # say what happened without a traceback; the log has the details with -v
        logger.debug("unexpected error", exc_info=True)
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        print("hint: run again with -v for the details, and report it if it persists.", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
