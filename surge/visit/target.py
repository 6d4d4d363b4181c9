"""What the harness is pointed at: the mock core, or another system (the bank's), and whether
its journeys may write there.

Decided once at start, from the target's own answer rather than a flag: the mock core serves
its OpenAPI document under its title at `/openapi.json` without a token. The profile's faults,
`/admin/*` (reconcile, alerts, the ledger's keys), the scrape of its `/metrics` and the crash
drill belong to the mock core; against another target each is skipped with one line
(`Target.skipped`), and the report's correctness section says which checks could not run.

Writes move money: they go only to the mock core or to a host named in `--allow-host`, so a
typo in `--host` cannot reach an unintended system. Anything else is refused before any write
leaves (`check_writes`, bad input).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from surge.exits import BadInput
from surge.visit.credentials import Credentials

MOCK_CORE_TITLE = "branch-surge mock core"
"""`info.title` of the mock core's `/openapi.json` (mock_core/app.py)."""
PROBE_TIMEOUT_S = 10.0
REACH_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    mock_core: bool
    """It answered as the mock core does."""
    answered: bool = True
    """False: no answer at all (unreachable), so nothing is known of it yet."""

    def skipped(self, what: str) -> str:
        """The one line saying a mock-core-only part is skipped against this target."""
        return f"{what} skipped: {self.host} is not the mock core"


def check_reachable(host: str, credentials: Credentials) -> None:
    """Refuse (bad input) a `--host` that gives no HTTP answer at all, before anything starts:
    a rehearsal or a search against nothing would only record that nothing answered. Any
    answer will do (a bank's API need not have the mock core's /healthz)."""
    try:
        with credentials.http_client(host, REACH_TIMEOUT_S) as client:
            client.get("")
    except httpx.HTTPError as error:
        raise BadInput(f"--host: cannot reach {host}: {error}") from None


def recognise(host: str, credentials: Credentials) -> Target:
    """Ask `host` what it is: one GET of `/openapi.json`, never a write."""
    try:
        with credentials.http_client(host, PROBE_TIMEOUT_S) as client:
            answer = client.get("/openapi.json")
    except httpx.HTTPError:
        return Target(host, mock_core=False, answered=False)
    try:
        title = answer.json().get("info", {}).get("title") if answer.status_code == 200 else None
    except (ValueError, AttributeError):
        title = None
    return Target(host, mock_core=title == MOCK_CORE_TITLE)


def allowed(host: str, allow_hosts: Collection[str]) -> bool:
    """`host` is named in `allow_hosts`, by its host name or its `name:port`."""
    parts = urlsplit(host)
    name = (parts.hostname or "").lower()
    named = {entry.strip().lower().rstrip("/") for entry in allow_hosts}
    return name in named or (parts.port is not None and f"{name}:{parts.port}" in named)


def check_writes(target: Target, allow_hosts: Collection[str]) -> None:
    """Refuse (bad input) a target that answered, is not the mock core and is not allowed."""
    if not target.answered or target.mock_core or allowed(target.host, allow_hosts):
        return
    name = urlsplit(target.host).hostname
    raise BadInput(
        f"--host: {target.host} is not the mock core (its /openapi.json says otherwise) and "
        f"--allow-host does not name {name}: no write sent"
    )
