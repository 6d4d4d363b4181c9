"""Anti-money-laundering screening of every cash movement and transfer.

Each movement is recorded as an event (customer, account, counterparty, direction, CNY amount);
the rules then look back over the events and raise alerts, listed at `/admin/alerts`. Screening
never refuses a movement: it runs inside the write transaction only so that an alert exists
exactly when its movements do.

Every rule is a function `(conn, rules, event) -> Alert | None` that returns early when the
movement cannot trigger it, so a write costs one or two range scans of the `aml_events` indexes
(plus one look-up of `aml_alerts` when a rule is about to fire, to keep from re-alerting).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from mock_core.money import to_minor, to_wire
from mock_core.settings import AmlRules, Settings

DAY_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class Movement:
    customer_n: int
    account_id: str
    direction: str
    """'in' or 'out' of the account."""
    kind: str
    """'cash' or 'transfer'."""
    amount: int
    currency: str
    journal_n: int
    at: float
    counterparty_n: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A movement as screened: its amount in CNY minor units."""

    movement: Movement
    amount_cny: int


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    journal_ns: list[int]
    detail: str


def to_cny(settings: Settings, amount: int, currency: str) -> int:
    if currency == "CNY":
        return amount
    return int(Decimal(amount) * settings.fx_rates[currency])


def screen(conn: sqlite3.Connection, settings: Settings, movements: list[Movement]) -> None:
    """Record `movements` and raise the alerts they trigger (inside the caller's transaction)."""
    events = [Event(m, to_cny(settings, m.amount, m.currency)) for m in movements]
    conn.executemany(
        "INSERT INTO aml_events (customer_n, account_id, counterparty_n, direction, kind,"
        " amount_cny, journal_n, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e.movement.customer_n,
                e.movement.account_id,
                e.movement.counterparty_n,
                e.movement.direction,
                e.movement.kind,
                e.amount_cny,
                e.movement.journal_n,
                e.movement.at,
            )
            for e in events
        ],
    )
    for event in events:
        for rule in RULES:
            alert = rule(conn, settings.aml, event)
            if alert is not None:
                _raise(conn, event.movement, alert)


def large_cash(conn: sqlite3.Connection, rules: AmlRules, event: Event) -> Alert | None:
    """A customer's cash in and out on one UTC day reaches the threshold (single or cumulative).

    The alert fires on the movement that carries the day's total across the threshold, so a
    customer gets one alert per day with no look-up of earlier alerts.
    """
    m = event.movement
    if m.kind != "cash":
        return None
    threshold = to_minor(rules.large_cash_threshold)
    day = m.at - m.at % DAY_SECONDS
    # A running total per customer and day: this runs on every cash write, whose cost must not
    # grow with the day's traffic.
    (total,) = conn.execute(
        "INSERT INTO aml_daily_cash (customer_n, day, amount_cny) VALUES (?, ?, ?)"
        " ON CONFLICT (customer_n, day) DO UPDATE SET amount_cny = amount_cny + excluded.amount_cny"
        " RETURNING amount_cny",
        (m.customer_n, day, event.amount_cny),
    ).fetchone()
    if not total - event.amount_cny < threshold <= total:
        return None
    same_day = "FROM aml_events WHERE customer_n = ? AND at >= ? AND at < ? AND kind = 'cash'"
    params = (m.customer_n, day, day + DAY_SECONDS)
    journals = [r[0] for r in conn.execute(f"SELECT journal_n {same_day} ORDER BY at, n", params)]
    date = datetime.fromtimestamp(day, UTC).date().isoformat()
    return Alert(
        "large_cash",
        journals,
        f"cash of {to_wire(total)} CNY on {date} in {len(journals)} movement(s)"
        f" reaches the large-value threshold {to_wire(threshold)} CNY",
    )


