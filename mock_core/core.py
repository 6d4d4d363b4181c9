"""`Core`: the one object every handler reaches, holding the store, the settings and the clock."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request

from mock_core.faults import Faults
from mock_core.lanes import Lanes
from mock_core.sessions import Signer, SourceThrottle
from mock_core.settings import Settings


@dataclass
class Core:
    settings: Settings
    conn: sqlite3.Connection
    db_path: Path
    lanes: Lanes
    faults: Faults
    signer: Signer
    """Signs and verifies customer sessions with the ledger's secret."""
    throttle: SourceThrottle
    """Failed logins per source, refused past their limit before any card is tried."""
    clock: Callable[[], float] = time.time
    tokens: dict[str, str] = field(default_factory=dict)
    """Bearer token -> channel name."""
    in_flight: set[tuple[str, str]] = field(default_factory=set)
    """(caller, idempotency key) pairs whose first request has not finished yet."""


def core_of(request: Request) -> Core:
    core: Core = request.app.state.core
    return core
