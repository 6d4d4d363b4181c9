"""The proof with a second API: a short payday rehearsed through `examples.bindings.branch_api`
against Branch API v2 (`examples.bindings.branch_api_server`) on loopback, in front of a mock
core, and the same day through the default binding against that core directly.

Real processes throughout: the mock core, the gateway, `surge rehearse` and its Locust. The
gateway's access tokens live 5 s, so the harness refreshes its OAuth2 token during the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from examples.bindings.branch_api import BranchApi
from examples.bindings.branch_api_server.access import Access, Client
from surge import exits, runfolder
from surge.exits import BadInput
from surge.judge import verdict
from surge.runfolder import RunFolder
from surge.visit import credentials
from surge.visit.binding import BindingOptions
from surge.visit.customers import CUSTOMER_SECRET_ENV
from surge.visit.values import Tokens
from tests.support import TOKENS, free_port, serve, surge

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SPEC = "examples.bindings.branch_api:BranchApi"
CLIENT_ID, SECRET = "surge-harness", "example-client-secret"
TOKEN_TTL_S = 5
SHORT = ["--profile", "payday", "--time-scale", "4320", "--rate-scale", "100"]
"""Payday's 8 hours in under 7 s, about 200 visits."""
FEW_CUSTOMERS = ["--", "--customers", "20"]


