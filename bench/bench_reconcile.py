"""Reconciliation plus every quality check for one business date, against the same aggregations in DuckDB.

Builds one business date with N list records (accounts on two lists each, the Genesys import log, ~1.3
results per accepted contact, suppressions, the base population, 60 days of daily volumes) as parquet,
loads it into a fresh embedded warehouse (a separate process, as in `make run`) and into an in-memory
DuckDB in this process, then times ``console.reconcile.compute`` (Snowpark → fakesnow) and the same
aggregations written directly as DuckDB SQL, alternating, median of ``--repeat`` runs each.
Prints time, peak resident memory (this process and the warehouse), and rows transferred to Python.

Target (issue 5): within 1.5× DuckDB at 1M and 5M list records.
Usage: python bench/bench_reconcile.py --records 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._util import peak_rss_mb, reset_peak, rss_mb, warehouse_process

DAY = dt.date(2026, 11, 25)
LISTS = [  # name, channel, destination
    ("GR_CALL_LIST", "CALL", "GENESYS"), ("REMITTER", "CALL", "GENESYS"),
    ("GR_EMAIL_HIGH_RISK_LETTER", "EMAIL", "GENESYS"), ("GR_TEXT_ELIGIBLE", "SMS", "GENESYS"),
    ("FUNNEL_EMAIL_NON_OPENERS", "EMAIL", "GENESYS"), ("FUNNEL_CALL", "CALL", "GENESYS"),
    ("FUNNEL_SMS", "SMS", "GENESYS"), ("PRESCREEN_EMAIL", "EMAIL", "GENESYS"),
    ("SIMM_PLACEMENT", "CALL", "SFTP_SIMM"), ("PIF_TO_SFMC", "EMAIL", "SFTP_SFMC"),
]
REASONS = ["DO_NOT_CALL", "SMS_OPT_OUT", "EMAIL_UNSUBSCRIBE", "BANKRUPTCY", "CEASE_AND_DESIST", "DECEASED",
           "ATTORNEY_REPRESENTED", "DISPUTE"]


def _case(column: str, values: list[str]) -> str:
    return "CASE " + " ".join(f"WHEN {column} = {i} THEN '{v}'" for i, v in enumerate(values)) + " END"


def build_parquet(con: Any, folder: Path, records: int) -> dict[str, Path]:
    """Synthetic tables for DAY as parquet files (DuckDB SQL; deterministic)."""
    from console.clock import last_business_days
    from jobs.demo.genesys import LISTS as CONFIG
    from jobs.demo.genesys import contact_list_id

    accounts = records // 2
    suppressed = int(accounts * 0.035)
    names = [n for n, _, _ in LISTS]
    channels = [c for _, c, _ in LISTS]
    dests = [d for _, _, d in LISTS]
    sql = {
        "outbound_lists": f"""
            SELECT DATE '{DAY}' AS BUSINESS_DATE, {_case('i % 10', names)} AS LIST_NAME,
                   {_case('i % 10', channels)} AS CHANNEL, {_case('i % 10', dests)} AS DESTINATION,
                   (i // 2 + 1)::BIGINT AS ACCOUNT_ID, 'BI-737' AS TASK_KEY,
                   CASE WHEN {_case('i % 10', channels)} = 'EMAIL' THEN 'user' || (i // 2 + 1) || '@example.com'
                        ELSE '555-' || lpad(((i // 2) % 10000)::VARCHAR, 4, '0') END AS CONTACT,
                   (i % 120)::INTEGER AS DAYS_PAST_DUE, (i // 10 + 1)::BIGINT AS PRIORITY,
                   TIMESTAMP '{DAY} 11:30:00' AS GENERATED_AT
            FROM range({records}) t(i)""",
        "suppressions": f"""
            SELECT ({accounts} + 1 + i)::BIGINT AS ACCOUNT_ID, {_case('i % 8', REASONS)} AS REASON,
                   CASE i % 8 WHEN 0 THEN 'CALL' WHEN 1 THEN 'SMS' WHEN 2 THEN 'EMAIL' ELSE 'ALL' END AS CHANNEL,
                   DATE '2026-01-02' AS START_DATE, NULL::DATE AS END_DATE
            FROM range({suppressed}) t(i)""",
        "base_population": f"""
            SELECT DATE '{DAY}' AS BUSINESS_DATE, (i + 1)::BIGINT AS ACCOUNT_ID
            FROM range({accounts + suppressed}) t(i)""",
    }
    paths = {}
    for name, query in sql.items():
        paths[name] = folder / f"{name}.parquet"
        con.execute(f"COPY ({query}) TO '{paths[name]}' (FORMAT parquet)")
    con.execute(f"CREATE OR REPLACE TABLE L AS SELECT * FROM read_parquet('{paths['outbound_lists']}')")
    rejected = "(hash(ACCOUNT_ID, LIST_NAME) % 200 = 0)"
    con.execute(f"""COPY (SELECT BUSINESS_DATE, LIST_NAME, CHANNEL, 'id-' || LIST_NAME AS CONTACT_LIST_ID,
                   count(*)::BIGINT AS RECORDS_SENT,
                   sum(CASE WHEN {rejected} THEN 0 ELSE 1 END)::BIGINT AS RECORDS_ACCEPTED,
                   sum(CASE WHEN {rejected} THEN 1 ELSE 0 END)::BIGINT AS RECORDS_REJECTED, 'COMPLETED' AS STATUS,
                   TIMESTAMP '{DAY} 13:30:00' AS STARTED_AT, TIMESTAMP '{DAY} 13:55:00' AS FINISHED_AT
                   FROM L WHERE DESTINATION = 'GENESYS' GROUP BY ALL)
                   TO '{folder / 'import_log.parquet'}' (FORMAT parquet)""")
    con.execute(f"""COPY (SELECT '{{}}' AS RECORD_METADATA, BUSINESS_DATE, LIST_NAME, CHANNEL, ACCOUNT_ID,
                   'id-' || LIST_NAME AS CONTACT_LIST_ID, 'DELIVERED' AS OUTCOME,
                   TIMESTAMP '{DAY} 15:00:00' AS ATTEMPTED_AT,
                   TIMESTAMP '{DAY + dt.timedelta(days=1)} 03:40:00' AS INGESTED_AT
                   FROM L, range(2) s(step)
                   WHERE DESTINATION = 'GENESYS' AND NOT {rejected} AND (step = 0 OR hash(ACCOUNT_ID) % 10 < 3))
                   TO '{folder / 'campaign_results.parquet'}' (FORMAT parquet)""")
    paths["import_log"] = folder / "import_log.parquet"
    paths["campaign_results"] = folder / "campaign_results.parquet"
    history = last_business_days(DAY, 61)
    per_list = records // 10
    rows = ", ".join(f"(DATE '{d}', '{n}', '{c}', '{dest}', {per_list + (hash((d, n)) % 41) - 20})"
                     for d in history[:-1] for n, c, dest in LISTS)
    con.execute(f"""COPY (SELECT col0 AS BUSINESS_DATE, col1 AS LIST_NAME, col2 AS CHANNEL, col3 AS DESTINATION,
                   col4::BIGINT AS RECORDS, col4::BIGINT AS ACCOUNTS, TIMESTAMP '{DAY} 12:00:00' AS REFRESHED_AT
                   FROM (VALUES {rows})) TO '{folder / 'daily_volumes.parquet'}' (FORMAT parquet)""")
    paths["daily_volumes"] = folder / "daily_volumes.parquet"
    prev = history[-2]
    con.execute(f"""COPY (SELECT * FROM (VALUES (DATE '{prev}', TIMESTAMP '{prev} 10:20:00', {accounts}, 900),
                   (DATE '{DAY}', TIMESTAMP '{DAY} 10:25:00', {accounts}, 950))
                   t(AS_OF_DATE, LOADED_AT, ACCOUNTS, CHANGES))
                   TO '{folder / 'loan_tape_loads.parquet'}' (FORMAT parquet)""")
    paths["loan_tape_loads"] = folder / "loan_tape_loads.parquet"
    updated = "TIMESTAMP '2026-01-02 15:00:00'"
    values = ", ".join(f"('{n}', '{c}', '{camp}', '{contact_list_id(n)}', {str(a).upper()}, {updated})"
                       for n, c, camp, a in CONFIG)
    con.execute(f"""COPY (SELECT * FROM (VALUES {values}) t(LIST_NAME, CHANNEL, CAMPAIGN_NAME, CONTACT_LIST_ID,
                   ACTIVE, UPDATED_AT)) TO '{folder / 'list_automation_config.parquet'}' (FORMAT parquet)""")
    paths["list_automation_config"] = folder / "list_automation_config.parquet"
    con.execute("DROP TABLE L")
    return paths


def duckdb_aggregations(con: Any) -> int:
    """The same aggregations as ``reconcile.compute`` issues, as plain DuckDB SQL; returns rows fetched."""
    d = f"DATE '{DAY}'"
    valid = ("(CONTACT IS NOT NULL AND length(trim(CONTACT)) > 0 AND CASE WHEN CHANNEL = 'EMAIL' THEN "
             "CONTACT LIKE '%@%.%' ELSE NOT CONTACT LIKE '%@%' AND length(CONTACT) >= 7 END)")
    active = (f"SELECT ACCOUNT_ID AS S_ACCOUNT_ID, CHANNEL AS S_CHANNEL, REASON FROM suppressions "
              f"WHERE START_DATE <= {d} AND (END_DATE IS NULL OR END_DATE >= {d})")
    queries = [
        f"""SELECT LIST_NAME, CHANNEL, DESTINATION, count(*), count(DISTINCT ACCOUNT_ID),
            sum(CASE WHEN {valid} THEN 0 ELSE 1 END) FROM outbound_lists WHERE BUSINESS_DATE = {d} GROUP BY ALL""",
        f"""SELECT LIST_NAME, CHANNEL, count(*), sum(CASE WHEN STATUS = 'FAILED' THEN 1 ELSE 0 END),
            sum(RECORDS_SENT), sum(RECORDS_ACCEPTED), sum(RECORDS_REJECTED), max(FINISHED_AT)
            FROM import_log WHERE BUSINESS_DATE = {d} GROUP BY ALL""",
        f"""SELECT LIST_NAME, CHANNEL, count(DISTINCT ACCOUNT_ID), count(*), max(INGESTED_AT)
            FROM campaign_results WHERE BUSINESS_DATE = {d} GROUP BY ALL""",
        f"""SELECT AS_OF_DATE, LOADED_AT, ACCOUNTS FROM loan_tape_loads WHERE AS_OF_DATE <= {d}
            ORDER BY AS_OF_DATE DESC, LOADED_AT DESC LIMIT 2""",
        f"""SELECT BUSINESS_DATE, LIST_NAME, CHANNEL, DESTINATION, RECORDS, ACCOUNTS FROM daily_volumes
            WHERE BUSINESS_DATE >= {d} - INTERVAL 8 WEEK AND BUSINESS_DATE <= {d}""",
        f"""SELECT LIST_NAME, REASON, count(DISTINCT ACCOUNT_ID) FROM
            (SELECT LIST_NAME, CHANNEL, ACCOUNT_ID FROM outbound_lists WHERE BUSINESS_DATE = {d}) l
            JOIN ({active}) s ON l.ACCOUNT_ID = s.S_ACCOUNT_ID AND (s.S_CHANNEL = l.CHANNEL OR s.S_CHANNEL = 'ALL')
            GROUP BY ALL ORDER BY 1, 2""",
        f"""SELECT REASON, count(DISTINCT ACCOUNT_ID) FROM
            (SELECT ACCOUNT_ID FROM base_population WHERE BUSINESS_DATE = {d}) b
            JOIN ({active}) s ON b.ACCOUNT_ID = s.S_ACCOUNT_ID GROUP BY ALL""",
        "SELECT DISTINCT LIST_NAME, CHANNEL FROM list_automation_config WHERE ACTIVE",
    ]
    return sum(len(con.execute(q).fetchall()) for q in queries)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000, help="list records on the measured date")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--full-describe", action="store_true",
                        help="turn off Snowpark's reduce_describe_query_enabled, which the console's embedded "
                             "sessions now use (the DESCRIBE round trips of before)")
    args = parser.parse_args()
    with warehouse_process("bench-reconcile-") as (tmp, warehouse):
        run(args, tmp, warehouse.pid)


def run(args: argparse.Namespace, tmp: Path, warehouse_pid: int) -> None:
    import duckdb
    from snowflake.snowpark import DataFrame

    from console import reconcile
    from console.adapters.embedded_warehouse import open_session
    from console.clock import at_et
    from console.settings import load_settings
    from jobs.schema import COLUMNS, create_tables

    settings = load_settings()
    tables = settings.tables.all()
    started = time.perf_counter()
    con = duckdb.connect()
    paths = build_parquet(con, tmp, args.records)
    session = open_session(settings)
    if args.full_describe:
        session.reduce_describe_query_enabled = False
    create_tables(session, settings.tables, replace=True)
    for key, path in paths.items():
        columns = ", ".join(c for c, _ in COLUMNS[key] if key != "base_population" or c in ("BUSINESS_DATE",
                                                                                             "ACCOUNT_ID"))
        session.sql(f"INSERT INTO {tables[key]} ({columns}) SELECT {columns} FROM read_parquet('{path}')").collect()
        con.execute(f"CREATE TABLE {key} AS SELECT * FROM read_parquet('{path}')")
    sizes = {k: con.execute(f"SELECT count(*) FROM {k}").fetchone()[0] for k in paths}  # type: ignore[index]
    print(f"data: {args.records:,} list records on {DAY}; " + ", ".join(f"{k} {v:,}" for k, v in sizes.items())
          + f" (built and loaded in {time.perf_counter() - started:.1f} s)")

    transferred = 0
    original = DataFrame.collect

    def counting(self, *a, **kw):  # type: ignore[no-untyped-def]
        nonlocal transferred
        rows = original(self, *a, **kw)
        transferred += len(rows)
        return rows

    DataFrame.collect = counting  # type: ignore[method-assign]
    now = at_et(DAY + dt.timedelta(days=1), "08:00")
    result = reconcile.compute(session, settings, DAY, now)  # warm-up (plans, connections)
    duckdb_aggregations(con)
    bad = [c.name for c in result.checks if c.status == "fail"] + list(result.mismatches["LIST_NAME"])
    with session.query_history(include_describe=True) as history:
        reconcile.compute(session, settings, DAY, now)
    describes = sum(1 for q in history.queries if q.is_describe)
    print(f"round trips per reconcile + checks: {len(history.queries)} ({describes} of them DESCRIBE)")
    print(f"result: {result.matched} of {result.pairs} lists matched; failed checks/mismatches: {bad or 'none'}")
    reset_peak()
    reset_peak(warehouse_pid)
    base_self, base_wh = rss_mb(), rss_mb(warehouse_pid)
    snow, duck, rows_duck = [], [], 0
    for _ in range(args.repeat):
        transferred = 0
        t0 = time.perf_counter()
        reconcile.compute(session, settings, DAY, now)
        snow.append(time.perf_counter() - t0)
        rows_snow = transferred
        t0 = time.perf_counter()
        rows_duck = duckdb_aggregations(con)
        duck.append(time.perf_counter() - t0)
    DataFrame.collect = original  # type: ignore[method-assign]
    s, d = statistics.median(snow), statistics.median(duck)
    print(f"reconcile + checks (Snowpark → embedded warehouse): median {s:.2f} s (min {min(snow):.2f}, "
          f"max {max(snow):.2f}) over {args.repeat} runs; rows to Python {rows_snow}")
    print(f"same aggregations directly in DuckDB (this process): median {d:.2f} s; rows fetched {rows_duck}")
    print(f"ratio embedded/DuckDB: {s / d:.2f}x (target <= 1.5x)")
    print(f"peak RSS during the runs: bench process {peak_rss_mb():.0f} MiB (was {base_self:.0f} before), "
          f"warehouse process {peak_rss_mb(warehouse_pid):.0f} MiB (was {base_wh:.0f} before)")


if __name__ == "__main__":
    main()
