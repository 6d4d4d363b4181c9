"""Memory does not grow with time: the generator's peak RSS over a long run against a short one.

One run starts the nginx stub of bench/harness_overhead.py pinned to core 1, then runs the
harness (`locust -f loadtests --headless`) pinned to core 0 twice at the same steady rate, about
2,000 requests a second (a constant-rate payday-mix profile, customers from a `--data-pool` CSV,
`--max-users 500` so the harness sizes its own pool): for 1 minute, then for 5. The harness
streams its request records to the run folder every few seconds, so what it holds should not
depend on how long it has run.

Peak RSS is the kernel's high-water mark of the Locust process (VmHWM; wait4 reports it as
`ru_maxrss` when the process is reaped): it covers the whole run, closing the run folder
included, and misses no spike between two samples as a maximum of polled VmRSS would. VmRSS is
sampled too, to show when memory grew (every sample is in the work folder, `--keep`).

Target: the long run's peak RSS <= 1.15 times the short run's.
Exit codes: 0 target met; 1 target missed, a run not valid evidence (`surge.judge.verdict`) or the
stub answered errors; 2 nginx or taskset missing, fewer than two cores, nginx would not start or
a run wrote no run folder.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(REPO_DIR))  # run as `python bench/memory_growth.py` from anywhere

from harness_overhead import (  # noqa: E402
    EXIT_MISSED,
    EXIT_OK,
    EXIT_SETUP,
    LOAD_CORE,
    STUB_CORE,
    missing_tools,
    record_visits,
    run_harness,
    stub_server,
    write_pool,
    write_profile,
)
from processes import SetupError, in_work_folder, warn_if_busy  # noqa: E402

from surge import runfolder  # noqa: E402
from surge.judge import verdict  # noqa: E402
from surge.runfolder import RunFolderError  # noqa: E402

TARGET_RATIO = 1.15
MAX_USERS = 500
EXTRA = ["--late-after", "0.5", "--drop-after", "2"]
"""A short backlog drains fast, and a generator that cannot keep the rate shows as not valid.
(run_harness adds --no-report: `surge report` is a child of Locust's, and wait4 counts a reaped
child's high-water mark in its parent's; the report's memory is bench/report_scale.py's.)"""
PROBE_VISITS_PER_S = 100.0
"""The rate of the profile visits are drawn from for requests per visit: any rate has the mix."""
PARTS = 5
"""The day is shown in this many parts, each by its least and most VmRSS: growth raises the
least from one part to the next, while transient spikes only raise the most."""

MemorySamples = list[tuple[float, int, int]]
"""(wall-clock time, VmRSS kB, VmHWM kB) of the Locust process, a few times a second."""


@dataclass
class MemorySampler:
    """A `harness_overhead.Sampler` keeping VmRSS and VmHWM from /proc/PID/status."""

    samples: MemorySamples = field(default_factory=list)

    def __call__(self, pid: int) -> None:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return  # it ended between two samples
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if "VmRSS" in fields and "VmHWM" in fields:  # a zombie has no memory left to show
            self.samples.append((time.time(), _kb(fields["VmRSS"]), _kb(fields["VmHWM"])))


def _kb(value: str) -> int:
    return int(value.split()[0])


@dataclass(frozen=True)
class Run:
    """One harness run: its process's memory, and what its run folder says of the load sent."""

    seconds: int
    peak_kb: int
    """The kernel's high-water mark of the process's RSS over its whole life."""
    samples: MemorySamples
    day_start: float | None
    end: float | None
    requests: int
    failed: int
    judged: verdict.Verdict

    @property
    def wall_s(self) -> float | None:
        """From the day's start to the run's end: the seconds the requests were sent in."""
        if self.day_start is None or self.end is None:
            return None
        return self.end - self.day_start

    @property
    def per_second(self) -> float | None:
        return None if self.wall_s is None else self.requests / self.wall_s

    def day_peak_kb(self) -> int | None:
        """VmHWM when the day ended: against `peak_kb`, whether closing the run set the peak."""
        if self.day_start is None:
            return None
        day_end = self.day_start + self.seconds
        during = [hwm for t, _, hwm in self.samples if t <= day_end]
        return during[-1] if during else None

    def rss_range(self, part: int) -> tuple[int, int] | None:
        """Least and most VmRSS in the `part`-th of `PARTS` equal parts of the day."""
        if self.day_start is None:
            return None
        low = self.day_start + part * self.seconds / PARTS
        high = low + self.seconds / PARTS
        inside = [rss for t, rss, _ in self.samples if low <= t < high]
        return (min(inside), max(inside)) if inside else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--short", type=int, default=60, help="seconds of the short run's day (default 60)"
    )
    parser.add_argument(
        "--long", type=int, default=300, help="seconds of the long run's day (default 300)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=2000.0,
        help="requests per second both runs are scheduled for (default 2000)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder, print its path")
    args = parser.parse_args(argv)
    if args.short < 1 or args.long <= args.short or args.rate <= 0:
        parser.error("--short at least 1, --long above --short, --rate above 0")
    return args


