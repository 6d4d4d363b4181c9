"""Three times a lane's capacity for a minute: how fast the refusals, `/healthz` and the recovery.

One run starts a mock core (its lanes real, not `--unlimited`) pinned to core 0, gives its
teller lane 2 slots of a constant 50 ms and a queue of 4 (40 reads a second, through
`PUT /admin/capacity`), and drives it from this process pinned to core 1 with the drill of
tests/overload.py: a few seconds of lone reads and `/healthz` calls for the reference, then
three times the capacity in account reads sent open-loop for `--seconds`, with `/healthz`
polled and the service's RSS read from /proc alongside, then lone reads again.
tests/test_overload.py pins the behaviour of a short drill; this measures its speed, each as a
ratio to the reference of the same run, so the targets hold on any machine:

- refusals: the 503s' p99 over the p99 of `/healthz` polled at the same time, <= 1.5: a
  refusal costs no more than a health check (a round trip past the lane), whatever else the
  cores are doing at the time;
- `/healthz` under the load: its p99 over the unloaded p99 of a read of the lane, <= 0.25: a
  health check stays a fraction of one normal read while the lane is swamped (against its own
  unloaded p99, half a millisecond on an idle machine, any queueing in the event loop would
  read as a many-fold slowdown of something still fast);
- memory: peak RSS over the RSS before the load, <= 1.5 (the test's bound);
- recovery: seconds from the load's last request until 5 reads in a row are back within 1.2
  times the unloaded read p99, over the time the lane's full queue takes to drain, <= 10.

Exit codes: 0 targets met; 1 a target missed, the client fell behind the rate (below 95%), a
request got neither a 200 nor a 503, `/healthz` failed or the service ended; 2 fewer than two
cores, or the core would not start.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections import Counter
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(REPO_DIR))  # run as `python bench/overload.py` from anywhere

from processes import SetupError, in_work_folder, warn_if_busy  # noqa: E402

from tests.overload import SMALL_LANE, Answer, Drill, run_drill  # noqa: E402
from tests.support import serve  # noqa: E402

SERVER_CORE, LOAD_CORE = 0, 1
REFERENCE_S = 3.0
AFTER_S = 5.0
RECOVERED_IN_A_ROW = 5
RECOVERED_WITHIN = 1.2
"""A read is back to normal within this many times the unloaded read p99."""
TARGETS = {"refusal p99": 1.5, "healthz p99": 0.25, "peak RSS": 1.5, "recovery": 10.0}
KEPT_RATE = 0.95
"""The client must send at least this share of the rate asked, or the load was not an overload
of the multiple claimed (a busy core)."""
EXIT_OK, EXIT_MISSED, EXIT_SETUP = 0, 1, 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="seconds of overload (default 60)"
    )
    parser.add_argument(
        "--multiple", type=float, default=3.0, help="times the lane's capacity (default 3)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder, print its path")
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.multiple <= 1:
        parser.error("--seconds at least 1, --multiple above 1 (an overload)")
    return args


def missing_tools() -> str | None:
    if not {SERVER_CORE, LOAD_CORE} <= os.sched_getaffinity(0):
        return f"needs cores {SERVER_CORE} and {LOAD_CORE} (server and load apart)"
    return None


def p99(answers: list[Answer]) -> float:
    """Nearest-rank 99th percentile of the answers' seconds."""
    ordered = sorted(answer.seconds for answer in answers)
    if not ordered:
        raise SetupError("no answers to take a percentile of")
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def recovery_s(drill: Drill) -> float | None:
    """Seconds from the load's end to the first of `RECOVERED_IN_A_ROW` normal reads in a row;
    None when the reads after never got back to normal."""
    normal = RECOVERED_WITHIN * p99(drill.reference)
    streak: list[Answer] = []
    for answer in drill.after:
        streak = [*streak, answer] if answer.status == 200 and answer.seconds <= normal else []
        if len(streak) == RECOVERED_IN_A_ROW:
            return max(0.0, streak[0].at)
    return None


