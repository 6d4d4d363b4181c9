"""The run folder's schema: the name of every file a run leaves, the columns of its records,
and the typed models of its JSON files (docs/run-folder.md). Writer and reader share it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import pyarrow as pa
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from surge.bindings.loader import DEFAULT as DEFAULT_BINDING
from surge.day.arrivals import Counts, Lateness
from surge.day.profile import CHANNELS
from surge.exits import BadInput
from surge.visit.wire import RequestRecord

FORMAT_VERSION = 2
"""Raised whenever a file or field changes meaning; `load` refuses folders of a newer one.
2: `incidents.json` also holds the crash drills that happened (objects), beside its sentences."""

RUN = "run.json"
REQUESTS = "requests.parquet"
LATENESS = "lateness.json"
VISITS = "visits.json"
EXPECTED_ALERTS = "expected_alerts.json"
INCIDENTS = "incidents.json"
METRICS = "metrics.csv"
GENERATOR = "generator.csv"
RECONCILE = "reconcile.json"
ALERTS = "alerts.json"
LEDGER = "ledger.json"
LEVELS = "levels.json"
SUMMARY = "summary.json"
REPORT = "report.html"
SUMMARY_MD = "summary.md"
JUNIT = "junit.xml"
OUTPUTS = (REPORT, SUMMARY_MD, JUNIT)
"""What the analysis makes of a folder (reports/), written into it: the HTML report, the short
Markdown summary, the gate's JUnit file."""
ENDED = (REQUESTS, LATENESS, VISITS, EXPECTED_ALERTS)
"""What a run that ended has written, whatever its target answered."""

