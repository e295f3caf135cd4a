"""jobs.config: the wheel's tasks read their part of console.toml without the console, and see what it sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.settings import DEFAULT_SETTINGS, load_settings, resolve_mode, snowflake_connection
from jobs.config import JobConfigError, load_config

TEXT = DEFAULT_SETTINGS.read_text()
SNOWFLAKE = {"connections": {"snowflake": {"account": "xy123", "user": "svc", "password": "hunter2"}}}


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("CONSOLE_SETTINGS", "CONSOLE_DATA_DIR", "CONSOLE_WAREHOUSE_PORT", "SNOWFLAKE_ACCOUNT",
                 "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD", "SNOWFLAKE_HOST", "SNOWFLAKE_PORT", "SNOWFLAKE_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONSOLE_SECRETS", str(tmp_path / "no-secrets.toml"))


@pytest.mark.parametrize(("env", "secrets"), [
    ({}, {}),
    ({"CONSOLE_DATA_DIR": "/tmp/elsewhere", "CONSOLE_WAREHOUSE_PORT": "40001"}, {}),
    ({}, SNOWFLAKE),
    ({"SNOWFLAKE_ACCOUNT": "ab456", "SNOWFLAKE_USER": "svc", "SNOWFLAKE_PASSWORD": "hunter2"}, {}),
])
def test_the_job_config_agrees_with_the_console_settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                         secrets: dict) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(secrets=secrets)
    config = load_config(secrets=secrets)
    assert config.source == settings.source
    assert config.tables == settings.tables
    assert (config.data_dir, config.sftp_outbox, config.sftp_inbox) == (
        settings.data_dir, settings.sftp_outbox, settings.sftp_inbox)
    assert (config.warehouse_host, config.warehouse_port, config.query_tag, config.statement_timeout_seconds) == (
        settings.warehouse_host, settings.warehouse_port, settings.query_tag, settings.statement_timeout_seconds)
    assert config.resolved_mode == resolve_mode(settings)
    assert config.snowflake == snowflake_connection(settings)
    assert "hunter2" not in repr(config)


def test_a_secret_scope_can_name_the_snowflake_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """A task on the cluster reaches Snowflake through SNOWFLAKE_* from the secret scope; a private endpoint (or
    the rehearsal's warehouse) needs host, port and protocol, which were dropped, so the task dialled
    <account>.snowflakecomputing.com instead."""
    for name, value in {"SNOWFLAKE_ACCOUNT": "ab456", "SNOWFLAKE_USER": "svc", "SNOWFLAKE_HOST": "127.0.0.1",
                        "SNOWFLAKE_PORT": "47321", "SNOWFLAKE_PROTOCOL": "http"}.items():
        monkeypatch.setenv(name, value)
    assert load_config(secrets={}).snowflake == {"account": "ab456", "user": "svc", "host": "127.0.0.1",
                                                 "port": 47321, "protocol": "http"}
    monkeypatch.setenv("SNOWFLAKE_PORT", "4x")
    with pytest.raises(JobConfigError, match="SNOWFLAKE_PORT: expected a port number; got '4x'"):
        load_config(secrets={})


def test_the_settings_file_and_the_secrets_file_come_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    path = tmp_path / "console.toml"
    path.write_text(TEXT.replace('sftp_outbox = ".data/sftp/outbound"', 'sftp_outbox = "/srv/sftp/out"'))
    (tmp_path / "secrets.toml").write_text('[connections.snowflake]\naccount = "xy123"\nuser = "svc"\n')
    monkeypatch.setenv("CONSOLE_SETTINGS", str(path))
    monkeypatch.setenv("CONSOLE_SECRETS", str(tmp_path / "secrets.toml"))
    config = load_config()
    assert config.source == path and config.sftp_outbox == Path("/srv/sftp/out")
    assert config.sftp_inbox == tmp_path / ".data" / "sftp" / "inbound"
    assert config.resolved_mode == "production" and config.snowflake == {"account": "xy123", "user": "svc"}


@pytest.mark.parametrize(("old", "new", "words"), [
    ("port = 47321", 'port = "abc"', "[warehouse] port: expected an integer from 1024 to 65535; got 'abc'"),
    ('mode = "auto"', 'mode = "cloud"', "[console] mode: expected one of auto, embedded, production"),
    ('outbound_lists = "ANALYTICS.CRON_STORE.RPT_OUTBOUND_LISTS"', 'outbound_lists = "RPT_OUTBOUND_LISTS"',
     "[tables] outbound_lists: expected a fully qualified name DATABASE.SCHEMA.TABLE; got 'RPT_OUTBOUND_LISTS'"),
    ('sftp_inbox = ".data/sftp/inbound"', "", "[workflow] sftp_inbox: expected a string; it is missing"),
    ("[warehouse]", "[warehouse_renamed]", "[warehouse]: expected a table (section)"),
])
def test_a_malformed_key_names_file_key_and_form(tmp_path: Path, old: str, new: str, words: str) -> None:
    assert old in TEXT
    path = tmp_path / "console.toml"
    path.write_text(TEXT.replace(old, new, 1))
    with pytest.raises(JobConfigError) as info:
        load_config(path, secrets={})
    assert str(path) in str(info.value)
    assert words in str(info.value)


def test_a_missing_or_unreadable_file_and_a_bad_port_override(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    with pytest.raises(JobConfigError, match="settings file not found"):
        load_config(tmp_path / "absent.toml", secrets={})
    (tmp_path / "console.toml").write_text("this is = = not toml")
    with pytest.raises(JobConfigError, match="not valid TOML"):
        load_config(tmp_path / "console.toml", secrets={})
    (tmp_path / "secrets.toml").write_text("password = = hunter2")
    monkeypatch.setenv("CONSOLE_SECRETS", str(tmp_path / "secrets.toml"))
    with pytest.raises(JobConfigError, match=r"secrets\.toml: not valid TOML"):
        load_config(DEFAULT_SETTINGS)
    monkeypatch.setenv("CONSOLE_WAREHOUSE_PORT", "forty")
    with pytest.raises(JobConfigError, match="CONSOLE_WAREHOUSE_PORT: expected a port number; got 'forty'"):
        load_config(DEFAULT_SETTINGS, secrets={})


def test_production_snowflake_sessions_bound_login_network_and_statement_time() -> None:
    from jobs.session import snowflake_parameters

    params = snowflake_parameters({"account": "acme", "user": "u"}, "outbound-ops-console", 600)
    assert params["login_timeout"] == 30
    assert params["network_timeout"] == 630
    assert params["session_parameters"]["STATEMENT_TIMEOUT_IN_SECONDS"] == 600
    assert params["session_parameters"]["QUERY_TAG"] == "outbound-ops-console"
    # what the connection sets itself wins
    mine = snowflake_parameters({"account": "acme", "login_timeout": 5, "network_timeout": 9}, "t", 60)
    assert (mine["login_timeout"], mine["network_timeout"]) == (5, 9)
