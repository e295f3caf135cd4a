"""Who may do what: roles in order of power, and the check every mutating function makes itself.

viewer < operator (tick, confirm, sign off, acknowledge alerts) < engineer (also rerun and cancel jobs)
< admin. A signed-in user's role comes from ``[roles]`` in settings: the verified e-mail, then its domain,
then the default. The embedded stack's one local user (``local_role``) exists only while the UI listens on
loopback and no proxy stands in front of it; production has no local user at all, so a visitor who has not
signed in (``st.login``, OIDC) gets the sign-in page and nothing else. The pages only hide what this module
refuses anyway.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from console.errors import ConfigError, InvalidRequest, NotAuthorised
from console.settings import ROLES, Settings

# The least role each action needs.
REQUIRED_ROLE = {
    "view": "viewer",
    "tick": "operator",
    "acknowledge": "operator",
    "sign_off": "operator",
    "trigger": "engineer",
    "repair": "engineer",
    "cancel": "engineer",
    "release": "engineer",
    "view_settings": "engineer",  # the resolved settings name hosts, accounts and users: not for every viewer
    "view_costs": "admin",  # what the console's own warehouse reads cost (the Audit page)
}

ACTION_WORDS = {"trigger": "start a workflow run", "repair": "rerun tasks", "cancel": "cancel a run",
                "tick": "tick checklist items", "acknowledge": "acknowledge alerts", "sign_off": "sign off the day",
                "release": "release a list held from the upload", "view_settings": "see the resolved settings",
                "view_costs": "see the console's warehouse use"}


@dataclass(frozen=True)
class User:
    name: str  # an e-mail in production, the local user's name in the embedded stack
    role: str


# What ``st.login()`` (no provider name) needs in the secrets' ``[auth]`` section.
AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
# Headers a reverse proxy adds: a request carrying one did not come from this machine's browser directly.
PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host")


def role_of(settings: Settings, email: str) -> str:
    """The role ``[roles]`` gives a signed-in e-mail: the address, then its domain, then ``default_role``."""
    email = email.lower()
    if email in settings.user_roles:
        return settings.user_roles[email]
    domain = email.rpartition("@")[2]
    return settings.user_roles.get(f"@{domain}", settings.user_roles.get(domain, settings.default_role))


def user(settings: Settings, name: str) -> User:
    return User(name, role_of(settings, name))


def signed_in_user(settings: Settings, mode: str, identity: Mapping[str, Any] | None, *, address: str = "",
                   headers: Mapping[str, str] | None = None) -> User | None:
    """Who is using the console: the ``st.user`` identity when signed in (OIDC); else, in the embedded stack
    served on loopback (``address``) to a browser on this machine, the one local user. None: ask for a sign-in.

    An e-mail the provider says it has not verified (``email_verified = false``) is a viewer whatever
    ``[roles]`` says of it: anyone can put any address on an account at some providers.
    """
    if identity and identity.get("is_logged_in") and identity.get("email"):
        email = str(identity["email"])
        if identity.get("email_verified") is False:
            return User(email, "viewer")
        return user(settings, email)
    if mode == "embedded" and is_loopback(address) and not behind_proxy(headers or {}):
        return User(settings.local_user, settings.local_role)
    return None


CLI_USER_ENV = "CONSOLE_CLI_USER"


def cli_user(settings: Settings, mode: str, env: Mapping[str, str]) -> User:
    """Who a mutating CLI command acts as: ``$CONSOLE_CLI_USER`` (an e-mail, its role from ``[roles]``), or in
    the embedded stack the local user. Production names a person: ``$USER`` (a shell account such as root)
    is no identity and was the actor of CLI reruns, without any role check."""
    named = (env.get(CLI_USER_ENV) or "").strip()
    if named:
        if "@" not in named:
            raise InvalidRequest(f"{CLI_USER_ENV}={named!r} is not an e-mail address.",
                                 f"Set {CLI_USER_ENV} to the e-mail you sign in with.")
        return user(settings, named)
    if mode == "embedded":
        return User(settings.local_user, settings.local_role)
    raise InvalidRequest("In production a command that changes state acts as a named person, and "
                         f"{CLI_USER_ENV} is not set.", f"Run it as {CLI_USER_ENV}=you@company.com python -m console "
                         "...; your role comes from [roles] as in the UI, and the audit log names you.")


def is_loopback(address: str) -> bool:
    """True when a server bound to ``address`` is reachable from this machine only ("" binds every interface)."""
    address = address.strip().strip("[]").lower()
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def behind_proxy(headers: Mapping[str, str]) -> bool:
    """The request passed through a reverse proxy, or names a host other than loopback: not a local browser."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    if any(lowered.get(h) for h in PROXY_HEADERS):
        return True
    host = lowered.get("host", "")
    if not host:
        return False
    try:
        name = urlsplit(f"//{host}").hostname or ""
    except ValueError:
        return True
    return not is_loopback(name)


def check_ui(settings: Settings, mode: str, address: str, auth: Mapping[str, Any] | None) -> None:
    """Refuse to serve the UI where a visitor would get more than they signed in for (``ConfigError``).

    ``address`` is the UI server's bind address; ``auth`` the secrets' ``[auth]`` section that ``st.login`` reads.
    """
    if mode == "embedded":
        if not is_loopback(address):
            shown = address or "every interface"
            raise ConfigError(
                f"The embedded stack makes every visitor its local user '{settings.local_user}' "
                f"({settings.local_role}), so it only serves on 127.0.0.1; this UI listens on {shown}.",
                'On a server set [console] mode = "production" in console.toml (with [auth] and '
                "[connections.snowflake] in the secrets); for the demo, listen on 127.0.0.1 (`make run` does).")
        return
    section = dict(auth or {})
    missing = [key for key in AUTH_KEYS if not section.get(key)]
    if missing:
        what = "the secrets have no [auth] section" if not section else \
            f"[auth] in the secrets lacks {', '.join(missing)}"
        raise ConfigError(f"Production mode needs sign-in, and {what}.",
                          "Add [auth] to .streamlit/secrets.toml as in secrets.toml.example (redirect_uri, "
                          "cookie_secret, client_id, client_secret, server_metadata_url of your OIDC provider).")
    if importlib.util.find_spec("authlib") is None:
        raise ConfigError("Production mode needs sign-in, and st.login needs Authlib, which is not installed.",
                          "Install the pinned requirements: pip install -r requirements.txt (streamlit[auth]).")


def allowed(who: User, action: str) -> bool:
    if action not in REQUIRED_ROLE:
        raise ValueError(f"unknown action {action!r}")
    return ROLES.index(who.role) >= ROLES.index(REQUIRED_ROLE[action])


def authorise(who: User, action: str) -> None:
    """Raise ``NotAuthorised`` saying which role is needed unless ``who`` may do ``action``."""
    if not allowed(who, action):
        need = REQUIRED_ROLE[action]
        raise NotAuthorised(f"{who.name} is a {who.role} and may not {ACTION_WORDS.get(action, action)}: "
                            f"that needs the {need} role or higher.")
