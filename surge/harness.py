"""Locust's side of the harness: arguments, the run's life cycle, the channel users, the shape.

`loadtests/` holds only thin classes; all logic lives here, imported once as `surge.harness`, so
its event listeners are registered once however many locustfiles import it.

- Arguments: `--profile` is Locust's own option (it already exists, and the web UI has a field
  for it; Locust keeps it in `environment.profile`); the others are added here and show in the
  web UI. Bad values end the process at `init` with one line and exit code 2.
- `test_start`: load and scale the profile, onboard customers (httpx, before any load), post the
  profile's faults, then start the `Dispatcher` (the open model) for this process.
- Users take due visits from their channel's queue and run them; their requests also go through
  Locust's `FastHttpSession`, so Locust's own statistics count every attempt. Locust counts every
  4xx as a failure, business refusals included: the harness's verdict comes from its own records
  (`outcome` per request) and the exit code is set here, never Locust's "any failure is 1".
- `test_stop`: write the run folder; `quitting`: exit code 3 when the run is not valid evidence.

Per process: a later distributed run gives each worker its own `Run` with its share of the
schedule; the counts kept here (records, `Lateness`, scheduled visits) merge by adding.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import sys
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import gevent
import httpx
from locust import FastHttpUser, LoadTestShape, constant, events, task
from locust.env import Environment

from surge import journeys, runfolder
from surge.arrivals import Lateness, Outcome
from surge.customers import Pool, PoolError, generate, load_pool, onboard
from surge.dispatch import Dispatcher
from surge.profile import CHANNELS, Profile, ProfileError, load_profile
from surge.retry import RequestRecord

DEFAULT_PROFILE = "weekday"
SPAWN_RATE = 100.0
"""Users started per second: Locust warns above 100; a surge needs users within a second."""
HEADROOM = 1.5
"""Users kept beyond Little's law, for Poisson bursts and visits slower than their mean."""
SHRINK_TICKS = 5
"""The pool shrinks only to the largest need of the last this-many ticks (about seconds)."""
DRAIN_S = 30.0
"""After the day's end, how long queued and running visits may take before the run stops."""
STOP_TIMEOUT_S = 30.0
"""Locust's --stop-timeout when none is given: users stop after their visit, never inside it."""
_SECRET = re.compile(r"token|secret|password|login|auth|key")
"""Options whose values never go into run.json."""
logging.getLogger("httpx").setLevel(logging.WARNING)  # onboarding would log every customer

_LOCAL_TOKENS = {
    "teller": "teller-local-token",
    "kiosk": "kiosk-local-token",
    "online": "online-local-token",
}


class BadInput(Exception):
    """A bad argument, worded as one line."""


@events.init_command_line_parser.add_listener
def add_arguments(parser: Any) -> None:
    """The harness's options, on Locust's own parser (argument groups do not reach the web UI)."""

    def add(name: str, **kwargs: Any) -> None:
        parser.add_argument(name, include_in_web_ui=True, **kwargs)

    add("--time-scale", type=float, default=1.0, help="Branch surge: shorten the day X times")
    add("--max-users", type=int, default=500, help="Branch surge: most users the shape starts")
    add("--results", default="results", help="Branch surge: where run folders are written")
    add("--seed", type=int, default=None, help="Branch surge: arrival seed (the profile's)")
    add("--customers", type=int, default=200, help="Branch surge: customers to onboard")
    add("--locale", default=None, help="Branch surge: Faker locale (the profile's)")
    add("--data-pool", default=None, help="Branch surge: CSV of existing customers")
    add("--late-after", type=float, default=0.5, help="Branch surge: seconds, a visit is late")
    add("--drop-after", type=float, default=10.0, help="Branch surge: seconds, it is dropped")
    add("--max-dropped-share", type=float, default=0.05, help="Branch surge: else not valid")
    add("--max-late-share", type=float, default=0.10, help="Branch surge: else not valid")
    for who, token in _LOCAL_TOKENS.items():
        add(f"--{who}-token", default=token, is_secret=True, help=f"Branch surge: {who} token")
    add("--admin-token", default=None, is_secret=True, help="Branch surge: for /admin/*")


