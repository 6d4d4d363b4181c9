"""Child processes of `surge rehearse`: found beside this interpreter, given free loopback ports,
and stopped as whole process groups, so nothing outlives the command that started it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

LOOPBACK = "127.0.0.1"


def script(name: str, module: str) -> list[str]:
    """The console script `name` of this environment, or `python -m module` when there is none
    (the package run from a source tree): either way the code of the interpreter running now."""
    beside = Path(sys.executable).parent / name  # not resolved: a venv's python is a symlink
    return [str(beside)] if beside.exists() else [sys.executable, "-m", module]


def free_port() -> int:
    """A TCP port free on loopback now; the caller retries if another process takes it first."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def stop(
    process: subprocess.Popen[bytes], grace_s: float, first: signal.Signals = signal.SIGTERM
) -> None:
    """`first` to the child's process group (its own session: a forked Locust worker too), then
    SIGKILL if it has not ended within `grace_s`."""
    for sig, wait_s in ((first, grace_s), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait_s)
    # The leader may be gone while a forked worker of its group lives on: end the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
