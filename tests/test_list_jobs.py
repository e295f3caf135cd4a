"""The list jobs on the embedded warehouse: the real Snowpark client against a real fakesnow server.

One small demo history (5,000 accounts, six business days) is built once for the module by the real
seed and task code; each test then checks a property of what the jobs wrote.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import socket
from pathlib import Path

import pytest

from console.adapters.embedded_warehouse import WarehouseServer, open_session
from console.clock import business_days, next_business_day
from console.settings import DEFAULT_SETTINGS, load_settings
from console.workflow import load_workflow
from jobs.context import TaskContext

pytestmark = pytest.mark.warehouse

DAYS = business_days(dt.date(2026, 11, 16), dt.date(2026, 11, 24))[:6]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("jobs-data")
    base = load_settings(DEFAULT_SETTINGS, secrets={})
    settings = dataclasses.replace(base, data_dir=data, warehouse_port=_free_port(), demo_accounts=5000,
                                   sftp_inbox=data / "sftp" / "inbound", sftp_outbox=data / "sftp" / "outbound")
    server = WarehouseServer(settings)
    server.start()
    try:
        from jobs.demo import seed

        session = open_session(settings)
        spec = load_workflow(settings.workflow_spec)
        seed.build_warehouse(session, settings, spec, DAYS)

        class WH:
            pass

        w = WH()
        w.settings, w.session, w.tables, w.spec = settings, session, settings.tables, spec
        yield w
    finally:
        server.stop()


def _rows(wh, sql: str) -> list:
    return wh.session.sql(sql).collect()


def _ctx(wh, day: dt.date, task: str) -> TaskContext:
    return TaskContext(session=wh.session, business_date=day, tables=wh.tables, sftp_outbox=wh.settings.sftp_outbox,
                       sftp_inbox=wh.settings.sftp_inbox, task_key=task)


def test_every_list_is_produced_every_day_from_the_base_population(wh) -> None:
    t = wh.tables
    per_day = _rows(wh, f"SELECT BUSINESS_DATE AS D, COUNT(DISTINCT LIST_NAME) AS N FROM {t.outbound_lists} "
                        "GROUP BY BUSINESS_DATE")
    assert {r["D"] for r in per_day} == set(DAYS)
    lists = {r["N"] for r in per_day}
    assert min(lists) >= 9, lists  # PIF can be empty on a quiet day at this size; the others never are
    outside = _rows(wh, f"""
        SELECT COUNT(*) AS N FROM {t.outbound_lists} l
        LEFT JOIN {t.base_population} b ON b.BUSINESS_DATE = l.BUSINESS_DATE AND b.ACCOUNT_ID = l.ACCOUNT_ID
        WHERE b.ACCOUNT_ID IS NULL""")[0]["N"]
    assert outside == 0
    biggest = _rows(wh, f"SELECT MAX(C) AS M FROM (SELECT COUNT(*) AS C FROM {t.outbound_lists} "
                        "GROUP BY BUSINESS_DATE, LIST_NAME) x")[0]["M"]
    assert 0 < biggest <= wh.settings.demo_accounts


def test_no_suppressed_account_is_in_any_list(wh) -> None:
    t = wh.tables
    leaks = _rows(wh, f"""
        SELECT l.LIST_NAME AS LIST_NAME, s.REASON AS REASON, COUNT(*) AS N
        FROM {t.outbound_lists} l JOIN {t.suppressions} s
          ON s.ACCOUNT_ID = l.ACCOUNT_ID AND (s.CHANNEL = 'ALL' OR s.CHANNEL = l.CHANNEL)
         AND s.START_DATE <= l.BUSINESS_DATE AND (s.END_DATE IS NULL OR s.END_DATE > l.BUSINESS_DATE)
        GROUP BY l.LIST_NAME, s.REASON""")
    assert leaks == []
    # and the rule had something to do: suppressed accounts exist in the base population
    suppressed = _rows(wh, f"SELECT COUNT(*) AS N FROM {t.base_population} WHERE NOT CALL_OK")[0]["N"]
    assert suppressed > 0


def test_no_account_twice_in_a_list_and_every_contact_present(wh) -> None:
    t = wh.tables
    dupes = _rows(wh, f"SELECT BUSINESS_DATE, LIST_NAME, ACCOUNT_ID, COUNT(*) AS N FROM {t.outbound_lists} "
                      "GROUP BY BUSINESS_DATE, LIST_NAME, ACCOUNT_ID HAVING COUNT(*) > 1")
    assert dupes == []
    missing = _rows(wh, f"SELECT COUNT(*) AS N FROM {t.outbound_lists} WHERE CONTACT IS NULL OR CONTACT = ''")
    assert missing[0]["N"] == 0
    wrong = _rows(wh, f"SELECT COUNT(*) AS N FROM {t.outbound_lists} "
                      "WHERE (CHANNEL = 'EMAIL' AND CONTACT NOT LIKE '%@%') "
                      "OR (CHANNEL <> 'EMAIL' AND CONTACT LIKE '%@%')")
    assert wrong[0]["N"] == 0


def test_rerunning_a_task_for_a_date_replaces_its_rows(wh) -> None:
    t, day = wh.tables, DAYS[-1]
    query = (f"SELECT COUNT(*) AS N, COUNT(DISTINCT ACCOUNT_ID) AS A FROM {t.outbound_lists} "
             f"WHERE BUSINESS_DATE = '{day}' AND LIST_NAME = 'GR_CALL_LIST'")
    before = _rows(wh, query)[0]
    total_before = _rows(wh, f"SELECT COUNT(*) AS N FROM {t.outbound_lists}")[0]["N"]
    module = importlib.import_module(wh.spec.task("BI-737").module)
    module.run(_ctx(wh, day, "BI-737"))
    module.run(_ctx(wh, day, "BI-737"))
    after = _rows(wh, query)[0]
    assert (after["N"], after["A"]) == (before["N"], before["A"]) and after["N"] == after["A"]
    assert _rows(wh, f"SELECT COUNT(*) AS N FROM {t.outbound_lists}")[0]["N"] == total_before


def test_a_missing_sftp_file_fails_di749_clearly_and_loses_nothing(wh) -> None:
    t, day = wh.tables, DAYS[-1]
    query = f"SELECT COUNT(*) AS N FROM {t.outbound_lists} WHERE BUSINESS_DATE = '{day}' AND TASK_KEY = 'DI-749'"
    before = _rows(wh, query)[0]["N"]
    assert before > 0
    drop = next(Path(wh.settings.sftp_inbox).glob(f"*{day:%Y%m%d}*"))
    hidden = drop.with_suffix(".hidden")
    drop.rename(hidden)
    try:
        module = importlib.import_module(wh.spec.task("DI-749").module)
        with pytest.raises(Exception) as info:
            module.run(_ctx(wh, day, "DI-749"))
        assert drop.name in str(info.value)
    finally:
        hidden.rename(drop)
    assert _rows(wh, query)[0]["N"] == before


def test_prepare_day_is_idempotent_and_loads_the_next_tape(wh) -> None:
    from jobs.demo import seed

    t, day = wh.tables, next_business_day(DAYS[-1])
    seed.prepare_day(wh.session, wh.settings, day)
    counts = [_rows(wh, f"SELECT COUNT(*) AS N FROM {t.loan_tape}")[0]["N"],
              _rows(wh, f"SELECT COUNT(*) AS N FROM {t.loan_tape_loads}")[0]["N"]]
    seed.prepare_day(wh.session, wh.settings, day)
    assert [_rows(wh, f"SELECT COUNT(*) AS N FROM {t.loan_tape}")[0]["N"],
            _rows(wh, f"SELECT COUNT(*) AS N FROM {t.loan_tape_loads}")[0]["N"]] == counts
    assert _rows(wh, f"SELECT COUNT(*) AS N FROM {t.loan_tape_loads} WHERE AS_OF_DATE = '{day}'")[0]["N"] == 1


def test_the_same_seed_gives_the_same_portfolio() -> None:
    from jobs.demo import portfolio

    a = portfolio.generate_accounts(7, 2000, dt.date(2026, 9, 1))
    b = portfolio.generate_accounts(7, 2000, dt.date(2026, 9, 1))
    c = portfolio.generate_accounts(8, 2000, dt.date(2026, 9, 1))
    assert a.equals(b)
    assert not a.equals(c)


def test_the_seeded_anomalies_are_in_the_data(wh) -> None:
    from jobs.demo.anomalies import by_kind

    t = wh.tables
    short = by_kind("short_list")[0]
    short_day = DAYS[-1 - short.days_ago] if short.days_ago < len(DAYS) else None
    missing = by_kind("missing_export")[0]
    missing_day = DAYS[-1 - missing.days_ago]
    results = {r["D"]: r["N"] for r in _rows(wh, f"SELECT BUSINESS_DATE AS D, COUNT(*) AS N FROM "
                                                 f"{t.campaign_results} GROUP BY BUSINESS_DATE")}
    assert missing_day not in results
    assert all(results.get(d, 0) > 0 for d in DAYS if d != missing_day)
    if short_day is not None:  # only inside the window at this history length
        counts = {r["D"]: r["N"] for r in _rows(wh, f"SELECT BUSINESS_DATE AS D, COUNT(*) AS N FROM "
                                                    f"{t.outbound_lists} WHERE LIST_NAME = 'GR_CALL_LIST' "
                                                    "GROUP BY BUSINESS_DATE")}
        others = [n for d, n in counts.items() if d != short_day]
        assert counts[short_day] < 0.75 * min(others)
