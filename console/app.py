"""The composition root: the one place that turns settings into the adapter set (and reads the mode).

Front doors (the pages, the CLI, the worker process) call ``build_adapters`` once and hand the set down;
services, judgments and facts receive it and never build adapters themselves.
"""

from __future__ import annotations

from functools import partial

from console.adapters import databricks, embedded_warehouse, snowflake
from console.adapters.local_engine import LocalEngine
from console.adapters.protocols import Adapters, Engine, task_context
from console.adapters.warehouse import Warehouse
from console.settings import Settings, resolve_mode, snowflake_connection
from console.store import StateStore
from console.workflow import load_workflow


def build_adapters(settings: Settings) -> Adapters:
    """Build the whole adapter set: embedded or production, the local engine or Databricks."""
    mode = resolve_mode(settings)
    spec = load_workflow(settings.workflow_spec)
    store = StateStore(settings.resolved_state_url)
    if mode == "embedded":
        warehouse = Warehouse(lambda: embedded_warehouse.open_session(settings),
                              f"embedded warehouse ({settings.warehouse_host}:{settings.warehouse_port})")
    else:
        conn = snowflake_connection(settings) or {}
        warehouse = Warehouse(lambda: snowflake.open_session(settings, conn),
                              f"Snowflake account {conn.get('account', '?')}")
    kind = settings.engine if settings.engine != "auto" else ("local" if mode == "embedded" else "databricks")
    engine: Engine
    if kind == "databricks":
        engine = databricks.DatabricksEngine(store, spec, settings.databricks, connect_early=True)
    else:
        engine = LocalEngine(store, spec, warehouse, context_factory=partial(task_context, settings, spec),
                             max_parallel=settings.max_parallel_tasks)
    return Adapters(settings=settings, mode=mode, spec=spec, store=store, warehouse=warehouse, engine=engine)
