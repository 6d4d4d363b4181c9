"""The report's cost grows no faster than the work: `surge report` on 1 and 4 million records.

One run builds two synthetic run folders of the emergency drill (the shipped day with scheduled
faults), 1 million and 4 million request records, then runs `surge report FOLDER` on each as a
child process and measures its wall time, its peak RSS (the kernel's high-water mark of the
reaped child, wait4's `ru_maxrss`) and the size of the report.html it wrote.

The folders are written with the harness's own writer (`surge.runfolder`: run.json with the
resolved profile, `RequestLog` parts every 2 s of the day, lateness.json, visits.json,
metrics.csv, the admin answers), from a template: a real rehearsal of the drill compressed 960
times (`surge rehearse`, about 40 s, or `--template FOLDER`). Its visits are copied, each copy
with the template's requests (channels, journeys, steps, routes, statuses, response times,
customers) and spread over a day compressed 16 times (30 minutes) so that the day's arrival
curve is the template's. Each scheduled fault's window then degrades the requests of its lane:
slow responses and timeouts in the core latency spike, 503s while the FX lane is down, 504s,
resets and slow answers in the kiosk brownout; a slowed step delays the rest of its visit, so
the customers' waits grow too. The target's metrics are the template's lane samples every 2 s
and its latency histogram every 30 s, counted from the synthetic records. Both folders have
the same day: the large one has four times the visits per second, so its report should be the
same size, and its cost at most proportional to its records.

Targets: the 1M report within 8 s and 1 GB peak RSS (a 2-core machine); the 4M report at most
4.5 times the 1M one's time and its peak RSS; each report at most 8 MB and the 4M report at most
1.1 times the 1M one's size. (`--records N` builds N and 4N records; the absolute targets are
judged only at 1 million.)
Exit codes: 0 targets met; 1 a target missed; 2 the template rehearsal or a report failed.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(REPO_DIR))  # run as `python bench/report_scale.py` from anywhere

from processes import SetupError, in_work_folder, log_tail, stop, warn_if_busy  # noqa: E402

from mock_core.settings import LaneRouting  # noqa: E402
from surge import runfolder  # noqa: E402
from surge.day.arrivals import Lateness  # noqa: E402
from surge.day.profile import Fault, Profile  # noqa: E402
from surge.runfolder import RequestLog, RunFolder, RunFolderError, Visits  # noqa: E402

SURGE = Path(sys.executable).with_name("surge")
PROFILE = "emergency_drill"
TEMPLATE_SCALE = 960.0
"""The template rehearsal's time scale: a 30 s day, about 10,000 records."""
STRETCH = 60.0
"""The synthetic day is the template's this many times longer (compressed 16 times: 30 min)."""
RECORDS = 1_000_000
FACTOR = 4
TARGET_WALL_S = 8.0
TARGET_RSS_MB = 1000.0
TARGET_RATIO = 4.5
TARGET_REPORT_MB = 8.0
TARGET_SIZE_RATIO = 1.1
PART_S = 2.0
"""Run seconds of records in one Parquet part, as the harness flushes them."""
SCRAPE_S = 2.0
HISTOGRAM_S = 30.0
"""How often the harness scrapes the target, and keeps its latency histogram
(`surge.harness.scrape`)."""
LATENCY = "mock_core_api_request_seconds"
REPORT_TIMEOUT_S = 600.0
POLL_S = 0.01
"""How often the report process is checked for its end: the wall time's resolution."""
TEXT_COLUMNS = ("channel", "journey", "step", "method", "name", "customer", "key")
EXIT_OK, EXIT_MISSED, EXIT_SETUP = 0, 1, 2
SEED = 20240


@dataclass(frozen=True)
class Report:
    """One `surge report` process on one folder."""

    records: int
    wall_s: float
    peak_kb: int
    """The kernel's high-water mark of the report process's RSS over its whole life."""
    size: int
    """Bytes of report.html."""

    @property
    def peak_mb(self) -> float:
        return self.peak_kb * 1024 / 1e6

    @property
    def size_mb(self) -> float:
        return self.size / 1e6


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--records",
        type=int,
        default=RECORDS,
        help=f"records of the small folder; the large one has {FACTOR} times as many"
        f" (default {RECORDS:,}; the absolute targets hold at that size only)",
    )
    parser.add_argument(
        "--template",
        type=Path,
        help=f"a run folder of {PROFILE} at time scale {TEMPLATE_SCALE:g} to copy (default:"
        " rehearse one)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder, print its path")
    args = parser.parse_args(argv)
    if args.records < 10_000:
        parser.error("--records: at least 10,000")
    return args


