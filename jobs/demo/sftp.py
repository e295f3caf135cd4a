"""The inbound SFTP drop from Salesforce Marketing Cloud: e-mail non-openers, one CSV per business date.

SFMC sends servicing e-mails (statements, payment reminders) to accounts with a valid address and e-mail
consent. The file for business date D lists the sends of the three calendar days before D that were not
opened by the time the file was cut. DI-749 ingests it. Who was sent what is a hash of seed, account and
day, computed in the warehouse, so a day's file is the same whenever it is written and only that day's
rows leave the warehouse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from snowflake.snowpark import functions as F
from snowflake.snowpark.types import LongType

from jobs.common import hash_bucket, values_frame, write_csv
from jobs.tasks.di_749 import FILE_COLUMNS, file_name

if TYPE_CHECKING:
    from snowflake.snowpark import Session

    from jobs.tables import TableNames

SEND_SHARE = 0.012  # of eligible accounts e-mailed per calendar day
OPEN_SHARE = 0.40
LOOKBACK_DAYS = 3
CAMPAIGNS = ("STATEMENT_READY", "PAYMENT_REMINDER", "AUTOPAY_OFFER")


def unopened_sends(session: Session, tables: TableNames, seed: int, send_days: Sequence[dt.date]) -> pd.DataFrame:
    """The e-mails SFMC sent on each of ``send_days`` that were never opened."""
    days = values_frame(session, [("SEND_DATE", "DATE")], [(day,) for day in sorted(set(send_days))])
    accounts = (session.table(tables.accounts).filter(F.col("EMAIL_VALID") & F.col("EMAIL_CONSENT"))
                .select("ACCOUNT_ID", "EMAIL"))
    per_million = int(SEND_SHARE * (1 - OPEN_SHARE) * 1_000_000)
    campaign = F.lit(CAMPAIGNS[-1])
    for index in range(len(CAMPAIGNS) - 2, -1, -1):
        campaign = F.when(F.col("CAMPAIGN_NO") == index, F.lit(CAMPAIGNS[index])).otherwise(campaign)
    sends = (accounts.cross_join(days)
             .filter(hash_bucket("ACCOUNT_ID", "SEND_DATE", modulo=1_000_000, salt=f"sfmc-{seed}") < per_million)
             .select("ACCOUNT_ID", "EMAIL", "SEND_DATE",
                     hash_bucket("ACCOUNT_ID", "SEND_DATE", modulo=len(CAMPAIGNS), salt=f"campaign-{seed}")
                     .alias("CAMPAIGN_NO"))
             .select(F.col("ACCOUNT_ID").cast(LongType()).alias("ACCOUNT_ID"), F.col("EMAIL").alias("EMAIL_ADDRESS"),
                     F.col("SEND_DATE").alias("SEND_DATE"), campaign.alias("CAMPAIGN_NAME"))
             .sort("SEND_DATE", "ACCOUNT_ID"))
    return sends.to_pandas()


def write_drops(session: Session, tables: TableNames, seed: int, days: Sequence[dt.date], inbox: Path) -> list[Path]:
    """Write the file of each business date in ``days`` into ``inbox``, atomically; same content every time."""
    days = sorted(set(days))
    windows = {day: [day - dt.timedelta(days=back) for back in range(LOOKBACK_DAYS, 0, -1)] for day in days}
    sends = unopened_sends(session, tables, seed, [d for window in windows.values() for d in window])
    by_day = {key: part for key, part in sends.groupby("SEND_DATE", sort=False)}
    inbox.mkdir(parents=True, exist_ok=True)
    paths = []
    for day, window in windows.items():
        parts = [by_day[d] for d in window if d in by_day] or [sends.iloc[0:0]]
        frame = pd.concat(parts, ignore_index=True)[list(FILE_COLUMNS)]
        paths.append(write_csv(frame, inbox / file_name(day)))
    return paths
