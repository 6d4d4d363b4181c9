"""The harness's options on Locust's command line (and in its web UI), and what they mean.

`--profile` is Locust's own option, reused: it already exists and the web UI has a field for
it (Locust keeps it in `environment.profile`). The others are added here, as text that the
harness reads (`Field`, `value`): that is what Locust's web UI form posts, every field of it,
a blank one meaning the default. Bad values end the process at `init` with one line and exit
code 2, before any load (`lifecycle.check_arguments`; a `--data-pool` file is read then, and a
customer without the logins the day's channels need is bad input); a worker gets its options
from the master when the test starts, and is not checked at its own init.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from locust import events

from surge import runfolder
from surge.bindings import loader
from surge.bindings.loader import BindingError
from surge.day import levels
from surge.day.profile import CHANNELS, DEFAULT_PROFILE, Profile, resolve
from surge.exits import BadInput
from surge.runfolder import Limits
from surge.visit import credentials
from surge.visit.binding import Binding, BindingOptions
from surge.visit.credentials import Credentials
from surge.visit.customers import LOGIN, load_pool
from surge.visit.values import Customer, Tokens

STOP_TIMEOUT_S = 30.0
"""Locust's --stop-timeout when none is given: users stop after their visit, never inside it."""
LOCAL_TOKENS = {
    "teller": "teller-local-token",
    "kiosk": "kiosk-local-token",
    "online": "online-local-token",
}
"""The mock core's own channel tokens when it is given none (docs/mock-core.md)."""


@dataclass(frozen=True, slots=True)
class Field:
    """One of the harness's options in Locust's web UI form. Its value is text, as typed on the
    command line or posted by the form, read by the harness (`value`): Locust's web UI posts
    every field of its form, the blank ones too, and gives each the type of the value it had
    (`int('')` for a blank number, `int('host')` for an item of a list that was empty); text
    keeps what was posted, and a blank field means the default."""

    flag: str
    kind: type[int] | type[float] | type[str]
    default: int | float | str | None
    metavar: str
    help: str
    env: str | None = None
    """A secret's variable, read instead of the default: it stays out of the command line."""

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


def _token(who: str, default: str | None, what: str) -> Field:
    env = f"LOCUST_{who.upper()}_TOKEN"
    return Field(f"--{who}-token", str, default, "TOKEN", f"{what} (or {env})", env)


