"""Production is explicit: which stack may serve whom, and who a visitor is (console/auth.py, the frame, the CLI).

The pages run in AppTest against settings and secrets files written here. No warehouse runs: every refusal
happens before the first read, and the sign-in page reads nothing. The sign-in itself, through a real OIDC
provider in Chromium, is tests/test_signin_browser.py.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from console.app import build_adapters, check_mode
from console.auth import behind_proxy, check_ui, is_loopback, signed_in_user
from console.errors import ConfigError
from console.settings import DEFAULT_SETTINGS, load_settings
from console.ui import views
from rehearsal.stack import stop_group
from tests.conftest import free_port
from tests.prodkit import AUTH, ENGINEER, VIEWER, snowflake_section, write_secrets, write_settings

ROOT = Path(__file__).resolve().parent.parent


def secrets_file(folder: Path, secrets: dict[str, Any]) -> dict[str, Any]:
    """Write ``secrets`` where the console reads them (CONSOLE_SECRETS) and return them for ``AppTest.secrets``."""
    write_secrets(folder / "secrets.toml", secrets)
    return secrets


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data dir, a settings file (production, one engineer) and no secrets yet; caches cleared around."""
    monkeypatch.setenv("CONSOLE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONSOLE_WAREHOUSE_PORT", str(free_port()))
    monkeypatch.setenv("CONSOLE_SETTINGS", str(write_settings(tmp_path / "console.toml")))
    monkeypatch.setenv("CONSOLE_SECRETS", str(tmp_path / "secrets.toml"))
    for key in ("CONSOLE_ENGINE", "CONSOLE_STATE_URL", "CONSOLE_UI_ADDRESS", "SNOWFLAKE_ACCOUNT"):
        monkeypatch.delenv(key, raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield tmp_path
    st.cache_data.clear()
    st.cache_resource.clear()


def page(name: str, secrets: dict[str, dict[str, Any]], user: dict[str, Any] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / name), default_timeout=30)
    for key, value in secrets.items():
        at.secrets[key] = value
    if user is not None:
        at.user = user
    at.run()
    assert not at.exception, at.exception
    return at


def everything(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "success", "warning", "error", "title")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts) + "\n" + "\n".join(f"{m.label} {m.value}" for m in at.metric)


@pytest.fixture
def listening_on() -> Iterator[Any]:
    """Set Streamlit's server.address for the pages run in this process (restored afterwards)."""
    before = st_config.get_option("server.address")

    def set_address(address: str) -> None:
        st_config.set_option("server.address", address)

    yield set_address
    st_config.set_option("server.address", before)


