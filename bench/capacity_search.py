"""The capacity search from a cold start on a lane of known capacity: its wall time, its answer
against Erlang C corrected for the measured slot overhead, and whether its interval covers it.

One run writes the one-branch profile of examples/capacity/kiosk_lane.toml, whose only business is
the kiosk balance enquiry (the login and one GET a visit, both through the kiosk-gateway lane; 1,800
kiosk arrivals an hour, so the rate multiple K is K requests a second), with a p95 objective on the
kiosk channel, and a mock core settings file that gives the kiosk-gateway lane `c` slots of
exponential service of mean `S` and a queue far longer than the search will fill. That lane is an
M/M/c queue (Poisson arrivals, first come first served), so the highest rate whose p95 response time
stays within the objective is known: `reports.queueing.max_arrival_rate(S, c, p95)`.

The harness times a response on the client, so the HTTP round trip and the client's own timing add
a few milliseconds to the lane's wait and service: the slot overhead. It is measured first, in the
same run: a short `surge rehearse` of the same profile at light load against the lane made wide
(64 slots) and constant (exactly `S` a request), so every response is `S` plus the overhead. The
corrected prediction is the highest rate whose wait and service stay within the objective less that
overhead: `max_arrival_rate(S, c, p95 - overhead)`.

Then `surge capacity` runs on them as a new user would (the embedded mock core, `--from 1`, the
default `--to` and `--precision`), as a child process, and its capacity.json is read: the answer
(`answer.requests_per_s`) and its interval (`answer.interval`: the highest level that surely
passed, the lowest that surely failed). A capacity.json of format 1 (before the search ran its
levels in one run) is read too: its answer is `sustained.requests_per_s`, its interval the bracket
between the sustained and the failed step.

Cases (`--case`, default both): `8x25ms`, 8 slots of 25 ms against a p95 of 100 ms (273.6
requests/s uncorrected), and `5x40ms`, 5 slots of 40 ms against 150 ms (93.8 requests/s).
Targets, each case: wall time of `surge capacity` at most 5 minutes; the answer within 5% of the
corrected prediction; its interval covering the corrected prediction.
Exit codes: 0 targets met; 1 a target missed, or the search gave no answer; 2 `surge capacity` or
the overhead's rehearsal refused its input or wrote no results.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
KIOSK_LANE = REPO_DIR / "examples" / "capacity" / "kiosk_lane.toml"
sys.path.insert(0, str(REPO_DIR))  # run as `python bench/capacity_search.py` from anywhere

from processes import SetupError, in_work_folder, log_tail, warn_if_busy  # noqa: E402

from reports.queueing import max_arrival_rate, response_time_tail  # noqa: E402
from surge import children, runfolder  # noqa: E402

SURGE = Path(sys.executable).with_name("surge")
CAPACITY = "capacity.json"
EXIT_OK = 0
EXIT_MISSED = 1
TARGET_WALL_S = 300.0
TARGET_ERROR = 0.05
CUSTOMERS = 20
"""Balance enquiries only read: a few customers are enough, and onboarding them costs little."""
STOP_GRACE_S = 30.0
"""After SIGINT, time for `surge capacity` to end its level and write capacity.json."""
POLL_S = 0.5
OVERHEAD_SLOTS = 64
"""The overhead's lane: so wide that no request of the light load waits for a slot."""
OVERHEAD_RATE_SCALE = 20.0
"""…at 20 requests a second (the profile's 1,800 visits an hour, two requests each, times 20)."""
OVERHEAD_TIME_SCALE = 180.0
"""…for 20 s: the profile's hour at 180 times."""


@dataclass(frozen=True)
class Case:
    """A lane of known capacity: `slots` servers, exponential service, a p95 objective."""

    slots: int
    mean_s: float
    p95_ms: float

    def predicted_per_s(self, overhead_ms: float = 0.0) -> float:
        """The M/M/c rate whose wait and service stay within the p95 less `overhead_ms`."""
        return max_arrival_rate(self.mean_s, self.slots, (self.p95_ms - overhead_ms) / 1000.0)

    def model_p95_ms(self, rate: float, overhead_ms: float) -> float:
        """The M/M/c p95 response time at `rate` plus the overhead, beside each level's."""
        if rate * self.mean_s >= self.slots:
            return float("inf")
        low, high = 0.0, 1.0
        while response_time_tail(rate, self.mean_s, self.slots, high) > 0.05:
            high *= 2
        for _ in range(60):
            middle = (low + high) / 2
            if response_time_tail(rate, self.mean_s, self.slots, middle) > 0.05:
                low = middle
            else:
                high = middle
        return high * 1000.0 + overhead_ms


