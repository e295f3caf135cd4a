"""The console's own Snowflake bill: statements counted by cost, re-reads only when a table changed.

The embedded warehouse serves Snowflake's change markers (``SHOW TABLES`` rows and bytes) from the writes it
sees; the meter classifies every statement; ``warehouse_facts`` reuses the day's facts while the markers stand
still; Home shows a change within 60 s of it (the cache timers on a virtual clock, nothing sleeps).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.runtime.caching import cache_utils
from streamlit.testing.v1 import AppTest

from console import cost, facts
from console.adapters.meter import COMPUTE, METADATA, RESULT_CACHE, Meter
from console.adapters.protocols import Adapters
from console.clock import FrozenClock, at_et
from console.ui.frame import CLOCK_KEY
from tests.test_pages import clear_caches, embedded_stack, seed_warehouse

ROOT = Path(__file__).resolve().parent.parent
DAY = dt.date(2026, 11, 24)  # a Tuesday


def markers(session, table: str) -> tuple[int, int]:
    database, schema, name = table.split(".")
    row = next(r for r in session.sql(f"SHOW TABLES IN DATABASE {database}").collect()
               if r["schema_name"] == schema and r["name"] == name)
    return row["rows"], row["bytes"]


def test_the_embedded_warehouse_moves_a_tables_marker_with_each_write_and_only_then(stack) -> None:
    from console.adapters.embedded_warehouse import open_session

    adapters, _ = stack
    session = open_session(adapters.settings)
    table = f"ANALYTICS.CRON_STORE.MARKER_{uuid.uuid4().hex[:8].upper()}"
    session.sql(f"create table {table} (A int)").collect()
    created = markers(session, table)
    session.sql(f"select count(*) from {table}").collect()
    assert markers(session, table) == created  # a read changes nothing
    session.sql(f"insert into {table} values (1), (2)").collect()
    inserted = markers(session, table)
    assert inserted != created and inserted[0] == 2
    # a write inside a transaction moves the marker again at COMMIT: a reader between the two saw old data
    session.sql("begin").collect()
    session.sql(f"delete from {table} where A = 1").collect()
    deleted = markers(session, table)
    session.sql("commit").collect()
    committed = markers(session, table)
    assert inserted != deleted != committed
    other = open_session(adapters.settings)  # another session sees the same marker
    assert markers(other, table) == committed
    session.sql(f"drop table {table}").collect()


def test_the_meter_tells_metadata_and_result_cache_from_compute() -> None:
    clock = [dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)]
    meter = Meter("ui", now=lambda: clock[0])
    query = 'SELECT count(1) AS "N" FROM ( SELECT * FROM GENESYS.OUTBOUND.CONTACT_LIST_IMPORT_LOG WHERE X = 1)'
    assert meter.classify("SHOW TABLES IN DATABASE GENESYS", False) == METADATA
    assert meter.classify(query, True) == METADATA  # a describe round trip
    assert meter.classify(query, False) == COMPUTE  # no marker read yet: nothing is known to be unchanged
    meter.data_version({"GENESYS.OUTBOUND.CONTACT_LIST_IMPORT_LOG": "a"})
    assert meter.classify(query, False) == COMPUTE  # first run at this version
    assert meter.classify(query, False) == RESULT_CACHE  # identical text, table unchanged
    meter.data_version({"GENESYS.OUTBOUND.CONTACT_LIST_IMPORT_LOG": "b"})
    assert meter.classify(query, False) == COMPUTE  # the table changed: the cache no longer answers
    assert meter.classify(query + " ", False) == COMPUTE  # different text, different entry
    assert meter.classify(query.replace("X = 1", "X = CURRENT_DATE()"), False) == COMPUTE  # never cached
    assert meter.classify(query.replace("OUTBOUND.CONTACT", "OUTBOUND.OTHER"), False) == COMPUTE  # unwatched table
    clock[0] += dt.timedelta(hours=25)
    assert meter.classify(query, False) == COMPUTE  # the persisted result is gone after 24 hours


def test_awake_time_follows_snowflakes_billing_rules() -> None:
    t0 = dt.datetime(2026, 11, 24, 11, tzinfo=dt.UTC)
    at = [t0 + dt.timedelta(seconds=s) for s in (0, 30, 200, 1000)]
    # suspend 60 s: 0 and 30 share a resume (awake 0..91), 200 and 1000 resume alone (61 s each)
    short = cost.awake(at, 60)
    assert (short.statements, short.resumes, short.awake_seconds) == (4, 3, 91 + 61 + 61)
    assert short.billed_seconds == 91 + 61 + 61
    # suspend 300 s: 0, 30 and 200 share one; 1000 alone
    assert cost.awake(at, 300).resumes == 2
    # one statement with a 10-second suspend is still billed a full minute
    assert cost.awake(at[:1], 10).billed_seconds == 60
    assert cost.awake([], 60).billed_seconds == 0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Adapters, dict[str, str]]]:
    with embedded_stack(tmp_path_factory.mktemp("warehouse-cost")) as (adapters, env):
        seed_warehouse(adapters, [DAY])
        yield adapters, env


def counts(adapters: Adapters) -> dict[str, int]:
    return dict(adapters.warehouse.meter.totals)


def add_import_row(adapters: Adapters, day: dt.date, list_name: str, finished: str = "2026-11-24 13:35:00") -> None:
    """One more import-log row, as the Genesys upload writes them (FINISHED_AT is naive UTC)."""
    values = {"BUSINESS_DATE": f"'{day}'", "LIST_NAME": f"'{list_name}'", "CHANNEL": "'PHONE'",
              "CONTACT_LIST_ID": "'cl-test'", "RECORDS_SENT": "5", "RECORDS_ACCEPTED": "5", "RECORDS_REJECTED": "0",
              "STATUS": "'COMPLETED'", "STARTED_AT": f"'{finished}'", "FINISHED_AT": f"'{finished}'"}
    with adapters.warehouse.session() as session:
        session.sql(f"insert into {adapters.settings.tables.import_log} ({', '.join(values)}) "
                    f"values ({', '.join(values.values())})").collect()


def test_the_days_facts_are_read_again_only_when_a_watched_table_changed(stack) -> None:
    adapters, _ = stack
    facts.forget_warehouse_facts(adapters)
    first = facts.warehouse_facts(adapters, DAY)
    before = counts(adapters)
    again = facts.warehouse_facts(adapters, DAY)
    after = counts(adapters)
    assert again is first  # nothing changed: the kept facts
    assert after.get(COMPUTE, 0) == before.get(COMPUTE, 0)  # and no statement that needs a warehouse
    assert after.get(METADATA, 0) > before.get(METADATA, 0)  # only the marker check
    add_import_row(adapters, DAY, "ZZ_MARKER_TEST")
    changed = facts.warehouse_facts(adapters, DAY)
    assert changed is not first and "ZZ_MARKER_TEST" in changed.uploaded
    assert counts(adapters)[COMPUTE] > after.get(COMPUTE, 0)
    # the counts reach the state DB, where the Audit page reads them
    rows = facts.warehouse_statement_rows(adapters, dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
                                          dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    assert {"compute", "metadata"} <= set(rows["KIND"]) and set(rows["PROCESS"]) == {"cli"}


class VirtualTimer:
    """The clock of ``st.cache_data``'s TTLs (``cache_utils.TTLCACHE_TIMER``), moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_home_shows_an_upload_within_60_s_and_reads_nothing_while_nothing_changes(
        stack, monkeypatch: pytest.MonkeyPatch) -> None:
    adapters, env = stack
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    timer = VirtualTimer()
    monkeypatch.setattr(cache_utils, "TTLCACHE_TIMER", timer)
    clear_caches()
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=60)
    at.session_state[CLOCK_KEY] = FrozenClock(at_et(DAY, "08:40"))
    at.run()
    assert not at.exception
    meter = _ui_adapters().warehouse.meter  # the page process's adapter set, built by the page itself
    uploaded = _uploaded_lists(at)
    quiet = dict(meter.totals)
    for _ in range(4):  # two minutes of 30 s refreshes with nothing changing
        timer.now += 31
        at.run()
    assert not at.exception
    assert meter.totals[COMPUTE] == quiet[COMPUTE]  # the warehouse could sleep
    assert meter.totals[METADATA] > quiet[METADATA]  # the markers were checked on each refresh
    add_import_row(adapters, DAY, "ZZ_HOME_FRESHNESS", finished="2026-11-24 13:39:00")  # 08:39 ET, a new list
    timer.now += 31  # the next refresh after the change, within 60 s of it
    at.run()
    assert meter.totals[COMPUTE] > quiet[COMPUTE]
    assert _uploaded_lists(at) == uploaded + 1  # the upload milestone counts the new import-log list