# ------------------------------------------------------------------------------------------------ embedded
def test_the_embedded_stack_on_a_public_address_gives_nobody_the_local_admin(files: Path, listening_on: Any,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # `mode = "auto"` on a host without Snowflake credentials is the embedded stack: served on 0.0.0.0, every
    # visitor was local-admin. Now every page stops with one message that says what to do.
    monkeypatch.setenv("CONSOLE_SETTINGS", str(write_settings(files / "auto.toml", mode="auto")))
    listening_on("0.0.0.0")
    for name in ("Home.py", "pages/2_Workflow.py"):
        at = page(name, {})
        text = everything(at)
        assert "local-admin" not in " ".join(str(m.value) for m in at.sidebar.markdown)
        assert len(at.error) == 1 and "only serves on 127.0.0.1; this UI listens on 0.0.0.0" in at.error[0].value
        assert 'mode = "production"' in at.info[0].value
        assert views.DEMO_BANNER not in text and not at.metric and not at.button


def test_the_embedded_stack_on_loopback_keeps_its_local_user(files: Path, listening_on: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSOLE_SETTINGS", str(write_settings(files / "auto.toml", mode="auto")))
    listening_on("127.0.0.1")
    at = page("pages/7_Audit.py", {})
    assert "Signed in as **local-admin** (admin, the embedded stack's user)" in " ".join(
        str(m.value) for m in at.sidebar.markdown)


def test_the_local_user_is_only_for_a_browser_on_this_machine() -> None:
    settings = load_settings(DEFAULT_SETTINGS, secrets={})
    local = signed_in_user(settings, "embedded", {}, address="127.0.0.1", headers={"Host": "127.0.0.1:8501"})
    assert local is not None and (local.name, local.role) == ("local-admin", "admin")
    for address, headers in [("0.0.0.0", {}), ("", {}), ("10.1.2.3", {}),
                             ("127.0.0.1", {"Host": "127.0.0.1:8501", "X-Forwarded-For": "203.0.113.9"}),
                             ("127.0.0.1", {"Host": "console.corp.example"})]:
        assert signed_in_user(settings, "embedded", {}, address=address, headers=headers) is None, (address, headers)
    assert signed_in_user(settings, "production", {}, address="127.0.0.1") is None
    assert [is_loopback(a) for a in ("127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0", "", "192.168.1.2")] == [
        True, True, True, True, False, False, False]
    assert not behind_proxy({"Host": "[::1]:8501"}) and behind_proxy({"Forwarded": "for=203.0.113.9"})


def test_the_embedded_stack_never_drives_databricks(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSOLE_ENGINE", "databricks")
    monkeypatch.setenv("CONSOLE_DATABRICKS_HOST", "http://127.0.0.1:9")
    settings = load_settings(write_settings(files / "auto.toml", mode="auto"), secrets={})
    with pytest.raises(ConfigError, match="The embedded stack cannot drive Databricks") as caught:
        build_adapters(settings)
    assert 'engine = "auto"/"local"' in caught.value.hint
    production = dataclasses.replace(settings, secrets={"connections": {"snowflake": snowflake_section(9)}})
    assert check_mode(production) == "production"  # the same engine with the production warehouse is fine


# ------------------------------------------------------------------------------------------------ production
def test_production_without_snowflake_stops_every_page_with_one_message(files: Path) -> None:
    # Before: production without a connection built a warehouse for account "?" and showed the sign-in page.
    secrets = secrets_file(files, {"auth": AUTH})
    for name in ("Home.py", "pages/3_Checklist.py"):
        at = page(name, secrets)
        assert len(at.error) == 1 and "Production mode needs a Snowflake connection" in at.error[0].value
        assert "[connections.snowflake]" in at.info[0].value and not at.button and not at.metric
        assert "Traceback" not in everything(at)


@pytest.mark.parametrize("auth, missing", [
    (None, "the secrets have no [auth] section"),
    ({k: v for k, v in AUTH.items() if k != "cookie_secret"}, "[auth] in the secrets lacks cookie_secret")])
def test_production_without_sign_in_configured_names_what_is_missing(files: Path, auth: dict[str, Any] | None,
                                                                     missing: str) -> None:
    secrets = {"connections": {"snowflake": snowflake_section(free_port())}, **({"auth": auth} if auth else {})}
    at = page("Home.py", secrets_file(files, secrets))
    assert len(at.error) == 1 and f"Production mode needs sign-in, and {missing}." == at.error[0].value
    assert "secrets.toml.example" in at.info[0].value and not at.button


def test_production_without_authlib_says_to_install_it(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The defect behind "nobody can sign in": a Log in button that raises because Authlib is missing.
    secrets = secrets_file(files, {"connections": {"snowflake": snowflake_section(free_port())}, "auth": AUTH})
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "authlib" else real(name, *a))
    at = page("Home.py", secrets)
    assert len(at.error) == 1 and "st.login needs Authlib" in at.error[0].value
    assert "requirements.txt" in at.info[0].value and not at.button


def test_authlib_is_installed_for_st_login() -> None:
    assert importlib.util.find_spec("authlib") is not None, "pip install -r requirements.txt (streamlit[auth])"


def test_an_anonymous_visitor_in_production_sees_the_sign_in_page_and_nothing_else(files: Path) -> None:
    secrets = secrets_file(files, {"connections": {"snowflake": snowflake_section(free_port())}, "auth": AUTH})
    for name in ("Home.py", "pages/2_Workflow.py", "pages/7_Audit.py"):
        at = page(name, secrets)
        assert [b.label for b in at.button] == ["Log in"], name
        text = everything(at)
        assert "Log in to use the console" in text and "Production." not in text and "fakesnow" not in text
        assert not at.metric and not at.dataframe and not at.sidebar.markdown and not at.error


def test_a_signed_in_user_sees_their_name_role_and_log_out(files: Path) -> None:
    secrets = secrets_file(files, {"connections": {"snowflake": snowflake_section(free_port())}, "auth": AUTH})
    at = page("pages/7_Audit.py", secrets, {"is_logged_in": True, "email": ENGINEER, "email_verified": True,
                                            "name": "Eve *Engineer*"})
    side = [str(m.value) for m in at.sidebar.markdown]
    assert "**Eve \\*Engineer\\***" in side and f"Signed in as **{ENGINEER}** (engineer)" in side
    assert [b.label for b in at.sidebar.button] == ["Log out"]
    assert "Production." in everything(at)


def test_roles_come_from_the_verified_e_mail_only() -> None:
    settings = dataclasses.replace(load_settings(DEFAULT_SETTINGS, secrets={}),
                                   user_roles={ENGINEER: "engineer", "@corp.example": "operator"})

    def role(identity: dict[str, Any]) -> str | None:
        who = signed_in_user(settings, "production", {"is_logged_in": True, **identity}, address="0.0.0.0")
        return who.role if who else None

    assert role({"email": ENGINEER, "email_verified": True}) == "engineer"
    assert role({"email": ENGINEER}) == "engineer"  # providers that send no email_verified (Entra ID) are trusted
    assert role({"email": "Ops@Corp.Example"}) == "operator"
    assert role({"email": ENGINEER, "email_verified": False}) == "viewer"  # an unverified address: a viewer
    assert role({"email": "local-admin"}) == "viewer"  # the embedded user's name is no e-mail with a role
    assert role({"email": VIEWER}) == "viewer"
    assert role({}) is None  # signed in without an e-mail: no role (the frame says why)


def test_check_ui_refuses_the_combinations_that_must_not_serve() -> None:
    settings = load_settings(DEFAULT_SETTINGS, secrets={})
    check_ui(settings, "embedded", "127.0.0.1", None)
    check_ui(settings, "production", "0.0.0.0", AUTH)
    with pytest.raises(ConfigError, match="listens on every interface"):
        check_ui(settings, "embedded", "", None)
    with pytest.raises(ConfigError, match="lacks client_id, client_secret"):
        check_ui(settings, "production", "127.0.0.1", {"redirect_uri": "x", "cookie_secret": "y",
                                                        "server_metadata_url": "z"})


# ------------------------------------------------------------------------------------------------ CLI
def console_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in its own process group; whatever it started is stopped however the call ends."""
    process = subprocess.Popen([sys.executable, "-m", "console", *args], cwd=ROOT, env={**os.environ, **env},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=60)
    finally:  # a process it started (a regression) goes too: `serve` stops its children on SIGTERM
        stop_group(process, grace=30)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_ui_and_serve_refuse_to_start_before_any_process_starts(files: Path) -> None:
    env = {"CONSOLE_UI_PORT": str(free_port()), "CONSOLE_SETTINGS": str(write_settings(files / "auto.toml", "auto"))}
    for command in ("ui", "serve"):
        refused = console_cli({**env, "CONSOLE_UI_ADDRESS": "0.0.0.0"}, command)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "error: The embedded stack makes every visitor its local user" in refused.stderr
        assert "starting" not in refused.stdout and "Traceback" not in refused.stderr
    secrets_file(files, {"connections": {"snowflake": snowflake_section(free_port())}})
    refused = console_cli({"CONSOLE_UI_PORT": env["CONSOLE_UI_PORT"]}, "ui")  # the production settings
    assert refused.returncode == 2 and "the secrets have no [auth] section" in refused.stderr
    (files / "secrets.toml").unlink()
    refused = console_cli({"CONSOLE_UI_PORT": env["CONSOLE_UI_PORT"]}, "ui")
    assert refused.returncode == 2 and "needs a Snowflake connection" in refused.stderr


def test_the_cli_acts_as_a_named_person_in_production(files: Path) -> None:
    from console.auth import cli_user
    from console.errors import InvalidRequest

    settings = load_settings(write_settings(files / "prod.toml"), secrets={})
    with pytest.raises(InvalidRequest, match="CONSOLE_CLI_USER is not set"):
        cli_user(settings, "production", {"USER": "root"})  # $USER is no identity
    assert cli_user(settings, "production", {"CONSOLE_CLI_USER": ENGINEER}).role == "engineer"
    assert cli_user(settings, "production", {"CONSOLE_CLI_USER": VIEWER}).role == "viewer"
    assert cli_user(settings, "embedded", {}).name == settings.local_user
