"""`surge rehearse`: the main job, a whole surge rehearsal in one command.

Everything given is checked before anything starts (bad input: one line, exit 2). Without
`--host`, an embedded mock core set up like the profile's branches is started (`surge.embedded`)
and its admin token handed to Locust, so the profile's faults are posted and the ledger is
reconciled at the end. Locust runs headless as a child process (what it says for people is
shown as it comes, all of it kept); the wait is bounded. Then the core is stopped, the run folder
gets Locust's log and statistics and the core's settings, and a short verdict is read back from
the folder's summary.json. Ctrl-C (or SIGTERM) stops Locust gracefully, then the core.

This process never imports Locust (which patches the standard library with gevent on import):
it only starts and watches processes.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import urlsplit

from surge import children, embedded
from surge.profile import CHANNELS, Profile, format_duration, load_profile

DEFAULT_PROFILE = "payday"
"""The heaviest shipped day: 8,145 visits at 6 branches, a lunch peak above counter capacity."""
DEFAULT_TIME_SCALE = 480.0
"""An eight-hour day in 60 s: with start-up (onboarding) and the end, a little over a minute."""
START_AND_END_S = 180.0
"""Allowed beyond the scaled day: Locust's start, onboarding the customers (about 3 s for 200
against the embedded core's lanes), the harness's drain and stop timeout (30 s each) and the
final fetches. A rehearsal still running after that is stopped as not valid evidence."""
LOG_TAIL_LINES = 20
"""Lines of Locust's log shown when it wrote no run folder to keep the log in."""
POLL_S = 0.1
"""How often the rehearsal looks at Locust and at a stop request while it waits."""
LOCUST_GRACE_S = 60.0
"""After Ctrl-C, how long Locust may take to stop its users and write the run folder."""
LOCUST_ADMIN_TOKEN_ENV = "LOCUST_ADMIN_TOKEN"
"""surge.harness reads --admin-token from here: a token given so stays out of run.json."""
RUN_FOLDER = "Run folder: "
"""How surge.harness announces its run folder."""
SHOWN = re.compile(
    r"^(warning|error): "  # the harness's own warnings and refusals
    r"|^The run is not valid evidence"  # the harness's verdict, when it is that
    r"|^\w+: error: "  # Locust's refusal of an option given after `--`
    r"|^\[[^]]+\] \S+/(WARNING|ERROR|CRITICAL)/"  # Locust's log at warning and above
)
"""Locust's output lines shown on the console; the rest (gevent's tracebacks of users stopped
twice when the shape shrinks the pool, say) is only counted, and kept in locust.log."""
KEPT = ("locust.log", "locust_stats.json", "mock-core.toml")
"""What the rehearsal adds to the run folder, when it exists: Locust's output and closing
statistics, and the embedded core's settings (what the systems were). Not the core's log: it
names the rehearsal's admin token, and only a core that failed has anything to say."""
EXIT_BAD_INPUT = 2
EXIT_NOT_VALID = 3
LOCUST_CODES = {0, 2, 3}
"""What the harness ends Locust with: valid, bad input, not valid evidence."""


class BadInput(Exception):
    """A bad flag, worded as one line: `--flag: reason`."""


@dataclass
class StopRequest:
    """Set by Ctrl-C or SIGTERM, acted on between steps: raising from a signal handler could
    land inside `subprocess.Popen` and lose a child that had just been started."""

    reason: str | None = None


@dataclass
class Seen:
    """What the rehearsal learnt from Locust's output."""

    folder: Path | None = None
    """The run folder the harness announced."""
    unshown: int = 0
    """Lines kept in locust.log but not shown."""
    unshown_tail: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_TAIL_LINES))
    """The last of them, shown when there is no run folder to keep the log in."""


@dataclass(frozen=True)
class Plan:
    """A rehearsal, checked: nothing here can fail once processes start."""

    profile_arg: str
    profile: Profile
    """Scaled."""
    host: str | None
    """The systems' URL, or None for an embedded mock core."""
    admin_token: str | None
    workers: int
    out: Path
    seed: int | None
    max_users: int | None
    locust_args: tuple[str, ...]
    """Given after `--`, passed to Locust last."""

    @property
    def bound_s(self) -> float:
        return self.profile.duration_s + START_AND_END_S


