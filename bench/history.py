"""The run history at scale: `surge history report` on 10,000 recorded runs, the planted changes
it finds, and the change points' false alarms on runs that did not change (docs/history.md).

One run builds two histories (SQLite files) through the history's own store (`Store.record`,
as `surge history import` records a run): the large one of 10,000 runs, and a reference of
1,000 built the same way. Each is 70% rehearsals of the shipped `payday` profile against the
embedded core, with every objective the profile declares (its names, metrics and limits: 22)
and two findings each, and 30% capacity searches. Every value wobbles 2% from run to run
(log-normal; an error rate by its binomial counts), as a p95 or a search's answer of the default
rehearsal does; one run in 97 is not valid evidence. Planted: the capacity falls 8% at the
search a third of the way through the searches and again 8% two thirds of the way, and
`kiosk.p95_ms` rises 8% at the rehearsal 40% of the way through (at 10,000 runs: searches
1,001 and 2,001, rehearsal 2,801).

`surge history report --lang en` runs on each as a child process: its wall time and peak RSS
(the kernel's high-water mark of the reaped child, wait4's `ru_maxrss`). The report's list of
changes for the worse must hold the three planted changes and nothing else, each at the run it
was planted at or within `PLACE_WITHIN` runs of it: when the runs at the edge happen to lie as
near the new level as the old, the likeliest place of the change (least squares) is a run or
two off, which no method can tell from the data. How often it is exact is measured on 20 seeds
of the same series (`change_points` alone, as the report calls it). Then the false alarms:
`surge.history.changes.change_points` (what the report and the gate call) on a stationary
series of 200 runs, 20 seeds, at the 2% noise and at twice it, counting a change either way.
And the gate against history's own false alarms (`surge.history.gate.judge`, as `surge gate
--history` calls it): 2,000 runs of an unchanged system with the payday rehearsal's 22
objectives, each judged against the 20 before it.

Targets: the 10,000-run report within 5 s and 500 MB peak RSS; against the 1,000-run reference
measured in the same run, at most 10 times its wall time and its peak RSS (no worse than
linear); both planted capacity shifts and the p95's found at their runs (within 2), nothing
else, in each history and in each of the 20 seeds; at most 1 false change point in 20 stationary
series at each noise; the gate failing at most 1% of the unchanged runs (its stated rate).
Exit codes: 0 targets met; 1 a target missed; 2 a history or a report could not be made.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(REPO_DIR))  # run as `python bench/history.py` from anywhere

from processes import SetupError, in_work_folder, log_tail, stop, warn_if_busy  # noqa: E402

from reports import slo  # noqa: E402
from surge.day.profile import load_profile  # noqa: E402
from surge.history import gate  # noqa: E402
from surge.history.changes import change_points  # noqa: E402
from surge.history.entry import (  # noqa: E402
    CAPACITY_SEARCH,
    EMBEDDED,
    REHEARSAL,
    Capacity,
    Entry,
    Finding,
    Objective,
)
from surge.history.store import Store  # noqa: E402

SURGE = Path(sys.executable).with_name("surge")
PROFILE = "payday"
RUNS = 10_000
REFERENCE_RUNS = 1_000
SEARCH_SHARE = 0.3
NOISE = 0.02
"""Run-to-run wobble of every value, a share of its level."""
SHIFT = 0.08
CAPACITY_AT = (1 / 3, 2 / 3)
"""Where the capacity falls `SHIFT`, each time: shares of the way through the searches."""
P95 = "kiosk.p95_ms"
P95_AT = 0.4
"""…and where `P95` rises `SHIFT`: a share of the way through the rehearsals."""
INVALID_EVERY = 97
"""One run in this many is not valid evidence (the report and the gate leave it out)."""
REQUESTS = 20_000
"""Requests an objective counted in a run."""
ERROR_SHARE = 0.002
LEVEL = 0.5
"""A percentile's value, as a share of its limit."""
CAPACITY = 40.0
PLACE_WITHIN = 2
STATIONARY_RUNS = 200
SEEDS = 20
MAX_FALSE = 1
GATED_RUNS = 2_000
GATE_FALSE = gate.FAMILY_ALPHA
"""At most this share of an unchanged system's runs may fail the gate against history."""
TARGET_WALL_S = 5.0
TARGET_RSS_MB = 500.0
TARGET_RATIO = RUNS / REFERENCE_RUNS
REPORT_TIMEOUT_S = 300.0
POLL_S = 0.01
SEED = 23
EXIT_OK, EXIT_MISSED, EXIT_SETUP = 0, 1, 2
CHANGE = re.compile(r'<li class="change">([^:<]+): (\S+) since run ([\d,]+) ')
FINDINGS = (
    Finding("warn", "{lane} ran at {share} of its slots at the peak.",
            {"lane": {"kind": "name", "value": "kiosk_lane"},
             "share": {"kind": "share", "value": 0.8}}),
    Finding("good", "Every write was proven: {checks}.",
            {"checks": {"kind": "text", "value": "ledger, idempotency"}}),
)  # fmt: skip


