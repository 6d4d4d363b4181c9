"""The run history on a real PostgreSQL (a throwaway server from Debian's package, started once:
tests/postgres.py): the schema created and migrated by the tool, a rehearsal, a capacity search
and a gate each landing in it, and a database from a newer branch-surge refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from surge.history.store import Store
from tests.history_runs import capacity_search, timed_run
from tests.support import surge_in_process

pytestmark = pytest.mark.slow  # a PostgreSQL server started


@pytest.fixture
def database(postgresql: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of its own on the shared server, for one test."""
    name = request.node.name.replace("-", "_")[:60].lower()
    server = make_url(postgresql)
    with psycopg.connect(
        host=server.host, port=server.port, user=server.username, dbname="postgres",
        autocommit=True,
    ) as admin:  # fmt: skip
        admin.execute(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_a_rehearsal_a_capacity_search_and_a_gate_land_in_postgresql(
    database: str, tmp_path: Path
) -> None:
    rehearsal = timed_run(tmp_path / "rehearsal", start=1_000.0)
    search = capacity_search(tmp_path / "search", 40.0, start=2_000.0, interval=(39.0, 42.0))
    gated = timed_run(tmp_path / "gated", seed=1, start=3_000.0)
    imported = surge_in_process("history", "import", str(rehearsal), str(search),
                                "--history", database, "--label", "v1")  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    done = surge_in_process("gate", str(gated), "--history", database, "--label", "v2")
    assert done.returncode == 0, done.stdout + done.stderr
    searched = surge_in_process("gate", str(search), "--history", database)
    assert searched.returncode == 0, searched.stdout + searched.stderr
    with Store.open(database, create=False) as history:
        assert history.url.drivername == "postgresql+psycopg"
        recorded = history.entries()
    assert [(Path(r.folder).name, r.kind, r.label) for r in recorded] == [
        ("rehearsal", "rehearsal", "v1"),
        ("search", "capacity", "v1"),
        ("gated", "rehearsal", "v2"),
    ]
    assert recorded[1].capacity is not None
    assert (recorded[1].capacity.multiple, recorded[1].capacity.high) == (40.0, 42.0)
    assert all(r.exit_code == 0 for r in recorded)
    assert len(recorded[2].objectives) == len(recorded[0].objectives) > 0
    assert recorded[0].started.tzinfo is not None
    listed = surge_in_process("history", "list", "--history", database)
    assert len(listed.stdout.splitlines()) == 3
    trend = surge_in_process("history", "report", "--history", database,
                             "-o", str(tmp_path / "history.html"), "--lang", "en")  # fmt: skip
    assert trend.returncode == 0, trend.stderr
    assert "Run history" in (tmp_path / "history.html").read_text(encoding="utf-8")


def test_a_postgresql_history_from_a_newer_version_is_refused(database: str) -> None:
    Store.open(database).close()  # created by the tool
    url = make_url(database)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database,
                         autocommit=True) as db:  # fmt: skip
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    done = surge_in_process("history", "list", "--history", database)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "schema revision 9999 is newer than this branch-surge knows" in line
