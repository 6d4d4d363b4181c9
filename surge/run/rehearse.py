"""`surge rehearse`: the main job, a whole surge rehearsal in one command.

Everything given is checked before anything starts (bad input: one line, exit 2). Without
`--host`, an embedded mock core set up like the profile's branches is started (`surge.run.embedded`)
and its admin token handed to Locust, so the profile's faults are posted and the ledger is
reconciled at the end. Locust runs headless as a child process (what it says for people is
shown as it comes, all of it kept); the wait is bounded. The rehearsal names the run folder
(`--run-folder`), so it knows where the run went. Then the core is stopped, the run folder gets
Locust's log and statistics, the core's settings and whatever happened outside the harness's
sight (an interruption, the core ending: `runfolder.add_incident`), and the verdict is read
from the folder with the one rule (`surge.judge.verdict`). Ctrl-C (or SIGTERM) stops Locust
gracefully, then the core.

This process never imports Locust (which patches the standard library with gevent on import):
it only starts and watches processes.
"""

from __future__ import annotations

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
import tomllib
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

import tomli_w

from surge import children, exits, runfolder, shipped
from surge.bindings import loader
from surge.day.profile import CHANNELS, Profile, format_duration, resolve
from surge.exits import BadInput
from surge.judge import durability, saturation, verdict
from surge.judge.verdict import Verdict
from surge.run import embedded
from surge.run.crash import CrashDrill
from surge.run.progress import ProgressLine
from surge.runfolder import RunFolder
from surge.visit import credentials
from surge.visit.target import check_reachable

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
REPORT = "Report: "
"""How the rehearsal names the report it wrote, last."""
RUN_FOLDER = "Run folder: "
"""How the rehearsal, and the harness in Locust's output, name the run folder."""
VERDICT = "The run is "
"""How the harness's verdict line starts (`surge.judge.verdict.Verdict.sentence`)."""
SHOWN = re.compile(
    r"^(warning|error): "  # the harness's own warnings and refusals
    r"|^\w+: error: "  # Locust's refusal of an option given after `--`
    r"|^\[[^]]+\] \S+/(WARNING|ERROR|CRITICAL)/"  # Locust's log at warning and above
)
"""Locust's output lines shown on the console; the rest (gevent's tracebacks of users stopped
twice when the shape shrinks the pool, say) is only counted, and kept in locust.log."""
CORE_SETTINGS = "mock-core.toml"
KEPT = ("locust.log", "locust_stats.json", CORE_SETTINGS)
"""What the rehearsal adds to the run folder, when it exists: Locust's output and closing
statistics, and the embedded core's settings (what the systems were), their tokens blanked (a
`--core-config` may set them). Not the core's log: it names the rehearsal's admin token, and
only a core that failed has anything to say."""
LOCUST_CODES = {exits.OK, exits.BAD_INPUT, exits.NOT_VALID}
"""What the harness ends Locust with: valid, bad input, not valid evidence."""


@dataclass
class StopRequest:
    """Set by Ctrl-C or SIGTERM, acted on between steps: raising from a signal handler could
    land inside `subprocess.Popen` and lose a child that had just been started."""

    reason: str | None = None


@dataclass
class Seen:
    """What the rehearsal learnt from Locust's output."""

    unshown: int = 0
    """Lines kept in locust.log but not shown."""
    unshown_tail: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_TAIL_LINES))
    """The last of them, shown when there is no run folder to keep the log in."""


@dataclass(frozen=True)
class Rehearsal:
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
    core_config: Path | None = None
    """The embedded core's settings file (`--core-config`), in the core's own format."""
    core_settings: dict[str, Any] = field(default_factory=dict)
    """…as read."""
    command: str = "rehearse"
    """The `surge` command running it, which its messages name."""
    binding: str = loader.DEFAULT
    """`--binding`: the journeys' binding to the target's API, passed to Locust."""
    allow_hosts: tuple[str, ...] = ()
    """`--allow-host`: the hosts besides the mock core the journeys may write to."""

    @property
    def bound_s(self) -> float:
        return self.profile.duration_s + START_AND_END_S


