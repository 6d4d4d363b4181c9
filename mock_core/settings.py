"""The service's configuration: TOML file, then environment, then command-line overrides.

Every field has a default fit for local use, so `mock-core` runs with no file at all. A bad file
fails with one line naming the file, the field and the reason (`SettingsError`).
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SEED_MAX = 2**63 - 1
"""The largest seed: the idempotency fingerprint (orjson) and SQLite hold 64-bit integers."""
SERVICE_MIN = 1e-4
SERVICE_MAX = 60.0
"""Service-time parameters (mean, median, p95), seconds. Within them the widest lognormal's mean
stays finite (1.6e10 s); a median of 1e-300 overflowed it and broke `/admin/capacity`."""
DRAW_MAX = 600.0
"""The longest one drawn service time, seconds: the widest accepted lognormal (0.1 ms median,
60 s p95) still draws hours now and then, and a request must not hold its slot for ever."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Tokens(_Section):
    """Bearer tokens, one per channel. The defaults are for local use only, never printed. The
    admin one is the same everywhere, so a served core never takes it: with none set, `mock-core`
    makes one at start (`mock_core.cli`); only a core built in process (tests) keeps it."""

    teller: str = Field(default="teller-local-token", min_length=8)
    kiosk: str = Field(default="kiosk-local-token", min_length=8)
    online: str = Field(default="online-local-token", min_length=8)
    admin: str = Field(default="admin-local-token", min_length=8)


class SessionSettings(_Section):
    """Customer sessions of the kiosk and online channels; see docs/mock-core.md."""

    kiosk_ttl_s: float = Field(
        default=300, gt=0, le=86_400, description="a kiosk session's lifetime"
    )
    online_ttl_s: float = Field(
        default=1800, gt=0, le=86_400, description="an online session's lifetime"
    )
    max_failures: int = Field(
        default=3, ge=1, le=100, description="consecutive wrong PINs or passwords before a lock"
    )
    lock_s: float = Field(
        default=900,
        gt=0,
        le=86_400,
        description="how long a lock lasts; a count of failures not added to for as long is"
        " forgotten",
    )
    source_max_failures: int = Field(
        default=10,
        ge=1,
        le=100_000,
        description="failed logins one source (client address) may make in source_window_s;"
        " past them its logins are refused (429) before any card or login is tried",
    )
    source_window_s: float = Field(
        default=60, gt=0, le=86_400, description="the window source_max_failures is counted over"
    )
    max_failure_rows: int = Field(
        default=100_000,
        ge=100,
        le=10_000_000,
        description="failure counts of cards and logins kept at most; past it the oldest"
        " counts that lock nothing are forgotten",
    )


class AmlRules(_Section):
    """Screening thresholds. Amounts are CNY; foreign currency is converted at the mid rate."""

    large_cash_threshold: Decimal = Field(default=Decimal(50_000), gt=0)
    structuring_band: Decimal = Field(
        default=Decimal("0.8"),
        gt=0,
        lt=1,
        description="a deposit at or above this share of the threshold",
    )
    structuring_count: int = Field(default=3, ge=2)
    structuring_window_hours: float = Field(default=24, gt=0)
    fan_in_sources: int = Field(default=5, ge=2)
    fan_in_window_minutes: float = Field(default=60, gt=0)
    rapid_window_minutes: float = Field(default=60, gt=0)
    rapid_min_amount: Decimal = Field(default=Decimal(10_000), gt=0)
    rapid_out_share: Decimal = Field(default=Decimal("0.9"), gt=0, le=1)


class Limits(_Section):
    kiosk_cash_max: Decimal = Field(
        default=Decimal(5_000), gt=0, description="largest kiosk cash movement"
    )
    max_amount: Decimal = Field(
        default=Decimal(100_000_000), gt=0, description="larger is refused as absurd"
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="a longer request body is a 413",
    )
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="a longer request head (request line and headers) is a 431",
    )
    transfer_fee: Decimal = Field(
        default=Decimal(2), ge=0, description="counter transfer to another customer"
    )
    fx_spread: Decimal = Field(default=Decimal("0.005"), ge=0, lt=Decimal("0.2"))
    fx_quote_seconds: float = Field(default=30, gt=0)
    statement_page_max: int = Field(default=200, ge=1)
    idle_timeout_s: float = Field(
        default=5,
        gt=0,
        le=3600,
        description="a connection silent this long, before its first request or between"
        " requests, is closed",
    )
    head_timeout_s: float = Field(
        default=10,
        gt=0,
        le=3600,
        description="a request head not complete this long after its first byte is a 408",
    )
    max_connections: int = Field(
        default=2048,
        ge=16,
        le=1_000_000,
        description="connections open at once; one more is closed as soon as it is accepted",
    )


class Branching(_Section):
    branches: int = Field(default=4, ge=1, le=500)
    counters: int = Field(default=6, ge=1, le=100, description="counters per branch")
    slot_minutes: int = Field(default=30, ge=5, le=240)
    slot_capacity: int = Field(default=4, ge=1, le=1000)
    opening: str = Field(default="09:00", pattern=r"^\d\d:\d\d$")
    closing: str = Field(default="17:00", pattern=r"^\d\d:\d\d$")
    booking_days: int = Field(default=30, ge=1, le=365)
    tickets_per_customer: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="queue tickets a customer may hold waiting at once, taken in their own"
        " session (a teller may issue more)",
    )
    appointments_per_customer: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="booked appointments (today or later) a customer may hold at once: a"
        " working day's half-hour windows",
    )
    default_service_minutes: float = Field(default=8, gt=0)


