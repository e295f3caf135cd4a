"""Settings: the committed file validates, and every broken key gets one message naming file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from console.errors import ConfigError
from console.settings import DEFAULT_SETTINGS, load_settings, redacted, resolve_mode

TEXT = DEFAULT_SETTINGS.read_text()


def test_committed_settings_validate() -> None:
    settings = load_settings(DEFAULT_SETTINGS, secrets={})
    assert settings.timezone == "America/New_York"
    assert [m.key for m in settings.milestones] == ["workflow_start", "workflow_target", "genesys_upload", "ready",
                                                    "results_export"]
    assert settings.tables.outbound_lists.endswith("CRON_STORE.RPT_OUTBOUND_LISTS")
    assert resolve_mode(settings) == "embedded"


@pytest.mark.parametrize(("old", "new", "words"), [
    ("port = 47321", 'port = "abc"', "[warehouse] port: expected an integer from 1024 to 65535; got 'abc'"),
    ('workflow = "06:00"', 'workflow = "6am"', '[schedules] workflow: expected a time "HH:MM"'),
    ('workflow = "06:00"', 'workflow = "02:30"', "outside 01:00-02:59"),
    ('mode = "auto"', 'mode = "cloud"', "[console] mode: expected one of auto, embedded, production"),
    ('outbound_lists = "ANALYTICS.CRON_STORE.RPT_OUTBOUND_LISTS"', 'outbound_lists = "RPT_OUTBOUND_LISTS"',
     "[tables] outbound_lists: expected a fully qualified name"),
    ("accounts = 200000", "accounts = 99", "[demo] accounts: expected an integer from 1000 to 5000000"),
    ('timezone = "America/New_York"', 'timezone = "Mars/Olympus"', "[console] timezone"),
    # issue 14: bool("false") is True, so a quoted false turned the digest on; recipients need an address
    ("digest = true", 'digest = "false"', "[alerts] digest: expected true or false (no quotes); got 'false'"),
    ("enabled = false", 'enabled = "no"', "[alerts.slack] enabled: expected true or false (no quotes); got 'no'"),
    ('recipients = ["hshi@happymoney.com"]', 'recipients = ["hshi"]', "[alerts] recipients: expected a list of e-mail"),
    ('recipients = ["hshi@happymoney.com"]', 'recipients = ["a@x.com, b@x.com"]', "[alerts] recipients"),
    ("[alerts.rule_recipients]", '[alerts.rule_recipients]\nexport_missing = ["divya"]',
     "[alerts.rule_recipients] export_missing: expected a list of e-mail addresses"),
])
def test_a_malformed_key_names_file_key_and_form(tmp_path: Path, old: str, new: str, words: str) -> None:
    assert old in TEXT
    path = tmp_path / "console.toml"
    path.write_text(TEXT.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_settings(path, secrets={})
    assert str(path) in str(info.value)
    assert words in str(info.value)


def test_a_missing_key_and_a_missing_section(tmp_path: Path) -> None:
    path = tmp_path / "console.toml"
    path.write_text(re.sub(r"(?m)^heartbeat_seconds = .*$", "", TEXT))
    with pytest.raises(ConfigError, match=r"\[schedules\] heartbeat_seconds: .* it is missing"):
        load_settings(path, secrets={})
    path.write_text(TEXT.replace("[demo]", "[demo_renamed]"))
    with pytest.raises(ConfigError, match=r"\[demo\]"):
        load_settings(path, secrets={})
    path.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, secrets={})


def test_a_snowflake_connection_means_production_and_secrets_are_redacted() -> None:
    secrets = {"connections": {"snowflake": {"account": "xy123", "user": "svc", "password": "hunter2",
                                             "private_key_file": "/k.p8"}}}
    settings = load_settings(DEFAULT_SETTINGS, secrets=secrets)
    assert resolve_mode(settings) == "production"
    shown = redacted(secrets)
    assert "hunter2" not in str(shown) and shown["connections"]["snowflake"]["account"] == "xy123"
    assert "hunter2" not in repr(settings)


def test_redaction_hides_url_passwords_and_passcodes_whatever_the_key(tmp_path: Path) -> None:
    """Redaction by key name let a PostgreSQL URL's password (under "url") and a "passcode" through; repr of the
    settings carried the state URL (issue 14)."""
    from console.settings import redacted

    secrets = {"state": {"url": "postgresql+psycopg://console:hunter2@db.internal/console"},
               "connections": {"snowflake": {"account": "xy", "passcode": "123456", "user": "svc"}},
               "alerts": {"hooks": ["https://bot:tok3n@chat.example/x", "plain text"]}}
    shown = str(redacted(secrets))
    for secret in ("hunter2", "123456", "tok3n"):
        assert secret not in shown, secret
    assert "postgresql+psycopg://console:***@db.internal/console" in shown and "'user': 'svc'" in shown
    path = tmp_path / "console.toml"
    path.write_text(TEXT.replace('url = ""', 'url = "postgresql+psycopg://console:hunter2@db/console"', 1))
    settings = load_settings(path, secrets={"connections": {"snowflake": {"account": "a", "password": "pw1"}}})
    assert "hunter2" not in repr(settings) and "pw1" not in repr(settings) and str(path) in repr(settings)
