"""The console's error hierarchy: every error a page or the CLI shows comes from here.

ConsoleError
├── ConfigError          settings, secrets or the workflow file are missing or malformed
├── WarehouseUnavailable the warehouse (embedded fakesnow server or Snowflake) cannot be reached
├── StateStoreError      the state database cannot be opened or written
├── EngineUnavailable    the workflow engine (Databricks Jobs API) cannot be reached or refused a call
├── NotFound             a run, task, date or record that does not exist
├── InvalidRequest       a request that cannot be honoured as asked (date out of range, unknown task …)
├── NotAuthorised        the user's role does not allow the action
├── WorkerLocked         another worker already owns the state store
└── TaskFailed           a list job raised; carries the task key and the original message

Each error has a ``hint``: one sentence that says what to do about it.
"""

from __future__ import annotations


class ConsoleError(Exception):
    """Base class: ``message`` says what is wrong, ``hint`` says what to do."""

    hint: str = ""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        if hint:
            self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip() if self.hint else self.message


class ConfigError(ConsoleError):
    hint = "Fix the file named above and start again."


class WarehouseUnavailable(ConsoleError):
    hint = "Start it with `make run` (or `python -m console warehouse`) and retry."


class EngineUnavailable(ConsoleError):
    hint = "Check the Databricks host and credentials (`python -m console doctor`) and retry."


class StateStoreError(ConsoleError):
    hint = "Check the [state] url in console.toml and that the file or server is reachable."


class NotFound(ConsoleError):
    pass


class InvalidRequest(ConsoleError):
    pass


class NotAuthorised(ConsoleError):
    hint = "Ask an admin for a role that allows this action."


class WorkerLocked(ConsoleError):
    hint = "Stop the other worker first, or point this one at another state store."


class TaskFailed(ConsoleError):
    def __init__(self, task_key: str, message: str, hint: str = "") -> None:
        super().__init__(f"{task_key}: {message}", hint)
        self.task_key = task_key
