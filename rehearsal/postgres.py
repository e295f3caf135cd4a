"""A throwaway PostgreSQL cluster: Debian's ``postgresql`` binaries, a temporary directory, a free port.

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` system user (``runuser``);
as anyone else it is the caller's own. It listens on 127.0.0.1 only, with fsync off (nothing in it is worth
keeping), trusts loopback connections (it lives for one test session or one rehearsal) and is stopped and
deleted at the end. A fresh cluster starts in about a second. The rehearsal and the tests (``tests/pgkit.py``)
both use it.

Roles as production has them: ``console_owner`` owns the state database and runs the migrations;
``console_app`` is the console's role, granted by ``python -m console migrate --grant``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import sqlalchemy as sa

OWNER, CONSOLE = "console_owner", "console_app"
INSTALL_HINT = ("PostgreSQL is not installed (no pg_ctl in /usr/lib/postgresql/*/bin or on PATH): run "
                "`scripts/ensure-system-packages.sh` as root (it apt-installs Debian's postgresql), or set PG_BIN "
                "to the folder holding initdb and pg_ctl.")


def find_bindir() -> Path | None:
    """The folder with initdb and pg_ctl: $PG_BIN, the newest /usr/lib/postgresql/N/bin, or pg_ctl on PATH."""
    candidates = [Path(os.environ["PG_BIN"])] if os.environ.get("PG_BIN") else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                         if p.parent.name.isdigit() else 0, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    return next((c for c in candidates if (c / "pg_ctl").exists() and (c / "initdb").exists()), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    bindir: Path
    datadir: Path
    port: int
    _names = count(1)

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def execute(self, *statements: str, database: str = "postgres", user: str = "postgres") -> None:
        """Run statements with autocommit (CREATE DATABASE cannot run in a transaction)."""
        engine = sa.create_engine(self.url(database, user), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.exec_driver_sql(statement)
        finally:
            engine.dispose()

    def create_database(self, template: str = "template1", owner: str = OWNER) -> str:
        """A new empty (or copied from ``template``) database owned by ``owner``; its name."""
        name = f"db_{os.getpid()}_{next(self._names)}"
        self.execute(f"CREATE DATABASE {name} TEMPLATE {template} OWNER {owner}")
        return name


def _as_cluster_user(command: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *command] if user else command


@contextlib.contextmanager
def running_cluster(bindir: Path | None = None) -> Iterator[Cluster]:
    """Start a cluster with the two console roles, yield it, stop and delete it."""
    bindir = bindir or find_bindir()
    if bindir is None:
        raise RuntimeError(INSTALL_HINT)
    user = "postgres" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="pgkit-"))
    datadir = base / "data"
    started = False
    try:
        if user:
            entry = pwd.getpwnam(user)
            os.chown(base, entry.pw_uid, entry.pw_gid)
        subprocess.run(_as_cluster_user([str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres",
                                         "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"], user),
                       check=True, capture_output=True, timeout=60)
        for attempt in range(3):
            port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={base} -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off")
            result = subprocess.run(_as_cluster_user([str(bindir / "pg_ctl"), "-D", str(datadir), "-o", options,
                                                      "-l", str(base / "server.log"), "-w", "-t", "30", "start"],
                                                     user), capture_output=True, text=True, timeout=60)
            if result.returncode == 0:
                started = True
                break
            if attempt == 2:  # the port was probably taken between probing and starting: two retries
                log = (base / "server.log").read_text() if (base / "server.log").exists() else ""
                raise RuntimeError(f"PostgreSQL did not start: {result.stderr.strip()}\n{log[-2000:]}")
            time.sleep(0.2)
        cluster = Cluster(bindir, datadir, port)
        cluster.execute(f"CREATE ROLE {OWNER} LOGIN", f"CREATE ROLE {CONSOLE} LOGIN")
        yield cluster
    finally:
        if started:
            subprocess.run(_as_cluster_user([str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w",
                                             "stop"], user), capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)
