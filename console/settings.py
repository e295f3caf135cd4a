"""Typed settings from ``console.toml`` and secrets, validated at start-up.

A missing or malformed key raises one ``ConfigError`` that names the file, the key and the expected form.
This module only reads and validates; ``console.app.build_adapters`` turns settings into the adapter set.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from console.errors import ConfigError
from jobs import config as jobs_config
from jobs.tables import TableNames

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SETTINGS = ROOT / "console.toml"
DEFAULT_SECRETS = ROOT / ".streamlit" / "secrets.toml"
ROLES = ("viewer", "operator", "engineer", "admin")
# The data-quality checks that can hold a list from the upload (console/gate.py judges, per list).
GATE_CHECKS = ("suppression_leaks", "duplicate_accounts", "contact_fields", "loan_tape_freshness")
ETA_DEFAULTS = {"history_days": 60, "quantile": 0.9, "weekday_weight": 1.0, "fallback_minutes": 10}
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$")


@dataclass(frozen=True)
class Milestone:
    key: str
    name: str
    time: str  # HH:MM Eastern


@dataclass(frozen=True)
class ChecklistItem:
    key: str  # a slug of the text, stable while the words are
    group: str
    due: str  # HH:MM Eastern
    due_label: str  # "06:30", or "End of day"
    text: str  # the guide's words
    check: str  # the automatic check bound to it ("" = a person checks it)
    link: str = ""  # where a person looks (the Tableau dashboard)


def item_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class DatabricksSettings:
    """Where the production workflow runs. Credentials come from Databricks' unified auth, never from here."""

    host: str = ""  # empty: DATABRICKS_HOST or the profile's host
    profile: str = ""  # a ~/.databrickscfg profile; empty: env or DEFAULT
    job_name: str = ""  # empty: the spec's job name
    job_id: int = 0  # 0: find the job by name
    wheel: str = ""  # the console's wheel on the workspace, attached to every task by deploy-job
    read_budget_seconds: float = 2.0  # a page's read gives up after this (retries included)
    action_budget_seconds: float = 120.0  # an action's call retries for this long
    http_timeout_seconds: float = 30.0  # one HTTP request of an action
    sql_warehouse_id: str = ""  # the SQL warehouse that reads the system tables (cluster utilization); empty: off


@dataclass(frozen=True)
class Settings:
    source: Path
    mode: str
    timezone: str
    data_dir: Path
    ui_port: int
    metrics_port: int
    console_url: str
    warehouse_host: str
    warehouse_port: int
    query_tag: str
    statement_timeout_seconds: int
    state_url: str
    workflow_spec: Path
    max_parallel_tasks: int
    sftp_outbox: Path
    sftp_inbox: Path
    tables: TableNames
    milestones: tuple[Milestone, ...]
    schedules: dict[str, Any]
    thresholds: dict[str, float]
    default_role: str
    local_user: str
    local_role: str
    user_roles: dict[str, str]
    demo_seed: int
    demo_accounts: int
    demo_history_days: int
    checklist: tuple[ChecklistItem, ...] = ()
    alerts: dict[str, Any] = field(default_factory=dict)
    databricks: DatabricksSettings = field(default_factory=lambda: DatabricksSettings())
    cluster: dict[str, float] = field(default_factory=dict)  # [cluster]: the utilization checks' thresholds
    engine: str = "auto"  # auto | local | databricks (auto: databricks in production, local when embedded)
    day_rolls_at: str = "00:00"  # ET time at which the console moves on to the next business date
    eta: dict[str, float] = field(default_factory=lambda: dict(ETA_DEFAULTS))
    secrets: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # [checks]: volume anomalies, reconciliation tolerances, results-landing grace (console/quality.py).
    checks: dict[str, float] = field(default_factory=dict)
    # [gate] blocking_checks: the checks whose failure holds a list from the upload (console/gate.py).
    blocking_checks: tuple[str, ...] = GATE_CHECKS
    # [console] ui_address: where `python -m console serve`/`ui` binds Streamlit (the embedded stack: loopback only).
    ui_address: str = "127.0.0.1"
    # [warehouse] read_when_changed: re-read a table's facts only when its change marker moved (SHOW TABLES,
    # no running warehouse); false reads them on every refresh, as the console did before.
    read_when_changed: bool = True
    # [warehouse] auto_suspend_seconds: the warehouse's AUTO_SUSPEND, for the Audit page's awake-minutes estimate.
    auto_suspend_seconds: int = 60
    # [warehouse] reduce_describe_in_production: Snowpark's experimental reduce_describe_query_enabled on
    # Snowflake too (always on for the embedded warehouse).
    reduce_describe_in_production: bool = False

    def milestone(self, key: str) -> Milestone:
        for milestone in self.milestones:
            if milestone.key == key:
                return milestone
        raise ConfigError(f"{self.source}: no milestone with key '{key}' in [[milestones]].")

    @property
    def resolved_state_url(self) -> str:
        return self.state_url or f"sqlite:///{self.data_dir / 'state.db'}"

    def __repr__(self) -> str:
        """Where the settings came from and the mode; never the state URL (a PostgreSQL URL may hold a password)
        nor the secrets, so that a log line or a traceback that prints them shows neither."""
        return f"Settings(source={str(self.source)!r}, mode={self.mode!r}, engine={self.engine!r})"

    @property
    def warehouse_dir(self) -> Path:
        return self.data_dir / "warehouse"


