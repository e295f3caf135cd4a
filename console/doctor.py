"""``python -m console doctor``: check each configured system and say what to fix.

Each check returns a ``Check`` (never raises); a system that is not configured is reported as skipped. The
report ends with the resolved settings, every secret redacted.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from console.adapters.databricks import DatabricksEngine
from console.adapters.protocols import Adapters
from console.errors import ConsoleError
from console.settings import Settings, redacted, snowflake_connection
from console.store import redact_url

logger = logging.getLogger(__name__)
WAREHOUSE_WAIT = 20.0  # seconds: a Snowflake login can be slow, but doctor must end


@dataclass
class Check:
    system: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False


def _run(system: str, body: Callable[[], str], fix: str, wait: float | None = None) -> Check:
    """``body`` returns the detail of a success; any error is the detail of a failure."""
    try:
        if wait is None:
            return Check(system, True, body())
        pool = cf.ThreadPoolExecutor(max_workers=1)
        try:
            return Check(system, True, pool.submit(body).result(timeout=wait))
        finally:
            pool.shutdown(wait=False)
    except cf.TimeoutError:
        return Check(system, False, f"no answer within {wait:g} s", fix)
    except ConsoleError as exc:
        return Check(system, False, exc.message, exc.hint or fix)
    except Exception as exc:
        return Check(system, False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}",
                     fix)


def run_checks(settings: Settings, adapters: Adapters) -> list[Check]:

    checks = [Check("settings", True, f"{settings.source} (mode {adapters.mode}, engine {adapters.engine.kind})"),
              Check("workflow spec", True, f"{adapters.spec.path} ({adapters.spec.job_name}, "
                                           f"{len(adapters.spec.tasks)} tasks)")]

    def state() -> str:
        with adapters.store.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return redact_url(adapters.store.url)

    checks.append(_run("state DB", state, "Check [state] url in console.toml (or CONSOLE_STATE_URL)."))

    def warehouse() -> str:
        with adapters.warehouse.session() as session:
            session.sql("SELECT 1 AS ONE").collect()
        return adapters.warehouse.label

    fix = ("Start it: `python -m console warehouse` (or `make run`)." if adapters.is_demo else
           "Check [connections.snowflake] in .streamlit/secrets.toml (or SNOWFLAKE_* env): account, user, "
           "key pair or authenticator, role, warehouse.")
    checks.append(_run("warehouse", warehouse, fix, wait=WAREHOUSE_WAIT))

    engine = adapters.engine
    if isinstance(engine, DatabricksEngine):
        checks.append(_run("workflow engine", engine.check,
                           "Set DATABRICKS_HOST and DATABRICKS_TOKEN (or [databricks] profile), and deploy the job "
                           "with `python -m console deploy-job`."))
    else:
        checks.append(Check("workflow engine", True, engine.label))

    smtp = settings.alerts["smtp"]  # where mail is configured: [alerts.smtp] of console.toml
    if smtp.get("host"):
        def reach() -> str:
            with socket.create_connection((str(smtp["host"]), int(smtp.get("port", 25))), timeout=5):
                return f"{smtp['host']}:{smtp.get('port', 25)} accepts connections"

        checks.append(_run("SMTP", reach, "Check host and port of [alerts.smtp] in console.toml."))
    else:
        checks.append(Check("SMTP", True, "not configured", skipped=True))
    return checks


def resolved_settings(settings: Settings) -> dict[str, Any]:
    """The settings and secrets as the console resolved them, every secret redacted."""

    shown: dict[str, Any] = {k: str(v) if not isinstance(v, dict | list | tuple | int | float | bool) else v
                             for k, v in settings.__dict__.items() if k not in ("secrets", "tables", "milestones",
                                                                                 "databricks")}
    shown["databricks"] = dict(settings.databricks.__dict__)
    shown["state_url"] = redact_url(settings.resolved_state_url)  # a PostgreSQL URL may hold a password
    shown["secrets"] = redacted(settings.secrets)
    conn = snowflake_connection(settings)
    shown["snowflake_connection"] = redacted(conn) if conn else None
    return shown
