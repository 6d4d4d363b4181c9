"""The history's database: one SQLite file by default, any SQLAlchemy URL for a team's own.

Opening a history brings its schema to this version's (the Alembic migrations shipped in
`surge/history/migrations/`), so a history is created and upgraded by the tool itself. What
cannot be used is refused in one line (`HistoryError`, exit 2): a URL that is not one, a server
that does not answer, a database that is not a history, a history written by a newer
branch-surge. A URL's password never appears in a message.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from surge.exits import BadInput
from surge.history import schema
from surge.history.entry import Capacity, Entry, Finding, Objective
from surge.history.schema import HEAD, findings, objectives, runs

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
RACE_S = 10.0
"""How long a process that lost the race to create a new history waits for the winner's
migration to finish."""
RACE_POLL_S = 0.1
CONNECT_TIMEOUT_S = 10
"""How long a database server may take to answer before the history is said unreachable."""


class HistoryError(BadInput):
    """A history that cannot be used, worded as one line."""


def url_of(where: str) -> URL:
    """`where` as a SQLAlchemy URL: a path is a SQLite file; `postgresql://` is read with
    psycopg (3), the driver this project ships, rather than SQLAlchemy's default psycopg2."""
    if "://" not in where:
        return URL.create("sqlite", database=str(Path(where)))
    try:
        url = make_url(where)
    except (ArgumentError, ValueError):
        raise HistoryError(f"--history: {_masked(where)!r} is not a database URL") from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url


def shown(url: URL) -> str:
    """The URL as a message may name it: the password hidden, a SQLite file as its path."""
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True)


def _masked(text: str) -> str:
    try:
        return make_url(text).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return text.split("@")[-1] if "@" in text else text


