"""The embedded mock core of `surge rehearse`: a real `mock-core` process on loopback, set up like
the profile's branches, on a free port, with an admin token made for this rehearsal.

The harness talks to it over HTTP only, as to the real systems. What the core is told comes from
the profile: its branches, the counters each opens (`[staffing]`), its opening hours (the day's
span, for appointment slots) and the seed. Its lanes keep their defaults (docs/capacity.md), the
rehearsal measuring what those carry, unless `--core-config` gives a settings file in the core's
own format (a team's mock sized like its own systems). It seeds no customers, since the harness
onboards its own. The crash drill (`surge.run.crash`) kills it and starts it again on the same
ledger, port and token (`kill`, `restart`).

This process binds the core's listening socket and hands it to each core process it starts
(`mock-core --fd`), keeping it open itself until `stop`. So no other process can take the port
while the core is down in a crash drill: the harness's requests then wait in the socket's
queue for the restarted core, and never reach whoever bound the port meanwhile (they carry
card numbers, PINs, passwords and tokens). It also leaves no moment between choosing a free port
and binding it.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import struct
import subprocess
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from surge import children
from surge.day.profile import Profile
from surge.exits import BadInput

START_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
BACKLOG = 2048
"""Connections the kernel queues on the listening socket, as uvicorn's own default: while the
core restarts, every connection the harness opens waits there."""
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
    listener: socket.socket | None = None
    """The listening socket this process holds for the core's whole life (closed by `stop`)."""


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
    listener = listen()
    port = listener.getsockname()[1]
    command = [
        *children.script("mock-core", "mock_core"),
        *("--fd", str(listener.fileno())),
        *("--db", str(folder / "ledger.sqlite"), "--config", str(config)),
        *("--exit-with-parent", str(os.getpid())),
    ]
    url = f"http://{children.LOOPBACK}:{port}"
    core = Core(_spawn(command, env, log, listener), url, token, log, command, env, listener)
    try:
        if _answers(core):
            return core
    except BaseException:
        stop(core)
        raise
    stop(core)
    last = log_tail(core, lines=1)
    raise CoreError(f"the embedded mock core did not start: {last or 'no output'}")


def listen() -> socket.socket:
    """A listening socket on a free loopback port, for the core processes this one starts."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind((children.LOOPBACK, 0))
        listener.listen(BACKLOG)
    except BaseException:
        listener.close()
        raise
    return listener


def _spawn(
    command: list[str], env: dict[str, str], log: Path, listener: socket.socket | None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the rehearsal, which stops the core
            pass_fds=() if listener is None else (listener.fileno(),),
        )


def kill(core: Core) -> None:
    """SIGKILL, as a crash: no shutdown, no last transaction finished, no checkpoint. The
    listening socket stays open here: connections wait in its queue for `restart`."""
    core.process.send_signal(signal.SIGKILL)
    core.process.wait()


def refuse(core: Core) -> None:
    """Hold the port with no core behind it: accept every connection and reset it at once, so
    clients fail fast, as they would at a closed port, while no other process can bind it. For
    a core that did not come back: left in the socket's queue, their requests would wait for a
    core that never answers, each until its client's timeout."""
    listener = core.listener
    if listener is None:
        return

    def reset_each() -> None:
        # The core set the socket non-blocking, and its flags are this process's too (one open
        # file shared through `pass_fds`): accept would fail at once with EAGAIN.
        listener.setblocking(True)
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # the listener was closed (`stop`)
                return
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()

    threading.Thread(target=reset_each, name="refuse-connections", daemon=True).start()


def restart(core: Core) -> None:
    """The killed core started again as it was (ledger, settings, listening socket, admin
    token); return once it answers."""
    core.process = _spawn(core.command, core.env, core.log, core.listener)
    if not _answers(core):
        last = log_tail(core, lines=1)
        raise CoreError(f"the embedded mock core did not start again: {last or 'no output'}")


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
    try:
        children.stop(core.process, STOP_GRACE_S)
    finally:
        if core.listener is not None:
            core.listener.close()
