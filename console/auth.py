"""Who may do what: roles in order of power, and the check every mutating function makes itself.

viewer < operator (tick, confirm, sign off, acknowledge alerts) < engineer (also rerun and cancel jobs)
< admin. A user's role comes from ``[roles]`` in settings: the e-mail, then its domain, then the default.
In the embedded stack the one local user has ``local_role``. Sign-in (``st.login``) arrives with the
roles issue; the pages only hide what this module refuses anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from console.errors import NotAuthorised
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
}

ACTION_WORDS = {"trigger": "start a workflow run", "repair": "rerun tasks", "cancel": "cancel a run",
                "tick": "tick checklist items", "acknowledge": "acknowledge alerts", "sign_off": "sign off the day",
                "release": "release a list held from the upload"}


@dataclass(frozen=True)
class User:
    name: str  # an e-mail in production, the local user's name in the embedded stack
    role: str


def role_of(settings: Settings, name: str) -> str:
    if name == settings.local_user:
        return settings.local_role
    email = name.lower()
    if email in settings.user_roles:
        return settings.user_roles[email]
    domain = email.rpartition("@")[2]
    return settings.user_roles.get(f"@{domain}", settings.user_roles.get(domain, settings.default_role))


def user(settings: Settings, name: str) -> User:
    return User(name, role_of(settings, name))


def signed_in_user(settings: Settings, mode: str, identity: Mapping[str, Any] | None) -> User | None:
    """Who is using the console: the ``st.user`` identity when signed in (OIDC), else in the embedded stack
    the one local user; None means production without a sign-in (the page asks for one)."""
    if identity and identity.get("is_logged_in") and identity.get("email"):
        return user(settings, str(identity["email"]))
    if mode == "embedded":
        return User(settings.local_user, settings.local_role)
    return None


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