@dataclass(frozen=True, slots=True)
class Settings:
    """The harness's arguments, checked."""

    profile: Profile
    """Scaled."""
    seed: int
    time_scale: float
    max_users: int
    results: Path
    customers: int
    locale: str
    data_pool: Path | None
    late_after: float
    drop_after: float
    limits: runfolder.Limits
    tokens: journeys.Tokens
    admin_token: str | None


def settings(options: argparse.Namespace, profile_name: str | None) -> Settings:
    """Check the arguments; raises `BadInput` (one line) or `ProfileError`."""
    scale = options.time_scale
    if not (math.isfinite(scale) and scale > 0):
        raise BadInput(f"--time-scale: must be a number above 0, not {scale:g}")
    if options.max_users < len(CHANNELS):
        raise BadInput(f"--max-users: at least {len(CHANNELS)} (one user per channel)")
    if options.customers < 2 and not options.data_pool:
        raise BadInput("--customers: at least 2 (a transfer needs a payer and a payee)")
    if not 0 <= options.late_after <= options.drop_after:
        raise BadInput("--late-after, --drop-after: need 0 <= late-after <= drop-after")
    for name in ("max_dropped_share", "max_late_share"):
        if not 0 <= getattr(options, name) <= 1:
            raise BadInput(f"--{name.replace('_', '-')}: a share from 0 to 1")
    profile = load_profile(profile_name or DEFAULT_PROFILE).scaled(scale)
    return Settings(
        profile=profile,
        seed=profile.seed if options.seed is None else options.seed,
        time_scale=scale,
        max_users=options.max_users,
        results=Path(options.results),
        customers=options.customers,
        locale=options.locale or profile.customers.locale,
        data_pool=Path(options.data_pool) if options.data_pool else None,
        late_after=options.late_after,
        drop_after=options.drop_after,
        limits=runfolder.Limits(options.max_dropped_share, options.max_late_share),
        tokens=journeys.Tokens(options.teller_token, options.kiosk_token, options.online_token),
        admin_token=options.admin_token or None,
    )


