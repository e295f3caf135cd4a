"""The upload gate, applied: holds and releases of the day's Genesys lists, in the warehouse table the upload reads.

``apply`` runs after every reconciliation (the worker's, or a person's): it turns the checks into a
decision per list (``console.gate.decide``) and writes the changes to ``[tables] list_releases``, one row
per date × list × channel; the upload reads the view ``[tables] released_lists`` (every list of the date
not on hold). A hold clears itself when the checks pass again (after a rerun of the list's task). An
engineer can release a held list with a reason; that decision stands for the day. Every change is in the
audit log: the console's own as actor ``console``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from snowflake.snowpark import functions as F

from console import audit, pipeline_data
from console.adapters.protocols import Adapters
from console.auth import User, authorise
from console.clock import ET, hhmm
from console.errors import InvalidRequest
from console.gate import HELD, RELEASED, Decision, decide
from console.model import Reconciliation
from jobs.common import Replace, replace_rows, utc_naive, values_frame
from jobs.schema import COLUMNS, ensure_gate

logger = logging.getLogger(__name__)
CONSOLE = "console"  # the actor of the gate's own decisions
MAX_REASON = 500


def _write(session: Any, adapters: Adapters, day: dt.date, rows: list[tuple[str, str, str, str, str, str]],
           now: dt.datetime) -> None:
    """Replace the decisions of these (list, channel, STATE, reason, checks, by) for ``day``, in one transaction."""
    tables = adapters.settings.tables
    which = F.lit(False)
    for list_name, channel, *_ in rows:
        which = which | ((F.col("LIST_NAME") == F.lit(list_name)) & (F.col("CHANNEL") == F.lit(channel)))
    frame = values_frame(session, COLUMNS["list_releases"],
                         [(day, name, channel, state, reason, checks, by, utc_naive(now))
                          for name, channel, state, reason, checks, by in rows])
    replace_rows(session, [Replace(tables.list_releases, (F.col("BUSINESS_DATE") == F.lit(day)) & which, frame)])


def apply(adapters: Adapters, session: Any, result: Reconciliation, now: dt.datetime) -> list[Decision]:
    """Hold or release each Genesys list of the reconciled day by its checks; returns the decisions that changed.

    A list a person released stays released for the day; the console's own decisions follow the checks.
    """
    day = result.business_date
    ensure_gate(session, adapters.settings.tables)
    lists = [(r.LIST_NAME, r.CHANNEL) for r in result.rows.itertuples() if r.GENERATED]
    current = {(d["list_name"], d["channel"]): d
               for d in pipeline_data.list_releases(session, adapters.settings.tables, day)}
    changed: list[Decision] = []
    audited: list[Decision] = []
    for decision in decide(lists, result.checks, adapters.settings.blocking_checks):
        now_in = current.get((decision.list_name, decision.channel))
        if now_in is not None and now_in["by"] != CONSOLE:
            continue  # a person's release stands for the day
        if now_in is not None and (now_in["state"], now_in["reason"]) == (decision.state, decision.reason):
            continue  # the same decision as before
        changed.append(decision)
        if decision.state == HELD or now_in is not None:  # a hold, or a hold cleared: worth an audit row
            audited.append(decision)
    if not changed:
        return []
    _write(session, adapters, day, [(d.list_name, d.channel, d.state.upper(), d.reason, ",".join(d.checks), CONSOLE)
                                    for d in changed], now)
    for d in audited:
        audit.record(adapters.store, CONSOLE, "system", "gate.hold" if d.state == HELD else "gate.clear", "accepted",
                     business_date=day, target=f"{d.list_name}/{d.channel}",
                     detail={"reason": d.reason or "the blocking checks pass", "checks": ",".join(d.checks)})
        logger.warning("upload gate for %s: %s (%s) %s: %s", day, d.list_name, d.channel, d.state, d.reason)
    return changed


def release(adapters: Adapters, who: User, day: dt.date, list_name: str, channel: str, reason: str,
            now: dt.datetime | None = None) -> str:
    """An engineer releases a held list for the upload, with a reason; audited. Returns what happened, in words.

    Refused (``InvalidRequest``) when the list is not held on ``day``; a second click on the same release
    changes nothing and says so.
    """
    authorise(who, "release")
    now = now or dt.datetime.now(dt.UTC)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRequest("Releasing a held list needs a reason.", "Say why it may be uploaded as it is.")
    if len(reason) > MAX_REASON:
        raise InvalidRequest(f"The reason is {len(reason)} characters; the limit is {MAX_REASON}.", "Shorten it.")
    if day > now.astimezone(ET).date():
        raise InvalidRequest(f"{day} is in the future: only a generated list can be held or released.")
    target = f"{list_name}/{channel}"
    with adapters.warehouse.session() as session:
        ensure_gate(session, adapters.settings.tables)
        current = next((d for d in pipeline_data.list_releases(session, adapters.settings.tables, day)
                        if (d["list_name"], d["channel"]) == (list_name, channel)), None)
        if current is not None and current["state"] == RELEASED and current["by"] == who.name:
            audit.record(adapters.store, who.name, who.role, "gate.release", "duplicate", business_date=day,
                         target=target, detail={"reason": reason})
            return f"Already released by you at {hhmm(current['at'])} ET."
        if current is None or current["state"] != HELD:
            raise InvalidRequest(f"{list_name} ({channel}) is not held on {day}: there is nothing to release.",
                                 "Only a list the gate holds for that date can be released.")
        _write(session, adapters, day, [(list_name, channel, RELEASED.upper(), reason, ",".join(current["checks"]),
                                         who.name)], now)
    audit.record(adapters.store, who.name, who.role, "gate.release", "accepted", business_date=day, target=target,
                 detail={"reason": reason, "held_for": current["reason"]})
    return f"{list_name} ({channel}) released for the upload by {who.name}."
