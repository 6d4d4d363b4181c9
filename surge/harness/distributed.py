"""Locust's master/worker mode: each worker runs its share of the day; the master writes the folder.

Workers never share a disk with the master, so everything travels as plain (msgpack-able) data:

- master → each worker, `surge_plan`, sent when the master's test starts and so before the first
  spawn message on the same socket: the worker's share number and the share count, the day's
  start (epoch seconds, so every worker's schedule runs on one clock), the resolved profile, the
  seed, the branches and the worker's customers (with their logins: the message is the only
  place a worker gets them, and it is never written down).
- worker → master, `surge_batch` every `BATCH_S`: the request records made since the last batch,
  the expected alerts likewise, and cumulative figures (the whole `Lateness`, visits scheduled and
  finished) that the master keeps the latest of, plus what the shape needs (visits running and
  queued, mean visit time), and the worker's samples of its host since the last batch
  (`surge.harness.host`), which the master writes into `generator.csv` with its own.
- master → workers, `surge_level` in a capacity search's run: the day's profile with its next
  level (or its end) and the run time it applies from, a second or more ahead (`surge.day.levels`).
- master → workers, `surge_finish` when the master's test stops (headless runs end with Locust's
  `quit`, which never tells workers to stop first); each worker stops scheduling, lets its running
  visits end (at most `FINISH_WAIT_S`) and answers with a last batch marked final.

Each worker numbers its batches 0, 1, 2…, and a final batch is the last of its numbers. A
periodic batch can reach the master after the final one (the shipper is switched out inside its
send while the final goes), so the master counts a worker's share complete only when it holds
every number up to a final one, whatever order they came in, and a number it already holds
adds nothing. A worker asked twice sends a second final, numbered after the first, carrying only
what was recorded since; the figures kept are the highest-numbered batch's, the latest taken.

A worker that Locust's master loses (no heartbeat for about four seconds: `--heartbeat-liveness`
is not an option, Locust's `HEARTBEAT_LIVENESS` is 3 beats of 1 s) is no longer waited for: the
shape ends the day without it and the master writes the folder with what it had shipped, which
says how many workers' shares are complete.

Shares are numbered by the master, 0..N-1 in the order of Locust's worker indexes: Locust's own
index keeps counting when a worker reconnects, so it can leave gaps, and a share count must be
covered exactly. The master onboards the customers and sends each worker its `Pool.for_worker`
share: a data pool CSV exists on the master's disk only, onboarding once keeps one idempotency-key
space, and the run needs the target reachable before any worker starts anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from surge.bindings.loader import DEFAULT as DEFAULT_BINDING
from surge.day.arrivals import Lateness
from surge.day.profile import CHANNELS, Profile
from surge.harness.dispatch import PRIOR_VISIT_S, Dispatcher, users_needed
from surge.runfolder import GeneratorSample
from surge.visit.values import Customer

PLAN, BATCH, FINISH, LEVEL = "surge_plan", "surge_batch", "surge_finish", "surge_level"
BATCH_S = 2.0
"""How often a worker ships its records: the master's view (and the shape) lags by about this."""
LEAD_S = 3.0
"""The day starts this long after the master's plan, so workers start it on time, together. A
worker starts its share at its first spawn message, which the master's shape sends once the
master's own start is done (the profile's faults posted to the core, its metrics scraped once,
`surge.harness.lifecycle`); on two cores busy with other runs that took over a second, and a
1 s lead had workers begin their shares late, their first visits late with them."""
FINISH_WAIT_S = 5.0
"""How long a worker's last batch waits for its running visits, whose requests belong in the run
(the master waits longer for the last batches, `surge.harness.messages.FINAL_WAIT_S`)."""


def customers_to_data(customers: Iterable[Customer]) -> list[dict[str, Any]]:
    return [
        {
            "customer_id": c.customer_id,
            "segment": c.segment,
            "home_branch": c.home_branch,
            "accounts": {currency: list(ids) for currency, ids in c.accounts.items()},
            "credentials": [c.card_number, c.pin, c.password],
        }
        for c in customers
    ]


