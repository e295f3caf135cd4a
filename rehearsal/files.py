"""The rehearsal's and the tests' settings and secrets files: TOML written from dicts, the sections a production
console needs for the loopback stand-ins (Snowflake as the fakesnow server, an OIDC provider).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

# st.login's keys besides the provider's address and the redirect (a rehearsal's, never a real deployment's).
AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "test-cookie-secret-0123456789",
        "client_id": "console", "client_secret": "test-client-secret",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}


def snowflake_section(port: int, login_timeout: int = 1) -> dict[str, Any]:
    """``[connections.snowflake]`` for a fakesnow server on 127.0.0.1:``port`` (its fixed login, over http)."""
    return {"account": "fakesnow", "user": "console", "password": "embedded", "host": "127.0.0.1", "port": port,
            "protocol": "http", "database": "ANALYTICS", "schema": "CRON_STORE", "login_timeout": login_timeout,
            "session_parameters": {"PYTHON_SNOWPARK_USE_SCOPED_TEMP_OBJECTS": False,
                                   "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}}


def auth_section(ui_url: str, provider_url: str) -> dict[str, str]:
    """``[auth]`` for a UI at ``ui_url`` signing in at the OIDC provider ``provider_url``."""
    return {**AUTH, "redirect_uri": f"{ui_url}/oauth2callback",
            "server_metadata_url": f"{provider_url}/.well-known/openid-configuration"}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_secrets(path: Path, secrets: dict[str, Any]) -> Path:
    """``secrets`` as nested dicts (``{"connections": {"snowflake": {...}}, "auth": {...}}``) to a TOML file."""
    lines: list[str] = []

    def table(name: str, values: dict[str, Any]) -> None:
        plain = {k: v for k, v in values.items() if not (isinstance(v, dict) and k != "session_parameters")}
        if plain or not values:
            lines.extend([f"[{name}]", *(f"{k} = {_toml(v)}" for k, v in plain.items()), ""])
        for key, value in values.items():
            if key not in plain:
                table(f"{name}.{key}", value)

    for name, values in secrets.items():
        table(name, values)
    path.write_text("\n".join(lines))
    return path


def read_secrets(path: Path) -> dict[str, Any]:
    """A secrets file written by ``write_secrets`` (or by hand), parsed."""
    return tomllib.loads(path.read_text())
