"""Shared fixtures: the embedded warehouse (real fakesnow server, real Snowpark client) and a seeded demo.

The warehouse runs in this process on a free port with its data in a temporary directory; every test
module shares it. ``demo`` seeds a small history once per session (the same generator and task code as
``make run``, with fewer accounts and days).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest

from console.adapters.embedded_warehouse import WarehouseServer, open_session
from console.clock import last_business_days
from console.settings import Settings, load_settings
from console.workflow import load_workflow

DEMO_ACCOUNTS = 20_000
DEMO_DAYS = 12
DEMO_END = dt.date(2026, 11, 25)  # the day before Thanksgiving 2026: the next business day skips a holiday


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Warehouse(NamedTuple):
    """``settings, session_factory = warehouse``: each call of the factory opens a new Snowpark session.

    fakesnow binds a session to the server's DuckDB instance at login, and that instance is a process-wide
    global: open sessions before another module starts its own in-process server (``demo`` does).
    """

    settings: Settings
    session_factory: Callable[[], Any]


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """A running embedded warehouse on a free port with a temporary data directory."""
    data_dir = tmp_path_factory.mktemp("console-data")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CONSOLE_DATA_DIR", str(data_dir))
        env.setenv("CONSOLE_WAREHOUSE_PORT", str(free_port()))
        settings = load_settings(secrets={})
    settings = dataclasses.replace(settings, demo_accounts=DEMO_ACCOUNTS)
    server = WarehouseServer(settings)
    server.start()
    try:
        yield Warehouse(settings, lambda: open_session(settings))
    finally:
        server.stop()


@dataclass
class Demo:
    settings: Settings
    session: Any
    days: list[dt.date]
    result: dict
    fingerprint: dict[str, tuple[int, int]]


@pytest.fixture(scope="session")
def demo(warehouse: Warehouse) -> Demo:
    """The warehouse seeded with DEMO_ACCOUNTS accounts over DEMO_DAYS business days ending DEMO_END."""
    from jobs.demo.seed import build_warehouse

    session = warehouse.session_factory()
    days = last_business_days(DEMO_END, DEMO_DAYS)
    result = build_warehouse(session, warehouse.settings, load_workflow(warehouse.settings.workflow_spec), days)
    return Demo(warehouse.settings, session, days, result, fingerprint(session, warehouse.settings))


# Columns that hold the wall-clock time of the run, not data: left out of fingerprints.
RUN_TIME_COLUMNS = {"email_non_openers": {"LOADED_AT"}}


def fingerprint(session: Any, settings: Settings) -> dict[str, tuple[int, int]]:
    """Row count and an order-independent checksum of every table."""
    from snowflake.snowpark import functions as F

    from jobs.common import hash_bucket
    from jobs.schema import COLUMNS, column_names

    result = {}
    for key, table in settings.tables.all().items():
        if key not in COLUMNS:  # a view (released_lists) is a function of the tables already counted
            continue
        columns = [c for c in column_names(key) if c not in RUN_TIME_COLUMNS.get(key, set())]
        row = session.table(table).select(
            F.count(F.lit(1)).alias("N"),
            F.sum(hash_bucket(*columns, modulo=1_000_003)).alias("H")).collect()[0]
        result[key] = (int(row["N"]), int(row["H"] or 0))
    return result
