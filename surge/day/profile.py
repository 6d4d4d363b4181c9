"""Surge profiles: the one model of a rehearsed day, shared by the shape, the CLI and the reports.

A profile is a TOML file (see profiles/README.md). This module is the only reader of that TOML;
everything downstream takes a `Profile`, or rebuilds one from the JSON a run folder records
(`Profile.from_dict`). A bad profile fails with one line naming the file, the field and the reason
(`ProfileError`).

Times: `t` is seconds since the start of the rehearsed day, in *run* time. A profile scaled with
`--time-scale X` keeps its wall-clock labels (`day_start`, each phase's `start`) and its rates per
hour, while every duration and fault offset it stores is divided by X (`time_scale` records X).
`--rate-scale K` multiplies every phase's arrivals per hour by K and touches no time
(`rate_scale` records K); the two compose.
"""

from __future__ import annotations

import bisect
import math
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from surge import shipped
from surge.exits import BadInput

Channel = Literal["counter", "kiosk", "online"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)
CounterJourney = Literal[
    "cash_deposit",
    "cash_withdrawal",
    "transfer",
    "loan_application",
    "wealth_order",
    "fx_exchange",
    "enquiry",
    "complaint",
]
KioskJourney = Literal[
    "balance", "statement", "cash_deposit", "cash_withdrawal", "own_transfer", "fx_quote", "ticket"
]
OnlineJourney = Literal["browse_slots", "book", "cancel", "check_in"]
MIX_JOURNEYS: dict[Channel, tuple[str, ...]] = {
    "counter": get_args(CounterJourney),
    "kiosk": get_args(KioskJourney),
    "online": get_args(OnlineJourney),
}
"""The journeys each channel's mix shares out. A profile file calls them operations where it
sets their objectives (`[slo.operations.<journey>]`): the file's word, kept for the files
written with it; in the code an operation is a binding's (`surge.visit.binding.OPERATIONS`)."""
Journey = Literal[CounterJourney, KioskJourney, OnlineJourney]

# Lobby diversion (`customers.diversion`): where simple counter business is done instead. Cash and
# balance-type enquiries go to a kiosk; a transfer to someone else cannot (kiosks move money between
# the customer's own accounts only), so it goes to online banking.
DIVERSION: dict[str, tuple[Channel, str]] = {
    "cash_deposit": ("kiosk", "cash_deposit"),
    "cash_withdrawal": ("kiosk", "cash_withdrawal"),
    "enquiry": ("kiosk", "balance"),
    "transfer": ("online", "transfer"),
}

DAY_SECONDS = 24 * 3600
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
_SLACK = 1e-3  # seconds: scaled durations are floats, so times are compared within this
MAX_PER_HOUR = 100_000
"""Most arrivals per hour per branch on one channel *as a profile file writes them*: beyond it a
figure is a typo, not a branch. It bounds what a file says, never the load: `--rate-scale` may
take the rates anywhere (the generator keeping up is what limits load, and the verdict judges
that), so the check divides the rates by the rate scale they were raised by."""
MAX_VISITS = 50_000_000
"""Most visits one run's day may be expected to hold, however it is scaled: every load loop is
bounded in count as well as in time (the scheduler walks every visit, and the end counts them)."""
DEFAULT_PROFILE = "payday"
"""The day `surge rehearse` and `locust -f loadtests` replay when none is named: the heaviest
shipped day (8,145 visits at 6 branches, a lunch peak above what the counters carry)."""


class ProfileError(BadInput):
    """A profile problem, worded as one line: `<file>: <field path>: <reason>`."""


class _Located(ValueError):
    """A cross-field problem that belongs to a field other than the model it was found in."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path


def clock_seconds(text: str) -> int:
    """Seconds after midnight of an "HH:MM" wall-clock time."""
    match = _CLOCK.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time of day HH:MM (00:00 to 23:59)")
    return int(match[1]) * 3600 + int(match[2]) * 60


def duration_seconds(value: object) -> float:
    """Seconds of a duration written as seconds (a number) or text such as "30m", "2h", "1h30m"."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '30m', '2h', '90s'")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value.strip()) if isinstance(value, str) else None
    if match is None or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration (seconds, or text like '30m', '2h', '90s')")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_duration(seconds: float) -> str:
    """The inverse of `duration_seconds` for display: "9h", "1h30m", "45s", "0.5s"."""
    if seconds < 60:
        return f"{seconds:g}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts)


def _clock(value: object) -> object:
    if isinstance(value, str):
        clock_seconds(value)
    return value


