"""What the report's identifiers mean, for the languages that need it said beside them.

Objectives, channels, journeys, lanes, phases and faults keep their identifiers everywhere
(the profile, summary.json and junit.xml name them so): the Chinese report shows each with
its meaning beside it, `kiosk.p95_ms（自助机 p95 响应时间）` (`reports.i18n.Words.label`). The
glosses are English message ids like every other word of the report, translated by the
catalogue. `CHECKS` are the mock core's descriptions of its ledger checks (docs/mock-core.md),
which a run folder records in English: the report says them in its language when it knows
them, and another system's as they came (tests/test_report_i18n.py holds them to the mock
core's own).
"""

from __future__ import annotations

import re

from reports.i18n import N_, Words

GLOSSES = {
    # channels
    "counter": N_("counter"),
    "kiosk": N_("kiosk"),
    "online": N_("online"),
    # the objectives' metrics
    "p95_ms": N_("p95 response time"),
    "p99_ms": N_("p99 response time"),
    "error_rate": N_("error rate"),
    "customer_wait_p95_s": N_("customer wait p95"),
    # journeys
    "cash_deposit": N_("cash deposit"),
    "cash_withdrawal": N_("cash withdrawal"),
    "transfer": N_("transfer"),
    "loan_application": N_("loan application"),
    "wealth_order": N_("wealth order"),
    "fx_exchange": N_("foreign exchange"),
    "enquiry": N_("enquiry"),
    "complaint": N_("complaint"),
    "balance": N_("balance enquiry"),
    "statement": N_("statement"),
    "own_transfer": N_("transfer between own accounts"),
    "fx_quote": N_("exchange rate quote"),
    "ticket": N_("queue ticket"),
    "browse_slots": N_("browsing appointment slots"),
    "book": N_("booking an appointment"),
    "cancel": N_("cancelling an appointment"),
    "check_in": N_("checking in"),
    "structuring": N_("structuring"),
    "large_cash": N_("large cash"),
    "fan_in": N_("fan-in"),
    # the mock core's lanes
    "teller-core": N_("teller core"),
    "kiosk-gateway": N_("kiosk gateway"),
    "booking": N_("booking system"),
    "queue": N_("queue ticketing"),
    "fx": N_("foreign exchange"),
    "wealth": N_("wealth management"),
    "loans": N_("loans"),
    "enquiries": N_("enquiries"),
    # the shipped profiles' phases
    "opening_rush": N_("opening rush"),
    "morning": N_("morning"),
    "morning_spike": N_("morning spike"),
    "lunch": N_("lunch"),
    "lunch_peak": N_("lunch peak"),
    "afternoon": N_("afternoon"),
    "closing": N_("closing"),
    "release_rush": N_("release rush"),
    "sell_out": N_("sell-out"),
    # faults
    "latency": N_("latency"),
    "error": N_("errors"),
    "reset": N_("connection resets"),
    "hang": N_("hang"),
    "slow_body": N_("slow answers"),
    "lane_down": N_("lane down"),
    "brownout": N_("brownout"),
    "crash": N_("crash"),
}
"""Each identifier's gloss: an objective, a fault and a lane target are glossed word by word
(`kiosk` `p95_ms`; `brownout` `kiosk-gateway`)."""
CHECKS = (
    N_("every journal entry's postings sum to zero in each currency"),
    N_("every stored balance equals the replay of the account's postings"),
    N_("money held equals opening cash plus cash in minus cash out, per currency"),
    N_("no customer account, vault or income account below zero"),
    N_("at most one journal entry per caller's idempotency key, each with its stored response"),
    N_("no appointment slot holds more bookings than its capacity"),
    N_("no wealth product sold beyond its quota"),
)
_WORDS = re.compile(r"[.: ]+")
"""What separates the words of an identifier: `kiosk.p95_ms`, `brownout lane:kiosk-gateway`."""


def label(words: Words, identifier: str) -> str:
    """`identifier` with its meaning beside it in a language that is not the identifiers' own
    (English): `kiosk.p95_ms（自助机 p95 响应时间）`; as it is when nothing of it is known."""
    if words.language == "en":
        return identifier
    known = [GLOSSES[part] for part in _WORDS.split(identifier) if part in GLOSSES]
    if not known:
        return identifier
    return f"{identifier}（{' '.join(words(gloss) for gloss in known)}）"
