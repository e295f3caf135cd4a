"""Helpers shared by the list tasks and the demo: bulk loads, calendars, suppressions, transactional writes.

They know Snowpark and the table layout (``jobs.schema``), nothing of the console. Two things differ
between the embedded warehouse (fakesnow) and Snowflake, and each is decided in one place here:

- bulk loading a pandas frame (``load_frame``): ``write_pandas`` on Snowflake; on fakesnow, where
  ``write_pandas`` and ``create_dataframe(pandas)`` fail, a parquet file read by ``read_parquet``;
- small literal tables (``values_frame``): a ``SELECT … FROM VALUES`` statement, which both accept
  (``create_dataframe`` from Python lists also fails on fakesnow).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from snowflake.snowpark import Window
from snowflake.snowpark import functions as F
from snowflake.snowpark.types import LongType

from jobs.business_calendar import ET, now_et, previous_business_day

if TYPE_CHECKING:
    import pandas as pd
    from snowflake.snowpark import Column, DataFrame, Session

    from jobs.context import TaskContext
    from jobs.tables import TableNames

logger = logging.getLogger(__name__)

UTC = dt.UTC
CHANNELS = ("CALL", "SMS", "EMAIL")
DESTINATIONS = ("GENESYS", "SFTP_SIMM", "SFTP_SFMC")
LOAD_MODES = ("append", "overwrite", "create")


class SourceDataMissing(RuntimeError):
    """Upstream data a task needs has not arrived (loan tape not loaded, SFTP file not dropped)."""


# --- time ---------------------------------------------------------------------------------------------


def utc_naive(moment: dt.datetime) -> dt.datetime:
    """An aware datetime as naive UTC, the form every TIMESTAMP column stores (see ``jobs.schema``)."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def now_utc() -> dt.datetime:
    """Now as naive UTC (real time; a rehearsal's clock when ``CONSOLE_CLOCK_FILE`` is set)."""
    return utc_naive(now_et())