class _Reader:
    """Reads typed keys from a parsed TOML document and reports the first problem precisely."""

    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.path = path
        self.doc = doc

    def fail(self, section: str, key: str, expected: str, got: Any = None) -> ConfigError:
        where = f"[{section}] {key}" if section else key
        found = "it is missing" if got is None else f"got {got!r}"
        return ConfigError(f"{self.path}: {where}: expected {expected}; {found}.")

    def section(self, name: str) -> dict[str, Any]:
        value = self.doc.get(name)
        if not isinstance(value, dict):
            raise self.fail("", f"[{name}]", "a table (section)", value)
        return value

    def get(self, section: str, key: str, kind: type, expected: str) -> Any:
        value = self.section(section).get(key)
        if kind is int and isinstance(value, bool):
            raise self.fail(section, key, expected, value)
        if not isinstance(value, kind):
            raise self.fail(section, key, expected, value)
        return value

    def boolean(self, section: str, key: str, default: bool) -> bool:
        """A TOML ``true``/``false``; a string such as ``"false"`` or ``"no"`` is refused (``bool()`` of it is
        True: ``digest = "false"`` sent the digest)."""
        value = self.section(section).get(key, default) if "." not in section else \
            self.section(section.split(".")[0]).get(section.split(".")[1], {}).get(key, default)
        if not isinstance(value, bool):
            raise self.fail(section, key, "true or false (no quotes)", value)
        return value

    def text(self, section: str, key: str, allowed: tuple[str, ...] | None = None) -> str:
        expected = f"one of {', '.join(allowed)}" if allowed else "a string"
        value = self.get(section, key, str, expected)
        if allowed and value not in allowed:
            raise self.fail(section, key, expected, value)
        return str(value)

    def integer(self, section: str, key: str, low: int, high: int) -> int:
        expected = f"an integer from {low} to {high}"
        value = self.get(section, key, int, expected)
        if not low <= value <= high:
            raise self.fail(section, key, expected, value)
        return int(value)

    def number(self, section: str, key: str, low: float, high: float) -> float:
        expected = f"a number from {low} to {high}"
        value = self.section(section).get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise self.fail(section, key, expected, value)
        return float(value)

    def hhmm(self, section: str, key: str) -> str:
        value = self.get(section, key, str, 'a time "HH:MM" (24-hour, Eastern)')
        if not _HHMM.match(value):
            raise self.fail(section, key, 'a time "HH:MM" (24-hour, Eastern)', value)
        return str(value)


def _path(root: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else root / path


def secrets_path() -> Path:
    """The secrets file: ``CONSOLE_SECRETS`` or ``.streamlit/secrets.toml`` (the UI hands Streamlit the same)."""
    return Path(os.environ.get("CONSOLE_SECRETS", DEFAULT_SECRETS))


def load_secrets(path: Path | None = None) -> dict[str, Any]:
    """Secrets from ``.streamlit/secrets.toml`` if it exists (never logged, never shown)."""
    path = path or secrets_path()
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}).") from None