class Store:
    """An open history. `open` checks and migrates it; every method raises `HistoryError`
    (one line) when the database fails it."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self.engine = engine
        self.url = url

    @property
    def name(self) -> str:
        return shown(self.url)

    @classmethod
    def open(cls, where: str, *, create: bool = True) -> Store:
        """The history at `where` (a path or URL), its schema brought up to date; without
        `create`, a SQLite file that does not exist yet is refused rather than made."""
        url = url_of(where)
        name = shown(url)
        arguments: dict[str, Any] = {}
        if url.get_backend_name() == "sqlite":
            path = Path(str(url.database))
            if path.is_dir():
                raise HistoryError(f"--history: {name} is a folder, not a history file")
            if not path.exists():
                if not create:
                    raise HistoryError(f"--history: no history at {name} (no run recorded yet)")
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as error:
                    raise HistoryError(
                        f"--history: cannot create {name}: {error.strerror}"
                    ) from None
        elif url.get_backend_name() == "postgresql":
            arguments["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        try:
            engine = sa.create_engine(url, **arguments)
        except (ArgumentError, NoSuchModuleError, ImportError) as error:
            raise HistoryError(f"--history: {name}: {_first_line(error)}") from None
        store = cls(engine, url)
        with store._failing("cannot open it"):
            _migrated(engine, name)
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _failing(self, doing: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as error:
            raise HistoryError(f"--history: {self.name}: {doing}: {_first_line(error)}") from None

    def record(self, entry: Entry, label: str | None = None) -> Entry:
        """Add `entry`, or replace the run's earlier record (same `uid`), keeping its number;
        its label is the entry's, else the earlier record's, else `label`. The entry as
        recorded."""
        recorded = dt.datetime.now(dt.UTC)
        with self._failing("cannot record the run"), self.engine.begin() as connection:
            before = connection.execute(
                sa.select(runs.c.id, runs.c.label).where(runs.c.uid == entry.uid)
            ).first()
            label = entry.label or (before.label if before is not None else None) or label
            values = _row(entry) | {"label": label, "recorded": recorded}
            if before is None:
                key = connection.execute(runs.insert().values(**values)).inserted_primary_key
                assert key is not None  # one row inserted into a table with a primary key
                number = key[0]
            else:
                number = before.id
                connection.execute(runs.update().where(runs.c.id == number).values(**values))
                for table in (objectives, findings):
                    connection.execute(table.delete().where(table.c.run_id == number))
            if entry.objectives:
                connection.execute(
                    objectives.insert(), [_objective_row(number, o) for o in entry.objectives]
                )
            if entry.findings:
                connection.execute(
                    findings.insert(),
                    [_finding_row(number, n, f) for n, f in enumerate(entry.findings)],
                )
        return replace(entry, id=number, label=label, recorded=recorded)

    def entries(
        self,
        *,
        profile: str | None = None,
        target: str | None = None,
        label: str | None = None,
        kind: str | None = None,
        group: tuple[str, str, str] | None = None,
        before: Entry | None = None,
        valid: bool | None = None,
        last: int | None = None,
        details: bool = True,
    ) -> list[Entry]:
        """Recorded runs, oldest first, filtered; `before` an entry: only runs started before
        it (itself left out); `last`: only the newest so many; `details`: with their objectives
        and findings."""
        query = sa.select(runs)
        if profile is not None:
            query = query.where(runs.c.profile == profile)
        if target is not None:
            query = query.where(runs.c.target == target)
        if label is not None:
            query = query.where(runs.c.label == label)
        if kind is not None:
            query = query.where(runs.c.kind == kind)
        if group is not None:
            query = query.where(
                runs.c.kind == group[0], runs.c.profile_hash == group[1], runs.c.target == group[2]
            )
        if before is not None:
            query = query.where(runs.c.started < before.started, runs.c.uid != before.uid)
        if valid is not None:
            query = query.where(runs.c.valid == valid)
        newest_first = query.order_by(runs.c.started.desc(), runs.c.id.desc())
        if last is not None:
            newest_first = newest_first.limit(last)
        with self._failing("cannot read it"), self.engine.connect() as connection:
            rows = list(reversed(connection.execute(newest_first).all()))
            if not details or not rows:
                return [_entry(row) for row in rows]
            numbers = [row.id for row in rows]
            found = _children(connection, objectives, numbers, objectives.c.name)
            said = _children(connection, findings, numbers, findings.c.position)
        return [
            _entry(
                row,
                tuple(_objective(o) for o in found.get(row.id, [])),
                tuple(_finding(f) for f in said.get(row.id, [])),
            )
            for row in rows
        ]

    def find(self, run: str) -> Entry:
        """A recorded run by its number, its uid (or the start of it) or its folder."""
        query = sa.select(runs.c.id)
        if run.isdigit():
            query = query.where(runs.c.id == int(run))
        else:
            folder = str(Path(run).resolve())
            query = query.where(
                sa.or_(runs.c.uid.startswith(run, autoescape=True), runs.c.folder == folder)
            )
        with self._failing("cannot read it"), self.engine.connect() as connection:
            numbers = connection.execute(query.limit(2)).scalars().all()
        if len(numbers) != 1:
            why = "no recorded run" if not numbers else "more than one recorded run"
            raise HistoryError(f"{run}: {why} in {self.name} has that number, uid or folder")
        with self._failing("cannot read it"), self.engine.connect() as connection:
            row = connection.execute(sa.select(runs).where(runs.c.id == numbers[0])).one()
            found = _children(connection, objectives, [row.id], objectives.c.name)
            said = _children(connection, findings, [row.id], findings.c.position)
        return _entry(
            row,
            tuple(_objective(o) for o in found.get(row.id, [])),
            tuple(_finding(f) for f in said.get(row.id, [])),
        )

    def tables(
        self, profile: str | None = None
    ) -> tuple[Sequence[sa.Row[Any]], Sequence[sa.Row[Any]]]:
        """Every run (oldest first) and every objective row of them, as plain rows: what the
        trend report reads, in two queries whatever the history's size."""
        query = sa.select(runs).order_by(runs.c.started, runs.c.id)
        judged = sa.select(objectives)
        if profile is not None:
            query = query.where(runs.c.profile == profile)
            judged = judged.join(runs, runs.c.id == objectives.c.run_id).where(
                runs.c.profile == profile
            )
        with self._failing("cannot read it"), self.engine.connect() as connection:
            return connection.execute(query).all(), connection.execute(judged).all()

    def findings_of(self, numbers: Sequence[int]) -> dict[int, tuple[Finding, ...]]:
        """The findings of the runs numbered `numbers`."""
        with self._failing("cannot read it"), self.engine.connect() as connection:
            said = _children(connection, findings, numbers, findings.c.position)
        return {number: tuple(_finding(f) for f in rows) for number, rows in said.items()}


def _migrated(engine: Engine, name: str) -> None:
    """`_migrate`, with the race it can lose: processes that open a new history at once (runs
    side by side, pipelines sharing a database) all find it empty and all create its tables;
    each that fails then waits for the one that won to bring the schema to the head, and uses
    it. A failure before the database answered (a server down) is not waited on."""
    answered = False
    try:
        with engine.begin() as connection:
            answered = True
            _migrate(connection, name)
    except (SQLAlchemyError, _Unfinished) as error:
        if not answered:
            raise
        deadline = time.monotonic() + RACE_S
        while time.monotonic() < deadline:
            time.sleep(RACE_POLL_S)
            try:
                with engine.connect() as connection:
                    if _revision(connection) == HEAD:
                        return
            except SQLAlchemyError:
                continue
        if isinstance(error, _Unfinished):
            raise HistoryError(
                f"--history: {name}: its tables were made but never stamped with a schema "
                f"revision (a creation cut short?): remove it, or record into another"
            ) from None
        raise


class _Unfinished(Exception):
    """The history's tables are there, without a revision yet: another process is making
    them."""