def _uploaded_lists(at: AppTest) -> int:
    """The number in the upload milestone's caption ("Actual 08:59 · 8 lists in the Genesys import log.")."""
    found = [re.search(r"(\d+) lists in the Genesys import log", str(c.value)) for c in at.caption]
    return int(next(m for m in found if m).group(1))


def _ui_adapters() -> Adapters:
    from console.ui.frame import cached_adapters

    return cached_adapters()



def test_the_same_question_is_the_same_text_so_snowflakes_result_cache_can_answer_it(stack) -> None:
    """No execution-time function, no random alias: reading a day's facts again with no table changed sends
    exactly the texts of the first read, which the meter (like Snowflake) counts as result-cache hits."""
    adapters, _ = stack
    facts.forget_warehouse_facts(adapters)
    facts.warehouse_facts(adapters, DAY)
    before = counts(adapters)
    facts.forget_warehouse_facts(adapters)  # as another process would: nothing kept, the same questions
    facts.warehouse_facts(adapters, DAY)
    after = counts(adapters)
    assert after.get(COMPUTE, 0) == before.get(COMPUTE, 0)
    assert after.get(RESULT_CACHE, 0) - before.get(RESULT_CACHE, 0) >= 7  # the seven aggregates of a day


def test_the_pipelines_statements_are_counted_apart_from_the_consoles() -> None:
    """The embedded stack runs the list tasks and the Genesys simulator in the console's processes: their
    statements are the pipeline's (Databricks and Genesys in production) and stay out of the console's bill."""
    import pandas as pd

    meter = Meter("worker")
    meter.record("SELECT 1 FROM ANALYTICS.CRON_STORE.RPT_OUTBOUND_LISTS", False)
    with meter.attributed("pipeline"):
        meter.record("INSERT INTO ANALYTICS.CRON_STORE.RPT_OUTBOUND_LISTS SELECT 1", False)
        meter.record("INSERT INTO ANALYTICS.CRON_STORE.RPT_OUTBOUND_LISTS SELECT 2", False)
    assert meter.totals[COMPUTE] == 1  # the process's own
    rows = pd.DataFrame([{"AT": r["at"], "PROCESS": r["process"], "KIND": r["kind"]} for r in meter._pending])
    assert list(rows["PROCESS"]) == ["worker", "pipeline", "pipeline"]
    used = cost.usage(rows, 60)
    assert (used["total"], used["pipeline"], used["kinds"][COMPUTE], used["awake"].statements) == (1, 2, 1, 1)


