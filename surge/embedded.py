"""The embedded mock core of `surge rehearse`: a real `mock-core` process on loopback, set up like
the profile's branches, on a free port, with an admin token made for this rehearsal.

The harness talks to it over HTTP only, as to the real systems. What the core is told comes from
the profile: its branches, the counters each opens (`[staffing]`), its opening hours (the day's
span, for appointment slots) and the seed. Its lanes keep their defaults (docs/capacity.md), the
rehearsal measuring what those carry, unless `--core-config` gives a settings file in the core's
own format (a team's mock sized like its own systems). It seeds no customers, since the harness
onboards its own. The crash drill (`surge.crash`) kills it and starts it again on the same ledger,
port and token (`kill`, `restart`).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from surge import children
from surge.exits import BadInput
from surge.profile import Profile

START_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
PORT_ATTEMPTS = 3
"""Another process may take the free port between choosing it and the core binding it."""
ADMIN_TOKEN_ENV = "MOCK_CORE_ADMIN_TOKEN"
"""mock_core.settings reads the admin token from here: kept off command lines and files."""


class CoreError(Exception):
    """The embedded core could not start, worded as one line."""


@dataclass
class Core:
    process: subprocess.Popen[bytes]
    """The core's process: a new one after each `restart`."""
    url: str
    admin_token: str
    log: Path
    command: list[str]
    env: dict[str, str]


def settings(profile: Profile, seed: int, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The core's `--config` settings for a profile (see mock_core/settings.py): its branches,
    counters and opening hours, no seeded customers; what `given` (a `--core-config` file in the
    core's own format: lanes, tokens, AML rules…) says wins, table by table."""
    closing = profile.wall_clock(profile.duration_s)[:5]  # "HH:MM" even off the minute
    branch = {
        "branches": profile.branches,
        "counters": profile.staffing.counters,
        "opening": profile.day_start,
        "closing": closing,
    }
    merged: dict[str, Any] = {"seed": seed, "customers": 0, "branch": branch}
    for key, value in (given or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def read_config(path: Path) -> dict[str, Any]:
    """A `--core-config` file, parsed; `BadInput` (one line) when it is not readable TOML. The
    core itself checks its fields when it starts."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"--core-config: {path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"--core-config: {path}: cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise BadInput(f"--core-config: {path}: not valid TOML: {error}") from None


CHANNEL_TOKENS = {who: f"LOCUST_{who.upper()}_TOKEN" for who in ("teller", "kiosk", "online")}
"""How the harness's environment names each channel's token."""


def tokens(config: Mapping[str, Any]) -> dict[str, str]:
    """The channel tokens a core config sets, as the harness's environment names them
    (`CHANNEL_TOKENS`): the journeys must present the core's own tokens."""
    given = config.get("tokens") if isinstance(config.get("tokens"), dict) else {}
    return {
        CHANNEL_TOKENS[who]: str(value)
        for who, value in (given or {}).items()
        if who in CHANNEL_TOKENS and isinstance(value, str)
    }


def start(
    profile: Profile, seed: int, folder: Path, given: Mapping[str, Any] | None = None
) -> Core:
    """Start the core with its ledger, settings (`settings`) and log in `folder`; return once
    it answers."""
    config = folder / "mock-core.toml"
    header = f"# The embedded mock core of a rehearsal of {profile.name}\n"
    config.write_text(header + tomli_w.dumps(settings(profile, seed, given)), encoding="utf-8")
    log = folder / "mock-core.log"
    token = secrets.token_urlsafe(24)
    env = {**os.environ, ADMIN_TOKEN_ENV: token, "PYTHONUNBUFFERED": "1"}
    last = ""
    for _ in range(PORT_ATTEMPTS):
        port = children.free_port()
        command = [
            *children.script("mock-core", "mock_core"),
            *("--host", children.LOOPBACK, "--port", str(port)),
            *("--db", str(folder / "ledger.sqlite"), "--config", str(config)),
            *("--exit-with-parent", str(os.getpid())),
        ]
        url = f"http://{children.LOOPBACK}:{port}"
        core = Core(_spawn(command, env, log), url, token, log, command, env)
        try:
            if _answers(core):
                return core
        except BaseException:
            stop(core)
            raise
        stop(core)
        last = log_tail(core, lines=1)
        if not _port_taken(last):
            break
    raise CoreError(f"the embedded mock core did not start: {last or 'no output'}")


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the rehearsal, which stops the core
        )


def _port_taken(line: str) -> bool:
    return any(taken in line for taken in ("cannot listen", "already in use"))


def kill(core: Core) -> None:
    """SIGKILL, as a crash: no shutdown, no last transaction finished, no checkpoint."""
    core.process.send_signal(signal.SIGKILL)
    core.process.wait()


def restart(core: Core) -> None:
    """The killed core started again as it was (ledger, settings, port, admin token); return
    once it answers. Its port was just freed, so another process may hold it for a moment:
    the start is tried again until `START_TIMEOUT_S` has passed."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        core.process = _spawn(core.command, core.env, core.log)
        if _answers(core):
            return
        last = log_tail(core, lines=1)
        if not _port_taken(last) or time.monotonic() > deadline:
            raise CoreError(f"the embedded mock core did not start again: {last or 'no output'}")
        time.sleep(0.2)


def _answers(core: Core) -> bool:
    """True once `/healthz` answers; False if the process ended first. Bounded in time."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if core.process.poll() is not None:
            return False
        try:
            if httpx.get(f"{core.url}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise CoreError(f"the embedded mock core did not answer within {START_TIMEOUT_S:g} s")


def log_tail(core: Core, lines: int = 20) -> str:
    """The core's last lines of output: why it ended, when it ended early."""
    text = core.log.read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.strip().splitlines()[-lines:])


def stop(core: Core) -> None:
    children.stop(core.process, STOP_GRACE_S)
