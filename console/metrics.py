"""The worker's health and metrics on loopback: ``/healthz`` for a supervisor, ``/metrics`` for Prometheus.

Read from the state store at each request (nothing is kept in this process): the worker's heartbeat age, the
last outcome of each worker job, the outbox backlog (and rows given up), and the alerts by state and severity.
``/healthz`` answers 200 while the heartbeat is fresh, else 503 with the reason; both are plain text.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from console.adapters.protocols import Adapters
from console.facts import worker_status
from console.store import alerts, job_events, outbox

logger = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NEVER_YEAR = 9999  # notify.NEVER: a row given up


class StoreCollector(Collector):
    def __init__(self, adapters: Adapters) -> None:
        self.adapters = adapters

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = dt.datetime.now(dt.UTC)
        worker = worker_status(self.adapters, now)
        age = GaugeMetricFamily("console_worker_heartbeat_age_seconds", "Seconds since the worker's last heartbeat")
        age.add_metric([], worker.age_seconds if worker.age_seconds is not None else float("inf"))
        yield age
        alive = GaugeMetricFamily("console_worker_alive", "1 while the worker's heartbeat is fresh")
        alive.add_metric([], 1.0 if worker.alive else 0.0)
        yield alive
        with self.adapters.store.connect() as conn:
            latest = sa.select(job_events.c.job, sa.func.max(job_events.c.id).label("id")).where(
                job_events.c.status != "running").group_by(job_events.c.job).subquery()
            jobs = conn.execute(sa.select(job_events.c.job, job_events.c.status, job_events.c.finished_at)
                                .join(latest, job_events.c.id == latest.c.id)).all()
            unsent = conn.execute(sa.select(outbox.c.channel, outbox.c.next_attempt_at)
                                  .where(outbox.c.sent_at.is_(None))).all()
            counts = conn.execute(sa.select(alerts.c.state, alerts.c.severity, sa.func.count())
                                  .group_by(alerts.c.state, alerts.c.severity)).all()
        ok = GaugeMetricFamily("console_job_last_succeeded", "1 when the worker job's last run succeeded",
                               labels=["job"])
        at = GaugeMetricFamily("console_job_last_finished_timestamp_seconds", "When the worker job last ended",
                               labels=["job"])
        for job, status, finished in jobs:
            ok.add_metric([job], 1.0 if status == "succeeded" else 0.0)
            if finished is not None:
                at.add_metric([job], finished.timestamp())
        yield ok
        yield at
        backlog = GaugeMetricFamily("console_outbox_backlog", "Notifications not sent yet", labels=["channel"])
        given_up = GaugeMetricFamily("console_outbox_given_up", "Notifications given up after their attempts",
                                     labels=["channel"])
        by_channel: dict[str, list[int]] = {}
        for channel, next_at in unsent:
            pair = by_channel.setdefault(channel, [0, 0])
            pair[1 if next_at is not None and next_at.year >= NEVER_YEAR else 0] += 1
        for channel, (waiting, dropped) in sorted(by_channel.items()):
            backlog.add_metric([channel], waiting)
            given_up.add_metric([channel], dropped)
        yield backlog
        yield given_up
        family = GaugeMetricFamily("console_alerts", "Alerts by state and severity", labels=["state", "severity"])
        for state, severity, count in counts:
            family.add_metric([state, severity], count)
        yield family


def serve(adapters: Adapters, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start the server in a daemon thread (port 0: a free one; ``server.server_address`` says which)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(adapters))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # scrapes every 15 s would flood the worker's log
            pass

        def do_GET(self) -> None:
            try:
                if self.path.split("?")[0] == "/healthz":
                    worker = worker_status(adapters)
                    code, body = (200, "ok\n") if worker.alive else (503, f"unhealthy: {worker.message}\n")
                    data = body.encode()
                    kind = "text/plain; charset=utf-8"
                elif self.path.split("?")[0] == "/metrics":
                    code, data, kind = 200, generate_latest(registry), CONTENT_TYPE
                else:
                    code, data, kind = 404, b"not found: /healthz or /metrics\n", "text/plain; charset=utf-8"
            except Exception as exc:  # the state store is down: say so, keep serving
                logger.warning("metrics: reading the state store failed: %s", exc)
                code, data, kind = 503, f"unhealthy: state store: {type(exc).__name__}\n".encode(), \
                    "text/plain; charset=utf-8"
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    return server