def rehearse(workdir: Path) -> Path:
    """A real rehearsal of the drill, compressed: the mix, routes and response times to copy."""
    out = workdir / "template"
    log = workdir / "template.log"
    command = [str(SURGE), "rehearse", "--profile", PROFILE]
    command += ["--time-scale", f"{TEMPLATE_SCALE:g}", "--out", str(out)]
    with log.open("wb") as output:
        # Exit 1 is the gate failing the drill's own SLOs: the records are what is wanted.
        code = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT).returncode
    folders = sorted(out.glob(f"*/{runfolder.RUN}")) if out.exists() else []
    if code not in (0, 1) or not folders:
        raise SetupError(f"surge rehearse exited {code}:\n{log_tail(log)}")
    return folders[0].parent


def template_records(template: RunFolder) -> pd.DataFrame:
    """The template's records grouped by visit (one visit's rows together, in order sent), with
    `visit` (an id), `offset_s` (sent after the visit was due) and `response_s`."""
    data = template.requests().to_pandas()
    day_start = template.info.day_start or float(data["scheduled"].min())
    data["visit"], _ = pd.factorize(data["scheduled"])
    data["offset_s"] = data["start"] - data["scheduled"]
    data["response_s"] = data["end"] - data["start"]
    data["due_s"] = data["scheduled"] - day_start
    return data.sort_values(["visit", "start"], kind="stable").reset_index(drop=True)


def lanes_of(data: pd.DataFrame) -> np.ndarray:
    """Each record's lane at the mock core: its channel's lane, else its route's tag's (the
    path's first segment; the branch queue's routes go to `queue`)."""
    routing = LaneRouting()
    tag = data["name"].str.split("/", n=3).str[2]
    by_tag = tag.map(routing.tags).fillna("queue")
    by_channel = data["channel"].map(routing.channels)
    return by_channel.fillna(by_tag).to_numpy(dtype=object)


@dataclass
class Synthetic:
    """The records of a synthetic day, a column each: every record a row of the template, moved
    to its copy's time and perhaps degraded by a fault (times in run seconds)."""

    template: pd.DataFrame
    rows: np.ndarray
    """Each record's row of the template."""
    copy: np.ndarray
    """Which copy of its template visit a record belongs to: its idempotency keys differ."""
    visit: np.ndarray
    due_s: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    status: np.ndarray
    error: np.ndarray
    outcome: np.ndarray


def synthesize(template: pd.DataFrame, records: int, duration_s: float, seed: int) -> Synthetic:
    """`records` records: copies of the template's visits, in random order, due at the
    template's time stretched `STRETCH` times (jittered within a template second), cut after
    the `records`-th."""
    rng = np.random.default_rng(seed)
    starts = _firsts(template["visit"].to_numpy())
    lengths = np.diff(np.r_[starts, len(template)])
    due = template["due_s"].to_numpy()[starts]
    copies = math.ceil(records / len(template))
    order = rng.permutation(copies * len(starts))
    visit_of, copy_of = order % len(starts), order // len(starts)
    counts = lengths[visit_of]
    taken = int(np.searchsorted(np.cumsum(counts), records)) + 1
    visit_of, copy_of, counts = visit_of[:taken], copy_of[:taken], counts[:taken]
    jittered = (due[visit_of] + rng.uniform(-0.5, 0.5, taken)) * STRETCH
    # Reflected at the day's ends rather than clipped: visits are told apart by when they were
    # due (`reports.frames`), so no two may share a time.
    jittered = np.abs(jittered)
    due_s = np.where(jittered < duration_s, jittered, 2 * duration_s - jittered)
    synthetic_visit = np.repeat(np.arange(taken), counts)[:records]
    within = (
        np.arange(len(synthetic_visit)) - np.repeat(np.cumsum(counts) - counts, counts)[:records]
    )
    rows = starts[visit_of][synthetic_visit] + within
    visit_due = due_s[synthetic_visit]
    start_s = visit_due + template["offset_s"].to_numpy()[rows]
    return Synthetic(
        template=template,
        rows=rows,
        copy=copy_of[synthetic_visit],
        visit=synthetic_visit,
        due_s=visit_due,
        start_s=start_s,
        end_s=start_s + template["response_s"].to_numpy()[rows],
        status=template["status"].to_numpy()[rows].copy(),
        error=template["error"].to_numpy(dtype=object)[rows],
        outcome=template["outcome"].to_numpy(dtype=object)[rows],
    )


