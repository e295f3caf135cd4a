"""The workspace emulator's clock: real time plus an offset that a test or the rehearsal sets or advances.

It always flows at the rate of real time (a task that takes 3 s takes 3 s on it); ``set`` and ``advance``
jump it. The schedule, retry intervals and run timestamps follow it. With a ``file`` it writes itself as
``{"offset_seconds": ...}`` there on every change, the file that ``CONSOLE_CLOCK_FILE`` names for the
console's processes and the wheel's tasks (``jobs.business_calendar.now_et``), so all of them see its time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from pathlib import Path


class EmulatorClock:
    def __init__(self, start: dt.datetime | None = None, file: Path | None = None) -> None:
        self._offset = 0.0
        self._changed = threading.Condition()
        self.file = file
        if start is not None:
            self.set(start)
        else:
            self._write()

    def now(self) -> dt.datetime:
        """The emulator's time, aware (UTC)."""
        return dt.datetime.fromtimestamp(time.time() + self._offset, dt.UTC)

    def ms(self) -> int:
        """Milliseconds since the epoch on this clock (the Jobs API's timestamps)."""
        return int((time.time() + self._offset) * 1000)

    @property
    def offset_seconds(self) -> float:
        return self._offset

    def set(self, moment: dt.datetime) -> None:
        """Jump to ``moment`` (aware); the clock goes on from there."""
        if moment.tzinfo is None:
            raise ValueError(f"clock: {moment.isoformat()} has no time zone; give an aware time (e.g. ...-05:00).")
        with self._changed:
            self._offset = moment.timestamp() - time.time()
            self._write()
            self._changed.notify_all()

    def advance(self, seconds: float) -> None:
        """Jump forward by ``seconds`` (never backwards: runs already stamped would go back in time)."""
        if seconds < 0:
            raise ValueError("clock: advance by a positive number of seconds; use set() to go elsewhere.")
        with self._changed:
            self._offset += seconds
            self._write()
            self._changed.notify_all()

    def wait(self, timeout: float) -> None:
        """Sleep up to ``timeout`` real seconds, or until the clock is set or advanced."""
        with self._changed:
            self._changed.wait(timeout)

    def _write(self) -> None:
        if self.file is None:
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.file.with_name(self.file.name + ".partial")
        partial.write_text(json.dumps({"offset_seconds": self._offset, "now": self.now().isoformat(),
                                       "written_by": "rehearsal workspace emulator"}), encoding="utf-8")
        os.replace(partial, self.file)  # readers never see half a file
