"""The upload gate, judged: which of the day's Genesys lists may be uploaded, and why a list is held.

A list is held when a blocking check (``[gate] blocking_checks``) failed for it: a suppressed account on
it, duplicate accounts, rows without the contact its channel needs, or a stale or partial loan tape (a
day-wide failure holds every list). Pure: ``console.releases`` applies these decisions to the warehouse
table the upload reads, and records people's releases.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.model import FAIL, CheckResult
from console.settings import GATE_CHECKS

HELD, RELEASED, PENDING = "held", "released", "pending"
# A failure of these holds every list of the day; the other blocking checks hold only the lists they name.
DAY_WIDE = ("loan_tape_freshness",)


@dataclass(frozen=True)
class Decision:
    """What the checks say of one list for the day: released, or held with the reason in words."""

    list_name: str
    channel: str
    state: str  # held | released
    reason: str = ""
    checks: tuple[str, ...] = ()  # the blocking checks that failed for it


def _per_list_reasons(check: CheckResult, list_name: str, channel: str) -> list[str]:
    """The check's failure for one list, in words (empty when the check did not fail for it)."""
    numbers = check.numbers
    if check.name == "suppression_leaks":
        return [f"{leak['accounts']:,} suppressed account(s) ({leak['reason']})"
                for leak in numbers.get("leaks", []) if leak["list_name"] == list_name]
    key = f"{list_name}/{channel}"
    if check.name == "duplicate_accounts" and numbers.get("duplicates", {}).get(key):
        return [f"{numbers['duplicates'][key]:,} duplicate row(s)"]
    if check.name == "contact_fields" and numbers.get("missing", {}).get(key):
        contact = "e-mail address" if channel == "EMAIL" else "phone number"
        return [f"{numbers['missing'][key]:,} row(s) without a valid {contact}"]
    return []


def _day_wide_reason(check: CheckResult) -> str:
    """A day-wide failure in a few words: the first sentence of its evidence."""
    return check.evidence.split(": ")[0].split(". ")[0].rstrip(".")


def decide(lists: list[tuple[str, str]], checks: list[CheckResult],
           blocking: tuple[str, ...] = GATE_CHECKS) -> list[Decision]:
    """A decision for each (list, channel) of ``lists`` from the day's check results.

    A check that did not fail (pass, warn, n/a) holds nothing; a check that could not run is not in
    ``checks`` at all (the caller keeps the previous decisions rather than releasing on no evidence).
    """
    failed = [c for c in checks if c.name in blocking and c.status == FAIL]
    day_wide = [c for c in failed if c.name in DAY_WIDE]
    out = []
    for list_name, channel in lists:
        reasons: list[str] = []
        names: list[str] = []
        for check in failed:
            found = [_day_wide_reason(check)] if check in day_wide else _per_list_reasons(check, list_name, channel)
            if found:
                reasons += found
                names.append(check.name)
        state = HELD if reasons else RELEASED
        out.append(Decision(list_name, channel, state, "; ".join(reasons), tuple(names)))
    return out