FIELDS = (
    Field(
        "--time-scale", float, 1.0, "X", "shorten the day X times, keeping its rates (default 1)"
    ),
    Field("--rate-scale", float, 1.0, "K", "K times every arrival rate (default 1)"),
    Field("--max-users", int, 500, "N", "most users the shape starts, all channels (default 500)"),
    Field("--results", str, "results", "DIR", "the folder run folders are written under"),
    Field("--seed", int, None, "N", "the arrivals' and customers' seed (default: the profile's)"),
    Field("--customers", int, 200, "N", "customers onboarded before the load (default 200)"),
    Field("--locale", str, None, "LOCALE", "the customers' Faker locale (default: the profile's)"),
    Field("--data-pool", str, None, "CSV", "a CSV of existing customers, instead of onboarding"),
    Field(
        "--binding",
        str,
        loader.DEFAULT,
        "MODULE:NAME",
        "package.module:Name, the binding to the API",
    ),
    Field("--late-after", float, 0.5, "S", "seconds behind schedule a visit is late (default 0.5)"),
    Field("--drop-after", float, 10.0, "S", "seconds behind schedule it is dropped (default 10)"),
    Field(
        "--max-dropped-share",
        float,
        0.05,
        "SHARE",
        "more visits dropped and the run is not valid evidence (default 0.05)",
    ),
    Field(
        "--max-late-share",
        float,
        0.10,
        "SHARE",
        "more visits late and it is not valid (default 0.1)",
    ),
    *(
        _token(who, token, f"the {who} channel's token (default: the mock core's local one)")
        for who, token in LOCAL_TOKENS.items()
    ),
    _token("admin", None, "the mock core's admin token: faults posted, the ledger checked"),
    Field(
        "--stop-after-errors", int, 0, "N", "end the run once N requests failed (default 0: never)"
    ),
)
_FIELDS = {field.dest: field for field in FIELDS}
_KINDS = {int: "a whole number", float: "a number"}


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]  # Locust leaves it unannotated
def add_arguments(parser: Any) -> None:
    """The harness's options, on Locust's own parser (argument groups do not reach the web UI).

    `--profile` is Locust's own option (Locust names a test run's profile with it, in its web
    UI's Advanced options too): the harness reads it as the surge profile, and says so in its
    help. Locust prints `--help` before it loads the locustfile, so no option a locustfile adds
    is in it: `--surge-help` prints the same help once the harness's options are on the parser.
    """
    for field in FIELDS:
        parser.add_argument(
            field.flag,
            default=None if field.default is None else _text(field.default),
            include_in_web_ui=True,
            metavar=field.metavar,
            is_secret=field.env is not None,
            env_var=field.env,
            help=f"Branch surge: {field.help}",
        )
    parser.add_argument(
        "--no-report",
        action="store_true",
        include_in_web_ui=True,
        help="Branch surge: no report.html at the end",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=None,
        metavar="HOST",
        include_in_web_ui=True,
        help="Branch surge: a host (name or name:port) the journeys may write to besides the "
        "mock core; repeatable (in the web UI: comma-separated)",
    )
    parser.add_argument(
        "--run-folder",
        default=None,
        metavar="DIR",
        include_in_web_ui=False,
        help="Branch surge: write the run folder here (an empty or new folder), not under "
        "--results (surge rehearse names it so)",
    )
    parser.add_argument(
        "--levels",
        default=None,
        metavar="FILE",
        include_in_web_ui=False,
        help="Branch surge: move the arrival rate between the levels a capacity search asks for "
        "in FILE, starting at --rate-scale (surge capacity sets it; docs/capacity.md)",
    )
    parser.add_argument(
        "--embedded-core",
        action="store_true",
        include_in_web_ui=False,
        help="Branch surge: the target is surge rehearse's embedded mock core, which the "
        "rehearsal crashes for the profile's crash faults (surge rehearse sets it)",
    )
    parser.add_argument(
        "--surge-help",
        action="help",
        include_in_web_ui=False,
        help="Branch surge: show this help, the branch-surge options included, and exit "
        "(Locust's own --help is printed before the locustfile adds them)",
    )
    profile = parser._option_string_actions["--profile"]  # argparse keeps no public handle
    profile.help = (
        f"Branch surge: the surge profile to replay, a shipped name or a .toml path (default "
        f"{DEFAULT_PROFILE}). Locust's own option: it also names the test run in Locust"
    )
    parser.set_defaults(profile=DEFAULT_PROFILE)


def value(options: argparse.Namespace, dest: str) -> Any:
    """A `Field`'s value read as its kind: a blank (or absent) one is its default; one that is
    not of its kind is `BadInput` (one line)."""
    field = _FIELDS[dest]
    given = getattr(options, dest, None)
    if given is None or (isinstance(given, str) and not given.strip()):
        return (os.environ.get(field.env) if field.env else None) or field.default
    try:
        return field.kind(given.strip() if isinstance(given, str) else given)
    except (TypeError, ValueError):
        raise BadInput(f"{field.flag}: {given!r} is not {_KINDS[field.kind]}") from None


def _text(default: int | float | str) -> str:
    return f"{default:g}" if isinstance(default, float) else str(default)


