"""A synthetic consumer-loan portfolio and its change-log loan tape, simulated day by day in numpy.

Accounts get contact details (some invalid), consents and a risk score. Each calendar day every open
account draws one uniform number from a generator seeded by (seed, day), which picks at most one event:

- CURRENT: becomes DELINQUENT (hazard grows with risk) or pays in full;
- DELINQUENT: cures (pays what is due; the chance falls as DPD grows), makes a partial payment (moves
  LAST_PAYMENT_DATE), pays in full, or is charged off on reaching 120 DPD.

Only changes become loan-tape rows, so the tape stays small (about 2 % of accounts change per day) and the
state on any date is the latest row on or before it. Because a day's draws depend only on the seed, the
day and the state, extending the tape one day at a time from the state stored in the warehouse gives
exactly the rows a single long simulation would. Money is kept in integer cents for the same reason.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from snowflake.snowpark import Column, Window
from snowflake.snowpark import functions as F
from snowflake.snowpark.types import LongType

from jobs.business_calendar import business_days, is_business_day, previous_business_day
from jobs.common import et_to_utc, in_transaction, load_frame

if TYPE_CHECKING:
    from snowflake.snowpark import Session

    from jobs.demo import DemoConfig
    from jobs.tables import TableNames

logger = logging.getLogger(__name__)

EPOCH = dt.date(1970, 1, 1)
STATUSES = np.array(["CURRENT", "DELINQUENT", "PAID_IN_FULL", "CHARGED_OFF"])
CURRENT, DELINQUENT, PAID_IN_FULL, CHARGED_OFF = range(4)
CHARGE_OFF_DPD = 120
HISTORY_LEAD_DAYS = 45  # the tape starts this many calendar days before the first list date

# Daily hazards, tuned so that about 9 % of open accounts are delinquent in the steady state.
DELINQUENCY_HAZARD = 0.0038  # CURRENT -> DELINQUENT for an average-risk account
PREPAY_HAZARD = 0.0003  # CURRENT -> PAID_IN_FULL
CURE_HAZARD = ((30, 0.050), (60, 0.020), (90, 0.012), (CHARGE_OFF_DPD, 0.008))  # (DPD below, hazard)
PARTIAL_PAYMENT_HAZARD = 0.012
DELINQUENT_PAYOFF_HAZARD = 0.0005
INITIAL_DELINQUENT_SHARE = 0.09

# (state, share of accounts, IANA time zone of most of the state)
STATES = (
    ("CA", 11.7, "America/Los_Angeles"), ("TX", 9.0, "America/Chicago"), ("FL", 6.8, "America/New_York"),
    ("NY", 5.9, "America/New_York"), ("PA", 3.9, "America/New_York"), ("IL", 3.8, "America/Chicago"),
    ("OH", 3.5, "America/New_York"), ("GA", 3.3, "America/New_York"), ("NC", 3.2, "America/New_York"),
    ("MI", 3.0, "America/Detroit"), ("NJ", 2.8, "America/New_York"), ("VA", 2.6, "America/New_York"),
    ("WA", 2.3, "America/Los_Angeles"), ("AZ", 2.2, "America/Phoenix"), ("TN", 2.1, "America/Chicago"),
    ("MA", 2.1, "America/New_York"), ("IN", 2.0, "America/Indiana/Indianapolis"), ("MD", 1.8, "America/New_York"),
    ("MO", 1.8, "America/Chicago"), ("WI", 1.8, "America/Chicago"), ("CO", 1.8, "America/Denver"),
    ("MN", 1.7, "America/Chicago"), ("SC", 1.6, "America/New_York"), ("AL", 1.5, "America/Chicago"),
    ("LA", 1.4, "America/Chicago"), ("KY", 1.3, "America/New_York"), ("OR", 1.3, "America/Los_Angeles"),
    ("OK", 1.2, "America/Chicago"), ("CT", 1.1, "America/New_York"), ("UT", 1.0, "America/Denver"),
    ("NV", 1.0, "America/Los_Angeles"), ("IA", 0.9, "America/Chicago"), ("AR", 0.9, "America/Chicago"),
    ("MS", 0.9, "America/Chicago"), ("KS", 0.9, "America/Chicago"), ("NM", 0.6, "America/Denver"),
    ("NE", 0.6, "America/Chicago"), ("ID", 0.6, "America/Boise"), ("WV", 0.5, "America/New_York"),
    ("HI", 0.4, "Pacific/Honolulu"), ("NH", 0.4, "America/New_York"), ("ME", 0.4, "America/New_York"),
    ("MT", 0.3, "America/Denver"), ("RI", 0.3, "America/New_York"), ("DE", 0.3, "America/New_York"),
    ("SD", 0.3, "America/Chicago"), ("ND", 0.2, "America/Chicago"), ("AK", 0.2, "America/Anchorage"),
    ("DC", 0.2, "America/New_York"), ("VT", 0.2, "America/New_York"), ("WY", 0.2, "America/Denver"),
)
FIRST_NAMES = ("james", "mary", "robert", "patricia", "john", "jennifer", "michael", "linda", "david",
               "elizabeth", "william", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah",
               "carlos", "karen", "daniel", "lisa", "matthew", "nancy", "anthony", "betty", "mark", "maria",
               "steven", "sandra", "kevin", "ashley", "brian", "emily", "jose", "donna", "wei", "priya")
LAST_NAMES = ("smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez",
              "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore",
              "jackson", "martin", "lee", "perez", "thompson", "white", "harris", "sanchez", "clark", "nguyen",
              "lewis", "robinson", "walker", "young", "allen", "king", "wright", "scott", "patel", "kim")
# Reserved example domains: the synthetic addresses can never reach anybody.
EMAIL_DOMAINS = (("example.com", 0.45), ("example.net", 0.25), ("example.org", 0.15), ("mail.example.com", 0.15))


def day_number(day: dt.date) -> int:
    return (day - EPOCH).days


def from_day_number(number: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(number))


def _dates(numbers: np.ndarray) -> np.ndarray:
    return numbers.astype("datetime64[D]")


def generate_accounts(seed: int, count: int, start: dt.date) -> pd.DataFrame:
    """The static portfolio: ``count`` accounts opened before ``start``, sorted by ACCOUNT_ID."""
    rng = np.random.default_rng([seed, 1])
    ids = 10_000_001 + np.arange(count, dtype=np.int64)
    weights = np.array([s[1] for s in STATES])
    state_index = rng.choice(len(STATES), size=count, p=weights / weights.sum())
    states = np.array([s[0] for s in STATES])[state_index]
    zones = np.array([s[2] for s in STATES])[state_index]

    # Phones in the fictional 555 exchange; 2 % missing, 1.5 % malformed, 2 % disconnected (flagged invalid).
    area = rng.integers(201, 990, size=count)
    line = rng.integers(0, 10_000, size=count)
    phone = pd.Series(area.astype(str)).radd("+1").str.cat(pd.Series(line).map("555{:04d}".format))
    phone_kind = rng.random(count)
    phone = phone.where(phone_kind >= 0.035, pd.Series(line).map("555-{:04d}".format))
    phone = phone.where(phone_kind >= 0.02, None)
    phone_valid = phone_kind >= 0.055

    first = np.array(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), size=count)]
    last = np.array(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), size=count)]
    domains = np.array([d for d, _ in EMAIL_DOMAINS])[
        rng.choice(len(EMAIL_DOMAINS), size=count, p=[w for _, w in EMAIL_DOMAINS])]
    user = pd.Series(first).str.cat(pd.Series(last), sep=".").str.cat(pd.Series(ids % 10_000).astype(str))
    email = user.str.cat(pd.Series(domains), sep="@")
    email_kind = rng.random(count)
    email = email.where(email_kind >= 0.04, user.str.cat(pd.Series(domains), sep="."))  # missing "@"
    email = email.where(email_kind >= 0.03, None)
    email_valid = email_kind >= 0.06  # the last 2 % bounced before and are flagged invalid

    risk_score = np.clip(rng.normal(690, 55, size=count), 520, 840).round().astype(np.int64)
    loan_amount = np.clip(np.round(rng.lognormal(np.log(12_000), 0.5, size=count), -2), 2_000, 40_000)
    term = rng.choice(np.array([36, 48, 60]), size=count, p=[0.45, 0.30, 0.25])
    monthly_rate = (0.08 + (840 - risk_score) / 320 * 0.20) / 12  # APR 8 % to 28 % by risk
    payment = np.round(loan_amount * monthly_rate / (1 - (1 + monthly_rate) ** -term), 2)
    open_offset = rng.integers(30, 1_500, size=count)
    return pd.DataFrame({
        "ACCOUNT_ID": ids,
        "OPEN_DATE": _dates(day_number(start) - open_offset),
        "STATE": states,
        "TIME_ZONE": zones,
        "PHONE": phone,
        "PHONE_VALID": phone_valid,
        "EMAIL": email,
        "EMAIL_VALID": email_valid,
        "SMS_CONSENT": rng.random(count) < 0.60,
        "EMAIL_CONSENT": rng.random(count) < 0.82,
        "MARKETING_CONSENT": rng.random(count) < 0.45,
        "RISK_SCORE": risk_score,
        "LOAN_AMOUNT": loan_amount,
        "TERM_MONTHS": term,
        "MONTHLY_PAYMENT": payment,
    })


def relative_risk(risk_score: np.ndarray) -> np.ndarray:
    """Delinquency hazard multiplier by risk score, mean about 1 over the portfolio."""
    return np.exp((690 - risk_score.astype(np.float64)) / 45.0) / 1.45


def cure_hazard(dpd: np.ndarray) -> np.ndarray:
    hazard = np.zeros(dpd.shape, dtype=np.float64)
    low = 0
    for below, value in CURE_HAZARD:
        hazard[(dpd >= low) & (dpd < below)] = value
        low = below
    return hazard


@dataclass
class TapeState:
    """The state of every account (index-aligned with the accounts sorted by ACCOUNT_ID)."""

    account_id: np.ndarray  # int64
    relative_risk: np.ndarray  # float64
    installment: np.ndarray  # int64 cents
    status: np.ndarray  # int8, index into STATUSES
    dpd_at_effective: np.ndarray  # int16
    effective: np.ndarray  # int32 day number
    balance: np.ndarray  # int64 cents
    due: np.ndarray  # int64 cents
    last_payment: np.ndarray  # int32 day number

    def dpd_on(self, day: int) -> np.ndarray:
        dpd = self.dpd_at_effective.astype(np.int32)
        delinquent = self.status == DELINQUENT
        dpd[delinquent] += day - self.effective[delinquent]
        return dpd


@dataclass
class Changes:
    """Change rows produced by a simulation, in day order."""

    index: np.ndarray
    effective: np.ndarray
    status: np.ndarray
    dpd_at_effective: np.ndarray
    balance: np.ndarray
    due: np.ndarray
    last_payment: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


def initial_state(accounts: pd.DataFrame, seed: int, start: dt.date) -> TapeState:
    """Every account's state on ``start``: about 9 % delinquent, DPD drawn from the steady-state profile."""
    rng = np.random.default_rng([seed, 2])
    count = len(accounts)
    risk = relative_risk(accounts["RISK_SCORE"].to_numpy())
    installment = np.round(accounts["MONTHLY_PAYMENT"].to_numpy() * 100).astype(np.int64)
    loan = np.round(accounts["LOAN_AMOUNT"].to_numpy() * 100).astype(np.int64)
    open_day = (accounts["OPEN_DATE"].to_numpy().astype("datetime64[D]").astype(np.int64))
    day = day_number(start)
    months_open = (day - open_day) / 30.4
    remaining = np.clip(1 - months_open / accounts["TERM_MONTHS"].to_numpy(), 0.05, 1.0)
    balance = np.round(loan * remaining).astype(np.int64)

    delinquent = rng.random(count) < np.clip(INITIAL_DELINQUENT_SHARE * risk, 0, 0.6)
    # Steady-state DPD profile: the chance of still being delinquent d days in, for d = 1..119.
    exits = cure_hazard(np.arange(1, CHARGE_OFF_DPD)) + DELINQUENT_PAYOFF_HAZARD
    survival = np.concatenate([[1.0], np.cumprod(1 - exits[:-1])])
    dpd = np.where(delinquent, rng.choice(np.arange(1, CHARGE_OFF_DPD), size=count, p=survival / survival.sum()),
                   0).astype(np.int16)
    months_due = np.ceil(dpd / 30).astype(np.int64)
    paid_recently = rng.random(count) < 0.3
    last_payment = np.where(
        delinquent,
        np.where(paid_recently, day - rng.integers(0, 35, size=count) % np.maximum(dpd, 1),
                 day - dpd - rng.integers(1, 30, size=count)),
        day - rng.integers(0, 30, size=count))
    return TapeState(
        account_id=accounts["ACCOUNT_ID"].to_numpy().astype(np.int64),
        relative_risk=risk,
        installment=installment,
        status=np.where(delinquent, DELINQUENT, CURRENT).astype(np.int8),
        dpd_at_effective=dpd,
        effective=np.full(count, day, dtype=np.int32),
        balance=balance,
        due=months_due * installment,
        last_payment=last_payment.astype(np.int32),
    )


