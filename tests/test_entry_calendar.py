"""The wheel's entry knows the calendar: the Mon–Fri schedule firing on a holiday touches no list."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

import jobs.entry
from jobs.business_calendar import ET

THANKSGIVING_0600 = dt.datetime(2026, 11, 26, 6, 0, tzinfo=ET)


def _no_session(*_: Any) -> Any:
    raise AssertionError("a session was opened: the task would have rebuilt a list")


def test_a_scheduled_run_on_thanksgiving_exits_at_once_without_a_session(monkeypatch: pytest.MonkeyPatch,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(jobs.entry, "now_et", lambda: THANKSGIVING_0600)
    monkeypatch.setattr(jobs.entry, "open_session", _no_session)
    assert jobs.entry.main(["--task", "bi_737"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "holiday: skipped"
    assert out["business_date"] == "2026-11-26"


def test_a_blank_date_parameter_on_a_holiday_skips_too(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # deploy-job passes --date {{job.parameters.business_date}}: blank for the scheduled run
    monkeypatch.setattr(jobs.entry, "now_et", lambda: THANKSGIVING_0600)
    monkeypatch.setattr(jobs.entry, "open_session", _no_session)
    assert jobs.entry.main(["--task", "di_749", "--date", ""]) == 0
    assert "holiday: skipped" in capsys.readouterr().out


def test_an_explicit_business_date_still_runs_on_a_holiday(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Any] = []

    def session(config: Any) -> Any:
        opened.append(config)
        raise RuntimeError("stop here: the task went on to open its session")

    monkeypatch.setattr(jobs.entry, "now_et", lambda: THANKSGIVING_0600)
    monkeypatch.setattr(jobs.entry, "open_session", session)
    with pytest.raises(RuntimeError, match="stop here"):
        jobs.entry.main(["--task", "bi_737", "--date", "2026-11-25"])
    assert opened
