"""Locust's side of the harness: arguments, the run's life cycle, the channel users, the shape.

`loadtests/` holds only thin classes; all logic lives here, imported once as `surge.harness`, so
its event listeners are registered once however many locustfiles import it.

- Arguments: `--profile` is Locust's own option (it already exists, and the web UI has a field
  for it; Locust keeps it in `environment.profile`); the others are added here and show in the
  web UI. Bad values end the process at `init` with one line and exit code 2.
- `test_start`: load and scale the profile, onboard customers (httpx, before any load), post the
  profile's faults, then start the `Dispatcher` (the open model) for this process.
- Users take due visits from their channel's queue (or another's, rather than idle) and run them;
  their requests go through Locust's `FastHttpSession` (`surge.session`), so Locust's own
  statistics count every attempt, and a business refusal is not a failure there either. The
  verdict comes from the harness's own records (`outcome` per request) and the exit code is set
  here, never Locust's "any failure is 1".
- `test_stop`: write the run folder; `quitting`: exit code 3 when the run is not valid evidence.

Distributed (`--master`/`--worker`, or `--processes`): the master prepares the run and plans
each worker's share (`surge.distributed`); each worker keeps its own `Run` and ships its records
and counts to the master, whose `Fleet` merges them for the shape and the one run folder. With
`--admin-token`, the master (or the local runner) also scrapes the target's `/metrics`.
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import re
import sys
import time
import weakref
from collections import deque
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import gevent
import httpx
from locust import FastHttpUser, LoadTestShape, constant, events, task
from locust.env import Environment
from locust.rpc import Message
from locust.runners import STATE_MISSING, MasterRunner, Runner, WorkerRunner

from surge import arrivals, distributed, journeys, runfolder
from surge.arrivals import Lateness, Outcome
from surge.customers import Pool, PoolError, generate, load_pool, onboard
from surge.dispatch import Dispatcher
from surge.distributed import Fleet, Outbox, Plan
from surge.profile import CHANNELS, Profile, ProfileError, load_profile
from surge.retry import RequestRecord
from surge.scrape import Scraper
from surge.session import Session

DEFAULT_PROFILE = "weekday"
YOUNG_COLLECTION_EVERY = 10_000
"""Allocations between the collector's youngest-generation runs once the load starts."""
START_LEAD_S = 1.0
"""The day starts this long after the run is ready: the shape's next tick (Locust ticks every
second) sizes the pool for it, rather than the few users that ran the preparation."""
SPAWN_RATE = 100.0
"""Users started per second: Locust warns above 100; a surge needs users within a second."""
HEADROOM = 1.5
"""Users kept beyond Little's law, for visits slower than their mean."""
BURSTS = 3.0
"""And this many times the square root of it, for Poisson bursts: with `a` visits in flight on
average, the number in flight varies by about sqrt(a) (square-root staffing)."""
SATURATED = 0.9
"""Share of a core above which the generator itself is the bottleneck (Locust warns there too):
the pool stops growing, as more users would only slow every visit and ask for more users."""
SHRINK_TICKS = 5
"""The pool shrinks only to the largest need of the last this-many ticks (about seconds)."""
DRAIN_S = 30.0
"""After the day's end, how long queued and running visits may take before the run stops."""
STOP_TIMEOUT_S = 30.0
"""Locust's --stop-timeout when none is given: users stop after their visit, never inside it."""
IDLE_WAIT_S = 1.0
"""How long an idle user waits for a visit before its task returns, so that Locust can retire it
when the shape shrinks the pool (a task is never interrupted)."""
FINAL_WAIT_S = 15.0
"""How long the master waits at the end for the workers' last batches and Locust stats reports."""
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
    add("--rate-scale", type=float, default=1.0, help="Branch surge: K times the arrivals")
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
    # Tokens may come from the environment, so a secret need not sit in the command line that
    # run.json records (`surge rehearse` passes its embedded core's admin token that way).
    for who, token in {**_LOCAL_TOKENS, "admin": None}.items():
        env = f"LOCUST_{who.upper()}_TOKEN"
        add(
            f"--{who}-token",
            default=token,
            is_secret=True,
            env_var=env,
            help=f"Branch surge: {env}",
        )


