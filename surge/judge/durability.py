"""Proof that the books kept every write the customers were told of: the harness's own record of
its writes (`requests.parquet`: each write's idempotency `key`, and what each attempt got)
against the target's ledger export (`ledger.json`: per key, the answers stored and the journal
entries posted), at the end of every run, after a crash drill or not.

A write is one step's key, whatever its attempts:
- *acknowledged*: an attempt got a 2xx the journeys read (`outcome` ok). It must be in the
  ledger exactly once: one stored answer, of the status acknowledged, and at most one journal
  entry (a booking or a ticket posts none). No answer is a write lost; two, or two entries, a
  write doubled; another status, a write changed.
- *refused*: an attempt got a 4xx, the write's own answer: known, and not checked here (the
  reconcile checks that nothing was posted beside what was answered).
- *unknown*: no attempt got an answer of the write itself (every one a transport error, a 5xx
  or an unreadable 2xx): the client never learned whether it was applied, so it may be in the
  ledger once or not at all, and is counted either way; twice is a write doubled.
- *retried*: sent more than once: whatever it ended as, posted at most once.

Money conserved, no slot overbooked and no product oversold are the ledger's own reconcile
checks (`reconcile.json`); these are the ones only the client's record can make.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from surge.runfolder import RunFolder
from surge.visit.values import Check


@dataclass(slots=True)
class _Write:
    attempts: int = 0
    acknowledged: int | None = None
    """The status of the attempt that acknowledged it."""
    answered: bool = False
    """Some attempt got the write's own answer (a 2xx or a 4xx)."""


DESCRIPTIONS = {
    "acknowledged_once": "every acknowledged write is in the ledger exactly once",
    "retried_once": "no write sent more than once was posted twice",
    "unknown_at_most_once": "every write whose outcome the client never learned is in the "
    "ledger once or not at all",
}


def checks(run: RunFolder) -> list[Check] | None:
    """The checks, failed when the target's ledger could not be exported; None when the run had
    no admin token for it (not checked)."""
    export = run.ledger()
    if export is None:
        return None
    if "keys" not in export:
        why = f"the ledger could not be exported: {export.get('error', 'no keys')}"
        return [Check(name, text, False, {"error": why}) for name, text in DESCRIPTIONS.items()]
    ledger = {str(row["key"]): row for row in export["keys"]}
    writes = _writes(run)
    return [
        _acknowledged(writes, ledger),
        _retried(writes, ledger),
        _unknown(writes, ledger),
    ]


def _writes(run: RunFolder) -> dict[str, _Write]:
    table = run.requests(["key", "status", "outcome"])
    writes: dict[str, _Write] = {}
    for key, status, outcome in zip(
        *(table.column(name).to_pylist() for name in ("key", "status", "outcome")), strict=True
    ):
        if not key:
            continue  # a read
        write = writes.setdefault(key, _Write())
        write.attempts += 1
        if outcome == "ok":
            write.acknowledged = status
        if outcome == "ok" or 400 <= status < 500:
            write.answered = True
    return writes


def _held(ledger: dict[str, Any], key: str) -> tuple[int, int]:
    """(stored answers, journal entries) of `key`."""
    row = ledger.get(key)
    return (int(row["answers"]), int(row["entries"])) if row else (0, 0)


def _acknowledged(writes: dict[str, _Write], ledger: dict[str, Any]) -> Check:
    checked = lost = doubled = changed = 0
    for key, write in writes.items():
        if write.acknowledged is None:
            continue
        checked += 1
        answers, entries = _held(ledger, key)
        if answers == 0:
            lost += 1
        elif answers > 1 or entries > 1:
            doubled += 1
        elif ledger[key]["status"] != write.acknowledged:
            changed += 1
    return Check(
        "acknowledged_once",
        DESCRIPTIONS["acknowledged_once"],
        lost == doubled == changed == 0,
        {"checked": checked, "lost": lost, "doubled": doubled, "changed": changed},
    )


def _retried(writes: dict[str, _Write], ledger: dict[str, Any]) -> Check:
    retried = [key for key, write in writes.items() if write.attempts > 1]
    doubled = sum(1 for key in retried if max(_held(ledger, key)) > 1)
    return Check(
        "retried_once",
        DESCRIPTIONS["retried_once"],
        doubled == 0,
        {"retried": len(retried), "doubled": doubled},
    )


def _unknown(writes: dict[str, _Write], ledger: dict[str, Any]) -> Check:
    unknown = [key for key, write in writes.items() if not write.answered]
    held = [_held(ledger, key) for key in unknown]
    doubled = sum(1 for counts in held if max(counts) > 1)
    present = sum(1 for answers, entries in held if max(answers, entries) == 1)
    return Check(
        "unknown_at_most_once",
        DESCRIPTIONS["unknown_at_most_once"],
        doubled == 0,
        {
            "unknown": len(unknown),
            "present": present,
            "absent": len(unknown) - present - doubled,
            "doubled": doubled,
        },
    )
