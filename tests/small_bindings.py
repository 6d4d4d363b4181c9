"""Bindings the tests name with `--binding tests.small_bindings:Name` (Locust imports them)."""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from surge.bindings.mock_core import MockCore
from surge.visit import OPERATIONS, BindingOptions

CALLS_FILE = "SURGE_TEST_BINDING_CALLS"
"""Where `Counting` writes the calls it saw when its process ends (a JSON object)."""


class Counting(MockCore):
    """The mock core's binding, counting each operation called."""

    calls: ClassVar[Counter[str]] = Counter()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, options: BindingOptions) -> None:
        super().__init__(options)
        path = os.environ.get(CALLS_FILE)
        if path:
            atexit.register(lambda: Path(path).write_text(json.dumps(self.calls)))


def _counted(name: str) -> Any:
    inner = getattr(MockCore, name)

    def method(self: Counting, *args: Any, **kwargs: Any) -> Any:
        with Counting._lock:  # onboarding calls from threads
            Counting.calls[name] += 1
        return inner(self, *args, **kwargs)

    return method


for _name in OPERATIONS:
    setattr(Counting, _name, _counted(_name))


class NoLoans(MockCore):
    """A system without loans or FX: a profile whose counter mix has them cannot run on it."""

    operations: ClassVar[frozenset[str]] = OPERATIONS - {
        "apply_loan",
        "decide_loan",
        "quote_fx",
        "exchange_fx",
    }


class NoOnboarding(MockCore):
    """A system whose customers come from a data pool only."""

    operations: ClassVar[frozenset[str]] = OPERATIONS - {"onboard"}


NOT_A_CLASS = 42


class Broken:
    operations: ClassVar[frozenset[str]] = frozenset({"open_session", "teleport"})
