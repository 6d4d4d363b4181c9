"""The `mock-core` start banner prints no token: the operator's stay unshown, the rest go to a file
only the owner can read, whose path the banner prints."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import TOKENS, free_port

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
    for name, token in TOKENS.items():
        assert f'{name} = "{token}"' in written


def test_an_existing_tokens_file_is_made_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite"
    tokens_file = tmp_path / "ledger.sqlite.tokens"
    tokens_file.write_text("stale\n", encoding="utf-8")
    tokens_file.chmod(0o644)
    output = start_and_stop(tmp_path, {}, "--db", str(db))
    assert str(tokens_file) in output
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    assert "stale" not in tokens_file.read_text(encoding="utf-8")