def plan(
    *,
    profile: str,
    host: str | None,
    time_scale: float,
    rate_scale: float | None,
    workers: int,
    out: Path,
    seed: int | None,
    max_users: int | None,
    admin_token: str | None,
    locust_args: list[str],
) -> Plan:
    """Check the arguments; raises `BadInput` or `surge.profile.ProfileError` (one line each)."""
    for flag, factor in (("--time-scale", time_scale), ("--rate-scale", rate_scale)):
        if factor is not None and not (math.isfinite(factor) and factor > 0):
            raise BadInput(f"{flag}: {factor:g} must be a number above 0")
    cores = os.cpu_count() or 1
    if not 1 <= workers <= cores:
        raise BadInput(f"--workers: {workers} is not from 1 to {cores} (this machine's cores)")
    if max_users is not None and max_users < len(CHANNELS):
        raise BadInput(f"--max-users: at least {len(CHANNELS)} (one user per channel)")
    if seed is not None and seed < 0:
        raise BadInput(f"--seed: {seed} is below 0")
    if host is not None:
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadInput(f"--host: {host!r} is not an http:// or https:// URL")
    elif admin_token is not None:
        raise BadInput("--admin-token: only with --host (the embedded core makes its own)")
    if locust_args and not locust_args[0].startswith("-"):
        raise BadInput(f"{locust_args[0]!r}: Locust's own options go after `--`")
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out: {out} is not a folder")
    try:
        scaled = load_profile(profile).scaled(time_scale, rate_scale or time_scale)
    except ValueError as error:  # the factors are checked above: rates raised past the limit
        given = "" if rate_scale else " (the time scale, as none was given)"
        raise BadInput(f"--rate-scale{given}: {error}") from None
    return Plan(
        profile_arg=profile,
        profile=scaled,
        host=host,
        admin_token=admin_token,
        workers=workers,
        out=out,
        seed=seed,
        max_users=max_users,
        locust_args=tuple(locust_args),
    )


def locust_command(chosen: Plan, host: str, stats: Path) -> list[str]:
    """The Locust command line: headless, the profile at its scales, the run folder in `out`.

    `--workers N` above 1 is Locust's `--processes N`: forked workers that reach the master on a
    free loopback port (given as both the bind and the connect port, since the defaults may be
    taken). `--loglevel WARNING`, `--only-summary` and `--json-file` (Locust's own closing
    statistics, `stats` + ".json", instead of their tables) keep the console to warnings, errors
    and the harness's verdict.
    """
    profile = chosen.profile
    loadtests = Path(__file__).resolve().parent.parent / "loadtests"
    command = [
        *children.script("locust", "locust"),
        *("-f", str(loadtests), "--headless", "--host", host),
        *("--profile", chosen.profile_arg),
        *("--time-scale", f"{profile.time_scale:g}", "--rate-scale", f"{profile.rate_scale:g}"),
        *("--results", str(chosen.out), "--loglevel", "WARNING", "--only-summary"),
        *("--json-file", str(stats)),
    ]
    if chosen.seed is not None:
        command += ["--seed", str(chosen.seed)]
    if chosen.max_users is not None:
        command += ["--max-users", str(chosen.max_users)]
    if chosen.workers > 1:
        port = str(children.free_port())
        command += ["--processes", str(chosen.workers)]
        command += ["--master-bind-host", children.LOOPBACK, "--master-bind-port", port]
        command += ["--master-port", port]
    return [*command, *chosen.locust_args]


def describe(profile: Profile) -> str:
    """One line: the day, its scales and the visits it expects."""
    visits = sum(
        s.per_second * (s.end_s - s.start_s) for c in CHANNELS for s in profile.segments(c)
    )
    return (
        f"{profile.name}: {profile.branches} branches of {profile.staffing.counters} counters, "
        f"{profile.day_start}-{profile.wall_clock(profile.duration_s)} in "
        f"{format_duration(profile.duration_s)} (time scale {profile.time_scale:g}, rate scale "
        f"{profile.rate_scale:g}), about {visits:,.0f} visits"
    )


