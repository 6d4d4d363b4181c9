"""`mock-core` refuses bad flags and settings with one line and exit code 2."""

import socket
import subprocess
import sys

import pytest


def run(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mock_core", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "10.1.2.3"], "not a loopback address"),
        (["--host", "example.org"], "not an IP address"),
        (["--port", "70000"], "--port"),
        (["--customers", "many"], "--customers"),
        (["--bogus"], "unrecognized arguments"),
        (["--config", "/nonexistent/x.toml"], "file not found"),
        (["--customers", "-3"], "customers"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_bad_config_names_the_file_and_field(tmp_path) -> None:
    config = tmp_path / "core.toml"
    config.write_text("[limits]\nkiosk_cash_max = -1\n")
    result = run("--config", str(config))
    assert result.returncode == 2
    assert f"{config}: limits.kiosk_cash_max:" in result.stderr


def test_a_config_that_is_not_toml_is_refused(tmp_path) -> None:
    config = tmp_path / "core.toml"
    config.write_text("[limits\n")
    result = run("--config", str(config))
    assert result.returncode == 2
    assert "not valid TOML" in result.stderr


def test_a_port_in_use_is_refused_with_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run("--port", str(taken.getsockname()[1]))
    assert result.returncode == 2
    assert "cannot listen" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
