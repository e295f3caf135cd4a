"""Production Snowflake sessions through Snowpark (connection from secrets or env; see settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from console.errors import WarehouseUnavailable

if TYPE_CHECKING:
    from snowflake.snowpark import Session

    from console.settings import Settings


def open_session(settings: Settings, connection: dict[str, Any]) -> Session:
    """A Snowpark session with the console's query tag and statement timeout on every query."""
    from snowflake.snowpark import Session

    params = dict(connection)
    params.setdefault("session_parameters", {})
    params["session_parameters"] = {
        **params["session_parameters"],
        "QUERY_TAG": settings.query_tag,
        "STATEMENT_TIMEOUT_IN_SECONDS": settings.statement_timeout_seconds,
    }
    try:
        return Session.builder.configs(params).create()
    except Exception as exc:  # never echo the parameters: they hold secrets
        raise WarehouseUnavailable(f"Could not connect to Snowflake account {connection.get('account', '?')}: "
                                   f"{type(exc).__name__}.", "Check [connections.snowflake] in secrets.toml.") \
            from None
