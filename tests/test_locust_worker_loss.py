"""Distributed runs that lose workers: `kill -9` on workers of a real master once the load runs.

Locust's master notices a lost worker only by its missing heartbeats (about four seconds), so
the day is short and every wait is bounded. The run is then not valid evidence (exit 3, one
line), and the master still writes the run folder from what the workers had shipped.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from surge.day.arrivals import schedule
from surge.judge import verdict
from surge.runfolder import RunFolder
from tests.load import (
    DISTRIBUTED,
    TIME_SCALE,
    WORKER_EXIT_S,
    WORKERS,
    busy_weekday,
    master_and_workers,
    run_folder,
    verdict_of,
)
from tests.shared import exclusive
from tests.support import serve

pytestmark = pytest.mark.slow

LOAD_SEEN_S = 30
"""At most this long for Locust's first stats table, the sign that the workers send load."""
RUN_TIMEOUT_S = 30
"""After the kill: the rest of the day, the last batches and Locust's quit take about 10 s."""
_STATS_ROW = re.compile(r"^(GET|POST)\s+/v1/", re.MULTILINE)


class Lost:
    """A master, three workers and a 10-second day; `killed` of the workers die mid-run."""

    def __init__(self, tmp: Path, killed: int) -> None:
        self.results = tmp / "results"
        profile = busy_weekday(tmp, "lost")
        options = [  # with an admin token the end fetches over HTTP, so the master yields
            *("--profile", str(profile), "--time-scale", str(2 * TIME_SCALE)),
            *("--results", str(self.results)),
        ]
        with (
            serve(tmp / "core.db", "--unlimited", "--customers", "20") as (host, _),
            master_and_workers(tmp, host, options) as (master, workers),
        ):
            self._wait_for_load(tmp / "master.log")
            for worker in workers[:killed]:
                os.killpg(worker.pid, signal.SIGKILL)
            self.returncode = master.wait(timeout=RUN_TIMEOUT_S)
            self.survivors = [worker.wait(timeout=WORKER_EXIT_S) for worker in workers[killed:]]
        self.log = (tmp / "master.log").read_text(encoding="utf-8", errors="replace")

    @staticmethod
    def _wait_for_load(log: Path) -> None:
        deadline = time.monotonic() + LOAD_SEEN_S
        while not _STATS_ROW.search(log.read_text(encoding="utf-8", errors="replace")):
            assert time.monotonic() < deadline, "no load within the bound"
            time.sleep(0.2)

    def folder(self) -> RunFolder:
        return run_folder(self.results)


def verdicts(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("The run is not valid evidence")]


@pytest.fixture(scope="module")
def one_lost(tmp_path_factory: pytest.TempPathFactory) -> Lost:
    with exclusive(tmp_path_factory, DISTRIBUTED):
        return Lost(tmp_path_factory.mktemp("one-lost"), killed=1)


def test_a_worker_killed_mid_run_makes_the_run_not_valid_evidence(one_lost: Lost) -> None:
    assert one_lost.returncode == 3, verdict_of(one_lost.log)
    [line] = verdicts(one_lost.log)
    assert re.match(
        rf"The run is not valid evidence: 1 of {WORKERS} workers went missing \(\d+ of \d+ "
        r"planned visits were lost with them\)",
        line,
    )
    assert one_lost.survivors == [0, 0]
    assert "warning: the worker of share" in one_lost.log  # shown at --loglevel WARNING too


def test_every_planned_visit_is_accounted_for_with_the_lost_workers_as_lost(
    one_lost: Lost,
) -> None:
    """The killed worker's share: what it ran before its last batch counts as run, the rest of
    what was due by the end as lost with it; nothing planned is left out."""
    folder = one_lost.folder()
    assert folder.visits is not None
    total = folder.visits.total
    profile = folder.profile
    assert total.planned == sum(schedule(profile, folder.info.seed).census()[0].values())
    assert total.lost > 0
    assert total.planned == total.started + total.dropped + total.lost + total.not_reached
    assert total.not_reached <= total.planned // 10  # the day ran to its end


def test_the_master_still_writes_the_folder_with_the_surviving_workers_rows(
    one_lost: Lost,
) -> None:
    folder = one_lost.folder()
    assert folder.visits is not None
    shares = folder.visits.shares
    assert len(shares) == WORKERS
    assert len(folder.visits.missing_shares) == 1
    survivors = [share.requests for share in shares if share.complete]
    assert len(survivors) == WORKERS - 1
    assert all(n > 0 for n in survivors)
    assert sum(share.requests for share in shares) == folder.request_count
    assert not verdict.judge(folder).valid
    assert folder.info.workers == WORKERS
    assert f"Run folder: {folder.path}" in one_lost.log


def test_a_master_whose_workers_all_died_ends_and_says_so(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with exclusive(tmp_path_factory, DISTRIBUTED):
        lost = Lost(tmp_path, killed=WORKERS)
    assert lost.returncode == 3, verdict_of(lost.log)
    [line] = verdicts(lost.log)
    assert line.startswith(
        f"The run is not valid evidence: {WORKERS} of {WORKERS} workers went missing"
    )
    folder = lost.folder()
    assert folder.visits is not None
    assert len(folder.visits.missing_shares) == WORKERS
    assert f"Run folder: {folder.path}" in lost.log
    assert folder.reconcile is not None  # the end's fetches were not cut short
