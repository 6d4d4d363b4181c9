"""The benchmarks' process plumbing: free ports and stopping whole process groups (the harness's
own, `surge.children`), a busy-machine warning, and SIGTERM turned into a clean exit, so no server
outlives a benchmark."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from surge import children
from surge.children import free_port

HOST = children.LOOPBACK
STOP_TIMEOUT_S = 5.0
BUSY_LOAD = 0.5
LOOPBACK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""For the benchmarks' own HTTP calls: proxies from the environment must not see them."""
__all__ = [
    "HOST",
    "LOOPBACK_OPENER",
    "SetupError",
    "exit_on_sigterm",
    "free_port",
    "in_work_folder",
    "log_tail",
    "stop",
    "warn_if_busy",
]


EXIT_SETUP = 2
"""Every benchmark's exit code when it could not run at all (`SetupError`)."""


class SetupError(Exception):
    """The benchmark could not run at all (as opposed to running and missing a target)."""


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the process's whole group, escalating, so nothing outlives the benchmark."""
    children.stop(process, STOP_TIMEOUT_S)


def log_tail(log: Path, lines: int = 25) -> str:
    """A process's last words: a failed request's traceback is the fastest route to the cause."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def warn_if_busy() -> None:
    """Other work on the two cores skews runs unevenly, so ratios from a busy machine mislead."""
    load = os.getloadavg()[0]
    if load > BUSY_LOAD:
        print(
            f"warning: load average {load:.2f}: other processes share the cores; figures are noisy"
        )


def exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into SystemExit so the `finally` blocks still stop the servers."""
    sys.exit(128 + signum)


def in_work_folder(name: str, keep: bool, body: Callable[[Path], int]) -> int:
    """`body` in a new temporary work folder, removed after unless `keep`: SIGTERM and Ctrl-C end
    it through the `finally` blocks that stop its servers, and a `SetupError` is one line and
    exit 2. The exit code is `body`'s."""
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    try:
        return body(workdir)
    except SetupError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        print(f"{name}: interrupted; servers stopped", file=sys.stderr)
        return 128 + signal.SIGINT
    finally:
        if keep:
            print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