@dataclass(frozen=True, slots=True)
class Settings:
    """The harness's arguments, checked."""

    profile: Profile
    """Scaled."""
    seed: int
    time_scale: float
    rate_scale: float
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


def settings(
    options: argparse.Namespace, profile_name: str | None, scaled: Profile | None = None
) -> Settings:
    """Check the arguments; raises `BadInput` (one line) or `ProfileError`.

    A worker passes the master's resolved profile as `scaled`: it has no profile file of its own.
    """
    scale, rates = options.time_scale, options.rate_scale
    if not (math.isfinite(scale) and scale > 0):
        raise BadInput(f"--time-scale: must be a number above 0, not {scale:g}")
    if not (math.isfinite(rates) and rates > 0):
        raise BadInput(f"--rate-scale: must be a number above 0, not {rates:g}")
    if options.max_users < len(CHANNELS):
        raise BadInput(f"--max-users: at least {len(CHANNELS)} (one user per channel)")
    if options.customers < 2 and not options.data_pool:
        raise BadInput("--customers: at least 2 (a transfer needs a payer and a payee)")
    if not 0 <= options.late_after <= options.drop_after:
        raise BadInput("--late-after, --drop-after: need 0 <= late-after <= drop-after")
    for name in ("max_dropped_share", "max_late_share"):
        if not 0 <= getattr(options, name) <= 1:
            raise BadInput(f"--{name.replace('_', '-')}: a share from 0 to 1")
    try:
        profile = scaled or load_profile(profile_name or DEFAULT_PROFILE).scaled(scale, rates)
    except ValueError as error:  # the factors are checked above: rates raised past the limit
        raise BadInput(f"--rate-scale: {error}") from None
    return Settings(
        profile=profile,
        seed=_seed(options.seed, profile.seed),
        time_scale=scale,
        rate_scale=rates,
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


def _seed(given: int | str | None, default: int) -> int:
    """`--seed`, or the profile's when none is given. Locust's web UI passes an option whose
    default is None as the text of its field: "" when left blank."""
    if given is None or given == "":
        return default
    try:
        return int(given)
    except ValueError:
        raise BadInput(f"--seed: a whole number, not {given!r}") from None


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
    records: list[tuple[Any, ...]] = field(default_factory=list)
    """`RequestRecord` fields as plain tuples (`keep`)."""
    visits: dict[str, int] = field(default_factory=lambda: {"ok": 0, "abandoned": 0, "error": 0})
    expected_alerts: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    """Why the run could not start (the target unreachable, onboarding refused)."""

    def keep(self, record: RequestRecord) -> None:
        """Hold a request as an exact tuple of strings and numbers, which Python's collector stops
        tracking: full collections that scanned a run's growing records paused the load for up
        to 175 ms, the whole p99 of start lag."""
        self.records.append(tuple(record))

    admin: bool = False
    folder: Path | None = None
    summary: dict[str, Any] | None = None
    needs: deque[int] = field(default_factory=lambda: deque(maxlen=SHRINK_TICKS))
    fleet: Fleet | None = None
    """The master's merge of its workers' shares (a distributed run's master only)."""
    outbox: Outbox | None = None
    """What a worker has shipped to the master (a worker only)."""
    scraper: Scraper | None = None
    reports: dict[str, float] = field(default_factory=dict)
    """The master: when each worker last sent Locust's own stats."""
    cpu_mark: tuple[float, float] | None = None
    """(monotonic, process CPU) seconds at the shape's last tick."""
    closing: gevent.Greenlet | None = None
    """Ends the run and writes the folder (`finish_run`)."""


_runs: weakref.WeakKeyDictionary[Environment, Run] = weakref.WeakKeyDictionary()
_plans: weakref.WeakKeyDictionary[Environment, Plan] = weakref.WeakKeyDictionary()


def current(environment: Environment) -> Run | None:
    return _runs.get(environment)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


@events.init.add_listener
def register_messages(environment: Environment, runner: Runner | None = None, **_: Any) -> None:
    """The distributed run's own messages (see `surge.distributed`)."""
    if isinstance(runner, MasterRunner):
        runner.register_message(distributed.BATCH, _receive_batch, concurrent=True)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(distributed.PLAN, _receive_plan)
        runner.register_message(distributed.FINISH, _receive_finish, concurrent=True)


@events.test_start.add_listener
def start_run(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    if options.worker:
        _start_share(environment)
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
        if isinstance(environment.runner, MasterRunner):
            _send_plans(run, environment.runner, pool)
    except (httpx.HTTPError, PoolError, RuntimeError, ValueError) as error:
        run.error = f"could not prepare the run against {run.host}: {error}"
        print(f"error: {run.error}", file=sys.stderr)
        return
    if chosen.admin_token:
        scraper = Scraper(run.host, _admin(chosen.admin_token))
        run.scraper = scraper if scraper.start() else None
    if run.fleet is not None:
        return
    run.dispatcher = Dispatcher(chosen.profile, chosen.seed, pool, _lateness(chosen))
    _settle_memory()
    run.dispatcher.start(time.time() + START_LEAD_S)


def _settle_memory() -> None:
    """Freeze what preparing the run built (Locust, the profile, the customers) out of the
    collector's sight before the load starts: full collections that scanned it mid-run paused
    every greenlet for 60-175 ms, the whole p99 of start lag. Young collections then run every
    `YOUNG_COLLECTION_EVERY` allocations rather than 700: a request allocates dozens of objects
    that reference counting frees, so most collections found nothing to do."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


def _lateness(chosen: Settings) -> Lateness:
    return Lateness(late_after_s=chosen.late_after, drop_after_s=chosen.drop_after)


def _send_plans(run: Run, runner: MasterRunner, pool: Pool) -> None:
    """Number the connected workers and send each its share; the day starts `LEAD_S` later."""
    clients = {client.id: runner.get_worker_index(client.id) for client in runner.clients.all}
    numbered = distributed.shares(clients)
    if not numbered:
        raise RuntimeError("no workers are connected")
    chosen, workers = run.settings, len(numbered)
    day_start = time.time() + distributed.LEAD_S
    run.fleet = Fleet(chosen.profile, day_start, workers, clients=numbered)
    for client_id, share in numbered.items():
        plan = Plan(
            share=share,
            workers=workers,
            day_start=day_start,
            profile=chosen.profile.to_dict(),
            seed=chosen.seed,
            branches=run.branches,
            customers=distributed.customers_to_data(pool.for_worker(share, workers).customers),
        )
        runner.send_message(distributed.PLAN, plan.to_data(), client_id=client_id)


def _receive_plan(environment: Environment, msg: Message, **_: Any) -> None:
    _plans[environment] = Plan.from_data(msg.data)


def _start_share(environment: Environment) -> None:
    """A worker's test start: run the share the master's plan gave it, on the master's clock."""
    plan = _plans.pop(environment, None)
    options = environment.parsed_options
    if plan is None or options is None:
        _warn("this worker has no plan from the master (it joined after the start): it stays idle")
        return
    try:
        profile = Profile.from_dict(plan.profile, source="the master's profile")
        chosen = replace(settings(options, None, scaled=profile), seed=plan.seed)
        pool = Pool(distributed.customers_from_data(plan.customers))
    except (BadInput, ProfileError, PoolError) as error:
        _warn(f"worker share {plan.share}: {error}")
        return
    run = Run(chosen, environment.host or "", branches=dict(plan.branches))
    run.outbox = Outbox(plan.share)
    run.dispatcher = Dispatcher(
        profile, plan.seed, pool, _lateness(chosen), worker=plan.share, workers=plan.workers
    )
    _runs[environment] = run
    _settle_memory()
    run.dispatcher.start(plan.day_start)
    gevent.spawn(_ship, environment, run)


def _batch(run: Run, final: bool = False) -> dict[str, Any]:
    assert run.outbox is not None
    assert run.dispatcher is not None
    return run.outbox.batch(
        run.dispatcher, run.records, run.visits, run.expected_alerts, final=final
    )


def _ship(environment: Environment, run: Run) -> None:
    runner = environment.runner
    assert runner is not None
    outbox = run.outbox
    assert outbox is not None
    while True:
        gevent.sleep(distributed.BATCH_S)
        if outbox.final_sent:
            return
        runner.send_message(distributed.BATCH, _batch(run))


def _finish_share(environment: Environment) -> None:
    """Stop scheduling, let the running visits end (bounded) and send the last batch; asked
    twice, another last batch with only what was recorded since."""
    run = current(environment)
    runner = environment.runner
    if run is None or run.dispatcher is None or run.outbox is None or runner is None:
        return
    # The shipper is left to see `final_sent` and end: killed inside a send, a batch it had
    # taken from the outbox would be lost.
    dispatcher = run.dispatcher
    dispatcher.stop()
    deadline = time.monotonic() + distributed.FINISH_WAIT_S
    while dispatcher.busy() and time.monotonic() < deadline:
        gevent.sleep(0.05)
    if dispatcher.busy():
        _warn(
            f"share {run.outbox.share}: {dispatcher.busy()} visits still running at the last "
            "batch; their later requests are not in the run folder"
        )
    runner.send_message(distributed.BATCH, _batch(run, final=True))


def _receive_finish(environment: Environment, **_: Any) -> None:
    _finish_share(environment)


def _receive_batch(environment: Environment, msg: Message, **_: Any) -> None:
    run = current(environment)
    if run is not None and run.fleet is not None and isinstance(environment.runner, MasterRunner):
        run.fleet.receive(msg.data)
        run.fleet.note_present(_present(environment.runner))  # the shape stops awaiting the lost


def _present(runner: MasterRunner) -> list[str]:
    """The workers Locust still has: one without heartbeats for a few seconds is missing."""
    return [client.id for client in runner.clients.all if client.state != STATE_MISSING]


@events.worker_report.add_listener
def note_report(client_id: str, data: Any, **_: Any) -> None:
    for run in list(_runs.values()):
        if run.fleet is not None:
            run.reports[client_id] = time.time()


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
    _context: tuple[Run, journeys.Context] | None = None
    """The run this user's context was built for, and the context (built once, not per visit)."""

    @task
    def next_visit(self) -> None:
        run = current(self.environment)
        dispatcher = None if run is None else run.dispatcher
        if run is None or dispatcher is None:
            gevent.sleep(0.2)  # preparing, or the run could not start
            return
        arrival = dispatcher.take(self.channel, timeout=IDLE_WAIT_S)
        # A generator behind its schedule skips the dropped visits here, not one task each.
        while arrival is not None and _dropped(dispatcher, arrival):
            arrival = dispatcher.take(self.channel, timeout=0)
        if arrival is None:
            return
        channel = arrival.channel
        dispatcher.in_flight[channel] += 1
        began = time.monotonic()
        try:
            visit = dispatcher.journey(arrival)
            result = journeys.run_visit(visit, self._context_for(run))
        except Exception as error:  # a journey bug must not end the user: count it, go on
            run.visits["error"] += 1
            _warn(f"{channel} visit {arrival.number} raised {error!r}")
            return
        finally:
            dispatcher.in_flight[channel] -= 1
            dispatcher.finished(channel, time.monotonic() - began)
        run.visits["ok" if result.ok else "abandoned"] += 1
        if result.expected_alert is not None:
            alert = result.expected_alert
            run.expected_alerts.append(
                {"rule": alert.rule, "customer_id": alert.customer_id, "account": alert.account_id}
            )

    def _context_for(self, run: Run) -> journeys.Context:
        if self._context is None or self._context[0] is not run:
            context = journeys.Context(
                Session(self.client), run.settings.tokens, run.keep, run.branches, gevent.sleep
            )
            self._context = (run, context)
        return self._context[1]


def _dropped(dispatcher: Dispatcher, arrival: arrivals.Visit) -> bool:
    """Count the visit's lateness as it starts now; True when it is too late to start."""
    lag = dispatcher.lateness.record(arrival.channel, arrival.t, dispatcher.elapsed())
    return lag is Outcome.DROPPED


def shape_tick(shape: LoadTestShape) -> tuple[int, float] | None:
    """Users needed now (see `Dispatcher.users_needed`), or None when the day is done.

    Locust splits a user count evenly across the three classes (equal weights), and users help
    the other channels when their own has nothing waiting (`Dispatcher.take`), so the count is
    what the channels need together.
    """
    runner = shape.runner
    environment = runner.environment if runner else None
    run = None if environment is None else current(environment)
    # Locust deals users to workers class by class in turn: with at least channels × workers
    # users, every worker has users (who serve every channel's visits, `Dispatcher.take`).
    least = len(CHANNELS) * (runner.worker_count if isinstance(runner, MasterRunner) else 1)
    if run is None or (run.dispatcher is None and run.fleet is None and run.error is None):
        return least, SPAWN_RATE  # the same answer until ready: Locust restarts on change
    view: Dispatcher | Fleet | None = run.fleet or run.dispatcher
    if view is None:
        return None
    if view.finished_day() or view.elapsed() > view.profile.duration_s + DRAIN_S:
        return None
    total = sum(view.users_needed(HEADROOM).values())
    need = total + math.ceil(BURSTS * math.sqrt(total))
    if runner is not None and _generator_busy(run, runner) >= SATURATED:
        run.needs.clear()  # hold the pool: neither grow it nor go back to an earlier larger need
        need = min(need, runner.user_count)
    run.needs.append(max(least, min(run.settings.max_users, need)))
    return max(run.needs), SPAWN_RATE


def _generator_busy(run: Run, runner: Runner) -> float:
    """The share of a core the generator used lately: this process's since the last tick, or
    the busiest worker's as Locust last heard it."""
    if isinstance(runner, MasterRunner):
        return max((c.cpu_usage for c in runner.clients.values()), default=0) / 100
    now = (time.monotonic(), time.process_time())
    last, run.cpu_mark = run.cpu_mark, now
    if last is None or now[0] <= last[0]:
        return 0.0
    return (now[1] - last[1]) / (now[0] - last[0])


@events.test_stop.add_listener
def finish_run(environment: Environment, **_: Any) -> None:
    run = current(environment)
    if run is None or run.closing is not None:
        return
    if run.outbox is not None:
        _finish_share(environment)
        return
    if run.fleet is None and run.dispatcher is None:
        return  # the run could not start
    # A master whose last worker goes missing stops from its heartbeat greenlet while its main
    # greenlet quits and kills the runner's greenlets half a second later: the run ends in a
    # greenlet of its own, which `verdict` waits for.
    run.closing = gevent.spawn(_close, run, environment)
    run.closing.join()


def _close(run: Run, environment: Environment) -> None:
    """Stop the run's parts, gather the workers' last batches (a master) and write the folder."""
    if run.scraper is not None:
        run.scraper.stop()
    if run.fleet is not None and isinstance(environment.runner, MasterRunner):
        _collect(run, run.fleet, environment.runner)
    elif run.dispatcher is not None:
        run.dispatcher.stop()
    run.ended = time.time()
    run.folder = write_folder(run, environment)


def _collect(run: Run, fleet: Fleet, runner: MasterRunner) -> None:
    """Ask every worker for its last batch; wait (bounded) for each share's batches and for one
    more stats report from its worker. Workers Locust lost are not waited for.

    A headless run ends with Locust's `quit`, which fires this before telling workers anything;
    a stats report after a worker's last batch makes Locust's counts include its last requests.
    """
    runner.send_message(distributed.FINISH)
    deadline = time.monotonic() + FINAL_WAIT_S
    while time.monotonic() < deadline:
        fleet.note_present(_present(runner))
        waiting = [  # for a whole share, then a stats report sent after it
            client
            for client, share in fleet.clients.items()
            if share not in fleet.lost
            and run.reports.get(client, 0) <= fleet.completed.get(share, math.inf)
        ]
        if not waiting:
            break
        gevent.sleep(0.1)
    if missing := fleet.missing():
        _warn(f"shares {missing} of {fleet.workers} workers did not arrive whole")
    run.records = fleet.records
    run.expected_alerts = fleet.alerts
    run.visits = {**run.visits, **fleet.total("visits")}


def write_folder(run: Run, environment: Environment) -> Path:
    chosen = run.settings
    lateness: Lateness
    if run.fleet is not None:
        lateness = run.fleet.lateness(chosen.late_after, chosen.drop_after)
        scheduled, day_start = run.fleet.total("scheduled"), run.fleet.day_start
        workers = run.fleet.workers
    else:
        assert run.dispatcher is not None
        lateness, scheduled = run.dispatcher.lateness, run.dispatcher.scheduled
        day_start, workers = run.dispatcher.t0, 1
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
            "rate_scale": chosen.rate_scale,
            "versions": {"locust": version("locust"), "branch-surge": version("branch-surge")},
            "start": run.started,
            "day_start": day_start,
            "end": run.ended,
            "command_line": _without_secrets(sys.argv),
            "workers": workers,
            "max_users": chosen.max_users,
            "customers": chosen.customers if chosen.data_pool is None else str(chosen.data_pool),
            "options": {k: v for k, v in vars(options).items() if not _SECRET.search(k)},
        },
    )
    runfolder.write_requests(folder / "requests.csv", run.records)
    runfolder.write_json(folder / "lateness.json", lateness.to_dict())
    runfolder.write_json(folder / "expected_alerts.json", run.expected_alerts)
    figures = runfolder.summary(
        run.records, lateness, scheduled, chosen.profile.duration_s, chosen.limits
    )
    figures["visits"].update(run.visits)
    if _failed_inside(figures):
        figures["valid"] = False
    if run.fleet is not None:
        missing = run.fleet.missing()
        figures["workers"] = {
            "planned": workers,
            "reported": workers - len(missing),
            "missing": missing,
            "requests": [run.fleet.requests.get(share, 0) for share in range(workers)],
        }
        # A missing share's visits are unseen: not evidence whatever the rest shows.
        figures["valid"] = figures["valid"] and not missing
    run.summary = figures
    runfolder.write_json(folder / "summary.json", figures)
    if run.scraper is not None:
        run.scraper.write(folder / "metrics.csv")
    if run.admin:
        _fetch_admin(run, folder)
    return folder


