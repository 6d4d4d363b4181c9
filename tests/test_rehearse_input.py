"""`surge rehearse` checks everything it is given before anything starts, and sets up what it
starts from the profile: the embedded core's settings and Locust's command line."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import tomli_w

from mock_core.settings import load_settings
from surge.day.profile import Profile, list_profiles, load_profile
from surge.run import embedded, rehearse
from tests.support import surge, surge_in_process


@pytest.mark.parametrize("name", list_profiles())
def test_every_shipped_profile_is_rehearsed_at_a_high_time_scale(name: str) -> None:
    """The rate scale follows the time scale: at 960 payday's kiosk lunch peak is 134,400
    arrivals an hour per branch, above what a profile file may write, and still a rehearsal
    (what the generator keeps up with is the verdict's to judge)."""
    chosen = rehearse.rehearsal(rehearse.RehearsalOptions(name, time_scale=960))
    assert chosen.profile.rate_scale == chosen.profile.time_scale == 960


def an_hour_earlier(name: str) -> Profile:
    """A shipped day moved to open an hour earlier: opening hours unlike the core's defaults."""
    data = load_profile(name).to_dict()
    data["day_start"] = "08:00"
    for phase in data["phases"]:
        hours, minutes = phase["start"].split(":")
        phase["start"] = f"{int(hours) - 1:02d}:{minutes}"
    return Profile.from_dict(data)


def test_the_embedded_core_settings_are_the_profile_s_branches_counters_and_hours() -> None:
    profile = an_hour_earlier("post_holiday").scaled(480, 2)
    data = embedded.settings(profile, seed=9)
    settings = load_settings(**data)  # the core's own loader takes what the rehearsal writes
    assert settings.branch.branches == profile.branches == 6
    assert settings.branch.counters == profile.staffing.counters == 7
    assert (settings.branch.opening, settings.branch.closing) == ("08:00", "16:00")
    assert (settings.seed, settings.customers) == (9, 0)


def test_a_core_config_sizes_the_embedded_core_and_the_profile_keeps_its_day(
    tmp_path: Path,
) -> None:
    config = tmp_path / "core.toml"
    config.write_text(
        '[lanes.kiosk-gateway]\nslots = 5\n[tokens]\nkiosk = "our-kiosk"\n[branch]\ncounters = 3\n',
        encoding="utf-8",
    )
    given = embedded.read_config(config)
    written = tmp_path / "mock-core.toml"
    written.write_text(tomli_w.dumps(embedded.settings(load_profile("payday"), 9, given)))
    settings = load_settings(written)  # as the core reads the file the rehearsal writes
    assert settings.lanes["kiosk-gateway"].slots == 5
    assert settings.branch.counters == 3  # the file wins, table by table
    assert settings.branch.branches == 6  # and the profile fills in the rest
    assert embedded.tokens(given) == {"LOCUST_KIOSK_TOKEN": "our-kiosk"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slots = [", "not valid TOML"),
        (None, "file not found"),
    ],
)
def test_a_core_config_that_cannot_be_read_is_refused_before_anything_starts(
    tmp_path: Path, text: str | None, message: str
) -> None:
    config = tmp_path / "core.toml"
    if text is not None:
        config.write_text(text, encoding="utf-8")
    done = surge_in_process(
        "rehearse", "--core-config", str(config), "--out", str(tmp_path / "out")
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"surge: --core-config: {config}: {message}")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_core_config_the_core_refuses_names_the_file_field_and_reason(tmp_path: Path) -> None:
    config = tmp_path / "core.toml"
    config.write_text("[lanes.kiosk-gateway]\nslots = -1\n", encoding="utf-8")
    done = surge("rehearse", "--core-config", str(config), "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert str(config) in line
    assert "lanes" in line
    assert "slots" in line
    assert not any((tmp_path / "out").iterdir())  # no empty run folder to mistake for a run


@pytest.mark.parametrize(
    "args", [["rehearse", "--time-scale", "5000"], ["capacity", "--from", "1", "--to", "1"]]
)
def test_a_results_folder_that_cannot_be_written_is_one_line_and_exit_2(args: list[str]) -> None:
    """/proc/sys exists and holds no new folder, even for root: one line, no traceback, and
    refused before the embedded core starts."""
    done = surge_in_process(*args, "--out", "/proc/sys")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        "surge: /proc/sys: cannot write a run folder there: No such file or directory"
    )
    assert "embedded mock core at" not in done.stdout


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="--workers is at most the cores")
def test_two_workers_are_locust_processes_on_one_free_loopback_port(tmp_path: Path) -> None:
    chosen = rehearse.rehearsal(
        rehearse.RehearsalOptions("weekday", time_scale=60, workers=2, out=tmp_path)
    )
    command = rehearse.locust_command(chosen, "http://127.0.0.1:9", tmp_path, tmp_path / "x")

    def value(flag: str) -> str:
        return command[command.index(flag) + 1]

    assert value("--processes") == "2"
    assert value("--master-bind-host") == "127.0.0.1"
    assert value("--master-port") == value("--master-bind-port")
    assert value("--rate-scale") == value("--time-scale") == "60"  # the rate scale follows


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "no_such_day"], "surge: no_such_day: no such profile (shipped: "),
        (["--time-scale", "0"], "surge: argument --time-scale: 0 must be a number above 0"),
        (["--time-scale", "fast"], "surge: argument --time-scale: 'fast' is not a number"),
        (["--rate-scale", "-1"], "surge: argument --rate-scale: -1 must be a number above 0"),
        (["--rate-scale", "1e7"], "surge: --rate-scale: 1e+07 gives payday about 169,687,500 "),
        (["--workers", "0"], "surge: --workers: 0 is not from 1 to "),
        (["--workers", "100000"], "surge: --workers: 100000 is not from 1 to "),
        (["--workers", "two"], "surge: argument --workers: 'two' is not a whole number"),
        (["--max-users", "2"], "surge: --max-users: at least 3"),
        (["--host", "ftp://core"], "surge: --host: 'ftp://core' is not an http:// or https://"),
        (["--admin-token", "secret-x"], "surge: --admin-token: only with --host"),
        (["payday"], "surge: 'payday': Locust's own options go after `--`"),
        (["--frobnicate"], "surge: unrecognized arguments: --frobnicate"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_starts_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "results"
    done = surge_in_process("rehearse", *args, "--out", str(out))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(message), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("command", ["rehearse", "capacity"])
def test_an_unreachable_host_is_bad_input_before_anything_starts(
    tmp_path: Path, command: str
) -> None:
    """Both commands check the target the same way (`surge.visit.target.check_reachable`): no run
    folder, no report of a run that never reached anything."""
    out = tmp_path / "results"
    done = surge_in_process(command, "--host", "http://127.0.0.1:9", "--out", str(out))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("surge: --host: cannot reach http://127.0.0.1:9: "), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_an_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.write_text("", encoding="utf-8")
    done = surge_in_process("rehearse", "--out", str(out))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"surge: --out: {out} is not a folder\n"


def test_tokens_exported_for_other_systems_do_not_reach_the_embedded_core() -> None:
    """A shell that exported LOCUST_TELLER_TOKEN for staging once made every onboarding call
    to the embedded core a 401 (exit 3); the core's own tokens, and its config's, are sent."""
    chosen = rehearse.rehearsal(rehearse.RehearsalOptions("payday", time_scale=480))
    core = embedded.Core(None, "http://127.0.0.1:1", "a", Path("x"), [], {})  # type: ignore[arg-type]
    exported = {"LOCUST_TELLER_TOKEN": "staging", "LOCUST_KIOSK_TOKEN": "staging", "PATH": "/bin"}
    env = rehearse.locust_environment(chosen, core, exported)
    assert "LOCUST_TELLER_TOKEN" not in env
    assert "LOCUST_KIOSK_TOKEN" not in env
    assert env["PATH"] == "/bin"
    configured = rehearse.locust_environment(
        replace(chosen, core_settings={"tokens": {"kiosk": "ours"}}), core, exported
    )
    assert configured["LOCUST_KIOSK_TOKEN"] == "ours"
    assert rehearse.locust_environment(chosen, None, exported)["LOCUST_TELLER_TOKEN"] == "staging"
