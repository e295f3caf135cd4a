"""The demo: a seeded synthetic portfolio, its feeds, a Genesys simulator and the history backfill.

The console drives it, but the demo imports nothing of the console: these Protocols say what it reads from
the caller's settings and workflow spec, and ``console.settings.Settings`` and
``console.workflow.WorkflowSpec`` satisfy them as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from jobs.tables import TableNames


class DemoConfig(Protocol):
    """The settings the demo reads: where the tables and the SFTP folders are, and the demo's size."""

    @property
    def tables(self) -> TableNames: ...

    @property
    def sftp_inbox(self) -> Path: ...

    @property
    def sftp_outbox(self) -> Path: ...

    @property
    def demo_seed(self) -> int: ...

    @property
    def demo_accounts(self) -> int: ...

    @property
    def demo_history_days(self) -> int: ...


class DemoTask(Protocol):
    """One task of the workflow, as the backfill runs and stamps it."""

    @property
    def key(self) -> str: ...

    @property
    def short_key(self) -> str: ...

    @property
    def module(self) -> str:
        """The task's code, ``jobs.tasks.<name>``, with a ``run(ctx)`` function."""
        ...

    @property
    def depends_on(self) -> Sequence[str]: ...


class DemoWorkflow(Protocol):
    """The workflow the backfill runs: its tasks in DAG order and what depends on what."""

    def task(self, key: str) -> DemoTask:
        """The task by key or short key (``BI-2482``)."""
        ...

    def topological_order(self) -> list[str]: ...

    def descendants(self, keys: list[str]) -> set[str]:
        """``keys`` and every task that depends on them, directly or not."""
        ...
