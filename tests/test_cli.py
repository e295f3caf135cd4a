"""The command line as a person runs it: real processes, a real warehouse process, a temp data dir."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.settings import ROOT

pytestmark = pytest.mark.warehouse


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    def __init__(self, data: Path) -> None:
        self.port = _free_port()
        self.env = dict(os.environ, CONSOLE_DATA_DIR=str(data), CONSOLE_WAREHOUSE_PORT=str(self.port),
                        PYTHONPATH=str(ROOT))
        self.data = data
        self.warehouse: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "console", *args], cwd=ROOT, env=self.env, text=True,
                              capture_output=True, timeout=timeout)

    def start_warehouse(self) -> None:
        self.warehouse = subprocess.Popen([sys.executable, "-m", "console", "warehouse"], cwd=ROOT, env=self.env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                assert time.monotonic() < deadline and self.warehouse.poll() is None, "warehouse did not start"
                time.sleep(0.1)

    def stop_warehouse(self) -> None:
        if self.warehouse and self.warehouse.poll() is None:
            self.warehouse.terminate()
            self.warehouse.wait(timeout=30)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    s = Stack(tmp_path_factory.mktemp("cli-data"))
    s.start_warehouse()
    try:
        seeded = s.cli("seed", "--days", "5", "--accounts", "3000")
        assert seeded.returncode == 0, seeded.stderr
        assert "demo history built" in seeded.stdout
        yield s
    finally:
        s.stop_warehouse()


def test_help_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "console", "--help"], cwd=ROOT, text=True, capture_output=True)
    for command in ("serve", "ui", "worker", "warehouse", "seed", "run-workflow", "status"):
        assert command in out.stdout


def test_run_workflow_then_status_json(stack: Stack) -> None:
    ran = stack.cli("run-workflow")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    status = json.loads(stack.cli("status", "--json").stdout)
    assert status["mode"] == "embedded" and status["demo_data"] is True
    assert set(status) >= {"mode", "business_date", "workflow", "lists", "milestones"}
    tasks = status["workflow"]["tasks"]
    assert len(tasks) == 11 and {t["state"] for t in tasks} == {"succeeded"}
    assert all({"task_key", "state", "start", "end"} <= set(t) for t in tasks)
    assert status["workflow"]["state"] == "succeeded"
    assert status["lists"]
    assert all(item["records"] > 0 for item in status["lists"] if item["list_name"] != "PIF_TO_SFMC")
    assert {m["name"] for m in status["milestones"]} >= {"List generation starts", "Workflow finished (target)"}
    assert all({"name", "planned", "status"} <= set(m) for m in status["milestones"])
    # a second run-workflow for the same date returns the existing run, it does not start another
    again = stack.cli("run-workflow")
    assert again.returncode == 0 and "already ended" in again.stdout


def test_a_failing_task_makes_run_workflow_exit_1(stack: Stack) -> None:
    # The SIMM placement file cannot be written when its outbox folder is taken by a file.
    folder = stack.data / "sftp" / "outbound" / "simm"
    moved = folder.with_name("simm.moved")
    if folder.exists():
        folder.rename(moved)
    folder.write_text("not a folder")
    try:
        ran = stack.cli("run-workflow", "--rerun")
    finally:
        folder.unlink()
        if moved.exists():
            moved.rename(folder)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    failed = [line for line in ran.stdout.splitlines() if line.strip().startswith("failed")]
    assert len(failed) == 1 and "DI-862" in failed[0]
    assert "run" in ran.stdout and "failed in" in ran.stdout
    status = stack.cli("status")  # the failed day: non-zero for cron and monitoring (issue 14)
    assert status.returncode == 1 and "FAILED" in status.stdout and "DI-862" in status.stdout, status.stdout


def test_logs_print_a_failed_tries_error_and_stack_trace(stack: Stack) -> None:
    """After the failed rerun above: DI-862's try, its error and the traceback the engine kept."""
    out = stack.cli("logs", "--task", "DI-862")
    assert out.returncode == 0, out.stderr
    assert "== DI-862 · run" in out.stdout and "· failed ·" in out.stdout, out.stdout
    assert "Traceback (most recent call last)" in out.stdout
    out = stack.cli("logs", "--task", "DI-862", "--attempt", "9")
    assert out.returncode == 2 and "no try 9" in out.stderr and "Its tries: 1" in out.stderr
    out = stack.cli("logs", "--task", "NO-SUCH")
    assert out.returncode == 2 and "unknown task" in out.stderr and "DI-749" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_dates_are_refused_with_the_reason(stack: Stack) -> None:
    out = stack.cli("status", "--date", "2099-01-05")
    assert out.returncode == 2 and "in the future" in out.stderr and "Traceback" not in out.stderr
    out = stack.cli("run-workflow", "--date", "2026-11-26")
    assert out.returncode == 2 and "not a business day" in out.stderr
    out = stack.cli("status", "--date", "yesterday")
    assert out.returncode == 2 and "YYYY-MM-DD" in out.stderr
    out = stack.cli("status", "--date", "0001-01-03")  # was "unexpected OverflowError" (issue 14)
    assert out.returncode == 2 and "more than 5 years before today" in out.stderr and "Overflow" not in out.stderr


