"""Production Snowflake sessions through Snowpark (connection from secrets or env; see settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from console.errors import WarehouseUnavailable
from jobs.session import SessionUnavailable, snowflake_session

if TYPE_CHECKING:
    from snowflake.snowpark import Session

    from console.settings import Settings


def open_session(settings: Settings, connection: dict[str, Any]) -> Session:
    """A Snowpark session with the console's query tag and statement timeout on every query."""
    try:
        session = snowflake_session(connection, settings.query_tag, settings.statement_timeout_seconds)
    except SessionUnavailable as exc:  # its message names the account, never the parameters
        raise WarehouseUnavailable(exc.message, exc.hint) from None
    if settings.reduce_describe_in_production:
        session.reduce_describe_query_enabled = True  # type: ignore[misc]  # a setter mypy does not see
    return session
