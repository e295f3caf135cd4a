"""A stateful fake of the Databricks Jobs API 2.2 (and cluster events) served over HTTP on 127.0.0.1.

The real ``databricks-sdk`` ``WorkspaceClient`` talks to it, so the console's adapter code, the SDK's
retries, paging and enum parsing are what run in tests. Runs do not progress on their own: a test moves
them (``start``, ``finish``) so every state is deterministic. Faults are queued per path and consumed one
request at a time: ``429`` (with Retry-After), ``503``, ``slow`` (the request is carried out, the reply
comes late, so the client times out and retries), ``html502``; ``unknown_states`` makes every state value
one the SDK does not know; ``down`` answers 503 to everything until cleared. Every request is logged.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

PAGE = 100  # Jobs API 2.2 pages array properties of a run at 100 elements


@dataclass
class Fault:
    kind: str  # 429 | 503 | slow | html502
    path: str  # request path prefix, "" for any
    method: str = ""  # "" for any
    seconds: float = 0.0  # slow: delay of the reply; 429/503: Retry-After


@dataclass
class FakeState:
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)  # idempotency_token -> run_id
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # cluster_id -> events
    next_id: int = 1000


class FakeJobsAPI:
    """``with FakeJobsAPI() as fake: fake.host`` is an ``http://127.0.0.1:PORT`` for ``Config(host=...)``."""

    def __init__(self, page_size: int = PAGE) -> None:
        self.state = FakeState()
        self.lock = threading.RLock()
        self.page_size = page_size
        self.faults: list[Fault] = []
        self.down = False
        self.unknown_states = False
        self.log: list[tuple[float, str, str]] = []  # (time, method, path)
        self.clock = time.time  # what start/end times are stamped with (ms since the epoch)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> FakeJobsAPI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-databricks", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeJobsAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self, method: str = "", path: str = "") -> list[tuple[float, str, str]]:
        return [r for r in self.log if (not method or r[1] == method) and r[2].startswith(path)]

    @contextmanager
    def fault(self, kind: str, path: str = "", method: str = "", times: int = 1, seconds: float = 0.0
              ) -> Iterator[None]:
        with self.lock:
            self.faults.extend(Fault(kind, path, method, seconds) for _ in range(times))
        try:
            yield
        finally:
            with self.lock:
                self.faults = [f for f in self.faults if not (f.kind == kind and f.path == path)]

    # ---------------------------------------------------------------- state helpers for tests
    def _id(self) -> int:
        self.state.next_id += 1
        return self.state.next_id

    def _ms(self) -> int:
        return int(self.clock() * 1000)

    def add_job(self, settings: dict[str, Any]) -> int:
        with self.lock:
            job_id = self._id()
            self.state.jobs[job_id] = {"job_id": job_id, "created_time": self._ms(), "creator_user_name": "fake",
                                       "settings": copy.deepcopy(settings)}
            return job_id

    def new_run(self, job_id: int, params: dict[str, str] | None = None, trigger: str = "ONE_TIME") -> int:
        """A run of the job with every task pending (what run-now creates)."""
        with self.lock:
            job = self.state.jobs[job_id]
            run_id = self._id()
            now = self._ms()
            run = {"job_id": job_id, "run_id": run_id, "run_name": job["settings"].get("name", ""),
                   "number_in_job": run_id, "original_attempt_run_id": run_id, "trigger": trigger,
                   "creator_user_name": "fake", "start_time": now, "setup_duration": 0, "execution_duration": 0,
                   "cleanup_duration": 0, "end_time": 0, "run_duration": 0, "run_type": "JOB_RUN",
                   "run_page_url": f"{self.host}/jobs/{job_id}/runs/{run_id}",
                   "job_parameters": [{"name": k, "value": v, "default": ""} for k, v in (params or {}).items()],
                   "tasks": [], "repair_history": [
                       {"type": "ORIGINAL", "id": run_id, "start_time": now, "end_time": 0,
                        "task_run_ids": [], "state": {"life_cycle_state": "PENDING"},
                        "status": {"state": "PENDING"}}],
                   "_repairs": 0}
            for task in job["settings"]["tasks"]:
                run["tasks"].append(self._task_run(run, task["task_key"], 0, task.get("depends_on", [])))
            run["repair_history"][0]["task_run_ids"] = [t["run_id"] for t in run["tasks"]]
            self._set_run_state(run, "PENDING", None)
            self.state.runs[run_id] = run
            return run_id

    def _task_run(self, run: dict[str, Any], key: str, attempt: int, depends_on: list[Any]) -> dict[str, Any]:
        cluster = f"cluster-{run['run_id']}"
        task = {"task_key": key, "run_id": self._id(), "attempt_number": attempt, "depends_on": depends_on,
                "start_time": 0, "end_time": 0, "setup_duration": 0, "execution_duration": 0,
                "cleanup_duration": 0, "cluster_instance": {"cluster_id": cluster},
                "run_page_url": f"{self.host}/jobs/{run['job_id']}/runs/{run['run_id']}"}
        self._set_state(task, "PENDING", None)
        return task

    @staticmethod
    def _set_state(obj: dict[str, Any], life: str, result: str | None, message: str = "") -> None:
        legacy: dict[str, Any] = {"life_cycle_state": life, "state_message": message,
                                  "user_cancelled_or_timedout": False}
        status: dict[str, Any] = {"state": life if life != "WAITING_FOR_RETRY" else "WAITING"}
        if result:
            legacy["result_state"] = result
            code = {"SUCCESS": "SUCCESS", "FAILED": "RUN_EXECUTION_ERROR", "CANCELED": "USER_CANCELED",
                    "UPSTREAM_FAILED": "RUN_EXECUTION_ERROR", "UPSTREAM_CANCELED": "CANCELED",
                    "EXCLUDED": "SKIPPED"}.get(result, "INTERNAL_ERROR")
            kind = "SUCCESS" if result in ("SUCCESS", "EXCLUDED") else "CLIENT_ERROR"
            if result in ("CANCELED", "UPSTREAM_CANCELED"):
                kind = "SUCCESS"
            status["termination_details"] = {"code": code, "type": kind, "message": message}
        obj["state"], obj["status"] = legacy, status
        obj["_result"] = result

    def _set_run_state(self, run: dict[str, Any], life: str, result: str | None, message: str = "") -> None:
        self._set_state(run, life, result, message)

    def _latest(self, run: dict[str, Any]) -> dict[str, dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for task in run["tasks"]:
            latest[task["task_key"]] = task
        return latest

    def start_tasks(self, run_id: int, keys: list[str] | None = None) -> None:
        """The run is RUNNING; the pending tasks named (default: those whose dependencies succeeded) run."""
        with self.lock:
            run = self.state.runs[run_id]
            now = self._ms()
            if run["state"]["life_cycle_state"] == "PENDING":
                run["start_time"] = run["start_time"] or now
            self._set_run_state(run, "RUNNING", None)
            latest = self._latest(run)
            for key, task in latest.items():
                if task["state"]["life_cycle_state"] != "PENDING":
                    continue
                deps = [d["task_key"] for d in task.get("depends_on", [])]
                ready = all(latest[d].get("_result") == "SUCCESS" for d in deps)
                if (keys is None and ready) or (keys is not None and key in keys):
                    task["start_time"] = now
                    self._set_state(task, "RUNNING", None)

    def finish(self, run_id: int, fail: dict[str, str] | None = None, setup_ms: int = 60_000,
               step_ms: int = 120_000) -> None:
        """Run every pending/running task of the run to its end in DAG order: the tasks in ``fail`` fail
        with the message given, their dependents are UPSTREAM_FAILED; then the run terminates."""
        fail = fail or {}
        with self.lock:
            run = self.state.runs[run_id]
            now = self._ms()
            if not run["start_time"]:
                run["start_time"] = now
            latest = self._latest(run)
            done: set[str] = set()
            moment = now
            while len(done) < len(latest):
                progressed = False
                for key, task in latest.items():
                    if key in done:
                        continue
                    deps = [d["task_key"] for d in task.get("depends_on", [])]
                    if any(d not in done and latest[d]["state"]["life_cycle_state"] != "TERMINATED" for d in deps):
                        continue
                    progressed = True
                    done.add(key)
                    if task["state"]["life_cycle_state"] == "TERMINATED":
                        continue
                    upstream = [latest[d].get("_result") for d in deps]
                    if any(r not in ("SUCCESS",) for r in upstream):
                        self._set_state(task, "TERMINATED", "UPSTREAM_FAILED", "An upstream task failed.")
                        task["end_time"] = moment
                        continue
                    task["start_time"] = task["start_time"] or moment
                    task["setup_duration"] = setup_ms
                    task["execution_duration"] = step_ms
                    moment += setup_ms + step_ms
                    task["end_time"] = moment
                    if key in fail:
                        self._set_state(task, "TERMINATED", "FAILED", "Workload failed")
                        task["_error"] = fail[key]
                    else:
                        self._set_state(task, "TERMINATED", "SUCCESS")
                if not progressed:
                    break
            results = [t.get("_result") for t in latest.values()]
            result = "SUCCESS" if all(r == "SUCCESS" for r in results) else "FAILED"
            self._set_run_state(run, "TERMINATED", result, "" if result == "SUCCESS" else "Task failed")
            run["end_time"] = moment
            run["setup_duration"] = setup_ms
            run["run_duration"] = moment - run["start_time"]
            for entry in run["repair_history"]:
                if not entry["end_time"]:
                    entry["end_time"] = moment
                    entry["state"] = copy.deepcopy(run["state"])
                    entry["status"] = copy.deepcopy(run["status"])

    def add_cluster_events(self, cluster_id: str, events: list[dict[str, Any]]) -> None:
        with self.lock:
            self.state.events.setdefault(cluster_id, []).extend(events)

    def set_task_state(self, run_id: int, key: str, life: str, result: str | None) -> None:
        with self.lock:
            self._set_state(self._latest(self.state.runs[run_id])[key], life, result)

    # ---------------------------------------------------------------- HTTP
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        self.log.append((time.time(), method, url.path))
        fault = self._take_fault(method, url.path)
        if self.down or (fault and fault.kind == "503"):
            return self._reply(handler, 503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "fake: down"},
                               {"Retry-After": str(int(fault.seconds) if fault else 1)})
        if fault and fault.kind == "429":
            return self._reply(handler, 429, {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "fake: slow down"},
                               {"Retry-After": str(int(fault.seconds or 1))})
        if fault and fault.kind == "html502":
            body = b"<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
            handler.send_response(502)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return None
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = json.loads(raw) if raw else {}
        try:
            with self.lock:
                status, payload = self._route(method, url.path, query, body)
        except KeyError as exc:
            status, payload = 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"fake: no {exc}"}
        if fault and fault.kind == "slow":
            time.sleep(fault.seconds)
        return self._reply(handler, status, payload)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for index, fault in enumerate(self.faults):
                if path.startswith(fault.path) and (not fault.method or fault.method == method):
                    return self.faults.pop(index)
        return None

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, payload: Any,
               headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a slow reply)
            pass

    def _route(self, method: str, path: str, q: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        s = self.state
        if path == "/.well-known/databricks-config":
            return 200, {"oidc_endpoint": f"{self.host}/oidc", "workspace_id": "1234567890"}
        if path == "/api/2.2/jobs/list":
            jobs = sorted(s.jobs.values(), key=lambda j: -j["job_id"])
            if q.get("name"):
                jobs = [j for j in jobs if j["settings"].get("name", "").lower() == q["name"].lower()]
            listed = [{k: v for k, v in j.items() if k != "settings"}
                      | {"settings": {"name": j["settings"].get("name")}} for j in jobs[:int(q.get("limit", 20))]]
            return 200, {"jobs": listed, "has_more": False}
        if path == "/api/2.2/jobs/get":
            return 200, copy.deepcopy(s.jobs[int(q["job_id"])])
        if path == "/api/2.2/jobs/create" and method == "POST":
            return 200, {"job_id": self.add_job(body)}
        if path == "/api/2.2/jobs/reset" and method == "POST":
            s.jobs[int(body["job_id"])]["settings"] = copy.deepcopy(body["new_settings"])
            return 200, {}
        if path == "/api/2.2/jobs/run-now" and method == "POST":
            token = body.get("idempotency_token")
            if token and token in s.tokens:
                return 200, {"run_id": s.tokens[token], "number_in_job": s.tokens[token]}
            run_id = self.new_run(int(body["job_id"]), body.get("job_parameters"), trigger="ONE_TIME")
            if token:
                s.tokens[token] = run_id
            return 200, {"run_id": run_id, "number_in_job": run_id}
        if path == "/api/2.2/jobs/runs/list":
            return 200, self._list_runs(q)
        if path == "/api/2.2/jobs/runs/get":
            return 200, self._get_run(int(q["run_id"]), q.get("page_token"), q.get("include_history") == "true")
        if path == "/api/2.2/jobs/runs/get-output":
            task_id = int(q["run_id"])
            for run in s.runs.values():
                for task in run["tasks"]:
                    if task["run_id"] == task_id:
                        out: dict[str, Any] = {"metadata": self._public(task)}
                        if task.get("_error"):
                            out["error"] = task["_error"]
                            out["error_trace"] = f"Traceback (most recent call last):\n  ...\n{task['_error']}"
                        return 200, out
            return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": f"Run {task_id} does not exist."}
        if path == "/api/2.2/jobs/runs/repair" and method == "POST":
            return self._repair(body)
        if path == "/api/2.2/jobs/runs/cancel" and method == "POST":
            run = s.runs[int(body["run_id"])]
            if run["state"]["life_cycle_state"] in ("PENDING", "RUNNING", "QUEUED", "BLOCKED"):
                for task in self._latest(run).values():
                    if task["state"]["life_cycle_state"] != "TERMINATED":
                        self._set_state(task, "TERMINATED", "CANCELED", "Canceled by user.")
                self._set_run_state(run, "TERMINATED", "CANCELED", "Run canceled by user.")
                run["end_time"] = self._ms()
            return 200, {}
        if path == "/api/2.1/clusters/events" and method == "POST":
            events = list(reversed(s.events.get(body["cluster_id"], [])))  # newest first (default order DESC)
            offset = int(body.get("offset", 0))
            limit = int(body.get("limit", 50))
            page = events[offset:offset + limit]
            out = {"events": page, "total_count": len(events)}
            if offset + limit < len(events):
                out["next_page"] = {**body, "offset": offset + limit}
            return 200, out
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"fake: no endpoint {method} {path}"}

    def _public(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}
        if self.unknown_states:
            out["state"] = {"life_cycle_state": "HIBERNATING", "result_state": "PARTIALLY_DONE"}
            out["status"] = {"state": "HIBERNATING", "termination_details": {"code": "NEW_CODE", "type": "NEW_TYPE"}}
        return out

    def _list_runs(self, q: dict[str, str]) -> dict[str, Any]:
        runs = [r for r in self.state.runs.values() if not q.get("job_id") or r["job_id"] == int(q["job_id"])]
        if q.get("start_time_from"):
            runs = [r for r in runs if r["start_time"] >= int(q["start_time_from"])]
        if q.get("start_time_to"):
            runs = [r for r in runs if r["start_time"] <= int(q["start_time_to"])]
        runs.sort(key=lambda r: (-r["start_time"], -r["run_id"]))
        limit = min(int(q.get("limit") or 20), 25)
        offset = int(q.get("page_token") or 0)
        page = runs[offset:offset + limit]
        expand = q.get("expand_tasks") == "true"
        out_runs = []
        for run in page:
            public = self._public(run)
            public.pop("repair_history", None)
            if expand:
                public["tasks"] = public["tasks"][:self.page_size]
                public["has_more"] = len(run["tasks"]) > self.page_size
            else:
                public.pop("tasks", None)
            out_runs.append(public)
        out: dict[str, Any] = {"runs": out_runs, "has_more": offset + limit < len(runs)}
        if offset + limit < len(runs):
            out["next_page_token"] = str(offset + limit)
        return out

    def _get_run(self, run_id: int, page_token: str | None, history: bool) -> dict[str, Any]:
        run = self.state.runs[run_id]
        public = self._public(run)
        public["tasks"] = [self._public(t) for t in run["tasks"]]
        offset = int(page_token or 0)
        public["tasks"] = public["tasks"][offset:offset + self.page_size]
        if offset:  # later pages carry only the arrays' remaining elements
            public["repair_history"], public["job_parameters"], public["job_clusters"] = [], [], []
        elif not history:
            public.pop("repair_history", None)
        if offset + self.page_size < len(run["tasks"]):
            public["next_page_token"] = str(offset + self.page_size)
            public["has_more"] = True
        return public

    def _repair(self, body: dict[str, Any]) -> tuple[int, Any]:
        run = self.state.runs[int(body["run_id"])]
        repairs = [r for r in run["repair_history"] if r["type"] == "REPAIR"]
        if run["state"]["life_cycle_state"] != "TERMINATED":
            return 400, {"error_code": "INVALID_STATE_TRANSITION",
                         "message": f"Run {run['run_id']} is not in a terminal state and cannot be repaired."}
        latest_id = repairs[-1]["id"] if repairs else None
        if latest_id is not None and body.get("latest_repair_id") != latest_id:
            return 400, {"error_code": "INVALID_PARAMETER_VALUE",
                         "message": f"The latest repair ID of run {run['run_id']} is {latest_id}; "
                                    f"latest_repair_id {body.get('latest_repair_id')} does not match."}
        latest = self._latest(run)
        if body.get("rerun_all_failed_tasks"):
            chosen = {k for k, t in latest.items() if t.get("_result") not in ("SUCCESS", None)}
        else:
            chosen = set(body.get("rerun_tasks") or [])
        unknown = chosen - set(latest)
        if not chosen or unknown:
            return 400, {"error_code": "INVALID_PARAMETER_VALUE",
                         "message": f"Nothing to repair, or unknown tasks: {sorted(unknown)}"}
        if body.get("rerun_dependent_tasks"):
            frontier = list(chosen)
            while frontier:
                key = frontier.pop()
                for other, task in latest.items():
                    if key in [d["task_key"] for d in task.get("depends_on", [])] and other not in chosen:
                        chosen.add(other)
                        frontier.append(other)
        repair_id = self._id()
        new_tasks = []
        for key in [k for k in latest if k in chosen]:
            old = latest[key]
            task = self._task_run(run, key, old["attempt_number"] + 1, old.get("depends_on", []))
            run["tasks"].append(task)
            new_tasks.append(task["run_id"])
        run["repair_history"].append({"type": "REPAIR", "id": repair_id, "start_time": self._ms(), "end_time": 0,
                                      "task_run_ids": new_tasks, "state": {"life_cycle_state": "PENDING"},
                                      "status": {"state": "PENDING"}})
        self._set_run_state(run, "PENDING", None)
        run["end_time"] = 0
        return 200, {"repair_id": repair_id}
