"""A distributed run's messages on Locust's master/worker channel (`surge.harness.distributed` holds
their data and the master's merge, `Fleet`).

- At the master's test start, `send_plans` numbers the workers and sends each its share.
- A worker's test start (`start_share`) runs its share on the master's clock, watches its host
  (`host.HostWatch`) and ships a batch of what it recorded every `BATCH_S`; its test stop (or
  the master's `surge_finish`) lets its running visits end and sends a last batch.
- The master merges the batches as they come (`Fleet.receive`, its records into the run's log)
  and, at its end, `collect` waits (bounded) for every worker's last batch.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import gevent
from locust.env import Environment
from locust.rpc import Message
from locust.runners import STATE_MISSING, MasterRunner, Runner, WorkerRunner

from surge.bindings import loader
from surge.bindings.loader import BindingError, spec_of
from surge.day.arrivals import Lateness
from surge.day.profile import Profile
from surge.exits import BadInput
from surge.harness import distributed, memory
from surge.harness.dispatch import Dispatcher
from surge.harness.distributed import Fleet, Outbox, SharePlan
from surge.harness.host import HostWatch
from surge.harness.options import bind, settings
from surge.harness.state import RunState, attached, begin, current, warn
from surge.visit.customers import Pool
from surge.visit.values import PoolError

FINAL_WAIT_S = 15.0
"""How long the master waits at the end for the workers' last batches and Locust stats reports."""


def register(runner: Runner | None) -> None:
    """The harness's messages on `runner` (`lifecycle.attach`)."""
    if isinstance(runner, MasterRunner):
        runner.register_message(distributed.BATCH, _receive_batch, concurrent=True)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(distributed.PLAN, _receive_plan)
        runner.register_message(distributed.FINISH, _receive_finish, concurrent=True)
        runner.register_message(distributed.LEVEL, _receive_level)


def send_plans(run: RunState, runner: MasterRunner, pool: Pool, day_start: float) -> None:
    """Number the connected workers and send each its share of the day starting at
    `day_start` (epoch seconds)."""
    clients: dict[str, int] = {
        # Locust leaves get_worker_index unannotated; the index it keeps is an int.
        client.id: runner.get_worker_index(client.id)  # type: ignore[no-untyped-call]
        for client in runner.clients.all
    }
    numbered = distributed.shares(clients)
    if not numbered:
        raise RuntimeError("no workers are connected")
    chosen, workers = run.settings, len(numbered)
    assert run.log is not None
    run.fleet = Fleet(chosen.profile, day_start, workers, clients=numbered, records=run.log)
    for client_id, share in numbered.items():
        plan = SharePlan(
            share=share,
            workers=workers,
            day_start=day_start,
            profile=chosen.profile.to_dict(),
            seed=chosen.seed,
            branches=run.branches,
            customers=distributed.customers_to_data(pool.for_worker(share, workers).customers),
            binding=spec_of(chosen.binding),
        )
        runner.send_message(distributed.PLAN, plan.to_data(), client_id=client_id)


def send_level(runner: MasterRunner, profile: Profile, at: float, drop: bool = False) -> None:
    """Every worker follows `profile` from run time `at` on: a capacity search's next level (or
    the end of its day), dropping its waiting visits with `drop` (`Dispatcher.retarget`)."""
    runner.send_message(distributed.LEVEL, {"profile": profile.to_dict(), "at": at, "drop": drop})


def _receive_level(environment: Environment, msg: Message, **_: Any) -> None:
    run = current(environment)
    if run is None or run.dispatcher is None:
        return
    profile = Profile.from_dict(msg.data["profile"], source="the master's level")
    run.settings = replace(run.settings, profile=profile)
    try:
        run.dispatcher.retarget(profile, float(msg.data["at"]), bool(msg.data.get("drop")))
    except ValueError as error:  # it came after its start: this share keeps the rate it had
        warn(f"share {run.outbox.share if run.outbox else '?'}: a level came too late: {error}")


def _receive_plan(environment: Environment, msg: Message, **_: Any) -> None:
    attached(environment).plan = SharePlan.from_data(msg.data)


