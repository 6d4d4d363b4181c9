"""The run history on SQLite (surge/history/store.py, `surge history …`): a run recorded once
whatever records it, found again by number, uid or folder, its schema created by the shipped
migrations; and every history that cannot be used refused in one line, exit 2, while a history
that cannot be written never changes a run's verdict."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from surge.history import schema, store
from surge.history.store import Store
from tests.history_runs import capacity_search, step_search, timed_run
from tests.support import assert_one_line_refusal, free_port, surge_in_process


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("runs")
    return [timed_run(tmp / f"run-{n}", seed=n, start=1_000.0 + 3_600 * n) for n in range(3)]


def one_line_refusal(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    for fragment in fragments:
        assert_one_line_refusal(done, fragment)


def test_a_run_is_recorded_once_whatever_records_it(folders: list[Path], tmp_path: Path) -> None:
    where = str(tmp_path / "h.sqlite")
    imported = surge_in_process("history", "import", str(folders[0]), "--history", where,
                                "--label", "v1.0")  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    gated = surge_in_process("gate", str(folders[0]), "--history", where)
    assert gated.returncode == 0, gated.stdout + gated.stderr
    with Store.open(where, create=False) as history:
        [run] = history.entries()
    assert run.label == "v1.0"  # kept: the gate gave none
    assert run.exit_code == 0
    assert (run.kind, run.profile, run.valid) == ("rehearsal", "weekday", True)
    summary = json.loads((folders[0] / "summary.json").read_text())
    judged = {o["name"]: o for o in summary["slo"]["objectives"]}
    assert {o.name for o in run.objectives} == set(judged)
    p95 = next(o for o in run.objectives if o.name == "cash_deposit.p95_ms")
    assert p95.value == pytest.approx(judged["cash_deposit.p95_ms"]["value"])
    assert p95.requests == judged["cash_deposit.p95_ms"]["whole"]["requests"] > 0
    assert [f.message for f in run.findings] == [f["message"] for f in summary["findings"]]


def test_list_and_show_find_runs_by_profile_label_number_uid_and_folder(
    folders: list[Path], tmp_path: Path
) -> None:
    where = str(tmp_path / "h.sqlite")
    for n, folder in enumerate(folders):
        done = surge_in_process("history", "import", str(folder), "--history", where,
                                "--label", f"v{n}")  # fmt: skip
        assert done.returncode == 0, done.stderr
    listed = surge_in_process("history", "list", "--history", where, "--label", "v1")
    [line] = listed.stdout.splitlines()
    assert line.split()[0] == "2"
    assert str(folders[1]) in line
    assert len(surge_in_process("history", "list", "--history", where).stdout.splitlines()) == 3
    assert (
        surge_in_process("history", "list", "--history", where, "--profile", "payday").stdout == ""
    )
    with Store.open(where, create=False) as history:
        uid = history.entries()[2].uid
    for name in ("3", uid[:8], str(folders[2])):
        shown = surge_in_process("history", "show", name, "--history", where)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith("run 3: rehearsal of weekday")
        assert "objective cash_deposit.p95_ms: " in shown.stdout
    one_line_refusal(
        surge_in_process("history", "show", "99", "--history", where), "99: no recorded run"
    )


def test_the_schema_is_the_newest_migrations_and_its_head_is_known(tmp_path: Path) -> None:
    script = ScriptDirectory(str(store.MIGRATIONS))
    assert script.get_current_head() == schema.HEAD
    where = tmp_path / "h.sqlite"
    Store.open(str(where)).close()
    engine = sa.create_engine(f"sqlite:///{where}")
    migrated = sa.MetaData()
    migrated.reflect(engine)
    engine.dispose()
    for table in schema.metadata.sorted_tables:
        made = migrated.tables[table.name]
        assert [c.name for c in made.columns] == [c.name for c in table.columns], table.name
        assert {i.name for i in made.indexes} == {i.name for i in table.indexes}, table.name


def test_a_capacity_search_is_recorded_with_its_interval_whichever_way_it_is_stated(
    tmp_path: Path,
) -> None:
    """A search of one run of levels states its interval's ends; one from before (a run per
    step, `surge history import`) stated it as a pair or a mapping, or the history takes the
    sustained step and the lowest failing one; a search below its range has no answer."""
    where = str(tmp_path / "h.sqlite")
    stated = capacity_search(tmp_path / "a", 40.0, interval=(38.5, 41.9))
    paired = step_search(tmp_path / "b", 40.0, start=5_000.0, interval=[38.0, 42.0])
    bracketed = step_search(tmp_path / "c", 40.0, start=9_000.0, failed=42.0)
    mapped = step_search(tmp_path / "e", 40.0, start=11_000.0, interval={"low": 39, "high": 41})
    below = capacity_search(tmp_path / "d", None, start=13_000.0)
    done = surge_in_process("history", "import", *map(str, (stated, paired, bracketed, mapped, below)),
                            "--history", where)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with Store.open(where, create=False) as history:
        found = [(r.capacity.multiple, r.capacity.low, r.capacity.high, r.exit_code)
                 for r in history.entries() if r.capacity]  # fmt: skip
    assert found == [
        (40.0, 38.5, 41.9, 0),
        (40.0, 38.0, 42.0, 0),
        (40.0, 40.0, 42.0, 0),
        (40.0, 39.0, 41.0, 0),
        (None, None, None, 1),
    ]


def test_the_history_defaults_to_a_file_beside_the_run_folders(
    folders: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SURGE_HISTORY", raising=False)
    beside = folders[0].parent / "history.sqlite"
    assert surge_in_process("gate", str(folders[0])).returncode == 0
    with Store.open(str(beside), create=False) as history:
        assert [Path(r.folder) for r in history.entries()] == [folders[0].resolve()]
    monkeypatch.chdir(folders[0].parent.parent)
    refused = surge_in_process("history", "list")
    one_line_refusal(refused, "no history at results/history.sqlite")


def test_a_history_that_cannot_be_written_never_changes_the_verdict(
    folders: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SURGE_HISTORY", str(tmp_path))  # a folder, not a file
    before = sorted(p.name for p in folders[1].iterdir())
    done = surge_in_process("gate", str(folders[1]))
    assert done.returncode == 0, done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("surge: history: the run was not recorded: --history: ")
    assert sorted(p.name for p in folders[1].iterdir()) == before


def newer(path: Path) -> str:
    Store.open(str(path)).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    return str(path)


def another_database(path: Path) -> str:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE accounts (id INTEGER)")
    return str(path)


@pytest.mark.parametrize(
    ("where", "fragments"),
    [
        (lambda tmp: f"postgresql://surge:s3cret@127.0.0.1:{free_port()}/h", ["cannot open it"]),
        (lambda tmp: "nosuchdb://somewhere/h", ["nosuchdb"]),
        (lambda tmp: "postgresql://surge:s3cret@[::1:5432/h", ["is not a database URL"]),
        (lambda tmp: newer(tmp / "newer.sqlite"), ["schema revision 9999 is newer", "upgrade"]),
        (lambda tmp: another_database(tmp / "ledger.sqlite"), ["is not a run history", "accounts"]),
        (lambda tmp: str(tmp), ["is a folder"]),
    ],
    ids=["unreachable", "unknown-database", "not-a-url", "newer", "not-a-history", "a-folder"],
)
def test_a_history_that_cannot_be_used_is_one_line_and_exit_2(
    folders: list[Path], tmp_path: Path, where: object, fragments: list[str]
) -> None:
    url = where(tmp_path)  # type: ignore[operator]
    for args in (["history", "list"], ["gate", str(folders[2]), "--no-history"]):
        done = surge_in_process(*args, "--history", url)
        one_line_refusal(done, *fragments)
        assert "s3cret" not in done.stderr


def test_a_folder_that_is_not_a_run_or_never_reported_is_refused(tmp_path: Path) -> None:
    where = str(tmp_path / "h.sqlite")
    one_line_refusal(
        surge_in_process("history", "import", str(tmp_path), "--history", where),
        "not a run folder (no run.json)",
    )
    from tests import runs

    unreported = runs.make(tmp_path / "unreported")
    one_line_refusal(
        surge_in_process("history", "import", str(unreported), "--history", where),
        "no objectives: the run was never reported",
    )
    assert not Path(where).exists()  # refused before anything was written


def breaking(path: Path) -> str:
    """A history that opens but refuses every new run, as a full disk or a lost server would
    refuse the write."""
    Store.open(str(path)).close()
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON runs BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    return str(path)


@pytest.mark.parametrize("slower", [1.0, 4.0], ids=["passing", "failing"])
def test_a_history_that_breaks_while_recording_never_changes_the_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slower: float
) -> None:
    folder = timed_run(tmp_path / "run", slower=slower)
    alone = surge_in_process("gate", str(folder), "--no-history")
    assert alone.returncode == (0 if slower == 1.0 else 1), alone.stdout
    files = sorted(p.name for p in folder.iterdir())
    monkeypatch.setenv("SURGE_HISTORY", breaking(tmp_path / "h.sqlite"))
    done = surge_in_process("gate", str(folder))
    assert (done.returncode, done.stdout) == (alone.returncode, alone.stdout)
    [line] = done.stderr.splitlines()
    assert line.startswith("surge: history: the run was not recorded: --history: ")
    assert "cannot record the run" in line
    assert "disk full" in line
    assert sorted(p.name for p in folder.iterdir()) == files
    with Store.open(str(tmp_path / "h.sqlite"), create=False) as history:
        assert history.entries() == []


@pytest.mark.parametrize("command", ["rehearse", "capacity"])
def test_a_run_refuses_a_history_that_cannot_be_used_before_it_starts(
    tmp_path: Path, command: str
) -> None:
    out = tmp_path / "results"
    for where in (
        f"postgresql://surge:s3cret@127.0.0.1:{free_port()}/h",
        newer(tmp_path / "n.sqlite"),
    ):
        done = surge_in_process(command, "--out", str(out), "--history", where)
        one_line_refusal(done, "--history: ")
        assert "s3cret" not in done.stderr
        assert not out.exists() or not any(out.iterdir())  # no run folder: nothing started


def _open(where: str) -> None:
    Store.open(where).close()


@pytest.mark.slow  # a dozen processes
def test_runs_that_open_a_new_history_at_once_all_use_it(tmp_path: Path) -> None:
    """Rehearsals run side by side (tests/test_gate_baseline.py does) each create the history
    they will record in: all find it empty, all create its tables, and the losers must use the
    winner's rather than refuse it. The processes are forked from this one, which has imported
    the store already: each opens the history at once, not after a second of imports."""
    forked = multiprocessing.get_context("fork")
    for attempt in range(2):
        where = tmp_path / f"h{attempt}.sqlite"
        opening = [forked.Process(target=_open, args=(str(where),)) for _ in range(6)]
        for process in opening:
            process.start()
        for process in opening:
            process.join(timeout=60)
            assert process.exitcode == 0, "an opener failed: its traceback is in the output"
        with Store.open(str(where), create=False) as history:
            assert history.entries() == []
