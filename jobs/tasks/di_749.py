"""DI-749: ingest the SFTP e-mail non-openers file of each date, then the FUNNEL_EMAIL_NON_OPENERS list.

The file ``email_non_openers_YYYYMMDD.csv`` (columns ACCOUNT_ID, EMAIL_ADDRESS, SEND_DATE, CAMPAIGN_NAME) is
dropped by Salesforce Marketing Cloud before 06:00 ET. If any date's file is missing the task fails before
writing anything, naming the file: the drop is late, and a rerun after it arrives completes the day.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from snowflake.snowpark import functions as F

from jobs.common import (
    ListSpec,
    Replace,
    SourceDataMissing,
    base_population,
    in_range,
    load_frame,
    now_utc,
    write_lists,
)
from jobs.schema import column_names

if TYPE_CHECKING:
    from pathlib import Path

    from jobs.context import TaskContext

TASK_KEY = "DI-749"
LIST_NAME = "FUNNEL_EMAIL_NON_OPENERS"
FILE_COLUMNS = ("ACCOUNT_ID", "EMAIL_ADDRESS", "SEND_DATE", "CAMPAIGN_NAME")
COLUMN_TYPES = {"ACCOUNT_ID": pa.int64(), "EMAIL_ADDRESS": pa.string(), "SEND_DATE": pa.date32(),
                "CAMPAIGN_NAME": pa.string()}


def file_name(day: dt.date) -> str:
    """The name of business date ``day``'s non-openers file on the SFTP server."""
    return f"email_non_openers_{day:%Y%m%d}.csv"


def read_files(inbox: Path, dates: list[dt.date]) -> pd.DataFrame:
    """Every date's file as one frame with BUSINESS_DATE and FILE_NAME; ``SourceDataMissing`` if one is absent."""
    paths = {day: inbox / file_name(day) for day in dates}
    missing = [path for path in paths.values() if not path.is_file()]
    if missing:
        names = ", ".join(path.name for path in missing[:5]) + (" …" if len(missing) > 5 else "")
        raise SourceDataMissing(
            f"{TASK_KEY}: SFTP drop is late: {names} not found in {inbox}. The e-mail non-openers file is "
            "expected from SFMC before 06:00 ET. Nothing was written; rerun the task once the file has arrived.")
    frames = []
    for day, path in paths.items():
        try:
            table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types=COLUMN_TYPES))
        except pa.ArrowInvalid as exc:
            raise ValueError(f"{TASK_KEY}: {path.name} is not a valid non-openers file: {exc}") from None
        frame = table.to_pandas()
        absent = [c for c in FILE_COLUMNS if c not in frame.columns]
        if absent:
            raise ValueError(f"{TASK_KEY}: {path.name} lacks the column(s) {', '.join(absent)}; "
                             f"expected {', '.join(FILE_COLUMNS)}.")
        frame = frame[list(FILE_COLUMNS)].copy()
        frame["BUSINESS_DATE"] = day
        frame["FILE_NAME"] = path.name
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def run(ctx: TaskContext) -> dict:
    session, tables, dates = ctx.session, ctx.tables, ctx.dates
    files = read_files(ctx.sftp_inbox, dates)
    files["LOADED_AT"] = now_utc()
    # Land the files in a scratch table first (bulk loads are not transactional on Snowflake), then
    # replace the staging rows and the list together in one transaction.
    scratch = f"{tables.email_non_openers}_LOAD"
    load_frame(session, files[column_names("email_non_openers")], scratch, mode="create")
    staged = session.table(scratch)
    first_send = staged.group_by("BUSINESS_DATE", "ACCOUNT_ID").agg(F.min("SEND_DATE").alias("FIRST_SEND_DATE"))
    rows = (base_population(ctx).join(first_send, on=["BUSINESS_DATE", "ACCOUNT_ID"])
            .filter(F.col("LOAN_STATUS").isin("CURRENT", "DELINQUENT") & F.col("EMAIL_OK")))
    spec = ListSpec(LIST_NAME, "EMAIL", "GENESYS", rows, [F.col("FIRST_SEND_DATE").asc()])
    staging = Replace(tables.email_non_openers, in_range("BUSINESS_DATE", dates),
                      staged.select(*column_names("email_non_openers")))
    result = write_lists(ctx, TASK_KEY, [spec], also=[staging])
    return {**result, "file_rows": len(files), "files": len(dates)}
