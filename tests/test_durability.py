"""Acknowledged writes survive `kill -9` of a real service process, and are not applied twice."""

import signal
import uuid

import httpx
import pytest

from mock_core import store
from tests.support import Api, serve


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
    with serve(db, "--customers", "5") as (base, process), httpx.Client(base_url=base) as client:
        api = Api(client)
        account = api.customer_account()["id"]
        body = {"account_id": account, "amount": "10.00", "branch_id": "B001", "operator_id": "T1"}
        for key in keys:
            acknowledged[key] = api.ok(api.post("/v1/cash/deposits", body, key=key))
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
