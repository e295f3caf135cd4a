"""One log format for every process (CLI, worker, UI): date, time with zone, level, logger, message."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S%z"
NOISY = ("snowflake", "fakesnow", "fakesnow.server", "uvicorn", "apscheduler.executors", "apscheduler.scheduler",
         "urllib3", "alembic")


def configure(verbose: bool = False) -> None:
    """Set the root logger up once per process (a second call changes nothing but the level)."""
    root = logging.getLogger()
    if not any(getattr(h, "_console_log", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
        handler._console_log = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
