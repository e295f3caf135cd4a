"""The workspace emulator over HTTP on 127.0.0.1: the Jobs API 2.2 paths, cluster events, and its clock.

``with WorkspaceEmulator(work_dir) as emulator:`` serves on a free port; ``emulator.host`` is what
``databricks.sdk`` takes as ``Config(host=...)`` with ``token=emulator.token``. Besides Databricks' paths,
one control endpoint that Databricks does not have, for the rehearsal's clock:

    GET  /rehearsal/clock                              -> {"now": "2026-11-25T11:00:00+00:00", "offset_seconds": ...}
    POST /rehearsal/clock {"set": "2026-11-25T05:59:50-05:00"}  or  {"advance_seconds": 300}

Every request needs ``Authorization: Bearer <token>`` (what the SDK sends for a personal access token),
except the SDK's host probe ``/.well-known/databricks-config``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from rehearsal.clock import EmulatorClock
from rehearsal.workspace import ApiError, Workspace

logger = logging.getLogger(__name__)


class WorkspaceEmulator:
    def __init__(self, work_dir: Path, *, clock: EmulatorClock | None = None, token: str = "rehearsal-token",
                 port: int = 0, **workspace: Any) -> None:
        """``workspace``: the ``Workspace`` options (secrets, cluster_env, python, max_parallel_tasks)."""
        self.workspace = Workspace(work_dir, clock, **workspace)
        self.token = token
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.probe_delay_seconds = 0.0  # fault injection: a slow host probe (a cold workspace or proxy)
        ws = self.workspace
        self.routes: dict[tuple[str, str], Callable[[dict[str, str], dict[str, Any]], Any]] = {
            ("GET", "/api/2.2/jobs/get"): lambda q, b: ws.get_job(q),
            ("GET", "/api/2.2/jobs/list"): lambda q, b: ws.list_jobs(q),
            ("POST", "/api/2.2/jobs/create"): lambda q, b: ws.create_job(b),
            ("POST", "/api/2.2/jobs/reset"): lambda q, b: ws.reset_job(b),
            ("POST", "/api/2.2/jobs/update"): lambda q, b: ws.update_job(b),
            ("POST", "/api/2.2/jobs/delete"): lambda q, b: ws.delete_job(b),
            ("POST", "/api/2.2/jobs/run-now"): lambda q, b: ws.run_now(b),
            ("GET", "/api/2.2/jobs/runs/get"): lambda q, b: ws.get_run(q),
            ("GET", "/api/2.2/jobs/runs/list"): lambda q, b: ws.list_runs(q),
            ("GET", "/api/2.2/jobs/runs/get-output"): lambda q, b: ws.get_run_output(q),
            ("POST", "/api/2.2/jobs/runs/repair"): lambda q, b: ws.repair_run(b),
            ("POST", "/api/2.2/jobs/runs/cancel"): lambda q, b: ws.cancel_run(b),
            ("POST", "/api/2.1/clusters/events"): lambda q, b: ws.cluster_events(b),
            ("GET", "/rehearsal/clock"): lambda q, b: self._clock({}),
            ("POST", "/rehearsal/clock"): lambda q, b: self._clock(b),
        }

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> WorkspaceEmulator:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # requests are kept in emulator.requests instead
                pass

            def do_GET(self) -> None:
                emulator._handle(self, "GET")

            def do_POST(self) -> None:
                emulator._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self.workspace.host = self.host
        self.workspace.start()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="rehearsal-workspace", daemon=True)
        self._thread.start()
        logger.info("rehearsal workspace emulator on %s", self.host)
        return self

    def stop(self) -> None:
        self.workspace.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WorkspaceEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        assert self._server is not None, "start() the emulator first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def clock(self) -> EmulatorClock:
        return self.workspace.clock

    # ---------------------------------------------------------------- HTTP
    def _clock(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            if "set" in body:
                self.clock.set(dt.datetime.fromisoformat(str(body["set"])))
            elif "advance_seconds" in body:
                self.clock.advance(float(body["advance_seconds"]))
        except ValueError as exc:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{exc} Send {{\"set\": \"2026-11-25T05:59:00-05:00\"}} "
                                                           "or {\"advance_seconds\": 60}.") from None
        return {"now": self.clock.now().isoformat(), "offset_seconds": self.clock.offset_seconds}

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        self.requests.append((method, url.path))
        if url.path == "/.well-known/databricks-config":
            time.sleep(self.probe_delay_seconds)
            return self._reply(handler, 200, {"workspace_id": "1234567890", "oidc_endpoint": f"{self.host}/oidc"})
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            return self._reply(handler, 401, {"error_code": "UNAUTHENTICATED",
                                              "message": "Invalid access token (send Authorization: Bearer <token>)."})
        route = self.routes.get((method, url.path.replace("/api/2.1/jobs/", "/api/2.2/jobs/")))
        if route is None:
            return self._reply(handler, 404, {"error_code": "ENDPOINT_NOT_FOUND",
                                              "message": f"No API found for '{method} {url.path}' in the emulator."})
        try:
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            body = json.loads(raw) if raw else {}
            status, payload = 200, route(query, body)
        except ApiError as exc:
            status, payload = exc.status, {"error_code": exc.code, "message": exc.message}
        except (ValueError, TypeError, KeyError) as exc:
            status, payload = 400, {"error_code": "MALFORMED_REQUEST", "message": f"{type(exc).__name__}: {exc}"}
        except Exception as exc:  # a bug of the emulator: say so, keep serving
            logger.exception("rehearsal workspace: %s %s failed", method, url.path)
            status, payload = 500, {"error_code": "INTERNAL_ERROR", "message": f"emulator error: {exc}"}
        return self._reply(handler, status, payload)

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            pass
