"""What this console is connected to: each adapter's stack and the resolved settings, secrets redacted."""

from __future__ import annotations

import streamlit as st

from console.adapters.protocols import Adapters
from console.auth import User, allowed
from console.doctor import resolved_settings
from console.store import redact_url


def stack_and_settings(adapters: Adapters, who: User) -> None:
    """A closed expander: which system each adapter talks to, and (for engineers and admins) every resolved
    setting, no secret shown."""
    with st.expander("Stack and settings (secrets redacted)", icon=":material/settings:"):
        st.markdown(f"- **Mode**: {adapters.mode}\n"
                    f"- **Warehouse**: {adapters.warehouse.label}\n"
                    f"- **Workflow engine**: {adapters.engine.label}\n"
                    f"- **State DB**: {redact_url(adapters.store.url)}")
        if not allowed(who, "view_settings"):
            st.caption(f"The resolved settings are shown to engineers and admins; you are a {who.role}.")
            return
        st.json(resolved_settings(adapters.settings), expanded=False)
        st.caption("`python -m console doctor` checks that each of these answers.")