def drain_s() -> float:
    """How long the lane's full queue takes to drain: queue × service time / slots."""
    return SMALL_LANE["queue"] * SMALL_LANE["service"]["mean"] / SMALL_LANE["slots"]


def run(args: argparse.Namespace, workdir: Path) -> int:
    print(
        f"overload: mock core on core {SERVER_CORE}, load on core {LOAD_CORE};"
        f" {args.multiple:g} times the teller lane's capacity for {args.seconds:g} s",
        flush=True,
    )
    warn_if_busy()
    os.sched_setaffinity(0, {LOAD_CORE})
    try:
        with serve(workdir / "ledger.sqlite", "--customers", "5") as (base, process):
            os.sched_setaffinity(process.pid, {SERVER_CORE})
            drill = run_drill(base, process.pid, args.multiple, args.seconds, REFERENCE_S, AFTER_S)
            up = process.poll() is None
    except (RuntimeError, TimeoutError) as error:
        raise SetupError(str(error)) from None
    return conclude(drill, up)


def conclude(drill: Drill, up: bool) -> int:
    statuses = Counter(answer.status for answer in drill.load)
    refused = [answer for answer in drill.load if answer.status == 503]
    healthz_ref = p99(drill.reference_healthz)
    recovered = recovery_s(drill)
    peak = max(drill.rss_kb)
    sent_per_s = len(drill.load) / max(answer.at for answer in drill.load)
    print(
        f"  lane {drill.capacity_per_s:g} reads/s, offered {drill.rate_per_s:g}/s (sent"
        f" {sent_per_s:,.1f}/s): {len(drill.load):,} requests, {statuses[200]:,} served,"
        f" {statuses[503]:,} refused"
        f"\n  unloaded: read p99 {ms(p99(drill.reference))}, /healthz p99 {ms(healthz_ref)}"
        f"\n  overload: 503 p99 {ms(p99(refused) if refused else None)},"
        f" /healthz p99 {ms(p99(drill.healthz))} ({len(drill.healthz)} calls)"
        f"\n  RSS {mb(drill.rss_start_kb)} MB before, peak {mb(peak)} MB"
        f"\n  recovery {'never' if recovered is None else f'{recovered:.3f} s'}"
        f" (the full queue drains in {drain_s():g} s)",
        flush=True,
    )
    ratios = {
        "refusal p99": p99(refused) / p99(drill.healthz) if refused else math.inf,
        "healthz p99": p99(drill.healthz) / p99(drill.reference),
        "peak RSS": peak / drill.rss_start_kb,
        "recovery": math.inf if recovered is None else recovered / drain_s(),
    }
    print("\nratios to the reference of this run:")
    passed = True
    for name, ratio in ratios.items():
        met = ratio <= TARGETS[name]
        passed &= met
        verdict = "met" if met else "MISSED"
        print(f"  {name:<12} {ratio:7.3f}  target <= {TARGETS[name]:g}  {verdict}")
    if sent_per_s < KEPT_RATE * drill.rate_per_s:
        passed = False
        print(f"FAILED: the client sent {sent_per_s:,.1f}/s, behind the {drill.rate_per_s:g}/s")
    if set(statuses) - {200, 503}:
        passed = False
        print(f"FAILED: answers other than 200 and 503 (None: no answer): {dict(statuses)}")
    if {answer.status for answer in drill.healthz} != {200}:
        passed = False
        print("FAILED: /healthz did not answer 200 every time under the load")
    if not up:
        passed = False
        print("FAILED: the service ended under the load")
    return EXIT_OK if passed else EXIT_MISSED


def ms(seconds: float | None) -> str:
    return "none" if seconds is None else f"{seconds * 1000:.2f} ms"


def mb(kb: int) -> str:
    return f"{kb * 1024 / 1e6:.1f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = missing_tools()
    if problem:
        print(f"overload: {problem}", file=sys.stderr)
        return EXIT_SETUP
    return in_work_folder("overload", args.keep, lambda workdir: run(args, workdir))


if __name__ == "__main__":
    sys.exit(main())
