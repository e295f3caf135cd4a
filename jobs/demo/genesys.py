"""A Genesys Cloud simulator for the embedded stack: list-automation config, 08:30 imports, 22:30 results.

In production these tables are written by Genesys list automation and by the Kafka connector; here the
same tables are written set-based from the outbound lists. Every "random" choice is a hash of the account,
date and list, so a rerun for a date writes exactly the same rows (delete + insert in one transaction).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd
from snowflake.snowpark import Column
from snowflake.snowpark import functions as F
from snowflake.snowpark.types import LongType, StringType

from jobs.common import Replace, et_to_utc, hash_bucket, load_frame, replace_rows, values_frame
from jobs.schema import ensure_gate

if TYPE_CHECKING:
    from snowflake.snowpark import DataFrame, Session

    from jobs.tables import TableNames

# (list name, channel, Genesys campaign, active). One row per list the workflow sends to Genesys, plus a
# retired list that stays in the config inactive (list automation skips it).
LISTS = (
    ("GR_CALL_LIST", "CALL", "GR Collections - Dialer", True),
    ("REMITTER", "CALL", "GR Remitter Follow-up - Dialer", True),
    ("GR_EMAIL_HIGH_RISK_LETTER", "EMAIL", "GR High Risk Letter - Email", True),
    ("GR_TEXT_ELIGIBLE", "SMS", "GR Collections - SMS", True),
    ("FUNNEL_EMAIL_NON_OPENERS", "EMAIL", "Funnel Non-Openers - Email", True),
    ("FUNNEL_CALL", "CALL", "Funnel Early Stage - Dialer", True),
    ("FUNNEL_SMS", "SMS", "Funnel Early Stage - SMS", True),
    ("PRESCREEN_EMAIL", "EMAIL", "Prescreen Offer - Email", True),
    ("GR_SKIP_TRACE_CALL", "CALL", "GR Skip Trace - Dialer (retired)", False),
)
UPLOAD_AT = "08:30"
CAMPAIGNS_START = "09:00"
EXPORT_AT = "22:30"
PARTIAL_REJECT_SHARE = 0.02  # as [thresholds] import_reject_tolerance in console.toml
TOPIC = "genesys.campaign.results"
PARTITIONS = 6
KAFKA_EPOCH = dt.date(2020, 1, 1)


def contact_list_id(list_name: str) -> str:
    """A stable Genesys-style contact list id (a UUID) for a list name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"genesys/contactlists/{list_name}"))


def config_frame(updated_at: dt.datetime) -> pd.DataFrame:
    return pd.DataFrame({
        "LIST_NAME": [name for name, *_ in LISTS],
        "CHANNEL": [channel for _, channel, *_ in LISTS],
        "CAMPAIGN_NAME": [campaign for _, _, campaign, _ in LISTS],
        "CONTACT_LIST_ID": [contact_list_id(name) for name, *_ in LISTS],
        "ACTIVE": [active for *_, active in LISTS],
        "UPDATED_AT": pd.Series([updated_at] * len(LISTS), dtype="datetime64[us]"),
    })


def write_config(session: Session, tables: TableNames, updated_at: dt.datetime) -> int:
    """Replace the list-automation config with ``LISTS`` (``updated_at`` naive UTC)."""
    return load_frame(session, config_frame(updated_at), tables.list_automation_config, mode="overwrite")


def _draw(*columns: str, modulo: int, salt: str = "") -> Column:
    """A deterministic pseudo-random integer in ``0..modulo-1`` from a hash of ``columns`` (and ``salt``)."""
    return hash_bucket(*columns, modulo=modulo, salt=salt)


def rejected() -> Column:
    """Whether Genesys rejects a list row (bad format, duplicate, internal DNC): 0.3-1.0 % per list."""
    per_mille = _draw("LIST_NAME", modulo=8) + 3
    return _draw("ACCOUNT_ID", "BUSINESS_DATE", "LIST_NAME", modulo=1000, salt="reject") < per_mille


def _dates_frame(session: Session, dates: Sequence[dt.date], upload_at: dt.datetime | None = None) -> DataFrame:
    rows = []
    for day in sorted(set(dates)):
        export_at = et_to_utc(day, EXPORT_AT)
        epoch_ms = int((export_at - dt.datetime(1970, 1, 1)).total_seconds() * 1000)
        rows.append((day, upload_at or et_to_utc(day, UPLOAD_AT), et_to_utc(day, CAMPAIGNS_START), export_at, epoch_ms,
                     (day - KAFKA_EPOCH).days * 10_000_000_000))
    return values_frame(session, [("BUSINESS_DATE", "DATE"), ("UPLOAD_AT", "TIMESTAMP_NTZ"),
                                  ("CAMPAIGNS_AT", "TIMESTAMP_NTZ"), ("EXPORT_AT", "TIMESTAMP_NTZ"),
                                  ("EXPORT_MS", "BIGINT"), ("OFFSET_BASE", "BIGINT")], rows)


