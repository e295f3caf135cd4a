"""The production rehearsal: every process of a production deployment on 127.0.0.1, started and stopped together.

``with rehearsal(work_dir) as r:`` (``python -m rehearsal up``, ``make rehearse``) starts, in this order:

- **PostgreSQL** (``rehearsal.postgres``): the state database owned by ``console_owner``, migrated by
  ``python -m console migrate --grant console_app`` (the console's role may only SELECT/INSERT the audit log);
- **the warehouse**: the fakesnow server in its own process, seeded with a demo history as the upstream
  systems would have left it, reached by the console only through ``[connections.snowflake]`` (the production
  Snowpark path, ``adapters/snowflake.py``, query tag and the three timeouts) and by the wheel's tasks only
  through ``SNOWFLAKE_*`` from the cluster's secret scope;
- **mail and chat**: aiosmtpd and a Slack incoming-webhook endpoint, both keeping what they receive;
- **sign-in**: ``oidc-provider-mock`` with an engineer, an operator and a viewer;
- **Databricks**: the workspace emulator (``rehearsal.server``) with the wheel built from this checkout, the job
  created by ``python -m console deploy-job`` from ``jobs/outbound_lists.job.yml``; its 06:00 schedule fires on
  the rehearsal's clock and each task runs the wheel's ``run_task`` in a subprocess;
- **the console**: one worker and two UIs (``python -m console worker`` / ``ui``), ``mode = "production"``,
  on the one PostgreSQL, every process on the rehearsal's clock (``CONSOLE_CLOCK_FILE``).

The rehearsal also plays the world around the pipeline where a scenario needs it: the SFTP drop of
DI-749 held back and delivered (``hold_drop``/``deliver_drop``), Genesys's 08:30 import (``genesys_upload``).
Nothing here is shipped in the wheel; every process is stopped (its whole process group) at the end.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jobs.business_calendar import is_business_day
from rehearsal.clock import EmulatorClock
from rehearsal.files import auth_section, snowflake_section, write_secrets
from rehearsal.postgres import CONSOLE, OWNER, Cluster, running_cluster
from rehearsal.server import WorkspaceEmulator
from rehearsal.wheel import ROOT, build_wheel

ET = dt.timezone(dt.timedelta(hours=-5))  # November: EST (the rehearsal's days are all in EST)
WEDNESDAY = dt.date(2026, 11, 25)  # the day before Thanksgiving: the next calendar morning is a holiday
START = dt.datetime(2026, 11, 25, 5, 50, tzinfo=ET)
WHEEL_FOLDER = "/Workspace/Shared/outbound-ops-console/"
# Who signs in at the provider (its "sub" on the form), and the role console.toml gives them.
PEOPLE: dict[str, dict[str, Any]] = {
    "eve": {"sub": "eve", "email": "eve.engineer@corp.example", "email_verified": True, "name": "Eve Engineer"},
    "olga": {"sub": "olga", "email": "olga.operator@corp.example", "email_verified": True, "name": "Olga Operator"},
    "vic": {"sub": "vic", "email": "vic@partner.example", "email_verified": True, "name": "Vic Viewer"},
}
ROLES = {PEOPLE["eve"]["email"]: "engineer", "@corp.example": "operator"}
ONCALL = "oncall@corp.example"
# The Snowflake login the cluster's secret scope holds (the warehouse's fixed fakesnow login).
CLUSTER_SNOWFLAKE = {"account": "fakesnow", "user": "console", "password": "embedded", "host": "127.0.0.1",
                     "protocol": "http", "database": "ANALYTICS", "schema": "CRON_STORE"}


class RehearsalError(RuntimeError):
    """A part of the rehearsal did not start; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------------------ mail and chat
class Mailbox:
    """An aiosmtpd handler that keeps every message it is sent."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


class _Webhook(ThreadingHTTPServer):
    posts: list[dict[str, Any]]


def _webhook_server() -> _Webhook:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            server.posts.append(json.loads(self.rfile.read(length) or b"{}"))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = _Webhook(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.posts = []
    threading.Thread(target=server.serve_forever, daemon=True, name="rehearsal-slack").start()
    return server


# ------------------------------------------------------------------------------------------------ processes
def stop_group(process: subprocess.Popen[bytes], grace: float = 15) -> None:
    """SIGTERM to the process group, then SIGKILL to whatever lingers after ``grace`` seconds.

    ``console ui`` starts Streamlit, which can outlive it (Snowpark closes its sessions at exit with a query
    that retries while the warehouse is gone): the group is waited for, not only the process started here.
    """
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        process.poll()
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def wait_http(url: str, process: subprocess.Popen[bytes] | None, timeout: float, what: str, log: Path | None = None,
              expect: str | None = None) -> None:
    """Until ``url`` answers 200 (and its body holds ``expect``); a process that exits or a timeout says so."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RehearsalError(f"{what} exited with {process.returncode} (log {log}):\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200 and (expect is None or expect in response.read().decode(errors="replace")):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RehearsalError(f"{what} did not answer {url} within {timeout:.0f} s (log {log})")