CASES = {
    "8x25ms": Case(slots=8, mean_s=0.025, p95_ms=100.0),
    "5x40ms": Case(slots=5, mean_s=0.040, p95_ms=150.0),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case", choices=[*sorted(CASES), "all"], default="all", help="the lane (default all)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="searches per case (default 1)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=1200.0,
        help="seconds a search may run before it is interrupted (default 1200)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder, print its path")
    args = parser.parse_args(argv)
    if args.timeout <= 0 or args.repeat < 1:
        parser.error("--timeout above 0, --repeat at least 1")
    return args


def write_profile(path: Path, case: Case) -> None:
    """The repository's one-lane example profile with the case's p95 objective."""
    data = tomllib.loads(KIOSK_LANE.read_text(encoding="utf-8"))
    data["slo"]["kiosk"]["p95_ms"] = case.p95_ms
    path.write_text(tomli_w.dumps(data), encoding="utf-8")


def write_core(path: Path, slots: int, distribution: str, mean_s: float) -> None:
    # A queue this long never turns a request away: the lane stays M/M/c, not M/M/c/K, and the
    # 5 s timeout is far beyond any p95 the search judges.
    path.write_text(
        f"""[lanes.kiosk-gateway]
slots = {slots}
queue = 800
timeout = 5
service = {{ distribution = "{distribution}", mean = {mean_s:g} }}
""",
        encoding="utf-8",
    )


def overhead_ms(case: Case, workdir: Path) -> float:
    """The slot overhead: the mean of response time less the constant service time, at light
    load on a lane so wide nothing waits."""
    profile, core = workdir / "lane.toml", workdir / "constant.toml"
    write_profile(profile, case)
    write_core(core, OVERHEAD_SLOTS, "constant", case.mean_s)
    out, log = workdir / "overhead", workdir / "overhead.log"
    command = [str(SURGE), "rehearse", "--profile", str(profile), "--core-config", str(core)]
    command += ["--time-scale", f"{OVERHEAD_TIME_SCALE:g}"]
    command += ["--rate-scale", f"{OVERHEAD_RATE_SCALE:g}", "--out", str(out), "--no-history"]
    command += ["--", "--customers", str(CUSTOMERS), "--no-report"]
    with log.open("wb") as output:
        done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False)
    found = sorted(run.parent for run in out.glob(f"*/{runfolder.RUN}")) if out.exists() else []
    if done.returncode not in (0, 1) or not found:
        raise SetupError(f"the overhead's rehearsal exited {done.returncode}:\n{log_tail(log)}")
    records = runfolder.load(found[-1]).requests(["start", "end", "outcome"]).to_pandas()
    served = records[records["outcome"] == "ok"]
    if served.empty:
        raise SetupError(f"the overhead's rehearsal served no request:\n{log_tail(log)}")
    extra = (served["end"] - served["start"]) * 1000.0 - case.mean_s * 1000.0
    print(
        f"  slot overhead      mean {extra.mean():.2f} ms, median {extra.median():.2f} ms, "
        f"p95 {extra.quantile(0.95):.2f} ms over {len(extra)} requests at light load"
    )
    return float(extra.mean())


def search(
    case: Case, args: argparse.Namespace, workdir: Path
) -> tuple[dict[str, Any], int, float]:
    """`surge capacity` from a cold start, its lines echoed; capacity.json, its exit code and its
    wall time."""
    profile, core = workdir / "lane.toml", workdir / "core.toml"
    write_profile(profile, case)
    write_core(core, case.slots, "exponential", case.mean_s)
    out, log = workdir / "out", workdir / "capacity.log"
    command = [str(SURGE), "capacity", "--profile", str(profile), "--core-config", str(core)]
    command += ["--from", "1", "--out", str(out), "--no-history"]
    command += ["--", "--customers", str(CUSTOMERS)]
    began = time.monotonic()
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    shown = 0
    try:
        while process.poll() is None:
            shown = echo(log, shown)
            if time.monotonic() - began > args.timeout:
                print(f"  ran past {args.timeout:.0f} s: interrupted", flush=True)
                # SIGINT, as a person would: surge capacity records where it had got to.
                children.stop(process, STOP_GRACE_S, signal.SIGINT)
                break
            time.sleep(POLL_S)
    finally:
        children.stop(process, STOP_GRACE_S, signal.SIGINT)
    wall_s = time.monotonic() - began
    echo(log, shown)
    found = sorted(out.glob(f"*/{CAPACITY}")) if out.exists() else []
    if process.returncode == 2 or not found:
        raise SetupError(f"surge capacity exited {process.returncode}:\n{log_tail(log)}")
    return json.loads(found[0].read_text(encoding="utf-8")), process.returncode, wall_s


def echo(log: Path, shown: int) -> int:
    """Print the level (or step) lines written since `shown` bytes: a silent run looks hung."""
    text = log.read_bytes()[shown:]
    complete = text[: text.rfind(b"\n") + 1]
    for line in complete.decode(errors="replace").splitlines():
        if line.startswith(("  x", "  #", "Capacity:")):
            print(f"  {line.strip()}", flush=True)
    return shown + len(complete)