def snapshot(state: TapeState) -> Changes:
    """The whole state as change rows (the tape's first load)."""
    return Changes(np.arange(len(state.status)), state.effective.copy(), state.status.copy(),
                   state.dpd_at_effective.copy(), state.balance.copy(), state.due.copy(), state.last_payment.copy())


def simulate(state: TapeState, seed: int, first_day: int, last_day: int) -> Changes:
    """Advance ``state`` through day numbers ``first_day..last_day`` (calendar days) and return the changes."""
    parts: list[tuple[np.ndarray, ...]] = []
    for day in range(first_day, last_day + 1):
        u = np.random.default_rng([seed, 3, day]).random(len(state.status))
        status = state.status
        current = status == CURRENT
        delinquent = status == DELINQUENT
        dpd = state.dpd_on(day)

        # CURRENT: pay off, else fall behind.
        payoff = current & (u < PREPAY_HAZARD)
        falls_behind = current & ~payoff & (u < PREPAY_HAZARD + DELINQUENCY_HAZARD * state.relative_risk)

        # DELINQUENT: charged off at 120 DPD; otherwise cure, partial payment or payoff.
        charge_off = delinquent & (dpd >= CHARGE_OFF_DPD)
        open_delinquent = delinquent & ~charge_off
        cure_p = cure_hazard(dpd)
        cures = open_delinquent & (u < cure_p)
        partial_hi = cure_p + PARTIAL_PAYMENT_HAZARD
        partial = open_delinquent & ~cures & (u < partial_hi)
        pays_off = open_delinquent & ~cures & ~partial & (u < partial_hi + DELINQUENT_PAYOFF_HAZARD)

        if payoff.any() or pays_off.any():
            idx = np.flatnonzero(payoff | pays_off)
            state.status[idx] = PAID_IN_FULL
            state.dpd_at_effective[idx] = 0
            state.balance[idx] = 0
            state.due[idx] = 0
            state.last_payment[idx] = day
        if falls_behind.any():
            idx = np.flatnonzero(falls_behind)
            state.status[idx] = DELINQUENT
            state.dpd_at_effective[idx] = 1
            state.due[idx] = state.installment[idx]
        if cures.any():
            idx = np.flatnonzero(cures)
            state.status[idx] = CURRENT
            state.dpd_at_effective[idx] = 0
            state.balance[idx] = np.maximum(state.balance[idx] - state.due[idx] * 6 // 10, 0)
            state.due[idx] = 0
            state.last_payment[idx] = day
        if partial.any():
            idx = np.flatnonzero(partial)
            share = 0.3 + 0.7 * (u[idx] - cure_p[idx]) / PARTIAL_PAYMENT_HAZARD  # reuse the draw: uniform
            amount = np.minimum(np.round(state.installment[idx] * share).astype(np.int64), state.due[idx])
            state.dpd_at_effective[idx] = dpd[idx]
            state.due[idx] -= amount
            state.balance[idx] = np.maximum(state.balance[idx] - amount * 6 // 10, 0)
            state.last_payment[idx] = day
        if charge_off.any():
            idx = np.flatnonzero(charge_off)
            state.status[idx] = CHARGED_OFF
            state.dpd_at_effective[idx] = CHARGE_OFF_DPD

        changed = np.flatnonzero(payoff | pays_off | falls_behind | cures | partial | charge_off)
        state.effective[changed] = day
        parts.append((changed, np.full(len(changed), day, dtype=np.int32), state.status[changed].copy(),
                      state.dpd_at_effective[changed].copy(), state.balance[changed].copy(),
                      state.due[changed].copy(), state.last_payment[changed].copy()))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Changes(empty, empty, empty, empty, empty, empty, empty)
    return Changes(*(np.concatenate([p[i] for p in parts]) for i in range(7)))


def load_time(seed: int, day: dt.date) -> dt.datetime:
    """When the tape of business day ``day`` lands: 05:15-05:45 ET, as naive UTC."""
    jitter = np.random.default_rng([seed, 4, day_number(day)]).integers(0, 30 * 60)
    return et_to_utc(day, "05:15", float(jitter))


def tape_frame(state: TapeState, changes: Changes, loaded_at: np.ndarray) -> pd.DataFrame:
    """Loan-tape rows for ``changes``; ``loaded_at`` is a datetime64 per change."""
    return pd.DataFrame({
        "ACCOUNT_ID": state.account_id[changes.index],
        "EFFECTIVE_DATE": _dates(changes.effective),
        "LOAN_STATUS": STATUSES[changes.status],
        "DAYS_PAST_DUE_AT_EFFECTIVE": changes.dpd_at_effective.astype(np.int32),
        "PRINCIPAL_BALANCE": changes.balance / 100,
        "AMOUNT_DUE": changes.due / 100,
        "LAST_PAYMENT_DATE": _dates(changes.last_payment),
        "LOADED_AT": loaded_at,
    })


def load_tape(session: Session, tables: TableNames, seed: int, state: TapeState, changes: Changes,
              previous_load: dt.date | None, loads: list[dt.date]) -> dict:
    """Write ``changes`` (effective after ``previous_load``, up to the last of ``loads``) and one
    loan_tape_loads row per business day in ``loads``; each change belongs to the first load on or after it."""
    if not loads:
        return {"loads": 0, "changes": 0}
    load_days = np.array([day_number(d) for d in loads])
    load_at = np.array([load_time(seed, d) for d in loads], dtype="datetime64[us]")
    which = np.searchsorted(load_days, changes.effective)  # first load day >= effective day
    frame = tape_frame(state, changes, load_at[which])
    per_load = np.bincount(which, minlength=len(loads))
    open_accounts = int(np.count_nonzero(state.status <= DELINQUENT))
    loads_frame = pd.DataFrame({
        "AS_OF_DATE": _dates(load_days),
        "LOADED_AT": load_at,
        "ACCOUNTS": np.full(len(loads), len(state.status)),
        "CHANGES": per_load,
    })
    after = f"'{previous_load.isoformat()}'" if previous_load else "'0001-01-01'"
    # A crashed earlier run may have left rows past the last recorded load: clear them first.
    in_transaction(session, [f"DELETE FROM {tables.loan_tape} WHERE EFFECTIVE_DATE > {after}",
                             f"DELETE FROM {tables.loan_tape_loads} WHERE AS_OF_DATE > {after}"])
    load_frame(session, frame, tables.loan_tape)
    load_frame(session, loads_frame, tables.loan_tape_loads)  # last: marks the loads complete
    logger.info("loan tape: %d loads through %s, %d changes, %d open accounts", len(loads), loads[-1],
                len(frame), open_accounts)
    return {"loads": len(loads), "changes": len(frame), "open_accounts": open_accounts}


def start_date(first_list_date: dt.date) -> dt.date:
    """The tape's first business day: about ``HISTORY_LEAD_DAYS`` before the first list date."""
    day = first_list_date - dt.timedelta(days=HISTORY_LEAD_DAYS)
    return day if is_business_day(day) else previous_business_day(day)


def extend(session: Session, tables: TableNames, seed: int, state: TapeState, last_as_of: dt.date,
           through: dt.date) -> dict:
    """Simulate the calendar days after ``last_as_of`` up to the last business day <= ``through`` and load
    them, one loan_tape_loads row per business day. ``state`` is advanced in place."""
    loads = business_days(last_as_of + dt.timedelta(days=1), through)
    if not loads:
        return {"loads": 0, "changes": 0}
    changes = simulate(state, seed, day_number(last_as_of) + 1, day_number(loads[-1]))
    return load_tape(session, tables, seed, state, changes, last_as_of, loads)


def write_initial_tape(session: Session, tables: TableNames, seed: int, accounts: pd.DataFrame,
                       start: dt.date) -> TapeState:
    """Load the tape's first snapshot on business day ``start``; return the state for ``extend``."""
    state = initial_state(accounts, seed, start)
    load_tape(session, tables, seed, state, snapshot(state), None, [start])
    return state


def stored_state(session: Session, tables: TableNames) -> tuple[TapeState, dt.date] | None:
    """The state held in the warehouse (latest tape row per account) and the last load's date."""
    loads = session.table(tables.loan_tape_loads).select(F.max("AS_OF_DATE").alias("LAST")).collect()
    if not loads or loads[0]["LAST"] is None:
        return None
    last_as_of = loads[0]["LAST"]
    latest = Window.partition_by("ACCOUNT_ID").order_by(F.col("EFFECTIVE_DATE").desc())
    rows = (session.table(tables.loan_tape).filter(F.col("EFFECTIVE_DATE") <= F.lit(last_as_of))
            .select("ACCOUNT_ID", "LOAN_STATUS", "DAYS_PAST_DUE_AT_EFFECTIVE", "EFFECTIVE_DATE",
                    "PRINCIPAL_BALANCE", "AMOUNT_DUE", "LAST_PAYMENT_DATE",
                    F.row_number().over(latest).alias("RN"))
            .filter(F.col("RN") == 1))
    accounts = session.table(tables.accounts).select("ACCOUNT_ID", "RISK_SCORE", "MONTHLY_PAYMENT")
    epoch = F.lit(EPOCH)

    def whole(column: str, scale: int = 1) -> Column:
        # Integers only: decimals and dates would reach pandas as Python objects, slow at a million rows.
        return F.round(F.col(column) * scale).cast(LongType()).alias(column)

    status_code = F.lit(0)
    for code, name in enumerate(STATUSES):
        status_code = F.when(F.col("LOAN_STATUS") == str(name), F.lit(code)).otherwise(status_code)
    frame = (rows.join(accounts, on="ACCOUNT_ID")
             .select(whole("ACCOUNT_ID"), whole("RISK_SCORE"), whole("MONTHLY_PAYMENT", 100),
                     status_code.cast(LongType()).alias("STATUS"), whole("DAYS_PAST_DUE_AT_EFFECTIVE"),
                     F.datediff("day", epoch, F.col("EFFECTIVE_DATE")).cast(LongType()).alias("EFFECTIVE_DAY"),
                     whole("PRINCIPAL_BALANCE", 100), whole("AMOUNT_DUE", 100),
                     F.datediff("day", epoch, F.col("LAST_PAYMENT_DATE")).cast(LongType()).alias("LAST_PAYMENT_DAY"))
             .sort("ACCOUNT_ID").to_pandas())
    # copy=True: an unconverted column can come back as a read-only view of the Arrow buffer (seen with a
    # small portfolio, in one chunk), and ``simulate`` updates the state in place.
    state = TapeState(
        account_id=frame["ACCOUNT_ID"].to_numpy(np.int64, copy=True),
        relative_risk=relative_risk(frame["RISK_SCORE"].to_numpy()),
        installment=frame["MONTHLY_PAYMENT"].to_numpy(np.int64, copy=True),
        status=frame["STATUS"].to_numpy().astype(np.int8),
        dpd_at_effective=frame["DAYS_PAST_DUE_AT_EFFECTIVE"].to_numpy().astype(np.int16),
        effective=frame["EFFECTIVE_DAY"].to_numpy().astype(np.int32),
        balance=frame["PRINCIPAL_BALANCE"].to_numpy(np.int64, copy=True),
        due=frame["AMOUNT_DUE"].to_numpy(np.int64, copy=True),
        last_payment=frame["LAST_PAYMENT_DAY"].to_numpy().astype(np.int32),
    )
    return state, last_as_of


def extend_loan_tape(session: Session, settings: DemoConfig, through: dt.date) -> dict:
    """Continue the stored tape through ``through`` (the worker's daily load). Idempotent: a date that is
    already loaded changes nothing."""
    stored = stored_state(session, settings.tables)
    if stored is None:
        raise RuntimeError("The loan tape is empty: seed the demo warehouse first (python -m console seed).")
    state, last_as_of = stored
    if through <= last_as_of:
        return {"loads": 0, "changes": 0, "last_as_of": last_as_of.isoformat()}
    result = extend(session, settings.tables, settings.demo_seed, state, last_as_of, through)
    return {**result, "last_as_of": through.isoformat()}
