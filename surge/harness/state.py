"""What the harness keeps of each Locust environment in this process, and one test run's state
from its start to its run folder.

Locust passes one `Environment` around; the harness keeps one `Attached` beside each (the
target decided for it, a worker's plan, the run it is running), rather than on it, so nothing
of Locust's is patched.
"""

from __future__ import annotations

import sys
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gevent
from locust.env import Environment

from surge.day.profile import Profile
from surge.harness.dispatch import Dispatcher
from surge.harness.distributed import Fleet, Outbox, SharePlan
from surge.harness.host import HostWatch
from surge.harness.options import Settings
from surge.harness.scrape import Scraper
from surge.judge.verdict import Verdict
from surge.runfolder import GeneratorSample, RequestLog, Stopped
from surge.visit.binding import Binding
from surge.visit.target import Target, check_writes, recognise
from surge.visit.wire import RequestRecord

SHRINK_TICKS = 5
"""The pool shrinks only to the largest need of the last this-many ticks (about seconds)."""


@dataclass(slots=True)
class Follower:
    """A capacity search's run (`--levels`): where its plan is, the searched phase at rate scale
    1, and the levels started so far (multiple, start in run seconds), the first at 0."""

    plan: Path
    phase: Profile
    started: list[tuple[float, float]]
    ended: bool = False
    """The day was ended as the plan asked."""


class Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass(slots=True)
class RunState:
    """What this process knows of its run. A local run or a master writes the run folder (and
    has a `log`); a worker runs its share and ships what it records (its `outbox`)."""

    settings: Settings
    host: str
    sink: Callable[[tuple[Any, ...]], None]
    """Where each request's record goes: the `log`, or a worker's `outbox`."""
    started: float = field(default_factory=time.time)
    ended: float | None = None
    folder: Path | None = None
    log: RequestLog | None = None
    dispatcher: Dispatcher | None = None
    """This process's day (a local run's, a worker's share); None on a master."""
    fleet: Fleet | None = None
    """The master's merge of its workers' shares (a distributed run's master only)."""
    outbox: Outbox | None = None
    """What a worker has yet to ship to the master (a worker only)."""
    branches: dict[str, int] = field(default_factory=dict)
    binding: Binding | None = None
    """The binding this process's journeys call (`options.bind`), made as the run starts."""
    visits: dict[str, int] = field(default_factory=lambda: {"ok": 0, "unfinished": 0, "error": 0})
    """How the visits this process started ended."""
    expected_alerts: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    """Why the run could not start (the target unreachable, onboarding refused)."""
    target: Target | None = None
    """What the target is (the mock core or not), decided at start (`target`)."""
    skipped: list[str] = field(default_factory=list)
    """The mock core's parts skipped against another target, a line each (`Target.skipped`)."""
    admin: bool = False
    """The target took the admin token: faults were posted, reconcile and alerts are fetched."""
    scraper: Scraper | None = None
    watch: HostWatch | None = None
    """This process's host, sampled from its test start to its stop (`surge.harness.host`)."""
    needs: deque[int] = field(default_factory=lambda: deque(maxlen=SHRINK_TICKS))
    """The shape's last answers."""
    cpu_mark: tuple[float, float] | None = None
    """(monotonic, process CPU) seconds at the shape's last tick."""
    reports: dict[str, float] = field(default_factory=dict)
    """The master: when each worker last sent Locust's own stats."""
    greenlets: list[gevent.Greenlet] = field(default_factory=list)
    """The run's own loops (shipping batches), killed when it closes."""
    flusher: Stoppable | None = None
    """Writes the log's records as the run goes, and the last of them when stopped
    (`lifecycle`): a local run's or a master's."""
    closing: gevent.Greenlet | None = None
    """Ends the run and writes the folder (`lifecycle.finish_run`)."""
    verdict: Verdict | None = None
    errors: int = 0
    """Requests retried or failed so far, as the records reach the run folder."""
    stopped: Stopped | None = None
    """Set once the error budget is spent: the shape then ends the run."""
    levels: Follower | None = None
    """A capacity search's run: the shape moves its rate between levels (`harness.levels`)."""
    samples: list[GeneratorSample] = field(default_factory=list)
    """This process's samples of its host taken from the watch so far (a capacity search's run
    writes them as it goes)."""

    def keep(self, record: RequestRecord) -> None:
        """Hold a request as an exact tuple of strings and numbers, which Python's collector stops
        tracking: full collections that scanned a run's records paused the load for up to
        175 ms, the whole p99 of start lag."""
        self.sink(tuple(record))


@dataclass(slots=True)
class Attached:
    """What the harness keeps of one Locust environment."""

    target: Target | None = None
    """The decision made about its target (`target`)."""
    plan: SharePlan | None = None
    """A worker's plan from the master, until its test starts."""
    run: RunState | None = None
    """The run it is running; a new swarm from the web UI replaces the last."""


_attached: weakref.WeakKeyDictionary[Environment, Attached] = weakref.WeakKeyDictionary()


def attached(environment: Environment) -> Attached:
    return _attached.setdefault(environment, Attached())


def current(environment: Environment) -> RunState | None:
    return attached(environment).run


def begin(environment: Environment, run: RunState) -> None:
    """`run` is now the environment's run (a new swarm from the web UI replaces the last)."""
    attached(environment).run = run


def target(environment: Environment, chosen: Settings) -> Target:
    """Is the target the mock core, and may the journeys write to it? Decided once, at init
    where the host is known then; a `BadInput` (one line) when the writes may not go there."""
    host = environment.host or ""
    kept = attached(environment)
    known = kept.target
    if known is not None and known.host == host and known.answered:
        return known
    found = recognise(host, chosen.credentials)
    check_writes(found, chosen.allow_hosts)
    kept.target = found
    return found


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