def test_with_the_warehouse_down_status_says_so_and_run_workflow_refuses(stack: Stack) -> None:
    stack.stop_warehouse()
    try:
        status = stack.cli("status", "--json")
        assert status.returncode == 1  # no worker is running for today: monitoring hears of it (issue 14)
        body = json.loads(status.stdout)
        assert body["worker"]["alive"] is False
        assert "not running" in body["warehouse_error"]
        ran = stack.cli("run-workflow", "--rerun")
        assert ran.returncode == 2 and "not running" in ran.stderr and "Traceback" not in ran.stderr
    finally:
        stack.start_warehouse()
    # the data survived the restart
    status = json.loads(stack.cli("status", "--json").stdout)
    assert status["lists"] and status["warehouse_error"] is None


def test_a_malformed_settings_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "console.toml"
    bad.write_text((ROOT / "console.toml").read_text().replace("port = 47321", "port = 80"))
    out = subprocess.run([sys.executable, "-m", "console", "check"], cwd=ROOT, text=True, capture_output=True,
                         env=dict(os.environ, CONSOLE_SETTINGS=str(bad)))
    assert out.returncode == 2
    assert str(bad) in out.stderr and "[warehouse] port" in out.stderr and "Traceback" not in out.stderr


def test_cli_changes_are_authorised_and_audited_as_a_named_person(stack: Stack) -> None:
    """run-workflow --rerun and reconcile changed state without console/auth.py and without an audit row, the
    actor taken from $USER (issue 14). Now the embedded stack's CLI acts as its local user, anyone else is named
    by CONSOLE_CLI_USER and gets the role [roles] gives that address; a refusal is audited too."""
    import sqlalchemy as sa

    from console.store import StateStore, audit_log

    ran = stack.cli("reconcile")
    assert ran.returncode in (0, 1), ran.stderr  # 1: a mismatch or a failed check (exit code of the command)
    stranger = dict(stack.env, CONSOLE_CLI_USER="someone@else.example")
    refused = subprocess.run([sys.executable, "-m", "console", "run-workflow", "--rerun"], cwd=ROOT, env=stranger,
                             text=True, capture_output=True, timeout=240)
    assert refused.returncode == 2 and "is a viewer and may not" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    bad = subprocess.run([sys.executable, "-m", "console", "reconcile"], cwd=ROOT,
                         env=dict(stack.env, CONSOLE_CLI_USER="root"), text=True, capture_output=True, timeout=240)
    assert bad.returncode == 2 and "is not an e-mail address" in bad.stderr
    store = StateStore(f"sqlite:///{stack.data / 'state.db'}")
    with store.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.select(audit_log.c.actor, audit_log.c.role, audit_log.c.action,
                                                         audit_log.c.outcome).order_by(audit_log.c.id)).all()]
    assert ("local-admin", "admin", "reconcile", "accepted") in rows
    assert ("someone@else.example", "viewer", "repair", "denied") in rows


def test_every_process_logs_date_zone_and_level() -> None:
    """The CLI and worker logged "%H:%M:%S" only, the UI process nothing of ours (issue 14)."""
    import re

    probe = ("import logging; from console import logs; from console.ui import frame; logs.configure(); "
             "logging.getLogger('console.probe').warning('hello')")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    lines = [line for line in done.stderr.splitlines() if "console.probe" in line]
    assert len(lines) == 1, done.stderr[-2000:]  # configured once, even when the UI's frame did it first
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4} WARNING console\.probe: hello", lines[0])
