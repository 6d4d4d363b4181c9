"""Locust's master/worker mode: each worker runs its share of the day; the master writes the folder.

Workers never share a disk with the master, so everything travels as plain (msgpack-able) data:

- master → each worker, `surge_plan`, sent when the master's test starts and so before the first
  spawn message on the same socket: the worker's share number and the share count, the day's
  start (epoch seconds, so every worker's schedule runs on one clock), the resolved profile, the
  seed, the branches and the worker's customers.
- worker → master, `surge_batch` every `BATCH_S`: the request records made since the last batch,
  the expected alerts likewise, and cumulative figures (the whole `Lateness`, visits scheduled and
  finished) that the master keeps the latest of, plus what the shape needs (visits running and
  queued, mean visit time).
- master → workers, `surge_finish` when the master's test stops (headless runs end with Locust's
  `quit`, which never tells workers to stop first); each worker stops scheduling and answers with
  a last batch marked final.

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
from typing import Any

from surge.arrivals import Lateness
from surge.customers import Customer
from surge.dispatch import PRIOR_VISIT_S, Dispatcher
from surge.profile import CHANNELS, Profile

PLAN, BATCH, FINISH = "surge_plan", "surge_batch", "surge_finish"
BATCH_S = 2.0
"""How often a worker ships its records: the master's view (and the shape) lags by about this."""
LEAD_S = 1.0
"""The day starts this long after the master's plan, so workers start it on time, together."""


def customers_to_data(customers: Iterable[Customer]) -> list[dict[str, Any]]:
    return [
        {
            "customer_id": c.customer_id,
            "segment": c.segment,
            "home_branch": c.home_branch,
            "accounts": {currency: list(ids) for currency, ids in c.accounts.items()},
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
        )
        for row in rows
    ]


def shares(worker_indexes: Mapping[str, int]) -> dict[str, int]:
    """Share number by Locust client id: 0..N-1 in the order of Locust's worker indexes."""
    ordered = sorted(worker_indexes, key=lambda client: (worker_indexes[client], client))
    return {client: share for share, client in enumerate(ordered)}


@dataclass(frozen=True, slots=True)
class Plan:
    """What one worker needs to run its share of the day."""

    share: int
    workers: int
    day_start: float
    profile: dict[str, Any]
    seed: int
    branches: dict[str, int]
    customers: list[dict[str, Any]]

    def to_data(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Plan:
        return cls(**{name: data[name] for name in cls.__slots__})


@dataclass(slots=True)
class Outbox:
    """A worker's side: what has been shipped, so each batch carries only new records."""

    share: int
    shipped_records: int = 0
    shipped_alerts: int = 0
    final_sent: bool = False

    def batch(
        self,
        dispatcher: Dispatcher,
        records: Sequence[Sequence[Any]],
        visits: Mapping[str, int],
        alerts: list[dict[str, str]],
        final: bool = False,
    ) -> dict[str, Any]:
        new_records = [list(r) for r in records[self.shipped_records :]]
        new_alerts = alerts[self.shipped_alerts :]
        self.shipped_records += len(new_records)
        self.shipped_alerts += len(new_alerts)
        self.final_sent = self.final_sent or final
        return {
            "share": self.share,
            "final": final,
            "records": new_records,
            "alerts": new_alerts,
            "lateness": dispatcher.lateness.to_dict(),
            "scheduled": dict(dispatcher.scheduled),
            "visits": dict(visits),
            "in_flight": dict(dispatcher.in_flight),
            "backlog": {channel: dispatcher.backlog(channel) for channel in CHANNELS},
            "mean_visit_s": dict(dispatcher.mean_visit_s),
            "scheduling": dispatcher.scheduling,
        }


@dataclass(slots=True)
class Fleet:
    """The master's side: the workers' batches merged, and the figures the shape sizes users by.

    Duck-types the parts of `Dispatcher` the shape uses (`profile`, `elapsed`, `users_needed`,
    `finished_day`), so one shape serves local and distributed runs.
    """

    profile: Profile
    day_start: float
    workers: int
    clock: Callable[[], float] = time.time
    records: list[tuple[Any, ...]] = field(default_factory=list)
    """`RequestRecord` fields as plain tuples, as `Run.keep` holds them."""
    alerts: list[dict[str, str]] = field(default_factory=list)
    latest: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Each share's last batch: its cumulative figures and its shape stats."""
    finals: set[int] = field(default_factory=set)
    requests: dict[int, int] = field(default_factory=dict)
    """Records received, by share: the run folder says who made them."""

    def receive(self, data: Mapping[str, Any]) -> None:
        share = int(data["share"])
        if not 0 <= share < self.workers:
            return  # a worker that joined after the plans: it has no share
        # Records and alerts are each shipped once, so they always add up; the cumulative figures
        # stop at the final batch, in case a periodic one overtakes it.
        self.records.extend(map(tuple, data["records"]))
        self.requests[share] = self.requests.get(share, 0) + len(data["records"])
        self.alerts.extend(data["alerts"])
        if share not in self.finals:
            self.latest[share] = dict(data)
        if data["final"]:
            self.finals.add(share)

    def all_final(self) -> bool:
        return len(self.finals) == self.workers

    def lateness(self, late_after_s: float, drop_after_s: float) -> Lateness:
        merged = Lateness(late_after_s=late_after_s, drop_after_s=drop_after_s)
        for batch in self.latest.values():
            merged.merge(Lateness.from_dict(batch["lateness"]))
        return merged

    def total(self, key: str) -> dict[str, int]:
        """A cumulative count (`scheduled`, `visits`) added over the workers."""
        sums: dict[str, int] = {}
        for batch in self.latest.values():
            for name, n in batch[key].items():
                sums[name] = sums.get(name, 0) + int(n)
        return sums

    def elapsed(self) -> float:
        return self.clock() - self.day_start

    def users_needed(self, headroom: float) -> dict[str, int]:
        """As `Dispatcher.users_needed`, over the whole run: the workers' visit times averaged."""
        t = self.elapsed()
        need = {}
        for channel in CHANNELS:
            means = [b["mean_visit_s"][channel] for b in self.latest.values()]
            mean = sum(means) / len(means) if means else PRIOR_VISIT_S
            carried = self.profile.rate(channel, t) * mean * headroom
            present = sum(
                b["in_flight"][channel] + b["backlog"][channel] for b in self.latest.values()
            )
            need[channel] = max(1, int(-(-carried // 1)), present)
        return need

    def finished_day(self) -> bool:
        """The day is over and every worker said its visits were all taken and run."""
        return (
            self.elapsed() >= self.profile.duration_s
            and len(self.latest) == self.workers
            and all(
                not b["scheduling"]
                and not any(b["backlog"].values())
                and not any(b["in_flight"].values())
                for b in self.latest.values()
            )
        )
