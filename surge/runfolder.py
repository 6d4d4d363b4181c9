"""The run folder, `results/<UTC timestamp>-<profile>/`: the one schema of what a run leaves.

docs/run-folder.md lists every file and column. This module alone writes and reads them, so
nothing else opens them by hand:

- while a run goes, the harness writes `run.json` first (the resolved profile, seed, host,
  options), and streams its request records to `requests.parquet/` (`RequestLog`): one Parquet
  file per flush, each written whole under a temporary name and then renamed, so memory does not
  grow with the run and a run that crashes keeps every part written before;
- when it ends, `lateness.json`, `visits.json` (every planned visit accounted for), the expected
  alerts, the generator's host over the day (`generator.csv`, every process's) and whatever the
  target's admin API answered (its reconcile, its alerts, its ledger's idempotency keys);
  `run.json` again, with its end; and last `summary.json`, the figures and the verdict
  (`surge.verdict`);
- afterwards `load(path)` reads it back, typed, on whatever machine the folder was copied to:
  a folder that is not a run folder, is of a newer format or misses a file is a `RunFolderError`
  (one line, exit 2).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_dataset
import pyarrow.parquet as pq
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from surge.arrivals import Counts, Lateness
from surge.binding import DEFAULT as DEFAULT_BINDING
from surge.exits import BadInput
from surge.profile import CHANNELS, Profile, ProfileError
from surge.retry import RequestRecord

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
"""`metrics.csv`: one row per sample of the target's `/metrics` (`surge.scrape`)."""


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


_PART = "part-{:06d}.parquet"
_SECRET = re.compile(r"token|secret|password|login|auth|key")
"""Options whose values never go into run.json: run folders get copied around."""


_M = TypeVar("_M", bound=BaseModel)


class RunFolderError(BadInput):
    """A folder that is not a run folder this harness can read, worded as one line."""


@dataclass(frozen=True, slots=True)
class Limits:
    """How far behind its schedule a run may fall and still be evidence (shares of visits due)."""

    max_dropped_share: float = 0.05
    max_late_share: float = 0.10


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Stopped(_Model):
    """The run's error budget (`--stop-after-errors`) was spent: it ended before its day."""

    errors: int
    """Requests retried or failed when the harness stopped the run."""
    budget: int
    at: float
    """When (epoch seconds)."""


class RunInfo(_Model):
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
    """The target answered as the mock core (`surge.target`); None: not known (no answer)."""
    skipped: list[str] = Field(default_factory=list)
    """The mock core's parts skipped against another target, a line each."""
    credentials: dict[str, str] = Field(default_factory=dict)
    """Which kinds of the bank's credentials the run used (`token`, `tls`), never a value."""


class Crash(_Model):
    """A crash drill as it happened (`surge.crash`): the embedded core killed with SIGKILL and
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


class LevelSpan(_Model):
    """`levels.json`: one level of a capacity search's run (`surge capacity`), a span of its day
    (run seconds): the phase of the resolved profile it ran as, and what the search made of
    it."""

    number: int
    """From 1, as its phase (`surge.levels.name`)."""
    multiple: float
    """The multiple of the searched phase asked for."""
    start: float
    settle_end: float | None = None
    """Where its queue had settled and its judged stretch begins; None when it never did."""
    end: float | None = None
    """Where the next level began (or the day ended); None while it ran."""


class ChannelVisits(_Model):
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


class Share(_Model):
    """One worker's share of a distributed run (a local run is one share)."""

    share: int
    complete: bool
    """Every batch of it reached the master; False when its worker went missing."""
    requests: int


class Visits(_Model):
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
        channels = dict.fromkeys(CHANNELS, ChannelVisits())
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
        return cls(channels=channels, shares=shares, **{k: run.get(k, 0) for k in _RUN_OUTCOMES})


_RUN_OUTCOMES = ("ok", "unfinished", "error")


