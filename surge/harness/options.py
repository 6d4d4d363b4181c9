"""The harness's options on Locust's command line (and in its web UI), and their checks.

`--profile` is Locust's own option, reused: it already exists and the web UI has a field for
it (Locust keeps it in `environment.profile`). The others are added here. Bad values end the
process at `init` with one line and exit code 2, before any load (a `--data-pool` file is read
then, and a customer without the logins the day's channels need is bad input); a worker gets
its options from the master when the test starts, and is not checked at its own init.
"""

from __future__ import annotations

import argparse
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from locust import events
from locust.env import Environment

from surge import binding, credentials, exits, runfolder
from surge.binding import Binding, BindingError, BindingOptions, Tokens
from surge.credentials import Credentials
from surge.customers import LOGIN, Customer, PoolError, load_pool
from surge.exits import BadInput
from surge.profile import CHANNELS, DEFAULT_PROFILE, Profile, resolve
from surge.runfolder import Limits
from surge.target import Target, check_writes, recognise

STOP_TIMEOUT_S = 30.0
"""Locust's --stop-timeout when none is given: users stop after their visit, never inside it."""
LOCAL_TOKENS = {
    "teller": "teller-local-token",
    "kiosk": "kiosk-local-token",
    "online": "online-local-token",
}
"""The mock core's own channel tokens when it is given none (docs/mock-core.md)."""


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
    add(
        "--binding",
        default=binding.DEFAULT,
        help="Branch surge: package.module:Name, the binding to the target's API",
    )
    add("--late-after", type=float, default=0.5, help="Branch surge: seconds, a visit is late")
    add("--drop-after", type=float, default=10.0, help="Branch surge: seconds, it is dropped")
    add("--max-dropped-share", type=float, default=0.05, help="Branch surge: else not valid")
    add("--max-late-share", type=float, default=0.10, help="Branch surge: else not valid")
    # Tokens may come from the environment, so a secret need not sit in the command line that
    # run.json records (`surge rehearse` passes its embedded core's admin token that way).
    for who, token in {**LOCAL_TOKENS, "admin": None}.items():
        env = f"LOCUST_{who.upper()}_TOKEN"
        add(
            f"--{who}-token",
            default=token,
            is_secret=True,
            env_var=env,
            help=f"Branch surge: {env}",
        )
    add(
        "--stop-after-errors",
        type=int,
        default=0,
        help="Branch surge: end the run once N requests failed (0: never)",
    )
    add("--no-report", action="store_true", help="Branch surge: no report.html at the end")
    add(
        "--allow-host",
        action="append",
        default=[],
        help="Branch surge: a host (name or name:port) the journeys may write to besides the "
        "mock core; repeatable",
    )
    parser.add_argument(
        "--run-folder",
        default=None,
        include_in_web_ui=False,
        help="Branch surge: write the run folder here (an empty or new folder), not under "
        "--results (surge rehearse names it so)",
    )
    parser.add_argument(
        "--embedded-core",
        action="store_true",
        include_in_web_ui=False,
        help="Branch surge: the target is surge rehearse's embedded mock core, which the "
        "rehearsal crashes for the profile's crash faults (surge rehearse sets it)",
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
    run_folder: Path | None
    customers: int
    locale: str
    data_pool: Path | None
    late_after: float
    drop_after: float
    limits: Limits
    tokens: Tokens
    admin_token: str | None
    report: bool
    """Write report.html at the end (`surge report`)."""
    binding: type[Binding]
    """The binding to the target's API (`--binding`), checked to support the day's operations."""
    embedded_core: bool = False
    """The target is `surge rehearse`'s embedded core: the rehearsal does the crash faults."""
    error_budget: int = 0
    """End the run once this many requests were retried or failed (0: never): a capacity step
    whose budget is spent cannot pass, so it stops rather than loading a broken target."""
    allow_hosts: tuple[str, ...] = ()
    """Hosts besides the mock core that the journeys may write to (`surge.target`)."""
    credentials: Credentials = credentials.NONE
    """The bank's credentials, from the environment or its file (`surge.credentials`)."""


def settings(
    options: argparse.Namespace, profile_name: str | None, scaled: Profile | None = None
) -> Settings:
    """Check the arguments; raises `BadInput` (one line).

    A worker passes the master's resolved profile as `scaled`: it has no profile file of its own.
    """
    try:
        bound = binding.load(options.binding)
    except BindingError as error:
        raise BadInput(str(error)) from None
    if options.max_users < len(CHANNELS):
        raise BadInput(f"--max-users: at least {len(CHANNELS)} (one user per channel)")
    if options.customers < 2 and not options.data_pool:
        raise BadInput("--customers: at least 2 (a transfer needs a payer and a payee)")
    if not 0 <= options.late_after <= options.drop_after:
        raise BadInput("--late-after, --drop-after: need 0 <= late-after <= drop-after")
    for name in ("max_dropped_share", "max_late_share"):
        if not 0 <= getattr(options, name) <= 1:
            raise BadInput(f"--{name.replace('_', '-')}: a share from 0 to 1")
    if options.stop_after_errors < 0:
        raise BadInput(f"--stop-after-errors: {options.stop_after_errors} is below 0")
    run_folder = Path(options.run_folder) if options.run_folder else None
    if scaled is None:
        profile = resolve(profile_name or DEFAULT_PROFILE, options.time_scale, options.rate_scale)
        if run_folder is not None and run_folder.exists() and not _empty_folder(run_folder):
            raise BadInput(f"--run-folder: {run_folder} is not an empty folder")
        runfolder.check_writable(run_folder or Path(options.results))
        lacking = binding.missing(bound, profile, onboarding=not options.data_pool)
        if lacking:
            raise BadInput(lacking)
    else:
        profile = scaled
    return Settings(
        profile=profile,
        seed=_seed(options.seed, profile.seed),
        time_scale=options.time_scale,
        rate_scale=options.rate_scale,
        max_users=options.max_users,
        results=Path(options.results),
        run_folder=run_folder,
        customers=options.customers,
        locale=options.locale or profile.customers.locale,
        data_pool=Path(options.data_pool) if options.data_pool else None,
        late_after=options.late_after,
        drop_after=options.drop_after,
        limits=Limits(options.max_dropped_share, options.max_late_share),
        tokens=Tokens(options.teller_token, options.kiosk_token, options.online_token),
        admin_token=options.admin_token or None,
        report=not options.no_report,
        embedded_core=options.embedded_core,
        error_budget=options.stop_after_errors,
        binding=bound,
        allow_hosts=tuple(options.allow_host or ()),
        credentials=credentials.from_environment(),
    )


def bind(chosen: Settings, host: str) -> Binding:
    """The run's binding, made once per process (a worker makes its own, of the master's)."""
    return chosen.binding(BindingOptions(host, chosen.tokens, chosen.credentials))


def pool_customers(chosen: Settings) -> list[Customer]:
    """The `--data-pool` customers, each with the logins of the channels the day visits; a
    `PoolError` (one line) otherwise."""
    assert chosen.data_pool is not None
    visited = chosen.profile.channels_visited()
    logins = [c for c in CHANNELS if c in visited and c in LOGIN]  # in order: one message
    return load_pool(chosen.data_pool, logins)


def _empty_folder(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _seed(given: int | str | None, default: int) -> int:
    """`--seed`, or the profile's when none is given. Locust's web UI passes an option whose
    default is None as the text of its field: "" when left blank."""
    if given is None or given == "":
        return default
    try:
        return int(given)
    except ValueError:
        raise BadInput(f"--seed: a whole number, not {given!r}") from None


_targets: weakref.WeakKeyDictionary[Environment, Target] = weakref.WeakKeyDictionary()
"""The decision made at start about each environment's target (`target`)."""


def target(environment: Environment, chosen: Settings) -> Target:
    """Is the target the mock core, and may the journeys write to it? Decided once, at init
    where the host is known then; a `BadInput` (one line) when the writes may not go there."""
    host = environment.host or ""
    known = _targets.get(environment)
    if known is not None and known.host == host and known.answered:
        return known
    found = recognise(host, chosen.credentials)
    check_writes(found, chosen.allow_hosts)
    _targets[environment] = found
    return found


@events.init.add_listener
def check_arguments(environment: Environment, **_: Any) -> None:
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
