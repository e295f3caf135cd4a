"""doctor checks the SMTP server where mail is configured: [alerts.smtp] of console.toml."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

from console.app import build_adapters
from console.doctor import run_checks
from console.settings import load_settings
from tests.conftest import free_port


def test_doctor_reaches_the_smtp_server_of_alerts_smtp(tmp_path: Path) -> None:
    base = load_settings()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        alerts = {**base.alerts, "smtp": {**base.alerts["smtp"], "host": "127.0.0.1", "port": port}}
        settings = dataclasses.replace(base, alerts=alerts, secrets={}, warehouse_port=free_port(),
                                       state_url=f"sqlite:///{tmp_path / 'state.db'}")
        smtp = next(c for c in run_checks(settings, build_adapters(settings)) if c.system == "SMTP")
    assert smtp.ok and not smtp.skipped, smtp
    assert f"127.0.0.1:{port} accepts connections" in smtp.detail


def test_doctor_names_an_unreachable_smtp_server_and_where_it_is_configured(tmp_path: Path) -> None:
    base = load_settings()
    alerts = {**base.alerts, "smtp": {**base.alerts["smtp"], "host": "127.0.0.1", "port": free_port()}}
    settings = dataclasses.replace(base, alerts=alerts, secrets={}, warehouse_port=free_port(),
                                   state_url=f"sqlite:///{tmp_path / 'state.db'}")
    smtp = next(c for c in run_checks(settings, build_adapters(settings)) if c.system == "SMTP")
    assert not smtp.ok
    assert "[alerts.smtp]" in smtp.fix
