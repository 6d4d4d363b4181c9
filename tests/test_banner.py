"""The `mock-core` start banner prints no token: the operator's stay unshown, the rest go to a file
only the owner can read, whose path the banner prints."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from tests.support import TOKENS, auth, free_port, serve

pytestmark = pytest.mark.slow


def start_and_stop(tmp_path: Path, env: dict[str, str], *args: str) -> str:
    """Run a real mock-core until it answers, stop it, and return all it wrote."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_core", "--port", str(port), "--customers", "2", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return output.decode()


def test_tokens_the_operator_set_appear_nowhere_in_the_output(tmp_path: Path) -> None:
    config = tmp_path / "core.toml"
    config.write_text('[tokens]\nteller = "config-teller-secret"\n', encoding="utf-8")
    env = {"MOCK_CORE_ADMIN_TOKEN": "env-admin-secret"}
    output = start_and_stop(
        tmp_path, env, "--db", str(tmp_path / "ledger.sqlite"), "--config", str(config)
    )
    assert "serving http://" in output
    assert "env-admin-secret" not in output
    assert "config-teller-secret" not in output
    tokens_file = tmp_path / "ledger.sqlite.tokens"
    written = tokens_file.read_text(encoding="utf-8")
    assert "env-admin-secret" not in written
    assert "config-teller-secret" not in written
    assert TOKENS["kiosk"] in written
    assert TOKENS["online"] in written


def test_tokens_not_set_are_in_an_owner_only_file_whose_path_is_printed(tmp_path: Path) -> None:
    tokens_file = tmp_path / "secrets" / "core.tokens"
    tokens_file.parent.mkdir()
    output = start_and_stop(tmp_path, {}, "--tokens-file", str(tokens_file))
    for token in TOKENS.values():
        assert token not in output
    assert str(tokens_file) in output
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    written = tokens_file.read_text(encoding="utf-8")
    for name in ("teller", "kiosk", "online"):
        assert f'{name} = "{TOKENS[name]}"' in written
    assert 'admin = "' in written


def test_an_existing_tokens_file_is_made_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite"
    tokens_file = tmp_path / "ledger.sqlite.tokens"
    tokens_file.write_text("stale\n", encoding="utf-8")
    tokens_file.chmod(0o644)
    output = start_and_stop(tmp_path, {}, "--db", str(db))
    assert str(tokens_file) in output
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    assert "stale" not in tokens_file.read_text(encoding="utf-8")


def test_a_served_core_with_no_admin_token_set_makes_one_and_refuses_the_built_in(
    tmp_path: Path,
) -> None:
    """Issue 21: the built-in `admin-local-token` is the same on every machine."""
    db = tmp_path / "ledger.sqlite"
    with serve(db, "--customers", "1", admin_token=None) as (base, _):
        written = tomllib.loads((tmp_path / "ledger.sqlite.tokens").read_text(encoding="utf-8"))
        made = written["tokens"]["admin"]
        assert made != TOKENS["admin"]
        assert len(made) >= 32
        built_in = httpx.get(f"{base}/admin/reconcile", headers=auth("admin"))
        assert built_in.status_code == 401
        answered = httpx.get(f"{base}/admin/reconcile", headers={"Authorization": f"Bearer {made}"})
        assert answered.status_code == 200
        assert written["tokens"]["teller"] == TOKENS["teller"]
    with serve(db, "--customers", "1", admin_token=None) as (base, _):
        again = tomllib.loads((tmp_path / "ledger.sqlite.tokens").read_text(encoding="utf-8"))
        assert again["tokens"]["admin"] != made  # made anew at each start


def test_more_connections_than_open_files_allowed_is_bad_input(tmp_path: Path) -> None:
    config = tmp_path / "core.toml"
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard >= 1_000_000:
        pytest.skip("this machine allows more open files than the setting's bound")
    config.write_text(f"[limits]\nmax_connections = {hard}\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mock_core", "--config", str(config), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "limits.max_connections" in line
    assert "open files" in line