def start_share(environment: Environment) -> None:
    """A worker's test start: run the share the master's plan gave it, on the master's clock."""
    kept = attached(environment)
    plan, kept.plan = kept.plan, None
    options = environment.parsed_options
    if plan is None or options is None:
        warn("this worker has no plan from the master (it joined after the start): it stays idle")
        return
    try:
        profile = Profile.from_dict(plan.profile, source="the master's profile")
        bound = loader.load(plan.binding)
        chosen = replace(settings(options, None, scaled=profile), seed=plan.seed, binding=bound)
        pool = Pool(distributed.customers_from_data(plan.customers))
    except (BadInput, BindingError, PoolError) as error:
        warn(f"worker share {plan.share}: {error}")
        return
    outbox = Outbox(plan.share)
    run = RunState(
        chosen,
        environment.host or "",
        sink=outbox.records.append,
        outbox=outbox,
        branches=dict(plan.branches),
        expected_alerts=outbox.alerts,
    )
    run.binding = bind(chosen, run.host)
    lateness = Lateness(late_after_s=chosen.late_after, drop_after_s=chosen.drop_after)
    run.dispatcher = Dispatcher(
        profile, plan.seed, pool, lateness, worker=plan.share, workers=plan.workers
    )
    begin(environment, run)
    run.watch = HostWatch(plan.day_start, process=plan.share + 1)
    memory.settle()
    run.dispatcher.start(plan.day_start)
    run.greenlets.append(gevent.spawn(_ship, environment, run))


def _batch(run: RunState, final: bool = False) -> dict[str, Any]:
    assert run.outbox is not None
    assert run.dispatcher is not None
    samples = run.watch.take() if run.watch is not None else []
    return run.outbox.batch(run.dispatcher, run.visits, final=final, generator=samples)


def _ship(environment: Environment, run: RunState) -> None:
    runner = environment.runner
    assert runner is not None
    outbox = run.outbox
    assert outbox is not None
    while True:
        gevent.sleep(distributed.BATCH_S)
        if outbox.final_sent:
            return
        runner.send_message(distributed.BATCH, _batch(run))


def finish_share(environment: Environment) -> None:
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
        warn(
            f"share {run.outbox.share}: {dispatcher.busy()} visits still running at the last "
            "batch; their later requests are not in the run folder"
        )
    if run.watch is not None:
        run.watch.stop()
    runner.send_message(distributed.BATCH, _batch(run, final=True))


def _receive_finish(environment: Environment, **_: Any) -> None:
    finish_share(environment)


def _receive_batch(environment: Environment, msg: Message, **_: Any) -> None:
    run = current(environment)
    if run is not None and run.fleet is not None and isinstance(environment.runner, MasterRunner):
        run.fleet.receive(msg.data)
        note_present(run.fleet, environment.runner)  # the shape stops awaiting the lost


def note_present(fleet: Fleet, runner: MasterRunner) -> None:
    """Tell the fleet which workers Locust still has (one without heartbeats for a few seconds
    is missing), and say so of each newly lost one: Locust logs it below the console's level."""
    before = set(fleet.lost)
    fleet.note_present(c.id for c in runner.clients.all if c.state != STATE_MISSING)
    for share in sorted(fleet.lost - before):
        warn(
            f"the worker of share {share} went missing (Locust heard no heartbeat for a few "
            "seconds): what it recorded since its last batch is lost with it"
        )


def note_report(environment: Environment, client_id: str, **_: Any) -> None:
    """A master's worker sent Locust's stats (`collect` waits for one after the last batch)."""
    run = current(environment)
    if run is not None and run.fleet is not None:
        run.reports[client_id] = time.time()


def collect(run: RunState, fleet: Fleet, runner: MasterRunner) -> None:
    """Ask every worker for its last batch; wait (bounded) for each share's batches and for one
    more stats report from its worker. Workers Locust lost are not waited for.

    A headless run ends with Locust's `quit`, which fires this before telling workers anything;
    a stats report after a worker's last batch makes Locust's counts include its last requests.
    """
    runner.send_message(distributed.FINISH)
    deadline = time.monotonic() + FINAL_WAIT_S
    while time.monotonic() < deadline:
        note_present(fleet, runner)
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
        warn(f"shares {missing} of {fleet.workers} workers did not arrive whole")
    run.expected_alerts = fleet.alerts
    run.visits = {**run.visits, **fleet.total("visits")}