def upload(session: Session, tables: TableNames, dates: Sequence[dt.date],
           upload_at: dt.datetime | None = None) -> dict:
    """The 08:30 list-automation imports: one import-log row per active Genesys list and date, except a list the
    console holds for that date (the upload gate, ``list_releases``): it is not uploaded at all.

    ``upload_at`` (naive UTC) replaces 08:30 when the upload runs late (a console started after 08:30, whose
    catch-up has just generated the lists): the imports are stamped as finishing within 30 s of it.
    """
    dates = sorted(set(dates))
    ensure_gate(session, tables)
    config = session.table(tables.list_automation_config).filter(F.col("ACTIVE")).select(
        "LIST_NAME", "CHANNEL", "CONTACT_LIST_ID")
    lists = session.table(tables.released_lists).filter(
        (F.col("DESTINATION") == "GENESYS") & F.col("BUSINESS_DATE").isin(dates))
    counts = lists.group_by("BUSINESS_DATE", "LIST_NAME").agg(
        F.count(F.lit(1)).alias("SENT"), F.sum(F.iff(rejected(), F.lit(1), F.lit(0))).alias("REJECTED"))
    sent = F.coalesce(F.col("SENT"), F.lit(0))
    rejects = F.coalesce(F.col("REJECTED"), F.lit(0)).cast("NUMBER(12,0)")
    status = (F.when(sent == 0, F.lit("FAILED"))
              .when(rejects > sent * PARTIAL_REJECT_SHARE, F.lit("PARTIAL"))
              .otherwise(F.lit("COMPLETED")))
    # A normal upload takes 20-30 minutes; a late one (a catch-up) is stamped as just done: 0-30 s.
    took = _draw("LIST_NAME", "BUSINESS_DATE", modulo=30) if upload_at else \
        _draw("LIST_NAME", "BUSINESS_DATE", modulo=600) + 1200
    started = F.col("UPLOAD_AT") if upload_at else F.dateadd("second", _draw("LIST_NAME", modulo=120),
                                                               F.col("UPLOAD_AT"))
    finished = F.dateadd("second", took, F.col("UPLOAD_AT"))
    rows = (_dates_frame(session, dates, upload_at).cross_join(config)
            .join(counts, on=["BUSINESS_DATE", "LIST_NAME"], how="left")
            .select(F.col("BUSINESS_DATE").alias("BUSINESS_DATE"), F.col("LIST_NAME").alias("LIST_NAME"),
                    F.col("CHANNEL").alias("CHANNEL"), F.col("CONTACT_LIST_ID").alias("CONTACT_LIST_ID"),
                    sent.alias("RECORDS_SENT"), (sent - rejects).alias("RECORDS_ACCEPTED"),
                    rejects.alias("RECORDS_REJECTED"), status.alias("STATUS"),
                    started.alias("STARTED_AT"), finished.alias("FINISHED_AT")))
    held = session.table(tables.list_releases).filter(
        F.col("BUSINESS_DATE").isin(dates) & (F.col("STATE") == F.lit("HELD"))).select(
        "BUSINESS_DATE", "LIST_NAME", "CHANNEL")
    rows = rows.join(held, on=["BUSINESS_DATE", "LIST_NAME", "CHANNEL"], how="left_anti")
    replace_rows(session, [Replace(tables.import_log, F.col("BUSINESS_DATE").isin(dates), rows)])
    stored = session.table(tables.import_log).filter(F.col("BUSINESS_DATE").isin(dates))
    totals = stored.select(F.count(F.lit(1)).alias("IMPORTS"), F.sum("RECORDS_SENT").alias("SENT"),
                           F.sum("RECORDS_REJECTED").alias("REJECTED")).collect()[0]
    return {"dates": len(dates), "imports": int(totals["IMPORTS"]), "records_sent": int(totals["SENT"] or 0),
            "records_rejected": int(totals["REJECTED"] or 0)}


