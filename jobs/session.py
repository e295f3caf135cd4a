"""Snowpark sessions: on the embedded warehouse (a fakesnow server on 127.0.0.1) or on Snowflake.

The one place that knows how to build each. The wheel's tasks call these directly (``jobs.entry``); the
console's warehouse adapters call them too and turn ``SessionUnavailable`` into their own error.
"""

from __future__ import annotations

import atexit
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snowflake.snowpark import Session

START_EMBEDDED = "Start it with `make run` (or `python -m console warehouse`) and retry."

class SessionUnavailable(ConnectionError):
    """The warehouse cannot be reached. ``message`` never holds connection secrets; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


def is_listening(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def embedded_parameters(host: str, port: int, query_tag: str, timeout: int) -> dict[str, Any]:
    """Snowpark connection parameters for the embedded warehouse (fakesnow's fixed login, over http)."""
    return {
        "account": "fakesnow",
        "user": "console",
        "password": "embedded",
        "host": host,
        "port": port,
        "protocol": "http",
        "database": "ANALYTICS",
        "schema": "CRON_STORE",
        "session_parameters": {
            "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False,
            # fakesnow has no scoped temporary objects.
            "PYTHON_SNOWPARK_USE_SCOPED_TEMP_OBJECTS": False,
            "QUERY_TAG": query_tag,
        },
        "login_timeout": 10,
        "network_timeout": timeout,
    }


def embedded_session(host: str, port: int, query_tag: str, timeout: int) -> Session:
    """A real Snowpark session on the embedded warehouse; ``SessionUnavailable`` when it is not running."""
    # on demand: Snowpark takes about a second to import, loaded only when a session is opened, so that
    # importing this module (the console's warehouse server does) stays cheap.
    from snowflake.snowpark import Session

    if not is_listening(host, port):
        raise SessionUnavailable(f"The embedded warehouse is not running on {host}:{port}.", START_EMBEDDED)
    try:
        session = Session.builder.configs(embedded_parameters(host, port, query_tag, timeout)).create()
    except Exception as exc:  # the connector raises many kinds; all mean the same to a user
        raise SessionUnavailable(f"Could not open a session on the embedded warehouse: {exc}", START_EMBEDDED) \
            from None
    # Snowpark closes every session at interpreter exit with a query to the server; when the embedded
    # warehouse has already stopped, that query retries for minutes and the process hangs on exit.
    # fakesnow sessions need no close (close() raises there anyway), so skip it.
    atexit.unregister(session._close_at_exit)
    return session


LOGIN_TIMEOUT_SECONDS = 30  # the connector's default is 120 s: a page would hang two minutes on a bad account
NETWORK_GRACE_SECONDS = 30  # a request may take the statement timeout plus this, then the connector gives up


def snowflake_parameters(connection: dict[str, Any], query_tag: str, timeout: int) -> dict[str, Any]:
    """The connection's parameters with all three timeouts bounded: login, network and statement.

    Without ``login_timeout``/``network_timeout`` a suspended, queued or unreachable warehouse holds a page
    for minutes; values set in ``[connections.snowflake]`` win.
    """
    params = dict(connection)
    params.setdefault("login_timeout", LOGIN_TIMEOUT_SECONDS)
    params.setdefault("network_timeout", timeout + NETWORK_GRACE_SECONDS)
    params["session_parameters"] = {
        **params.get("session_parameters", {}),
        "QUERY_TAG": query_tag,
        "STATEMENT_TIMEOUT_IN_SECONDS": timeout,
    }
    return params


def snowflake_session(connection: dict[str, Any], query_tag: str, timeout: int) -> Session:
    """A Snowflake session with ``query_tag`` and a statement timeout of ``timeout`` seconds on every query.

    ``connection`` holds the Snowpark connection parameters (``[connections.snowflake]`` or ``SNOWFLAKE_*``).
    """
    # on demand: Snowpark takes about a second to import, loaded only when a session is opened.
    from snowflake.snowpark import Session

    try:
        return Session.builder.configs(snowflake_parameters(connection, query_tag, timeout)).create()
    except Exception as exc:  # never echo the parameters: they hold secrets
        raise SessionUnavailable(f"Could not connect to Snowflake account {connection.get('account', '?')}: "
                                 f"{type(exc).__name__}.", "Check [connections.snowflake] in secrets.toml.") \
            from None
