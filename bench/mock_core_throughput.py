"""Requests per second per core of the mock core, as ratios to a bare Starlette endpoint.

One run starts each server in turn pinned to core 0 and drives it with `wrk` pinned to core 1:
the reference (bench/reference_app.py, a constant JSON body), then the mock core with
`--unlimited` for a balance inquiry (read) and a teller cash deposit under a fresh Idempotency-Key
each time (write: ledger, idempotency store, AML screening). Ratios to the reference measured in
the same run cancel out the machine, so the targets (read >= 0.40, write >= 0.20) hold anywhere.

Exit codes: 0 targets met; 1 a target missed, more than 1% of requests failed, or the ledger
did not reconcile after the writes; 2 `wrk` or `taskset` missing, or a server would not start.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processes import (
    HOST,
    LOOPBACK_OPENER,
    SetupError,
    exit_on_sigterm,
    free_port,
    log_tail,
    stop,
    warn_if_busy,
)
from reference_app import PATH as REFERENCE_PATH

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
SERVER_CORE = "0"
LOAD_CORE = "1"
TELLER_TOKEN = "teller-local-token"
ADMIN_TOKEN = "admin-local-token"
CUSTOMERS = 200
DEPOSIT_CUSTOMERS = 100
WARMUP_SECONDS = 2
START_TIMEOUT_SECONDS = 30.0
MAX_FAILED_SHARE = 0.01
TARGETS = {"read": 0.40, "write": 0.20}
EXIT_OK, EXIT_MISSED, EXIT_SETUP = 0, 1, 2


@dataclass(frozen=True)
class WrkResult:
    requests: int
    requests_per_second: float
    non_2xx: int
    socket_errors: int

    @property
    def failed_share(self) -> float:
        """Socket errors count as failures too: a request that never got an answer is not served."""
        return (self.non_2xx + self.socket_errors) / max(self.requests, 1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=int, default=10, help="seconds per measured run (default 10)"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.connections < 1:
        parser.error("--duration and --connections must be at least 1")
    return args


def missing_tools() -> str | None:
    """Say what to install, since a missing load generator is a set-up gap, not a slow server."""
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        packages = " ".join("util-linux" if tool == "taskset" else tool for tool in missing)
        return f"missing {', '.join(missing)}; install with: apt-get install -y {packages}"
    cores = os.sched_getaffinity(0)
    if not {int(SERVER_CORE), int(LOAD_CORE)} <= cores:
        return f"needs cores {SERVER_CORE} and {LOAD_CORE} (server and load apart); have {cores}"
    return None


def get_json(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with LOOPBACK_OPENER.open(request, timeout=10) as response:
            return json.load(response)
    except OSError as exc:
        raise SetupError(f"GET {url} failed: {exc}") from exc


def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Poll until the server answers, so that no warm-up second is spent on its start-up."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SetupError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), LOOPBACK_OPENER.open(url, timeout=1):
            return
        time.sleep(0.1)
    raise SetupError(f"server did not answer {url} within {START_TIMEOUT_SECONDS:.0f} s")


@contextlib.contextmanager
def server(command: list[str], ready_path: str, port: int, workdir: Path) -> Iterator[str]:
    """Run `command` pinned to the server core; yield its base URL; always stop it."""
    log = workdir / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *command],
            cwd=REPO_DIR,
            env=server_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://{HOST}:{port}"
        wait_ready(process, base + ready_path, log)
        yield base
    except SetupError as exc:
        raise SetupError(f"{exc}\n--- end of the server's log ---\n{log_tail(log)}") from exc
    finally:
        stop(process)


def server_env() -> dict[str, str]:
    """Drop token overrides so the servers accept the default tokens this script sends, and set
    the admin token (a served core makes its own when none is set)."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith("MOCK_CORE_")}
    return {**kept, "MOCK_CORE_ADMIN_TOKEN": ADMIN_TOKEN}


def parse_wrk(output: str) -> WrkResult:
    """Read wrk's summary; a missing line is a changed wrk, so fail loudly rather than guess."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    if rate is None or total is None:
        raise SetupError(f"could not read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests=int(total.group(1)),
        requests_per_second=float(rate.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


def wrk(
    url: str,
    seconds: int,
    connections: int,
    headers: dict[str, str],
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> WrkResult:
    command = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    done = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=seconds + 30,
        check=False,
    )
    if done.returncode != 0:
        raise SetupError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout)


def measure(
    label: str,
    url: str,
    args: argparse.Namespace,
    headers: dict[str, str],
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> WrkResult:
    """Warm up first: the first second pays for connection set-up and cold caches, not work."""
    warm_env = {**(env or {}), "BENCH_RUN": f"{label}-warmup-{time.time_ns()}"}
    wrk(url, min(WARMUP_SECONDS, args.duration), args.connections, headers, script, warm_env)
    run_env = {**(env or {}), "BENCH_RUN": f"{label}-{time.time_ns()}"}
    result = wrk(url, args.duration, args.connections, headers, script, run_env)
    print(
        f"  {label:<9} {result.requests_per_second:>10,.0f} req/s"
        f"  ({result.requests:,} requests, {result.non_2xx} non-2xx,"
        f" {result.socket_errors} socket errors)",
        flush=True,
    )
    return result


def uvicorn_command(port: int) -> list[str]:
    """The reference on the stack the mock core's CLI gets from uvicorn: uvloop and httptools."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "reference_app:app",
        "--app-dir",
        str(BENCH_DIR),
        "--host",
        HOST,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def mock_core_command(port: int, db: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mock_core",
        "--unlimited",
        "--host",
        HOST,
        "--port",
        str(port),
        "--db",
        str(db),
        "--customers",
        str(CUSTOMERS),
    ]