def degrade(records: Synthetic, faults: list[Fault], lanes: np.ndarray, seed: int) -> None:
    """Each fault's window, on its lane's records: slower answers (which delay the visit's later
    steps), timeouts, resets and 5xx, as the mock core's faults cause them."""
    rng = np.random.default_rng(seed)
    n = len(records.rows)
    extra = np.zeros(n)
    lane = lanes[records.rows]
    for fault in faults:
        hit = (records.start_s >= fault.at) & (records.start_s < fault.at + fault.duration)
        if fault.target.startswith("lane:"):
            hit &= lane == fault.target.removeprefix("lane:")
        (where,) = np.nonzero(hit)
        draw = rng.random(len(where))
        if fault.kind == "latency" and fault.latency is not None:
            median = fault.latency.median or 0.5
            sigma = math.log((fault.latency.p95 or 2 * median) / median) / 1.645
            extra[where] += rng.lognormal(math.log(median), sigma, len(where))
            _fail(records, where[draw < 0.02], 0, "ReadTimeout: timed out", rng)
        elif fault.kind == "lane_down":
            _fail(records, where, 503, "503 Lane down", rng)
        elif fault.kind == "brownout":  # the lane keeps `share` of its slots: the rest queue
            extra[where] += rng.exponential(1.5, len(where))
            _fail(records, where[draw < 1 - fault.share], 504, "504 Lane timeout", rng)
            _fail(records, where[draw > 0.99], 0, "RemoteProtocolError: connection reset", rng)
        else:  # the other kinds answer an error, or no answer, to a share of requests
            _fail(records, where[draw < fault.probability], fault.status, "Injected fault", rng)
    # A slow step delays every later step of its visit: shift them by the delay so far.
    before = np.cumsum(extra) - extra
    visit_first = _firsts(records.visit)
    sizes = np.diff(np.r_[visit_first, n])
    shift = before - np.repeat(before[visit_first], sizes)
    records.start_s += shift
    records.end_s += shift + extra


def _firsts(visit: np.ndarray) -> np.ndarray:
    """Where each visit's rows begin, in records grouped by visit."""
    return np.flatnonzero(np.r_[True, visit[1:] != visit[:-1]])


def _fail(
    records: Synthetic, where: np.ndarray, status: int, error: str, rng: np.random.Generator
) -> None:
    """The attempts at `where` failed with `status`: most were retried, a third of them for
    good (the step gave up)."""
    records.status[where] = status
    records.error[where] = error
    records.outcome[where] = np.where(rng.random(len(where)) < 0.33, "failed", "retried")


def write_requests(folder: Path, records: Synthetic, day_start: float) -> None:
    """`requests.parquet/`, a part per `PART_S` of the day by answer time, as the harness
    flushes them, through its own `RequestLog`."""
    log = RequestLog(folder)
    template = records.template
    by_end = np.argsort(records.end_s, kind="stable")
    parts = np.floor(records.end_s[by_end] / PART_S).astype(np.int64)
    bounds = np.flatnonzero(np.r_[True, parts[1:] != parts[:-1], True])
    text = {c: template[c].to_numpy(dtype=object) for c in TEXT_COLUMNS}
    retries = template["retries"].to_numpy()
    for low, high in itertools.pairwise(bounds):
        chosen = by_end[low:high]
        rows = records.rows[chosen]
        copy = records.copy[chosen]
        keys = [f"{k}-{c}" if k else "" for k, c in zip(text["key"][rows], copy, strict=True)]
        columns = [
            text["channel"][rows],
            text["journey"][rows],
            text["step"][rows],
            text["method"][rows],
            text["name"][rows],
            records.status[chosen].tolist(),
            records.error[chosen],
            retries[rows].tolist(),
            records.outcome[chosen],
            (records.start_s[chosen] + day_start).tolist(),
            (records.end_s[chosen] + day_start).tolist(),
            (records.due_s[chosen] + day_start).tolist(),
            text["customer"][rows],
            keys,
        ]
        log.write(list(zip(*columns, strict=True)))


