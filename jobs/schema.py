"""Every warehouse table the list jobs, the demo and the console use, with explicit column types.

Conventions, the same in the embedded warehouse and on Snowflake:

- Table names always come from settings (``[tables]`` in console.toml); nothing here hard-codes them.
- Every TIMESTAMP column is ``TIMESTAMP_NTZ`` holding **UTC** wall-clock time (naive, no offset). Convert
  to America/New_York only for display; ``jobs.common.utc_naive`` and ``et_to_utc`` do the conversions.
- Business dates are ``DATE`` values of the America/New_York calendar.
- Integers are ``NUMBER(p,0)`` with a small precision (stored as 32/64-bit integers by DuckDB, a plain
  NUMBER on Snowflake); money is ``NUMBER(12,2)``.
- A date interval ``START_DATE``/``END_DATE`` includes both ends; ``END_DATE`` NULL means open-ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from snowflake.snowpark import Session

    from jobs.tables import TableNames

ID = "NUMBER(12,0)"
INT = "NUMBER(12,0)"
SMALL = "NUMBER(5,0)"
MONEY = "NUMBER(12,2)"
TS = "TIMESTAMP_NTZ"

# Column lists per logical table (the keys of ``TableNames``). Other code depends on these names.
LIST_AUTOMATION_CONFIG = (
    ("LIST_NAME", "VARCHAR"),
    ("CHANNEL", "VARCHAR"),
    ("CAMPAIGN_NAME", "VARCHAR"),
    ("CONTACT_LIST_ID", "VARCHAR"),
    ("ACTIVE", "BOOLEAN"),
    ("UPDATED_AT", TS),
)

COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    # The static portfolio: one row per loan account, contact details and consents.
    "accounts": (
        ("ACCOUNT_ID", ID),
        ("OPEN_DATE", "DATE"),
        ("STATE", "VARCHAR(2)"),
        ("TIME_ZONE", "VARCHAR"),
        ("PHONE", "VARCHAR"),
        ("PHONE_VALID", "BOOLEAN"),
        ("EMAIL", "VARCHAR"),
        ("EMAIL_VALID", "BOOLEAN"),
        ("SMS_CONSENT", "BOOLEAN"),
        ("EMAIL_CONSENT", "BOOLEAN"),
        ("MARKETING_CONSENT", "BOOLEAN"),
        ("RISK_SCORE", SMALL),
        ("LOAN_AMOUNT", MONEY),
        ("TERM_MONTHS", SMALL),
        ("MONTHLY_PAYMENT", MONEY),
    ),
    # Change-log loan tape: one row per account per change. The state on date D is the latest row with
    # EFFECTIVE_DATE <= D; while DELINQUENT, DPD on D = DAYS_PAST_DUE_AT_EFFECTIVE + (D - EFFECTIVE_DATE).
    "loan_tape": (
        ("ACCOUNT_ID", ID),
        ("EFFECTIVE_DATE", "DATE"),
        ("LOAN_STATUS", "VARCHAR"),  # CURRENT | DELINQUENT | PAID_IN_FULL | CHARGED_OFF
        ("DAYS_PAST_DUE_AT_EFFECTIVE", SMALL),
        ("PRINCIPAL_BALANCE", MONEY),
        ("AMOUNT_DUE", MONEY),
        ("LAST_PAYMENT_DATE", "DATE"),
        ("LOADED_AT", TS),
    ),
    # One row per daily tape load (the loan-tape freshness check reads it).
    "loan_tape_loads": (
        ("AS_OF_DATE", "DATE"),
        ("LOADED_AT", TS),
        ("ACCOUNTS", INT),  # accounts in the delivered snapshot
        ("CHANGES", INT),  # change rows this load added to the tape
    ),
    "suppressions": (
        ("ACCOUNT_ID", ID),
        ("REASON", "VARCHAR"),
        ("CHANNEL", "VARCHAR"),  # ALL | CALL | SMS | EMAIL
        ("START_DATE", "DATE"),
        ("END_DATE", "DATE"),  # last day it applies; NULL = active until lifted
    ),
    # Genesys list-automation config: one row per list destined for Genesys.
    "list_automation_config": LIST_AUTOMATION_CONFIG,
    # BI-2584's daily snapshot of that config.
    "config_history": (("SNAPSHOT_DATE", "DATE"), *LIST_AUTOMATION_CONFIG),
    "outbound_lists": (
        ("BUSINESS_DATE", "DATE"),
        ("LIST_NAME", "VARCHAR"),
        ("CHANNEL", "VARCHAR"),  # CALL | SMS | EMAIL
        ("DESTINATION", "VARCHAR"),  # GENESYS | SFTP_SIMM | SFTP_SFMC
        ("ACCOUNT_ID", ID),
        ("TASK_KEY", "VARCHAR"),  # short ticket id of the task that wrote the row, e.g. BI-737
        ("CONTACT", "VARCHAR"),  # the phone number or e-mail address used
        ("DAYS_PAST_DUE", SMALL),
        ("PRIORITY", INT),  # 1 = first to contact, within (BUSINESS_DATE, LIST_NAME)
        ("GENERATED_AT", TS),
    ),
    # BI-2482: on each business date, every account an outbound program may contact (delinquent, closed in
    # the last 30 days, or current with marketing consent), with its tape state as of that date and the
    # channel flags after consents, contact validity and the suppressions active on that date.
    "base_population": (
        ("BUSINESS_DATE", "DATE"),
        ("ACCOUNT_ID", ID),
        ("LOAN_STATUS", "VARCHAR"),
        ("STATUS_EFFECTIVE_DATE", "DATE"),  # EFFECTIVE_DATE of the tape row in force
        ("DAYS_PAST_DUE", SMALL),
        ("DPD_BUCKET", "VARCHAR"),  # CURRENT | 1-29 | 30-59 | 60-89 | 90-119 | CHARGED_OFF | PAID_IN_FULL
        ("PRINCIPAL_BALANCE", MONEY),
        ("AMOUNT_DUE", MONEY),
        ("LAST_PAYMENT_DATE", "DATE"),
        ("RISK_TIER", "VARCHAR"),  # LOW | MEDIUM | HIGH
        ("CALL_OK", "BOOLEAN"),
        ("SMS_OK", "BOOLEAN"),
        ("EMAIL_OK", "BOOLEAN"),
        ("MARKETING_OK", "BOOLEAN"),
    ),
    # DI-986: the funnel population of each date.
    "funnel_population": (
        ("BUSINESS_DATE", "DATE"),
        ("ACCOUNT_ID", ID),
        ("FUNNEL_SOURCE", "VARCHAR"),  # EMAIL_NON_OPENER | EARLY_DELINQUENT
        ("LOAN_STATUS", "VARCHAR"),
        ("DAYS_PAST_DUE", SMALL),
        ("CALL_OK", "BOOLEAN"),
        ("SMS_OK", "BOOLEAN"),
        ("EMAIL_OK", "BOOLEAN"),
    ),
    # DI-749: the SFTP e-mail non-openers files, one row per file line, keyed by the file's business date.
    "email_non_openers": (
        ("BUSINESS_DATE", "DATE"),
        ("ACCOUNT_ID", ID),
        ("EMAIL_ADDRESS", "VARCHAR"),
        ("SEND_DATE", "DATE"),
        ("CAMPAIGN_NAME", "VARCHAR"),
        ("FILE_NAME", "VARCHAR"),
        ("LOADED_AT", TS),
    ),
    "import_log": (
        ("BUSINESS_DATE", "DATE"),
        ("LIST_NAME", "VARCHAR"),
        ("CHANNEL", "VARCHAR"),
        ("CONTACT_LIST_ID", "VARCHAR"),
        ("RECORDS_SENT", INT),
        ("RECORDS_ACCEPTED", INT),
        ("RECORDS_REJECTED", INT),
        ("STATUS", "VARCHAR"),  # COMPLETED | PARTIAL | FAILED
        ("STARTED_AT", TS),
        ("FINISHED_AT", TS),
    ),
    # As the Snowflake Kafka connector with schematization lands them (RECORD_METADATA is JSON text).
    "campaign_results": (
        ("RECORD_METADATA", "VARCHAR"),
        ("BUSINESS_DATE", "DATE"),
        ("LIST_NAME", "VARCHAR"),
        ("CHANNEL", "VARCHAR"),
        ("ACCOUNT_ID", ID),
        ("CONTACT_LIST_ID", "VARCHAR"),
        ("OUTCOME", "VARCHAR"),
        ("ATTEMPTED_AT", TS),
        ("INGESTED_AT", TS),
    ),
    # Built by the console (console/volumes.py) from outbound_lists after each run: what trends read.
    "daily_volumes": (
        ("BUSINESS_DATE", "DATE"),
        ("LIST_NAME", "VARCHAR"),
        ("CHANNEL", "VARCHAR"),
        ("DESTINATION", "VARCHAR"),
        ("RECORDS", INT),
        ("ACCOUNTS", INT),  # distinct accounts (fewer than RECORDS only when a list holds duplicates)
        ("REFRESHED_AT", TS),
    ),
    # The upload gate (console/releases.py): the latest decision per business date × list × channel.
    "list_releases": (
        ("BUSINESS_DATE", "DATE"),
        ("LIST_NAME", "VARCHAR"),
        ("CHANNEL", "VARCHAR"),
        ("STATE", "VARCHAR"),  # RELEASED | HELD
        ("REASON", "VARCHAR"),  # why it is held, or why a person released it
        ("CHECKS", "VARCHAR"),  # the blocking checks that failed, comma-separated
        ("DECIDED_BY", "VARCHAR"),  # "console", or the person who released it
        ("DECIDED_AT", TS),
    ),
}


def released_view_sql(tables: TableNames) -> str:
    """The view an upload reads: every list row of its date unless the list is on hold for that date."""
    return (f"CREATE OR REPLACE VIEW {tables.released_lists} AS SELECT l.* FROM {tables.outbound_lists} l "
            f"LEFT JOIN {tables.list_releases} r ON r.BUSINESS_DATE = l.BUSINESS_DATE "
            "AND r.LIST_NAME = l.LIST_NAME AND r.CHANNEL = l.CHANNEL WHERE r.STATE IS NULL OR r.STATE <> 'HELD'")


def ensure_gate(session: Session, tables: TableNames) -> None:
    """The gate's table and view on a warehouse created before they existed (both idempotent)."""
    body = ", ".join(f"{column} {kind}" for column, kind in COLUMNS["list_releases"])
    session.sql(f"CREATE TABLE IF NOT EXISTS {tables.list_releases} ({body})").collect()
    session.sql(released_view_sql(tables)).collect()


def column_names(name: str) -> list[str]:
    """The column names of a logical table, in order."""
    return [column for column, _ in COLUMNS[name]]


def create_tables(session: Session, tables: TableNames, replace: bool = False) -> None:
    """Create every schema and table if missing; ``replace=True`` recreates the tables empty."""
    names = tables.all()
    for schema in sorted({name.rsplit(".", 1)[0] for name in names.values()}):
        session.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}").collect()
    verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE IF NOT EXISTS"
    for key, columns in COLUMNS.items():
        body = ", ".join(f"{column} {kind}" for column, kind in columns)
        session.sql(f"{verb} {names[key]} ({body})").collect()
    session.sql(released_view_sql(tables)).collect()