def customers_from_data(rows: Iterable[Mapping[str, Any]]) -> list[Customer]:
    return [
        Customer(
            row["customer_id"],
            row["segment"],
            row["home_branch"],
            {currency: tuple(ids) for currency, ids in row["accounts"].items()},
            *row["credentials"],
        )
        for row in rows
    ]


def shares(worker_indexes: Mapping[str, int]) -> dict[str, int]:
    """Share number by Locust client id: 0..N-1 in the order of Locust's worker indexes."""
    ordered = sorted(worker_indexes, key=lambda client: (worker_indexes[client], client))
    return {client: share for share, client in enumerate(ordered)}


@dataclass(frozen=True, slots=True)
class SharePlan:
    """What one worker needs to run its share of the day."""

    share: int
    workers: int
    day_start: float
    profile: dict[str, Any]
    seed: int
    branches: dict[str, int]
    customers: list[dict[str, Any]]
    binding: str = DEFAULT_BINDING
    """The master's `--binding`: every worker drives the target through the same."""

    def to_data(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> SharePlan:
        return cls(**{name: data[name] for name in cls.__slots__})


@dataclass(slots=True)
class Outbox:
    """A worker's side: the records and alerts made since the last batch, and the numbering."""

    share: int
    records: list[tuple[Any, ...]] = field(default_factory=list)
    """`RequestRecord` fields as plain tuples (`RunState.keep`), until the next batch takes them."""
    alerts: list[dict[str, str]] = field(default_factory=list)
    numbered: int = 0
    """Batches taken so far; the next is numbered this."""
    final_sent: bool = False

    def batch(
        self,
        dispatcher: Dispatcher,
        visits: Mapping[str, int],
        final: bool = False,
        generator: Sequence[GeneratorSample] = (),
    ) -> dict[str, Any]:
        """The next numbered batch, with every record and alert made since the last, and the
        host's samples given (taken since the last); taking it empties the outbox (it never
        yields, so two greenlets taking batches never ship a record twice or skip one)."""
        records, alerts = [list(r) for r in self.records], list(self.alerts)
        self.records.clear()  # in place: the run's sink appends to these very lists
        self.alerts.clear()
        number, self.numbered = self.numbered, self.numbered + 1
        self.final_sent = self.final_sent or final
        return {
            "share": self.share,
            "number": number,
            "final": final,
            "records": records,
            "alerts": alerts,
            "lateness": dispatcher.lateness.to_dict(),
            "scheduled": dict(dispatcher.scheduled),
            "visits": dict(visits),
            "in_flight": dict(dispatcher.in_flight),
            "backlog": {channel: dispatcher.backlog(channel) for channel in CHANNELS},
            "mean_visit_s": dict(dispatcher.mean_visit_s),
            "scheduling": dispatcher.scheduling,
            "generator": [list(sample) for sample in generator],
        }


class Records(Protocol):
    """Where the master puts the records its workers ship: the run's `RequestLog` (a list in
    tests)."""

    def extend(self, records: Iterable[Sequence[Any]], /) -> None: ...


@dataclass(slots=True)
class Fleet:
    """The master's side: the workers' batches merged, and the figures the shape sizes users by.

    A `surge.harness.dispatch.DayProgress`, as a process's `Dispatcher` is, so one shape serves
    local and distributed runs.
    """

    profile: Profile
    day_start: float
    workers: int
    clients: dict[str, int] = field(default_factory=dict)
    """Share by Locust client id, as planned."""
    clock: Callable[[], float] = time.time
    records: Records = field(default_factory=list[Sequence[Any]])
    """Every record received, whichever share and batch brought it."""
    alerts: list[dict[str, str]] = field(default_factory=list)
    latest: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Each share's highest-numbered batch: its cumulative figures and its shape stats."""
    held: dict[int, set[int]] = field(default_factory=dict)
    """The batch numbers received, by share."""
    last: dict[int, int] = field(default_factory=dict)
    """The number of each share's latest final batch."""
    completed: dict[int, float] = field(default_factory=dict)
    """When each share became complete (`clock`)."""
    requests: dict[int, int] = field(default_factory=dict)
    """Records received, by share: the run folder says who made them."""
    lost: set[int] = field(default_factory=set)
    """Shares whose worker Locust no longer has (`note_present`)."""
    generator: list[GeneratorSample] = field(default_factory=list)
    """The workers' samples of their hosts, each marked with its worker's process number
    (share + 1)."""

    def receive(self, data: Mapping[str, Any]) -> None:
        share, number = int(data["share"]), int(data["number"])
        if not 0 <= share < self.workers:
            return  # a worker that joined after the plans: it has no share
        held = self.held.setdefault(share, set())
        if number in held:
            return  # delivered twice: its records are already here
        held.add(number)
        self.records.extend(map(tuple, data["records"]))
        self.requests[share] = self.requests.get(share, 0) + len(data["records"])
        self.alerts.extend(data["alerts"])
        self.generator.extend(
            GeneratorSample(*row)._replace(process=share + 1) for row in data["generator"]
        )
        if number > self.latest.get(share, {}).get("number", -1):
            self.latest[share] = dict(data)
        if data["final"]:
            self.last[share] = max(number, self.last.get(share, -1))
        if self.complete(share):
            self.completed.setdefault(share, self.clock())
        else:
            self.completed.pop(share, None)  # a later final is on its way: not complete yet

    def complete(self, share: int) -> bool:
        """Every batch up to the share's latest final one has arrived."""
        held = self.held.get(share, set())
        return share in self.last and len(held) == max(held) + 1 == self.last[share] + 1

    def missing(self) -> list[int]:
        """The shares not complete: lost, or still awaited."""
        return [share for share in range(self.workers) if not self.complete(share)]

    def note_present(self, clients: Iterable[str]) -> None:
        """Locust's workers still alive: a share whose worker is not among them is lost (it went
        missing, or quit) and is no longer waited for."""
        present = set(clients)
        self.lost = {share for client, share in self.clients.items() if client not in present}

    def awaited(self) -> list[int]:
        """The shares still to be waited for: incomplete, and their worker still alive."""
        return [share for share in self.missing() if share not in self.lost]

    def lateness(self) -> dict[int, Lateness]:
        """Each share's lateness as its latest batch had it."""
        return {share: Lateness.from_dict(b["lateness"]) for share, b in self.latest.items()}

    def total(self, key: str) -> dict[str, int]:
        """A cumulative count (`scheduled`, `visits`) added over the workers."""
        sums: dict[str, int] = {}
        for batch in self.latest.values():
            for name, n in batch[key].items():
                sums[name] = sums.get(name, 0) + int(n)
        return sums

    def elapsed(self) -> float:
        return self.clock() - self.day_start

    def _running(self) -> list[dict[str, Any]]:
        """The latest figures of the shares still awaited: a lost worker's visits running and
        queued are gone with it, a complete share's are done."""
        awaited = set(self.awaited())
        return [batch for share, batch in self.latest.items() if share in awaited]

    def users_needed(self) -> dict[str, int]:
        """As `Dispatcher.users_needed`, over the shares still running: their visit times
        averaged, their visits running and waiting added up."""
        running = self._running()
        mean: dict[str, float] = {}
        present: dict[str, int] = {}
        for channel in CHANNELS:
            means = [b["mean_visit_s"][channel] for b in running]
            mean[channel] = sum(means) / len(means) if means else PRIOR_VISIT_S
            present[channel] = sum(b["in_flight"][channel] + b["backlog"][channel] for b in running)
        return users_needed(self.profile, self.elapsed(), mean, present)

    def finished_day(self) -> bool:
        """The day is over and every awaited worker said its visits were all taken and run (a
        lost worker never will)."""
        awaited = self.awaited()
        return (
            self.elapsed() >= self.profile.duration_s
            and all(share in self.latest for share in awaited)
            and all(_idle(batch) for batch in self._running())
        )


def _idle(batch: Mapping[str, Any]) -> bool:
    """The worker had stopped scheduling and had no visit queued or running."""
    return (
        not batch["scheduling"]
        and not any(batch["backlog"].values())
        and not any(batch["in_flight"].values())
    )