@events.init.add_listener
def check_arguments(environment: Environment, **_: Any) -> None:
    """Refuse bad input before any load: one line, exit code 2."""
    options = environment.parsed_options
    if options is None or options.worker:
        return  # a worker gets its arguments from the master when the test starts
    try:
        settings(options, environment.profile)
    except (BadInput, ProfileError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    if not environment.stop_timeout:
        environment.stop_timeout = STOP_TIMEOUT_S


@dataclass(slots=True)
class Run:
    """One test run in this process, from test_start to the run folder."""

    settings: Settings
    host: str
    started: float = field(default_factory=time.time)
    ended: float | None = None
    dispatcher: Dispatcher | None = None
    branches: dict[str, int] = field(default_factory=dict)
    records: list[RequestRecord] = field(default_factory=list)
    visits: dict[str, int] = field(default_factory=lambda: {"ok": 0, "abandoned": 0, "error": 0})
    expected_alerts: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    """Why the run could not start (the target unreachable, onboarding refused)."""
    admin: bool = False
    folder: Path | None = None
    summary: dict[str, Any] | None = None
    needs: deque[int] = field(default_factory=lambda: deque(maxlen=SHRINK_TICKS))


_runs: weakref.WeakKeyDictionary[Environment, Run] = weakref.WeakKeyDictionary()


def current(environment: Environment) -> Run | None:
    return _runs.get(environment)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


@events.test_start.add_listener
def start_run(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None or options.worker:
        return
    try:
        chosen = settings(options, environment.profile)
    except (BadInput, ProfileError) as error:  # changed in the web UI since init
        _warn(str(error))
        return
    run = Run(chosen, environment.host or "")
    _runs[environment] = run
    try:
        pool = _prepare(run)
    except (httpx.HTTPError, PoolError, RuntimeError, ValueError) as error:
        run.error = f"could not prepare the run against {run.host}: {error}"
        print(f"error: {run.error}", file=sys.stderr)
        return
    run.dispatcher = Dispatcher(
        chosen.profile,
        chosen.seed,
        pool,
        Lateness(late_after_s=chosen.late_after, drop_after_s=chosen.drop_after),
    )
    run.dispatcher.start()


def _prepare(run: Run) -> Pool:
    """Branches, customers and faults, over plain HTTP before the load starts."""
    chosen = run.settings
    with httpx.Client(base_url=run.host, timeout=10) as client:
        run.branches = journeys.fetch_branches(client, chosen.tokens)
        if chosen.data_pool is not None:
            customers = load_pool(chosen.data_pool)
        else:
            people = generate(
                chosen.customers,
                seed=chosen.seed,
                locale=chosen.locale,
                branches=sorted(run.branches),
                high_value_share=chosen.profile.customers.high_value_share,
            )
            customers = onboard(
                client, people, token=chosen.tokens.teller, key_prefix=f"surge-{chosen.seed}"
            )
        if chosen.admin_token:
            _post_faults(run, client)
    return Pool(customers)


def _admin(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _post_faults(run: Run, client: httpx.Client) -> None:
    token = str(run.settings.admin_token)
    if client.get("/admin/faults", headers=_admin(token)).status_code != 200:
        _warn(f"{run.host} has no /admin/faults for this token: no faults, reconcile or alerts")
        return
    run.admin = True
    for n, fault in enumerate(run.settings.profile.faults):
        headers = {**_admin(token), "Idempotency-Key": f"surge-fault-{run.started}-{n}"}
        answer = client.post("/admin/faults", json=fault.admin_body(), headers=headers)
        if answer.status_code != 201:
            _warn(f"fault {n} ({fault.kind}) refused: {answer.status_code} {answer.text[:80]}")


class SurgeUser(FastHttpUser):
    """A channel's customers, one visit at a time: take the next due visit and run it."""

    abstract = True
    channel: str = ""
    wait_time = constant(0)

    @task
    def next_visit(self) -> None:
        run = current(self.environment)
        dispatcher = None if run is None else run.dispatcher
        if run is None or dispatcher is None:
            gevent.sleep(0.2)  # preparing, or the run could not start
            return
        due = dispatcher.take(self.channel, timeout=0.2)
        if due is None:
            return
        verdict = dispatcher.lateness.record(
            due.arrival.channel, due.arrival.t, dispatcher.elapsed()
        )
        if verdict is Outcome.DROPPED:
            return
        context = journeys.Context(
            self.client, run.settings.tokens, run.records.append, run.branches, gevent.sleep
        )
        dispatcher.in_flight[self.channel] += 1
        began = time.monotonic()
        try:
            result = journeys.run_visit(due.visit, context)
        except Exception as error:  # a journey bug must not end the user: count it, go on
            run.visits["error"] += 1
            _warn(f"{self.channel} {due.visit.operation} visit raised {error!r}")
            return
        finally:
            dispatcher.in_flight[self.channel] -= 1
            dispatcher.finished(self.channel, time.monotonic() - began)
        run.visits["ok" if result.ok else "abandoned"] += 1
        if result.expected_alert is not None:
            alert = result.expected_alert
            run.expected_alerts.append(
                {"rule": alert.rule, "customer_id": alert.customer_id, "account": alert.account_id}
            )


def shape_tick(shape: LoadTestShape) -> tuple[int, float] | None:
    """Users needed now (see `Dispatcher.users_needed`), or None when the day is done.

    Locust splits a user count evenly across the three classes (equal weights), so the count is
    three times the neediest channel's: the other channels' extra users block on their empty
    queues, which costs a greenlet each and no requests.
    """
    environment = shape.runner.environment if shape.runner else None
    run = None if environment is None else current(environment)
    if run is None or (run.dispatcher is None and run.error is None):
        return len(CHANNELS), SPAWN_RATE  # the same answer until ready: Locust restarts on change
    dispatcher = run.dispatcher
    if dispatcher is None:
        return None
    if dispatcher.finished_day() or dispatcher.elapsed() > dispatcher.profile.duration_s + DRAIN_S:
        return None
    need = len(CHANNELS) * max(dispatcher.users_needed(HEADROOM).values())
    run.needs.append(min(run.settings.max_users, need))
    return max(run.needs), SPAWN_RATE


@events.test_stop.add_listener
def finish_run(environment: Environment, **_: Any) -> None:
    run = current(environment)
    if run is None or run.dispatcher is None or run.folder is not None:
        return
    run.dispatcher.stop()
    run.ended = time.time()
    run.folder = write_folder(run, environment)


def write_folder(run: Run, environment: Environment) -> Path:
    chosen, dispatcher = run.settings, run.dispatcher
    assert dispatcher is not None
    folder = runfolder.create(chosen.results, run.started, chosen.profile.name)
    options = environment.parsed_options
    runfolder.write_json(
        folder / "run.json",
        {
            "profile": chosen.profile.name,
            "resolved_profile": chosen.profile.to_dict(),
            "seed": chosen.seed,
            "host": run.host,
            "time_scale": chosen.time_scale,
            "versions": {"locust": version("locust"), "branch-surge": version("branch-surge")},
            "start": run.started,
            "day_start": dispatcher.t0,
            "end": run.ended,
            "command_line": sys.argv,
            "workers": 1,
            "max_users": chosen.max_users,
            "customers": chosen.customers if chosen.data_pool is None else str(chosen.data_pool),
            "options": {k: v for k, v in vars(options).items() if not _SECRET.search(k)},
        },
    )
    runfolder.write_requests(folder / "requests.csv", run.records)
    runfolder.write_json(folder / "lateness.json", dispatcher.lateness.to_dict())
    runfolder.write_json(folder / "expected_alerts.json", run.expected_alerts)
    figures = runfolder.summary(
        run.records,
        dispatcher.lateness,
        dispatcher.scheduled,
        chosen.profile.duration_s,
        chosen.limits,
    )
    figures["visits"].update(run.visits)
    run.summary = figures
    runfolder.write_json(folder / "summary.json", figures)
    if run.admin:
        _fetch_admin(run, folder)
    return folder


def _fetch_admin(run: Run, folder: Path) -> None:
    headers = _admin(str(run.settings.admin_token))
    try:
        with httpx.Client(base_url=run.host, timeout=30) as client:
            reconcile = client.get("/admin/reconcile", headers=headers)
            runfolder.write_json(folder / "reconcile.json", reconcile.json())
            alerts: list[Any] = []
            cursor: str | None = None
            while True:
                params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
                page = client.get("/admin/alerts", headers=headers, params=params).json()
                alerts.extend(page["items"])
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            runfolder.write_json(folder / "alerts.json", alerts)
    except (httpx.HTTPError, ValueError, KeyError) as error:
        _warn(f"could not fetch /admin/reconcile and /admin/alerts: {error}")


@events.quitting.add_listener
def verdict(environment: Environment, **_: Any) -> None:
    """Exit code 3 and one line when the run is not valid evidence; the folder's path."""
    run = current(environment)
    if run is None:
        return
    if run.error is not None:
        print(f"The run is not valid evidence: {run.error}")
        environment.process_exit_code = 3
        return
    figures = run.summary or {}
    if run.folder is not None:
        print(f"Run folder: {run.folder}")
    if figures.get("valid", False):
        environment.process_exit_code = 0
        return
    visits, limits = figures.get("visits", {}), figures.get("limits", {})
    print(
        "The run is not valid evidence: the generator fell behind its schedule "
        f"({visits.get('dropped_share', 0):.1%} of visits dropped, limit "
        f"{limits.get('max_dropped_share', 0):.0%}; {visits.get('late_share', 0):.1%} late, "
        f"limit {limits.get('max_late_share', 0):.0%})"
    )
    environment.process_exit_code = 3