@dataclass(frozen=True)
class RehearsalOptions:
    """What a command asks of a rehearsal, as given: built once from `surge rehearse`'s or
    `surge capacity`'s arguments and passed down, checked by `rehearsal`."""

    profile: str
    """A shipped profile's name or a profile file's path."""
    host: str | None = None
    """The systems' URL; None: an embedded mock core."""
    time_scale: float = 1.0
    rate_scale: float | None = None
    """None: the time scale."""
    workers: int = 1
    out: Path = Path("results")
    seed: int | None = None
    max_users: int | None = None
    admin_token: str | None = None
    locust_args: Sequence[str] = ()
    """Locust's own options, given after `--`."""
    core_config: Path | None = None
    binding: str = loader.DEFAULT
    allow_hosts: Sequence[str] = ()


def rehearsal(options: RehearsalOptions) -> Rehearsal:
    """`options` checked; raises `BadInput` (one line)."""
    host = options.host
    if options.core_config is not None and host is not None:
        raise BadInput("--core-config: only for the embedded core (without --host)")
    core_settings = embedded.read_config(options.core_config) if options.core_config else {}
    cores = os.cpu_count() or 1
    if not 1 <= options.workers <= cores:
        raise BadInput(
            f"--workers: {options.workers} is not from 1 to {cores} (this machine's cores)"
        )
    if options.max_users is not None and options.max_users < len(CHANNELS):
        raise BadInput(f"--max-users: at least {len(CHANNELS)} (one user per channel)")
    if options.seed is not None and options.seed < 0:
        raise BadInput(f"--seed: {options.seed} is below 0")
    if host is not None:
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadInput(f"--host: {host!r} is not an http:// or https:// URL")
        check_reachable(host, credentials.from_environment())
    elif options.admin_token is not None or options.allow_hosts:
        flag = "--admin-token" if options.admin_token is not None else "--allow-host"
        raise BadInput(f"{flag}: only with --host (the embedded core is the mock core)")
    if options.locust_args and not options.locust_args[0].startswith("-"):
        raise BadInput(f"{options.locust_args[0]!r}: Locust's own options go after `--`")
    if options.out.exists() and not options.out.is_dir():
        raise BadInput(f"--out: {options.out} is not a folder")
    scaled = resolve(options.profile, options.time_scale, options.rate_scale or options.time_scale)
    _check_binding(options.binding, scaled, onboarding="--data-pool" not in options.locust_args)
    return Rehearsal(
        profile_arg=options.profile,
        profile=scaled,
        host=host,
        admin_token=options.admin_token,
        workers=options.workers,
        out=options.out,
        seed=options.seed,
        max_users=options.max_users,
        locust_args=tuple(options.locust_args),
        core_config=options.core_config,
        core_settings=core_settings,
        binding=options.binding,
        allow_hosts=tuple(options.allow_hosts),
    )


def _check_binding(spec: str, profile: Profile, *, onboarding: bool) -> None:
    """Before any process starts: the binding loads and does every operation the day needs."""
    try:
        lacking = loader.missing(loader.load(spec), profile, onboarding=onboarding)
    except loader.BindingError as error:
        raise BadInput(str(error)) from None
    if lacking:
        raise BadInput(lacking)


def locust_command(
    chosen: Rehearsal, host: str, folder: Path, stats: Path, embedded_core: bool = False
) -> list[str]:
    """The Locust command line: headless, the profile at its scales, the run folder `folder`;
    `--embedded-core` when `host` is the rehearsal's own core (it does the crash faults).

    `--workers N` above 1 is Locust's `--processes N`: forked workers that reach the master on a
    free loopback port (given as both the bind and the connect port, since the defaults may be
    taken). `--loglevel WARNING`, `--only-summary` and `--json-file` (Locust's own closing
    statistics, `stats` + ".json", instead of their tables) keep the console to warnings, errors
    and the harness's verdict.
    """
    profile = chosen.profile
    loadtests = shipped.folder("loadtests")
    command = [
        *children.script("locust", "locust"),
        *("-f", str(loadtests), "--headless", "--host", host),
        *("--profile", chosen.profile_arg),
        *("--time-scale", f"{profile.time_scale:g}", "--rate-scale", f"{profile.rate_scale:g}"),
        *("--run-folder", str(folder), "--no-report"),
        *("--loglevel", "WARNING", "--only-summary"),
        *("--json-file", str(stats)),
    ]
    if embedded_core:
        command.append("--embedded-core")
    for allowed in chosen.allow_hosts:
        command += ["--allow-host", allowed]
    if chosen.seed is not None:
        command += ["--seed", str(chosen.seed)]
    if chosen.max_users is not None:
        command += ["--max-users", str(chosen.max_users)]
    if chosen.binding != loader.DEFAULT:
        command += ["--binding", chosen.binding]
    if chosen.workers > 1:
        port = str(children.free_port())
        command += ["--processes", str(chosen.workers)]
        command += ["--master-bind-host", children.LOOPBACK, "--master-bind-port", port]
        command += ["--master-port", port]
    return [*command, *chosen.locust_args]


