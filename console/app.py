"""The composition root: the one place that turns settings into the adapter set (and reads the mode).

Front doors (the pages, the CLI, the worker process) call ``build_adapters`` once and hand the set down;
services, judgments and facts receive it and never build adapters themselves.
"""

from __future__ import annotations

from functools import partial

from console.adapters import databricks, embedded_warehouse, snowflake
from console.adapters.local_engine import LocalEngine
from console.adapters.meter import Meter
from console.adapters.protocols import Adapters, Engine, task_context
from console.adapters.warehouse import Warehouse
from console.errors import ConfigError
from console.settings import Settings, resolve_mode, snowflake_connection
from console.store import StateStore
from console.workflow import load_workflow


def engine_kind(settings: Settings, mode: str) -> str:
    """``local`` or ``databricks``: ``[workflow] engine``, where ``auto`` follows the mode."""
    return settings.engine if settings.engine != "auto" else ("local" if mode == "embedded" else "databricks")


def check_mode(settings: Settings) -> str:
    """The resolved mode, or ``ConfigError`` for a combination that must not run.

    Production needs a Snowflake connection (no silent fall-back to the demo warehouse); the embedded stack
    never drives Databricks (its demo warehouse and local admin must not act on the real job).
    """
    mode = resolve_mode(settings)
    if mode == "production" and snowflake_connection(settings) is None:
        raise ConfigError("Production mode needs a Snowflake connection: the secrets have no "
                          "[connections.snowflake] with an account, and SNOWFLAKE_ACCOUNT is not set.",
                          "Add [connections.snowflake] to .streamlit/secrets.toml as in secrets.toml.example (or "
                          'set SNOWFLAKE_* in the environment); for the demo on 127.0.0.1 use mode = "embedded".')
    if mode == "embedded" and engine_kind(settings, mode) == "databricks":
        raise ConfigError('The embedded stack cannot drive Databricks: engine = "databricks" (console.toml '
                          "[workflow] engine or CONSOLE_ENGINE) with the embedded warehouse would rerun the real "
                          "job from demo data, with every visitor the local admin.",
                          'Use mode = "production" with [connections.snowflake] and [auth] in the secrets, or '
                          'engine = "auto"/"local" for the demo.')
    return mode


def build_adapters(settings: Settings, process: str = "cli") -> Adapters:
    """Build the whole adapter set: embedded or production, the local engine or Databricks.

    ``process`` (ui, worker or cli) names the front door in the warehouse's statement counts."""
    mode = check_mode(settings)
    spec = load_workflow(settings.workflow_spec)
    store = StateStore(settings.resolved_state_url)
    meter = Meter(process)
    if mode == "embedded":
        warehouse = Warehouse(lambda: embedded_warehouse.open_session(settings),
                              f"embedded warehouse ({settings.warehouse_host}:{settings.warehouse_port})",
                              meter=meter, store=store)
    else:
        conn = snowflake_connection(settings) or {}
        warehouse = Warehouse(lambda: snowflake.open_session(settings, conn),
                              f"Snowflake account {conn.get('account', '?')}", meter=meter, store=store)
    engine: Engine
    if engine_kind(settings, mode) == "databricks":
        engine = databricks.DatabricksEngine(store, spec, settings.databricks, connect_early=True)
    else:
        engine = LocalEngine(store, spec, warehouse, context_factory=partial(task_context, settings, spec),
                             max_parallel=settings.max_parallel_tasks)
    return Adapters(settings=settings, mode=mode, spec=spec, store=store, warehouse=warehouse, engine=engine)