def _revision(connection: Connection) -> str | None:
    """The schema revision the database is at; None when it has none."""
    if "alembic_version" not in sa.inspect(connection).get_table_names():
        return None
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _migrate(connection: Connection, name: str) -> None:
    """Bring the schema to this version's head; refuse a database that is not a history, or
    one a newer branch-surge has migrated past what this one knows. A history already at the
    head is checked without Alembic, which every recorded run would otherwise load."""
    tables = set(sa.inspect(connection).get_table_names())
    current = _revision(connection)
    if current == HEAD:
        return
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    if current is None:
        if tables and tables <= {"alembic_version", *schema.metadata.tables}:
            raise _Unfinished
        if tables - {"alembic_version"}:
            shown_tables = ", ".join(sorted(tables)[:3])
            raise HistoryError(
                f"--history: {name} is not a run history (it holds other tables: {shown_tables})"
            )
    else:
        try:
            script.get_revision(current)
        except CommandError:
            raise HistoryError(
                f"--history: {name}: schema revision {current} is newer than this branch-surge "
                f"knows ({head}): upgrade branch-surge to use it"
            ) from None
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _children(
    connection: Connection, table: sa.Table, numbers: Sequence[int], order: sa.Column[Any]
) -> dict[int, list[Any]]:
    """The rows of `table` belonging to the runs numbered `numbers`, by run."""
    found: dict[int, list[Any]] = {}
    for start in range(0, len(numbers), 500):  # bound the IN list, whatever the database
        chunk = numbers[start : start + 500]
        query = sa.select(table).where(table.c.run_id.in_(chunk)).order_by(table.c.run_id, order)
        for row in connection.execute(query):
            found.setdefault(row.run_id, []).append(row)
    return found


def _row(entry: Entry) -> dict[str, Any]:
    capacity = entry.capacity or Capacity(None, None, None, None)
    return {
        "uid": entry.uid,
        "kind": entry.kind,
        "profile": entry.profile,
        "profile_hash": entry.profile_hash,
        "target": entry.target,
        "binding": entry.binding,
        "started": entry.started.astimezone(dt.UTC),
        "machine": entry.machine,
        "locale": entry.locale,
        "valid": entry.valid,
        "exit_code": entry.exit_code,
        "requests": entry.requests,
        "errors": entry.errors,
        "time_scale": entry.time_scale,
        "rate_scale": entry.rate_scale,
        "workers": entry.workers,
        "phase": entry.phase,
        "capacity": capacity.multiple,
        "capacity_low": capacity.low,
        "capacity_high": capacity.high,
        "capacity_per_s": capacity.requests_per_s,
        "folder": entry.folder,
        "report": entry.report,
        "link": entry.link,
        "version": entry.version,
    }


def _objective_row(number: int, objective: Objective) -> dict[str, Any]:
    return {
        "run_id": number,
        "name": objective.name,
        "metric": objective.metric,
        "limit_value": objective.limit,
        "budget": objective.budget,
        "requests": objective.requests,
        "bad": objective.bad,
        "share": objective.share,
        "outside_requests": objective.outside_requests,
        "outside_bad": objective.outside_bad,
        "value": objective.value,
        "passed": objective.passed,
        "held": objective.held,
    }


def _finding_row(number: int, position: int, finding: Finding) -> dict[str, Any]:
    return {
        "run_id": number,
        "position": position,
        "tone": finding.tone,
        "message": finding.message,
        "figures": finding.figures,
        "anchor": finding.anchor,
    }


def utc(moment: dt.datetime) -> dt.datetime:
    """A time read back from the database, in UTC (SQLite keeps no zone)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _entry(row: Any, found: tuple[Objective, ...] = (), said: tuple[Finding, ...] = ()) -> Entry:
    capacity = None
    if row.kind == "capacity":
        capacity = Capacity(row.capacity, row.capacity_low, row.capacity_high, row.capacity_per_s)
    return Entry(
        uid=row.uid,
        kind=row.kind,
        profile=row.profile,
        profile_hash=row.profile_hash,
        target=row.target,
        binding=row.binding,
        started=utc(row.started),
        valid=bool(row.valid),
        exit_code=row.exit_code,
        folder=row.folder,
        report=row.report,
        locale=row.locale or "en",
        requests=row.requests,
        errors=row.errors,
        time_scale=row.time_scale,
        rate_scale=row.rate_scale,
        workers=row.workers,
        version=row.version,
        phase=row.phase,
        capacity=capacity,
        objectives=found,
        findings=said,
        label=row.label,
        machine=row.machine,
        link=row.link,
        recorded=utc(row.recorded),
        id=row.id,
    )


def _objective(row: Any) -> Objective:
    return Objective(
        name=row.name,
        metric=row.metric,
        limit=row.limit_value,
        budget=row.budget,
        requests=row.requests,
        bad=row.bad,
        share=row.share,
        value=row.value,
        passed=row.passed,
        held=row.held,
        outside_requests=row.outside_requests,
        outside_bad=row.outside_bad,
    )


def _finding(row: Any) -> Finding:
    return Finding(tone=row.tone, message=row.message, figures=dict(row.figures), anchor=row.anchor)


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