def export(session: Session, tables: TableNames, dates: Sequence[dt.date]) -> dict:
    """The 22:30 results export: one or more outcome rows per contact Genesys accepted at 08:30."""
    dates = sorted(set(dates))
    imported = (session.table(tables.import_log)
                .filter(F.col("BUSINESS_DATE").isin(dates) & (F.col("STATUS") != "FAILED"))
                .select("BUSINESS_DATE", "LIST_NAME", "CONTACT_LIST_ID"))
    contacts = (session.table(tables.outbound_lists)
                .filter((F.col("DESTINATION") == "GENESYS") & F.col("BUSINESS_DATE").isin(dates))
                .join(imported, on=["BUSINESS_DATE", "LIST_NAME"])
                .filter(~rejected())
                .select("BUSINESS_DATE", "LIST_NAME", "CHANNEL", "ACCOUNT_ID", "CONTACT_LIST_ID",
                        _draw("ACCOUNT_ID", "BUSINESS_DATE", "LIST_NAME", modulo=1000).alias("R")))
    steps = values_frame(session, [("STEP", "BIGINT")], [(1,), (2,), (3,)])
    r, step, channel = F.col("R"), F.col("STEP"), F.col("CHANNEL")
    r100 = r % 100
    attempts = F.lit(1) + F.iff(r < 300, F.lit(1), F.lit(0)) + F.iff(r < 80, F.lit(1), F.lit(0))
    keep = (((channel == "CALL") & (step <= attempts))
            | ((channel == "SMS") & ((step == 1) | ((step == 2) & r100.between(8, 11))))
            | ((channel == "EMAIL") & ((step == 1) | ((step == 2) & r100.between(3, 27))
                                       | ((step == 3) & r100.between(3, 7)))))
    # Each draw is computed once in an inner select, then used by name (Snowpark would repeat the hash).
    events = (contacts.cross_join(steps).filter(keep).join(_dates_frame(session, dates), on="BUSINESS_DATE")
              .select("BUSINESS_DATE", "LIST_NAME", "CHANNEL", "ACCOUNT_ID", "CONTACT_LIST_ID", "STEP", "R",
                      "CAMPAIGNS_AT", "EXPORT_AT", "EXPORT_MS", "OFFSET_BASE",
                      _draw("ACCOUNT_ID", "BUSINESS_DATE", "LIST_NAME", "STEP", modulo=100).alias("S"),
                      _draw("ACCOUNT_ID", "BUSINESS_DATE", "LIST_NAME", "STEP", modulo=900, salt="lag").alias("LAG"),
                      _draw("ACCOUNT_ID", "BUSINESS_DATE", modulo=8 * 3600).alias("DIAL_AT"),
                      _draw("ACCOUNT_ID", modulo=PARTITIONS).alias("PARTITION_NO")))
    s, lag = F.col("S"), F.col("LAG")
    call_outcome = (F.when(s < 15, F.lit("ANSWERED")).when(s < 22, F.lit("PROMISE_TO_PAY"))
                    .when(s < 60, F.lit("NO_ANSWER")).when(s < 85, F.lit("VOICEMAIL"))
                    .when(s < 95, F.lit("BUSY")).otherwise(F.lit("WRONG_NUMBER")))
    outcome = (F.when(channel == "CALL", call_outcome)
               .when(channel == "SMS", F.when(step == 2, F.lit("REPLIED"))
                     .when(r100 < 8, F.lit("FAILED")).otherwise(F.lit("DELIVERED")))
               .otherwise(F.when(step == 3, F.lit("CLICKED")).when(step == 2, F.lit("OPENED"))
                          .when(r100 < 3, F.lit("BOUNCED")).otherwise(F.lit("DELIVERED"))))
    first_touch = F.when(channel == "CALL", F.col("DIAL_AT")).when(channel == "SMS", r * 7).otherwise(r * 3)
    later = F.when(channel == "CALL", (step - 1) * 5400).otherwise((step - 1) * s * 120)
    # Kafka offsets: unique per partition and day, increasing with the day (not contiguous).
    list_index = F.lit(0)
    for index, (name, *_) in enumerate(LISTS):
        list_index = F.when(F.col("LIST_NAME") == name, F.lit(index)).otherwise(list_index)
    offset = F.col("OFFSET_BASE") + (F.col("ACCOUNT_ID").cast(LongType()) % 100_000_000) * 64 + list_index * 4 + step

    def text(column: Column) -> Column:
        return column.cast(StringType())

    metadata = F.concat(F.lit('{"CreateTime":'), text(F.col("EXPORT_MS") + lag * 1000), F.lit(',"offset":'),
                        text(offset), F.lit(',"partition":'), text(F.col("PARTITION_NO")),
                        F.lit(f',"topic":"{TOPIC}"}}'))
    rows = events.select(metadata.alias("RECORD_METADATA"), F.col("BUSINESS_DATE").alias("BUSINESS_DATE"),
                         F.col("LIST_NAME").alias("LIST_NAME"), F.col("CHANNEL").alias("CHANNEL"),
                         F.col("ACCOUNT_ID").alias("ACCOUNT_ID"), F.col("CONTACT_LIST_ID").alias("CONTACT_LIST_ID"),
                         outcome.alias("OUTCOME"),
                         F.dateadd("second", first_touch + later, F.col("CAMPAIGNS_AT")).alias("ATTEMPTED_AT"),
                         F.dateadd("second", lag + 2, F.col("EXPORT_AT")).alias("INGESTED_AT"))
    replace_rows(session, [Replace(tables.campaign_results, F.col("BUSINESS_DATE").isin(dates), rows)])
    stored = session.table(tables.campaign_results).filter(F.col("BUSINESS_DATE").isin(dates))
    return {"dates": len(dates), "results": int(stored.count())}
