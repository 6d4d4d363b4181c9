"""Writing a run folder while its run goes and when it ends (docs/run-folder.md): `run.json`
first, the request records part by part (`RequestLog`), the rest at the end."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from surge.day.arrivals import Lateness
from surge.day.profile import Profile
from surge.exits import BadInput
from surge.runfolder.reader import read_json
from surge.runfolder.schema import (
    ALERTS,
    EXPECTED_ALERTS,
    FORMAT_VERSION,
    GENERATOR,
    INCIDENTS,
    LATENESS,
    LEDGER,
    LEVELS,
    METRIC_COLUMNS,
    METRICS,
    PART,
    RECONCILE,
    REQUEST_SCHEMA,
    REQUESTS,
    RUN,
    SUMMARY,
    VISITS,
    Crash,
    GeneratorSample,
    LevelSpan,
    RunInfo,
    Visits,
)

_SECRET = re.compile(r"token|secret|password|login|auth|key")
"""Options whose values never go into run.json: run folders get copied around."""


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
    known = read_json(path) if path.exists() else []
    _write_json(path, [*known, entry])


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
        final = self.path / PART.format(self.parts)
        temporary = self.path / f".{final.name}.tmp"
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, final)
        self.parts += 1
        self.written += len(rows)

    def flush(self) -> None:
        self.write(self.take())
