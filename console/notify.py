"""Delivery of the outbox: e-mail over SMTP and Slack incoming webhooks, retried with backoff, sent once.

A row is claimed before it is sent (its next attempt moved past the send's time budget), then marked
sent. A failure records the error and schedules the next attempt with exponential backoff (30 s doubling
to 30 min). A worker that dies between claiming and marking leaves the row to be retried after its claim
expires; every e-mail carries a Message-ID derived from the outbox row, so a receiving server can drop
the rare duplicate such a crash could cause. Secrets (SMTP password, webhook URL) come from secrets and
never appear in errors or logs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import smtplib
import ssl
import urllib.request
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa

from console.adapters.protocols import Adapters
from console.store import outbox

logger = logging.getLogger(__name__)

CLAIM_SECONDS = 60  # longer than one send may take: SMTP and HTTP timeouts below are 20 s
BACKOFF_START, BACKOFF_MAX = 30, 1800


def _secret(adapters: Adapters, key: str) -> str:
    section = adapters.settings.secrets.get("alerts", {})
    return str(section.get(key, "")) if isinstance(section, dict) else ""


def send_email(adapters: Adapters, row: Any) -> None:
    smtp = adapters.settings.alerts["smtp"]
    message = EmailMessage()
    message["From"] = smtp["sender"]
    message["To"] = row.recipients
    message["Subject"] = row.subject
    message["Message-ID"] = f"<outbox-{row.id}-{row.dedupe.replace(':', '.').replace(' ', '_')[:120]}@console>"
    message.set_content(row.body)
    password = _secret(adapters, "smtp_password")
    if smtp["security"] == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(smtp["host"], smtp["port"], timeout=20,
                                               context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(smtp["host"], smtp["port"], timeout=20)
    with client:
        if smtp["security"] == "starttls":
            client.starttls(context=ssl.create_default_context())
        if smtp["username"]:
            client.login(smtp["username"], password)
        client.send_message(message)


def send_slack(adapters: Adapters, row: Any) -> None:
    url = _secret(adapters, "slack_webhook")
    if not url:
        raise RuntimeError("no Slack webhook configured ([alerts] slack_webhook in secrets)")
    data = json.dumps({"text": f"*{row.subject}*\n{row.body}"}).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=20) as response:
        if response.status >= 300:
            raise RuntimeError(f"Slack answered HTTP {response.status}")


SENDERS = {"email": send_email, "slack": send_slack}


def deliver(adapters: Adapters, now: dt.datetime | None = None, limit: int = 50) -> dict[str, int]:
    """Send what is due in the outbox; returns counts of sent and failed rows."""
    now = now or dt.datetime.now(dt.UTC)
    counts = {"sent": 0, "failed": 0}
    with adapters.store.connect() as conn:
        due = conn.execute(sa.select(outbox).where(outbox.c.sent_at.is_(None), outbox.c.next_attempt_at <= now)
                           .order_by(outbox.c.id).limit(limit)).all()
    for row in due:
        with adapters.store.begin() as conn:  # claim: nobody else sends it while this attempt runs
            claimed = conn.execute(outbox.update().where(
                outbox.c.id == row.id, outbox.c.sent_at.is_(None), outbox.c.next_attempt_at == row.next_attempt_at)
                .values(next_attempt_at=now + dt.timedelta(seconds=CLAIM_SECONDS), attempts=row.attempts + 1)
            ).rowcount
        if not claimed:
            continue
        try:
            SENDERS[row.channel](adapters, row)
        except Exception as exc:
            wait = min(BACKOFF_MAX, BACKOFF_START * 2 ** row.attempts)
            error = f"{type(exc).__name__}: {_redacted(adapters, str(exc))[:300]}"
            logger.warning("outbox %s (%s) attempt %d failed: %s; next in %d s", row.id, row.channel,
                           row.attempts + 1, error, wait)
            with adapters.store.begin() as conn:
                conn.execute(outbox.update().where(outbox.c.id == row.id).values(
                    next_attempt_at=now + dt.timedelta(seconds=wait), last_error=error))
            counts["failed"] += 1
            continue
        with adapters.store.begin() as conn:
            conn.execute(outbox.update().where(outbox.c.id == row.id).values(sent_at=dt.datetime.now(dt.UTC),
                                                                             last_error=""))
        counts["sent"] += 1
    return counts


def _redacted(adapters: Adapters, text: str) -> str:
    for key in ("smtp_password", "slack_webhook"):
        secret = _secret(adapters, key)
        if secret:
            text = text.replace(secret, "***")
    return text
