"""The production rehearsal's scenario in Chromium: the production path end to end on one machine.

``rehearsal.stack`` starts PostgreSQL (migrated by its owner), the warehouse (reached only through
``[connections.snowflake]``), aiosmtpd and a Slack webhook, oidc-provider-mock, the Databricks workspace emulator
running the wheel, one worker and two UIs in production mode. The scenario, on the rehearsal's clock:

1. an anonymous visitor sees the sign-in page only;
2. Wednesday 25 Nov 2026, 06:00: the schedule fires; DI-749's SFTP drop is late, so DI-749 fails inside the wheel
   (three attempts) and its dependents do not run; exactly one e-mail reaches the on-call address;
3. a viewer signs in: the rerun is disabled, and the rerun their session would ask for is refused in console/
   and audited as denied;
4. Thanksgiving morning: the schedule fires, the run skips the holiday, Wednesday's lists are untouched;
5. the file has arrived; an engineer signs in on the other UI and repairs Wednesday's run from the Workflow page;
   the emulator reruns DI-749 and its dependents for Wednesday; the Home page of Wednesday shows every task done;
6. an operator ticks an item of Wednesday's checklist;
7. UPDATE and DELETE on ``audit_log`` fail for the console's role in PostgreSQL.

Every wait is bounded; every process is stopped.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from console import actions
from console.auth import signed_in_user
from console.clock import at_et
from console.errors import NotAuthorised
from console.settings import load_settings
from rehearsal.postgres import CONSOLE, find_bindir
from rehearsal.stack import ONCALL, PEOPLE, WEDNESDAY, Rehearsal, rehearsal
from tests.test_browser import ARTIFACTS, CHROMIUM, chromium, settle
from tests.test_signin_browser import sign_in as provider_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.rehearsal]

DI_749 = "Outbound_list_for_funnel_DI-749_Email_Non_Openers_from_SFTP"
DEPENDENTS = {"DI-986_Outbound_List_Generation_for_funnel", "BI-820_GR_text_eligible",
              "DI-1049_PIF_list_to_SFMC_SFTP", "DI-977_prescreen_email_list_upload"}
THANKSGIVING = WEDNESDAY + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    missing = [what for what, ok in (("chromium (/usr/bin/chromium)", CHROMIUM.exists()),
                                     ("postgresql (initdb, pg_ctl)", find_bindir() is not None)) if not ok]
    if missing:  # a set-up failure, never a skip: `make test` installs both (scripts/ensure-system-packages.sh)
        pytest.fail(f"the rehearsal needs {', '.join(missing)}: run scripts/ensure-system-packages.sh as root")
    with rehearsal(tmp_path_factory.mktemp("rehearsal")) as r:
        yield r


def sign_in(page: object, url: str, who: str) -> None:
    """Open ``url`` and sign in as ``who`` through the provider's form (the sign-in test's helper)."""
    page.goto(url, timeout=30_000)  # type: ignore[attr-defined]
    provider_sign_in(page, url, PEOPLE[who]["sub"])
    settle(page, f"Signed in as {PEOPLE[who]['email']}")


def latest_tasks(run: dict) -> dict[str, dict]:
    latest: dict[str, dict] = {}
    for task in sorted(run["tasks"], key=lambda t: t["run_id"]):
        latest[task["task_key"]] = task
    return latest


def test_the_production_path_end_to_end(stage: Rehearsal, monkeypatch: pytest.MonkeyPatch) -> None:
    r, started = stage, time.perf_counter()
    ui1, ui2 = r.ui_urls
    workspace = r.emulator.workspace
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        # 1. anonymous: the sign-in page, nothing else
        anonymous = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
        anonymous.goto(ui1, timeout=30_000)
        anonymous.get_by_role("button", name="Log in").wait_for(timeout=30_000)
        body = anonymous.inner_text("body")
        assert "Log in to use the console" in body
        for leak in ("Production.", "Signed in", "GR_", "Traceback", "Rehearsal clock"):
            assert leak not in body, leak

        # 2. Wednesday 06:00: DI-749's file is late; the schedule fires on the emulator's clock
        r.hold_drop(WEDNESDAY)
        scenario = time.perf_counter()
        r.clock.set(at_et(WEDNESDAY, "05:59") + dt.timedelta(seconds=58))
        (first,) = r.wait_for_runs(1)
        assert first["trigger"] == "PERIODIC"
        run_id = first["run_id"]
        run = workspace.wait_for_run(run_id, timeout=300)  # the retry intervals pass on the clock
        tasks = latest_tasks(run)
        assert run["state"]["result_state"] == "FAILED"
        attempts = [t for t in run["tasks"] if t["task_key"] == DI_749]
        assert [t["state"]["result_state"] for t in attempts] == ["FAILED"] * 3
        output = workspace.get_run_output({"run_id": str(attempts[-1]["run_id"])})
        assert "SFTP drop is late" in output["error"]
        assert "/libraries/outbound_ops_console-" in output["error_trace"]  # the wheel's code ran
        for key in DEPENDENTS:
            assert tasks[key]["state"]["result_state"] == "UPSTREAM_FAILED", key
        assert tasks["BI-737_GR_Call_List"]["state"]["result_state"] == "SUCCESS"
        before_holiday = r.lists_of(WEDNESDAY)
        assert before_holiday  # the lists of the tasks that ran

        # exactly one e-mail, to the on-call address, naming DI-749 (the worker's watch saw the run end)
        mails = r.wait_for_mail(1, timeout=90)
        assert len(mails) == 1, [(m["Subject"], m.get_payload()) for m in mails]
        time.sleep(12)  # two more watch cycles and an alert cycle: nothing is sent twice
        mails = list(r.mailbox.messages)
        assert len(mails) == 1, [(m["Subject"], m.get_payload()) for m in mails]
        assert ONCALL in mails[0]["To"] and "DI-749" in mails[0]["Subject"]
        assert r.slack.posts and "DI-749" in str(r.slack.posts[0])

        # 3. a viewer: the rerun is disabled; the rerun their session would ask for is refused and audited
        viewer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()  # type: ignore[attr-defined]
        sign_in(viewer, ui1, "vic")
        viewer.goto(f"{ui1}/Workflow?date={WEDNESDAY}", timeout=30_000)
        settle(viewer, "Run history: last 30 business days")
        body = viewer.inner_text("body")
        assert "(viewer)" in body and "Rehearsal clock" in body and "Traceback" not in body
        assert viewer.get_by_role("button", name="Rerun failed tasks and their dependents").is_disabled()
        from console.app import build_adapters
        from rehearsal.files import read_secrets

        monkeypatch.setenv("DATABRICKS_TOKEN", r.env["DATABRICKS_TOKEN"])  # what the UI hosts have
        settings = load_settings(r.settings_file, secrets=read_secrets(Path(r.env["CONSOLE_SECRETS"])))
        adapters = build_adapters(settings)
        who = signed_in_user(settings, "production", {"is_logged_in": True, **PEOPLE["vic"]})
        assert who is not None and who.role == "viewer"
        seen = adapters.engine.get_run(run_id)
        now = r.clock.now()
        plan = actions.plan_action(adapters, "repair", WEDNESDAY, seen, now)
        with pytest.raises(NotAuthorised, match="is a viewer and may not rerun tasks"):
            actions.request_action(adapters, who, plan, acknowledged=True, now=now)

        # 4. Thanksgiving: the schedule fires, the run skips the holiday, Wednesday's lists stay as they were
        r.clock.set(at_et(THANKSGIVING, "05:59") + dt.timedelta(seconds=58))
        runs = r.wait_for_runs(2)
        holiday = workspace.wait_for_run(runs[0]["run_id"], timeout=240)
        assert holiday["state"]["result_state"] == "SUCCESS"
        log = workspace.get_run_output({"run_id": str(holiday["tasks"][0]["run_id"])})["logs"]
        assert "holiday: skipped" in log
        assert r.lists_of(WEDNESDAY) == before_holiday

        # 5. the file has arrived; at 07:00 an engineer repairs Wednesday's run from the Workflow page of UI 2
        r.deliver_drop(WEDNESDAY)
        r.clock.set(at_et(THANKSGIVING, "07:00"))
        engineer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()  # type: ignore[attr-defined]
        sign_in(engineer, ui2, "eve")
        engineer.goto(f"{ui2}/Workflow?date={WEDNESDAY}", timeout=30_000)
        settle(engineer, "Run history: last 30 business days")
        assert "(engineer)" in engineer.inner_text("body")
        engineer.get_by_role("button", name="Rerun failed tasks and their dependents").click()
        dialog = engineer.get_by_role("dialog")
        dialog.get_by_text("These 5 task(s) will run").wait_for(timeout=15_000)
        # past Wednesday's 08:30 upload time: the repair changes lists Genesys may have, and says so
        assert "already uploaded" in dialog.inner_text()
        dialog.get_by_text("I understand that lists already uploaded").click()
        engineer.wait_for_timeout(300)
        dialog.get_by_role("button", name="Confirm").click()
        engineer.get_by_text("Requested").first.wait_for(timeout=30_000)
        repaired = r.wait_for_repair(run_id, timeout=300)
        assert repaired["state"]["result_state"] == "SUCCESS"
        repair = repaired["repair_history"][-1]
        assert repair["type"] == "REPAIR"
        rerun = {t["task_key"] for t in repaired["tasks"] if t["run_id"] in repair["task_run_ids"]}
        assert rerun == {DI_749, *DEPENDENTS}
        assert {p["name"]: p["value"] for p in repaired.get("job_parameters", [])}.get("business_date") == \
            str(WEDNESDAY)
        rebuilt = {key: at for key, _, at in r.lists_of(WEDNESDAY)}
        assert any(at.replace(tzinfo=dt.UTC) >= at_et(THANKSGIVING, "07:00") for at in rebuilt.values())

        engineer.goto(f"{ui2}/?date={WEDNESDAY}", timeout=30_000)
        settle(engineer, "Refreshes every 30 s")
        deadline = time.monotonic() + 60
        while "11 of 11" not in engineer.inner_text("body") and time.monotonic() < deadline:
            engineer.wait_for_timeout(2000)
            engineer.reload()
            settle(engineer, "Refreshes every 30 s")
        home = engineer.inner_text("body")
        assert "11 of 11" in home and "Failed ·" not in home and "Traceback" not in home, home[:3000]
        # finished the next morning: late for Wednesday's 08:00 target, and the time says which day
        assert re.search(r"done at 07:\d\d Thu 26 Nov ET", home), home[:3000]
        assert re.search(r"Succeeded at 07:\d\d Thu 26 Nov ET", home), home[:3000]
        engineer.screenshot(path=str(ARTIFACTS / "rehearsal-home.png"), timeout=15_000)

        # 6. an operator ticks an item of Wednesday's checklist on UI 1
        operator = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()  # type: ignore[attr-defined]
        sign_in(operator, ui1, "olga")
        operator.goto(f"{ui1}/Checklist?date={WEDNESDAY}", timeout=30_000)
        settle(operator, "Day report (CSV)")
        item = operator.get_by_role("combobox", name="Item")
        item.click()
        item.fill("Tableau")
        operator.get_by_role("option").filter(has_text="Check Tableau monitoring dashboard").first.wait_for()
        item.press("Enter")
        operator.get_by_label("Note (plain text", exact=False).fill("dashboards checked in the rehearsal")
        operator.get_by_role("button", name="Apply").click()
        operator.get_by_text("Check Tableau monitoring dashboard: ticked").first.wait_for(timeout=15_000)
        operator.goto(f"{ui1}/Audit", timeout=30_000)
        settle(operator, "The audit log is append-only")
        operator.screenshot(path=str(ARTIFACTS / "rehearsal-audit.png"), timeout=15_000)
    scenario_seconds = time.perf_counter() - scenario

    # 7. the audit log: the denied rerun, the repair and the tick; UPDATE and DELETE fail for the console's role
    app = sa.create_engine(r.url(CONSOLE), poolclass=sa.pool.NullPool)
    try:
        with app.connect() as conn:
            rows = conn.execute(sa.text("select actor, role, action, outcome from audit_log order by id")).all()
        assert rows == [(PEOPLE["vic"]["email"], "viewer", "repair", "denied"),
                        (PEOPLE["eve"]["email"], "engineer", "repair", "accepted"),
                        (PEOPLE["olga"]["email"], "operator", "checklist.tick", "accepted")], rows
        for statement in ("update audit_log set outcome = 'ok'", "delete from audit_log"):
            with app.connect() as conn, pytest.raises(sa.exc.DBAPIError, match=r"permission denied|append-only"):
                conn.execute(sa.text(statement))
    finally:
        app.dispose()
    with urllib.request.urlopen(f"{r.metrics_url}/metrics", timeout=10) as response:  # the worker's own view
        exposed = response.read().decode()
    assert "console_worker_alive 1.0" in exposed and 'console_outbox_backlog{channel="email"}' not in exposed
    for name in ("worker", "ui1", "ui2"):
        text = (r.work / f"{name}.log").read_text(errors="replace")
        assert "Traceback" not in text, f"{name}.log:\n{text[-3000:]}"
    print(f"rehearsal: started in {r.timings['total start']} s ({r.timings}); scenario {scenario_seconds:.0f} s; "
          f"whole test {time.perf_counter() - started:.0f} s; Jobs API requests {len(r.emulator.requests)}")