def folder_name(started: float, profile: str) -> str:
    stamp = dt.datetime.fromtimestamp(started, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{profile}"


def create(root: Path, started: float, profile: str) -> Path:
    """A new, empty run folder under `root` (a suffix keeps two runs of one second apart).
    Raises `BadInput` (one line) when `root` cannot hold one: read-only, full, not a folder."""
    base = folder_name(started, profile)
    try:
        root.mkdir(parents=True, exist_ok=True)
        for n in range(1000):
            path = root / (base if n == 0 else f"{base}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return path
    except OSError as error:
        raise _unwritable(root, error) from None
    raise BadInput(f"{root}: no free run folder name for {base}")


def check_writable(folder: Path) -> None:
    """Raise `BadInput` (the line `create` gives) unless a folder can be made in `folder`:
    checked before a run starts, not once its load is on. Nothing is left behind, so a run
    refused later at its start leaves no results folder: a missing `folder` is judged by its
    nearest existing parent."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".writable-", dir=existing))
    except OSError as error:
        raise _unwritable(folder, error) from None


def _unwritable(folder: Path, error: OSError) -> BadInput:
    return BadInput(f"{folder}: cannot write a run folder there: {error.strerror}")


def without_secrets(argv: Sequence[str]) -> list[str]:
    """The command line with the values of secret options (`--admin-token T`, `--x-token=T`)
    blanked."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        name, equals, _ = arg.partition("=")
        secret = name.startswith("--") and bool(_SECRET.search(name))
        if hide_next:
            shown.append("***")
        elif secret and equals:
            shown.append(f"{name}=***")
        else:
            shown.append(arg)
        hide_next = secret and not equals
    return shown


def without_secret_values(settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` (a config file's tables) with the value of every secret-named key blanked,
    and every value of a secret-named table (`[tokens]`): the names stay, to show what was set."""
    return {
        name: _blank(value)
        if _SECRET.search(name)
        else without_secret_values(value)
        if isinstance(value, Mapping)
        else value
        for name, value in settings.items()
    }


def _blank(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {name: _blank(inner) for name, inner in value.items()}
    return "***"


def public_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options run.json may keep: every one but the secret ones."""
    return {name: value for name, value in options.items() if not _SECRET.search(name)}


def _write_json(path: Path, data: Any) -> None:
    """Whole or not at all: written beside, then renamed over the old one."""
    temporary = path.with_name(f".{path.name}.tmp")
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_run(folder: Path, info: RunInfo, profile: Profile) -> None:
    _write_json(
        folder / RUN, {**info.model_dump(mode="json"), "resolved_profile": profile.to_dict()}
    )


def write_lateness(folder: Path, lateness: Lateness) -> None:
    _write_json(folder / LATENESS, lateness.to_dict())


def write_visits(folder: Path, visits: Visits) -> None:
    _write_json(folder / VISITS, visits.model_dump(mode="json"))


def write_expected_alerts(folder: Path, alerts: Sequence[Mapping[str, str]]) -> None:
    """The alerts the run's suspicious visits should have raised: `rule`, `customer_id`,
    `account`."""
    _write_json(folder / EXPECTED_ALERTS, list(alerts))


def write_answer(folder: Path, name: str, answer: Any) -> None:
    """What the target's admin API answered at the end (`RECONCILE`, `ALERTS`, `LEDGER`), as
    it came."""
    if name not in (RECONCILE, ALERTS, LEDGER):
        raise ValueError(f"{name} is not an admin answer of the run folder")
    _write_json(folder / name, answer)


def write_metrics(folder: Path, rows: Iterable[Sequence[Any]]) -> None:
    """The target's samples over the run, `METRIC_COLUMNS` in their order."""
    with (folder / METRICS).open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(METRIC_COLUMNS)
        writer.writerows(rows)


def write_generator(folder: Path, samples: Iterable[GeneratorSample]) -> None:
    """The generator's host over the run, every process's samples (`GeneratorSample`)."""
    temporary = folder / f".{GENERATOR}.tmp"
    with temporary.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(GeneratorSample._fields)
        writer.writerows(samples)
    os.replace(temporary, folder / GENERATOR)


def add_incident(folder: Path, sentence: str) -> None:
    """Note something that happened to the run outside the harness's sight (the embedded core
    ended, the rehearsal was interrupted): the verdict counts each as a reason it is not
    evidence."""
    _add_to_incidents(folder, sentence)


def add_crash(folder: Path, crash: Crash) -> None:
    """Note a crash drill that happened: a fault the profile asked for, not a reason the run is
    not evidence (a core that did not come back is one, added as a sentence beside it)."""
    _add_to_incidents(folder, crash.model_dump(mode="json"))


def _add_to_incidents(folder: Path, entry: str | dict[str, Any]) -> None:
    path = folder / INCIDENTS
    known = _read_json(path) if path.exists() else []
    _write_json(path, [*known, entry])


def day_start(folder: Path) -> float | None:
    """When the run's day started (epoch seconds), as `run.json` says while the run goes; None
    before the run was prepared, or while the file is being replaced."""
    try:
        info = json.loads((folder / RUN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = info.get("day_start") if isinstance(info, dict) else None
    return float(found) if isinstance(found, int | float) else None


def write_levels(folder: Path, spans: Sequence[LevelSpan]) -> None:
    """A capacity search's levels, as far as it got (rewritten after each)."""
    _write_json(folder / LEVELS, [span.model_dump(mode="json") for span in spans])


def write_summary(folder: Path, summary: Mapping[str, Any]) -> None:
    _write_json(folder / SUMMARY, {"format_version": FORMAT_VERSION, **summary})


def write_output(path: Path, text: str) -> None:
    """One of `OUTPUTS`, whole or not at all, at `path` (in the run folder, or where asked)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


class RequestLog:
    """The run's request records on their way to `requests.parquet/`, a Parquet file per flush.

    `add` only appends a record to a list (it runs once per request on the generator's hot
    path); `take` hands the list over and starts a new one, and `write` turns what was taken
    into one part. The harness takes on its own loop and writes off it (a thread: pyarrow lets
    the interpreter go while it encodes), every few seconds, so memory holds a few seconds of
    records whatever the run's length.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / REQUESTS
        self.path.mkdir(exist_ok=True)
        self.parts = len(list(self.path.glob("part-*.parquet")))
        self.written = 0
        self._rows: list[Sequence[Any]] = []

    def add(self, record: Sequence[Any]) -> None:
        self._rows.append(record)

    def extend(self, records: Iterable[Sequence[Any]]) -> None:
        self._rows.extend(records)

    def take(self) -> list[Sequence[Any]]:
        rows, self._rows = self._rows, []
        return rows

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        """One part holding `rows`; nothing when there are none. Not safe to call twice at once."""
        if not rows:
            return
        columns = zip(*rows, strict=True)
        arrays = [
            pa.array(column, type=f.type) for column, f in zip(columns, REQUEST_SCHEMA, strict=True)
        ]
        table = pa.Table.from_arrays(arrays, schema=REQUEST_SCHEMA)
        final = self.path / _PART.format(self.parts)
        temporary = self.path / f".{final.name}.tmp"
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, final)
        self.parts += 1
        self.written += len(rows)

    def flush(self) -> None:
        self.write(self.take())


class RequestTail:
    """The records of a run folder while its run goes: each part of `requests.parquet/` once, in
    the order written, once it is whole (a part is renamed into place when written)."""

    def __init__(self, folder: Path, columns: Sequence[str] | None = None) -> None:
        self._path = folder / REQUESTS
        self._columns = list(columns) if columns else None
        self._next = 0

    def take(self) -> pa.Table:
        """The records of the parts written since the last take."""
        tables = []
        while (part := self._path / _PART.format(self._next)).exists():
            tables.append(pq.read_table(part, columns=self._columns, schema=REQUEST_SCHEMA))
            self._next += 1
        if not tables:
            return REQUEST_SCHEMA.empty_table().select(self._columns or REQUEST_SCHEMA.names)
        return pa.concat_tables(tables)


_TEXT = [f.name for f in REQUEST_SCHEMA if f.type == pa.string()]
_DICTIONARY_SCHEMA = pa.schema(
    [
        pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if f.name in _TEXT else f
        for f in REQUEST_SCHEMA
    ]
)
_DICTIONARY_FORMAT = pa_dataset.ParquetFileFormat(
    read_options=pa_dataset.ParquetReadOptions(dictionary_columns=_TEXT)
)


def read_requests(
    path: Path, columns: Sequence[str] | None = None, *, dictionary: bool = False
) -> pa.Table:
    """The records of `requests.parquet/` (every part, in the order written); with
    `dictionary`, the text columns dictionary-encoded as the parts store them (pandas reads
    them as categoricals), not a string per row."""
    schema = _DICTIONARY_SCHEMA if dictionary else REQUEST_SCHEMA
    parts = sorted(path.glob("part-*.parquet"))
    if not parts:
        return schema.empty_table().select(list(columns or schema.names))
    form = _DICTIONARY_FORMAT if dictionary else "parquet"
    dataset = pa_dataset.dataset([str(p) for p in parts], schema=schema, format=form)
    return dataset.to_table(columns=list(columns) if columns else None)


@dataclass(frozen=True)
class RunFolder:
    """A run folder, read (`load`). The records and the samples are read when asked for."""

    path: Path
    info: RunInfo
    profile: Profile
    """The resolved profile the run replayed (scaled as it was run)."""
    visits: Visits | None
    """None when the run never ended (it crashed): see `ended`."""
    lateness: Lateness | None
    expected_alerts: list[dict[str, str]]
    incidents: list[str]
    """What happened outside the harness's sight, each a reason the run is not evidence."""
    crashes: list[Crash]
    """The crash drills that happened."""
    reconcile: dict[str, Any] | None
    """`/admin/reconcile`'s answer, when the run had the target's admin token."""
    alerts: list[dict[str, Any]] | None
    """`/admin/alerts`' answer, likewise."""
    summary: dict[str, Any] | None
    levels: list[LevelSpan] = field(default_factory=list)
    """A capacity search's run: its levels (`levels.json`); empty for any other run."""
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ended(self) -> bool:
        return self.info.end is not None and self.visits is not None

    def requests(
        self, columns: Sequence[str] | None = None, *, dictionary: bool = False
    ) -> pa.Table:
        """One row per request attempt (`REQUEST_SCHEMA`), or the `columns` asked for; with
        `dictionary`, text columns dictionary-encoded (`read_requests`)."""
        return read_requests(self.path / REQUESTS, columns, dictionary=dictionary)

    @cached_property
    def request_count(self) -> int:
        parts = sorted((self.path / REQUESTS).glob("part-*.parquet"))
        return sum(pq.ParquetFile(part).metadata.num_rows for part in parts)

    def ledger(self) -> dict[str, Any] | None:
        """The target's ledger export (`LEDGER`): `keys`, each `key`, `answers` (stored
        answers), `status` (the stored answer's), `entries` (journal entries); or `error`, why
        it could not be fetched. None when the run had no admin token."""
        return _optional(self.path / LEDGER, dict)

    def metrics(self) -> pa.Table | None:
        """The target's samples over the run (`METRIC_COLUMNS`), when it was scraped."""
        path = self.path / METRICS
        if not path.exists():
            return None
        types = {"time": pa.float64(), "metric": pa.string(), "labels": pa.string()}
        options = pa_csv.ConvertOptions(column_types={**types, "value": pa.float64()})
        try:
            return pa_csv.read_csv(path, convert_options=options)
        except (pa.ArrowInvalid, OSError) as error:
            raise RunFolderError(f"{path}: not a metrics file: {_first_line(error)}") from None

    def generator(self) -> list[GeneratorSample] | None:
        """The generator's host over the run, each process's samples in the order taken; None
        for a folder written before the harness watched it (or by a run that never ended)."""
        path = self.path / GENERATOR
        if not path.exists():
            return None
        try:
            with path.open(newline="", encoding="utf-8") as source:
                rows = csv.reader(source)
                if tuple(next(rows, ())) not in _GENERATOR_HEADERS:
                    raise ValueError(f"its header is not {','.join(GeneratorSample._fields)}")
                return [_sample(row) for row in rows]
        except (ValueError, TypeError, OSError) as error:
            raise RunFolderError(f"{path}: not a generator file: {_first_line(error)}") from None


_GENERATOR_HEADERS = (GeneratorSample._fields, GeneratorSample._fields[:-1])
"""Today's header, and the one before the host's CPU wait was recorded."""


def _sample(row: Sequence[str]) -> GeneratorSample:
    time, process, *figures = row
    return GeneratorSample(float(time), int(process), *map(float, figures))


def load(path: Path | str) -> RunFolder:
    """The run folder at `path`, typed; `RunFolderError` (one line) when it is not one this
    harness can read."""
    folder = Path(path)
    if not folder.exists():
        raise RunFolderError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: not a folder")
    if not (folder / RUN).is_file():
        raise RunFolderError(f"{folder}: not a run folder (no {RUN})")
    data = _read_json(folder / RUN)
    if not isinstance(data, dict):
        raise RunFolderError(f"{folder / RUN}: not a JSON object")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RunFolderError(
            f"{folder / RUN}: format_version: missing (a folder written before format "
            f"{FORMAT_VERSION}, or not by this harness)"
        )
    if version > FORMAT_VERSION:
        raise RunFolderError(
            f"{folder / RUN}: format_version: {version} is newer than this harness reads "
            f"({FORMAT_VERSION}): upgrade branch-surge to read it"
        )
    info = _model(RunInfo, data, folder / RUN)
    try:
        profile = Profile.from_dict(
            data.get("resolved_profile"), f"{folder / RUN}: resolved_profile"
        )
    except ProfileError as error:
        raise RunFolderError(str(error)) from None
    if info.end is not None:
        for name in ENDED:
            if not (folder / name).exists():
                raise RunFolderError(
                    f"{folder}: {name}: missing (the run ended, so it was written)"
                )
    incidents, crashes = _incidents(folder / INCIDENTS)
    visits = lateness = None
    if (folder / VISITS).exists():
        visits = _model(Visits, _read_json(folder / VISITS), folder / VISITS)
    if (folder / LATENESS).exists():
        try:
            lateness = Lateness.from_dict(_read_json(folder / LATENESS))
        except (KeyError, TypeError, ValueError) as error:
            raise RunFolderError(f"{folder / LATENESS}: not a lateness record: {error}") from None
    return RunFolder(
        path=folder,
        info=info,
        profile=profile,
        visits=visits,
        lateness=lateness,
        expected_alerts=_optional(folder / EXPECTED_ALERTS, list) or [],
        incidents=incidents,
        crashes=crashes,
        reconcile=_optional(folder / RECONCILE, dict),
        alerts=_optional(folder / ALERTS, list),
        summary=_optional(folder / SUMMARY, dict),
        levels=[
            _model(LevelSpan, entry, folder / LEVELS)
            for entry in _optional(folder / LEVELS, list) or []
        ],
    )


def _incidents(path: Path) -> tuple[list[str], list[Crash]]:
    sentences: list[str] = []
    crashes: list[Crash] = []
    for n, entry in enumerate(_optional(path, list) or []):
        if isinstance(entry, str):
            sentences.append(entry)
        elif isinstance(entry, dict) and entry.get("kind") == "crash":
            crashes.append(_model(Crash, entry, path))
        else:
            raise RunFolderError(f"{path}: [{n}]: neither a sentence nor a crash drill")
    return sentences, crashes


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RunFolderError(f"{path}: cannot read: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunFolderError(f"{path}: not JSON: {error}") from None


def _optional(path: Path, kind: type) -> Any:
    if not path.exists():
        return None
    data = _read_json(path)
    if not isinstance(data, kind):
        raise RunFolderError(f"{path}: not a JSON {'list' if kind is list else 'object'}")
    return data


def _model(model: type[_M], data: Any, path: Path) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise RunFolderError(f"{path}: {where}: {first['msg'].lower()}") from None


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