def _failed_inside(figures: dict[str, Any]) -> bool:
    """More visits failed inside the harness than the dropped limit allows. Such a visit (the
    target's answers not what the journeys read, most likely) is load the profile asked for and
    nobody sent, as a dropped one is."""
    visits, limit = figures["visits"], figures["limits"]["max_dropped_share"]
    return bool(visits["error"] > limit * max(visits["started"], 1))


def _without_secrets(argv: list[str]) -> list[str]:
    """The command line with the values of secret options (`--admin-token T`, `--x-token=T`)
    blanked: run folders get copied around."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        name, equals, _ = arg.partition("=")
        secret = name.startswith("--") and bool(_SECRET.search(name))
        if hide_next:
            shown.append("***")
        elif secret and equals:
            shown.append(f"{name}=***")
        else:
            shown.append(arg)
        hide_next = secret and not equals
    return shown


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
    if run is None or run.outbox is not None:
        return  # no run, or a worker's share: the master judges the whole run
    if run.closing is not None:
        run.closing.join()  # the folder may still be on its way (`finish_run`)
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
    environment.process_exit_code = 3
    workers = figures.get("workers", {})
    if workers.get("reported", 0) < workers.get("planned", 0):
        missing = workers["planned"] - workers["reported"]
        print(
            f"The run is not valid evidence: {missing} of {workers['planned']} workers went missing"
        )
        return
    visits, limits = figures.get("visits", {}), figures.get("limits", {})
    if figures and _failed_inside(figures):
        print(
            f"The run is not valid evidence: {visits['error']} of {visits['started']} visits "
            "failed inside the harness (see the warnings: answers the journeys could not read?)"
        )
        return
    print(
        "The run is not valid evidence: the generator fell behind its schedule "
        f"({visits.get('dropped_share', 0):.1%} of visits dropped, limit "
        f"{limits.get('max_dropped_share', 0):.0%}; {visits.get('late_share', 0):.1%} late, "
        f"limit {limits.get('max_late_share', 0):.0%})"
    )
