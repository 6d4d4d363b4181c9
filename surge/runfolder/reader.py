"""Reading a run folder back (`load`), on whatever machine it was copied to, and its records
while the run still writes them (`RequestTail`)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from pydantic import BaseModel, ValidationError

from surge.day.arrivals import Lateness
from surge.day.profile import Profile, ProfileError
from surge.runfolder.schema import (
    ALERTS,
    ENDED,
    EXPECTED_ALERTS,
    FORMAT_VERSION,
    GENERATOR,
    INCIDENTS,
    LATENESS,
    LEDGER,
    LEVELS,
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
    RunFolderError,
    RunInfo,
    Visits,
)


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
        while (part := self._path / PART.format(self._next)).exists():
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


def read_requests(
    path: Path, columns: Sequence[str] | None = None, *, dictionary: bool = False
) -> pa.Table:
    """The records of `requests.parquet/` (every part, in the order written); with
    `dictionary`, the text columns dictionary-encoded as the parts store them (pandas reads
    them as categoricals), not a string per row.

    Parts of today's schema are read file by file. Others (a folder of an older format) and the
    dictionary-encoded read go through `pyarrow.dataset`, which fits each part to the schema
    but imports pandas with it: half a CPU-second that every Locust process, which reads its
    records at the end for the verdict, would pay at its start."""
    schema = _DICTIONARY_SCHEMA if dictionary else REQUEST_SCHEMA
    names = list(columns) if columns else schema.names
    parts = sorted(path.glob("part-*.parquet"))
    if not parts:
        return schema.empty_table().select(names)
    if not dictionary:
        files = [pq.ParquetFile(part) for part in parts]
        if all(file.schema_arrow.equals(REQUEST_SCHEMA) for file in files):
            return pa.concat_tables([file.read(columns=names) for file in files])
    import pyarrow.dataset as pa_dataset  # here, not above: it brings pandas

    options = pa_dataset.ParquetReadOptions(dictionary_columns=_TEXT if dictionary else ())
    form = pa_dataset.ParquetFileFormat(read_options=options)
    dataset = pa_dataset.dataset([str(p) for p in parts], schema=schema, format=form)
    return dataset.to_table(columns=names)


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


def day_start(folder: Path) -> float | None:
    """When the run's day started (epoch seconds), as `run.json` says while the run goes; None
    before the run was prepared, or while the file is being replaced."""
    try:
        info = json.loads((folder / RUN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = info.get("day_start") if isinstance(info, dict) else None
    return float(found) if isinstance(found, int | float) else None


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
    data = read_json(folder / RUN)
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
        visits = _model(Visits, read_json(folder / VISITS), folder / VISITS)
    if (folder / LATENESS).exists():
        try:
            lateness = Lateness.from_dict(read_json(folder / LATENESS))
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


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RunFolderError(f"{path}: cannot read: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunFolderError(f"{path}: not JSON: {error}") from None


_Json = TypeVar("_Json", list[Any], dict[str, Any])


def _optional(path: Path, kind: type[_Json]) -> _Json | None:
    if not path.exists():
        return None
    data = read_json(path)
    if not isinstance(data, kind):
        raise RunFolderError(f"{path}: not a JSON {'list' if kind is list else 'object'}")
    return data


_M = TypeVar("_M", bound=BaseModel)


def _model(model: type[_M], data: Any, path: Path) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise RunFolderError(f"{path}: {where}: {first['msg'].lower()}") from None


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
