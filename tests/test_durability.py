"""Acknowledged writes survive `kill -9` of a real service process, and are not applied twice."""

import os
import signal
import stat
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from mock_core import store
from mock_core.app import create_app
from mock_core.settings import load_settings
from tests.support import Api, auth, serve

LATENCY = {"distribution": "constant", "mean": 0.001}


def test_the_ledger_runs_in_wal_mode_with_synchronous_normal(tmp_path) -> None:
    # NORMAL (1) in WAL is what docs/mock-core.md promises: no acknowledged write lost to kill -9.
    conn = store.connect(tmp_path / "ledger.sqlite")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    finally:
        conn.close()


@pytest.mark.slow
def test_acknowledged_deposits_survive_kill_9_and_replay_after_restart(tmp_path) -> None:
    db = tmp_path / "ledger.sqlite"
    keys, acknowledged = [uuid.uuid4().hex for _ in range(40)], {}
    fault = {"kind": "latency", "target": "path:/nowhere", "latency": LATENCY}
    with serve(db, "--customers", "5") as (base, process), httpx.Client(base_url=base) as client:
        api = Api(client)
        account = api.customer_account()["id"]
        body = {"account_id": account, "amount": "10.00", "branch_id": "B001", "operator_id": "T1"}
        for key in keys:
            acknowledged[key] = api.ok(api.post("/v1/cash/deposits", body, key=key))
        added = api.ok(api.post("/admin/faults", fault, "admin", key="fault-1"))
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    with serve(db, "--customers", "5") as (base, _), httpx.Client(base_url=base) as client:
        api = Api(client)
        for key in keys:
            replay = api.post("/v1/cash/deposits", body, key=key)
            assert replay.status_code == 201
            assert replay.json() == acknowledged[key]
            assert replay.headers["Idempotent-Replayed"] == "true"
        last = acknowledged[keys[-1]]["balance"]
        assert api.ok(api.get(f"/v1/accounts/{account}"), 200)["balance"] == last
        assert api.reconcile()["ok"]
        # Issue 21: the fault's answer outlived the kill but the fault did not, and the next one
        # was given its number again.
        replayed = api.post("/admin/faults", fault, "admin", key="fault-1")
        assert (replayed.status_code, replayed.json()["id"]) == (201, added["id"])
        listed = api.ok(api.get("/admin/faults", "admin"), 200)
        assert [(f["id"], f["target"]) for f in listed] == [(added["id"], "path:/nowhere")]
        assert listed[0]["start_at"] == added["start_at"]
        following = api.ok(api.post("/admin/faults", fault, "admin"))
        assert following["id"] != added["id"]
        assert api.client.delete(f"/admin/faults/{added['id']}", headers=auth("admin")).is_success
    with serve(db, "--customers", "5") as (base, _), httpx.Client(base_url=base) as client:
        listed = Api(client).ok(Api(client).get("/admin/faults", "admin"), 200)
        assert [f["id"] for f in listed] == [following["id"]]  # the removal was kept too


def test_the_ledger_and_its_wal_and_shm_files_are_owner_only(tmp_path: Path) -> None:
    """Issue 21: in an ordinary folder they were 0644, and a reader had the session secret
    (a forged session then answered 200), PIN hashes and every personal number."""
    previous = os.umask(0o022)
    try:
        db = tmp_path / "ledger.sqlite"
        app = create_app(load_settings(customers=2, unlimited=True), db)
        with TestClient(app) as client:
            api = Api(client)
            account = api.customer_account("C00000001")["id"]
            body = {
                "account_id": account,
                "amount": "1.00",
                "branch_id": "B001",
                "operator_id": "T",
            }
            api.ok(api.post("/v1/cash/deposits", body))
            for name in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"):
                assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
        app.state.core.conn.close()
        old = tmp_path / "old.sqlite"
        old.touch(mode=0o644)
        store.connect(old).close()
        assert stat.S_IMODE(old.stat().st_mode) == 0o600
    finally:
        os.umask(previous)