@dataclass(frozen=True)
class Planted:
    measure: str
    run: int
    """The run it starts at, as the report numbers a group's runs (from 1)."""


@dataclass(frozen=True)
class Report:
    runs: int
    wall_s: float
    cpu_s: float
    """User and system time: what the report costs whatever else the cores are doing."""
    peak_kb: int
    changes: list[Planted]
    """The changes for the worse the report lists."""

    @property
    def peak_mb(self) -> float:
        return self.peak_kb * 1024 / 1e6


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the work folder, print its path")
    return parser.parse_args(argv)


def build(where: Path, runs: int, seed: int) -> list[Planted]:
    """A history of `runs` runs at `where`; the changes planted in it."""
    rng = np.random.default_rng(seed)
    profile = load_profile(PROFILE)
    declared = slo.objectives(profile)
    searches = round(runs * SEARCH_SHARE)
    rehearsals = runs - searches
    search_shifts = [round(searches * at) for at in CAPACITY_AT]
    p95_shift = round(rehearsals * P95_AT)
    # Searches and rehearsals interleaved evenly through the history, each hour a run.
    is_search = np.zeros(runs, dtype=bool)
    is_search[np.linspace(0, runs - 1, searches).round().astype(int)] = True
    valid = (np.arange(runs) % INVALID_EVERY) != INVALID_EVERY - 1
    began = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    counters = {REHEARSAL: 0, CAPACITY_SEARCH: 0}
    places: dict[str, list[bool]] = {REHEARSAL: [], CAPACITY_SEARCH: []}
    with Store.open(str(where)) as history:
        for n in range(runs):
            kind = CAPACITY_SEARCH if is_search[n] else REHEARSAL
            place = counters[kind]
            counters[kind] += 1
            places[kind].append(bool(valid[n]))
            common = {
                "uid": f"run-{n}",
                "kind": kind,
                "profile": PROFILE,
                "profile_hash": f"{PROFILE}-{kind}",
                "target": EMBEDDED,
                "binding": "surge.bindings.mock_core:MockCore",
                "started": began + dt.timedelta(hours=n),
                "valid": bool(valid[n]),
                "exit_code": 0 if valid[n] else 3,
                "folder": f"/runs/{n}",
                "report": None,
                "label": f"v{n // 10}.{n % 10}",
                "machine": "bench",
            }
            if kind == CAPACITY_SEARCH:
                level = CAPACITY * (1 - SHIFT) ** sum(place >= at for at in search_shifts)
                answer = float(level * np.exp(rng.normal(0.0, NOISE)))
                found = Capacity(answer, answer, answer * 1.05, answer * 2.3)
                history.record(Entry(**common, capacity=found))
                continue
            objectives = [
                _objective(o, rng, 1 + SHIFT if o.name == P95 and place >= p95_shift else 1.0)
                for o in declared
            ]
            history.record(Entry(**common, objectives=tuple(objectives), findings=FINDINGS))
    return [
        *(Planted("capacity", _run(places[CAPACITY_SEARCH], at)) for at in search_shifts),
        Planted(P95, _run(places[REHEARSAL], p95_shift)),
    ]


def _run(valid: list[bool], at: int) -> int:
    """The run the report says a change planted at place `at` starts at: the first valid run
    from there (the report leaves the others out), numbered from 1."""
    return next(place for place in range(at, len(valid)) if valid[place]) + 1


