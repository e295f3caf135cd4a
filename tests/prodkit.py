"""A console in production mode for tests: settings with ``mode = "production"`` and roles, secrets with
``[connections.snowflake]`` for a fakesnow server (reached through the production Snowpark path,
``adapters/snowflake.py``) and ``[auth]`` for an OIDC provider.

Nothing here starts a server: the caller says which warehouse port and which provider the files name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console.settings import DEFAULT_SETTINGS
from rehearsal.files import AUTH, auth_section, snowflake_section, write_secrets

# AUTH's provider is never contacted unless a test starts one there.
__all__ = ["AUTH", "auth_section", "snowflake_section", "write_secrets"]

ROOT = Path(__file__).resolve().parent.parent
ENGINEER, OPERATOR, VIEWER = "eng@corp.example", "ops@corp.example", "someone@else.example"


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
