"""People's actions on the daily checklist: tick, confirm, override, un-tick, "not applicable", sign off.

Each action is an event in ``checklist_events`` written in the same transaction as its audit row; the
item's new state is judged by ``console.checklist``. Two people changing the same item at once conflict on
the event's sequence number: one wins, the other is told to look again; nothing is lost.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from console import audit
from console.adapters.protocols import Adapters
from console.auth import User, authorise
from console.checklist import CHECKS, DAY_ITEM, FAIL, MAX_NOTE, PENDING, AutoResult, ItemState, evaluate
from console.clock import ET, FrozenClock, hhmm, next_business_day
from console.errors import InvalidRequest, NotFound
from console.facts import Event, checklist_events_of
from console.settings import ChecklistItem
from console.status import DayStatus, day_status
from console.store import checklist_events


def _check_day(day: dt.date, now: dt.datetime) -> None:
    """A day's checklist is open from that day until the end of the next business day (the night's results
    and the next morning's follow-up); older days are history: ticking them rewrote what was true."""
    today = now.astimezone(ET).date()
    if day > today:
        raise InvalidRequest(f"{day} is in the future: the checklist of a day can be worked on from that day on.",
                             "Pick today or an earlier date.")
    closes = next_business_day(day)
    if today > closes:
        raise InvalidRequest(f"The checklist of {day} closed at the end of {closes}: it is the record of that day.",
                             "Add what you found to today's checklist or to an alert's note instead.")


def _clean_note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidRequest(f"The note is {len(note)} characters; the limit is {MAX_NOTE}.", "Shorten it.")
    return note


def act(adapters: Adapters, who: User, day: dt.date, item_key: str, action: str, note: str = "",
        status: DayStatus | None = None, now: dt.datetime | None = None, attempts: int = 5) -> ItemState:
    """Tick, confirm, override, un-tick or mark an item n/a; returns the item's new state.

    ``status`` is the day's status the person looked at (computed here when not given).
    """
    authorise(who, "tick")
    now = now or dt.datetime.now(dt.UTC)
    _check_day(day, now)
    item = next((i for i in adapters.settings.checklist if i.key == item_key), None)
    if item is None:
        raise NotFound(f"There is no checklist item '{item_key}'.", "Pick an item from the checklist page.")
    if action not in ("tick", "confirm", "untick", "na"):
        raise InvalidRequest(f"Unknown checklist action '{action}'.", "Use tick, confirm, untick or na.")
    note = _clean_note(note)
    if status is None:
        status = day_status(adapters, day, FrozenClock(now))
    auto = CHECKS[item.check](status) if item.check else None
    for _ in range(attempts):
        try:
            with adapters.store.begin() as conn:
                rows = conn.execute(sa.select(checklist_events).where(
                    checklist_events.c.business_date == day, checklist_events.c.item_key == item.key)
                    .order_by(checklist_events.c.seq.desc()).limit(1)).all()
                last = rows[0] if rows else None
                recorded = _transition(item, action, last, auto, note)
                conn.execute(checklist_events.insert().values(
                    business_date=day, item_key=item.key, seq=(last.seq if last else 0) + 1, action=recorded,
                    actor=who.name, role=who.role, at=now, note=note, evidence=auto.evidence if auto else ""))
                audit.record(adapters.store, who.name, who.role, f"checklist.{recorded}", "accepted",
                             business_date=day, target=item.text, conn=conn,
                             detail={"note": note, "automatic": auto.outcome if auto else "manual",
                                     "evidence": auto.evidence if auto else ""})
            break
        except (sa.exc.IntegrityError, sa.exc.OperationalError):  # someone changed the item at the same moment
            continue
    else:
        raise InvalidRequest(f"'{item.text}' was changed by someone else at the same moment.",
                             "Look at the checklist again and retry.")
    events = checklist_events_of(adapters.store, day)
    return next(s for s in evaluate((item,), status, events))


def _transition(item: ChecklistItem, action: str, last: Any, auto: AutoResult | None, note: str) -> str:
    """The event to record for ``action`` on an item whose latest event is ``last``; refusals say why."""
    current = last.action if last is not None else None
    done = current in ("tick", "confirm", "override")
    if action == "untick":
        if not (done or current == "na"):
            raise InvalidRequest(f"'{item.text}' is not ticked: nothing to undo.")
        if not note:
            raise InvalidRequest("Un-ticking needs a reason.", "Say why in the note.")
        return "untick"
    if done:
        raise InvalidRequest(f"'{item.text}' is already ticked by {last.actor} at {hhmm(last.at)} ET.",
                             "Un-tick it first (with a reason) to change it.")
    if action == "na":
        if current == "na":
            raise InvalidRequest(f"'{item.text}' is already marked not applicable.")
        if not note:
            raise InvalidRequest("Marking an item not applicable needs a reason.", "Say why in the note.")
        return "na"
    if action == "confirm":
        if auto is None or auto.outcome == PENDING:
            raise InvalidRequest(f"'{item.text}' has no automatic result to confirm yet.", "Tick it instead.")
        if auto.outcome == FAIL and not note:
            raise InvalidRequest("Confirming over an automatic fail is an override: it needs a reason.",
                                 "Say why in the note.")
        return "override" if auto.outcome == FAIL else "confirm"
    if auto is not None and auto.outcome == FAIL:
        if not note:
            raise InvalidRequest(f"The console found '{item.text}' failing: {auto.evidence} Ticking it anyway is an "
                                 "override and needs a reason.", "Say why in the note.")
        return "override"
    return "tick"


def sign_off(adapters: Adapters, who: User, day: dt.date, note: str = "", now: dt.datetime | None = None) -> Event:
    """Close the day (operator and up); a day is signed off once."""
    authorise(who, "sign_off")
    now = now or dt.datetime.now(dt.UTC)
    _check_day(day, now)
    note = _clean_note(note)
    try:
        with adapters.store.begin() as conn:
            rows = conn.execute(sa.select(checklist_events).where(
                checklist_events.c.business_date == day, checklist_events.c.item_key == DAY_ITEM)
                .order_by(checklist_events.c.seq.desc()).limit(1)).all()
            if rows and rows[0].action == "sign_off":
                raise InvalidRequest(f"{day} was already signed off by {rows[0].actor} at {hhmm(rows[0].at)} ET.")
            seq = (rows[0].seq if rows else 0) + 1
            conn.execute(checklist_events.insert().values(
                business_date=day, item_key=DAY_ITEM, seq=seq, action="sign_off", actor=who.name, role=who.role,
                at=now, note=note, evidence=""))
            audit.record(adapters.store, who.name, who.role, "checklist.sign_off", "accepted", business_date=day,
                         target="day", conn=conn, detail={"note": note})
    except (sa.exc.IntegrityError, sa.exc.OperationalError):
        raise InvalidRequest(f"{day} was signed off by someone else at the same moment.",
                             "Look at the checklist again.") from None
    return Event(DAY_ITEM, seq, "sign_off", who.name, who.role, now, note, "")


