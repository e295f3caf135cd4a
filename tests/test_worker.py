"""The worker: real APScheduler on the real SQLite store, one worker per store, requests carried out."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from console.adapters.protocols import Adapters
from console.clock import ET, FrozenClock
from console.errors import WorkerLocked
from console.facts import worker_status
from console.model import TaskState
from console.settings import DEFAULT_SETTINGS, load_settings
from console.store import job_events
from console.worker import acquire_lock, release_lock, run_worker
from tests.enginekit import make_env

SATURDAY = dt.datetime(2026, 11, 28, 10, 0, tzinfo=ET)  # no scheduled job is due on a Saturday


@pytest.fixture
def adapters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Adapters:
    env = make_env(tmp_path, monkeypatch)
    settings = load_settings(DEFAULT_SETTINGS, secrets={})
    return Adapters(settings=settings, mode="embedded", spec=env.spec, store=env.store, warehouse=env.engine.warehouse,
                    engine=env.engine)


def _wait(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_worker_runs_a_requested_run_beats_and_holds_the_lock(adapters: Adapters) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(adapters, FrozenClock(SATURDAY), stop), daemon=True)
    thread.start()
    try:
        _wait(lambda: worker_status(adapters).alive)
        request = adapters.engine.submit("trigger", "ops@example.com", "k1", business_date=dt.date(2026, 11, 27))
        _wait(lambda: adapters.engine.request_status(request.request_id)["status"] in ("done", "failed"))
        assert adapters.engine.request_status(request.request_id)["status"] == "done"
        assert adapters.engine.run_for_date(dt.date(2026, 11, 27)).state == TaskState.SUCCEEDED
        with pytest.raises(WorkerLocked, match="Another worker"):
            acquire_lock(adapters, "other-host:1", dt.datetime.now(dt.UTC))
        with adapters.store.connect() as conn:
            stored = {r.id for r in conn.execute(sa.text("select id from apscheduler_jobs"))}
        assert {"heartbeat", "actions", "workflow", "genesys_upload", "results_export"} <= stored
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not worker_status(adapters).alive
    acquire_lock(adapters, "other-host:1", dt.datetime.now(dt.UTC))  # released on stop: free to take
    release_lock(adapters, "other-host:1")


def test_a_stale_lock_is_taken_over(adapters: Adapters) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    acquire_lock(adapters, "dead-host:9", long_ago)
    status = worker_status(adapters)
    assert not status.alive and "No worker heartbeat" in status.message
    acquire_lock(adapters, "new-host:1", dt.datetime.now(dt.UTC))
    assert worker_status(adapters).owner == "new-host:1"


def test_a_worker_job_that_raises_is_recorded_and_the_worker_goes_on(adapters: Adapters) -> None:
    from console import worker

    worker._runtime = worker._Runtime(adapters, FrozenClock(SATURDAY), "me:1", None)  # type: ignore[arg-type]
    try:
        worker._record("boom", None, lambda: 1 / 0)  # type: ignore[arg-type, return-value]
        worker._record("fine", None, lambda: "ok")
    finally:
        worker._runtime = None
    with adapters.store.connect() as conn:
        rows = {r.job: (r.status, r.message) for r in conn.execute(sa.select(job_events))}
    assert rows["boom"][0] == "failed" and "ZeroDivisionError" in rows["boom"][1]
    assert rows["fine"] == ("succeeded", "ok")


def test_a_worker_that_lost_its_lock_stops_itself(adapters: Adapters) -> None:
    """A stalled worker kept scheduling after a second one took its lock over (the heartbeat updated
    WHERE owner = me and never checked that a row changed) (issue 14)."""
    from console import worker

    paused = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    acquire_lock(adapters, "stalled:1", paused)  # its last beat, then it froze
    runtime = worker._Runtime(adapters, FrozenClock(SATURDAY), "stalled:1", None)  # type: ignore[arg-type]
    worker._runtime = runtime
    try:
        acquire_lock(adapters, "second:2", dt.datetime.now(dt.UTC))  # stale: taken over
        worker.heartbeat()  # the stalled one wakes up and beats
    finally:
        worker._runtime = None
    assert runtime.stop.is_set()
    assert worker_status(adapters).owner == "second:2"  # its lock stays with the second
    fresh = worker._Runtime(adapters, FrozenClock(SATURDAY), "second:2", None)  # type: ignore[arg-type]
    worker._runtime = fresh
    try:
        worker.heartbeat()
    finally:
        worker._runtime = None
    assert not fresh.stop.is_set()


def test_the_worker_serves_healthz_and_prometheus_metrics_on_loopback(adapters: Adapters) -> None:
    import urllib.error
    import urllib.request

    from console import metrics
    from console.store import outbox

    server = metrics.serve(adapters, 0)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert server.server_address[0] == "127.0.0.1"
        with pytest.raises(urllib.error.HTTPError) as down:  # no worker has beaten yet
            urllib.request.urlopen(f"{url}/healthz", timeout=5)
        assert down.value.code == 503 and "unhealthy" in down.value.read().decode()
        now = dt.datetime.now(dt.UTC)
        acquire_lock(adapters, "me:1", now)
        with adapters.store.begin() as conn:
            conn.execute(outbox.insert().values(dedupe="x:email", channel="email", recipients="a@b.c", subject="s",
                                                body="b", alert_id=None, created_at=now, attempts=0,
                                                next_attempt_at=now, last_error=""))
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            assert response.status == 200 and response.read() == b"ok\n"
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            text = response.read().decode()
        assert "console_worker_alive 1.0" in text
        assert 'console_outbox_backlog{channel="email"} 1.0' in text
        assert "console_worker_heartbeat_age_seconds" in text
    finally:
        server.shutdown()
