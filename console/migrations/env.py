"""Alembic's environment for the state DB, configured from code (no alembic.ini): see console/store.py.

The store hands in an open connection (``config.attributes["connection"]``) inside the transaction that holds
the migration lock; with none, ``sqlalchemy.url`` is used. To write the next revision, from the repository:
``python -c "from console.store import alembic_config as c; from alembic import command;
command.revision(c('sqlite:///.data/state.db'), 'what changes', autogenerate=True)"`` and review it.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context

from console.store import UTCDateTime, metadata


def render_item(type_: str, obj: Any, _autogen_context: Any) -> str | Literal[False]:
    """Autogenerate writes the store's UTC type as the plain DateTime it stores, so a revision imports no console."""
    return "sa.DateTime()" if type_ == "type" and isinstance(obj, UTCDateTime) else False


def run_online(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    config = context.config
    if context.is_offline_mode():  # --sql: print the statements for a DBA instead of running them
        context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                          literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        run_online(connection)
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        run_online(conn)


main()
