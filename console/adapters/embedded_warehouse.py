"""The embedded warehouse: a fakesnow server (Snowflake emulated on DuckDB) on 127.0.0.1, persisted.

The server attaches one DuckDB file per Snowflake database under ``<data_dir>/warehouse`` to its shared
DuckDB instance once at start-up (a per-session ``FAKESNOW_DB_PATH`` cannot be shared), then serves the
Snowflake HTTP protocol; the real Snowpark client connects to it with ``protocol="http"``.
"""

from __future__ import annotations

import importlib
import logging
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


def databases(settings: Settings) -> list[str]:
    """Every database the configured table names live in."""
    names = {name.split(".")[0] for name in settings.tables.all().values()}
    return sorted(names | set(DATABASES))


def open_session(settings: Settings) -> Session:
    """A real Snowpark session on the embedded warehouse; a clear error when it is not running."""
    try:
        return embedded_session(settings.warehouse_host, settings.warehouse_port, settings.query_tag,
                                settings.statement_timeout_seconds)
    except SessionUnavailable as exc:
        raise WarehouseUnavailable(exc.message, exc.hint) from None


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
    return instance


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
        config = uvicorn.Config(fs_server.app, host=host, port=port, log_level="warning", access_log=False)
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
