"""`mock-core`: serve the mock core-banking service on loopback."""

from __future__ import annotations

import argparse
import ipaddress
import os
import resource
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from mock_core.settings import SettingsError, Tokens, load_settings

EXIT_BAD_INPUT = 2
"""The harness's code for bad input (`surge.exits.BAD_INPUT`), kept here as a copy: the mock core
stands for the bank's systems and imports nothing of the harness (docs/architecture.md)."""
SHUTDOWN_GRACE = 3
"""Seconds SIGTERM waits for requests in flight before cancelling them. Without a limit uvicorn
waits for every one, and a request held by a lane's service time or a hang fault (up to
`settings.DRAW_MAX` and 600 s) would keep a stopped service alive. Cancelling is safe: a write's
transaction has no `await` inside it, so a cancelled request has posted nothing or everything."""


ADMIN_TOKEN_BYTES = 24
"""Random bytes of an admin token made at start (32 characters, URL-safe)."""
PARENT_POLL_S = 0.5
"""How often `--exit-with-parent` looks for its parent."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"mock-core: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mock-core", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=8600)
    parser.add_argument("--db", type=Path, help="SQLite file (default: a new file in a temp dir)")
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument("--seed", type=int, help="seed for the generated customers (default 42)")
    parser.add_argument("--customers", type=int, help="customers to seed (default 200)")
    parser.add_argument(
        "--unlimited",
        action="store_true",
        default=None,
        help="no simulated service time or slot limits (for benchmarks)",
    )
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--exit-with-parent",
        type=int,
        metavar="PID",
        help="stop (as on SIGTERM) once process PID, which started this one, is gone",
    )
    parser.add_argument(
        "--fd",
        type=int,
        metavar="FD",
        help="serve on the listening loopback socket FD, inherited from the process that started"
        " this one (which so keeps the port while this one is restarted); instead of --host and"
        " --port",
    )
    parser.add_argument(
        "--tokens-file",
        type=Path,
        help="where the tokens the operator did not set are written, owner-only (default: next to"
        " the ledger, FILE.tokens)",
    )
    return parser


def _unsupplied_tokens(tokens: Tokens) -> dict[str, str]:
    """The tokens the operator did not set (file or environment), at their built-in value."""
    return {
        name: value
        for name, value in tokens.model_dump().items()
        if name not in tokens.model_fields_set
    }


def _write_tokens_file(path: Path, tokens: dict[str, str]) -> None:
    """Write `tokens` as a `[tokens]` TOML table only the owner can read.

    The banner lands in terminals, CI logs and rehearsal folders that others read; a file with
    mode 0600 does not. O_NOFOLLOW keeps a planted symlink from redirecting the write.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(fd, 0o600)  # O_CREAT's mode applies to a new file only
        out.write("# mock-core: the tokens in force that the operator did not set\n[tokens]\n")
        out.writelines(f'{name} = "{value}"\n' for name, value in tokens.items())


def _tokens_line(tokens: Tokens, unsupplied: dict[str, str], path: Path) -> str:
    """The banner's tokens line: names only, and where the unsupplied tokens' values are."""
    supplied = [name for name in tokens.model_dump() if name not in unsupplied]
    parts = [f"{', '.join(supplied)} set by the operator (not shown)"] if supplied else []
    if unsupplied:
        parts.append(f"{', '.join(unsupplied)} in {path} (owner only)")
    return "; ".join(parts)


def _check_loopback(host: str) -> str | None:
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return None
    except ValueError:
        return f"--host: {host!r} is not an IP address or localhost"
    return f"--host: {host} is not a loopback address; the mock core serves loopback only"


def _listen_problem(host: str, port: int) -> str | None:
    """Why uvicorn could not listen there (it would exit 1 with a traceback-like log), or None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            return f"--port: cannot listen on {host}:{port}: {exc.strerror}"
    return None


def _inherited(fd: int) -> tuple[socket.socket | None, str]:
    """The listening socket `--fd` names, or (None, why it cannot be served on)."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        return None, f"--fd: {fd} is not a socket: {exc.strerror}"
    listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    if sock.type != socket.SOCK_STREAM or not listening:
        sock.detach()
        return None, f"--fd: {fd} is not a listening TCP socket"
    host = str(sock.getsockname()[0])
    problem = _check_loopback(host)
    if problem:
        sock.detach()
        return None, f"--fd: {fd} listens on {host}, not a loopback address"
    return sock, ""