def describe(profile: Profile) -> str:
    """One line: the day, its scales and the visits it expects."""
    visits = profile.expected_visits()
    return (
        f"{profile.name}: {profile.branches} branches of {profile.staffing.counters} counters, "
        f"{profile.day_start}-{profile.wall_clock(profile.duration_s)} in "
        f"{format_duration(profile.duration_s)} (time scale {profile.time_scale:g}, rate scale "
        f"{profile.rate_scale:g}), about {visits:,.0f} visits"
    )


class Watch(Protocol):
    """What follows a run while Locust runs it, from its folder: the rehearsal's progress line
    (`surge.run.progress.ProgressLine`), or a capacity search deciding its levels."""

    def update(self) -> None:
        """Called every `POLL_S`; looks at the folder no more often than it needs."""
        ...

    def close(self) -> None: ...


class Concluded(Protocol):
    """What concluding a run folder gave: its report and the gate's judgement."""

    @property
    def report(self) -> Path | None: ...

    @property
    def exit_code(self) -> int: ...

    @property
    def failures(self) -> list[str]: ...


Conclude = Callable[[Path], Concluded]
"""Reports and gates a run folder (`reports.report.conclude`: the command line composes the
reports; the harness itself never imports them, docs/architecture.md)."""


def rehearse(chosen: Rehearsal, conclude: Conclude | None = None) -> int:
    """Run the rehearsal, then `conclude` the folder; the exit code (`surge.exits`): the gate's,
    when the run is evidence."""
    try:
        chosen.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInput(f"--out: cannot create {chosen.out}: {error.strerror}") from None
    print(f"surge rehearse: {describe(chosen.profile)}", flush=True)
    try:
        return _rehearse(chosen, conclude)
    except embedded.CoreError as error:  # nothing ran: this machine's ports, or a bad config
        message = str(error)
        if chosen.core_config is not None:  # the core names the copy it was given
            message = re.sub(r"\S*mock-core\.toml", str(chosen.core_config), message)
        print(f"surge: {message}", file=sys.stderr)
        return exits.BAD_INPUT


def _rehearse(chosen: Rehearsal, conclude: Conclude | None) -> int:
    with tempfile.TemporaryDirectory(prefix="surge-rehearse-") as work, stop_requests() as stop:
        scratch = Path(work)
        folder = runfolder.create(chosen.out, time.time(), chosen.profile.name)  # before the core
        try:
            with systems(chosen, scratch) as core:
                if stop.reason is not None:
                    print("surge rehearse: interrupted before Locust started: nothing was run")
                    folder.rmdir()
                    return exits.NOT_VALID
                ran = run(chosen, core, folder, scratch, stop)
        except embedded.CoreError:
            folder.rmdir()  # nothing ran: no empty run folder is left to mistake for one
            raise
    if ran.run is None or ran.verdict is None:
        return exits.BAD_INPUT if ran.code == exits.BAD_INPUT else exits.NOT_VALID
    print(outcome(ran.run, ran.verdict, chosen.host or "the embedded mock core"))
    if ran.code == exits.BAD_INPUT:  # Locust refused an option given after `--`
        print(f"{RUN_FOLDER}{folder}")
        return ran.code
    if conclude is None:
        print(f"{RUN_FOLDER}{folder}")
        return exits.OK if ran.verdict.valid else exits.NOT_VALID
    concluded = conclude(folder)
    for failure in concluded.failures:
        print(f"  gate      {failure}")
    print(f"{RUN_FOLDER}{folder}")
    print(f"{REPORT}{concluded.report}")
    return concluded.exit_code


@contextmanager
def systems(chosen: Rehearsal, scratch: Path) -> Iterator[embedded.Core | None]:
    """The systems the runs go to: an embedded mock core started in `scratch` (and stopped
    after), or None for `--host`."""
    core: embedded.Core | None = None
    try:
        if chosen.host is None:
            seed = chosen.profile.seed if chosen.seed is None else chosen.seed
            core = embedded.start(chosen.profile, seed, scratch, chosen.core_settings)
            print(f"surge {chosen.command}: embedded mock core at {core.url}", flush=True)
        yield core
    finally:
        if core is not None:
            embedded.stop(core)