Clock = Annotated[str, BeforeValidator(_clock)]
Duration = Annotated[float, BeforeValidator(duration_seconds), Field(gt=0, le=DAY_SECONDS)]
Share = Annotated[float, Field(ge=0, le=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Arrivals(_Section):
    """Visits arriving per hour *per branch*, by channel."""

    counter: float = Field(default=0, ge=0, allow_inf_nan=False)
    kiosk: float = Field(default=0, ge=0, allow_inf_nan=False)
    online: float = Field(default=0, ge=0, allow_inf_nan=False)


class Phase(_Section):
    name: str = Field(min_length=1, max_length=40)
    start: Clock
    duration: Duration
    arrivals_per_hour: Arrivals


class _Mix(_Section):
    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> _Mix:
        total = sum(getattr(self, op) for op in type(self).model_fields)
        if abs(total - 1) > 0.001:
            raise ValueError(f"shares sum to {total:g}, not 1")
        return self

    def shares(self) -> dict[str, float]:
        return self.model_dump()


class CounterMix(_Mix):
    cash_deposit: Share = 0
    cash_withdrawal: Share = 0
    transfer: Share = 0
    loan_application: Share = 0
    wealth_order: Share = 0
    fx_exchange: Share = 0
    enquiry: Share = 0
    complaint: Share = 0


class KioskMix(_Mix):
    balance: Share = 0
    statement: Share = 0
    cash_deposit: Share = 0
    cash_withdrawal: Share = 0
    own_transfer: Share = 0
    fx_quote: Share = 0
    ticket: Share = 0


class OnlineMix(_Mix):
    browse_slots: Share = 0
    book: Share = 0
    cancel: Share = 0
    check_in: Share = 0


class Mix(_Section):
    """Shares of business per channel; each channel's shares sum to 1."""

    counter: CounterMix
    kiosk: KioskMix
    online: OnlineMix


class Customers(_Section):
    high_value_share: Share = 0
    suspicious_share: Share = 0
    diversion: Share = Field(
        default=0, description="share of simple counter business sent elsewhere"
    )
    launch_share: Share = Field(
        default=0,
        description="share of wealth orders placed on the new-launch product (it sells out)",
    )
    locale: str = Field(
        default="zh_CN",
        pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$",
        description="a Faker locale such as zh_CN",
    )


class JourneySlo(_Section):
    p95_ms: float | None = Field(default=None, gt=0)
    p99_ms: float | None = Field(default=None, gt=0)
    error_rate: Share | None = None

    @model_validator(mode="after")
    def _p99_not_below_p95(self) -> JourneySlo:
        if self.p95_ms is not None and self.p99_ms is not None and self.p99_ms < self.p95_ms:
            raise ValueError(f"p99_ms {self.p99_ms:g} is below p95_ms {self.p95_ms:g}")
        return self


class ChannelSlo(JourneySlo):
    customer_wait_p95_s: float | None = Field(
        default=None, gt=0, description="p95 of request end minus the visit's scheduled start"
    )


class Slo(_Section):
    counter: ChannelSlo | None = None
    kiosk: ChannelSlo | None = None
    online: ChannelSlo | None = None
    operations: dict[Journey, JourneySlo] = Field(default_factory=dict)
    recovery_s: Duration | None = Field(
        default=None,
        description="longest time after a fault ends until every objective holds again",
    )


class Latency(_Section):
    """A service-time distribution in seconds, as the mock core's faults take it."""

    distribution: Literal["constant", "exponential", "lognormal"] = "lognormal"
    mean: float | None = Field(default=None, gt=0, le=600)
    median: float | None = Field(default=None, gt=0, le=600)
    p95: float | None = Field(default=None, gt=0, le=600)

    @model_validator(mode="after")
    def _parameters_fit_distribution(self) -> Latency:
        if self.distribution == "lognormal":
            if self.median is None or self.p95 is None:
                raise ValueError("a lognormal latency needs median and p95")
            if self.p95 <= self.median:
                raise ValueError("p95 must be greater than median")
        elif self.mean is None:
            raise ValueError(f"a {self.distribution} latency needs mean")
        return self


FaultKind = Literal[
    "latency",
    "error",
    "reset",
    "empty",
    "malformed",
    "hang",
    "slow_body",
    "lane_down",
    "brownout",
    "crash",
]
_LANE_KINDS = ("lane_down", "brownout")
CRASH: FaultKind = "crash"
"""Not a fault of the mock core's admin API: `surge rehearse` kills its embedded core (SIGKILL)
at `at` and starts it again on the same ledger and port `duration` later (`surge.run.crash`)."""


class Fault(_Section):
    """A fault scheduled at `at` seconds of the day for `duration` seconds (both run time).

    The other fields are those of the mock core's `POST /admin/faults`; a `crash` takes none of
    them (its `duration` is how long the core stays down before it is started again).
    """

    at: float = Field(description="seconds from t=0; the file may give HH:MM or an offset")
    duration: Duration
    kind: FaultKind
    target: str = Field(
        default="*",
        pattern=r"^(\*|lane:[A-Za-z0-9_-]+|path:/\S*)$",
        description="*, lane:NAME or path:GLOB",
    )
    probability: Share = 1.0
    latency: Latency | None = None
    status: int = Field(default=500, ge=400, le=599)
    seconds: float = Field(default=30, gt=0, le=600)
    share: float = Field(default=0.25, gt=0, lt=1)

    @field_validator("at", mode="before")
    @classmethod
    def _offset(cls, value: object) -> float:
        if isinstance(value, str) and ":" in value:
            clock_seconds(value)  # a valid clock time was converted already: this one is not
        return duration_seconds(value)

    @model_validator(mode="after")
    def _fits_kind(self) -> Fault:
        if self.kind == "latency" and self.latency is None:
            raise _Located("latency", "a latency fault needs latency (a service-time distribution)")
        if self.kind in _LANE_KINDS and not self.target.startswith("lane:"):
            raise _Located(
                "target", f"a {self.kind} fault targets a lane: target must be lane:NAME"
            )
        if self.kind == CRASH:
            fields = type(self).model_fields
            for name in ("target", "probability", "latency", "status", "seconds", "share"):
                if getattr(self, name) != fields[name].default:
                    raise _Located(name, "a crash fault takes only at, duration and kind")
        return self

    def admin_body(self, day_in_s: float = 0.0) -> dict[str, Any]:
        """The JSON for `POST /admin/faults`, posted `day_in_s` seconds before the day starts
        (so `start_in` is `at` after that)."""
        body = self.model_dump(mode="json", exclude={"at"}, exclude_none=True)
        return {**body, "start_in": self.at + day_in_s}


class Staffing(_Section):
    counters: int = Field(ge=1, le=100, description="counters open per branch")
    handling_minutes: dict[CounterJourney, Annotated[float, Field(gt=0, le=480)]]
    target_wait_minutes: float = Field(gt=0, le=480)
    target_service_level: float = Field(gt=0, le=1)


@dataclass(frozen=True)
class Segment:
    """A stretch of the day with a constant arrival rate, across all branches."""

    start_s: float
    end_s: float
    per_second: float
    phase: str = ""


class Profile(_Section):
    name: str = Field(
        pattern=r"^[A-Za-z0-9_-]{1,64}$", description="1 to 64 letters, digits, _ or -"
    )
    description: str = Field(min_length=1, max_length=300)
    seed: int = Field(ge=0)
    branches: int = Field(ge=1, le=500)
    day_start: Clock
    time_scale: float = Field(default=1.0, gt=0, description="set by scaled(); leave out of files")
    rate_scale: float = Field(default=1.0, gt=0, description="set by scaled(); leave out of files")
    phases: list[Phase] = Field(min_length=1)
    mix: Mix
    customers: Customers = Customers()
    slo: Slo = Slo()
    faults: list[Fault] = Field(default_factory=list)
    staffing: Staffing

    @model_validator(mode="before")
    @classmethod
    def _fault_clock_times_to_offsets(cls, data: Any) -> Any:
        """A fault may be given at a wall-clock time; the model keeps seconds from t=0."""
        if not isinstance(data, dict) or not isinstance(data.get("faults"), list):
            return data
        try:
            start = clock_seconds(data["day_start"])
            scale = float(data.get("time_scale", 1.0))
        except (KeyError, TypeError, ValueError):
            return data  # the field errors say what is wrong with day_start or time_scale
        if not scale > 0:
            return data
        faults = []
        for fault in data["faults"]:
            at = fault.get("at") if isinstance(fault, dict) else None
            if isinstance(at, str) and _CLOCK.match(at):
                fault = {**fault, "at": (clock_seconds(at) - start) / scale}
            faults.append(fault)
        return {**data, "faults": faults}

    @model_validator(mode="after")
    def _day_is_consistent(self) -> Profile:
        expected: float = clock_seconds(self.day_start)
        previous = None
        for i, phase in enumerate(self.phases):
            start = clock_seconds(phase.start)
            gap = start - expected
            if abs(gap) > _SLACK:
                after = f"'{previous}' ends" if previous else "the day starts"
                what = "a gap" if gap > 0 else "an overlap"
                raise _Located(
                    f"phases[{i}].start",
                    f"'{phase.name}' starts at {phase.start} but {after} at "
                    f"{_wall(expected)} ({what} of {format_duration(abs(gap))})",
                )
            expected = start + phase.duration * self.time_scale
            previous = phase.name
        if expected > DAY_SECONDS + _SLACK:
            raise _Located("phases", f"the day runs past midnight (to {_wall(expected)})")
        for i, phase in enumerate(self.phases):
            for channel in CHANNELS:
                written = getattr(phase.arrivals_per_hour, channel) / self.rate_scale
                if written > MAX_PER_HOUR * (1 + 1e-9):
                    raise _Located(
                        f"phases[{i}].arrivals_per_hour.{channel}",
                        f"{written:g} arrivals an hour per branch is above {MAX_PER_HOUR:g} "
                        "(a typo? raise the load with --rate-scale instead)",
                    )
        names = [phase.name for phase in self.phases]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise _Located(f"phases[{i}].name", f"'{name}' is used by an earlier phase")
        for i, fault in enumerate(self.faults):
            if fault.at < 0:
                raise _Located(
                    f"faults[{i}].at",
                    f"{self.wall_clock(fault.at)} is before the day starts at {self.day_start}",
                )
            if fault.at + fault.duration > self.duration_s + _SLACK:
                raise _Located(
                    f"faults[{i}]",
                    f"runs from {self.wall_clock(fault.at)} to "
                    f"{self.wall_clock(fault.at + fault.duration)}, past the day's end at "
                    f"{self.wall_clock(self.duration_s)}",
                )
        used = [op for op, share in self.mix.counter.shares().items() if share > 0]
        missing = [op for op in used if op not in self.staffing.handling_minutes]
        if missing:
            raise _Located(
                "staffing.handling_minutes",
                f"no handling time for {', '.join(missing)}, which the counter mix uses",
            )
        return self

    @property
    def duration_s(self) -> float:
        """Length of the rehearsed day in run seconds."""
        return sum(phase.duration for phase in self.phases)

    def wall_clock(self, t: float) -> str:
        """The wall-clock time ("HH:MM", or "HH:MM:SS" off the minute) of run time `t`."""
        total = clock_seconds(self.day_start) + t * self.time_scale
        return _wall(total)

    def segments(self, channel: Channel) -> list[Segment]:
        """The day as contiguous constant-rate stretches: what the arrival scheduler replays."""
        _check_channel(channel)
        segments, start = [], 0.0
        for phase in self.phases:
            per_hour = getattr(phase.arrivals_per_hour, channel) * self.branches
            end = start + phase.duration
            segments.append(Segment(start, end, per_hour / 3600, phase.name))
            start = end
        return segments

    def rate(self, channel: Channel, t: float) -> float:
        """Arrivals per second across all branches at run time `t`; 0 outside the day."""
        segments = self.segments(channel)
        if not 0 <= t < segments[-1].end_s:
            return 0.0
        index = bisect.bisect_right([s.start_s for s in segments], t) - 1
        return segments[index].per_second

    def channels_visited(self) -> frozenset[Channel]:
        """The channels the day's visits go through: those with arrivals, and those lobby
        diversion sends counter business to."""
        visited = {c for c in CHANNELS if any(getattr(p.arrivals_per_hour, c) for p in self.phases)}
        if "counter" in visited and self.customers.diversion:
            shares = self.mix.counter.shares()
            visited |= {channel for op, (channel, _) in DIVERSION.items() if shares[op]}
        return frozenset(visited)

    def expected_visits(self) -> float:
        """Visits the day expects on every channel together (rate × length, all branches)."""
        return sum(s.per_second * (s.end_s - s.start_s) for c in CHANNELS for s in self.segments(c))

    def scaled(self, time_scale: float = 1.0, rate_scale: float = 1.0) -> Profile:
        """The `--time-scale X` and `--rate-scale K` rules, one or both.

        Time: durations (the recovery bound too) and fault times divided by X, rates kept.
        Rates: every phase's arrivals per hour (every channel) multiplied by K, times kept;
        staffing and faults stay as they are, since a surge is more customers for the same
        branches.
        """
        for what, factor in (("time scale", time_scale), ("rate scale", rate_scale)):
            if not (math.isfinite(factor) and factor > 0):
                raise ValueError(f"{what} must be a number above 0, not {factor}")
        data = self.to_dict()
        data["time_scale"] = self.time_scale * time_scale
        data["rate_scale"] = self.rate_scale * rate_scale
        for item in (*data["phases"], *data["faults"]):
            item["duration"] /= time_scale
        if data["slo"]["recovery_s"] is not None:
            data["slo"]["recovery_s"] /= time_scale
        for fault in data["faults"]:
            fault["at"] /= time_scale
        for phase in data["phases"]:
            rates = phase["arrivals_per_hour"]
            for channel, per_hour in rates.items():
                rates[channel] = per_hour * rate_scale
        source = f"{self.name} at time scale {time_scale:g}, rate scale {rate_scale:g}"
        return Profile.from_dict(data, source=source)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; what a run folder records so reports never need the TOML file."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: object, source: str = "profile") -> Profile:
        """`data` (as `to_dict` writes it, read from anywhere) validated: anything that is not a
        profile is a `ProfileError` naming `source`."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ProfileError(_one_line(source, exc)) from None


def _wall(seconds_after_midnight: float) -> str:
    minutes, secs = divmod(round(seconds_after_midnight), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; channels are {', '.join(CHANNELS)}")


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that holds the last field of `loc`, for naming the fields it allows."""
    model: Any = Profile
    for part in loc[:-1]:
        if isinstance(part, int) or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = field.annotation
        while get_origin(model) is not None:  # list[X], X | None, dict[K, X]: keep X
            model = next((a for a in reversed(get_args(model)) if a is not type(None)), None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _one_line(source: str, exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = tuple(part for part in error["loc"] if part != "[key]")
    reason = error["msg"].removeprefix("Value error, ")
    ctx = error.get("ctx", {})
    model = _model_at(loc)
    if isinstance(ctx.get("error"), _Located):
        loc = (*loc, *ctx["error"].path.split("."))
    elif error["type"] == "missing":
        reason = "missing"
    elif error["type"] == "extra_forbidden":
        known = f"; expected one of: {', '.join(model.model_fields)}" if model else ""
        reason = f"unknown field{known}"
    elif "[key]" in error["loc"]:
        reason = f"unknown operation; expected one of: {ctx.get('expected', '?')}"
    elif error["type"] == "string_pattern_mismatch" and model is not None:
        description = model.model_fields[str(loc[-1])].description
        reason = f"{error['input']!r} is not {description}" if description else reason
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    return f"{source}: {path or '(top level)'}: {reason}".replace("\n", " ")


def profiles_dir() -> Path:
    """The shipped profiles (`surge.shipped`)."""
    return shipped.folder("profiles")


def list_profiles() -> list[str]:
    """Names of the shipped profiles, sorted."""
    return sorted(path.stem for path in profiles_dir().glob("*.toml"))


def _shown(path: Path) -> str:
    """A path as short as it stays unambiguous: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def resolve(name_or_path: str, time_scale: float = 1.0, rate_scale: float = 1.0) -> Profile:
    """The profile a run replays: loaded, then scaled (`--time-scale`, `--rate-scale`); bad
    input of either kind (`ProfileError`, `BadInput`) is one line naming the file or flag."""
    for flag, factor in (("--time-scale", time_scale), ("--rate-scale", rate_scale)):
        if not (math.isfinite(factor) and factor > 0):
            raise BadInput(f"{flag}: must be a number above 0, not {factor:g}")
    scaled = load_profile(name_or_path).scaled(time_scale, rate_scale)
    visits = scaled.expected_visits()
    if visits > MAX_VISITS:
        raise BadInput(
            f"--rate-scale: {rate_scale:g} gives {scaled.name} about {visits:,.0f} visits, more "
            f"than the {MAX_VISITS:,} one run may schedule"
        )
    return scaled


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name (`payday`), or any TOML file by path."""
    is_path = name_or_path.endswith(".toml") or os.sep in name_or_path or "/" in name_or_path
    path = Path(name_or_path) if is_path else profiles_dir() / f"{name_or_path}.toml"
    source = name_or_path if is_path else _shown(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if is_path:
            raise ProfileError(f"{source}: file not found") from None
        known = ", ".join(list_profiles()) or "none"
        raise ProfileError(f"{name_or_path}: no such profile (shipped: {known})") from None
    except IsADirectoryError:
        raise ProfileError(f"{source}: is a folder, not a profile file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}".replace("\n", " ")) from None
    return Profile.from_dict(data, source=source)