def measure(base: str, pool: Path, visits_per_s: float, seconds: int, workdir: Path) -> Run:
    """One harness run of a `seconds` day: its peak RSS, samples, records and verdict."""
    label = f"memory-{seconds}s"
    profile = workdir / f"{label}.toml"
    write_profile(profile, visits_per_s, seconds)
    memory = MemorySampler()
    folder, usage = run_harness(
        base, profile, pool, MAX_USERS, label, seconds, workdir, EXTRA, memory
    )
    try:
        read = runfolder.load(folder)
        outcomes = read.requests(["outcome"]).column("outcome")
        failed = pc.sum(pc.equal(outcomes, "failed")).as_py() or 0
        result = Run(
            seconds=seconds,
            peak_kb=usage.ru_maxrss,  # kB on Linux
            samples=memory.samples,
            day_start=read.info.day_start,
            end=read.info.end,
            requests=read.request_count,
            failed=failed,
            judged=verdict.judge(read),
        )
    except RunFolderError as error:
        raise SetupError(f"{label}: {error}") from None
    write_samples(workdir / f"{label}-rss.csv", result)
    print(describe(result), flush=True)
    return result


def write_samples(path: Path, run: Run) -> None:
    """Every sample, timed from the day's start, for a closer look at where memory grew."""
    origin = run.day_start or (run.samples[0][0] if run.samples else 0.0)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(("day_s", "vm_rss_kb", "vm_hwm_kb"))
        writer.writerows((f"{t - origin:.2f}", rss, hwm) for t, rss, hwm in run.samples)


def describe(run: Run) -> str:
    rate = "none" if run.per_second is None else f"{run.per_second:,.0f}"
    wall = "" if run.wall_s is None else f" in {run.wall_s:.1f} s"
    ranges = [run.rss_range(part) for part in range(PARTS)]
    parts = " ".join("none" if r is None else f"{mb(r[0])}-{mb(r[1])}" for r in ranges)
    return (
        f"  {run.seconds:,} s run: {rate} requests/s ({run.requests:,} requests{wall},"
        f" {run.failed} failed); {'valid evidence' if run.judged.valid else 'NOT valid evidence'}"
        f"\n    peak RSS {mb(run.peak_kb)} MB (during the day {mb(run.day_peak_kb())} MB)"
        f"\n    RSS least-most in each {run.seconds / PARTS:g} s of the day: {parts} MB"
    )


def mb(kb: int | None) -> str:
    return "none" if kb is None else f"{kb * 1024 / 1e6:.1f}"


def run(args: argparse.Namespace, workdir: Path) -> int:
    print(
        f"memory growth: nginx stub on core {STUB_CORE}, Locust on core {LOAD_CORE},"
        f" {args.rate:,.0f} requests/s for {args.short:,} s, then for {args.long:,} s",
        flush=True,
    )
    warn_if_busy()
    pool = workdir / "memory_pool.csv"
    write_pool(pool)
    probe = workdir / "memory_probe.toml"
    write_profile(probe, PROBE_VISITS_PER_S, args.short)
    per_visit = record_visits(probe, pool, workdir / "memory_visits.json")
    visits_per_s = args.rate / per_visit
    print(f"  {per_visit:.2f} requests a visit: {visits_per_s:,.0f} visits/s", flush=True)
    with stub_server(workdir) as base:
        short = measure(base, pool, visits_per_s, args.short, workdir)
        long = measure(base, pool, visits_per_s, args.long, workdir)
    return conclude(short, long)


def conclude(short: Run, long: Run) -> int:
    ratio = long.peak_kb / short.peak_kb
    met = ratio <= TARGET_RATIO
    print(
        f"\npeak RSS, {long.seconds:,} s run / {short.seconds:,} s run"
        f"  {mb(long.peak_kb)} / {mb(short.peak_kb)} MB = {ratio:.3f}"
        f"  target <= {TARGET_RATIO:.2f}  {'met' if met else 'MISSED'}"
    )
    passed = met
    for result in (short, long):
        if not result.judged.valid:
            passed = False
            print(f"FAILED: {result.seconds:,} s run: {result.judged.sentence()}")
        if result.failed:
            passed = False
            print(f"FAILED: {result.seconds:,} s run: {result.failed} requests failed")
    return EXIT_OK if passed else EXIT_MISSED


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = missing_tools()
    if problem:
        print(f"memory_growth: {problem}", file=sys.stderr)
        return EXIT_SETUP
    return in_work_folder("memory_growth", args.keep, lambda workdir: run(args, workdir))


if __name__ == "__main__":
    sys.exit(main())
