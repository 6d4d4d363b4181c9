"""Real load in tests: `locust -f loadtests` and `surge rehearse` as the processes users run, the
days they replay, and what the tests read back from them.

The days are weekday's, compressed: `TIME_SCALE` makes its eight hours 20 s for a Locust run,
with rates raised (`busy_weekday`) so the short day still has a couple of hundred visits; `SHORT`
makes them under 7 s for a rehearsal, about 60 visits, with `FEW_CUSTOMERS` (onboarding 200
takes 25 s).
"""

from __future__ import annotations

import csv
import itertools
import os
import re
import signal
import subprocess
import sys
import tomllib
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import tomli_w

from surge import runfolder
from surge.day.profile import profiles_dir
from surge.exits import NOT_VALID
from surge.runfolder import RunFolder
from tests.shared import keep, kept, shared
from tests.support import TOKENS, free_port, surge

ROOT = Path(__file__).resolve().parent.parent

TIME_SCALE = 1440
"""A Locust run's weekday lasts 20 s."""
RATES = "{ counter = 3600, kiosk = 3600, online = 1800 }"  # per branch per hour: 10 visits/s

SHORT_TIME_SCALE, SHORT_RATE_SCALE = "4320", "100"
"""A rehearsal's weekday: eight hours in under 7 s, about 60 visits."""
SHORT = ["--profile", "weekday", "--time-scale", SHORT_TIME_SCALE, "--rate-scale", SHORT_RATE_SCALE]
CUSTOMERS = 20
FEW_CUSTOMERS = ["--", "--customers", str(CUSTOMERS)]


