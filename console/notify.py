"""Delivery of the outbox: e-mail over SMTP and Slack incoming webhooks, retried with backoff, sent once.

A row is claimed before it is sent (its next attempt moved past the slowest exchange), then marked sent.
A failure records the error and schedules the next attempt with exponential backoff (30 s doubling to
30 min), up to MAX_ATTEMPTS; then the row is given up, with the reason. One cycle uses one SMTP connection
and starts no send after CYCLE_SECONDS. A worker that dies between claiming and marking leaves the row to be
retried after its claim expires; every e-mail carries a Message-ID derived from the outbox row, so a
receiving server can drop the rare duplicate such a crash could cause. Secrets (SMTP password, webhook URL)
come from secrets and never appear in errors or logs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import smtplib
import ssl
import time
import urllib.request
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa

from console.adapters.protocols import Adapters
from console.store import outbox

logger = logging.getLogger(__name__)

SOCKET_SECONDS = 10  # each SMTP or HTTP operation (connect, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, a POST)
# A claim outlasts the slowest single exchange (about 8 operations at SOCKET_SECONDS): with 60 s a slow but
# working server could still be talking when the claim ran out, and the next cycle sent the row again.
CLAIM_SECONDS = 8 * SOCKET_SECONDS + 60
BACKOFF_START, BACKOFF_MAX = 30, 1800
MAX_ATTEMPTS = 12  # 30 s doubling to 30 min: about four hours of trying, then the row is given up (and says so)
CYCLE_SECONDS = 30.0  # one delivery cycle stops starting sends after this long; the rest waits for the next
NEVER = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def _secret(adapters: Adapters, key: str) -> str:
    section = adapters.settings.secrets.get("alerts", {})
    return str(section.get(key, "")) if isinstance(section, dict) else ""


class _Mailer:
    """One SMTP connection for a delivery cycle, opened on first use and again after a failure."""

    def __init__(self, adapters: Adapters) -> None:
        self.adapters = adapters
        self.client: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        smtp = self.adapters.settings.alerts["smtp"]
        client: smtplib.SMTP
        if smtp["security"] == "ssl":
            client = smtplib.SMTP_SSL(smtp["host"], smtp["port"], timeout=SOCKET_SECONDS,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(smtp["host"], smtp["port"], timeout=SOCKET_SECONDS)
        try:
            if smtp["security"] == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp["username"]:
                client.login(smtp["username"], _secret(self.adapters, "smtp_password"))
        except BaseException:
            client.close()
            raise
        return client

    def send(self, row: Any) -> None:
        smtp = self.adapters.settings.alerts["smtp"]
        message = EmailMessage()
        message["From"] = smtp["sender"]
        message["To"] = row.recipients
        message["Subject"] = row.subject
        message["Message-ID"] = f"<outbox-{row.id}-{row.dedupe.replace(':', '.').replace(' ', '_')[:120]}@console>"
        message.set_content(row.body)
        if self.client is None:
            self.client = self._connect()
        try:
            self.client.send_message(message)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except Exception:  # the server is gone: nothing to say goodbye to
                self.client.close()
            self.client = None


def send_slack(adapters: Adapters, row: Any) -> None:
    url = _secret(adapters, "slack_webhook")
    if not url:
        raise RuntimeError("no Slack webhook configured ([alerts] slack_webhook in secrets)")
    data = json.dumps({"text": f"*{row.subject}*\n{row.body}"}).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=SOCKET_SECONDS) as response:
        if response.status >= 300:
            raise RuntimeError(f"Slack answered HTTP {response.status}")


def deliver(adapters: Adapters, now: dt.datetime | None = None, limit: int = 50,
            budget_seconds: float = CYCLE_SECONDS) -> dict[str, int]:
    """Send what is due in the outbox (one SMTP connection for the cycle, no new send started after
    ``budget_seconds``); returns counts of sent, failed and given-up rows."""
    now = now or dt.datetime.now(dt.UTC)
    started = time.monotonic()
    counts = {"sent": 0, "failed": 0}
    with adapters.store.connect() as conn:
        due = conn.execute(sa.select(outbox).where(outbox.c.sent_at.is_(None), outbox.c.next_attempt_at <= now)
                           .order_by(outbox.c.id).limit(limit)).all()
    mailer = _Mailer(adapters)
    try:
        for row in due:
            if time.monotonic() - started > budget_seconds:
                counts["deferred"] = counts.get("deferred", 0) + 1
                continue
            with adapters.store.begin() as conn:  # claim: nobody else sends it while this attempt runs
                claimed = conn.execute(outbox.update().where(
                    outbox.c.id == row.id, outbox.c.sent_at.is_(None),
                    outbox.c.next_attempt_at == row.next_attempt_at)
                    .values(next_attempt_at=now + dt.timedelta(seconds=CLAIM_SECONDS), attempts=row.attempts + 1)
                ).rowcount
            if not claimed:
                continue
            try:
                if row.channel == "email":
                    mailer.send(row)
                else:
                    send_slack(adapters, row)
            except Exception as exc:
                _failed(adapters, row, exc, now, counts)
                continue
            with adapters.store.begin() as conn:
                conn.execute(outbox.update().where(outbox.c.id == row.id).values(sent_at=dt.datetime.now(dt.UTC),
                                                                                 last_error=""))
            counts["sent"] += 1
    finally:
        mailer.close()
    return counts


def _failed(adapters: Adapters, row: Any, exc: Exception, now: dt.datetime, counts: dict[str, int]) -> None:
    attempts = row.attempts + 1
    error = f"{type(exc).__name__}: {_redacted(adapters, str(exc))[:300]}"
    if attempts >= MAX_ATTEMPTS:
        logger.error("outbox %s (%s): giving up after %d attempts: %s", row.id, row.channel, attempts, error)
        values = {"next_attempt_at": NEVER, "last_error": f"gave up after {attempts} attempts: {error}"}
        counts["gave_up"] = counts.get("gave_up", 0) + 1
    else:
        wait = min(BACKOFF_MAX, BACKOFF_START * 2 ** row.attempts)
        logger.warning("outbox %s (%s) attempt %d failed: %s; next in %d s", row.id, row.channel, attempts, error,
                       wait)
        values = {"next_attempt_at": now + dt.timedelta(seconds=wait), "last_error": error}
    with adapters.store.begin() as conn:
        conn.execute(outbox.update().where(outbox.c.id == row.id).values(**values))
    counts["failed"] += 1


def _redacted(adapters: Adapters, text: str) -> str:
    for key in ("smtp_password", "slack_webhook"):
        secret = _secret(adapters, key)
        if secret:
            text = text.replace(secret, "***")
    return text
