"""The inbound SFTP drop from Salesforce Marketing Cloud: e-mail non-openers, one CSV per business date.

SFMC sends servicing e-mails (statements, payment reminders) to accounts with a valid address and e-mail
consent. The file for business date D lists the sends of the three calendar days before D that were not
opened by the time the file was cut. DI-749 ingests it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.common import write_csv
from jobs.demo.portfolio import day_number
from jobs.tasks.di_749 import FILE_COLUMNS, file_name

SEND_SHARE = 0.012  # of eligible accounts e-mailed per calendar day
OPEN_SHARE = 0.40
LOOKBACK_DAYS = 3
CAMPAIGNS = np.array(["STATEMENT_READY", "PAYMENT_REMINDER", "AUTOPAY_OFFER"])


def _unopened_sends(seed: int, ids: np.ndarray, emails: np.ndarray, sent_on: dt.date) -> pd.DataFrame:
    """The e-mails SFMC sent on ``sent_on`` that were never opened (deterministic per seed and day)."""
    rng = np.random.default_rng([seed, 7, day_number(sent_on)])
    draw = rng.random(len(ids))
    picked = np.flatnonzero(draw < SEND_SHARE * (1 - OPEN_SHARE))
    campaign = (draw[picked] * 1e6).astype(np.int64) % len(CAMPAIGNS)
    return pd.DataFrame({"ACCOUNT_ID": ids[picked], "EMAIL_ADDRESS": emails[picked],
                         "SEND_DATE": sent_on.isoformat(), "CAMPAIGN_NAME": CAMPAIGNS[campaign]})


def write_drops(seed: int, accounts: pd.DataFrame, days: Sequence[dt.date], inbox: Path) -> list[Path]:
    """Write the file of each business date in ``days`` into ``inbox``, atomically; same content every time.

    ``accounts`` needs ACCOUNT_ID, EMAIL, EMAIL_VALID and EMAIL_CONSENT.
    """
    inbox.mkdir(parents=True, exist_ok=True)
    eligible = accounts["EMAIL_VALID"].to_numpy(dtype=bool) & accounts["EMAIL_CONSENT"].to_numpy(dtype=bool)
    ids = accounts["ACCOUNT_ID"].to_numpy()[eligible]
    emails = accounts["EMAIL"].to_numpy()[eligible]
    sends: dict[dt.date, pd.DataFrame] = {}
    paths = []
    for day in sorted(set(days)):
        parts = []
        for back in range(LOOKBACK_DAYS, 0, -1):
            sent_on = day - dt.timedelta(days=back)
            if sent_on not in sends:
                sends[sent_on] = _unopened_sends(seed, ids, emails, sent_on)
            parts.append(sends[sent_on])
        paths.append(write_csv(pd.concat(parts, ignore_index=True)[list(FILE_COLUMNS)], inbox / file_name(day)))
    return paths
