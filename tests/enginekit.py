"""A test kit for the engine: the real job spec's DAG with task modules that sleep or fail on request."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from console.adapters.local_engine import LocalEngine
from console.adapters.warehouse import Warehouse
from console.settings import ROOT
from console.store import StateStore
from console.workflow import load_workflow

MODULES = ["bi_2482", "bi_2584", "bi_2609", "bi_737", "bi_813", "di_862", "di_749", "di_986", "bi_820",
           "di_1049", "di_977"]

COMMON = '''
import json, os, threading, time
from pathlib import Path

_lock = threading.Lock()
_running = 0

def behave(ctx, name):
    """Follow the test's control file: sleep, fail a number of times, record start/end."""
    global _running
    control = Path(os.environ["ENGINE_TEST_CONTROL"])
    plan = json.loads(control.read_text()).get(name, {})
    log = control.with_suffix(".log")
    with _lock:
        _running += 1
        with log.open("a") as f:
            f.write(json.dumps({"task": name, "event": "start", "t": time.time(), "running": _running}) + "\\n")
    try:
        time.sleep(plan.get("sleep", 0.0))
        counter = control.with_name(name + ".count")
        count = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(count + 1))
        if count < plan.get("fail_times", 0):
            raise RuntimeError(plan.get("message", "planned failure"))
        return {"rows": 1}
    finally:
        with _lock:
            _running -= 1
            with log.open("a") as f:
                f.write(json.dumps({"task": name, "event": "end", "t": time.time()}) + "\\n")
'''


def make_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    package = tmp_path / "enginetasks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_common.py").write_text(COMMON)
    for name in MODULES:
        (package / f"{name}.py").write_text(
            f"from enginetasks._common import behave\n\ndef run(ctx):\n    return behave(ctx, {name!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    control = tmp_path / "control.json"
    control.write_text("{}")
    monkeypatch.setenv("ENGINE_TEST_CONTROL", str(control))
    for mod in [m for m in sys.modules if m.startswith("enginetasks")]:
        del sys.modules[mod]
    spec = load_workflow(ROOT / "jobs" / "outbound_lists.job.yml", tasks_package="enginetasks")
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    # The engine needs somewhere to borrow a "session" from; these tasks do not touch a warehouse.
    warehouse = Warehouse(lambda: object(), "no warehouse")
    engine = LocalEngine(store, spec, warehouse, context_factory=lambda s, d, k, r: {"date": d, "task": k},
                         max_parallel=3, retry_interval_scale=0.0)

    class Env:
        pass

    e = Env()
    e.tmp, e.control, e.spec, e.store, e.engine = tmp_path, control, spec, store, engine

    def plan(**tasks: dict) -> None:
        control.write_text(json.dumps(tasks))

    def events() -> list[dict]:
        log = control.with_suffix(".log")
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    e.plan, e.events = plan, events
    return e