class ServiceTime(_Section):
    """How long one request holds a lane slot, in seconds.

    `constant` and `exponential` take `mean`; `lognormal` takes `median` and `p95`, the two figures
    a core-banking team usually quotes for a transaction type.
    """

    distribution: Literal["constant", "exponential", "lognormal"] = "lognormal"
    mean: float | None = Field(default=None, ge=SERVICE_MIN, le=SERVICE_MAX)
    median: float | None = Field(default=None, ge=SERVICE_MIN, le=SERVICE_MAX)
    p95: float | None = Field(default=None, ge=SERVICE_MIN, le=SERVICE_MAX)

    @model_validator(mode="after")
    def _parameters_fit_distribution(self) -> ServiceTime:
        if self.distribution == "lognormal":
            if self.median is None or self.p95 is None:
                raise ValueError("a lognormal service time needs median and p95")
            if self.p95 <= self.median:
                raise ValueError("p95 must be greater than median")
        elif self.mean is None:
            raise ValueError(f"a {self.distribution} service time needs mean")
        return self


class LaneSettings(_Section):
    """A lane: `slots` requests served in parallel, `queue` more waiting, each for `timeout` s."""

    slots: int = Field(ge=1, le=100_000)
    queue: int = Field(ge=0, le=1_000_000)
    timeout: float = Field(gt=0, le=3600, description="longest wait for a slot before a 504")
    service: ServiceTime


def _lane(slots: int, queue: int, timeout: float, median_ms: float, p95_ms: float) -> LaneSettings:
    service = ServiceTime(median=median_ms / 1000, p95=p95_ms / 1000)
    return LaneSettings(slots=slots, queue=queue, timeout=timeout, service=service)


def _default_lanes() -> dict[str, LaneSettings]:
    """A mid-size bank's branch systems for a region of a few branches; see docs/capacity.md."""
    return {
        "teller-core": _lane(48, 480, 5.0, 40, 150),
        "kiosk-gateway": _lane(48, 480, 5.0, 60, 250),
        "booking": _lane(16, 160, 5.0, 50, 200),
        "queue": _lane(16, 160, 3.0, 15, 50),
        "fx": _lane(8, 80, 5.0, 80, 300),
        "wealth": _lane(8, 200, 10.0, 120, 500),
        "loans": _lane(4, 40, 10.0, 300, 1200),
        "enquiries": _lane(8, 80, 5.0, 30, 120),
    }


class LaneRouting(_Section):
    """Which lane serves a request: its channel's lane if listed, else its route tag's."""

    channels: dict[str, str] = Field(
        default_factory=lambda: {"kiosk": "kiosk-gateway", "online": "booking"}
    )
    tags: dict[str, str] = Field(
        default_factory=lambda: {
            "customers": "teller-core",
            "accounts": "teller-core",
            "cash": "teller-core",
            "transfers": "teller-core",
            "loans": "loans",
            "wealth": "wealth",
            "fx": "fx",
            "queue": "queue",
            "appointments": "booking",
            "enquiries": "enquiries",
        }
    )


class Server(_Section):
    """Who may address the service: see docs/mock-core.md, "Channels and scopes"."""

    allowed_hosts: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Host header values accepted besides the address served (its IP address or"
        " localhost, with its port); `*` accepts any",
    )


class Settings(_Section):
    seed: int = Field(default=42, ge=0, le=SEED_MAX)
    customers: int = Field(default=200, ge=0, le=1_000_000)
    locale: str = "zh_CN"
    tokens: Tokens = Tokens()
    sessions: SessionSettings = SessionSettings()
    aml: AmlRules = AmlRules()
    limits: Limits = Limits()
    server: Server = Server()
    branch: Branching = Branching()
    unlimited: bool = Field(
        default=False, description="no service time, no slot limits (benchmarks)"
    )
    lanes: dict[str, LaneSettings] = Field(default_factory=_default_lanes)
    lane_routing: LaneRouting = LaneRouting()
    fx_rates: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "USD": Decimal("7.1500"),
            "EUR": Decimal("7.8000"),
            "HKD": Decimal("0.9200"),
            "JPY": Decimal("0.0480"),
        },
        description="CNY per unit of each foreign currency (mid rate)",
    )

    @model_validator(mode="after")
    def _routing_names_known_lanes(self) -> Settings:
        routing = self.lane_routing
        for section, mapping in (("channels", routing.channels), ("tags", routing.tags)):
            for name, lane in mapping.items():
                if lane not in self.lanes:
                    raise ValueError(f"lane_routing.{section}.{name}: no lane named {lane!r}")
        return self


class SettingsError(Exception):
    """A configuration problem, worded as one line: file, field, reason."""


_ENV_TOKENS = {name: f"MOCK_CORE_{name.upper()}_TOKEN" for name in Tokens.model_fields}


def _merge_lanes(given: dict[str, Any]) -> dict[str, Any]:
    """A file that tunes one field of one lane keeps every other lane and field at its default."""
    merged: dict[str, Any] = {k: v.model_dump() for k, v in _default_lanes().items()}
    for name, lane in given.items():
        tuned = isinstance(lane, dict) and name in merged
        merged[name] = {**merged[name], **lane} if tuned else lane
    return merged


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read `path` (TOML) if given, apply token environment variables, then `overrides`."""
    data: dict[str, Any] = {}
    source = str(path) if path else "settings"
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"{path}: file not found") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    tokens = data.setdefault("tokens", {})
    if isinstance(tokens, dict):
        tokens.update({k: os.environ[v] for k, v in _ENV_TOKENS.items() if os.environ.get(v)})
    if isinstance(data.get("lanes"), dict):
        data["lanes"] = _merge_lanes(data["lanes"])
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise SettingsError(f"{source}: {field}: {first['msg']}") from None
