"""Locust's `--processes N`: forked workers on one machine run the same distributed day."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.load import (
    DISTRIBUTED,
    RUN_TIMEOUT_S,
    SHARED_CORES_LATE_AFTER,
    TIME_SCALE,
    busy_weekday,
    locust_count,
    process,
    records,
    run_folder,
    unstarved,
    verdict_of,
)
from tests.shared import exclusive
from tests.support import free_port, serve

pytestmark = pytest.mark.slow


def test_locusts_processes_option_runs_the_same_distributed_day(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`--processes 2` forks two workers (each with users of every channel); they connect to
    `--master-port`, so both are given."""
    profile = busy_weekday(tmp_path, "forked")

    def attempt(n: int) -> tuple[int, str, Path]:
        tmp, port = tmp_path / f"try{n}", str(free_port())
        tmp.mkdir()
        with (
            exclusive(tmp_path_factory, DISTRIBUTED),
            serve(tmp / "core.db", "--unlimited", "--customers", "20") as (host, _),
        ):
            args = [
                *("--processes", "2", "--headless", "--no-report", "--host", host),
                *("--profile", str(profile)),
                *("--master-bind-port", port, "--master-port", port, "--customers", "20"),
                *("--time-scale", str(2 * TIME_SCALE), "--results", str(tmp / "results")),
                *("--csv", str(tmp / "locust")),
                *SHARED_CORES_LATE_AFTER,
            ]
            with process(args, tmp / "locust.log") as forked:
                returncode = forked.wait(timeout=RUN_TIMEOUT_S)
        return returncode, (tmp / "locust.log").read_text(encoding="utf-8", errors="replace"), tmp

    returncode, log, tmp = unstarved(attempt, lambda done: (done[0], done[1]))
    assert returncode == 0, verdict_of(log)
    folder = run_folder(tmp / "results")
    assert folder.info.workers == 2
    assert folder.visits is not None
    assert folder.visits.missing_shares == []
    assert locust_count(tmp / "locust") == folder.request_count > 0
    assert {s.process for s in folder.generator() or []} == {0, 1, 2}  # each forked one watched
    assert log.count("Run folder:") == 1
    errors = {r["error"] for r in records(folder) if r["status"] == 422}
    assert not any("Idempotency" in e for e in errors)  # forked workers draw their own keys