def load_settings(path: Path | str | None = None, secrets: dict[str, Any] | None = None) -> Settings:
    """Load and validate settings. ``CONSOLE_SETTINGS`` overrides the default file."""
    path = Path(path or os.environ.get("CONSOLE_SETTINGS") or DEFAULT_SETTINGS).resolve()
    if not path.exists():
        raise ConfigError(f"{path}: settings file not found.", "Create it from the committed console.toml.")
    try:
        with path.open("rb") as handle:
            doc = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}).") from None
    r = _Reader(path, doc)
    root = path.parent

    timezone = r.text("console", "timezone")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.fail("console", "timezone", "an IANA time zone such as America/New_York", timezone) from None
    if timezone != "America/New_York":
        # The business calendar and the guide's timeline are Eastern; other zones are not supported yet.
        raise r.fail("console", "timezone", '"America/New_York" (the only zone supported)', timezone)

    tables_doc = r.section("tables")
    table_values = {}
    for name in TableNames.__dataclass_fields__:
        value = tables_doc.get(name)
        if not isinstance(value, str) or not _TABLE.match(value):
            raise r.fail("tables", name, "a fully qualified name DATABASE.SCHEMA.TABLE", value)
        table_values[name] = value.upper()

    raw_milestones = doc.get("milestones")
    if not isinstance(raw_milestones, list) or not raw_milestones:
        raise r.fail("", "[[milestones]]", "an array of tables with key, name and time", raw_milestones)
    milestones = []
    for index, item in enumerate(raw_milestones):
        sub = _Reader(path, {f"milestones[{index}]": item})
        section = f"milestones[{index}]"
        milestones.append(Milestone(sub.text(section, "key"), sub.text(section, "name"), sub.hhmm(section, "time")))
    keys = [m.key for m in milestones]
    for required in ("workflow_start", "workflow_target", "genesys_upload", "ready", "results_export"):
        if required not in keys:
            raise r.fail("", "[[milestones]]", f"a milestone with key = \"{required}\"", keys)

    schedules: dict[str, Any] = {
        "workflow": r.hhmm("schedules", "workflow"),
        "genesys_upload": r.hhmm("schedules", "genesys_upload"),
        "results_export": r.hhmm("schedules", "results_export"),
        "heartbeat_seconds": r.integer("schedules", "heartbeat_seconds", 1, 3600),
        "action_poll_seconds": r.integer("schedules", "action_poll_seconds", 1, 300),
        "misfire_grace_seconds": r.integer("schedules", "misfire_grace_seconds", 1, 86400),
        "watch_seconds": r.integer("schedules", "watch_seconds", 5, 600),
        "pre_upload": r.hhmm("schedules", "pre_upload"),
    }
    for key in ("workflow", "genesys_upload", "results_export", "pre_upload"):
        if schedules[key][:2] in ("01", "02"):
            raise r.fail("schedules", key, "a time outside 01:00-02:59 (DST makes those fire twice or never)",
                         schedules[key])

    users = r.section("roles").get("users", {})
    if not isinstance(users, dict) or any(v not in ROLES for v in users.values()):
        raise r.fail("roles", "users", f"a table of e-mail = role with roles among {', '.join(ROLES)}", users)

    data_dir = _path(root, os.environ.get("CONSOLE_DATA_DIR") or r.text("console", "data_dir"))
    port_env = os.environ.get("CONSOLE_WAREHOUSE_PORT")
    warehouse_port = int(port_env) if port_env else r.integer("warehouse", "port", 1024, 65535)
    spec = _path(root, r.text("workflow", "spec"))
    return Settings(
        source=path,
        mode=r.text("console", "mode", ("auto", "embedded", "production")),
        timezone=timezone,
        data_dir=data_dir,
        metrics_port=int(os.environ["CONSOLE_METRICS_PORT"]) if os.environ.get("CONSOLE_METRICS_PORT", "").isdigit()
        else r.integer("console", "metrics_port", 0, 65535),
        ui_port=int(os.environ["CONSOLE_UI_PORT"]) if os.environ.get("CONSOLE_UI_PORT")
        else r.integer("console", "ui_port", 1024, 65535),
        console_url=r.text("console", "console_url"),
        warehouse_host=r.text("warehouse", "host", ("127.0.0.1", "localhost")),
        warehouse_port=warehouse_port,
        query_tag=r.text("warehouse", "query_tag"),
        statement_timeout_seconds=r.integer("warehouse", "statement_timeout_seconds", 1, 86400),
        read_when_changed=r.boolean("warehouse", "read_when_changed", True),
        auto_suspend_seconds=r.integer("warehouse", "auto_suspend_seconds", 0, 86400)
        if "auto_suspend_seconds" in r.section("warehouse") else 60,
        reduce_describe_in_production=r.boolean("warehouse", "reduce_describe_in_production", False),
        state_url=os.environ.get("CONSOLE_STATE_URL") or r.text("state", "url"),
        workflow_spec=spec,
        max_parallel_tasks=r.integer("workflow", "max_parallel_tasks", 1, 32),
        sftp_outbox=_rebase(root, r.text("workflow", "sftp_outbox"), data_dir),
        sftp_inbox=_rebase(root, r.text("workflow", "sftp_inbox"), data_dir),
        tables=TableNames(**table_values),
        milestones=tuple(milestones),
        schedules=schedules,
        thresholds={
            "heartbeat_stale_seconds": r.number("thresholds", "heartbeat_stale_seconds", 5, 86400),
            "import_reject_tolerance": r.number("thresholds", "import_reject_tolerance", 0, 1),
        },
        default_role=r.text("roles", "default_role", ROLES),
        local_user=r.text("roles", "local_user"),
        local_role=r.text("roles", "local_role", ROLES),
        user_roles={str(k).lower(): str(v) for k, v in users.items()},
        demo_seed=r.integer("demo", "seed", 0, 2**31 - 1),
        demo_accounts=r.integer("demo", "accounts", 1000, 5_000_000),
        demo_history_days=r.integer("demo", "history_days", 5, 400),
        checklist=_checklist(path, doc),
        alerts=_alerts(r),
        day_rolls_at=r.hhmm("console", "day_rolls_at"),
        eta={
            "history_days": r.integer("eta", "history_days", 5, 400),
            "quantile": r.number("eta", "quantile", 0.5, 0.99),
            "weekday_weight": r.number("eta", "weekday_weight", 1, 20),
            "fallback_minutes": r.number("eta", "fallback_minutes", 1, 600),
        },
        databricks=_databricks(r),
        cluster=_cluster(r),
        engine=_engine(r),
        secrets=secrets if secrets is not None else load_secrets(),
        checks=_checks(r),
        blocking_checks=_blocking_checks(r),
        ui_address=os.environ.get("CONSOLE_UI_ADDRESS")
        or (r.text("console", "ui_address") if "ui_address" in r.section("console") else "127.0.0.1"),
    )