def _hosts(given: str | list[str] | None) -> tuple[str, ...]:
    """`--allow-host`: repeated on the command line, comma-separated in the web UI's field."""
    items = [given] if isinstance(given, str) else given or []
    return tuple(host.strip() for item in items for host in item.split(",") if host.strip())


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
    """Hosts besides the mock core that the journeys may write to (`surge.visit.target`)."""
    levels: Path | None = None
    """A capacity search's plan (`surge.day.levels.Plan`): the run's rate moves between its levels,
    and `profile` is the day of the levels started so far (`surge.day.levels.day`)."""
    credentials: Credentials = credentials.NONE
    """The bank's credentials, from the environment or its file (`surge.visit.credentials`)."""


def settings(
    options: argparse.Namespace, profile_name: str | None, scaled: Profile | None = None
) -> Settings:
    """Check the arguments; raises `BadInput` (one line).

    A worker passes the master's resolved profile as `scaled`: it has no profile file of its own.
    """
    given = {dest: value(options, dest) for dest in _FIELDS}
    try:
        bound = loader.load(given["binding"])
    except BindingError as error:
        raise BadInput(str(error)) from None
    data_pool = Path(given["data_pool"]) if given["data_pool"] else None
    if given["max_users"] < len(CHANNELS):
        raise BadInput(f"--max-users: at least {len(CHANNELS)} (one user per channel)")
    if given["customers"] < 2 and data_pool is None:
        raise BadInput("--customers: at least 2 (a transfer needs a payer and a payee)")
    if not 0 <= given["late_after"] <= given["drop_after"]:
        raise BadInput("--late-after, --drop-after: need 0 <= late-after <= drop-after")
    for name in ("max_dropped_share", "max_late_share"):
        if not 0 <= given[name] <= 1:
            raise BadInput(f"{_FIELDS[name].flag}: a share from 0 to 1")
    if given["stop_after_errors"] < 0:
        raise BadInput(f"--stop-after-errors: {given['stop_after_errors']} is below 0")
    run_folder = Path(options.run_folder) if options.run_folder else None
    results = Path(given["results"])
    levels_plan = Path(options.levels) if getattr(options, "levels", None) else None
    if scaled is None:
        profile = resolve(profile_name or DEFAULT_PROFILE, given["time_scale"], given["rate_scale"])
        if levels_plan is not None:
            phase = resolve(profile_name or DEFAULT_PROFILE, given["time_scale"], 1.0)
            profile = first_level(phase, given["rate_scale"])
        if run_folder is not None and run_folder.exists() and not _empty_folder(run_folder):
            raise BadInput(f"--run-folder: {run_folder} is not an empty folder")
        runfolder.check_writable(run_folder or results)
        lacking = loader.missing(bound, profile, onboarding=data_pool is None)
        if lacking:
            raise BadInput(lacking)
    else:
        profile = scaled
    return Settings(
        profile=profile,
        seed=profile.seed if given["seed"] is None else given["seed"],
        time_scale=given["time_scale"],
        rate_scale=given["rate_scale"],
        max_users=given["max_users"],
        results=results,
        run_folder=run_folder,
        customers=given["customers"],
        locale=given["locale"] or profile.customers.locale,
        data_pool=data_pool,
        late_after=given["late_after"],
        drop_after=given["drop_after"],
        limits=Limits(given["max_dropped_share"], given["max_late_share"]),
        tokens=Tokens(given["teller_token"], given["kiosk_token"], given["online_token"]),
        admin_token=given["admin_token"],
        report=not options.no_report,
        embedded_core=options.embedded_core,
        error_budget=given["stop_after_errors"],
        binding=bound,
        allow_hosts=_hosts(options.allow_host),
        credentials=credentials.from_environment(),
        levels=levels_plan,
    )


def first_level(phase: Profile, multiple: float) -> Profile:
    """The day of a capacity search's run as it starts, from the searched `phase` at rate scale
    1: its first level, at `multiple`, to the run's bound; `BadInput` for a profile no search's
    run is made of."""
    try:
        return levels.day(phase, [(multiple, 0.0)], phase.duration_s)
    except ValueError as error:
        raise BadInput(f"--levels: {error}") from None


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
