"""The one frame every page starts with: page config, the adapter set, mode banner, date, worker, errors.

Every page calls ``frame(...)`` first (Streamlit's automatic ``pages/`` discovery runs a page without the
entry script, so nothing can be set up in ``Home.py`` alone) and renders its parts inside ``guarded()``,
which turns any error into a message instead of a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import streamlit as st

from console import logs
from console.adapters.protocols import Adapters
from console.app import build_adapters
from console.auth import User, check_ui, signed_in_user
from console.clock import ET, Clock, SystemClock, business_date, rehearsal_clock
from console.errors import ConsoleError, InvalidRequest, NotFound
from console.settings import Settings, load_settings
from console.status import DayStatus, check_date
from console.text import plain
from console.ui import cached, views
from console.ui.fmt import OVERALL_MD, age, hhmm

logger = logging.getLogger(__name__)
logs.configure()  # the UI process logs as the CLI and the worker do: date, zone, level (pages' errors too)

APP_NAME = "Outbound Ops Console"
DATE_KEY = "business_date"  # the widget
CHOSEN_KEY = "chosen_business_date"  # the choice, kept across pages
LINKED_KEY = "linked_business_date"  # the last ?date= applied (a link's date wins once, then the picker)
CLOCK_KEY = "console_clock"  # tests put a FrozenClock here (AppTest session state) to freeze the pages' time
GENERIC_ERROR = "Something went wrong while building this part of the page. The details are in the console's log."


@dataclass
class Page:
    """What a page needs from the frame."""

    adapters: Adapters
    day: dt.date
    now: dt.datetime
    clock: Clock
    who: User

    @property
    def settings(self) -> Settings:
        return self.adapters.settings

    @property
    def user(self) -> str:
        return self.who.name

    @property
    def today(self) -> dt.date:
        """Today's business date (the one the console opens on)."""
        return business_date(self.now, self.settings.day_rolls_at)

    @property
    def is_today(self) -> bool:
        return self.day == self.today

    def refreshed(self) -> Page:
        """The same page at the clock's current time (a fragment re-running on its own needs it)."""
        return dataclasses.replace(self, now=self.clock.now())


@st.cache_resource(show_spinner="Connecting to the stack…")
def cached_adapters() -> Adapters:
    """One adapter set per server process (a failure is not cached: the next rerun tries again)."""
    return build_adapters(load_settings(), "ui")


def show_error(exc: BaseException) -> None:
    """A console error as its message and hint; anything else as a generic message, logged in full.

    ``NotFound`` (no data for the date yet) is a warning, not an error: nothing is broken.
    """
    if isinstance(exc, NotFound):
        st.warning(exc.message, icon=":material/database:")
        if exc.hint:
            st.info(exc.hint, icon=":material/lightbulb:")
        return
    if isinstance(exc, ConsoleError):
        st.error(exc.message, icon=":material/error:")
        if exc.hint:
            st.info(exc.hint, icon=":material/lightbulb:")
        return
    if isinstance(exc, sa.exc.SQLAlchemyError):
        cause = getattr(exc, "orig", None) or exc
        logger.error("state store error: %s", cause)
        st.error(f"The console's state store cannot be read: {type(cause).__name__}: {str(cause)[:200]}",
                 icon=":material/database:")
        st.info("Check the state database named in the banner (disk, permissions, URL) and reload.",
                icon=":material/lightbulb:")
        return
    logger.error("page error: %s", type(exc).__name__, exc_info=exc)
    st.error(GENERIC_ERROR, icon=":material/error:")


@contextmanager
def guarded() -> Iterator[None]:
    """Render a block of a page; an error shows as a message and the rest of the page still renders."""
    try:
        yield
    except Exception as exc:  # st.stop / st.rerun are BaseException and pass through
        show_error(exc)


def frame(title: str, icon: str, pick_date: bool = True, sidebar_heartbeat: bool = True,
          clock: Clock | None = None) -> Page:
    """Set up the page; stops it with a clear message when the stack cannot be built or the date is wrong.

    ``icon`` is the browser-tab icon, a Material Symbol such as ``:material/today:`` (no emoji font needed).

    ``sidebar_heartbeat=False`` is for a page that shows the worker heartbeat in its own body (Home).
    """
    st.set_page_config(page_title=f"{title} · {APP_NAME}", page_icon=icon, layout="wide")
    clock = clock or st.session_state.get(CLOCK_KEY) or SystemClock()
    try:
        adapters = cached_adapters()
        check_ui(adapters.settings, adapters.mode, _server_address(), _auth_secrets())
    except Exception as exc:
        st.title(title)
        show_error(exc)
        st.stop()
    now = clock.now()
    identity = _identity()
    who = _who(adapters, identity)
    st.info(views.mode_banner(adapters), icon=":material/science:" if adapters.is_demo else ":material/factory:")
    rehearsing = rehearsal_clock()  # a rehearsal's clock is not today: say so on every page
    if rehearsing:
        st.warning(rehearsing, icon=":material/schedule:")
    with st.sidebar:
        current = business_date(now, adapters.settings.day_rolls_at)
        day = _date_picker(current) if pick_date else current
        st.caption(f"Now {hhmm(now)} ET ({now.astimezone(ET).tzname()}) · business date {current.isoformat()}")
        signed = bool(identity.get("is_logged_in"))
        if signed and identity.get("name"):
            st.markdown(f"**{_plain(str(identity['name']))}**")
        st.markdown(f"Signed in as **{_plain(who.name)}** ({who.role}"
                    + (")" if signed else ", the embedded stack's user)"))
        if signed:
            st.button("Log out", on_click=st.logout, key="sign_out", icon=":material/logout:")
        if sidebar_heartbeat:
            with guarded():
                heartbeat(adapters)
    st.title(title)
    if pick_date:
        try:
            check_date(day, clock)
        except InvalidRequest as exc:
            show_error(exc)
            st.stop()
    return Page(adapters=adapters, day=day, now=now, clock=clock, who=who)