def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RehearsalError(f"{what} exited with {process.returncode}: {log.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RehearsalError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s (log {log})")


# ------------------------------------------------------------------------------------------------ settings
def set_keys(text: str, values: dict[tuple[str, str], Any]) -> str:
    """``console.toml``'s text with ``[section] key = value`` replaced for each ``(section, key)``; a key that
    is not in its section is an error (the committed file names every key)."""
    for (section, key), value in values.items():
        header = re.search(rf"(?m)^\[{re.escape(section)}\][ \t]*$", text)
        if header is None:
            raise RehearsalError(f"console.toml has no [{section}]")
        end = re.search(r"(?m)^\[", text[header.end():])
        stop = header.end() + end.start() if end else len(text)
        body = text[header.end():stop]
        line = re.compile(rf"(?m)^{re.escape(key)} = .*$")
        if not line.search(body):
            raise RehearsalError(f"console.toml has no {key} in [{section}]")
        replacement = f"{key} = {json.dumps(value)}".replace("\\", "\\\\")  # re.sub template: escape backslashes
        body = line.sub(replacement, body, count=1)
        text = text[:header.end()] + body + text[stop:]
    return text


@dataclass
class Rehearsal:
    work: Path
    clock: EmulatorClock
    emulator: WorkspaceEmulator
    postgres: Cluster
    database: str
    mailbox: Mailbox
    slack: _Webhook
    provider_url: str
    ui_urls: list[str]
    env: dict[str, str]  # a production console's environment: CLI commands run with it
    warehouse_port: int
    warehouse_settings: Path  # the embedded settings of the warehouse's own process (the upstream systems' side)
    metrics_url: str
    sftp_inbox: Path
    job_id: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    _held: dict[dt.date, Path] = field(default_factory=dict)

    # ---------------------------------------------------------------- the console's side
    def console(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``python -m console ARGS`` as an operator would run it on the UI host (production settings)."""
        return subprocess.run([sys.executable, "-m", "console", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def url(self, user: str = OWNER) -> str:
        return self.postgres.url(self.database, user)

    @property
    def settings_file(self) -> Path:
        return Path(self.env["CONSOLE_SETTINGS"])

    # ---------------------------------------------------------------- the world around the pipeline
    def warehouse_session(self) -> Any:
        from jobs.session import embedded_session

        return embedded_session("127.0.0.1", self.warehouse_port, "rehearsal-upstream", 120)

    def _demo_settings(self) -> Any:
        from console.settings import load_settings

        return load_settings(self.warehouse_settings, secrets={})

    def prepare_day(self, day: dt.date) -> None:
        """The upstream feeds of ``day`` (the loan-tape load and the SFTP drops), as the sources deliver them."""
        from jobs.demo import seed

        seed.prepare_day(self.warehouse_session(), self._demo_settings(), day)

    def hold_drop(self, day: dt.date) -> Path:
        """DI-749's SFTP file of ``day`` is late: take it out of the inbox (kept aside for ``deliver_drop``)."""
        from jobs.tasks.di_749 import file_name

        drop = self.sftp_inbox / file_name(day)
        aside = self.work / "held" / drop.name
        aside.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(drop, aside)
        self._held[day] = aside
        return aside

    def deliver_drop(self, day: dt.date) -> None:
        from jobs.tasks.di_749 import file_name

        shutil.move(self._held.pop(day), self.sftp_inbox / file_name(day))

    def genesys_upload(self, day: dt.date) -> dict[str, Any]:
        """Genesys's list automation imports the released lists of ``day`` now (on the rehearsal's clock)."""
        from jobs.demo import genesys

        settings = self._demo_settings()
        at = self.clock.now().astimezone(dt.UTC).replace(tzinfo=None)
        return genesys.upload(self.warehouse_session(), settings.tables, [day], upload_at=at)

    def lists_of(self, day: dt.date) -> list[tuple[Any, ...]]:
        """Each list of ``day`` in the warehouse: task key, records, when generated (what a rebuild changes)."""
        table = self._demo_settings().tables.outbound_lists
        return [tuple(r) for r in self.warehouse_session().sql(
            f"select TASK_KEY, count(*) as N, max(GENERATED_AT) as AT from {table} where BUSINESS_DATE = '{day}' "
            "group by TASK_KEY order by TASK_KEY").collect()]

    def job_runs(self) -> list[dict[str, Any]]:
        """The job's runs as runs/list shows them, newest first."""
        return list(self.emulator.workspace.list_runs({"job_id": str(self.job_id), "limit": "25"}).get("runs", []))

    def wait_for_runs(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.job_runs()
            if len(runs) >= count:
                return runs
            time.sleep(0.2)
        raise RehearsalError(f"the job has {len(self.job_runs())} run(s) after {timeout:.0f} s, expected {count}")

    def wait_for_repair(self, run_id: int, repairs: int = 1, timeout: float = 300) -> dict[str, Any]:
        """Until the run has ``repairs`` repairs and has ended again (a repair is requested asynchronously)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.emulator.workspace.get_run({"run_id": str(run_id), "include_history": "true"})
            if sum(h["type"] == "REPAIR" for h in run.get("repair_history", [])) >= repairs:
                return self.emulator.workspace.wait_for_run(run_id, timeout=max(1, deadline - time.monotonic()))
            time.sleep(0.2)
        raise RehearsalError(f"run {run_id} had no repair number {repairs} within {timeout:.0f} s")

    def wait_for_mail(self, count: int, timeout: float = 90) -> list[Message]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.mailbox.messages) < count:
            time.sleep(0.2)
        return list(self.mailbox.messages)


def _clean_env() -> dict[str, str]:
    """This process's environment without any console, Snowflake or Databricks setting of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSOLE_", "SNOWFLAKE_", "DATABRICKS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@contextlib.contextmanager
def rehearsal(work: Path, start: dt.datetime = START, seed_days: int = 20, accounts: int = 20_000, uis: int = 2,
              watch_seconds: int = 5, log: Any = None) -> Iterator[Rehearsal]:
    """Start everything (about a minute, most of it the demo history), yield, stop everything."""
    say = log or (lambda message: None)
    work.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    timings: dict[str, float] = {}
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Any] = []

    def spawn(name: str, command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
        path = work / f"{name}.log"
        handle = path.open("wb")
        logs.append(handle)
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        processes.append(process)
        return process, path

    def lap(name: str, since: float) -> float:
        timings[name] = round(time.perf_counter() - since, 1)
        say(f"{name}: {timings[name]} s")
        return time.perf_counter()

    clock_file = work / "clock.json"
    clock = EmulatorClock(start, file=clock_file)
    base = _clean_env()
    base["CONSOLE_CLOCK_FILE"] = str(clock_file)
    mark = time.perf_counter()

    # the warehouse, in its own process, seeded as the upstream systems would have left it
    warehouse_port = free_port()
    warehouse_dir = work / "warehouse"
    text = (ROOT / "console.toml").read_text()
    warehouse_settings = work / "warehouse.toml"
    warehouse_settings.write_text(set_keys(text, {
        ("console", "mode"): "embedded", ("console", "data_dir"): str(warehouse_dir),
        ("warehouse", "port"): warehouse_port, ("workflow", "spec"): str(ROOT / "jobs" / "outbound_lists.job.yml")}))
    upstream_env = {**base, "CONSOLE_SETTINGS": str(warehouse_settings), "CONSOLE_SECRETS": str(work / "none.toml")}
    try:
        warehouse, warehouse_log = spawn("warehouse", [sys.executable, "-m", "console", "warehouse"], upstream_env)
        wait_port(warehouse_port, warehouse, 60, "the warehouse", warehouse_log)
        seeded = subprocess.run([sys.executable, "-m", "console", "seed", "--days", str(seed_days), "--accounts",
                                 str(accounts)], cwd=ROOT, env=upstream_env, capture_output=True, text=True,
                                timeout=900, check=False)
        if seeded.returncode != 0:
            raise RehearsalError(f"seeding the warehouse failed: {seeded.stdout[-1500:]}{seeded.stderr[-1500:]}")
        mark = lap("warehouse and demo history", mark)

        with contextlib.ExitStack() as stack:
            from aiosmtpd.controller import Controller

            postgres = stack.enter_context(running_cluster())
            database = postgres.create_database()
            mark = lap("postgresql", mark)

            mailbox = Mailbox()
            smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
            smtp.start()
            stack.callback(smtp.stop)
            slack = _webhook_server()
            stack.callback(slack.shutdown)

            provider_port = free_port()
            provider_url = f"http://127.0.0.1:{provider_port}"
            command = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(provider_port)]
            for claims in PEOPLE.values():
                command += ["--user-claims", json.dumps(claims)]
            provider, provider_log = spawn("oidc-provider", command, base)
            wait_http(f"{provider_url}/.well-known/openid-configuration", provider, 30, "oidc-provider-mock",
                      provider_log)

            # Databricks: the workspace emulator, the cluster's environment from its policy and secret scope
            sftp_inbox = warehouse_dir / "sftp" / "inbound"
            cluster_env = {"CONSOLE_DATA_DIR": str(warehouse_dir), "CONSOLE_CLOCK_FILE": str(clock_file),
                           **{f"SNOWFLAKE_{k.upper()}": f"{{{{secrets/snowflake/{k}}}}}"
                              for k in [*CLUSTER_SNOWFLAKE, "port"]}}
            emulator = stack.enter_context(WorkspaceEmulator(
                work / "workspace", clock=clock, secrets={"snowflake": {**CLUSTER_SNOWFLAKE, "port": warehouse_port}},
                cluster_env=cluster_env))
            wheel = build_wheel(ROOT / ".data" / "rehearsal" / "wheels")
            wheel_path = emulator.workspace.put_file(WHEEL_FOLDER + wheel.name, wheel)
            mark = lap("workspace emulator and wheel", mark)

            # the console's settings and secrets: production, explicit
            ui_ports = [free_port() for _ in range(uis)]
            metrics_port = free_port()
            ui_urls = [f"http://127.0.0.1:{port}" for port in ui_ports]
            console_dir = work / "console"
            console_dir.mkdir(exist_ok=True)
            text = set_keys(text, {
                ("console", "mode"): "production", ("console", "data_dir"): str(console_dir),
                ("console", "console_url"): ui_urls[0], ("console", "metrics_port"): metrics_port,
                ("state", "url"): postgres.url(database, CONSOLE),
                ("workflow", "spec"): str(ROOT / "jobs" / "outbound_lists.job.yml"),
                ("workflow", "engine"): "databricks",
                ("workflow", "sftp_outbox"): str(warehouse_dir / "sftp" / "outbound"),
                ("workflow", "sftp_inbox"): str(sftp_inbox),
                ("databricks", "host"): emulator.host, ("databricks", "wheel"): wheel_path,
                ("alerts", "recipients"): [ONCALL],
                ("alerts.smtp", "host"): "127.0.0.1", ("alerts.smtp", "port"): smtp.port,
                ("alerts.smtp", "security"): "none", ("alerts.slack", "enabled"): True,
                ("schedules", "watch_seconds"): watch_seconds,
            })
            users = "\n".join(f'"{who}" = "{role}"' for who, role in ROLES.items())
            text = text.replace('# "someone@example.com" = "operator"', users, 1)
            settings_file = work / "console.toml"
            settings_file.write_text(text)
            secrets = {"connections": {"snowflake": snowflake_section(warehouse_port, login_timeout=10)},
                       "alerts": {"slack_webhook": f"http://127.0.0.1:{slack.server_address[1]}/services/T0/B0/x"}}
            secret_files = [write_secrets(work / f"secrets-ui{n + 1}.toml",
                                          {**secrets, "auth": auth_section(url, provider_url)})
                            for n, url in enumerate(ui_urls)]
            env = {**base, "CONSOLE_SETTINGS": str(settings_file), "CONSOLE_SECRETS": str(secret_files[0]),
                   "DATABRICKS_TOKEN": emulator.token}
            r = Rehearsal(work, clock, emulator, postgres, database, mailbox, slack, provider_url, ui_urls, env,
                          warehouse_port, warehouse_settings, f"http://127.0.0.1:{metrics_port}", sftp_inbox,
                          timings=timings)

            today = start.astimezone(ET).date()
            if is_business_day(today):  # the sources of the first day have landed (a scenario may hold one back)
                r.prepare_day(today)
            migrated = r.console("migrate", "--url", r.url(OWNER), "--grant", CONSOLE)
            if migrated.returncode != 0:
                raise RehearsalError(f"migrate failed: {migrated.stdout[-1500:]}{migrated.stderr[-1500:]}")
            deployed = r.console("deploy-job")
            if deployed.returncode != 0:
                raise RehearsalError(f"deploy-job failed: {deployed.stdout[-1500:]}{deployed.stderr[-1500:]}")
            r.job_id = int(emulator.workspace.list_jobs({})["jobs"][0]["job_id"])
            mark = lap("migrations and deploy-job", mark)

            worker, worker_log = spawn("worker", [sys.executable, "-m", "console", "worker"], env)
            for n, (port, secret_file) in enumerate(zip(ui_ports, secret_files, strict=True)):
                ui, ui_log = spawn(f"ui{n + 1}", [sys.executable, "-m", "console", "ui"],
                                   {**env, "CONSOLE_SECRETS": str(secret_file), "CONSOLE_UI_PORT": str(port)})
                wait_http(f"http://127.0.0.1:{port}/_stcore/health", ui, 60, f"UI {n + 1}", ui_log)
            if worker.poll() is not None:
                raise RehearsalError(f"the worker exited: {worker_log.read_text(errors='replace')[-3000:]}")
            lap("worker and UIs", mark)
            timings["total start"] = round(time.perf_counter() - began, 1)
            try:
                yield r
            finally:
                for process in reversed(processes):
                    stop_group(process)
                processes.clear()
    finally:
        for process in reversed(processes):
            stop_group(process)
        for handle in logs:
            handle.close()