def write_lateness_and_visits(
    folder: Path, records: Synthetic, template: RunFolder, requests: int
) -> None:
    """Every visit started (at its first request), on time or late as the template's limits
    have it; a visit whose step gave up is unfinished."""
    limits = template.lateness or Lateness()
    lateness = Lateness(late_after_s=limits.late_after_s, drop_after_s=limits.drop_after_s)
    first = _firsts(records.visit)
    channels = records.template["channel"].to_numpy(dtype=object)[records.rows[first]]
    started = np.minimum.reduceat(records.start_s, first)
    for channel, due, start in zip(channels, records.due_s[first], started, strict=True):
        lateness.record(channel, float(due), float(start))
    failed = np.logical_or.reduceat(records.outcome == "failed", first)
    planned = {str(c): int(n) for c, n in pd.Series(channels).value_counts().items()}
    visits = Visits.account(
        {0: planned},
        {0: lateness},
        run={"ok": int((~failed).sum()), "unfinished": int(failed.sum())},
        requests={0: requests},
    )
    runfolder.write_lateness(folder, lateness)
    runfolder.write_visits(folder, visits)


def write_metrics(
    folder: Path, records: Synthetic, template: RunFolder, day_start: float, end_s: float
) -> None:
    """The target's samples: the template's lanes and in-flight gauges every `SCRAPE_S` (the
    template's sample at the same moment of its day), and the latency histogram every
    `HISTOGRAM_S` and at the end, counted from the synthetic records' response times."""
    table = template.metrics()
    if table is None:
        raise SetupError(f"{template.path}: no metrics.csv (rehearse with an admin token)")
    samples = table.to_pandas()
    samples["labels"] = samples["labels"].fillna("")
    gauges = samples[~samples["metric"].str.startswith(LATENCY)]
    scrapes = {at: list(group.itertuples(index=False)) for at, group in gauges.groupby("time")}
    times = np.array(sorted(scrapes))
    template_start = template.info.day_start or float(times[0])
    buckets = samples[samples["metric"] == f"{LATENCY}_bucket"]
    labels = list(dict.fromkeys(buckets["labels"]))
    bounds = np.array([float(label.split('"')[1]) for label in labels])
    answered = np.argsort(records.end_s, kind="stable")
    ends = records.end_s[answered]
    response = (records.end_s - records.start_s)[answered]
    bucket = np.searchsorted(bounds, response, side="left")  # the first `le` it is within

    def rows() -> Iterator[tuple[float, str, str, float]]:
        for at in np.arange(-SCRAPE_S, end_s + SCRAPE_S, SCRAPE_S):
            moment = template_start + at / STRETCH
            nearest = times[min(len(times) - 1, int(np.searchsorted(times, moment)))]
            for sample in scrapes[nearest]:
                yield day_start + at, sample.metric, sample.labels, sample.value
        counts = np.zeros(len(bounds), dtype=np.int64)
        total, counted = 0.0, 0
        for at in [*np.arange(HISTOGRAM_S, end_s, HISTOGRAM_S), end_s]:
            upto = int(np.searchsorted(ends, at, side="right"))
            counts += np.bincount(bucket[counted:upto], minlength=len(bounds))
            total += float(response[counted:upto].sum())
            counted = upto
            when = day_start + float(at)
            for label, count in zip(labels, np.cumsum(counts), strict=True):
                yield when, f"{LATENCY}_bucket", label, float(count)
            yield when, f"{LATENCY}_sum", "", total
            yield when, f"{LATENCY}_count", "", float(counted)

    runfolder.write_metrics(folder, rows())


def build(
    template: RunFolder, data: pd.DataFrame, lanes: np.ndarray, records: int, root: Path
) -> Path:
    """A run folder of `records` records: the template's day stretched, its visits copied."""
    profile: Profile = template.profile.scaled(1 / STRETCH, records / len(data) / STRETCH)
    info = template.info
    day_start = info.day_start or info.start
    synthetic = synthesize(data, records, profile.duration_s, SEED + records)
    degrade(synthetic, profile.faults, lanes, SEED)
    end_s = float(synthetic.end_s.max())
    folder = runfolder.create(root, info.start, f"{profile.name}-{records}")
    command = ["bench/report_scale.py", f"--records={records}"]
    runfolder.write_run(
        folder,
        info.model_copy(
            update={
                "time_scale": profile.time_scale,
                "rate_scale": profile.rate_scale,
                "end": day_start + end_s + 1.0,
                "command_line": command,
            }
        ),
        profile,
    )
    write_requests(folder, synthetic, day_start)
    write_lateness_and_visits(folder, synthetic, template, records)
    runfolder.write_expected_alerts(folder, template.expected_alerts)
    alerts = [
        {**alert, "detected_at": day_start + (alert["detected_at"] - day_start) * STRETCH}
        for alert in template.alerts or []
    ]
    runfolder.write_answer(folder, runfolder.ALERTS, alerts)
    if template.reconcile is not None:
        runfolder.write_answer(folder, runfolder.RECONCILE, template.reconcile)
    write_metrics(folder, synthetic, template, day_start, end_s)
    return folder


