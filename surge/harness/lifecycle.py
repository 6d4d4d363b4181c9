"""A run's life in a local runner or a master: check, open the folder, prepare, run, close, judge.

- `init` (`attach`): the options and the target are checked before any load (`check_arguments`):
  bad input is one line and exit code 2; the listeners of the stages below go on the
  environment's own events.
- `test_start`: the run folder is opened (`run.json` first) and the request records start
  streaming into it (`_Flusher`); the target is prepared over plain HTTP before any load (its
  branches, the customers onboarded or read from a data pool, the profile's faults posted with
  an admin token, but its crash faults, which only `surge rehearse` does to its embedded core);
  then this process's `Dispatcher` starts the day, or the master sends its workers their shares
  (`messages.send_plans`), and the generator's host is watched from the day's start
  (`host.HostWatch`) until `test_stopping`, where the day ends (`end_day`).
- `test_stop`: the day is stopped (the master gathers its workers' last batches), the last
  records and the host's samples (every process's) are written, then every planned visit is
  accounted for, the target's admin answers (reconcile, alerts, the ledger's keys) are
  fetched, and the folder is judged (`surge.judge.verdict`) and its summary written.
- `quitting`: the verdict (and whether the generator was saturated, `surge.judge.saturation`), the
  folder's path, and the exit code: 0 valid, 3 not valid.

A worker's share has its own start and stop (`messages.start_share`, `messages.finish_share`).
"""

from __future__ import annotations

import gc
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import gevent
import httpx
from gevent.event import Event
from locust import events
from locust.env import Environment
from locust.event import EventHook
from locust.runners import MasterRunner, Runner

from surge import children, exits, runfolder
from surge.bindings.loader import spec_of
from surge.day.arrivals import Lateness, schedule
from surge.day.profile import CRASH, DEFAULT_PROFILE, resolve
from surge.exits import BadInput
from surge.harness import distributed, memory, messages
from surge.harness.dispatch import Dispatcher
from surge.harness.host import HostWatch
from surge.harness.options import STOP_TIMEOUT_S, Settings, bind, pool_customers, settings
from surge.harness.scrape import Scraper
from surge.harness.state import Follower, RunState, begin, current, target, warn
from surge.judge import saturation, verdict
from surge.runfolder import GeneratorSample, RequestLog, RunInfo, Stopped, Visits
from surge.visit.customers import Pool, customer_secret, generate, onboard
from surge.visit.values import PoolError
from surge.visit.wire import ERRORS, PlainWire, PushBack, RequestRecord

START_LEAD_S = 1.0
"""The day starts this long after the run is ready: the shape's next tick (Locust ticks every
second) sizes the pool for it, rather than the few users that ran the preparation."""
FLUSH_S = 2.0
"""How often the records gathered are written to the run folder as a part of its Parquet
dataset: memory holds about this long of records, and a crash loses at most that."""
LEVELS_FLUSH_S = 1.0
"""…and in a capacity search's run, which the search judges as it goes."""
_OUTCOME = RequestRecord._fields.index("outcome")
ADMIN_TIMEOUT_S = 30.0
LEDGER_PAGE = 5000
"""Keys per page of the ledger export (the mock core's most)."""
REPORT_TIMEOUT_S = 300.0
"""The report of a long run (millions of records) takes seconds; a bound all the same."""


class _Flusher:
    """Writes the log's records every `FLUSH_S`, off the event loop (pyarrow encodes in a thread
    of gevent's pool while the users go on); `stop` writes the last of them. Counting the errors
    among them on the way spends the run's error budget (`Settings.error_budget`). A capacity
    search's run is judged while it goes: its records are written every `LEVELS_FLUSH_S`, and
    the generator's samples with them."""

    def __init__(self, log: RequestLog, run: RunState) -> None:
        self._log = log
        self._run = run
        self._stopping = Event()
        self._every = FLUSH_S if run.settings.levels is None else LEVELS_FLUSH_S
        self._greenlet = gevent.spawn(self._loop)

    def _loop(self) -> None:
        while not self._stopping.wait(self._every):
            self._write()
            if self._run.settings.levels is not None and self._run.folder is not None:
                runfolder.write_generator(self._run.folder, generator_samples(self._run))

    def _write(self) -> None:
        rows = self._log.take()
        if rows:
            self._spend(rows)
            gevent.get_hub().threadpool.apply(self._log.write, (rows,))

    def _spend(self, rows: list[Sequence[Any]]) -> None:
        run, budget = self._run, self._run.settings.error_budget
        if not budget or run.stopped is not None:
            return  # no budget, or already spent: nothing to count for
        run.errors += sum(1 for row in rows if row[_OUTCOME] in ERRORS)
        if run.errors >= budget:
            run.stopped = Stopped(errors=run.errors, budget=budget, at=time.time())
            warn(
                f"{run.errors} requests failed, the run's error budget (--stop-after-errors "
                f"{budget}): ending the run"
            )

    def stop(self) -> None:
        """Stop the loop (it is never killed inside a write: a part would be half written),
        then write what is left."""
        self._stopping.set()
        self._greenlet.join()
        self._write()