FILES_RESERVED = 64
"""Open files the service needs besides its connections: the ledger, its WAL, logs, the
listening socket, Python's own."""


def _room_for_connections(max_connections: int) -> str | None:
    """Raise this process's limit on open files to fit `max_connections`; why not, or None.
    Without it, sockets left open by clients used up the files (a soft limit of 1,024 is
    common) and the service could accept nothing, not even its health check."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + FILES_RESERVED
    if soft >= needed or soft == resource.RLIM_INFINITY:
        return None
    if hard != resource.RLIM_INFINITY and hard < needed:
        return (
            f"limits.max_connections: {max_connections} connections need {needed} open files,"
            f" and this process may open {hard} (ulimit -Hn)"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return None


def _exit_with_parent(pid: int) -> None:
    """A service started for one rehearsal stops when the rehearsal is gone, however it went:
    killed with SIGKILL, it could not stop its children, and the core would serve on, orphaned.
    Once orphaned a process is re-parented, so its parent's pid changes."""

    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(PARENT_POLL_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sock: socket.socket | None = None
    if args.fd is not None:
        sock, problem = _inherited(args.fd)
        if sock is not None:
            args.host, args.port = str(sock.getsockname()[0]), int(sock.getsockname()[1])
    else:
        problem = _check_loopback(args.host) or ""
        if not problem and not 0 < args.port < 65536:
            problem = f"--port: {args.port} is not a TCP port"
        problem = problem or _listen_problem(args.host, args.port) or ""
    if problem:
        print(f"mock-core: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        settings = load_settings(
            args.config, seed=args.seed, customers=args.customers, unlimited=args.unlimited
        )
    except SettingsError as exc:
        print(f"mock-core: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    problem = _room_for_connections(settings.limits.max_connections) or ""
    db = args.db or Path(tempfile.mkdtemp(prefix="mock-core-")) / "ledger.sqlite"
    if not problem and not db.parent.is_dir():
        problem = f"--db: folder {db.parent} does not exist"
    if problem:
        print(f"mock-core: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    tokens = settings.tokens
    unsupplied = _unsupplied_tokens(tokens)
    if "admin" in unsupplied:
        # The built-in admin token is the same everywhere: a served core never takes it.
        unsupplied["admin"] = secrets.token_urlsafe(ADMIN_TOKEN_BYTES)
        tokens = tokens.model_copy(update={"admin": unsupplied["admin"]})
        settings = settings.model_copy(update={"tokens": tokens})
    tokens_file = args.tokens_file or db.with_name(db.name + ".tokens")
    if unsupplied:
        try:
            _write_tokens_file(tokens_file, unsupplied)
        except OSError as exc:
            print(f"mock-core: --tokens-file: cannot write {tokens_file}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT

    if args.exit_with_parent is not None:
        _exit_with_parent(args.exit_with_parent)

    import uvicorn

    from mock_core.app import create_app
    from mock_core.protocol import HeadLimitedProtocol

    app = create_app(settings, db)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"mock-core: serving http://{host}:{args.port} (docs at /docs), ledger {db}\n"
        f"  {settings.customers} customers seeded with seed {settings.seed}\n"
        f"  tokens: {_tokens_line(tokens, unsupplied, tokens_file)}",
        flush=True,
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        http=HeadLimitedProtocol.configured(settings.limits),
        # uvicorn declares an int but only hands it to loop.call_later, which takes a float.
        timeout_keep_alive=settings.limits.idle_timeout_s,  # type: ignore[arg-type]
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    try:
        uvicorn.Server(config).run(sockets=None if sock is None else [sock])
    finally:
        app.state.core.conn.close()
    return 0