def report(folder: Path, records: int) -> Report:
    """`surge report FOLDER` as a child process: its wall time and peak RSS, the report's size."""
    log = folder.parent / f"{folder.name}-report.log"
    with log.open("wb") as output:
        began = time.perf_counter()
        process = subprocess.Popen(
            [str(SURGE), "report", str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while True:
            # Reaped here rather than by `poll`, which drops the child's resource usage.
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                wall = time.perf_counter() - began
                process.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() - began > REPORT_TIMEOUT_S:
                raise SetupError(f"surge report ran past {REPORT_TIMEOUT_S:.0f} s")
            time.sleep(POLL_S)
    finally:
        stop(process)
    html = folder / runfolder.REPORT
    # Exit 1 is the gate failing the drill's SLOs (its faults break them): the report is written.
    if process.returncode not in (0, 1) or not html.exists():
        raise SetupError(f"surge report exited {process.returncode}:\n{log_tail(log)}")
    return Report(records, wall, usage.ru_maxrss, html.stat().st_size)


def run(args: argparse.Namespace, workdir: Path) -> int:
    sizes = (args.records, FACTOR * args.records)
    print(f"report scale: surge report on {sizes[0]:,} and {sizes[1]:,} records", flush=True)
    warn_if_busy()
    folder = args.template or rehearse(workdir)
    try:
        template = runfolder.load(folder)
    except RunFolderError as error:
        raise SetupError(str(error)) from None
    data = template_records(template)
    lanes = lanes_of(data)
    print(f"  template: {folder} ({len(data):,} records)", flush=True)
    folders = []
    for records in sizes:
        began = time.perf_counter()
        folders.append(build(template, data, lanes, records, workdir / "runs"))
        took = time.perf_counter() - began
        print(f"  built {records:,} records in {took:.0f} s: {folders[-1]}", flush=True)
    reports = []
    for records, built in zip(sizes, folders, strict=True):
        reports.append(report(built, records))
        print(describe(reports[-1]), flush=True)
    return conclude(*reports, absolute=args.records == RECORDS)


def describe(result: Report) -> str:
    return (
        f"  {result.records:,} records: {result.wall_s:.2f} s, peak RSS {result.peak_mb:.0f} MB,"
        f" report.html {result.size_mb:.2f} MB"
    )


def conclude(small: Report, large: Report, *, absolute: bool) -> int:
    checks: list[tuple[str, float, float, str]] = []
    if absolute:
        checks += [
            (f"{small.records:,} wall s", small.wall_s, TARGET_WALL_S, "{:.2f}"),
            (f"{small.records:,} peak RSS MB", small.peak_mb, TARGET_RSS_MB, "{:.0f}"),
        ]
    checks += [
        ("wall, large / small", large.wall_s / small.wall_s, TARGET_RATIO, "{:.2f}"),
        ("peak RSS, large / small", large.peak_kb / small.peak_kb, TARGET_RATIO, "{:.2f}"),
        (f"{small.records:,} report MB", small.size_mb, TARGET_REPORT_MB, "{:.2f}"),
        (f"{large.records:,} report MB", large.size_mb, TARGET_REPORT_MB, "{:.2f}"),
        ("report size, large / small", large.size / small.size, TARGET_SIZE_RATIO, "{:.3f}"),
    ]
    print()
    passed = True
    for name, value, target, shown in checks:
        met = value <= target
        passed &= met
        ratio = value / target
        print(
            f"{name:<28} {shown.format(value):>8}  target <= {shown.format(target)}"
            f"  ({ratio:.2f} of it)  {'met' if met else 'MISSED'}"
        )
    return EXIT_OK if passed else EXIT_MISSED


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return in_work_folder("report_scale", args.keep, lambda workdir: run(args, workdir))


if __name__ == "__main__":
    sys.exit(main())
