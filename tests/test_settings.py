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
