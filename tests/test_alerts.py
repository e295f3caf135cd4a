"""Alert rules, lifecycle and delivery with real components: a real SMTP server (aiosmtpd) and a real HTTP
server on 127.0.0.1 for the Slack webhook, the real state store and engine. Warehouse facts of a day are
given as the reads the status is computed from (the rules only read them)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.server
import json
import logging
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from console import alerts, demo, facts, notify
from console.auth import User
from console.clock import FrozenClock, at_et, last_business_days
from console.errors import InvalidRequest, NotAuthorised
from console.facts import DayReads, WorkerStatus
from console.model import ROW_COLUMNS, CheckResult, Reconciliation
from console.runbook import RUNBOOK
from console.settings import ALERT_RULES, DEFAULT_SETTINGS, load_settings
from console.status import day_status
from console.store import StateStore, outbox, reconcile_rows, reconcile_runs
from tests.conftest import free_port
from tests.enginekit import make_env
from tests.test_status_pages import record_run

DAY = dt.date(2026, 11, 24)



class Mailbox:
    """aiosmtpd handler: every message received, parsed."""

    def __init__(self) -> None:
        self.messages: list[object] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    from aiosmtpd.controller import Controller

    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


@pytest.fixture
def slack() -> Iterator[tuple[str, list[dict]]]:
    posts: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/secret", posts
    finally:
        server.shutdown()


def configured(port: int, webhook: str = "", slack_on: bool = False):
    base = load_settings(DEFAULT_SETTINGS, secrets={"alerts": {"slack_webhook": webhook}})
    settings = dict(base.alerts)
    settings["smtp"] = {**settings["smtp"], "host": "127.0.0.1", "port": port, "security": "none"}
    settings["slack"] = {"enabled": slack_on}
    return dataclasses.replace(base, alerts=settings)


@pytest.fixture
def env(tmp_path, monkeypatch, smtp, slack):
    e = make_env(tmp_path, monkeypatch)
    port, box = smtp
    webhook, posts = slack
    e.box, e.posts, e.smtp_port = box, posts, port
    e.adapters = SimpleNamespace(settings=configured(port, webhook, slack_on=True), spec=e.spec, engine=e.engine,
                                 store=e.store, mode="embedded")
    return e


def status_at(env, moment, day=DAY, uploaded=True, exported=True, worker_alive=True):
    reads = DayReads(day=day, read_at=moment, run=env.engine.run_for_date(day),
                     upload_finished=at_et(day, "08:58") if uploaded else None, upload_lists=8 if uploaded else 0,
                     uploaded={"GR_CALL_LIST": 100} if uploaded else {},
                     export_landed=at_et(day, "22:44") if exported else None, export_rows=500 if exported else 0)
    history = env.engine.task_history(day - dt.timedelta(days=120), day - dt.timedelta(days=1))
    worker = WorkerStatus(worker_alive, "w", moment, 1.0, "alive" if worker_alive else "No heartbeat for 300 s.")
    return day_status(env.adapters, day, FrozenClock(moment), reads=reads, history=history, worker=worker)


def cycle(env, moment, **facts):
    status = status_at(env, moment, **facts)
    return alerts.run_cycle(env.adapters, moment, DAY, status)


def open_alerts(env, rule=None):
    """Open alerts of ``DAY`` (of one rule: runs executed here end at today's real time, after DAY's 08:00)."""
    return [r for r in facts.alert_rows(env.adapters, DAY, DAY)
            if r["state"] != alerts.RESOLVED and rule in (None, r["rule"])]


def test_a_failed_task_alerts_once_by_mail_and_slack_and_resolves_when_repaired(env) -> None:
    env.plan(di_749={"fail_times": 3, "message": "FileNotFoundError: non-openers drop missing"})
    run = env.engine.execute(env.engine.trigger(DAY, "scheduler").run_id)
    moment = at_et(DAY, "06:40")
    counts = cycle(env, moment)
    assert counts["sent"] == 2 * counts["opened"]
    [mail] = [m for m in env.box.messages if "Task failed" in m["Subject"]]
    assert mail["Subject"] == f"[CRITICAL] Task failed: DI-749 · {DAY}"
    assert mail["To"] == "hshi@happymoney.com"
    body = mail.get_content()
    assert "FileNotFoundError: non-openers drop missing" in body and f"/Alerts?date={DAY}" in body
    assert "DI-749" in env.posts[0]["text"]
    sent, posted = len(env.box.messages), len(env.posts)
    for _ in range(10):
        cycle(env, moment + dt.timedelta(minutes=3))
    assert (len(env.box.messages), len(env.posts)) == (sent, posted)
    env.plan()
    env.engine.repair(run.run_id, None, "eng@example.com")
    assert cycle(env, moment + dt.timedelta(minutes=40))["resolved"] >= 1
    assert open_alerts(env, "task_failed") == []
    assert len([m for m in env.box.messages if "Task failed" in m["Subject"]]) == 1


def test_the_eta_warns_before_0800_and_turns_critical_after(env) -> None:
    history = last_business_days(DAY - dt.timedelta(days=1), 30)
    demo.record_history_runs(env.adapters, history, seed_value=3, anomalies=())
    record_run(env.adapters, DAY, {"BI-2482": ("SUCCESS", "06:00", "06:15"), "DI-749": ("RUNNING", "06:15", None)},
               None)
    cycle(env, at_et(DAY, "07:55"))
    [alert] = open_alerts(env)
    assert (alert["rule"], alert["severity"]) == ("workflow_target", "warning")
    assert "will miss the 08:00 target: expected finish 08:" in alert["summary"]
    assert "DI-749 → DI-986" in alert["evidence"]
    for minute in range(56, 60):
        cycle(env, at_et(DAY, f"07:{minute}"))
    assert len(env.box.messages) == 1
    cycle(env, at_et(DAY, "08:05"))
    [alert] = open_alerts(env)
    assert alert["severity"] == "critical" and "missed the 08:00 target" in alert["summary"]
    assert [m["Subject"].split("]")[0] + "]" for m in env.box.messages] == ["[WARNING]", "[CRITICAL]"]
    assert "[now critical]" in env.box.messages[1]["Subject"]
    for minute in range(10):
        cycle(env, at_et(DAY, f"08:{10 + minute}"))
    assert len(env.box.messages) == 2


@pytest.mark.parametrize("rule, moment, facts, words", [
    ("upload_missing", "09:05", {"uploaded": False}, "No list was uploaded to Genesys by 09:00 ET."),
    ("export_missing", "23:35", {"exported": False}, "No campaign results have landed by 23:30 ET"),
    ("worker_down", "10:00", {"worker_alive": False}, "The console's worker is not running."),
])
def test_arrivals_that_never_came_and_a_silent_worker(env, rule: str, moment: str, facts: dict, words: str) -> None:
    env.engine.execute(env.engine.trigger(DAY, "scheduler").run_id)
    now = at_et(DAY, moment)
    cycle(env, now, **facts)
    [alert] = open_alerts(env, rule)
    assert alert["summary"].startswith(words)
    [mail] = [m for m in env.box.messages if alerts.RULE_TITLES[rule] in m["Subject"]]
    assert words.split(" by")[0] in mail.get_content()
    sent = len(env.box.messages)
    for _ in range(10):
        cycle(env, now + dt.timedelta(minutes=5), **facts)
    assert len(env.box.messages) == sent
    cycle(env, now + dt.timedelta(minutes=10))  # the facts arrive
    assert open_alerts(env, rule) == []


def test_thirty_clean_days_raise_nothing_and_send_only_digests(env) -> None:
    days = last_business_days(DAY, 30)
    demo.record_history_runs(env.adapters, days, seed_value=5, anomalies=())
    for day in days:
        moment = at_et(day, "23:55")
        status = status_at(env, moment, day=day)
        assert alerts.conditions(env.adapters, status) == [], day
        alerts.run_cycle(env.adapters, moment, day, status)
    assert facts.alert_rows(env.adapters, days[0], days[-1]) == []
    assert len(env.box.messages) == 30
    assert all("a clean day" in m.get_content() for m in env.box.messages)


def test_acknowledge_and_resolve_need_an_operator_and_are_audited(env) -> None:
    env.engine.execute(env.engine.trigger(DAY, "scheduler").run_id)
    cycle(env, at_et(DAY, "09:05"), uploaded=False)
    [alert] = open_alerts(env, "upload_missing")
    with pytest.raises(NotAuthorised):
        alerts.acknowledge(env.adapters, User("v@example.com", "viewer"), alert["id"], "seen")
    op = User("op@example.com", "operator")
    alerts.acknowledge(env.adapters, op, alert["id"], "Divya is on it")
    with pytest.raises(InvalidRequest, match="already acknowledged"):
        alerts.acknowledge(env.adapters, op, alert["id"])
    with pytest.raises(InvalidRequest, match="needs a reason"):
        alerts.resolve(env.adapters, op, alert["id"], " ")
    alerts.resolve(env.adapters, op, alert["id"], "uploaded by hand at 09:20")
    [row] = [r for r in facts.alert_rows(env.adapters, DAY, DAY) if r["rule"] == "upload_missing"]
    assert (row["state"], row["acknowledged_by"], row["resolution"]) == (
        "resolved", "op@example.com", "uploaded by hand at 09:20")
    from console.store import audit_log

    with env.store.connect() as conn:
        assert [r.action for r in conn.execute(sa.select(audit_log).order_by(audit_log.c.id))] == [
            "alert.acknowledge", "alert.resolve"]


def test_smtp_down_then_back_delivers_each_once_across_a_worker_restart(tmp_path, monkeypatch) -> None:
    from aiosmtpd.controller import Controller

    e = make_env(tmp_path, monkeypatch)
    port = free_port()  # nothing listens yet
    e.adapters = SimpleNamespace(settings=configured(port), spec=e.spec, engine=e.engine, store=e.store,
                                 mode="embedded")
    e.plan(di_749={"fail_times": 3}, bi_737={"fail_times": 3})
    e.engine.execute(e.engine.trigger(DAY, "scheduler").run_id)
    moment = at_et(DAY, "06:40")
    counts = alerts.run_cycle(e.adapters, moment, DAY, status_at(e, moment, uploaded=True))
    assert counts["opened"] >= 2 and counts["failed"] == counts["opened"] and counts["sent"] == 0
    later = moment + dt.timedelta(seconds=10)
    assert notify.deliver(e.adapters, later) == {"sent": 0, "failed": 0}  # backing off, not hammering
    assert notify.deliver(e.adapters, moment + dt.timedelta(minutes=1))["failed"] == counts["opened"]  # still down

    restarted = SimpleNamespace(**{**vars(e.adapters), "store": StateStore(e.store.url)})  # a new worker process
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sent = notify.deliver(restarted, moment + dt.timedelta(minutes=10))
        again = notify.deliver(restarted, moment + dt.timedelta(minutes=20))
    finally:
        controller.stop()
    assert sent == {"sent": counts["opened"], "failed": 0} and again == {"sent": 0, "failed": 0}
    subjects = sorted(m["Subject"] for m in box.messages)
    assert len(subjects) == len(set(subjects)) == counts["opened"]  # each once
    assert f"[CRITICAL] Task failed: BI-737 · {DAY}" in subjects and f"[CRITICAL] Task failed: DI-749 · {DAY}" \
        in subjects
    with restarted.store.connect() as conn:
        rows = conn.execute(sa.select(outbox)).all()
    assert all(r.sent_at is not None and r.attempts == 3 for r in rows)


def test_mismatches_anomalies_and_failed_checks_from_the_stored_reconciliation(env) -> None:
    import pandas as pd

    from console.model import ROW_COLUMNS, Reconciliation
    from console.quality import CheckResult

    env.engine.execute(env.engine.trigger(DAY, "scheduler").run_id)
    moment = at_et(DAY, "23:05")
    rows = pd.DataFrame([["GR_CALL_LIST", "CALL", 16000, 15990, 15900, 7900, "mismatch", "partial export: 50%"],
                         ["GR_TEXT_ELIGIBLE", "SMS", 4800, 4800, 4790, 4700, "matched", ""]], columns=ROW_COLUMNS)
    checks = [CheckResult("record_counts", "Record counts", "fail", "FUNNEL_SMS 2,900 below 4,100–5,300"),
              CheckResult("suppression_leaks", "Suppression leaks", "fail", "3 suppressed accounts on GR_CALL_LIST"),
              CheckResult("duplicate_accounts", "Duplicate accounts", "pass", "none")]
    result = Reconciliation(DAY, rows, checks, moment, 7, "scheduler")
    status = status_at(env, moment)
    found = alerts.conditions(env.adapters, status, result)
    mine = sorted((c.rule, c.subject, c.severity) for c in found if c.rule in (
        "reconciliation_mismatch", "volume_anomaly", "quality_check"))
    assert mine == [("quality_check", "Suppression leaks", "critical"),
                    ("reconciliation_mismatch", "GR_CALL_LIST/CALL", "critical"),
                    ("volume_anomaly", "Record counts", "warning")]
    mismatch = next(c for c in found if c.rule == "reconciliation_mismatch")
    assert "partial export: 50%" in mismatch.summary and "Generated 16,000 → accepted 15,900 → exported 7,900" \
        in mismatch.evidence
    for _ in range(10):
        alerts.sync(env.adapters, DAY, found, moment)
    opened = [r for r in facts.alert_rows(env.adapters, DAY, DAY) if r["rule"] in (
        "reconciliation_mismatch", "volume_anomaly", "quality_check")]
    assert len(opened) == 3
    notify.deliver(env.adapters, moment)
    subjects = [m["Subject"] for m in env.box.messages]
    for title in ("Import/export volume mismatch: GR_CALL_LIST/CALL", "Volume anomaly: Record counts",
                  "Data quality check failed: Suppression leaks"):
        assert sum(title in s for s in subjects) == 1, (title, subjects)
    clean = Reconciliation(DAY, rows.assign(STATUS="matched", REASON=""), checks[2:], moment, 8, "scheduler")
    alerts.sync(env.adapters, DAY, alerts.conditions(env.adapters, status, clean), moment)
    assert [r for r in open_alerts(env) if r["rule"] in ("reconciliation_mismatch", "volume_anomaly",
                                                         "quality_check")] == []


def test_the_runbook_shows_the_cluster_events_that_explain_a_failure() -> None:
    """Events as the Databricks adapter returns them (see tests/test_databricks.py for the API side)."""
    from console import runbook
    from console.clusters import notable

    at = dt.datetime(2026, 11, 24, 11, 20, tzinfo=dt.UTC)
    events = [
        {"time": at, "type": "NODES_LOST", "reason": "SPOT_INSTANCE_TERMINATION", "cause": "",
         "current_workers": 4, "target_workers": 2},
        {"time": at, "type": "RESIZING", "reason": "", "cause": "AUTOSCALE", "current_workers": 2,
         "target_workers": 6},
        {"time": at, "type": "RUNNING", "reason": "", "cause": ""},
    ]
    assert notable(events) == [
        "11:20 UTC: Spot instances reclaimed by the cloud: workers lost, their tasks retried (slower run) (4 → 2 "
        "workers)", "11:20 UTC: Cluster resizing (autoscaling) (2 → 6 workers)"]
    engine = SimpleNamespace(run_for_date=lambda day: object(), cluster_events=lambda run: events)
    adapters = SimpleNamespace(engine=engine, settings=SimpleNamespace(tables=None),
                               warehouse=SimpleNamespace(session=lambda: (_ for _ in ()).throw(RuntimeError("down"))))
    facts = runbook.live_evidence(adapters, "task_failed", DAY)
    assert facts[0].startswith("Cluster: 11:20 UTC: Spot instances reclaimed")
    assert facts[-1].startswith("Could not fetch the evidence: RuntimeError: down")  # the page stays up


def test_a_watchdog_cycle_for_one_rule_leaves_the_other_alerts_alone(env) -> None:
    env.engine.execute(env.engine.trigger(DAY, "scheduler").run_id)
    cycle(env, at_et(DAY, "09:05"), uploaded=False)
    assert open_alerts(env, "upload_missing")
    moment = at_et(DAY, "09:10")
    status = status_at(env, moment, worker_alive=False)  # uploaded now, but only worker_down is evaluated
    alerts.run_cycle(env.adapters, moment, DAY, status, only={"worker_down"})
    assert open_alerts(env, "upload_missing") and open_alerts(env, "worker_down")


# ------------------------------------------------------------------------------------------------ robust rules
MISMATCHED = ["GR_CALL_LIST", "CALL", 16000, 15990, 15900, 7900, "mismatch", "partial export: 50%"]
MATCHED = ["GR_TEXT_ELIGIBLE", "SMS", 4800, 4800, 4790, 4700, "matched", ""]
CHECKS = [CheckResult("record_counts", "Record counts", "fail", "FUNNEL_SMS 2,900 below 4,100–5,300"),
          CheckResult("suppression_leaks", "Suppression leaks", "fail", "3 suppressed accounts on GR_CALL_LIST"),
          CheckResult("duplicate_accounts", "Duplicate accounts", "pass", "none")]
# A count with no number, as each path can hold it: a raw cell, a float column, a nullable-integer column
# (what the stored reconciliation reads back for a list with no import-log row).
NO_NUMBER = [pytest.param(None, object, id="None"), pytest.param(float("nan"), object, id="NaN"),
             pytest.param(pd.NA, object, id="NA"), pytest.param(float("nan"), "float64", id="NaN-float64"),
             pytest.param(pd.NA, "Int64", id="NA-Int64")]


@pytest.mark.parametrize("value, dtype", NO_NUMBER)
@pytest.mark.parametrize("column", ["GENERATED", "SENT", "ACCEPTED", "EXPORTED"])
def test_a_count_without_a_number_in_any_column_still_alerts_the_mismatch(env, column: str, value: Any,
                                                                         dtype: Any) -> None:
    rows = pd.DataFrame([MISMATCHED, MATCHED], columns=ROW_COLUMNS)
    rows[column] = pd.Series([value, value], dtype=dtype)
    moment = at_et(DAY, "23:05")
    result = Reconciliation(DAY, rows, CHECKS, moment, 7, "scheduler")
    found = alerts.conditions(env.adapters, status_at(env, moment), result)
    assert [c for c in found if c.rule == alerts.CONSOLE_ERROR] == []
    [mismatch] = [c for c in found if c.rule == "reconciliation_mismatch"]
    assert mismatch.subject == "GR_CALL_LIST/CALL" and mismatch.summary == "GR_CALL_LIST (CALL): partial export: 50%"
    label = {"GENERATED": "Generated", "ACCEPTED": "accepted", "EXPORTED": "exported"}.get(column)
    if label is not None:
        assert f"{label} none" in mismatch.evidence, mismatch.evidence
    alerts.sync(env.adapters, DAY, found, moment)
    assert [r["subject"] for r in open_alerts(env, "reconciliation_mismatch")] == ["GR_CALL_LIST/CALL"]


def store_reconciliation(env, rows: list[list[Any]], checks: list[CheckResult], at: dt.datetime) -> None:
    """A succeeded reconciliation of ``DAY`` in the state DB, as ``reconcile_day`` writes it."""
    with env.store.begin() as conn:
        run_id = conn.execute(reconcile_runs.insert().values(
            business_date=DAY, trigger="SCHEDULE", requested_by="worker", started_at=at, finished_at=at,
            status="succeeded", message="", pairs=len(rows), matched=sum(r[6] == "matched" for r in rows),
            checks=json.dumps([c.to_json() for c in checks]))).inserted_primary_key[0]
        conn.execute(reconcile_rows.insert(), [
            {"run_id": run_id, "list_name": r[0], "channel": r[1], "generated": r[2], "sent": r[3], "accepted": r[4],
             "exported": r[5], "status": r[6], "reason": r[7]} for r in rows])


def test_a_list_that_never_reached_genesys_alerts_from_the_stored_reconciliation(env) -> None:
    """The stored row of a list with no import-log row reads back as pd.NA: the cycle used to raise here."""
    moment = at_et(DAY, "09:10")
    never = ["GR_CALL_LIST", "CALL", 16000, None, None, 0, "mismatch",
             "List not uploaded: no Genesys import-log row after 09:00 ET for the 16,000 records generated."]
    store_reconciliation(env, [never, MATCHED], [], moment)
    cycle(env, moment)
    [alert] = open_alerts(env, "reconciliation_mismatch")
    assert alert["summary"].startswith("GR_CALL_LIST (CALL): List not uploaded")
    assert alert["evidence"].startswith("Generated 16,000 → accepted none → exported 0")
    assert open_alerts(env, alerts.CONSOLE_ERROR) == []


def every_rule_holds(env) -> None:
    """A day on which every rule has something to say at 23:35."""
    record_run(env.adapters, DAY, {"BI-2482": ("SUCCESS", "06:00", "06:15"), "DI-749": ("FAILED", "06:15", "06:30")},
               "FAILED")
    store_reconciliation(env, [MISMATCHED, MATCHED], CHECKS, at_et(DAY, "23:01"))


def rules_open(env) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in open_alerts(env):
        out.setdefault(r["rule"], []).append(r["subject"])
    return out


def test_a_rule_that_raises_is_one_console_error_and_every_other_rule_still_alerts(env, monkeypatch,
                                                                                   caplog) -> None:
    every_rule_holds(env)
    moment, facts_of_day = at_et(DAY, "23:35"), {"uploaded": False, "exported": False, "worker_alive": False}
    working = alerts.RULES["upload_missing"]

    def broken(r: alerts.RuleInput) -> list[alerts.Condition]:
        raise KeyError("upload_due")

    monkeypatch.setitem(alerts.RULES, "upload_missing", broken)
    with caplog.at_level(logging.ERROR, logger="console.alerts"):
        cycle(env, moment, **facts_of_day)
    # the day's run has no cluster record, so cluster_usage has nothing to say (tests/test_utilization.py has it)
    others = set(alerts.RULES) - {"upload_missing", "cluster_usage"}
    assert set(rules_open(env)) == others | {alerts.CONSOLE_ERROR}
    [error] = open_alerts(env, alerts.CONSOLE_ERROR)
    assert (error["subject"], error["severity"]) == ("upload_missing", alerts.CRITICAL)
    assert error["summary"] == "The alert rule upload_missing could not be evaluated: KeyError: 'upload_due'"
    assert "Every other alert rule still ran" in error["evidence"]
    [logged] = [r for r in caplog.records if r.name == "console.alerts"]
    assert logged.exc_info is not None and "upload_missing" in logged.getMessage()
    [mail] = [m for m in env.box.messages if alerts.RULE_TITLES[alerts.CONSOLE_ERROR] in m["Subject"]]
    assert " ".join(mail["Subject"].split()) == (  # a long subject comes back folded
        f"[CRITICAL] Alert rule could not be evaluated: upload_missing · {DAY}")
    sent = len(env.box.messages)
    cycle(env, moment + dt.timedelta(minutes=3), **facts_of_day)
    assert len(env.box.messages) == sent  # the same error does not notify twice

    monkeypatch.setitem(alerts.RULES, "upload_missing", working)  # the rule is fixed
    cycle(env, moment + dt.timedelta(minutes=6), **facts_of_day)
    assert set(rules_open(env)) == set(alerts.RULES) - {"cluster_usage"}
    [row] = [r for r in facts.alert_rows(env.adapters, DAY, DAY) if r["rule"] == alerts.CONSOLE_ERROR]
    assert (row["state"], row["resolved_by"]) == (alerts.RESOLVED, "console")

    monkeypatch.setitem(alerts.RULES, "upload_missing", broken)  # broken again: its open alert is not "cleared"
    cycle(env, moment + dt.timedelta(minutes=9), **facts_of_day)
    assert set(rules_open(env)) == (set(alerts.RULES) - {"cluster_usage"}) | {alerts.CONSOLE_ERROR}
    assert rules_open(env)[alerts.CONSOLE_ERROR] == ["upload_missing"]


def test_a_watchdog_cycle_keeps_and_then_resolves_the_error_of_its_own_rule(env, monkeypatch) -> None:
    def broken(r: alerts.RuleInput) -> list[alerts.Condition]:
        raise RuntimeError("heartbeat table locked")

    working = alerts.RULES["worker_down"]
    monkeypatch.setitem(alerts.RULES, "worker_down", broken)
    moment = at_et(DAY, "10:00")
    alerts.run_cycle(env.adapters, moment, DAY, status_at(env, moment), only={"worker_down"})
    assert rules_open(env) == {alerts.CONSOLE_ERROR: ["worker_down"]}
    monkeypatch.setitem(alerts.RULES, "worker_down", working)
    alerts.run_cycle(env.adapters, moment, DAY, status_at(env, moment), only={"upload_missing"})
    assert rules_open(env) == {alerts.CONSOLE_ERROR: ["worker_down"]}  # another rule's cycle leaves it
    alerts.run_cycle(env.adapters, moment, DAY, status_at(env, moment), only={"worker_down"})
    assert rules_open(env) == {}


def test_every_rule_has_a_title_a_page_and_a_runbook_entry_and_settings_accept_it() -> None:
    assert set(alerts.RULES) | {alerts.CONSOLE_ERROR} == set(ALERT_RULES)
    assert set(alerts.RULE_TITLES) == set(alerts.PAGES) == set(RUNBOOK) == set(ALERT_RULES)


def _queue(store, count: int, now: dt.datetime, attempts: int = 0) -> None:
    with store.begin() as conn:
        for n in range(count):
            conn.execute(outbox.insert().values(
                dedupe=f"fault:{n}:email", channel="email", recipients="oncall@example.com",
                subject=f"fault {n}", body="body", alert_id=None, created_at=now, attempts=attempts,
                next_attempt_at=now, last_error=""))


def test_a_silent_smtp_server_holds_one_cycle_for_its_budget_and_each_mail_goes_once_after(
        tmp_path, monkeypatch) -> None:
    """Serially, a new connection per row and 20 s per socket operation, with no budget: a silent SMTP server
    held a cycle (and Home's watchdog) for 50 × 20 s (issue 14). Now one cycle starts no send after its
    budget; when the server answers again, the 50 mails go once each."""
    import socket as socket_module

    from aiosmtpd.controller import Controller

    monkeypatch.setattr(notify, "SOCKET_SECONDS", 0.3)
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    silent = socket_module.socket()  # accepts connections and never says a word (a hung server)
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    port = silent.getsockname()[1]
    adapters = SimpleNamespace(settings=configured(port), store=store)
    now = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
    _queue(store, 50, now)
    try:
        counts = notify.deliver(adapters, now, budget_seconds=1.0)
    finally:
        silent.close()
    assert 1 <= counts["failed"] <= 5 and counts["failed"] + counts["deferred"] == 50, counts
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        later = now + dt.timedelta(hours=1)
        first = notify.deliver(adapters, later)
        second = notify.deliver(adapters, later + dt.timedelta(hours=1))
    finally:
        controller.stop()
    assert first == {"sent": 50, "failed": 0} and second == {"sent": 0, "failed": 0}
    assert sorted(m["Subject"] for m in box.messages) == sorted(f"fault {n}" for n in range(50))


def test_a_row_that_keeps_failing_is_given_up_with_the_reason(tmp_path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    adapters = SimpleNamespace(settings=configured(free_port()), store=store)  # nothing listens
    now = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
    _queue(store, 1, now, attempts=notify.MAX_ATTEMPTS - 1)
    assert notify.deliver(adapters, now) == {"sent": 0, "failed": 1, "gave_up": 1}
    with store.connect() as conn:
        row = conn.execute(sa.select(outbox)).one()
    assert row.sent_at is None and row.attempts == notify.MAX_ATTEMPTS
    assert row.last_error.startswith(f"gave up after {notify.MAX_ATTEMPTS} attempts: ConnectionRefusedError")
    assert notify.deliver(adapters, now + dt.timedelta(days=30)) == {"sent": 0, "failed": 0}  # never again


def test_homes_watchdog_never_delivers_on_the_pages_thread(env, monkeypatch) -> None:
    """Home's watchdog called delivery: with SMTP down a viewer's page blocked for minutes (issue 14)."""
    called = []
    monkeypatch.setattr(notify, "deliver", lambda *a, **k: called.append(a) or {"sent": 0, "failed": 0})
    moment = at_et(DAY, "07:00")
    counts = alerts.run_cycle(env.adapters, moment, DAY, status_at(env, moment, worker_alive=False),
                              only={"worker_down"}, deliver=False)
    assert counts["opened"] == 1 and called == []
    alerts.run_cycle(env.adapters, moment, DAY, status_at(env, moment, worker_alive=False), only={"worker_down"})
    assert len(called) == 1  # the worker's cycle delivers