@dataclass(frozen=True)
class Ran:
    """One Locust run, ended: its folder complete and judged, or none (Locust wrote none)."""

    folder: Path
    code: int
    """Locust's exit code."""
    run: RunFolder | None
    verdict: Verdict | None


def run(
    chosen: Rehearsal,
    core: embedded.Core | None,
    folder: Path,
    scratch: Path,
    stop: StopRequest,
    announce: bool = True,
    watch: Watch | None = None,
) -> Ran:
    """Run Locust once into `folder` (new and empty) and complete the folder: Locust's log and
    statistics, the core's settings, the incidents; judge it and write its summary. `watch`
    follows the run while it goes (by default the progress line). When Locust wrote no run
    folder, the empty one is removed and the reason printed."""
    incidents: list[str] = []
    code, seen = _run_locust(chosen, core, folder, scratch, stop, incidents, announce, watch)
    if core is not None and core.process.poll() is not None:
        incidents.append(
            f"the embedded mock core ended during the run (exit {core.process.returncode})"
        )
        print(
            f"surge {chosen.command}: {incidents[-1]}; its last words:\n{embedded.log_tail(core)}"
        )
    if not (folder / runfolder.RUN).exists():  # the log would go with the scratch folder
        if stop.reason is None:  # else Locust only says where the interrupt caught it
            for line in seen.unshown_tail:
                print(line, file=sys.stderr)
        print(f"surge {chosen.command}: Locust wrote no run folder", file=sys.stderr)
        shutil.rmtree(folder, ignore_errors=True)  # only ever the empty folder named for it
        return Ran(folder, code, None, None)
    if seen.unshown:
        print(f"surge {chosen.command}: {seen.unshown} more lines of Locust's output in locust.log")
    for kept in KEPT:
        if (scratch / kept).exists():
            _keep(scratch / kept, folder / kept)
    for incident in incidents:
        runfolder.add_incident(folder, incident)
    written = runfolder.load(folder)
    judged = verdict.judge(written)
    runfolder.write_summary(folder, verdict.figures(written, judged))
    return Ran(folder, code, written, judged)


def _run_locust(
    chosen: Rehearsal,
    core: embedded.Core | None,
    folder: Path,
    scratch: Path,
    stop: StopRequest,
    incidents: list[str],
    announce: bool = True,
    watch: Watch | None = None,
) -> tuple[int, Seen]:
    """Locust's exit code and what its output said; what cut the run short, in `incidents`."""
    host = core.url if core is not None else str(chosen.host)
    token = core.admin_token if core is not None else chosen.admin_token
    command = locust_command(chosen, host, folder, scratch / "locust_stats", core is not None)
    log = scratch / "locust.log"
    if announce:
        print(f"surge {chosen.command}: {shlex.join(command)}", flush=True)
        print(
            f"surge {chosen.command}: customers are onboarded, then the day runs for "
            f"{format_duration(chosen.profile.duration_s)} (stopped if not done within "
            f"{format_duration(chosen.bound_s)})",
            flush=True,
        )
    env = locust_environment(chosen, core, os.environ)
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
    drill = CrashDrill(core, chosen.profile, folder, chosen.command) if core else None
    with log.open("wb") as kept:
        pump = threading.Thread(target=_pump, args=(process.stdout, kept, seen), daemon=True)
        pump.start()
        deadline = time.monotonic() + chosen.bound_s
        shown = watch or ProgressLine(chosen.profile, folder)
        try:
            while (code := process.poll()) is None:
                shown.update()
                if drill is not None:
                    drill.poll(incidents)
                if stop.reason is not None:
                    print(
                        f"surge {chosen.command}: interrupted: stopping Locust (not valid evidence)"
                    )
                    incidents.append(f"the rehearsal was interrupted ({stop.reason})")
                    break
                if time.monotonic() > deadline:
                    print(
                        f"surge {chosen.command}: still running after {chosen.bound_s:.0f} s: "
                        "stopping"
                    )
                    incidents.append(
                        f"the rehearsal ran past its bound of {format_duration(chosen.bound_s)}"
                    )
                    break
                time.sleep(POLL_S)
        finally:
            # SIGINT, not SIGTERM: a headless shape run installs its SIGTERM handler only after
            # the shape ends, so SIGTERM would kill it with no run folder, while SIGINT stops
            # the users and writes it. A forked worker left behind goes with the group.
            shown.close()
            if drill is not None:
                drill.close()
            children.stop(process, LOCUST_GRACE_S, first=signal.SIGINT)
            pump.join(timeout=5)
    code = process.returncode if code is None else code
    if code not in LOCUST_CODES:
        incidents.append(f"Locust ended with exit code {code}")
        print(f"surge {chosen.command}: {incidents[-1]}")
    return code, seen


