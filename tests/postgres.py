"""A throwaway PostgreSQL server for the history's tests: Debian's `postgresql` package (which
.ci/run installs), a fresh cluster in a temporary folder, on a free loopback port, stopped and
removed at the end. As root (CI), the server runs as an unprivileged user, since PostgreSQL
refuses to run as root."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.support import free_port

START_S = 30.0
"""The server answers within this, or the fixture fails."""
STOP_S = 10.0
USER = "surge"
"""The cluster's superuser (trust authentication on loopback: a test server)."""


def binaries() -> Path:
    """The newest installed server's bin folder."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: p.parts[-3])
    assert found, "Debian's postgresql is needed: apt-get install -y postgresql"
    return found[-1].parent


def _as_owner(folder: Path) -> list[str]:
    """The prefix that runs a command as the folder's owner: as root, an unprivileged user."""
    if os.geteuid() != 0:
        return []
    owner = pwd.getpwnam("postgres") if _has_user("postgres") else pwd.getpwnam("nobody")
    os.chown(folder, owner.pw_uid, owner.pw_gid)
    return ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--clear-groups"]


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@contextmanager
def server() -> Iterator[str]:
    """A running server; yields its SQLAlchemy URL (the `postgres` database)."""
    folder = Path(tempfile.mkdtemp(prefix="surge-postgres-"))
    folder.chmod(0o700)
    prefix = _as_owner(folder)
    bin_dir = binaries()
    data, port = folder / "data", free_port()
    process: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
             "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, timeout=60, cwd=folder,
        )  # fmt: skip
        process = subprocess.Popen(
            [*prefix, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={folder}",
             "-c", "fsync=off", "-c", "full_page_writes=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=folder,
        )  # fmt: skip
        _wait(port, process)
        yield f"postgresql://{USER}@127.0.0.1:{port}/postgres"
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)  # a fast shutdown
            try:
                process.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _wait(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise AssertionError(f"postgres ended at start: {said[-2000:]}")
        try:
            with psycopg.connect(
                host="127.0.0.1", port=port, user=USER, dbname="postgres", connect_timeout=2
            ):
                return
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise AssertionError(f"postgres did not answer on port {port} within {START_S:.0f} s")