def test_when_show_tables_fails_the_facts_are_read_in_full_not_kept(stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """A role that may read the tables but not list them costs money, never correctness."""
    adapters, _ = stack
    facts.forget_warehouse_facts(adapters)

    def refused(session, names):
        raise RuntimeError("SQL compilation error: insufficient privileges to operate on database 'GENESYS'")

    monkeypatch.setattr(adapters.warehouse, "change_markers", refused)
    first = facts.warehouse_facts(adapters, DAY)
    before = counts(adapters)
    second = facts.warehouse_facts(adapters, DAY)
    assert second is not first and second.uploaded == first.uploaded  # read again, the same facts
    assert counts(adapters)[COMPUTE] > before[COMPUTE]


def test_old_statement_rows_are_pruned_as_flushes_go(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from console.adapters import meter as meter_module
    from console.store import StateStore, warehouse_statements

    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=meter_module.RETENTION_DAYS + 1)
    with store.begin() as conn:
        conn.execute(sa.insert(warehouse_statements), [{"at": old, "process": "ui", "kind": "compute",
                                                        "statement": "old"}])
    meter = Meter("ui")
    meter.record("SHOW TABLES IN DATABASE GENESYS", False)
    assert meter.flush(store) == 1
    with store.connect() as conn:
        left = [r.statement for r in conn.execute(sa.select(warehouse_statements))]
    assert left == ["SHOW TABLES IN DATABASE GENESYS"]


def test_the_audit_page_shows_the_days_warehouse_use_to_the_admin(stack, monkeypatch: pytest.MonkeyPatch) -> None:
    _, env = stack
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    clear_caches()
    at = AppTest.from_file(str(ROOT / "pages" / "7_Audit.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert "The console's warehouse use today" in [h.value for h in at.subheader]
    metrics = {m.label: m.value for m in at.metric}
    assert set(metrics) == {"Statements sent", "Needed a running warehouse", "Warehouse kept awake (estimate)"}
    assert metrics["Warehouse kept awake (estimate)"].endswith(" min")