def structuring(conn: sqlite3.Connection, rules: AmlRules, event: Event) -> Alert | None:
    """Several cash deposits by one customer, each just under the threshold, within the window."""
    m = event.movement
    threshold = to_minor(rules.large_cash_threshold)
    floor = to_minor(rules.structuring_band * rules.large_cash_threshold)
    if m.kind != "cash" or m.direction != "in" or not floor <= event.amount_cny < threshold:
        return None
    since = m.at - rules.structuring_window_hours * 3600
    rows = conn.execute(
        "SELECT journal_n, amount_cny FROM aml_events WHERE customer_n = ? AND at > ? AND at <= ?"
        " AND kind = 'cash' AND direction = 'in' AND amount_cny >= ? AND amount_cny < ?"
        " ORDER BY at, n",
        (m.customer_n, since, m.at, floor, threshold),
    ).fetchall()
    if len(rows) < rules.structuring_count or _alerted(conn, "structuring", m.account_id, since):
        return None
    return Alert(
        "structuring",
        [r["journal_n"] for r in rows],
        f"{len(rows)} cash deposits totalling {to_wire(sum(r['amount_cny'] for r in rows))} CNY"
        f" within {rules.structuring_window_hours:g} h, each from {to_wire(floor)} to under"
        f" {to_wire(threshold)} CNY",
    )


def fan_in(conn: sqlite3.Connection, rules: AmlRules, event: Event) -> Alert | None:
    """Money from many distinct other customers into one account within the window."""
    m = event.movement
    if m.direction != "in" or m.counterparty_n in (None, m.customer_n):
        return None
    since = m.at - rules.fan_in_window_minutes * 60
    rows = conn.execute(
        "SELECT journal_n, counterparty_n, amount_cny FROM aml_events WHERE account_id = ?"
        " AND at > ? AND at <= ? AND direction = 'in' AND counterparty_n != customer_n"
        " ORDER BY at, n",
        (m.account_id, since, m.at),
    ).fetchall()
    sources = {r["counterparty_n"] for r in rows}
    if len(sources) < rules.fan_in_sources or _alerted(conn, "fan_in", m.account_id, since):
        return None
    return Alert(
        "fan_in",
        [r["journal_n"] for r in rows],
        f"{len(sources)} distinct sources paid {to_wire(sum(r['amount_cny'] for r in rows))} CNY"
        f" in {len(rows)} movements within {rules.fan_in_window_minutes:g} min",
    )


def rapid_in_out(conn: sqlite3.Connection, rules: AmlRules, event: Event) -> Alert | None:
    """Money received and paid straight out again: the outflow in the window nears the inflow."""
    m = event.movement
    minimum = to_minor(rules.rapid_min_amount)
    if m.direction != "out" or event.amount_cny < minimum:
        return None
    since = m.at - rules.rapid_window_minutes * 60
    rows = conn.execute(
        "SELECT journal_n, direction, amount_cny FROM aml_events WHERE account_id = ?"
        " AND at > ? AND at <= ? ORDER BY at, n",
        (m.account_id, since, m.at),
    ).fetchall()
    inflow = sum(r["amount_cny"] for r in rows if r["direction"] == "in")
    outflow = sum(r["amount_cny"] for r in rows if r["direction"] == "out")
    if (
        inflow < minimum
        or outflow < rules.rapid_out_share * inflow
        or _alerted(conn, "rapid_in_out", m.account_id, since)
    ):
        return None
    return Alert(
        "rapid_in_out",
        [r["journal_n"] for r in rows],
        f"{to_wire(outflow)} CNY out after {to_wire(inflow)} CNY in within"
        f" {rules.rapid_window_minutes:g} min ({outflow / inflow:.0%}, limit"
        f" {rules.rapid_out_share:.0%})",
    )


RULES: tuple[Callable[[sqlite3.Connection, AmlRules, Event], Alert | None], ...] = (
    large_cash,
    structuring,
    fan_in,
    rapid_in_out,
)


def _alerted(conn: sqlite3.Connection, rule: str, account_id: str, since: float) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM aml_alerts WHERE rule = ? AND account_id = ? AND detected_at > ?"
            " LIMIT 1",
            (rule, account_id, since),
        ).fetchone()
        is not None
    )


def _raise(conn: sqlite3.Connection, m: Movement, alert: Alert) -> None:
    conn.execute(
        "INSERT INTO aml_alerts (rule, customer_n, account_id, journal_ns, detected_at, detail)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (alert.rule, m.customer_n, m.account_id, json.dumps(alert.journal_ns), m.at, alert.detail),
    )
