"""The embedded warehouse: a fakesnow server (Snowflake emulated on DuckDB) on 127.0.0.1, persisted.

The server attaches one DuckDB file per Snowflake database under ``<data_dir>/warehouse`` to its shared
DuckDB instance once at start-up (a per-session ``FAKESNOW_DB_PATH`` cannot be shared), then serves the
Snowflake HTTP protocol; the real Snowpark client connects to it with ``protocol="http"``.

Snowflake answers ``SHOW TABLES`` from its metadata, without a running warehouse, with each table's ``rows`` and
``bytes``, which move with every write: the console reads them as change markers before it re-reads a table's
facts (``console.pipeline_data.change_markers``). fakesnow answers 0 and 0, so this server records each table's
last committed write (``ChangeTracker``) and serves it there: ``rows`` is DuckDB's estimated row count and
``bytes`` the time of the last write in nanoseconds (like Snowflake's ``SYSTEM$LAST_CHANGE_COMMIT_TIME``), a
value that changes with every write as Snowflake's ``bytes`` does when a write rewrites micro-partitions.
"""

from __future__ import annotations

import gzip
import importlib
import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.errors import WarehouseUnavailable
from jobs.session import SessionUnavailable, embedded_session, is_listening

if TYPE_CHECKING:
    from snowflake.snowpark import Session

    from console.settings import Settings

logger = logging.getLogger(__name__)

DATABASES = ("ANALYTICS", "RAW", "GENESYS")
CHANGES = "_fs_global._fs_information_schema._console_table_changes"
SHOW_TABLES = "_fs_global._fs_information_schema._fs_show_tables"
# Statements that may change a table's data or its existence, and the transaction boundaries.
_WRITE = re.compile(r"^\s*(insert|delete|update|merge|create|drop|truncate|alter|copy|begin|start|commit|rollback)\b",
                    re.IGNORECASE)


def databases(settings: Settings) -> list[str]:
    """Every database the configured table names live in."""
    names = {name.split(".")[0] for name in settings.tables.all().values()}
    return sorted(names | set(DATABASES))


def open_session(settings: Settings) -> Session:
    """A real Snowpark session on the embedded warehouse; a clear error when it is not running."""
    try:
        session = embedded_session(settings.warehouse_host, settings.warehouse_port, settings.query_tag,
                                   settings.statement_timeout_seconds)
    except SessionUnavailable as exc:
        raise WarehouseUnavailable(exc.message, exc.hint) from None
    # One DESCRIBE round trip less per step of a DataFrame (13 fewer per reconciliation; bench_reconcile).
    session.reduce_describe_query_enabled = True  # type: ignore[misc]  # a setter mypy does not see
    return session


def prepare_instance(data_dir: Path, names: list[str]) -> Any:
    """A fakesnow instance with each database attached from its file under ``data_dir``."""
    # on demand: fakesnow (DuckDB, sqlglot) takes ~1.3 s to import; only the warehouse process needs it
    from fakesnow import info_schema, macros
    from fakesnow.instance import FakeSnow

    data_dir.mkdir(parents=True, exist_ok=True)
    instance = FakeSnow(db_path=data_dir)
    conn = instance.duck_conn
    for name in names:
        db_file = data_dir / f"{name}.db"
        existed = db_file.exists()
        conn.execute(f"ATTACH DATABASE '{db_file}' AS {name}")
        # fakesnow's information-schema views and macros live in each database; create them once per file.
        if not existed or not conn.execute(
            "select 1 from information_schema.schemata"
            " where catalog_name = ? and schema_name = '_fs_information_schema'",
            [name],
        ).fetchone():
            conn.execute(info_schema.per_db_creation_sql(name))
            conn.execute(macros.creation_sql(name))
    ChangeTracker.install(conn)
    return instance