def busy_weekday(folder: Path, name: str) -> Path:
    """`weekday` with rates high enough for a day of seconds to be a sample."""
    text = (profiles_dir() / "weekday.toml").read_text(encoding="utf-8")
    text = text.replace('name = "weekday"', f'name = "{name}"')
    text = re.sub(r"arrivals_per_hour = \{[^}]*\}", f"arrivals_per_hour = {RATES}", text)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def one_branch(folder: Path) -> Path:
    """`busy_weekday` at one branch, its kiosk at 2,000 visits an hour as the file writes it."""
    text = busy_weekday(folder, "one_branch").read_text(encoding="utf-8")
    text = re.sub(r"^branches = \d+", "branches = 1", text, flags=re.M)
    rates = "{ counter = 1000, kiosk = 2000, online = 500 }"
    text = re.sub(r"arrivals_per_hour = \{[^}]*\}", f"arrivals_per_hour = {rates}", text)
    path = folder / "one_branch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def locust(
    host: str, *args: str, timeout: float = 90, report: bool = False
) -> subprocess.CompletedProcess[str]:
    """A headless Locust run; without `report`, `--no-report` (the report has its own tests)."""
    extra = () if report else ("--no-report",)
    command = ["-f", "loadtests", "--headless", "--host", host, *extra, *args]
    return subprocess.run(
        [sys.executable, "-m", "locust", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_folder(results: Path) -> RunFolder:
    """The one run folder under `results`, read."""
    folders = list(results.iterdir())
    assert len(folders) == 1, folders
    return runfolder.load(folders[0])


def records(folder: RunFolder) -> list[dict[str, Any]]:
    return folder.requests().to_pylist()


def watched_the_whole_day(read: RunFolder, process: int) -> None:
    """The process's samples of its host follow each other from the day's start to past its
    end, each about a second (longer when the loop was held up; the last, cut short when Locust
    began stopping, shorter)."""
    mine = [s for s in read.generator() or [] if s.process == process]
    assert mine, process
    assert all(s.interval_s >= runfolder.GENERATOR_SAMPLE_S for s in mine[:-1])
    assert all(0 <= s.host_idle <= 1 and s.cpu >= 0 for s in mine)
    assert all(s.loop_lag_max_ms >= s.loop_lag_mean_ms >= 0 for s in mine)
    assert all(abs(b.time - b.interval_s - a.time) < 0.05 for a, b in itertools.pairwise(mine))
    day_start = read.info.day_start or 0.0
    day_end = day_start + read.profile.duration_s
    first = mine[0].time - mine[0].interval_s
    assert day_start <= first < day_start + runfolder.GENERATOR_SAMPLE_S  # none before the day
    assert mine[-1].time >= day_end


RUN_TIMEOUT_S = 60
"""A distributed run's bound: a 20 s day, its workers' start and its end."""
WORKERS = 3
WORKER_EXIT_S = 40
"""A worker's bound to exit once its master has: the stop timeout the harness gives Locust
(30 s, `surge.harness.options.STOP_TIMEOUT_S`: a user ends its visit before it stops) and its
quit. On two loaded cores a worker took more than 15 s."""
DISTRIBUTED = "distributed-locust-run"
"""The lock (`tests.shared.exclusive`) a distributed run holds: two of them side by side, ten
processes on two cores with the suite's other runs, stalled their workers' loops near a second
and lost the workers' last batches (a suite on a fresh clone)."""


@contextmanager
def process(
    args: list[str], log: Path, locustfile: str = "loadtests"
) -> Iterator[subprocess.Popen[bytes]]:
    """A Locust process in its own session, killed with its children when the block ends."""
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", locustfile, *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield child
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=10)


def verdict_of(log: str) -> str:
    """What a Locust run's log says of its verdict (from "The run is" to its run folder), the
    harness's warnings and Locust's word on its workers' heartbeats, and its last lines: a failed
    assertion shows why the run was not valid evidence and what happened on the way."""
    lines = log.splitlines()
    said = [i for i, line in enumerate(lines) if line.startswith("The run is")]
    verdict = lines[said[-1] : said[-1] + 12] if said else ["(no verdict in the log)"]
    on_the_way = [line for line in lines if line.startswith("warning:") or "heartbeat" in line]
    return "\n".join([*verdict, "…", *on_the_way[:20], "…", *lines[-15:]])


def locust_count(csv_prefix: Path) -> int:
    """Locust's own count of requests, from the master's `--csv` statistics."""
    with csv_prefix.with_name(f"{csv_prefix.name}_stats.csv").open(encoding="utf-8") as rows:
        total = next(r for r in csv.DictReader(rows) if r["Name"] == "Aggregated")
    return int(total["Request Count"])


T = TypeVar("T")


def starved(returncode: int, said: str) -> bool:
    """The run was not valid evidence (exit 3) and said its generator was saturated (Locust's
    closing lines, a capacity search's ending, `surge rehearse`'s "generator" line): on the
    suite's two cores, shared with other modules' real runs, a busy stretch can starve a run's
    processes past Locust's heartbeat (a worker silent for 4 s is missing) or a level's budget."""
    return returncode == NOT_VALID and re.search(r"generator (was )?saturated", said) is not None


def unstarved(attempt: Callable[[int], T], outcome: Callable[[T], tuple[int, str]]) -> T:
    """`attempt(1)`, or `attempt(2)` when the first was `starved`, with a warning in the suite's
    summary. A run's machinery failing fails both tries; only the host's crowding, which the run
    itself named, is given another."""
    first = attempt(1)
    returncode, said = outcome(first)
    if not starved(returncode, said):
        return first
    warnings.warn(
        f"a run starved by the suite's other runs, tried again:\n{verdict_of(said)}", stacklevel=2
    )
    return attempt(2)


SHARED_CORES_LATE_AFTER = ["--late-after", "2"]
"""For a distributed run in the suite: a master, its workers and a core are five processes on
the two cores the suite's other real runs share, and the default 0.5 s made one in two fresh
clones' runs late past the limit (18.8%, its workers' loops 244 ms late on average). A visit 2 s
behind is still late; what these runs check is the master and workers' machinery, which fails
as dropped, lost or unreached visits, not as a busy host's lag."""


@contextmanager
def master_and_workers(
    tmp: Path, host: str, options: list[str]
) -> Iterator[tuple[subprocess.Popen[bytes], list[subprocess.Popen[bytes]]]]:
    """A headless Locust master on `host` with `options`, and `WORKERS` workers connected to it,
    each stalling its event loop once (`tests/stalls.py`)."""
    port = str(free_port())
    with ExitStack() as stack:
        master = stack.enter_context(
            process(
                [
                    *("--master", "--expect-workers", str(WORKERS), "--headless", "--no-report"),
                    *("--host", host, "--customers", "20", "--admin-token", TOKENS["admin"]),
                    *("--master-bind-host", "127.0.0.1", "--master-bind-port", port),
                    *SHARED_CORES_LATE_AFTER,
                    *options,
                ],
                tmp / "master.log",
            )
        )
        workers = [
            stack.enter_context(
                process(
                    [
                        "--worker",
                        "--master-host",
                        "127.0.0.1",
                        "--master-port",
                        port,
                        *SHARED_CORES_LATE_AFTER,
                    ],
                    tmp / f"worker{n}.log",
                    locustfile="loadtests,tests/stalls.py",
                )
            )
            for n in range(WORKERS)
        ]
        yield master, workers


def folder_of(stdout: str) -> Path:
    """The run folder `surge rehearse` named last."""
    named = [line for line in stdout.splitlines() if line.startswith("Run folder: ")]
    assert named, stdout[-3000:]
    return Path(named[-1].removeprefix("Run folder: "))


def processes_naming(text: str) -> list[str]:
    """Command lines of live processes that mention `text` (a test's own folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended while we looked
        if text in argv:
            found.append(argv)
    return found


def refused(url: str) -> bool:
    """Nothing listens at `url` any more. A connection accepted and then reset is a server
    on its way down, not gone yet: ask again."""
    try:
        httpx.get(f"{url}/healthz", timeout=2)
    except httpx.ConnectError:
        return True
    except httpx.TransportError:
        return False
    return False


DRILL_TIME_SCALE = 960.0
EMERGENCY_DRILL = [
    *("--profile", "emergency_drill"),
    *("--time-scale", f"{DRILL_TIME_SCALE:g}", "--rate-scale", f"{DRILL_TIME_SCALE / 8:g}"),
]
"""The shipped drill's day in 30 s, about 600 visits at an eighth of its rates, its crash at
14:30 (tests/test_crash_drill.py)."""


@dataclass(frozen=True)
class Rehearsed:
    """A `surge rehearse` shared by test modules (`tests.shared`): what it printed and returned,
    and the run folder it named, which no test may change (`tests.shared.copy_of`)."""

    done: subprocess.CompletedProcess[str]
    folder: Path


def rehearsed(
    factory: pytest.TempPathFactory, name: str, args: list[str], timeout: float = 150
) -> Rehearsed:
    """`surge rehearse ARGS --out …`, made once per session for every module that asks."""

    def build(folder: Path) -> None:
        def attempt(n: int) -> subprocess.CompletedProcess[str]:
            out = folder / ("results" if n == 1 else f"results-{n}")
            return surge("rehearse", "--out", str(out), *args, timeout=timeout)

        done = unstarved(attempt, lambda run: (run.returncode, run.stdout + run.stderr))
        keep(done, folder)

    done = kept(shared(factory, name, build))
    return Rehearsed(done, folder_of(done.stdout))


KIOSK_LANE = Path(__file__).resolve().parent.parent / "examples" / "capacity" / "kiosk_lane.toml"
"""One branch whose only business is the kiosk's balance enquiry (the login and one GET a visit,
both through the kiosk-gateway lane) at 1,800 an hour: a multiple K offers K requests a second."""


def lane(tmp: Path, *, p95_ms: float, slots: int, mean_s: float, queue: int = 800) -> list[str]:
    """`--profile` and `--core-config` for a kiosk gateway of `slots` exponential servers."""
    profile, core = tmp / "lane.toml", tmp / "core.toml"
    data = tomllib.loads(KIOSK_LANE.read_text(encoding="utf-8"))
    data["slo"]["kiosk"]["p95_ms"] = p95_ms
    profile.write_text(tomli_w.dumps(data), encoding="utf-8")
    service = {"distribution": "exponential", "mean": mean_s}
    gateway = {"slots": slots, "queue": queue, "timeout": 5, "service": service}
    core.write_text(tomli_w.dumps({"lanes": {"kiosk-gateway": gateway}}), encoding="utf-8")
    return ["--profile", str(profile), "--core-config", str(core)]
