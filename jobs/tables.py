"""The warehouse tables by logical name (``[tables]`` in console.toml): what the list jobs, the demo and
the console all address. The columns of each are in ``jobs.schema``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableNames:
    outbound_lists: str
    base_population: str
    funnel_population: str
    email_non_openers: str
    config_history: str
    accounts: str
    loan_tape: str
    loan_tape_loads: str
    suppressions: str
    list_automation_config: str
    import_log: str
    campaign_results: str
    daily_volumes: str
    list_releases: str  # the upload gate: one row per date × list, RELEASED or HELD (console/releases.py)
    released_lists: str  # a view: the lists an upload may send (every list of the date not on hold)

    def all(self) -> dict[str, str]:
        return dict(self.__dict__)