def rehearse(chosen: Plan) -> int:
    """Run the rehearsal; the exit code of design.md."""
    try:
        chosen.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInput(f"--out: cannot create {chosen.out}: {error.strerror}") from None
    print(f"surge rehearse: {describe(chosen.profile)}", flush=True)
    try:
        return _rehearse(chosen)
    except embedded.CoreError as error:  # nothing ran: a problem of this machine's ports
        print(f"surge: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _rehearse(chosen: Plan) -> int:
    with tempfile.TemporaryDirectory(prefix="surge-rehearse-") as work, _stop_requests() as stop:
        folder = Path(work)
        before = set(chosen.out.iterdir())
        core: embedded.Core | None = None
        try:
            if chosen.host is None:
                seed = chosen.profile.seed if chosen.seed is None else chosen.seed
                core = embedded.start(chosen.profile, seed, folder)
                print(f"surge rehearse: embedded mock core at {core.url}", flush=True)
            if stop.reason is not None:
                print("surge rehearse: interrupted before Locust started: nothing was run")
                return EXIT_NOT_VALID
            code, seen = _run_locust(chosen, core, folder, stop)
            if core is not None and core.process.poll() is not None:
                print(
                    f"surge rehearse: the embedded mock core ended during the run (exit "
                    f"{core.process.returncode}); its last words:\n{embedded.log_tail(core)}"
                )
                code = EXIT_NOT_VALID
        finally:
            if core is not None:
                embedded.stop(core)
        run = seen.folder or _new_folder(chosen.out, before)
        if run is None:  # its log goes with the temporary folder: show what was not shown
            for line in seen.unshown_tail:
                print(line, file=sys.stderr)
            print("surge rehearse: Locust wrote no run folder", file=sys.stderr)
            return code if code != 0 else EXIT_NOT_VALID
        if seen.unshown:
            print(f"surge rehearse: {seen.unshown} more lines of Locust's output in locust.log")
        for kept in KEPT:
            if (folder / kept).exists():
                shutil.copy2(folder / kept, run / kept)
    print(verdict(run, chosen.host or "the embedded mock core", code))
    print(f"{RUN_FOLDER}{run}")
    return code


def _run_locust(
    chosen: Plan, core: embedded.Core | None, folder: Path, stop: StopRequest
) -> tuple[int, Seen]:
    """Locust's exit code (or 3 when interrupted, late or ended oddly) and what its output
    said."""
    host = core.url if core is not None else str(chosen.host)
    token = core.admin_token if core is not None else chosen.admin_token
    command = locust_command(chosen, host, folder / "locust_stats")
    log = folder / "locust.log"
    print(f"surge rehearse: {shlex.join(command)}", flush=True)
    print(
        f"surge rehearse: customers are onboarded, then the day runs for "
        f"{format_duration(chosen.profile.duration_s)} (stopped if not done within "
        f"{format_duration(chosen.bound_s)})",
        flush=True,
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if token is not None:
        env[LOCUST_ADMIN_TOKEN_ENV] = token
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # Ctrl-C reaches the rehearsal, which stops Locust gracefully
    )
    seen = Seen()
    with log.open("wb") as kept:
        pump = threading.Thread(target=_pump, args=(process.stdout, kept, seen), daemon=True)
        pump.start()
        deadline = time.monotonic() + chosen.bound_s
        try:
            while (code := process.poll()) is None:
                if stop.reason is not None:
                    print("surge rehearse: interrupted: stopping Locust (not valid evidence)")
                    code = EXIT_NOT_VALID
                    break
                if time.monotonic() > deadline:
                    print(f"surge rehearse: still running after {chosen.bound_s:.0f} s: stopping")
                    code = EXIT_NOT_VALID
                    break
                time.sleep(POLL_S)
        finally:
            # SIGINT, not SIGTERM: a headless shape run installs its SIGTERM handler only after
            # the shape ends, so SIGTERM would kill it with no run folder, while SIGINT stops
            # the users and writes it. A forked worker left behind goes with the group.
            children.stop(process, LOCUST_GRACE_S, first=signal.SIGINT)
            pump.join(timeout=5)
    if code not in LOCUST_CODES:
        print(f"surge rehearse: Locust ended with exit code {code}")
        code = EXIT_NOT_VALID
    return code, seen


def _pump(stream: IO[bytes], kept: IO[bytes], seen: Seen) -> None:
    """Keep all of Locust's output in the log; show the lines meant for people as they come;
    note the run folder announced, which the rehearsal prints last."""
    for line in iter(stream.readline, b""):
        kept.write(line)
        text = line.decode(errors="replace").rstrip()
        if text.startswith(RUN_FOLDER):
            seen.folder = Path(text.removeprefix(RUN_FOLDER))
        elif SHOWN.match(text):
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
        elif text:
            seen.unshown += 1
            seen.unshown_tail.append(text)


def _new_folder(out: Path, before: set[Path]) -> Path | None:
    """The run folder Locust made without announcing it (it was stopped), if exactly one."""
    made = [path for path in set(out.iterdir()) - before if path.is_dir()]
    return made[0] if len(made) == 1 else None


@contextmanager
def _stop_requests() -> Iterator[StopRequest]:
    """Ctrl-C and SIGTERM only note a stop request here, so the children are always stopped in
    order (Locust gracefully, then the core), and a second Ctrl-C cannot cut that short."""
    stop = StopRequest()

    def note(signum: int, frame: FrameType | None) -> None:
        stop.reason = signal.Signals(signum).name

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def verdict(run: Path, target: str, code: int) -> str:
    """A few lines from the run folder: valid or not, visits, requests, the ledger check.

    Valid needs the exit code too: a run stopped early may have kept to its schedule so far."""
    summary = _read(run / "summary.json")
    if summary is None:
        return f"surge rehearse: {run} holds no summary.json"
    visits = summary["visits"]
    valid = "valid evidence" if summary["valid"] and code == 0 else "NOT valid evidence"
    lag = summary["start_lag_s"]["p99"]
    lines = [
        f"Rehearsal against {target}: {valid}",
        f"  visits    {visits['scheduled']} scheduled, {visits['started']} started, "
        f"{visits['late']} late, {visits['dropped']} dropped (p99 start lag "
        f"{'-' if lag is None else f'{lag * 1000:.0f} ms'})",
        f"  requests  {summary['requests']}: {summary['failures']} failed, "
        f"{summary['refusals']} refused by business rules, {summary['retries']} retried",
        f"  ledger    {_reconciled(run)}",
    ]
    return "\n".join(lines)


def _reconciled(run: Path) -> str:
    reconcile = _read(run / "reconcile.json")
    if reconcile is None:
        return "not checked (no admin token for /admin/reconcile)"
    if reconcile.get("ok") is True:
        return "reconciled: ok"
    failed = [c.get("name", "?") for c in reconcile.get("checks", []) if not c.get("ok")]
    return f"reconcile FAILED: {', '.join(failed) or 'see reconcile.json'}"


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
