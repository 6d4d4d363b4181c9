"""Were the books right and the fraud seen, under the surge?

- The ledger: each check of the target's `/admin/reconcile` answer, with its figures.
- The writes: the run's own record of its writes against the target's ledger export
  (`surge.judge.durability`): every acknowledged write present exactly once, no retry posted twice,
  the writes whose outcome the client never learned present once or not at all (counted).
- Retries: attempts sent again, and the steps that still gave up; every write kept one
  idempotency key across its retries (`surge.visit.wire`), so a retry can never post twice.
- Anti-money laundering: the suspicious visits the run injected (`expected_alerts.json`, each
  with the alert its movements should raise) against the target's alerts (`alerts.json`):
  recall by pattern, the alerts on customers who were not suspicious, and the delay from the
  movement that raised it to the alert.

Without the target's admin answers (no admin token, or a target that is not the mock core)
each part says it could not be checked rather than passing; against a target that is not the
mock core (`surge.visit.target`, run.json's `mock_core`) the report lists them as checks that could
not run, unless the binding supplied its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from reports.frames import Frames, percentiles
from reports.i18n import N_
from surge.judge import durability
from surge.runfolder import RunFolder
from surge.visit.values import Check


@dataclass(frozen=True, slots=True)
class Pattern:
    rule: str
    injected: int
    alerted: int
    delay_p50_s: float | None
    delay_max_s: float | None

    @property
    def recall(self) -> float | None:
        return self.alerted / self.injected if self.injected else None


@dataclass(frozen=True)
class Correctness:
    reconcile: list[Check] | None
    """None: the ledger was not checked (no admin answer)."""
    writes: list[Check] | None
    """The run's writes against the ledger export; None: not checked (no admin answer)."""
    retried: int
    """Attempts that were sent again."""
    retried_steps: int
    """Steps that needed more than one attempt."""
    gave_up: int
    """Steps that failed for good."""
    patterns: list[Pattern] | None
    """None: the alerts were not fetched."""
    false_alerts: dict[str, int] | None
    """Alerts on ordinary customers (those with no suspicious visit at all), by rule."""
    not_mock_core: bool = False
    """The target answered, and not as the mock core: what needs its admin answers could not
    run (rather than: the run had no admin token)."""

    @property
    def could_not_run(self) -> list[str]:
        """The checks that could not run against a target that is not the mock core, named for
        the report (message ids)."""
        if not self.not_mock_core:
            return []
        parts = [
            (self.reconcile, N_("the ledger's reconcile")),
            (self.writes, N_("the writes against the ledger")),
            (self.patterns, N_("anti-money-laundering recall")),
        ]
        return [name for found, name in parts if found is None]

    @property
    def reconciled(self) -> bool | None:
        return None if self.reconcile is None else all(check.ok for check in self.reconcile)

    @property
    def missed(self) -> int:
        return sum(p.injected - p.alerted for p in self.patterns or [])


def correctness(run: RunFolder, frames: Frames) -> Correctness:
    requests = frames.requests
    outcome = requests["outcome"]
    settled = requests[outcome != "retried"]
    retried_steps = int((settled["retries"] > 0).sum())
    patterns, false_alerts = _detection(run)
    return Correctness(
        reconcile=_reconcile(run.reconcile),
        writes=durability.checks(run),
        retried=int((outcome == "retried").sum()),
        retried_steps=retried_steps,
        gave_up=int((outcome == "failed").sum()),
        patterns=patterns,
        false_alerts=false_alerts,
        not_mock_core=run.info.mock_core is False,
    )


def _reconcile(answer: dict[str, Any] | None) -> list[Check] | None:
    if answer is None:
        return None
    return [
        Check(
            str(check.get("name", "?")),
            str(check.get("description", "")),
            bool(check.get("ok")),
            dict(check.get("figures") or {}),
        )
        for check in answer.get("checks", [])
    ]


def _detection(run: RunFolder) -> tuple[list[Pattern] | None, dict[str, int] | None]:
    if run.alerts is None:
        return None, None
    alerts = pd.DataFrame(run.alerts, columns=["rule", "customer_id", "detected_at"])
    expected = pd.DataFrame(run.expected_alerts, columns=["rule", "customer_id", "account"])
    sent = _pattern_requests(run, set(expected["rule"]))
    patterns = []
    for rule in sorted(set(expected["rule"])):
        wanted = expected[expected["rule"] == rule].drop_duplicates("customer_id")
        seen = alerts[alerts["rule"] == rule].groupby("customer_id")["detected_at"].min()
        hit = [c for c in wanted["customer_id"] if c in seen.index]
        delays = pd.Series([_delay(sent, rule, c, seen[c]) for c in hit], dtype=float).dropna()
        spread = percentiles(delays, ps=(50,)) if len(delays) else None
        patterns.append(
            Pattern(
                rule,
                len(wanted),
                len(hit),
                None if spread is None else float(spread["p50"].iloc[0]),
                None if spread is None else float(spread["max"].iloc[0]),
            )
        )
    ordinary = alerts[~alerts["customer_id"].isin(set(expected["customer_id"]))]
    return patterns, {str(rule): int(n) for rule, n in ordinary["rule"].value_counts().items()}


def _pattern_requests(run: RunFolder, rules: set[str]) -> pd.DataFrame:
    """The requests of the run's suspicious visits: `journey` (the rule), `customer`, `start`."""
    table = run.requests(["journey", "customer", "start"], dictionary=True).to_pandas()
    return table[table["journey"].isin(rules)].sort_values("start")


def _delay(sent: pd.DataFrame, rule: str, customer: str, detected_at: float) -> float | None:
    """Seconds from the sending of the movement that raised the alert (the customer's last
    request of the pattern sent before it) to the alert."""
    mine = sent[(sent["journey"] == rule) & (sent["customer"] == customer)]
    before = mine[mine["start"] <= detected_at]
    return None if before.empty else float(detected_at - before["start"].iloc[-1])
