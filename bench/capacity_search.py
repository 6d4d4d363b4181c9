"""The capacity search on a lane of known capacity: its error against M/M/c, its minutes of load.

One run writes the one-branch profile of examples/capacity/kiosk_lane.toml, whose only business is
the kiosk balance enquiry (the login and one GET a visit, both through the kiosk-gateway lane; 1,800
kiosk arrivals an hour, so the rate multiple K is K requests a second), with a p95 objective on the
kiosk channel, and a mock core settings file that gives the kiosk-gateway lane `c` slots of
exponential service of mean `S` and a queue far longer than the search will fill. That lane is an
M/M/c queue (Poisson arrivals, first come first served), so the highest rate whose p95 response time
stays within the objective is known: `reports.queueing.max_arrival_rate(S, c, p95)`, computed in the
same run. Then it runs `surge capacity` on them as a child process (the embedded mock core, a
staircase from about half the prediction, then a bisection until the bracket is within 5%) and reads
its capacity.json.

The ratio here is the search's answer against that prediction: the request rate the highest
passing step carried (`sustained.requests_per_s`) over the M/M/c rate. The harness measures the
response time on the client, so the HTTP round trip adds a few milliseconds to the lane's own
wait and service: the search should land a little below the model, never above it by much.
The minutes of load are capacity.json's `load_s` (every step's run, warm-up and the Locust
process's start and end included), which is what a team pays for an answer.

Cases (`--case`): `8x25ms`, 8 slots of 25 ms against a p95 of 100 ms (273.6 requests/s), and
`5x40ms`, 5 slots of 40 ms against 150 ms (93.8 requests/s).
Targets: the answer within 10% of the prediction, after at most 6 minutes of load, the search
ending bracketed within 5% (failed multiple - sustained) / sustained.
Exit codes: 0 targets met; 1 a target missed, or the search did not end bracketed (the lowest
step failed, the generator fell behind, interrupted); 2 `surge capacity` refused its input or
wrote no capacity.json.
"""

from __future__ import annotations

import argparse
import json
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
from surge import children  # noqa: E402
from surge.capacity import CAPACITY  # noqa: E402

SURGE = Path(sys.executable).with_name("surge")
EXIT_OK = 0
EXIT_MISSED = 1
EXIT_SETUP = 2
TARGET_ERROR = 0.10
TARGET_MINUTES = 6.0
TARGET_BRACKET = 0.05
LOW_SHARE = 0.55
"""--from as a share of the prediction: the staircase's second step (1.1x) then fails clearly,
where starting at 0.5x would double onto the prediction itself, the least decidable rate."""
HIGH_SHARE = 2.0
CUSTOMERS = 20
"""Balance enquiries only read: a few customers are enough, and onboarding them costs little."""
STOP_GRACE_S = 30.0
"""After SIGINT, time for `surge capacity` to end its step and write capacity.json."""
POLL_S = 0.5


@dataclass(frozen=True)
class Case:
    """A lane of known capacity: `slots` servers, exponential service, a p95 objective."""

    slots: int
    mean_s: float
    p95_ms: float

    @property
    def predicted_per_s(self) -> float:
        return max_arrival_rate(self.mean_s, self.slots, self.p95_ms / 1000.0)

    def model_p95_ms(self, rate: float) -> float:
        """The M/M/c p95 response time at `rate`, to set each step's measured p95 against."""
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
        return high * 1000.0


CASES = {
    "8x25ms": Case(slots=8, mean_s=0.025, p95_ms=100.0),
    "5x40ms": Case(slots=5, mean_s=0.040, p95_ms=150.0),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case", choices=sorted(CASES), default="8x25ms", help="the lane (default 8x25ms)"
    )
    parser.add_argument(
        "--step-duration",
        type=float,
        default=20.0,
        help="seconds each step is judged on, after its warm-up (default 20)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds the search may run before it is interrupted (default 900)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder, print its path")
    args = parser.parse_args(argv)
    if args.step_duration < 5 or args.timeout <= 0:
        parser.error("--step-duration at least 5, --timeout above 0")
    return args


def write_profile(path: Path, case: Case) -> None:
    """The repository's one-lane example profile with the case's p95 objective."""
    data = tomllib.loads(KIOSK_LANE.read_text(encoding="utf-8"))
    data["slo"]["kiosk"]["p95_ms"] = case.p95_ms
    path.write_text(tomli_w.dumps(data), encoding="utf-8")


def write_core(path: Path, case: Case) -> None:
    # A queue this long never turns a request away within a step: the lane stays M/M/c, not
    # M/M/c/K, and the 5 s timeout is far beyond any p95 the search judges.
    path.write_text(
        f"""[lanes.kiosk-gateway]
slots = {case.slots}
queue = 800
timeout = 5
service = {{ distribution = "exponential", mean = {case.mean_s:g} }}
""",
        encoding="utf-8",
    )


