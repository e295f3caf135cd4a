"""The audit log: an append-only record of every confirmed action. There is no update or delete here."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from console.adapters.protocols import StateStore
from console.store import audit_log


def record(store: StateStore, actor: str, role: str, action: str, outcome: str, *,
           business_date: dt.date | None = None, run_id: int | None = None, target: str = "",
           detail: dict[str, Any] | None = None, request_id: int | None = None, conn: Any = None) -> int:
    """Append one row; pass ``conn`` to write it in the caller's transaction."""
    values = dict(at=dt.datetime.now(dt.UTC), actor=actor, role=role, action=action, outcome=outcome,
                  business_date=business_date, run_id=run_id, target=target,
                  detail=json.dumps(detail or {}, default=str, sort_keys=True), request_id=request_id)
    if conn is not None:
        return int(conn.execute(audit_log.insert().values(**values)).inserted_primary_key[0])
    with store.begin() as own:
        return int(own.execute(audit_log.insert().values(**values)).inserted_primary_key[0])


def entries(store: StateStore, since: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
    """Rows with ``since <= at < until``, newest first."""
    with store.connect() as conn:
        rows = conn.execute(sa.select(audit_log).where(audit_log.c.at >= since, audit_log.c.at < until)
                            .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())).all()
    return [dict(r._mapping) for r in rows]