def _keep(source: Path, target: Path) -> None:
    """Copy a file of the scratch folder into the run folder; the core's settings without the
    values of their secrets: a run folder gets copied around, its tokens would go with it."""
    if source.name != CORE_SETTINGS:
        shutil.copy2(source, target)
        return
    settings = tomllib.loads(source.read_text(encoding="utf-8"))
    header = "# The embedded mock core's settings; secrets blanked (***)\n"
    target.write_text(
        header + tomli_w.dumps(runfolder.without_secret_values(settings)), encoding="utf-8"
    )


def locust_environment(
    chosen: Rehearsal, core: embedded.Core | None, given: Mapping[str, str]
) -> dict[str, str]:
    """Locust's environment: this one's, except that against an embedded core the channel
    tokens are the core's (its config's, else the harness's defaults for the core's own), never
    tokens this shell exported for other systems: those the embedded core would refuse (401)."""
    env = {**given, "PYTHONUNBUFFERED": "1"}
    if core is not None:
        for name in embedded.CHANNEL_TOKENS.values():
            env.pop(name, None)
        env.update(embedded.tokens(chosen.core_settings))
    return env


def _pump(stream: IO[bytes], kept: IO[bytes], seen: Seen) -> None:
    """Keep all of Locust's output in the log; show the lines meant for people as they come;
    note the run folder announced, which the rehearsal prints last."""
    for line in iter(stream.readline, b""):
        kept.write(line)
        text = line.decode(errors="replace").rstrip()
        if text.startswith((RUN_FOLDER, VERDICT)):
            continue  # the rehearsal names the folder and judges it itself, last
        if SHOWN.match(text):
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
        elif text:
            seen.unshown += 1
            seen.unshown_tail.append(text)


@contextmanager
def stop_requests() -> Iterator[StopRequest]:
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


def outcome(run: RunFolder, judged: Verdict, target: str) -> str:
    """A few lines for people: the verdict and its reasons, the visits, the requests, the
    ledger."""
    lines = [f"Rehearsal against {target}: {'valid' if judged.valid else 'NOT valid'} evidence"]
    lines += [f"  why       {reason}" for reason in judged.reasons]
    if run.visits is not None:
        total = run.visits.total
        lag = run.lateness.lag_percentile(99) if run.lateness is not None else None
        lines.append(
            f"  visits    {total.planned} planned: {total.started} started ({total.late} late), "
            f"{total.dropped} dropped, {total.lost} lost with workers, {total.not_reached} not "
            f"reached (p99 start lag {'-' if lag is None else f'{lag * 1000:.0f} ms'}); "
            f"{run.visits.unfinished} unfinished"
        )
    counts = verdict.figures(run, judged)["requests"]
    lines.append(
        f"  requests  {counts['total']}: {counts['errors']} errors ({counts['retried']} retried, "
        f"{counts['failed']} failed after their retries), {counts['refused']} refused by "
        "business rules"
    )
    if saturated := saturation.line(run):
        lines.append(f"  generator {saturated}")
    lines.append(f"  ledger    {_reconciled(run)}")
    lines += [f"  writes    {line}" for line in _proven(run)]
    return "\n".join(lines)


def _proven(run: RunFolder) -> list[str]:
    """A line per check of the run's writes against the ledger (`surge.judge.durability`)."""
    checks = durability.checks(run)
    if checks is None:
        return [_unchecked(run, "/admin/ledger/keys")]
    return [check.line() for check in checks]


def _reconciled(run: RunFolder) -> str:
    reconcile = run.reconcile
    if reconcile is None:
        return _unchecked(run, "/admin/reconcile")
    if reconcile.get("ok") is True:
        return "reconciled: ok"
    failed = [c.get("name", "?") for c in reconcile.get("checks", []) if not c.get("ok")]
    return f"reconcile FAILED: {', '.join(failed) or 'see reconcile.json'}"


def _unchecked(run: RunFolder, path: str) -> str:
    if run.info.mock_core is False:
        return f"could not run ({run.info.host} is not the mock core)"
    return f"not checked (no admin token for {path})"