def search(case: Case, args: argparse.Namespace, workdir: Path) -> tuple[dict[str, Any], int]:
    """`surge capacity` on the case, its step lines echoed; capacity.json and its exit code."""
    profile, core = workdir / "lane.toml", workdir / "core.toml"
    write_profile(profile, case)
    write_core(core, case)
    predicted = case.predicted_per_s
    out, log = workdir / "out", workdir / "capacity.log"
    command = [str(SURGE), "capacity", "--profile", str(profile), "--core-config", str(core)]
    command += ["--from", f"{LOW_SHARE * predicted:.1f}", "--to", f"{HIGH_SHARE * predicted:.1f}"]
    command += ["--step-duration", f"{args.step_duration:g}", "--precision", f"{TARGET_BRACKET:g}"]
    command += ["--out", str(out), "--", "--customers", str(CUSTOMERS)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    began = time.monotonic()
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
    echo(log, shown)
    found = sorted(out.glob(f"*/{CAPACITY}")) if out.exists() else []
    if process.returncode == 2 or not found:
        raise SetupError(f"surge capacity exited {process.returncode}:\n{log_tail(log)}")
    return json.loads(found[0].read_text(encoding="utf-8")), process.returncode


def echo(log: Path, shown: int) -> int:
    """Print the step lines written since `shown` bytes: a silent 5-minute run looks hung."""
    text = log.read_bytes()[shown:]
    complete = text[: text.rfind(b"\n") + 1]
    for line in complete.decode(errors="replace").splitlines():
        if line.startswith(("  x", "Capacity:")):
            print(f"  {line.strip()}", flush=True)
    return shown + len(complete)


def conclude(name: str, case: Case, data: dict[str, Any], code: int) -> int:
    predicted = case.predicted_per_s
    steps: list[dict[str, Any]] = data["steps"]
    print(f"\n{'multiple':>9} {'requests/s':>10} {'p95 ms':>7} {'M/M/c p95':>9}  verdict")
    for step in steps:
        judged = step["judged"]
        p95 = judged["p95_ms"]
        print(
            f"{step['multiple']:>9.4g} {judged['requests_per_s']:>10.1f}"
            f" {'-' if p95 is None else f'{p95:.1f}':>7}"
            f" {case.model_p95_ms(judged['requests_per_s']):>9.1f}"
            f"  {step['status']}{' (unsure)' if step['unsure'] else ''}"
        )
    sustained = data.get("sustained") or {}
    found = sustained.get("requests_per_s")
    multiple = sustained.get("multiple")
    failed = data.get("failed_multiple")
    minutes = data["load_s"] / 60.0
    days_s = len(steps) * (data["warmup_s"] + data["step_s"])
    overhead = (data["load_s"] - days_s) / len(steps) if steps else 0.0
    print(
        f"\n{name}: {case.slots} slots, exponential {case.mean_s * 1000:g} ms,"
        f" p95 <= {case.p95_ms:g} ms; ending {data['ending']}, sure {data['sure']}"
        f"{', interrupted: ' + data['interrupted'] if data.get('interrupted') else ''}"
    )
    print(f"  M/M/c prediction   {predicted:.1f} requests/s")
    if found is None or multiple is None:
        print("  found              none: no step passed")
        return EXIT_MISSED
    print(f"  found              {found:.1f} requests/s (x{multiple:.4g})")
    checks = [("error vs M/M/c", abs(found / predicted - 1), TARGET_ERROR, "{:.1%}")]
    checks.append(("minutes of load", minutes, TARGET_MINUTES, "{:.2f}"))
    if failed is not None:
        checks.append(("bracket", (failed - multiple) / multiple, TARGET_BRACKET, "{:.1%}"))
    passed = data["ending"] == "bracketed" and code == 0
    for label, value, target, form in checks:
        met = value <= target
        passed = passed and met
        print(
            f"  {label:<18} {form.format(value)}  target <= {form.format(target)}"
            f"  ratio {value / target:.2f}  {'met' if met else 'MISSED'}"
        )
    if failed is None:
        print("  bracket            none: no step failed above the answer  MISSED")
    print(
        f"  steps              {len(steps)} runs at {len({s['multiple'] for s in steps})}"
        f" multiples; {days_s / 60:.2f} min of days, {overhead:.1f} s a run beyond its day"
    )
    if code != 0:
        print(f"FAILED: surge capacity exited {code}")
    return EXIT_OK if passed else EXIT_MISSED


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    case = CASES[args.case]

    def measure(workdir: Path) -> int:
        print(
            f"capacity search: {args.case}, predicted {case.predicted_per_s:.1f} requests/s,"
            f" steps of {args.step_duration:g} s",
            flush=True,
        )
        warn_if_busy()
        data, code = search(case, args, workdir)
        return conclude(args.case, case, data, code)

    return in_work_folder("capacity_search", args.keep, measure)


if __name__ == "__main__":
    sys.exit(main())