def report(where: Path, runs: int) -> Report:
    """`surge history report` as a child process: its wall time, peak RSS and the changes it
    lists."""
    output = where.with_suffix(".html")
    log = where.with_suffix(".log")
    command = [str(SURGE), "history", "report", "--history", str(where), "-o", str(output)]
    with log.open("wb") as written:
        began = time.perf_counter()
        process = subprocess.Popen(
            [*command, "--lang", "en"],
            stdin=subprocess.DEVNULL,
            stdout=written,
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
                raise SetupError(f"surge history report ran past {REPORT_TIMEOUT_S:.0f} s")
            time.sleep(POLL_S)
    finally:
        stop(process)
    if process.returncode != 0 or not output.exists():
        raise SetupError(f"surge history report exited {process.returncode}:\n{log_tail(log)}")
    page = output.read_text(encoding="utf-8")
    listed = [
        Planted(unescape(measure), int(run.replace(",", "")))
        for measure, _, run in CHANGE.findall(page)
    ]
    return Report(runs, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, listed)


@dataclass(frozen=True)
class Placed:
    planted: int
    found: int
    """Planted changes found within `PLACE_WITHIN` runs, with nothing else found."""
    exact: int
    worst: int
    """The largest distance between a change found and its planted run."""


def placed(runs: int) -> Placed:
    """The planted series of a history of `runs` (the p95's, the capacity's), over `SEEDS`
    seeds: how near their planted runs `change_points` finds the changes."""
    searches = round(runs * SEARCH_SHARE)
    rehearsals = runs - searches
    series = [
        (rehearsals, [round(rehearsals * P95_AT)], 1 + SHIFT),
        (searches, [round(searches * at) for at in CAPACITY_AT], 1 - SHIFT),
    ]
    planted = found = exact = worst = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        for length, shifts, factor in series:
            values = np.exp(rng.normal(0.0, NOISE, length))
            for at in shifts:
                values[at:] *= factor
            points = [p.index for p in change_points(values)]
            planted += len(shifts)
            if len(points) != len(shifts):
                worst = max(worst, length)
                continue
            apart = [abs(p - at) for p, at in zip(points, shifts, strict=True)]
            found += sum(d <= PLACE_WITHIN for d in apart)
            exact += sum(d == 0 for d in apart)
            worst = max(worst, *apart)
    return Placed(planted, found, exact, worst)


def _near(planted: list[Planted], listed: list[Planted]) -> int:
    """Planted changes the report did not list within `PLACE_WITHIN` runs, and changes it
    listed that were not planted."""
    missed = 0
    left = list(listed)
    for change in planted:
        match = next(
            (c for c in left
             if c.measure == change.measure and abs(c.run - change.run) <= PLACE_WITHIN),
            None,
        )  # fmt: skip
        if match is None:
            missed += 1
        else:
            left.remove(match)
    return missed + len(left)


def gate_false_alarms(runs: int) -> int:
    """Runs of an unchanged system (the payday rehearsal's objectives, values wobbling `NOISE`)
    that the gate against history fails, each judged against the `gate.WINDOW` before it."""
    rng = np.random.default_rng(SEED)
    declared = slo.objectives(load_profile(PROFILE))
    began = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    history: list[Entry] = []
    failed = 0
    for n in range(runs + gate.WINDOW):
        run = Entry(
            uid=f"run-{n}", kind=REHEARSAL, profile=PROFILE, profile_hash=PROFILE,
            target=EMBEDDED, binding="b", started=began + dt.timedelta(hours=n), valid=True,
            exit_code=0, folder=f"/runs/{n}", report=None, id=n,
            objectives=tuple(_objective(o, rng) for o in declared),
        )  # fmt: skip
        if n >= gate.WINDOW:
            failed += any(c.passed is False for c in gate.judge(run, history))
        history = [*history[-gate.WINDOW + 1 :], run]
    return failed


def _objective(objective: slo.Objective, rng: np.random.Generator, step: float = 1.0) -> Objective:
    """An objective as a run judged it: an error share drawn from its counts, a percentile
    wobbling `NOISE` about `LEVEL` of its limit times `step`."""
    if objective.metric == "error_rate":
        bad = int(rng.binomial(REQUESTS, ERROR_SHARE))
        value = bad / REQUESTS
    else:
        bad = int(rng.binomial(REQUESTS, objective.budget / 10))
        value = objective.limit * LEVEL * step * float(np.exp(rng.normal(0.0, NOISE)))
    return Objective(objective.name, objective.metric, objective.limit, objective.budget,
                     REQUESTS, bad, bad / REQUESTS, value, True, True)  # fmt: skip


def false_alarms(noise: float) -> int:
    """Change points, either way, in `SEEDS` stationary series of `STATIONARY_RUNS` runs."""
    return sum(
        len(change_points(np.random.default_rng(seed).normal(100.0, 100.0 * noise,
                                                             STATIONARY_RUNS)))
        for seed in range(SEEDS)
    )  # fmt: skip


def run(workdir: Path) -> int:
    print(f"history: surge history report on {REFERENCE_RUNS:,} and {RUNS:,} runs", flush=True)
    warn_if_busy()
    reports = []
    for runs in (REFERENCE_RUNS, RUNS):
        where = workdir / f"history-{runs}.sqlite"
        began = time.perf_counter()
        planted = build(where, runs, SEED + runs)
        took = time.perf_counter() - began
        print(f"  recorded {runs:,} runs in {took:.0f} s: {where}", flush=True)
        made = report(where, runs)
        reports.append((made, planted))
        print(
            f"  {runs:,} runs: {made.wall_s:.2f} s ({made.cpu_s:.2f} s CPU), peak RSS"
            f" {made.peak_mb:.0f} MB;"
            f" planted {_shown(planted)}; listed {_shown(made.changes)}",
            flush=True,
        )
    where = placed(RUNS)
    print(
        f"  {SEEDS} seeds of the planted series: {where.found} of {where.planted} changes found"
        f" within {PLACE_WITHIN} runs, {where.exact} at the very run, at most {where.worst} off",
        flush=True,
    )
    alarms = {noise: false_alarms(noise) for noise in (NOISE, 2 * NOISE)}
    for noise, count in alarms.items():
        print(
            f"  stationary: {count} change points in {SEEDS} series of {STATIONARY_RUNS} runs"
            f" at {noise:.0%} noise",
            flush=True,
        )
    gated = gate_false_alarms(GATED_RUNS)
    print(
        f"  gate against history: {gated} of {GATED_RUNS:,} runs of an unchanged system failed"
        f" ({gated / GATED_RUNS:.2%})",
        flush=True,
    )
    return conclude(reports, where, alarms, gated)


def _shown(changes: list[Planted]) -> str:
    return ", ".join(f"{c.measure} at run {c.run:,}" for c in changes) or "none"


def conclude(
    reports: list[tuple[Report, list[Planted]]],
    where: Placed,
    alarms: dict[float, int],
    gated: int,
) -> int:
    (reference, _), (large, _) = reports
    checks: list[tuple[str, float, float, str]] = [
        (f"{large.runs:,} runs wall s", large.wall_s, TARGET_WALL_S, "{:.2f}"),
        (f"{large.runs:,} runs peak RSS MB", large.peak_mb, TARGET_RSS_MB, "{:.0f}"),
        ("wall, large / reference", large.wall_s / reference.wall_s, TARGET_RATIO, "{:.2f}"),
        ("peak RSS, large / reference", large.peak_kb / reference.peak_kb, TARGET_RATIO, "{:.2f}"),
    ]
    for made, planted in reports:
        missed = _near(planted, made.changes)
        checks.append((f"{made.runs:,} runs: changes not as planted", missed, 0, "{:.0f}"))
    checks.append(
        (f"{SEEDS} seeds: changes not as planted", where.planted - where.found, 0, "{:.0f}")
    )
    for noise, count in alarms.items():
        checks.append((f"false change points, {noise:.0%} noise", count, MAX_FALSE, "{:.0f}"))
    checks.append(("gate false alarms, share of runs", gated / GATED_RUNS, GATE_FALSE, "{:.4f}"))
    print()
    passed = True
    for name, value, target, shown in checks:
        met = value <= target
        passed &= met
        ratio = f"({value / target:.2f} of it)" if target else ""
        print(
            f"{name:<36} {shown.format(value):>8}  target <= {shown.format(target)}"
            f"  {ratio:<14} {'met' if met else 'MISSED'}"
        )
    return EXIT_OK if passed else EXIT_MISSED


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return in_work_folder("history", args.keep, run)


if __name__ == "__main__":
    sys.exit(main())