@contextmanager
def branch_api(core: str) -> Iterator[str]:
    """The gateway in front of `core` on a free loopback port, until the block ends."""
    port = free_port()
    env = {
        **os.environ,
        "BRANCH_API_CLIENT_ID": CLIENT_ID,
        "BRANCH_API_CLIENT_SECRET": SECRET,
        "BRANCH_API_CORE_ADMIN_TOKEN": TOKENS["admin"],
    }
    command = [sys.executable, "-m", "examples.bindings.branch_api_server", "--core", core]
    command += ["--port", str(port), "--token-ttl", str(TOKEN_TTL_S)]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the gateway exited: {process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{base}/api/v2/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the gateway did not come up in 30 s")
            time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class Day:
    done: subprocess.CompletedProcess[str]
    folder: Path

    @property
    def read(self) -> RunFolder:
        return runfolder.load(self.folder)

    def visits(self) -> dict[float, set[tuple[str, str, str]]]:
        """The started visits' (channel, journey, customer), by scheduled start in the day (to
        the millisecond, which two visits may share)."""
        read = self.read
        table = read.requests(["channel", "journey", "scheduled", "customer"]).to_pylist()
        start = read.info.day_start or 0.0
        found: dict[float, set[tuple[str, str, str]]] = {}
        for row in table:
            at = round(row["scheduled"] - start, 3)
            found.setdefault(at, set()).add((row["channel"], row["journey"], row["customer"]))
        return found


def rehearse(out: Path, host: str, *args: str, env: dict[str, str]) -> Day:
    done = surge(
        "rehearse", *SHORT, "--host", host, "--out", str(out), *args, *FEW_CUSTOMERS, env=env
    )
    named = [line for line in done.stdout.splitlines() if line.startswith("Run folder: ")]
    return Day(done, Path(named[-1].removeprefix("Run folder: ")) if named else out)


@dataclass
class Proof:
    gateway: str
    example: Day
    default: Day


@pytest.fixture(scope="module")
def proof(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proof]:
    tmp = tmp_path_factory.mktemp("binding-example")
    # Only the processes' own variables: none of the test process's SURGE_* may leak in.
    plain = {k: v for k, v in os.environ.items() if not k.startswith("SURGE_")}
    plain["PYTHONPATH"] = str(ROOT)  # the binding's module, for surge and its Locust
    # One customer secret for both runs (docs/bindings.md): the same people, so the second run
    # finds the customers the first onboarded. Without it each run against a target other than
    # the embedded core makes people of its own, whose logins the seed alone cannot make.
    plain[CUSTOMER_SECRET_ENV] = "binding-example"
    with serve(tmp / "ledger.sqlite") as (core, _), branch_api(core) as gateway:
        oauth2 = {
            "SURGE_OAUTH2_TOKEN_URL": f"{gateway}/oauth/token",
            "SURGE_OAUTH2_CLIENT_ID": CLIENT_ID,
            "SURGE_OAUTH2_CLIENT_SECRET": SECRET,
        }
        example = rehearse(
            tmp / "example",
            gateway,
            *("--binding", SPEC, "--allow-host", "127.0.0.1"),
            env={**plain, **oauth2},
        )
        default = rehearse(tmp / "default", core, env=plain)
        yield Proof(gateway, example, default)


def test_a_short_payday_through_the_example_binding_is_valid_evidence_with_a_report(
    proof: Proof,
) -> None:
    done = proof.example.done
    # The gate may fail (the gateway doubles every hop): the evidence must be valid all the same.
    assert done.returncode in (exits.OK, exits.GATE_FAILED), done.stdout[-3000:] + done.stderr
    assert done.stdout.strip().splitlines()[-1] == f"Report: {proof.example.folder / 'report.html'}"
    read = proof.example.read
    assert verdict.judge(read).valid
    assert read.info.binding == SPEC
    assert read.info.mock_core is False
    assert read.info.credentials == {"token": "oauth2", "tls": "none"}
    names = set(read.requests(["name"]).column("name").to_pylist())
    assert names
    assert all(name.startswith("/api/v2/") for name in names), names
    outcomes = read.requests(["outcome"]).column("outcome").to_pylist()
    assert read.info.end is not None
    assert read.info.end - read.info.start > TOKEN_TTL_S  # the run outlived its first token…
    assert outcomes.count("failed") == 0  # …and no request met it expired
    assert "refused" in outcomes  # business refusals come back as this API's 409s


def test_the_ledger_under_the_example_api_is_checked_by_the_bindings_own_reconcile(
    proof: Proof,
) -> None:
    reconcile = proof.example.read.reconcile
    assert reconcile is not None
    assert reconcile["ok"] is True
    assert "money_conserved" in {check["name"] for check in reconcile["checks"]}
    assert "ledger    reconciled: ok" in proof.example.done.stdout
    # The checks only the mock core's /admin routes answer are said not to have run.
    assert "writes    could not run" in proof.example.done.stdout


def test_the_visit_plan_is_the_same_as_the_default_bindings(proof: Proof) -> None:
    assert proof.default.done.returncode in (exits.OK, exits.GATE_FAILED), proof.default.done
    example, default = proof.example.read, proof.default.read
    assert default.info.binding == "surge.bindings.mock_core:MockCore"
    assert example.visits is not None
    assert default.visits is not None
    planned = {c: v.planned for c, v in example.visits.channels.items()}
    assert planned == {c: v.planned for c, v in default.visits.channels.items()}
    assert sum(planned.values()) > 100
    # The same customers (onboarding's keys are the same, answered again by the core) doing the
    # same business at the same moments of the day, whichever API carried it.
    mine, reference = proof.example.visits(), proof.default.visits()
    both = mine.keys() & reference.keys()
    assert len(both) >= 0.9 * min(len(mine), len(reference))
    assert {t: mine[t] for t in both} == {t: reference[t] for t in both}


def test_the_gateway_answers_in_its_own_error_shape_with_a_refusal_as_409(proof: Proof) -> None:
    token = httpx.post(
        f"{proof.gateway}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, SECRET),
    ).json()
    assert token["expires_in"] == TOKEN_TTL_S
    headers = {"Authorization": f"Bearer {token['access_token']}", "X-Channel": "branch"}
    account = httpx.get(
        f"{proof.gateway}/api/v2/customers/C00000001/accounts", headers=headers
    ).json()[0]
    movement = {
        "direction": "out",
        "accountNo": account["accountNo"],
        "amountMinor": account["balanceMinor"] + 100,
        "currency": account["currency"],
        "siteCode": "B001",
        "operator": "T-B001-C01",
    }
    keyed = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    refused = httpx.post(f"{proof.gateway}/api/v2/cash-movements", json=movement, headers=keyed)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/json"
    assert set(refused.json()) == {"error"}
    bad = httpx.post(
        f"{proof.gateway}/api/v2/cash-movements",
        json={**movement, "amountMinor": "12.00"},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "amountMinor"


def test_an_expired_access_token_is_refused_and_a_fresh_one_accepted() -> None:
    now = [1_000.0]
    access = Access({"c": Client("c", "s", frozenset({"branch"}))}, 60, clock=lambda: now[0])
    token = str(
        access.issue(b"grant_type=client_credentials&client_id=c&client_secret=s", None)[
            "access_token"
        ]
    )
    assert access.grant(f"Bearer {token}", "branch").client_id == "c"
    now[0] += 60
    with pytest.raises(Exception, match="expired"):
        access.grant(f"Bearer {token}", "branch")


def test_the_example_binding_without_oauth2_credentials_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (credentials.FILE, *credentials.FIELDS):
        monkeypatch.delenv(name, raising=False)
    options = BindingOptions("http://127.0.0.1:1", Tokens("t", "k", "o"), credentials.NONE)
    with pytest.raises(BadInput, match="OAuth2 client credentials"):
        BranchApi(options)
