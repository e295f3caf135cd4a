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
from console.store import StateStore, action_requests


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ActionRequestLog:
    """Mixin for an engine adapter with a ``store``; ``reads`` counts the reads made for pages."""

    store: StateStore
    reads: int

    def _read(self) -> Any:
        self.reads += 1
        return self.store.connect()

    def open_requests(self, day: dt.date) -> list[dict[str, Any]]:
        """Action requests for ``day`` that are not finished (pending or running)."""
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
                       run_id: int | None, task_keys: list[str], status: str = "pending"
                       ) -> tuple[int | None, ActionResult | None]:
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
                        status=status, message="")).inserted_primary_key[0]
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
