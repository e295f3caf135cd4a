"""Shared helpers for the benchmarks: free ports, a temp data dir, process memory from /proc."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident memory (VmHWM) of a process in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(pid: int | str = "self") -> None:
    """Reset a process's VmHWM to its current RSS (Linux: write 5 to clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def env_for(data_dir: Path, warehouse_port: int, ui_port: int | None = None) -> dict[str, str]:
    env = dict(os.environ, CONSOLE_DATA_DIR=str(data_dir), CONSOLE_WAREHOUSE_PORT=str(warehouse_port),
               PYTHONPATH=str(ROOT))
    if ui_port:
        env["CONSOLE_UI_PORT"] = str(ui_port)
    return env


def start_warehouse(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "console", "warehouse"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the warehouse did not start") from None
            time.sleep(0.1)


@contextmanager
def warehouse_process(prefix: str) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A temporary data dir and an embedded warehouse process on a free port, with this process's env
    pointing at both (no secrets file); the warehouse is stopped and the dir removed at the end."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        port = free_port()
        env = env_for(Path(tmp), port)
        os.environ.update({k: env[k] for k in ("CONSOLE_DATA_DIR", "CONSOLE_WAREHOUSE_PORT")})
        os.environ["CONSOLE_SECRETS"] = str(Path(tmp) / "none.toml")
        warehouse = start_warehouse(env, port)
        try:
            yield Path(tmp), warehouse
        finally:
            warehouse.terminate()
            warehouse.wait(timeout=30)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
