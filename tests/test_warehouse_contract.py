"""One warehouse contract over the embedded warehouse and, when credentials are set, Snowflake.

What the console relies on from either: SQL and the DataFrame API agree, the bulk-load path
(``jobs.common.load_frame``: parquet on the embedded side, ``write_pandas`` on Snowflake) creates, appends
and overwrites, and a transaction is all or nothing. The Snowflake variant is marked ``production`` and
skipped unless ``SNOWFLAKE_ACCOUNT`` (or ``[connections.snowflake]`` in secrets) is configured; it works in
a scratch table of the connection's database and schema and drops it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from jobs.common import in_transaction, load_frame


@pytest.fixture(params=["embedded", pytest.param("snowflake", marks=pytest.mark.production)])
def scratch(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    """A session and the name of a scratch table that does not exist yet (dropped afterwards)."""
    name = f"CONSOLE_CONTRACT_{uuid.uuid4().hex[:8].upper()}"
    if request.param == "embedded":
        demo = request.getfixturevalue("demo")  # its session was opened before other modules' servers
        session, table = demo.session, f"ANALYTICS.CRON_STORE.{name}"
    else:
        from console.adapters import snowflake
        from console.settings import load_settings, snowflake_connection

        settings = load_settings()
        conn = snowflake_connection(settings)
        if not conn:
            pytest.skip("no Snowflake connection configured (SNOWFLAKE_ACCOUNT or [connections.snowflake])")
        session = snowflake.open_session(settings, conn)
        table = f"{conn['database']}.{conn['schema']}.{name}"
    try:
        yield session, table
    finally:
        session.sql(f"DROP TABLE IF EXISTS {table}").collect()


def frame(start: int, rows: int) -> pd.DataFrame:
    return pd.DataFrame({"ACCOUNT_ID": range(start, start + rows), "CHANNEL": ["CALL", "SMS"] * (rows // 2),
                         "RECORDS": [1] * rows})


def test_bulk_load_creates_appends_and_overwrites(scratch: tuple[Any, str]) -> None:
    session, table = scratch
    assert load_frame(session, frame(0, 1000), table, mode="create") == 1000
    load_frame(session, frame(1000, 500), table)
    assert session.table(table).count() == 1500
    load_frame(session, frame(0, 10), table, mode="overwrite")
    assert session.table(table).count() == 10


def test_sql_and_the_dataframe_api_agree(scratch: tuple[Any, str]) -> None:
    from snowflake.snowpark import functions as F

    session, table = scratch
    load_frame(session, frame(0, 200), table, mode="create")
    by_api = {r["CHANNEL"]: int(r["N"]) for r in session.table(table).group_by("CHANNEL")
              .agg(F.count(F.lit(1)).alias("N")).collect()}
    by_sql = {r["CHANNEL"]: int(r["N"]) for r in session.sql(
        f"SELECT CHANNEL, COUNT(*) AS N FROM {table} GROUP BY CHANNEL").collect()}
    assert by_api == by_sql == {"CALL": 100, "SMS": 100}


def test_a_failed_transaction_changes_nothing(scratch: tuple[Any, str]) -> None:
    session, table = scratch
    load_frame(session, frame(0, 20), table, mode="create")
    with pytest.raises(Exception):  # noqa: B017 - any driver error: the point is the rollback
        in_transaction(session, [f"DELETE FROM {table}", f"INSERT INTO {table} (NO_SUCH_COLUMN) VALUES (1)"])
    assert session.table(table).count() == 20


def test_a_tables_change_marker_moves_with_each_write_and_not_with_a_read(scratch: tuple[Any, str]) -> None:
    """What ``[warehouse] read_when_changed`` relies on: SHOW TABLES (no running warehouse on Snowflake) gives a
    marker that a read leaves alone and every committed write moves, a transaction's included."""
    from console.adapters.warehouse import Warehouse

    session, table = scratch
    warehouse = Warehouse(lambda: session, "contract")
    missing = f"{table}_NONE"
    assert warehouse.change_markers(session, [missing]) == {missing: None}
    load_frame(session, frame(0, 10), table, mode="create")
    created = warehouse.change_markers(session, [table])[table]
    assert created is not None
    assert session.table(table).count() == 10
    assert warehouse.change_markers(session, [table])[table] == created
    load_frame(session, frame(10, 10), table)
    appended = warehouse.change_markers(session, [table])[table]
    assert appended != created
    in_transaction(session, [f"DELETE FROM {table} WHERE ACCOUNT_ID < 5", f"INSERT INTO {table} "
                             "(ACCOUNT_ID, CHANNEL, RECORDS) VALUES (100, 'CALL', 1)"])
    assert warehouse.change_markers(session, [table])[table] not in (created, appended)