def et_to_utc(day: dt.date, hhmm: str, seconds: float = 0) -> dt.datetime:
    """``day`` at ``HH:MM`` Eastern plus ``seconds``, as naive UTC (DST-aware)."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    local = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=ET) + dt.timedelta(seconds=seconds)
    return utc_naive(local)


# --- warehouse flavour and bulk loads -----------------------------------------------------------------


def is_fakesnow(session: Session) -> bool:
    """True on the embedded warehouse: its connection uses the account name ``fakesnow``."""
    return str(getattr(session.connection, "account", "") or "").lower() == "fakesnow"


def load_frame(session: Session, pdf: pd.DataFrame, table: str, mode: str = "append") -> int:
    """Bulk-load a pandas frame into ``table`` (fully qualified) and return the number of rows.

    ``mode``: ``append`` inserts into the existing table; ``overwrite`` replaces all its rows in one
    transaction, keeping the declared column types; ``create`` (re)creates the table from the frame's types.
    The frame's column names must be the table's. Snowflake: ``Session.write_pandas``. fakesnow: the frame is
    written to a temporary parquet file that the server reads with ``read_parquet`` (the server runs on
    this machine, so it can open the path).
    """
    if mode not in LOAD_MODES:
        raise ValueError(f"load_frame: mode must be one of {', '.join(LOAD_MODES)}, got {mode!r}")
    columns = ", ".join(str(c) for c in pdf.columns)
    if not is_fakesnow(session):
        database, schema, name = table.split(".")
        session.write_pandas(pdf, name, database=database, schema=schema, auto_create_table=mode == "create",
                             overwrite=mode != "append", use_logical_type=True)
        return len(pdf)
    with tempfile.TemporaryDirectory(prefix="load_frame_") as tmp:
        path = Path(tmp) / "frame.parquet"
        pdf.to_parquet(path, index=False)
        source = f"SELECT {columns} FROM read_parquet('{path.as_posix()}')"
        if mode == "create":
            session.sql(f"CREATE OR REPLACE TABLE {table} AS {source}").collect()
        elif mode == "overwrite":
            in_transaction(session, [f"DELETE FROM {table}", f"INSERT INTO {table} ({columns}) {source}"])
        else:
            session.sql(f"INSERT INTO {table} ({columns}) {source}").collect()
    return len(pdf)


def in_transaction(session: Session, statements: Sequence[str]) -> None:
    """Run SQL statements in one transaction (all or nothing)."""
    session.sql("BEGIN").collect()
    try:
        for statement in statements:
            session.sql(statement).collect()
    except BaseException:
        _rollback(session)
        raise
    session.sql("COMMIT").collect()


def _rollback(session: Session) -> None:
    """Roll back after a failure; a failing rollback is logged, never allowed to hide the first error."""
    try:
        session.sql("ROLLBACK").collect()
    except Exception:
        logger.warning("rollback failed after an error in a transaction", exc_info=True)


# --- literal frames and calendars ---------------------------------------------------------------------


def sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return "'" + value.strftime("%Y-%m-%d %H:%M:%S.%f") + "'"
    if isinstance(value, dt.date):
        return "'" + value.isoformat() + "'"
    return "'" + str(value).replace("'", "''") + "'"


def values_frame(session: Session, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> DataFrame:
    """A small DataFrame from Python values: ``columns`` is ``[(name, SQL type), …]``."""
    if not rows:
        raise ValueError("values_frame needs at least one row")
    body = ", ".join("(" + ", ".join(sql_literal(v) for v in row) + ")" for row in rows)
    select = ", ".join(f"CAST(column{i + 1} AS {kind}) AS {name}" for i, (name, kind) in enumerate(columns))
    return session.sql(f"SELECT {select} FROM VALUES {body}")


def calendar(session: Session, dates: Sequence[dt.date]) -> DataFrame:
    """One row per business date: ``BUSINESS_DATE`` and the business day before it, ``PREV_BUSINESS_DATE``."""
    rows = [(day, previous_business_day(day)) for day in sorted(set(dates))]
    return values_frame(session, [("BUSINESS_DATE", "DATE"), ("PREV_BUSINESS_DATE", "DATE")], rows)


def hash_bucket(*columns: str, modulo: int, salt: str = "") -> Column:
    """``abs(hash(columns [, salt])) % modulo`` as BIGINT: a deterministic pseudo-random bucket.

    Written as SQL text on purpose: Snowpark types the modulus as a signed 64-bit number, and DuckDB computes
    its unsigned hash modulo a signed number in 128-bit arithmetic, ten times slower.
    """
    args = ", ".join(f'"{column}"' for column in columns) + (f", '{salt}'" if salt else "")
    return F.sql_expr(f"abs(hash({args})) % {int(modulo)}").cast(LongType())


def in_range(column: Column | str, dates: Sequence[dt.date]) -> Column:
    """``column`` between the first and the last of ``dates`` (both included)."""
    col = F.col(column) if isinstance(column, str) else column
    return (col >= F.lit(min(dates))) & (col <= F.lit(max(dates)))


# --- suppressions -------------------------------------------------------------------------------------


def active_suppressions(session: Session, tables: TableNames, cal: DataFrame) -> DataFrame:
    """``BUSINESS_DATE, ACCOUNT_ID, CHANNEL, REASON`` for every suppression active on each calendar date."""
    supp = session.table(tables.suppressions)
    active = (supp["START_DATE"] <= cal["BUSINESS_DATE"]) & (
        supp["END_DATE"].is_null() | (supp["END_DATE"] >= cal["BUSINESS_DATE"]))
    return cal.join(supp, active).select(
        cal["BUSINESS_DATE"].alias("BUSINESS_DATE"), supp["ACCOUNT_ID"].alias("ACCOUNT_ID"),
        supp["CHANNEL"].alias("CHANNEL"), supp["REASON"].alias("REASON"))


def without_suppressed(rows: DataFrame, suppressions: DataFrame, channel: str) -> DataFrame:
    """``rows`` (with BUSINESS_DATE, ACCOUNT_ID) minus accounts suppressed for ``channel`` (or ALL) that date."""
    blocked = suppressions.filter(F.col("CHANNEL").isin("ALL", channel)).select("BUSINESS_DATE", "ACCOUNT_ID")
    return rows.join(blocked, on=["BUSINESS_DATE", "ACCOUNT_ID"], how="left_anti")


# --- transactional writes -----------------------------------------------------------------------------


@dataclass
class Replace:
    """Delete ``where`` from ``table``, then insert ``rows`` (columns matched by name).

    ``rows`` may be several DataFrames, inserted one after the other: fakesnow cannot describe a Snowpark
    ``union_all``, so a write never inserts a union.
    """

    table: str
    where: Column
    rows: DataFrame | Sequence[DataFrame] | None


def replace_rows(session: Session, writes: Sequence[Replace]) -> None:
    """All the deletes, then all the inserts, in ONE transaction: readers never see a half-written day."""
    session.sql("BEGIN").collect()
    try:
        for write in writes:
            session.table(write.table).delete(write.where)
        for write in writes:
            if write.rows is None:
                continue
            frames = write.rows if isinstance(write.rows, Sequence) else [write.rows]
            for frame in frames:
                frame.write.save_as_table(write.table, mode="append", column_order="name")
    except BaseException:
        _rollback(session)
        raise
    session.sql("COMMIT").collect()


# --- outbound lists -----------------------------------------------------------------------------------


@dataclass
class ListSpec:
    """One outbound list a task writes; ``rows`` has BUSINESS_DATE, ACCOUNT_ID, DAYS_PAST_DUE and the
    columns ``order_by`` uses, one row per account and date."""

    name: str
    channel: str
    destination: str
    rows: DataFrame
    order_by: Sequence[Column]


def base_population(ctx: TaskContext) -> DataFrame:
    """BI-2482's base population for the task's dates."""
    return ctx.session.table(ctx.tables.base_population).filter(in_range("BUSINESS_DATE", ctx.dates))


# The demo backfill gives its history the GENERATED_AT of scheduled runs (see ``stamped_backfill``).
_backfill_stamps: ContextVar[Callable[[str], DataFrame] | None] = ContextVar("backfill_stamps", default=None)


@contextmanager
def stamped_backfill(stamps: Callable[[str], DataFrame]) -> Iterator[None]:
    """Within the block, ``write_lists`` takes GENERATED_AT from ``stamps(task_key)`` (a frame of
    BUSINESS_DATE, STAMP_AT) instead of the current time: a backfill that looks like scheduled runs."""
    token = _backfill_stamps.set(stamps)
    try:
        yield
    finally:
        _backfill_stamps.reset(token)


def list_rows(ctx: TaskContext, task_key: str, spec: ListSpec, suppressions: DataFrame,
              generated_at: dt.datetime) -> DataFrame:
    """The rows of one list as stored in outbound_lists: valid contact, not suppressed, prioritised."""
    if spec.channel not in CHANNELS or spec.destination not in DESTINATIONS:
        raise ValueError(f"{spec.name}: unknown channel {spec.channel!r} or destination {spec.destination!r}")
    accounts = ctx.session.table(ctx.tables.accounts)
    if spec.channel == "EMAIL":
        contacts = accounts.filter(accounts["EMAIL_VALID"] & accounts["EMAIL"].is_not_null()).select(
            accounts["ACCOUNT_ID"].alias("ACCOUNT_ID"), accounts["EMAIL"].alias("CONTACT"))
    else:
        contacts = accounts.filter(accounts["PHONE_VALID"] & accounts["PHONE"].is_not_null()).select(
            accounts["ACCOUNT_ID"].alias("ACCOUNT_ID"), accounts["PHONE"].alias("CONTACT"))
    rows = without_suppressed(spec.rows, suppressions, spec.channel).join(contacts, on="ACCOUNT_ID")
    stamps = _backfill_stamps.get()
    stamp = F.lit(generated_at)
    if stamps is not None:
        rows = rows.join(stamps(task_key), on="BUSINESS_DATE")
        stamp = F.col("STAMP_AT")
    priority = Window.partition_by("BUSINESS_DATE").order_by(*spec.order_by, F.col("ACCOUNT_ID"))
    return rows.select(
        F.col("BUSINESS_DATE").alias("BUSINESS_DATE"),
        F.lit(spec.name).alias("LIST_NAME"),
        F.lit(spec.channel).alias("CHANNEL"),
        F.lit(spec.destination).alias("DESTINATION"),
        F.col("ACCOUNT_ID").alias("ACCOUNT_ID"),
        F.lit(task_key).alias("TASK_KEY"),
        F.col("CONTACT").alias("CONTACT"),
        F.col("DAYS_PAST_DUE").alias("DAYS_PAST_DUE"),
        F.row_number().over(priority).alias("PRIORITY"),
        stamp.alias("GENERATED_AT"),
    )


def write_lists(ctx: TaskContext, task_key: str, specs: Sequence[ListSpec], also: Sequence[Replace] = ()) -> dict:
    """Replace the task's rows in outbound_lists for its dates (and any ``also`` writes) in one transaction.

    Suppressions are applied again here, at write time, so a suppression that arrived after BI-2482 ran
    still keeps the account off a list that is rerun later in the day. Returns row counts per list.
    """
    session, dates = ctx.session, ctx.dates
    if not dates:
        raise ValueError(f"{task_key}: no business day between {ctx.first_date} and {ctx.business_date}")
    suppressions = active_suppressions(session, ctx.tables, calendar(session, dates))
    generated_at = now_utc()
    frames = [list_rows(ctx, task_key, spec, suppressions, generated_at) for spec in specs]
    mine = (F.col("TASK_KEY") == F.lit(task_key)) & in_range("BUSINESS_DATE", dates)
    replace_rows(session, [*also, Replace(ctx.tables.outbound_lists, mine, frames)])
    counts = {spec.name: 0 for spec in specs}
    stored = session.table(ctx.tables.outbound_lists).filter(mine)
    for row in stored.group_by("LIST_NAME").agg(F.count(F.lit(1)).alias("N")).collect():
        counts[row["LIST_NAME"]] = int(row["N"])
    return {"rows": sum(counts.values()), "lists": counts, "dates": len(dates),
            "first_date": min(dates).isoformat(), "business_date": max(dates).isoformat()}


# --- files for SFTP -----------------------------------------------------------------------------------


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as CSV atomically (a reader never sees half a file); pyarrow's writer, 5x pandas'."""
    partial = path.with_name(path.name + ".part")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pa_csv.write_csv(table, partial, pa_csv.WriteOptions(quoting_style="needed"))
    os.replace(partial, path)
    return path


def write_daily_files(frame: pd.DataFrame, folder: Path, prefix: str, dates: Sequence[dt.date]) -> list[Path]:
    """One CSV per date (``<prefix>_YYYYMMDD.csv``, header only when the date has no rows); ``frame`` has a
    BUSINESS_DATE column, which the files leave out."""
    folder.mkdir(parents=True, exist_ok=True)
    columns = [c for c in frame.columns if c != "BUSINESS_DATE"]
    groups = {key: part for key, part in frame.groupby("BUSINESS_DATE", sort=False)}
    return [write_csv(groups.get(day, frame.iloc[0:0])[columns], folder / f"{prefix}_{day:%Y%m%d}.csv")
            for day in sorted(set(dates))]