def cny_accounts(base: str, customer_ids: list[str]) -> list[str]:
    """Deposit targets: every CNY account of these customers (deposits default to CNY)."""
    accounts: list[str] = []
    for customer_id in customer_ids:
        found = get_json(f"{base}/v1/customers/{customer_id}/accounts", TELLER_TOKEN)
        accounts += [a["id"] for a in found if a["currency"] == "CNY"]
    if not accounts:
        raise SetupError("the seeded customers hold no CNY accounts to deposit into")
    return accounts


def bench_reference(args: argparse.Namespace, workdir: Path) -> WrkResult:
    port = free_port()
    with server(uvicorn_command(port), REFERENCE_PATH, port, workdir) as base:
        return measure("reference", base + REFERENCE_PATH, args, {})


def bench_mock_core(
    args: argparse.Namespace, workdir: Path
) -> tuple[WrkResult, WrkResult, dict[str, Any]]:
    """Read then write against one mock core; reconcile after, as fast writes must stay right."""
    port = free_port()
    command = mock_core_command(port, workdir / "ledger.sqlite")
    with server(command, "/healthz", port, workdir) as base:
        customers = [f"C{n:08d}" for n in range(1, DEPOSIT_CUSTOMERS + 1)]
        accounts = cny_accounts(base, customers)
        teller = {"Authorization": f"Bearer {TELLER_TOKEN}"}
        read = measure("read", f"{base}/v1/accounts/{accounts[0]}", args, teller)
        write = measure(
            "write",
            f"{base}/v1/cash/deposits",
            args,
            {},
            script=BENCH_DIR / "deposit.lua",
            env={"BENCH_ACCOUNTS": ",".join(accounts), "BENCH_TELLER_TOKEN": TELLER_TOKEN},
        )
        reconciliation = get_json(f"{base}/admin/reconcile", ADMIN_TOKEN)
    return read, write, reconciliation


def verdict(
    reference: WrkResult, runs: dict[str, WrkResult], reconciliation: dict[str, Any]
) -> bool:
    """Print ratios against targets and every reason to fail; return whether all held."""
    passed = True
    print(f"\nratios to the reference ({reference.requests_per_second:,.0f} req/s):")
    for name, result in runs.items():
        ratio = result.requests_per_second / reference.requests_per_second
        met = ratio >= TARGETS[name]
        passed &= met
        print(
            f"  {name:<9} {ratio:6.3f}  target >= {TARGETS[name]:.2f}  {'met' if met else 'MISSED'}"
        )
    for name, result in {"reference": reference, **runs}.items():
        if result.failed_share > MAX_FAILED_SHARE:
            passed = False
            print(f"FAILED: {name}: {result.failed_share:.2%} of requests were not 2xx")
    failing = [check["name"] for check in reconciliation.get("checks", []) if not check["ok"]]
    print(f"reconcile after writes: ok {str(reconciliation.get('ok')).lower()}", end="")
    print(f" (failing: {', '.join(failing)})" if failing else "")
    passed &= reconciliation.get("ok") is True
    return passed


def run(args: argparse.Namespace) -> int:
    print(
        f"mock core throughput: server on core {SERVER_CORE}, wrk -t1 -c{args.connections}"
        f" -d{args.duration}s on core {LOAD_CORE} (after a {WARMUP_SECONDS} s warm-up)",
        flush=True,
    )
    warn_if_busy()
    with tempfile.TemporaryDirectory(prefix="mock-core-bench-") as tmp:
        workdir = Path(tmp)
        reference = bench_reference(args, workdir)
        read, write, reconciliation = bench_mock_core(args, workdir)
    return (
        EXIT_OK
        if verdict(reference, {"read": read, "write": write}, reconciliation)
        else EXIT_MISSED
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = missing_tools()
    if problem:
        print(f"mock_core_throughput: {problem}", file=sys.stderr)
        return EXIT_SETUP
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        return run(args)
    except SetupError as exc:
        print(f"mock_core_throughput: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        print("mock_core_throughput: interrupted; servers stopped", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
