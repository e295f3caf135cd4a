"""A console in production mode for tests: settings with ``mode = "production"`` and roles, secrets with
``[connections.snowflake]`` for a fakesnow server (reached through the production Snowpark path,
``adapters/snowflake.py``) and ``[auth]`` for an OIDC provider.

Nothing here starts a server: the caller says which warehouse port and which provider the files name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console.settings import DEFAULT_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
ENGINEER, OPERATOR, VIEWER = "eng@corp.example", "ops@corp.example", "someone@else.example"
# st.login's keys; the provider below is never contacted unless a test starts one there.
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


def write_settings(path: Path, mode: str = "production", users: dict[str, str] | None = None) -> Path:
    """A copy of console.toml with ``mode`` and ``[roles.users]`` (default: ENGINEER is an engineer,
    the corp.example domain operators, anyone else a viewer)."""
    users = {ENGINEER: "engineer", "@corp.example": "operator"} if users is None else users
    text = DEFAULT_SETTINGS.read_text()
    text = text.replace('mode = "auto"', f'mode = "{mode}"', 1)
    text = text.replace('spec = "jobs/outbound_lists.job.yml"', f'spec = "{ROOT / "jobs/outbound_lists.job.yml"}"')
    text = text.replace('# "someone@example.com" = "operator"',
                        "\n".join(f'"{email}" = "{role}"' for email, role in users.items()))
    path.write_text(text)
    return path


def production_env(folder: Path, warehouse_port: int, auth: dict[str, str] | None = None) -> dict[str, str]:
    """Env for a production console in ``folder``: settings, secrets (Snowflake at ``warehouse_port``, ``auth``)."""
    secrets = {"connections": {"snowflake": snowflake_section(warehouse_port)}, "auth": auth or AUTH}
    return {"CONSOLE_DATA_DIR": str(folder), "CONSOLE_SETTINGS": str(write_settings(folder / "console.toml")),
            "CONSOLE_SECRETS": str(write_secrets(folder / "secrets.toml", secrets))}


def production_secrets(warehouse_port: int, auth: dict[str, str] | None = None) -> dict[str, Any]:
    """The same secrets as a dict, for ``AppTest.secrets`` (what ``st.login`` and the frame read)."""
    return {"connections": {"snowflake": snowflake_section(warehouse_port)}, "auth": auth or AUTH}
