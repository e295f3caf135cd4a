"""The PostgreSQL test harness: ``rehearsal.postgres``'s throwaway cluster, and what a missing install means.

Under CI a missing PostgreSQL fails the test (a missing install step); on a workstation it skips with the hint.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rehearsal.postgres import CONSOLE, INSTALL_HINT, OWNER, Cluster, find_bindir, running_cluster

__all__ = ["CONSOLE", "OWNER", "Cluster", "require_bindir", "running_cluster"]


def require_bindir() -> Path:
    """The binaries, or stop the test: a failure under CI (a missing install step), a skip on a workstation."""
    found = find_bindir()
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(INSTALL_HINT, pytrace=False)
        pytest.skip(INSTALL_HINT)
    return found