class ChangeTracker:
    """Each table's last committed write, served by ``SHOW TABLES`` as Snowflake's metadata would be.

    A write inside a transaction marks its table again at COMMIT (and ROLLBACK), so that a reader who read the
    old data between the write and the commit sees the marker move once more. Tables never written since
    the server started carry the start time: a restart moves every marker once (one re-read, never a stale one).
    """

    def __init__(self, conn: Any, sessions: dict[str, Any]) -> None:
        self.conn = conn
        self.sessions = sessions  # fakesnow's session token -> connection (current database and schema)
        self.pending: dict[str, set[tuple[str, str, str]]] = {}  # token -> tables written in its open transaction
        self.lock = threading.Lock()

    @staticmethod
    def install(conn: Any) -> None:
        """The table of changes and a ``SHOW TABLES`` view that reports them (in the in-memory global database,
        so every start begins again from the start time)."""
        conn.execute(f"create table if not exists {CHANGES} (database_name varchar, schema_name varchar, "
                     "name varchar, changed_ns bigint, primary key (database_name, schema_name, name))")
        base = SHOW_TABLES + "_base"
        if not conn.execute("select 1 from duckdb_views() where database_name = '_fs_global' "
                            "and view_name = '_fs_show_tables_base'").fetchone():
            conn.execute(f"alter view {SHOW_TABLES} rename to _fs_show_tables_base")
        started = time.time_ns()
        conn.execute(f"""create or replace view {SHOW_TABLES} as
            select b.* replace (coalesce(d.estimated_size, 0)::bigint as rows,
                                coalesce(c.changed_ns, {started})::bigint as bytes)
            from {base} b
            left join duckdb_tables() d on upper(d.database_name) = upper(b.database_name)
                and upper(d.schema_name) = upper(b.schema_name) and upper(d.table_name) = upper(b.name)
            left join {CHANGES} c on c.database_name = upper(b.database_name)
                and c.schema_name = upper(b.schema_name) and c.name = upper(b.name)""")

    def after(self, token: str, sql_text: str) -> None:
        """Record what a statement that succeeded changed."""
        if not _WRITE.match(sql_text):
            return
        word = sql_text.split(None, 1)[0].lower()
        with self.lock:
            if word in ("begin", "start"):
                self.pending[token] = set()
                return
            if word in ("commit", "rollback"):
                self._mark(self.pending.pop(token, set()))
                return
            tables = self._targets(token, sql_text)
            if token in self.pending:
                self.pending[token] |= tables
            self._mark(tables)

    def _targets(self, token: str, sql_text: str) -> set[tuple[str, str, str]]:
        # on demand, with fakesnow: only the warehouse process serves
        from fakesnow.dialect import parse_one
        from sqlglot import exp

        try:
            node = parse_one(sql_text).this
        except Exception:  # a statement fakesnow ran but sqlglot cannot parse again: nothing to mark
            logger.debug("no write target in %.80s", sql_text)
            return set()
        node = node.this if isinstance(node, exp.Schema) else node
        if not isinstance(node, exp.Table) or not node.name:
            return set()
        conn = self.sessions.get(token)
        database = node.catalog or (conn.database if conn else None) or ""
        schema = node.db or (conn.schema if conn else None) or ""
        return {(database.upper(), schema.upper(), node.name.upper())}

    def _mark(self, tables: set[tuple[str, str, str]]) -> None:
        now = time.time_ns()
        cursor = self.conn.cursor()
        try:
            for database, schema, name in tables:
                cursor.execute(f"insert or replace into {CHANGES} values (?, ?, ?, ?)", [database, schema, name, now])
        finally:
            cursor.close()


def tracked_app(fs_server: Any, tracker: ChangeTracker) -> Any:
    """fakesnow's Starlette app with its query endpoint wrapped: a statement that succeeded is shown to the
    tracker (the request body is read once by Starlette and kept for the wrapped endpoint)."""
    # on demand, with fakesnow's server: only the warehouse process serves
    from starlette.applications import Starlette
    from starlette.routing import Route

    async def query_request(request: Any) -> Any:
        response = await fs_server.query_request(request)
        try:
            answer = json.loads(response.body)
            if answer.get("success"):
                body = await request.body()
                if request.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                tracker.after(fs_server.to_token(request), json.loads(body)["sqlText"])
        except Exception:  # the change tracker must never fail a query
            logger.exception("recording a write failed")
        return response

    routes = [Route(r.path, query_request, methods=["POST"]) if r.path == "/queries/v1/query-request" else r
              for r in fs_server.routes]
    return Starlette(routes=routes)


class WarehouseServer:
    """The fakesnow HTTP server in a thread of this process (``python -m console warehouse``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.instance: Any = None

    def start(self) -> None:
        import uvicorn  # on demand, with fakesnow: only the warehouse process serves

        # By module path: the package also has a function named ``server`` that shadows it for type checkers.
        fs_server = importlib.import_module("fakesnow.server")

        host, port = self.settings.warehouse_host, self.settings.warehouse_port
        if is_listening(host, port):
            raise WarehouseUnavailable(
                f"Port {port} on {host} is already in use; another warehouse may be running.",
                "Stop it, or set [warehouse] port in console.toml.")
        self.instance = prepare_instance(self.settings.warehouse_dir, databases(self.settings))
        fs_server.shared_fs = self.instance  # type: ignore[attr-defined]
        config = uvicorn.Config(tracked_app(fs_server, ChangeTracker(self.instance.duck_conn, fs_server.sessions)),
                                host=host, port=port, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="warehouse", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise WarehouseUnavailable(f"The embedded warehouse did not start on {host}:{port}.")
            time.sleep(0.05)
        logger.info("embedded warehouse listening on %s:%s, data in %s", host, port, self.settings.warehouse_dir)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.instance is not None:
            try:
                self.instance.duck_conn.execute("CHECKPOINT")
            except Exception:  # best effort: the WAL is replayed on the next start anyway
                logger.warning("checkpoint on stop failed", exc_info=True)
            self.instance.duck_conn.close()
            self.instance = None

    def serve_forever(self) -> None:
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