@dataclass(frozen=True)
class Answer:
    """What a capacity.json answered, whatever its format: requests a second, and its interval
    (None where it has no end)."""

    per_s: float | None
    low: float | None
    high: float | None
    sure: bool
    levels: list[tuple[float, float | None, str]]
    """(requests a second, p95 ms, verdict) of each level or step, in order."""


def read_answer(data: dict[str, Any]) -> Answer:
    if data["format_version"] >= 2:
        answer = data.get("answer") or {}
        interval = answer.get("interval") or {}
        low, high = interval.get("low") or {}, interval.get("high") or {}
        levels = [
            (level["requests_per_s"], level["p95_ms"], _verdict(level))
            for level in data["levels"]
            if level.get("requests_per_s") is not None
        ]
        return Answer(
            answer.get("requests_per_s"),
            low.get("requests_per_s"),
            high.get("requests_per_s"),
            bool(answer.get("sure")),
            levels,
        )
    steps = data["steps"]
    failed = [s for s in steps if s["multiple"] == data.get("failed_multiple")]
    sustained = data.get("sustained") or {}
    return Answer(
        sustained.get("requests_per_s"),
        sustained.get("requests_per_s"),
        failed[-1]["judged"]["requests_per_s"] if failed else None,
        bool(data.get("sure")),
        [(s["judged"]["requests_per_s"], s["judged"]["p95_ms"], _verdict(s)) for s in steps],
    )


def _verdict(level: dict[str, Any]) -> str:
    sure = level.get("sure", not level.get("unsure", False))
    return f"{level['status']}{'' if sure else ' (unsure)'}"


def conclude(
    name: str, case: Case, data: dict[str, Any], code: int, wall_s: float, overhead: float
) -> int:
    raw, corrected = case.predicted_per_s(), case.predicted_per_s(overhead)
    found = read_answer(data)
    print(f"\n{'requests/s':>10} {'p95 ms':>7} {'M/M/c+overhead':>14}  verdict")
    for per_s, p95, verdict in found.levels:
        shown = "-" if p95 is None else f"{p95:.1f}"
        print(f"{per_s:>10.1f} {shown:>7} {case.model_p95_ms(per_s, overhead):>14.1f}  {verdict}")
    print(
        f"\n{name}: {case.slots} slots, exponential {case.mean_s * 1000:g} ms,"
        f" p95 <= {case.p95_ms:g} ms; format {data['format_version']}, ending {data['ending']}"
        f"{', interrupted: ' + data['interrupted'] if data.get('interrupted') else ''}"
    )
    print(
        f"  Erlang C           {raw:.1f} requests/s; corrected for {overhead:.2f} ms:"
        f" {corrected:.1f}"
    )
    checks = [("wall time s", wall_s, TARGET_WALL_S, "{:.0f}")]
    passed = code == 0
    if found.per_s is None:
        print("  found              none: no answer")
        passed = False
    else:
        low = "-" if found.low is None else f"{found.low:.1f}"
        high = "-" if found.high is None else f"{found.high:.1f}"
        print(
            f"  found              {found.per_s:.1f} requests/s, interval {low}-{high}"
            f"{'' if found.sure else ' (resting on unsure levels)'}"
        )
        checks.append(
            ("error vs corrected", abs(found.per_s / corrected - 1), TARGET_ERROR, "{:.1%}")
        )
    for label, value, target, form in checks:
        met = value <= target
        passed = passed and met
        print(
            f"  {label:<18} {form.format(value)}  target <= {form.format(target)}"
            f"  ratio {value / target:.2f}  {'met' if met else 'MISSED'}"
        )
    covers = (
        found.per_s is not None
        and (found.low is None or found.low <= corrected)
        and (found.high is not None and corrected <= found.high)
    )
    passed = passed and covers
    print(f"  interval covers    {'yes' if covers else 'no'}  {'met' if covers else 'MISSED'}")
    if code != 0:
        print(f"FAILED: surge capacity exited {code}")
    return EXIT_OK if passed else EXIT_MISSED


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = sorted(CASES) if args.case == "all" else [args.case]

    def measure(workdir: Path) -> int:
        results = []
        for name in names:
            for repeat in range(args.repeat):
                case = CASES[name]
                folder = workdir / f"{name}-{repeat}"
                folder.mkdir()
                print(
                    f"capacity search: {name} (run {repeat + 1} of {args.repeat}), Erlang C"
                    f" {case.predicted_per_s():.1f} requests/s; load average"
                    f" {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
                warn_if_busy()
                overhead = overhead_ms(case, folder)
                data, code, wall_s = search(case, args, folder)
                results.append(conclude(name, case, data, code, wall_s, overhead))
                print(f"  load average after {os.getloadavg()[0]:.2f}\n", flush=True)
        return EXIT_OK if all(r == EXIT_OK for r in results) else EXIT_MISSED

    return in_work_folder("capacity_search", args.keep, measure)


if __name__ == "__main__":
    sys.exit(main())
