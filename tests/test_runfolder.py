"""The run folder's one schema: what a run writes reads back typed, and anything else is one
line (`RunFolderError`, exit 2) naming the folder, the file and what is wrong."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from surge import exits, runfolder
from surge.day.arrivals import Lateness
from surge.runfolder import RequestLog, RunFolderError, Visits
from tests.runs import DAY, host_day, lateness, make, record


def test_what_a_run_writes_reads_back_typed(tmp_path: Path) -> None:
    rows = [record(n) for n in range(25)]
    folder = runfolder.load(make(tmp_path / "run", records=rows, parts=3))
    assert folder.ended
    assert folder.info.format_version == runfolder.FORMAT_VERSION
    assert folder.profile == DAY
    assert folder.request_count == 25
    table = folder.requests()
    assert table.schema == runfolder.REQUEST_SCHEMA
    assert [tuple(r.values()) for r in table.to_pylist()] == rows
    assert folder.requests(["key"]).column_names == ["key"]
    assert folder.lateness is not None
    assert folder.lateness.counts().on_time == 25
    assert folder.visits is not None
    assert folder.visits.total.planned == 25
    assert (folder.reconcile, folder.alerts, folder.metrics()) == (None, None, None)


def test_a_part_of_an_older_schema_reads_with_its_missing_column_empty_beside_todays(
    tmp_path: Path,
) -> None:
    """Today's parts are read file by file; a part without a column added since is fitted to
    the schema, the column null, in the order written."""
    rows = [record(n) for n in range(6)]
    path = make(tmp_path / "run", records=rows, parts=2)
    first = path / runfolder.REQUESTS / "part-000000.parquet"
    older = pq.read_table(first)
    dropped = "scheduled"  # as a folder from before a column was added lacks it
    pq.write_table(older.drop_columns([dropped]), first)
    table = runfolder.read_requests(path / runfolder.REQUESTS)
    assert table.schema == runfolder.REQUEST_SCHEMA
    assert table.column(dropped).null_count == older.num_rows
    assert table.column("key").to_pylist() == [
        r[runfolder.REQUEST_SCHEMA.names.index("key")] for r in rows
    ]


def test_each_flush_is_one_whole_part_and_the_log_keeps_only_what_is_not_written(
    tmp_path: Path,
) -> None:
    log = RequestLog(tmp_path)
    log.extend([record(0), record(1)])
    taken = log.take()
    assert (len(taken), log.take()) == (2, [])  # taken off: memory holds only the unwritten
    log.write(taken)
    log.add(record(2))
    log.flush()
    log.flush()  # nothing new: no empty part
    parts = sorted(p.name for p in (tmp_path / runfolder.REQUESTS).iterdir())
    assert parts == ["part-000000.parquet", "part-000001.parquet"]
    assert log.written == 3
    assert runfolder.read_requests(tmp_path / runfolder.REQUESTS).num_rows == 3


def test_a_run_that_crashed_keeps_every_part_it_wrote_and_reads_as_not_ended(
    tmp_path: Path,
) -> None:
    path = make(tmp_path / "run", records=[record(n) for n in range(8)], parts=2, ended=False)
    half = path / runfolder.REQUESTS / ".part-000002.parquet.tmp"
    half.write_bytes(b"PAR1 half a part")  # the crash came in the middle of the next flush
    folder = runfolder.load(path)
    assert not folder.ended
    assert (folder.visits, folder.lateness) == (None, None)
    assert folder.request_count == folder.requests().num_rows == 8


def test_an_empty_log_reads_as_no_rows_with_the_schema(tmp_path: Path) -> None:
    folder = runfolder.load(make(tmp_path / "run", records=[], recorded=Lateness()))
    assert folder.requests().num_rows == 0
    assert folder.requests().schema == runfolder.REQUEST_SCHEMA
    assert folder.requests(["outcome"]).column_names == ["outcome"]


def bad(path: Path) -> str:
    with pytest.raises(RunFolderError) as error:
        runfolder.load(path)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_what_is_not_a_run_folder_is_one_line_of_bad_input(tmp_path: Path) -> None:
    assert issubclass(RunFolderError, exits.BadInput)
    assert bad(tmp_path / "nowhere") == f"{tmp_path / 'nowhere'}: no such folder"
    (tmp_path / "file").write_text("x", encoding="utf-8")
    assert bad(tmp_path / "file") == f"{tmp_path / 'file'}: not a folder"
    (tmp_path / "empty").mkdir()
    assert bad(tmp_path / "empty") == f"{tmp_path / 'empty'}: not a run folder (no run.json)"


def rewrite(path: Path, name: str, change: object) -> None:
    file = path / name
    data = json.loads(file.read_text(encoding="utf-8"))
    data = change(data) if callable(change) else change
    file.write_text(json.dumps(data), encoding="utf-8")


def test_a_folder_of_a_newer_format_asks_for_a_newer_harness(tmp_path: Path) -> None:
    path = make(tmp_path / "run")
    rewrite(path, "run.json", lambda d: d | {"format_version": runfolder.FORMAT_VERSION + 1})
    assert bad(path) == (
        f"{path / 'run.json'}: format_version: {runfolder.FORMAT_VERSION + 1} is newer than "
        f"this harness reads ({runfolder.FORMAT_VERSION}): upgrade branch-surge to read it"
    )


def test_a_folder_from_before_the_format_is_refused(tmp_path: Path) -> None:
    path = make(tmp_path / "run")
    rewrite(path, "run.json", lambda d: {k: v for k, v in d.items() if k != "format_version"})
    assert bad(path).startswith(f"{path / 'run.json'}: format_version: missing")


@pytest.mark.parametrize("name", ["visits.json", "lateness.json", "expected_alerts.json"])
def test_a_run_that_ended_but_misses_a_file_names_the_file(tmp_path: Path, name: str) -> None:
    path = make(tmp_path / "run")
    (path / name).unlink()
    assert bad(path) == f"{path}: {name}: missing (the run ended, so it was written)"


def test_a_broken_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = make(tmp_path / "run")
    (path / "visits.json").write_text("{not json", encoding="utf-8")
    assert bad(path).startswith(f"{path / 'visits.json'}: not JSON: ")
    path = make(tmp_path / "other")
    rewrite(path, "run.json", lambda d: d | {"seed": "seven"})
    assert bad(path).startswith(f"{path / 'run.json'}: seed: ")
    rewrite(path, "run.json", lambda d: d | {"seed": 7, "resolved_profile": {"name": "x"}})
    assert bad(path).startswith(f"{path / 'run.json'}: resolved_profile: ")


def test_the_generators_samples_read_back_typed_and_an_older_folder_has_none(
    tmp_path: Path,
) -> None:
    samples = host_day(processes=2)
    assert runfolder.load(make(tmp_path / "run", generator=samples)).generator() == samples
    assert runfolder.load(make(tmp_path / "old")).generator() is None


def test_a_generator_file_from_before_the_hosts_cpu_wait_reads_with_it_unknown(
    tmp_path: Path,
) -> None:
    path = make(tmp_path / "run", generator=host_day())
    older = ",".join(runfolder.GeneratorSample._fields[:-1])
    (path / runfolder.GENERATOR).write_text(f"{older}\n1002,0,1,0.5,0.2,4,1\n", encoding="utf-8")
    (sample,) = runfolder.load(path).generator() or []
    assert sample.host_idle == 0.5
    assert math.isnan(sample.host_cpu_wait)


def test_a_broken_generator_file_is_one_line(tmp_path: Path) -> None:
    path = make(tmp_path / "run", generator=host_day())
    (path / runfolder.GENERATOR).write_text("time,process\n1,0\n", encoding="utf-8")
    with pytest.raises(RunFolderError, match=r"generator\.csv: not a generator file: its header"):
        runfolder.load(path).generator()
    header = ",".join(runfolder.GeneratorSample._fields)
    (path / runfolder.GENERATOR).write_text(f"{header}\n1,0,1,x,0,0,0\n", encoding="utf-8")
    with pytest.raises(RunFolderError, match=r"generator\.csv: not a generator file: could not"):
        runfolder.load(path).generator()


def test_incidents_and_the_summary_are_added_without_losing_what_was_there(
    tmp_path: Path,
) -> None:
    path = make(tmp_path / "run")
    runfolder.add_incident(path, "the embedded mock core ended during the run (exit -9)")
    runfolder.add_incident(path, "the rehearsal was interrupted (SIGINT)")
    runfolder.write_summary(path, {"verdict": {"valid": False}})
    folder = runfolder.load(path)
    assert folder.incidents == [
        "the embedded mock core ended during the run (exit -9)",
        "the rehearsal was interrupted (SIGINT)",
    ]
    assert folder.summary == {
        "format_version": runfolder.FORMAT_VERSION,
        "verdict": {"valid": False},
    }
    assert not list(path.glob(".*.tmp"))  # every file was written whole, then renamed


def test_the_recorded_command_line_blanks_secret_values() -> None:
    argv = ["locust", "--admin-token", "s3", "--kiosk-token=k", "--host", "h", "--seed", "1"]
    assert runfolder.without_secrets(argv) == [
        "locust",
        "--admin-token",
        "***",
        "--kiosk-token=***",
        "--host",
        "h",
        "--seed",
        "1",
    ]
    assert runfolder.public_options({"admin_token": "s3", "seed": 1}) == {"seed": 1}


def test_every_planned_visit_is_accounted_for_once_and_a_lost_shares_due_visits_are_lost() -> None:
    planned = {
        0: {"counter": 10, "kiosk": 0, "online": 0},
        1: {"counter": 12, "kiosk": 0, "online": 0},
    }
    recorded = {0: lateness(8, late=1, dropped=1), 1: lateness(5)}
    due_by_the_end = {1: {"counter": 11, "kiosk": 0, "online": 0}}  # one was due after the end
    visits = Visits.account(
        planned, recorded, lost=due_by_the_end, run={"ok": 14}, requests={0: 30, 1: 12}
    )
    counter = visits.channels["counter"]
    assert (counter.on_time, counter.late, counter.dropped) == (13, 1, 1)
    assert (counter.lost, counter.not_reached) == (6, 1)
    assert counter.planned == 22 == counter.due + counter.lost + counter.not_reached
    assert [(s.share, s.complete, s.requests) for s in visits.shares] == [
        (0, True, 30),
        (1, False, 12),
    ]
    assert visits.missing_shares == [1]
