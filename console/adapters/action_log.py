"""The console's own record of action requests (``action_requests``), shared by every engine adapter.

Whatever carries an action out (the local engine's worker, or the Databricks API called at once), the
request is a row first: its idempotency key makes a double click one request, and ``open_requests``,
``request_status`` and the audit trail read the same rows on either stack.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from console.errors import NotFound
from console.model import ActionResult
from console.store import StateStore, action_requests, audit_log

# A request not picked up this long after it was made is not carried out: a "Run now" clicked while the worker
# was down ran whenever the worker came back, possibly after the 08:30 upload, without the upload question.
REQUEST_TTL = dt.timedelta(minutes=10)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ActionRequestLog:
    """Mixin for an engine adapter with a ``store``; ``reads`` counts the reads made for pages."""

    store: StateStore
    reads: int
    # A request still "running" this long after it was made was left by a process that died mid-call (the
    # Databricks engine sets it from its action budget); None: the engine's own recovery handles it.
    stale_running: dt.timedelta | None = None

    def _read(self) -> Any:
        self.reads += 1
        return self.store.connect()

    def expire_requests(self, now: dt.datetime | None = None) -> int:
        """End the requests nobody will carry out: pending past ``REQUEST_TTL`` (expired) and, where the engine
        says, running past ``stale_running`` (failed); each is audited. Returns how many were ended."""
        now = now or _now()
        ended = 0
        with self.store.begin() as conn:
            rules = [("pending", REQUEST_TTL, "expired",
                      "Not carried out: nothing picked it up within {minutes} minutes (the worker was not running). "
                      "Look at the date again and request it anew.")]
            if self.stale_running is not None:
                rules.append(("running", self.stale_running, "failed",
                              "Left unfinished: the process carrying it out stopped before it answered (no answer "
                              "within {minutes} minutes). Look at the run before requesting it again."))
            late = conn.execute(sa.select(action_requests).where(
                action_requests.c.status == "pending", action_requests.c.not_after < now)).all()
            for status, age, outcome, words in rules:
                rows = conn.execute(sa.select(action_requests).where(
                    action_requests.c.status == status, action_requests.c.requested_at < now - age)).all()
                if status == "pending":
                    rows = [*late, *(r for r in rows if r.id not in {x.id for x in late})]
                for row in rows:
                    message = words.format(minutes=int(age.total_seconds() // 60))
                    if row in late:
                        message = (f"Not carried out: the Genesys upload of {row.business_date} started before it "
                                   "could run, and it was requested without acknowledging that uploaded lists "
                                   "change. Look at the date again and request it anew.")
                    # its key is freed (the same click again is a new request, not "already requested")
                    changed = conn.execute(action_requests.update().where(
                        action_requests.c.id == row.id, action_requests.c.status == status).values(
                        status=outcome, message=message, finished_at=now,
                        idempotency_key=f"{row.idempotency_key[:180]}#{outcome}{row.id}")).rowcount
                    if changed:
                        ended += 1
                        conn.execute(audit_log.insert().values(
                            at=now, actor="console", role="system", action=row.kind, outcome=outcome,
                            business_date=row.business_date, run_id=row.run_id, target=row.task_keys,
                            request_id=row.id, detail=json.dumps({"message": message,
                                                                  "requested_by": row.requested_by})))
        return ended

    def open_requests(self, day: dt.date) -> list[dict[str, Any]]:
        """Action requests for ``day`` that are not finished (pending or running). Stale ones are ended by the
        worker's poll (``process_requests`` → ``expire_requests``), not on a page's read."""
        with self._read() as conn:
            rows = conn.execute(sa.select(action_requests).where(
                action_requests.c.business_date == day, action_requests.c.status.in_(("pending", "running")))
                .order_by(action_requests.c.id)).all()
        return [dict(r._mapping) for r in rows]

    def request_status(self, request_id: int) -> dict[str, Any]:
        with self._read() as conn:
            row = conn.execute(sa.select(action_requests).where(action_requests.c.id == request_id)).first()
        if row is None:
            raise NotFound(f"There is no action request {request_id}.")
        return dict(row._mapping)

    def _claim_request(self, kind: str, requested_by: str, idempotency_key: str, business_date: dt.date | None,
                       run_id: int | None, task_keys: list[str], status: str = "pending",
                       not_after: dt.datetime | None = None) -> tuple[int | None, ActionResult | None]:
        """Record a new request: ``(id, None)``; or ``(None, duplicate result)`` when the key is known."""
        existing = None
        try:
            with self.store.begin() as conn:
                existing = conn.execute(sa.select(action_requests)
                                        .where(action_requests.c.idempotency_key == idempotency_key)).first()
                if existing is None:
                    request_id = conn.execute(action_requests.insert().values(
                        kind=kind, business_date=business_date, run_id=run_id, task_keys=json.dumps(task_keys),
                        requested_by=requested_by, requested_at=_now(), idempotency_key=idempotency_key,
                        status=status, message="", not_after=not_after)).inserted_primary_key[0]
        except sa.exc.IntegrityError:  # the same key inserted by another session a moment ago
            with self.store.connect() as conn:
                existing = conn.execute(sa.select(action_requests)
                                        .where(action_requests.c.idempotency_key == idempotency_key)).first()
        if existing is not None:
            return None, ActionResult(True, f"Already requested by {existing.requested_by} (request {existing.id}, "
                                            f"{existing.status}); not queued twice.", existing.id, existing.run_id,
                                      duplicate=True)
        return int(request_id), None

    def _finish_request(self, request_id: int, status: str, message: str, run_id: int | None = None) -> None:
        values: dict[str, Any] = {"status": status, "message": message, "finished_at": _now()}
        if run_id is not None:
            values["run_id"] = run_id
        with self.store.begin() as conn:
            conn.execute(action_requests.update().where(action_requests.c.id == request_id).values(**values))
