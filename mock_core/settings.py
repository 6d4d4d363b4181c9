"""The service's configuration: TOML file, then environment, then command-line overrides.

Every field has a default fit for local use, so `mock-core` runs with no file at all. A bad file
fails with one line naming the file, the field and the reason (`SettingsError`).
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tokens(_Section):
    """Bearer tokens, one per channel. The defaults are for local use only and printed at start."""

    teller: str = Field("teller-local-token", min_length=8)
    kiosk: str = Field("kiosk-local-token", min_length=8)
    online: str = Field("online-local-token", min_length=8)
    admin: str = Field("admin-local-token", min_length=8)


class AmlRules(_Section):
    """Screening thresholds. Amounts are CNY; foreign currency is converted at the mid rate."""

    large_cash_threshold: Decimal = Field(Decimal(50_000), gt=0)
    structuring_band: Decimal = Field(
        Decimal("0.8"), gt=0, lt=1, description="a deposit at or above this share of the threshold"
    )
    structuring_count: int = Field(3, ge=2)
    structuring_window_hours: float = Field(24, gt=0)
    fan_in_sources: int = Field(5, ge=2)
    fan_in_window_minutes: float = Field(60, gt=0)
    rapid_window_minutes: float = Field(60, gt=0)
    rapid_min_amount: Decimal = Field(Decimal(10_000), gt=0)
    rapid_out_share: Decimal = Field(Decimal("0.9"), gt=0, le=1)


class Limits(_Section):
    kiosk_cash_max: Decimal = Field(Decimal(5_000), gt=0, description="largest kiosk cash movement")
    max_amount: Decimal = Field(
        Decimal(100_000_000), gt=0, description="larger is refused as absurd"
    )
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    transfer_fee: Decimal = Field(
        Decimal(2), ge=0, description="counter transfer to another customer"
    )
    fx_spread: Decimal = Field(Decimal("0.005"), ge=0, lt=Decimal("0.2"))
    fx_quote_seconds: float = Field(30, gt=0)
    statement_page_max: int = Field(200, ge=1)


class Branching(_Section):
    branches: int = Field(4, ge=1, le=500)
    counters: int = Field(6, ge=1, le=100, description="counters per branch")
    slot_minutes: int = Field(30, ge=5, le=240)
    slot_capacity: int = Field(4, ge=1, le=1000)
    opening: str = Field("09:00", pattern=r"^\d\d:\d\d$")
    closing: str = Field("17:00", pattern=r"^\d\d:\d\d$")
    booking_days: int = Field(30, ge=1, le=365)
    default_service_minutes: float = Field(8, gt=0)


class Settings(_Section):
    seed: int = 42
    customers: int = Field(200, ge=0, le=1_000_000)
    locale: str = "zh_CN"
    tokens: Tokens = Tokens()
    aml: AmlRules = AmlRules()
    limits: Limits = Limits()
    branch: Branching = Branching()
    fx_rates: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "USD": Decimal("7.1500"),
            "EUR": Decimal("7.8000"),
            "HKD": Decimal("0.9200"),
            "JPY": Decimal("0.0480"),
        },
        description="CNY per unit of each foreign currency (mid rate)",
    )


class SettingsError(Exception):
    """A configuration problem, worded as one line: file, field, reason."""


_ENV_TOKENS = {name: f"MOCK_CORE_{name.upper()}_TOKEN" for name in Tokens.model_fields}


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
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise SettingsError(f"{source}: {field}: {first['msg']}") from None