@events.init.add_listener  # type: ignore[untyped-decorator]  # Locust leaves it unannotated
def freeze_imports(**_: Any) -> None:
    """What Locust, the locustfile and the harness built so far lives as long as the process:
    frozen, the collector no longer walks it on each full pass, a pause of the event loop that
    would be counted as the generator's lag (docs/report.md, "The generator's host")."""
    gc.freeze()


@events.init.add_listener  # type: ignore[untyped-decorator]  # Locust leaves it unannotated
def attach(environment: Environment, runner: Runner | None = None, **_: Any) -> None:
    """The harness's entry: at Locust's init, once the runner is made, the arguments are
    checked and the run's listeners put on this environment's own events (messages,
    `messages.register`), not on Locust's global ones at import. Registered after the runner's,
    `announce` runs before the runner's own `quitting` listener (Locust fires that event last
    listener first), and so before a master's `quit` tells its workers to go; the workers'
    last batches are in by then, gathered when the test stopped (`finish_run`)."""
    check_arguments(environment)
    hooks = environment.events
    _listen(hooks.test_start, start_run)
    _listen(hooks.test_stopping, end_day)
    _listen(hooks.test_stop, finish_run)
    _listen(hooks.quitting, announce)
    messages.register(runner)
    if isinstance(runner, MasterRunner):
        _listen(hooks.worker_report, partial(messages.note_report, environment))


def _listen(hook: EventHook, listener: Callable[..., None]) -> None:
    hook.add_listener(listener)  # type: ignore[no-untyped-call]  # Locust leaves it unannotated