def _identity() -> dict[str, Any]:
    try:
        return dict(st.user.to_dict())
    except Exception:  # no user info in this runtime (bare mode)
        return {}


def _server_address() -> str:
    """The address this Streamlit server listens on ("" = every interface, Streamlit's default)."""
    return str(st.get_option("server.address") or "")


def _auth_secrets() -> dict[str, Any] | None:
    """The ``[auth]`` section of the secrets ``st.login`` reads (None when there are no secrets at all)."""
    try:
        section = st.secrets.get("auth")
    except Exception:  # no secrets file: Streamlit raises on the first access
        return None
    return dict(section) if section else None


def _headers() -> dict[str, str]:
    try:
        return dict(st.context.headers)
    except Exception:  # no request in this runtime (bare mode, AppTest)
        return {}


def _plain(text: str) -> str:
    """A name from the identity provider, shown as text (no Markdown from outside)."""
    return "".join(f"\\{c}" if c in "\\`*_[]<>|~$" else c for c in text)


def _who(adapters: Adapters, identity: dict[str, Any]) -> User:
    """The signed-in user (or the embedded stack's local user); else the sign-in page, and nothing else."""
    who = signed_in_user(adapters.settings, adapters.mode, identity, address=_server_address(), headers=_headers())
    if who is not None:
        return who
    st.title(APP_NAME)
    if identity.get("is_logged_in"):  # signed in, but the provider sent no e-mail to map to a role
        st.error("Your identity provider did not send an e-mail address, and the console's roles are given "
                 "by e-mail.", icon=":material/lock:")
        st.info("Ask the provider's administrator to release the e-mail claim (scope \"openid email\") to the "
                "console, then log in again.", icon=":material/lightbulb:")
        st.button("Log out", on_click=st.logout, key="sign_out", icon=":material/logout:")
    elif _auth_secrets():
        st.info("Log in to use the console: your role comes from your e-mail.", icon=":material/login:")
        st.button("Log in", on_click=st.login, type="primary", key="sign_in", icon=":material/login:")
    else:  # the embedded stack seen through a proxy or by another host name: no local user, no sign-in
        st.error("This console is the embedded demo stack and serves only a browser on this machine "
                 "(http://127.0.0.1); it has no sign-in.", icon=":material/lock:")
        st.info("Open it on the machine it runs on, or run it in production mode with [auth] configured.",
                icon=":material/lightbulb:")
    st.stop()
    raise AssertionError("st.stop returned")


def _remember_date() -> None:
    st.session_state[CHOSEN_KEY] = st.session_state[DATE_KEY]


def _date_from_link() -> dt.date | None:
    """``?date=YYYY-MM-DD`` in the address: a link to one business date (shared in chat, used by tests)."""
    text = st.query_params.get("date")
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        st.warning(f"Ignored date={plain(repr(text))} in the address: expected YYYY-MM-DD.", icon=":material/link_off:")
        return None


def _date_picker(current: dt.date) -> dt.date:
    """The business date, in ET, kept across pages for the session; today's business date by default.

    Each page has its own date widget, so the choice is kept under a separate session key (a widget's own
    state, even with ``persist_state``, does not carry over to the same widget on another page).
    """
    linked = _date_from_link()
    if linked is not None and st.session_state.get(LINKED_KEY) != linked:  # a link followed: its date wins once
        st.session_state[LINKED_KEY] = st.session_state[CHOSEN_KEY] = linked
        st.session_state.pop(DATE_KEY, None)
    chosen = st.session_state.get(CHOSEN_KEY) or current
    value = st.date_input("Business date (ET)", value=chosen, key=DATE_KEY, on_change=_remember_date,
                          format="YYYY-MM-DD", help="Weekends and US holidays have no run.")
    return value if isinstance(value, dt.date) else current


def overall_callout(status: DayStatus) -> None:
    """The day's verdict in one coloured line: the state in a word, then the reason."""
    _, icon, kind = OVERALL_MD[status.overall.state]
    getattr(st, kind)(f"**{status.overall.words}** · {plain(status.overall.reason)}", icon=f":material/{icon}:")


def engine_note(status: DayStatus) -> None:
    """The engine could not be reached: say so, and how old the state shown is."""
    if not status.engine_error:
        return
    if status.stale_since is not None:
        seconds = (status.now - status.stale_since).total_seconds()
        st.warning(f"The workflow engine cannot be reached; showing its last known state from "
                   f"{hhmm(status.stale_since)} ET ({age(seconds)}). {status.engine_error}",
                   icon=":material/cloud_off:")
    else:
        st.error(f"The workflow engine cannot be reached and there is no earlier state to show. "
                 f"{status.engine_error}", icon=":material/cloud_off:")


def heartbeat(adapters: Adapters) -> None:
    """The worker's heartbeat: alive, or down with the age of its last beat."""
    status = cached.worker(adapters)
    if status.alive:
        st.success(f"Worker alive · heartbeat {age(status.age_seconds)}", icon=":material/favorite:")
    else:
        last = f" Last heartbeat {hhmm(status.beat_at)} ET ({age(status.age_seconds)})." if status.beat_at else ""
        st.error(f"Worker down · {status.message}{last}", icon=":material/heart_broken:")