def _blocking_checks(r: _Reader) -> tuple[str, ...]:
    """``[gate] blocking_checks``: a list among ``GATE_CHECKS`` (empty: no list is ever held)."""
    value = r.section("gate").get("blocking_checks")
    if not isinstance(value, list) or any(v not in GATE_CHECKS for v in value):
        raise r.fail("gate", "blocking_checks", f"a list among {', '.join(GATE_CHECKS)}", value)
    return tuple(value)


# one address: something@domain.tld, no spaces or commas (a list written as one string is refused)
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
ALERT_RULES = ("task_failed", "workflow_target", "upload_missing", "export_missing", "worker_down",
               "reconciliation_mismatch", "volume_anomaly", "quality_check", "cluster_usage", "console_error")


def _alerts(r: _Reader) -> dict[str, Any]:
    """``[alerts]``: which rules run, their thresholds, who hears of them and through what."""
    section = r.section("alerts")
    out: dict[str, Any] = {
        "evaluate_minutes": r.integer("alerts", "evaluate_minutes", 1, 60),
        "export_grace_minutes": r.integer("alerts", "export_grace_minutes", 0, 600),
        "upload_due": r.hhmm("alerts", "upload_due"),
        "digest": r.boolean("alerts", "digest", True),
        "digest_time": r.hhmm("alerts", "digest_time"),
    }
    disabled = section.get("disabled_rules", [])
    if not isinstance(disabled, list) or any(d not in ALERT_RULES for d in disabled):
        raise r.fail("alerts", "disabled_rules", f"a list among {', '.join(ALERT_RULES)}", disabled)
    out["disabled_rules"] = tuple(disabled)
    recipients = section.get("recipients", [])
    if not isinstance(recipients, list) or not all(isinstance(x, str) and _EMAIL.match(x) for x in recipients):
        raise r.fail("alerts", "recipients", "a list of e-mail addresses", recipients)
    out["recipients"] = tuple(recipients)
    per_rule = section.get("rule_recipients", {})
    if not isinstance(per_rule, dict) or any(k not in ALERT_RULES or not isinstance(v, list)
                                               for k, v in per_rule.items()):
        raise r.fail("alerts", "rule_recipients", "a table of rule = [e-mail, …]", per_rule)
    for rule, addresses in per_rule.items():
        if not all(isinstance(x, str) and _EMAIL.match(x) for x in addresses):
            raise r.fail("alerts.rule_recipients", rule, "a list of e-mail addresses", addresses)
    out["rule_recipients"] = {k: tuple(v) for k, v in per_rule.items()}
    smtp = section.get("smtp", {})
    if not isinstance(smtp, dict):
        raise r.fail("alerts", "smtp", "a table", smtp)
    security = smtp.get("security", "starttls")
    if security not in ("starttls", "ssl", "none"):
        raise r.fail("alerts.smtp", "security", '"starttls", "ssl" or "none"', security)
    port = smtp.get("port", 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise r.fail("alerts.smtp", "port", "a port number", port)
    out["smtp"] = {"host": str(smtp.get("host", "")), "port": port, "security": security,
                   "sender": str(smtp.get("sender", "outbound-ops-console@localhost")),
                   "username": str(smtp.get("username", ""))}
    slack = section.get("slack", {})
    if not isinstance(slack, dict):
        raise r.fail("alerts", "slack", "a table", slack)
    out["slack"] = {"enabled": r.boolean("alerts.slack", "enabled", False)}
    return out


# The automatic checks a checklist item can be bound to; console.checklist.CHECKS implements exactly these.
CHECKLIST_CHECKS = ("workflow_succeeded", "no_task_failures", "list_counts", "genesys_upload", "campaign_activation",
                    "results_export", "volume_matching", "open_alerts")


def _checklist(path: Path, doc: dict[str, Any]) -> tuple[ChecklistItem, ...]:
    """``[[checklist]]`` groups; an unknown automatic check or a duplicate item fails here, at start-up."""
    groups = doc.get("checklist")
    if not isinstance(groups, list) or not groups:
        raise _Reader(path, doc).fail("", "[[checklist]]", "an array of tables with group, due and items", groups)
    out: list[ChecklistItem] = []
    for index, group in enumerate(groups):
        section = f"checklist[{index}]"
        sub = _Reader(path, {section: group})
        name, due = sub.text(section, "group"), sub.hhmm(section, "due")
        label = str(group.get("due_label") or due)
        items = group.get("items")
        if not isinstance(items, list) or not items:
            raise sub.fail(section, "items", "an array of { item = \"…\", check = \"…\" }", items)
        for number, item in enumerate(items):
            where = f"{section}.items[{number}]"
            if not isinstance(item, dict) or not isinstance(item.get("item"), str) or not item["item"].strip():
                raise sub.fail(where, "item", "the item's text", item)
            check = str(item.get("check", ""))
            if check and check not in CHECKLIST_CHECKS:
                raise sub.fail(where, "check",
                               f"one of {', '.join(sorted(CHECKLIST_CHECKS))} or \"\" (checked by a person)", check)
            entry = ChecklistItem(item_key(item["item"]), name, due, label, item["item"].strip(), check,
                                  str(item.get("link", "")))
            if any(e.key == entry.key for e in out):
                raise sub.fail(where, "item", "an item that appears once", item["item"])
            out.append(entry)
    return tuple(out)


ENGINES = ("auto", "local", "databricks")


def _engine(r: _Reader) -> str:
    """``[workflow] engine`` (optional, default auto), or ``CONSOLE_ENGINE``."""
    value = os.environ.get("CONSOLE_ENGINE")
    if value is None:
        return r.text("workflow", "engine", ENGINES) if "engine" in r.section("workflow") else "auto"
    if value not in ENGINES:
        raise ConfigError(f"CONSOLE_ENGINE: expected one of {', '.join(ENGINES)}; got {value!r}.")
    return value


def _databricks(r: _Reader) -> DatabricksSettings:
    """``[databricks]``: every key optional (the embedded stack needs none), each validated when present."""
    section = r.doc.get("databricks", {})
    if not isinstance(section, dict):
        raise r.fail("", "[databricks]", "a table (section)", section)
    d = DatabricksSettings()

    def text(key: str, default: str) -> str:
        return r.text("databricks", key) if key in section else default

    def number(key: str, low: float, high: float, default: float) -> float:
        return r.number("databricks", key, low, high) if key in section else default

    host = os.environ.get("CONSOLE_DATABRICKS_HOST") or text("host", d.host)
    if host and not re.match(r"^https?://[^\s/]+", host):
        raise r.fail("databricks", "host", "a URL such as https://dbc-1234.cloud.databricks.com", host)
    return DatabricksSettings(
        host=host,
        profile=text("profile", d.profile),
        job_name=text("job_name", d.job_name),
        job_id=r.integer("databricks", "job_id", 0, 2**63 - 1) if "job_id" in section else d.job_id,
        wheel=text("wheel", d.wheel),
        read_budget_seconds=number("read_budget_seconds", 0.5, 30, d.read_budget_seconds),
        action_budget_seconds=number("action_budget_seconds", 1, 3600, d.action_budget_seconds),
        http_timeout_seconds=number("http_timeout_seconds", 0.5, 600, d.http_timeout_seconds),
        sql_warehouse_id=text("sql_warehouse_id", d.sql_warehouse_id),
    )

def _cluster(r: _Reader) -> dict[str, float]:
    """``[cluster]``: the job cluster's utilization checks (console/utilization.py) and the history they compare."""
    return {
        "memory_percent": r.number("cluster", "memory_percent", 50, 100),
        "memory_minutes": r.integer("cluster", "memory_minutes", 1, 240),
        "pinned_share": r.number("cluster", "pinned_share", 0.1, 1),
        "setup_factor": r.number("cluster", "setup_factor", 1, 100),
        "cost_factor": r.number("cluster", "cost_factor", 1, 100),
        "history_runs": r.integer("cluster", "history_runs", 3, 200),
        "trend_days": r.integer("cluster", "trend_days", 5, 400),
    }


def _checks(r: _Reader) -> dict[str, float]:
    """``[checks]``: anomaly method (median ± k·MAD over same weekdays), tolerances per reconciliation stage."""
    return {
        "anomaly_k": r.number("checks", "anomaly_k", 1, 20),
        "anomaly_min_history": r.integer("checks", "anomaly_min_history", 2, 52),
        "anomaly_window_weeks": r.integer("checks", "anomaly_window_weeks", 2, 104),
        "anomaly_min_band": r.number("checks", "anomaly_min_band", 0, 1),
        "upload_tolerance": r.number("checks", "upload_tolerance", 0, 1),
        "export_tolerance": r.number("checks", "export_tolerance", 0, 1),
        "results_grace_minutes": r.integer("checks", "results_grace_minutes", 0, 600),
        "tape_drop_tolerance": r.number("checks", "tape_drop_tolerance", 0, 1),
    }


def _rebase(root: Path, value: str, data_dir: Path) -> Path:
    """Paths under the default ``.data`` follow ``data_dir`` when it is moved (tests, CONSOLE_DATA_DIR)."""
    if value.startswith(".data/"):
        return data_dir / value.removeprefix(".data/")
    return _path(root, value)


def snowflake_connection(settings: Settings) -> dict[str, Any] | None:
    """The production Snowflake connection from secrets ``[connections.snowflake]`` or ``SNOWFLAKE_*`` env (the
    wheel's tasks read it the same way: ``jobs.config.snowflake_connection``)."""
    return jobs_config.snowflake_connection(settings.secrets)


def resolve_mode(settings: Settings) -> str:
    """``embedded`` or ``production``; ``auto`` is production exactly when Snowflake is configured.

    Servers set ``production``: an ``auto`` that falls back to the embedded stack is served on loopback only
    (``console.auth.check_ui``), and ``console.app.check_mode`` refuses what the embedded stack cannot be.
    """
    if settings.mode != "auto":
        return settings.mode
    return "production" if snowflake_connection(settings) else "embedded"


SECRET_WORDS = ("password", "passcode", "passwd", "pwd", "token", "secret", "private_key", "passphrase",
                "webhook", "credential", "api_key", "apikey")
# user:password@ inside any URL-like value (a PostgreSQL URL under a key named "url" carried its password).
_URL_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*):[^@/\s]*@")


def redacted(value: Any) -> Any:
    """A copy of a settings/secrets mapping with every secret-looking value replaced: keys that name a secret,
    and the password of any URL whatever its key."""
    if isinstance(value, dict):
        return {k: ("***" if any(w in str(k).lower() for w in SECRET_WORDS) else redacted(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(v) for v in value]
    if isinstance(value, str):
        return _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}:***@", value)
    return value