def check_arguments(environment: Environment) -> None:
    """Refuse bad input before any load, and before any write: one line, exit code 2."""
    options = environment.parsed_options
    if options is None or options.worker:
        return
    try:
        chosen = settings(options, environment.profile)
        if chosen.data_pool is not None:
            pool_customers(chosen)
        chosen.credentials.check()
        if environment.host:
            target(environment, chosen)
    except (BadInput, PoolError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(exits.BAD_INPUT)
    if not environment.stop_timeout:
        environment.stop_timeout = STOP_TIMEOUT_S


def start_run(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    if options.worker:
        messages.start_share(environment)
        return
    try:
        chosen = settings(options, environment.profile)
        found = target(environment, chosen)
    except BadInput as error:  # changed in the web UI since init
        warn(str(error))
        return
    started = time.time()
    folder = chosen.run_folder or runfolder.create(chosen.results, started, chosen.profile.name)
    folder.mkdir(parents=True, exist_ok=True)
    log = RequestLog(folder)
    run = RunState(chosen, environment.host or "", sink=log.add, started=started)
    run.folder, run.log, run.target = folder, log, found
    begin(environment, run)
    write_run(run, environment)
    run.flusher = _Flusher(log, run)
    try:
        pool = _prepare(run)
        if isinstance(environment.runner, MasterRunner):
            day_start = time.time() + distributed.LEAD_S
            messages.send_plans(run, environment.runner, pool, day_start)
            _schedule_faults(run, day_start)
    except (httpx.HTTPError, PoolError, RuntimeError, ValueError) as error:
        _could_not_prepare(run, error)
        return
    if found.mock_core and chosen.admin_token:
        scraper = Scraper(run.host, _admin(chosen.admin_token), chosen.credentials)
        run.scraper = scraper if scraper.start() else None
    if run.fleet is None:
        lateness = Lateness(late_after_s=chosen.late_after, drop_after_s=chosen.drop_after)
        dispatcher = Dispatcher(chosen.profile, chosen.seed, pool, lateness)
        memory.settle()
        day_start = time.time() + START_LEAD_S
        try:
            _schedule_faults(run, day_start)
        except httpx.HTTPError as error:
            _could_not_prepare(run, error)
            return
        dispatcher.start(day_start)
        # Only a started day is the run's: the shape ticks while the faults are posted, and a
        # dispatcher it saw before its start has a day that began at the epoch, long over.
        run.dispatcher = dispatcher
        run.watch = HostWatch(dispatcher.t0)
    else:
        run.watch = HostWatch(run.fleet.day_start)
    if chosen.levels is not None:
        phase = resolve(environment.profile or DEFAULT_PROFILE, chosen.time_scale, 1.0)
        run.levels = Follower(chosen.levels, phase, [(chosen.rate_scale, 0.0)])
    if not found.mock_core:  # after the faults' line, in the order docs/credentials.md lists
        _skip(run, "the scrape of the target's /metrics")
    write_run(run, environment)


def _could_not_prepare(run: RunState, error: Exception) -> None:
    run.error = f"could not prepare the run against {run.host}: {error}"
    print(f"error: {run.error}", file=sys.stderr)


def _prepare(run: RunState) -> Pool:
    """Branches, customers and faults, over plain HTTP before the load starts."""
    chosen = run.settings
    run.binding = binding = bind(chosen, run.host)
    with chosen.credentials.http_client(run.host, timeout=10) as client:
        run.branches = binding.branches(PlainWire(client, PushBack(1), "reading the branches"))
        if chosen.data_pool is not None:
            customers = pool_customers(chosen)
        else:
            people = generate(
                chosen.customers,
                seed=chosen.seed,
                locale=chosen.locale,
                branches=sorted(run.branches),
                high_value_share=chosen.profile.customers.high_value_share,
                secret=customer_secret(chosen.embedded_core, os.environ),
            )
            customers = onboard(client, people, binding=binding, key_prefix=f"surge-{chosen.seed}")
    return Pool(customers)


def _schedule_faults(run: RunState, day_start: float) -> None:
    """The profile's faults, the mock core's to do: posted to it once the day's start is set,
    each to begin `at` after it (posted earlier, before onboarding ended, they began that much
    before their time); crashes are left to `surge rehearse`'s embedded core. Against any other
    target, skipped, and with them the admin answers the report's correctness checks read."""
    chosen, profile = run.settings, run.settings.profile
    assert run.target is not None
    if not run.target.mock_core:
        if profile.faults:
            _skip(run, f"the profile's {len(profile.faults)} faults")
        _skip(run, "/admin/reconcile, /admin/alerts and /admin/ledger/keys")
        return
    if not chosen.embedded_core:
        for n, fault in enumerate(profile.faults):
            if fault.kind == CRASH:
                warn(
                    f"fault {n} (crash at {profile.wall_clock(fault.at)}) skipped: only surge "
                    f"rehearse crashes its embedded mock core, and {run.host} is not it"
                )
    if chosen.admin_token:
        with chosen.credentials.http_client(run.host, timeout=10) as client:
            _post_faults(run, client, day_start)


def _skip(run: RunState, what: str) -> None:
    assert run.target is not None
    run.skipped.append(run.target.skipped(what))
    warn(run.skipped[-1])


def _admin(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _post_faults(run: RunState, client: httpx.Client, day_start: float) -> None:
    token = str(run.settings.admin_token)
    if client.get("/admin/faults", headers=_admin(token)).status_code != 200:
        warn(f"{run.host} has no /admin/faults for this token: no faults, reconcile or alerts")
        return
    run.admin = True
    for n, fault in enumerate(run.settings.profile.faults):
        if fault.kind == CRASH:
            continue  # not the core's to do (surge.run.crash)
        headers = {**_admin(token), "Idempotency-Key": f"surge-fault-{run.started}-{n}"}
        body = fault.admin_body(day_in_s=max(0.0, day_start - time.time()))
        answer = client.post("/admin/faults", json=body, headers=headers)
        if answer.status_code != 201:
            warn(f"fault {n} ({fault.kind}) refused: {answer.status_code} {answer.text[:80]}")


def end_day(environment: Environment, **_: Any) -> None:
    """The day's load ends where Locust starts stopping its users: no visit is handed out any
    more, the users waiting for one are let go at once (`Dispatcher.close`), and their stopping
    is not sampled (`host.HostWatch`)."""
    run = current(environment)
    if run is None:
        return
    if run.dispatcher is not None:
        run.dispatcher.close()
    if run.watch is not None:
        run.watch.stop()


def finish_run(environment: Environment, **_: Any) -> None:
    run = current(environment)
    if run is None or run.closing is not None:
        return
    if run.outbox is not None:
        messages.finish_share(environment)
        return
    # A master whose last worker goes missing stops from its heartbeat greenlet while its main
    # greenlet quits and kills the runner's greenlets half a second later: the run ends in a
    # greenlet of its own, which `announce` waits for.
    run.closing = gevent.spawn(_close, run, environment)
    run.closing.join()


def _close(run: RunState, environment: Environment) -> None:
    """Stop the run's parts, gather the workers' last batches (a master), write the folder's
    end and judge it."""
    if run.scraper is not None:
        run.scraper.stop()
    if run.fleet is not None and isinstance(environment.runner, MasterRunner):
        messages.collect(run, run.fleet, environment.runner)
    elif run.dispatcher is not None:
        run.dispatcher.stop()
    run.ended = time.time()
    assert run.folder is not None
    assert run.flusher is not None
    run.flusher.stop()
    folder = run.folder
    runfolder.write_lateness(folder, _lateness(run))
    runfolder.write_visits(folder, _account(run))
    runfolder.write_expected_alerts(folder, run.expected_alerts)
    if run.scraper is not None:
        runfolder.write_metrics(folder, run.scraper.rows)
    if run.watch is not None:
        run.watch.stop()  # `test_stopping` did, unless the run ended another way
        runfolder.write_generator(folder, generator_samples(run))
    write_run(run, environment)
    if run.admin:
        _fetch_admin(run, folder)
    elif run.target is not None and run.target.answered and not run.target.mock_core:
        _binding_reconcile(run, folder)
    written = runfolder.load(folder)
    run.verdict = verdict.judge(written)
    runfolder.write_summary(folder, verdict.figures(written, run.verdict))
    if run.settings.report:
        _report(folder)


def generator_samples(run: RunState) -> list[GeneratorSample]:
    """Every sample of the generator's host so far: this process's, and a master's workers'."""
    if run.watch is not None:
        run.samples += run.watch.take()
    return [*run.samples, *(run.fleet.generator if run.fleet is not None else [])]


def _report(folder: Path) -> None:
    """`surge report` on the folder, as its own process: pandas and plotly stay out of Locust's
    (and the harness never imports the reports, docs/architecture.md)."""
    command = [*children.script("surge", "surge"), "report", str(folder)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=REPORT_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        warn(f"no report: surge report took more than {REPORT_TIMEOUT_S:g} s")
        return
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        warn(f"no report: {why}")
        return
    print(done.stdout.strip())


def write_run(run: RunState, environment: Environment) -> None:
    assert run.folder is not None
    chosen: Settings = run.settings
    options = environment.parsed_options
    day = run.fleet.day_start if run.fleet else run.dispatcher.t0 if run.dispatcher else None
    day = day if day is not None and math.isfinite(day) else None  # a day not started
    info = RunInfo(
        format_version=runfolder.FORMAT_VERSION,
        profile=chosen.profile.name,
        seed=chosen.seed,
        host=run.host,
        time_scale=chosen.time_scale,
        rate_scale=chosen.rate_scale,
        versions={"locust": version("locust"), "branch-surge": version("branch-surge")},
        start=run.started,
        day_start=day,
        end=run.ended,
        command_line=runfolder.without_secrets(sys.argv),
        workers=run.fleet.workers if run.fleet else 1,
        max_users=chosen.max_users,
        customers=chosen.customers if chosen.data_pool is None else str(chosen.data_pool),
        options=runfolder.public_options(vars(options) if options else {}),
        limits=chosen.limits,
        error=run.error,
        stopped=run.stopped,
        binding=spec_of(chosen.binding),
        mock_core=run.target.mock_core if run.target and run.target.answered else None,
        skipped=run.skipped,
        credentials=chosen.credentials.describe(),
    )
    runfolder.write_run(run.folder, info, chosen.profile)


def _lateness(run: RunState) -> Lateness:
    """Every visit's lateness, the workers' merged on a master."""
    if run.dispatcher is not None:
        return run.dispatcher.lateness
    chosen = run.settings
    merged = Lateness(late_after_s=chosen.late_after, drop_after_s=chosen.drop_after)
    for share in (run.fleet.lateness() if run.fleet else {}).values():
        merged.merge(share)
    return merged


def _account(run: RunState) -> Visits:
    """Every visit the day planned, by what became of it (`Visits.account`): a master counts the
    shares of the workers that went missing from the visits due before the run ended."""
    chosen, fleet = run.settings, run.fleet
    assert run.log is not None
    assert run.ended is not None
    workers = fleet.workers if fleet else 1
    planned = schedule(chosen.profile, chosen.seed, workers=workers).census()
    if fleet is None:
        recorded = {0: run.dispatcher.lateness} if run.dispatcher else {}
        return Visits.account(planned, recorded, run=run.visits, requests={0: run.log.written})
    lost = {}
    if missing := fleet.missing():
        due = schedule(chosen.profile, chosen.seed, workers=workers).census(
            run.ended - fleet.day_start
        )
        lost = {share: due[share] for share in missing}
    return Visits.account(
        planned, fleet.lateness(), lost=lost, run=run.visits, requests=fleet.requests
    )


def _fetch_admin(run: RunState, folder: Path) -> None:
    headers = _admin(str(run.settings.admin_token))
    try:
        with run.settings.credentials.http_client(run.host, ADMIN_TIMEOUT_S) as client:
            reconcile = client.get("/admin/reconcile", headers=headers)
            runfolder.write_answer(folder, runfolder.RECONCILE, reconcile.json())
            alerts: list[Any] = []
            cursor: str | None = None
            while True:
                params: dict[str, int | str] = {
                    "limit": 200,
                    **({"cursor": cursor} if cursor else {}),
                }
                page = client.get("/admin/alerts", headers=headers, params=params).json()
                alerts.extend(page["items"])
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            runfolder.write_answer(folder, runfolder.ALERTS, alerts)
    except (httpx.HTTPError, ValueError, KeyError) as error:
        warn(f"could not fetch /admin/reconcile and /admin/alerts: {error}")
    _fetch_ledger(run, folder, headers)


def _binding_reconcile(run: RunState, folder: Path) -> None:
    """Against a target that is not the mock core, the binding's own check of its ledger, when
    it has one, written as the mock core's reconcile is (the report then shows it instead of
    "could not run")."""
    if run.binding is None:
        return
    try:
        with run.settings.credentials.http_client(run.host, ADMIN_TIMEOUT_S) as client:
            checks = run.binding.reconcile(PlainWire(client, PushBack(1), "the ledger check"))
    except (httpx.HTTPError, PoolError, ValueError, KeyError) as error:
        warn(f"the binding's ledger check could not run: {error}")
        return
    if checks is not None:
        answer = {"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}
        runfolder.write_answer(folder, runfolder.RECONCILE, answer)


def _fetch_ledger(run: RunState, folder: Path, headers: dict[str, str]) -> None:
    """The ledger's idempotency keys, every page (`surge.judge.durability` checks the run's writes
    against them). A failure is written down instead: the checks then fail, not pass."""
    keys: list[Any] = []
    cursor: str | None = None
    try:
        with run.settings.credentials.http_client(run.host, ADMIN_TIMEOUT_S) as client:
            while True:
                params: dict[str, int | str] = {
                    "limit": LEDGER_PAGE,
                    **({"cursor": cursor} if cursor else {}),
                }
                answer = client.get("/admin/ledger/keys", headers=headers, params=params)
                if answer.status_code == 404 and not keys:
                    warn(f"{run.host} has no GET /admin/ledger/keys: the writes are not checked")
                    return
                answer.raise_for_status()
                page = answer.json()
                keys.extend(page["items"])
                cursor = page.get("next_cursor")
                if not cursor:
                    break
    except (httpx.HTTPError, ValueError, KeyError) as error:
        why = f"GET /admin/ledger/keys: {type(error).__name__}: {error}"[:300]
        warn(f"could not fetch the ledger's keys: {why}")
        runfolder.write_answer(folder, runfolder.LEDGER, {"error": why})
        return
    runfolder.write_answer(folder, runfolder.LEDGER, {"keys": keys})


def announce(environment: Environment, **_: Any) -> None:
    """The verdict in one line, the folder's path, and the exit code that says it."""
    run = current(environment)
    if run is None or run.outbox is not None:
        return  # no run, or a worker's share: the master judges the whole run
    if run.closing is not None:
        run.closing.join()  # the folder may still be on its way (`finish_run`)
    judged = run.verdict
    if judged is None:
        error = run.closing.exception if run.closing is not None else None
        why = f"the harness could not end the run: {error!r}" if error else "it never ended"
        print(f"The run is not valid evidence: {why}")
    else:
        print(judged.sentence())
        assert run.folder is not None
        if saturated := saturation.line(runfolder.load(run.folder)):
            print(f"The generator was {saturated}")
    if run.folder is not None:
        print(f"Run folder: {run.folder}")
    valid = judged is not None and judged.valid
    environment.process_exit_code = exits.OK if valid else exits.NOT_VALID
    sys.stdout.flush()
