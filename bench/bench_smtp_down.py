"""Home with the worker down (its watchdog alerts) while SMTP hangs and 50 notifications wait in the outbox.

    .venv/bin/python bench/bench_smtp_down.py [--runs 5]

The embedded stack in this process (a small demo: 5,000 accounts × 5 business days), the worker not running,
``[alerts.smtp]`` pointing at a socket that accepts connections and never answers (a hung mail server), and 50
e-mails queued. Home is rendered in ``AppTest`` (fresh caches each run, so the watchdog fires each time), against
the same page with SMTP answering (aiosmtpd). Before issue 14 the watchdog delivered on the page's thread:
50 rows × 20 s per socket operation. Prints the median page time of each and the ratio; then how many of the
50 mails the background delivery sent once SMTP answered.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._util import free_port  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-smtp-") as tmp:
        data = Path(tmp)
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(128)
        smtp_port = silent.getsockname()[1]
        text = (ROOT / "console.toml").read_text().replace('host = ""\nport = 587\nsecurity = "starttls"',
                                                           f'host = "127.0.0.1"\nport = {smtp_port}\n'
                                                           'security = "none"', 1)
        text = text.replace('spec = "jobs/outbound_lists.job.yml"', f'spec = "{ROOT / "jobs/outbound_lists.job.yml"}"')
        (data / "console.toml").write_text(text)
        os.environ.update(CONSOLE_DATA_DIR=str(data), CONSOLE_WAREHOUSE_PORT=str(free_port()),
                          CONSOLE_SETTINGS=str(data / "console.toml"), CONSOLE_SECRETS=str(data / "none.toml"),
                          CONSOLE_METRICS_PORT="0")
        from streamlit.testing.v1 import AppTest

        from console import demo
        from console.adapters.embedded_warehouse import WarehouseServer
        from console.app import build_adapters
        from console.settings import load_settings
        from console.store import outbox

        settings = load_settings()
        assert settings.alerts["smtp"]["port"] == smtp_port, "the bench's SMTP setting did not apply"
        server = WarehouseServer(settings)
        server.start()
        try:
            adapters = build_adapters(settings)
            demo.ensure_demo(adapters, days=5, accounts=5_000)
            now = dt.datetime.now(dt.UTC)
            with adapters.store.begin() as conn:
                for n in range(50):
                    conn.execute(outbox.insert().values(
                        dedupe=f"bench:{n}:email", channel="email", recipients="oncall@example.com",
                        subject=f"bench {n}", body="body", alert_id=None, created_at=now, attempts=0,
                        next_attempt_at=now, last_error=""))

            def home() -> float:
                import streamlit as st

                st.cache_data.clear()
                st.cache_resource.clear()
                from console.ui import cached

                cached._WATCHED.clear()  # the watchdog fires on this render
                started = time.perf_counter()
                at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=120).run()
                took = time.perf_counter() - started
                assert not at.exception, at.exception
                return took

            hung = [home() for _ in range(args.runs)]
            silent.close()
            from aiosmtpd.controller import Controller

            class Box:
                def __init__(self) -> None:
                    self.bench: list[bytes] = []
                    self.others = 0

                async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
                    content: bytes = envelope.content  # type: ignore[attr-defined]
                    subject = next((line for line in content.splitlines() if line.startswith(b"Subject:")), b"")
                    if subject.startswith(b"Subject: bench "):
                        self.bench.append(subject)
                    else:
                        self.others += 1
                    return "250 OK"

                @property
                def count(self) -> int:
                    return len(self.bench)

            box = Box()
            controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
            controller.start()
            try:
                with adapters.store.begin() as conn:  # due again now (the hung cycle scheduled retries)
                    conn.execute(outbox.update().where(outbox.c.sent_at.is_(None)).values(
                        next_attempt_at=dt.datetime.now(dt.UTC)))
                answering = [home() for _ in range(args.runs)]
                deadline = time.monotonic() + 60
                while box.count < 50 and time.monotonic() < deadline:
                    time.sleep(0.5)
            finally:
                controller.stop()
        finally:
            server.stop()
    slow, fast = statistics.median(hung), statistics.median(answering)
    print(f"Home with the worker down and 50 mails queued: SMTP hung {slow:.2f} s, SMTP answering {fast:.2f} s "
          f"(median of {args.runs}; ratio {slow / fast:.2f}); mails delivered in the background once SMTP "
          f"answered: {len(set(box.bench))} of 50 ({box.count} sent in all), and {box.others} alert mail(s) of the "
          "watchdog")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