CAPACITY = "capacity.json"
"""A capacity search's folder: its answer and levels, rewritten after every level
(docs/capacity.md); beside it the phase the levels multiply, the plan the harness follows and
the search's one run folder."""
LEVEL_PROFILE = "level-profile.toml"
"""The phase the levels multiply, as a profile file: the run is its day of levels."""
SEARCH_PLAN = "plan.json"
SEARCH_RUN = "run"
"""The one run folder, inside the search's folder."""
SEARCH_FORMAT_VERSION = 2
"""`capacity.json`'s format. 2: one run of levels (`levels`, `answer`), where 1 had a run per
step (`steps`)."""
Status = Literal["pass", "fail", "behind", "unclear", "invalid"]
"""A level's verdict: its objectives held and it carried the load offered; one broke; the
generator could not offer the load; the evidence does not decide yet; or its run is not
evidence of the target at all (it could not reach it, say)."""
Ending = Literal["bracketed", "above_range", "below_range", "generator_limit", "not_valid"]
"""Why a search ended: it closed in on the answer; every level passed up to `--to`; the first
level (`--from`) already failed; the generator fell behind first, or was saturated when a level
failed; the run was not evidence."""
REQUEST_SCHEMA = pa.schema(
    [
        ("channel", pa.string()),
        ("journey", pa.string()),
        ("step", pa.string()),
        ("method", pa.string()),
        ("name", pa.string()),
        ("status", pa.int16()),
        ("error", pa.string()),
        ("retries", pa.int16()),
        ("outcome", pa.string()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("scheduled", pa.float64()),
        ("customer", pa.string()),
        ("key", pa.string()),
    ]
)
"""`requests.parquet`'s columns: `RequestRecord`'s fields in their order (times are epoch
seconds)."""
assert tuple(REQUEST_SCHEMA.names) == RequestRecord._fields
METRIC_COLUMNS = ("time", "metric", "labels", "value")
"""`metrics.csv`: one row per sample of the target's `/metrics` (`surge.harness.scrape`)."""


GENERATOR_SAMPLE_S = 1.0
"""How long one sample of `generator.csv` covers (longer when the event loop was held up)."""


class GeneratorSample(NamedTuple):
    """`generator.csv`: one row per second (about) per Locust process of the run, the load
    generator's host as that process saw it (`surge.harness.host`)."""

    time: float
    """When the sample's interval ended (epoch seconds)."""
    process: int
    """0: the local runner or the master; n >= 1: the worker that ran share n - 1."""
    interval_s: float
    """How long the interval was: about a second, longer when the event loop was held up."""
    host_idle: float
    """Share of the host's CPU time (every core) that was idle over the interval, 0 to 1."""
    cpu: float
    """CPU time this process used over the interval, as a share of one core."""
    loop_lag_max_ms: float
    """The event loop's worst lateness in the interval: how much later than asked a short
    sleep woke up."""
    loop_lag_mean_ms: float
    """…and its mean over the interval's sleeps."""
    host_cpu_wait: float = math.nan
    """Share of the interval in which some task on the host waited for a CPU (Linux's pressure
    stall information, `/proc/pressure/cpu`): the contention every process on the host met, the
    embedded core's included. NaN where the kernel does not tell, and in files from before it
    was recorded."""


class RunFolderError(BadInput):
    """A folder that is not a run folder this harness can read, worded as one line."""


@dataclass(frozen=True, slots=True)
class Limits:
    """How far behind its schedule a run may fall and still be evidence (shares of visits due)."""

    max_dropped_share: float = 0.05
    max_late_share: float = 0.10


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Stopped(Model):
    """The run's error budget (`--stop-after-errors`) was spent: it ended before its day."""

    errors: int
    """Requests retried or failed when the harness stopped the run."""
    budget: int
    at: float
    """When (epoch seconds)."""


class RunInfo(Model):
    """`run.json`: what was run, against what, how, and when (the profile is kept apart)."""

    format_version: int
    profile: str
    """The profile's name; `resolved_profile` holds the profile itself."""
    seed: int
    host: str
    time_scale: float
    rate_scale: float
    versions: dict[str, str]
    start: float
    """When the harness began the run (epoch seconds)."""
    day_start: float | None = None
    """When the day's first second was due; None until the run was prepared."""
    end: float | None = None
    """When the run ended; None while it goes (or when it crashed)."""
    command_line: list[str]
    """With secret values blanked (`without_secrets`)."""
    workers: int
    max_users: int
    customers: int | str
    """How many were onboarded, or the data pool file they came from."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Every option of the harness but the secret ones."""
    limits: Limits
    error: str | None = None
    """Why the run could not start (the target unreachable, onboarding refused)."""
    stopped: Stopped | None = None
    """Why the harness ended the run before its day; None when it did not."""
    binding: str = DEFAULT_BINDING
    """The binding the journeys drove the target through (`--binding`); folders written before
    bindings were the mock core's."""
    mock_core: bool | None = None
    """The target answered as the mock core (`surge.visit.target`); None: not known (no answer)."""
    skipped: list[str] = Field(default_factory=list)
    """The mock core's parts skipped against another target, a line each."""
    credentials: dict[str, str] = Field(default_factory=dict)
    """Which kinds of the bank's credentials the run used (`token`, `tls`), never a value."""


class Crash(Model):
    """A crash drill as it happened (`surge.run.crash`): the embedded core killed with SIGKILL and
    started again on the same ledger and port. Times are epoch seconds."""

    kind: str = "crash"
    fault: int
    """Its index in the profile's `faults`."""
    killed_at: float
    restarted_at: float | None = None
    """When the new process was started; None when it never was."""
    back_at: float | None = None
    """When it answered again; None when it did not."""

    @property
    def restart_s(self) -> float | None:
        """From starting the new process to its first answer."""
        if self.restarted_at is None or self.back_at is None:
            return None
        return self.back_at - self.restarted_at


class LevelSpan(Model):
    """`levels.json`: one level of a capacity search's run (`surge capacity`), a span of its day
    (run seconds): the phase of the resolved profile it ran as, and what the search made of
    it."""

    number: int
    """From 1, as its phase (`surge.day.levels.name`)."""
    multiple: float
    """The multiple of the searched phase asked for."""
    start: float
    settle_end: float | None = None
    """Where its queue had settled and its judged stretch begins; None when it never did."""
    end: float | None = None
    """Where the next level began (or the day ended); None while it ran."""


class ChannelVisits(Model):
    """One channel's planned visits, each counted once: started on time or late, dropped (never
    started: too late), lost with a worker, or not reached (the run ended before it was due, or
    before its worker's scheduler put it on a queue)."""

    planned: int = 0
    on_time: int = 0
    late: int = 0
    dropped: int = 0
    lost: int = 0
    not_reached: int = 0

    @property
    def started(self) -> int:
        return self.on_time + self.late

    @property
    def due(self) -> int:
        """The visits the generator had to start: started, or dropped by it."""
        return self.started + self.dropped

    def __add__(self, other: ChannelVisits) -> ChannelVisits:
        fields = type(self).model_fields
        return ChannelVisits(
            **{name: getattr(self, name) + getattr(other, name) for name in fields}
        )


class Share(Model):
    """One worker's share of a distributed run (a local run is one share)."""

    share: int
    complete: bool
    """Every batch of it reached the master; False when its worker went missing."""
    requests: int


class Visits(Model):
    """`visits.json`: every planned visit accounted for, and how the started ones ended."""

    channels: dict[str, ChannelVisits]
    ok: int
    """Started visits that ran to their end."""
    unfinished: int = Field(validation_alias=AliasChoices("unfinished", "abandoned"))
    """Started visits whose customer could not complete their business: a step failed after its
    retries (`abandoned` in folders of before 2026-12)."""
    error: int
    """Started visits that failed inside the harness (an answer the journeys could not read)."""
    shares: list[Share]

    @property
    def total(self) -> ChannelVisits:
        return sum(self.channels.values(), ChannelVisits())

    @property
    def missing_shares(self) -> list[int]:
        return [share.share for share in self.shares if not share.complete]

    @classmethod
    def account(
        cls,
        planned: Mapping[int, Mapping[str, int]],
        recorded: Mapping[int, Lateness],
        *,
        lost: Mapping[int, Mapping[str, int]] | None = None,
        run: Mapping[str, int],
        requests: Mapping[int, int],
    ) -> Visits:
        """Account for every visit `planned` (by share and channel, `Schedule.census`) from what
        each share `recorded` (its `Lateness`): started or dropped as recorded, the rest not
        reached, except in the shares `lost` maps to the visits due before the run ended
        (their worker went missing): what those recorded nothing of is lost with it."""
        lost = lost or {}
        channels: dict[str, ChannelVisits] = dict.fromkeys(CHANNELS, ChannelVisits())
        for share, by_channel in planned.items():
            for channel, planned_n in by_channel.items():
                seen = recorded[share].counts(channel) if share in recorded else Counts()
                accounted = min(seen.total, planned_n)
                gone = max(0, lost[share][channel] - accounted) if share in lost else 0
                channels[channel] += ChannelVisits(
                    planned=planned_n,
                    on_time=seen.on_time,
                    late=seen.late,
                    dropped=seen.dropped,
                    lost=gone,
                    not_reached=max(0, planned_n - accounted - gone),
                )
        shares = [
            Share(share=share, complete=share not in lost, requests=requests.get(share, 0))
            for share in sorted(planned)
        ]
        return cls(channels=channels, shares=shares, **{k: run.get(k, 0) for k in RUN_OUTCOMES})


RUN_OUTCOMES = ("ok", "unfinished", "error")


PART = "part-{:06d}.parquet"
"""A part of `requests.parquet/`, numbered in the order written."""
