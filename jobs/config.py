"""What a task run by the wheel (``run_task``) reads from ``console.toml`` and the secrets, without the console.

The console reads the whole file through ``console.settings``; a task on the cluster needs only where the
tables and the SFTP folders are and how to reach the warehouse: ``[tables]``, ``[workflow] sftp_outbox`` and
``sftp_inbox``, ``[console] data_dir`` and ``mode``, ``[warehouse] host``, ``port``, ``query_tag`` and
``statement_timeout_seconds``, and the Snowflake connection (``[connections.snowflake]`` in the secrets file,
or ``SNOWFLAKE_*`` env). The same file, the same environment overrides and the same checks as the console's,
so a task sees the values the console shows.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.tables import TableNames

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SETTINGS = ROOT / "console.toml"
# Packaged with the wheel: what a task on the cluster reads when no console.toml sits beside the package.
PACKAGED_SETTINGS = Path(__file__).resolve().parent / "defaults.toml"
DEFAULT_SECRETS = ROOT / ".streamlit" / "secrets.toml"
MODES = ("auto", "embedded", "production")
WAREHOUSE_HOSTS = ("127.0.0.1", "localhost")
# SNOWFLAKE_<KEY> of the environment (what a cluster's secret scope gives a task). host, port and protocol reach
# Snowflake through a private endpoint (or the rehearsal's warehouse); port is a number.
SNOWFLAKE_KEYS = ("account", "user", "password", "role", "warehouse", "database", "schema", "authenticator",
                  "private_key_file", "host", "port", "protocol")
# DATABASE.SCHEMA.TABLE, each part an unquoted Snowflake identifier (as console.settings checks [tables]).
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$")


class JobConfigError(ValueError):
    """The settings or secrets file is missing or malformed; the message names the file, the key and the form."""


@dataclass(frozen=True)
class JobConfig:
    source: Path
    mode: str  # auto | embedded | production, as written in [console] mode
    data_dir: Path
    tables: TableNames
    sftp_outbox: Path
    sftp_inbox: Path
    warehouse_host: str
    warehouse_port: int
    query_tag: str
    statement_timeout_seconds: int
    # The Snowflake connection parameters hold secrets: never shown, never compared.
    snowflake: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def resolved_mode(self) -> str:
        """``embedded`` or ``production``; ``auto`` is production exactly when Snowflake is configured."""
        if self.mode != "auto":
            return self.mode
        return "production" if self.snowflake else "embedded"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise JobConfigError(f"{path}: not valid TOML ({exc}).") from None


class _Reader:
    """Typed keys of a parsed settings file; the first problem is reported with file, key and expected form."""

    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.path = path
        self.doc = doc

    def fail(self, section: str, key: str, expected: str, got: Any = None) -> JobConfigError:
        where = f"[{section}] {key}" if section else key
        found = "it is missing" if got is None else f"got {got!r}"
        return JobConfigError(f"{self.path}: {where}: expected {expected}; {found}.")

    def section(self, name: str) -> dict[str, Any]:
        value = self.doc.get(name)
        if not isinstance(value, dict):
            raise self.fail("", f"[{name}]", "a table (section)", value)
        return value

    def text(self, section: str, key: str, allowed: tuple[str, ...] | None = None) -> str:
        expected = f"one of {', '.join(allowed)}" if allowed else "a string"
        value = self.section(section).get(key)
        if not isinstance(value, str) or (allowed and value not in allowed):
            raise self.fail(section, key, expected, value)
        return value

    def integer(self, section: str, key: str, low: int, high: int) -> int:
        expected = f"an integer from {low} to {high}"
        value = self.section(section).get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(section, key, expected, value)
        return value

    def tables(self) -> TableNames:
        section = self.section("tables")
        names = {}
        for name in TableNames.__dataclass_fields__:
            value = section.get(name)
            if not isinstance(value, str) or not _TABLE.match(value):
                raise self.fail("tables", name, "a fully qualified name DATABASE.SCHEMA.TABLE", value)
            names[name] = value.upper()
        return TableNames(**names)


def _path(root: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else root / path


def _rebase(root: Path, value: str, data_dir: Path) -> Path:
    """Paths under the default ``.data`` follow ``data_dir`` when it is moved (tests, CONSOLE_DATA_DIR)."""
    if value.startswith(".data/"):
        return data_dir / value.removeprefix(".data/")
    return _path(root, value)


def _warehouse_port(r: _Reader) -> int:
    """``CONSOLE_WAREHOUSE_PORT``, or ``[warehouse] port``."""
    text = os.environ.get("CONSOLE_WAREHOUSE_PORT")
    if not text:
        return r.integer("warehouse", "port", 1024, 65535)
    try:
        return int(text)
    except ValueError:
        raise JobConfigError(f"CONSOLE_WAREHOUSE_PORT: expected a port number; got {text!r}.") from None


def load_secrets(path: Path | None = None) -> dict[str, Any]:
    """The secrets file (``CONSOLE_SECRETS``, else ``.streamlit/secrets.toml``) if it exists; never logged."""
    path = path or Path(os.environ.get("CONSOLE_SECRETS", DEFAULT_SECRETS))
    return _read_toml(path) if path.exists() else {}


def snowflake_connection(secrets: dict[str, Any]) -> dict[str, Any] | None:
    """The Snowflake connection from secrets ``[connections.snowflake]``, else ``SNOWFLAKE_*`` env, else None."""
    connections = secrets.get("connections")
    conn = connections.get("snowflake") if isinstance(connections, dict) else None
    if isinstance(conn, dict) and conn.get("account"):
        return dict(conn)
    if os.environ.get("SNOWFLAKE_ACCOUNT"):
        env = {key: os.environ.get(f"SNOWFLAKE_{key.upper()}") for key in SNOWFLAKE_KEYS}
        found: dict[str, Any] = {key: value for key, value in env.items() if value}
        if "port" in found:
            if not str(found["port"]).isdigit():
                raise JobConfigError(f"SNOWFLAKE_PORT: expected a port number; got {found['port']!r}.")
            found["port"] = int(found["port"])
        return found
    return None


def load_config(path: Path | str | None = None, secrets: dict[str, Any] | None = None) -> JobConfig:
    """Read and check the keys a task needs. ``CONSOLE_SETTINGS`` overrides the default file; ``secrets``
    (the parsed secrets file) defaults to ``load_secrets()``."""
    chosen = path or os.environ.get("CONSOLE_SETTINGS")
    if not chosen:
        chosen = DEFAULT_SETTINGS if DEFAULT_SETTINGS.exists() else PACKAGED_SETTINGS
    path = Path(chosen).resolve()
    if not path.exists():
        raise JobConfigError(f"{path}: settings file not found. Create it from the committed console.toml.")
    r = _Reader(path, _read_toml(path))
    root = path.parent
    data_dir = _path(root, os.environ.get("CONSOLE_DATA_DIR") or r.text("console", "data_dir"))
    return JobConfig(
        source=path,
        mode=r.text("console", "mode", MODES),
        data_dir=data_dir,
        tables=r.tables(),
        sftp_outbox=_rebase(root, r.text("workflow", "sftp_outbox"), data_dir),
        sftp_inbox=_rebase(root, r.text("workflow", "sftp_inbox"), data_dir),
        warehouse_host=r.text("warehouse", "host", WAREHOUSE_HOSTS),
        warehouse_port=_warehouse_port(r),
        query_tag=r.text("warehouse", "query_tag"),
        statement_timeout_seconds=r.integer("warehouse", "statement_timeout_seconds", 1, 86400),
        snowflake=snowflake_connection(secrets if secrets is not None else load_secrets()),
    )
