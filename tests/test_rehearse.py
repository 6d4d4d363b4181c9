"""`surge rehearse`: one command, an embedded mock core, Locust headless, a run folder, a verdict.

The rehearsals here are real processes (the `surge` command, its `mock-core` and `locust`
children) replaying `weekday` compressed to a few seconds; the bad-input cases start nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_core.settings import load_settings
from surge import embedded, rehearse, runfolder, verdict
from surge.profile import Profile, list_profiles, load_profile

TIME_SCALE, RATE_SCALE = "4320", "100"  # weekday's 8 hours in under 7 s, about 60 visits
SHORT = ["--profile", "weekday", "--time-scale", TIME_SCALE, "--rate-scale", RATE_SCALE]
FEW_CUSTOMERS = ["--", "--customers", "20"]  # onboarding 200 through the core's lanes takes 25 s


def surge(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "surge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def processes_naming(text: str) -> list[str]:
    """Command lines of live processes that mention `text` (this test's own folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended while we looked
        if text in argv:
            found.append(argv)
    return found


def refused(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=2)
    except httpx.ConnectError:
        return True
    return False


class Rehearsal:
    def __init__(self, tmp: Path) -> None:
        self.out = tmp / "results"
        self.done = surge("rehearse", *SHORT, "--out", str(self.out), *FEW_CUSTOMERS)
        last = self.done.stdout.strip().splitlines()[-1] if self.done.stdout.strip() else ""
        self.folder = Path(last.removeprefix("Run folder: "))


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Rehearsal:
    return Rehearsal(tmp_path_factory.mktemp("rehearse"))


def test_a_short_rehearsal_is_valid_evidence_and_ends_with_its_run_folder(
    short: Rehearsal,
) -> None:
    assert short.done.returncode == 0, short.done.stdout[-3000:] + short.done.stderr[-3000:]
    assert short.done.stdout.strip().splitlines()[-1].startswith("Run folder: ")
    assert short.folder.parent == short.out
    assert short.folder.name.endswith("-weekday")
    for name in ("run.json", "summary.json", "reconcile.json", "locust.log"):
        assert (short.folder / name).is_file(), name
    read = runfolder.load(short.folder)
    assert verdict.judge(read).valid
    assert read.request_count > 0
    assert read.reconcile is not None
    assert read.reconcile["ok"] is True
    assert read_json(short.folder / "summary.json")["verdict"]["valid"] is True
    assert "Rehearsal against the embedded mock core: valid evidence" in short.done.stdout
    assert "ledger    reconciled: ok" in short.done.stdout
    assert read.visits is not None
    total = read.visits.total
    assert f"{total.planned} planned: {total.started} started" in short.done.stdout


def test_the_run_records_both_scales_and_the_embedded_core_set_up_like_the_profile(
    short: Rehearsal,
) -> None:
    read = runfolder.load(short.folder)
    assert (read.info.time_scale, read.info.rate_scale) == (float(TIME_SCALE), float(RATE_SCALE))
    assert read.profile.rate_scale == float(RATE_SCALE)
    assert read.info.host.startswith("http://127.0.0.1:")
    core = tomllib.loads((short.folder / "mock-core.toml").read_text(encoding="utf-8"))
    weekday = load_profile("weekday")
    assert core["branch"]["branches"] == weekday.branches
    assert core["branch"]["counters"] == weekday.staffing.counters


def test_the_admin_token_reaches_locust_without_entering_the_recorded_command_line(
    short: Rehearsal,
) -> None:
    """The faults and /admin/* need the embedded core's token: reconcile.json proves it came."""
    read = runfolder.load(short.folder)
    assert not any("token" in arg for arg in read.info.command_line)
    assert read.alerts is not None


def test_the_embedded_core_and_locust_are_gone_when_the_rehearsal_ends(short: Rehearsal) -> None:
    host = read_json(short.folder / "run.json")["host"]
    assert refused(host)
    assert processes_naming(str(short.out)) == []


def test_ctrl_c_stops_the_core_and_locust_and_exits_3(tmp_path: Path) -> None:
    out = tmp_path / "results"
    child = subprocess.Popen(
        [sys.executable, "-m", "surge", "rehearse", *SHORT, "--out", str(out), *FEW_CUSTOMERS],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert child.stdout is not None
    lines = []
    try:
        for line in child.stdout:  # bounded: the command's own bound, and the test timeout
            lines.append(line)
            if "customers are onboarded" in line:  # the core answers and Locust has started
                break
        child.send_signal(signal.SIGINT)
        rest, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    output = "".join(lines) + rest
    assert child.returncode == 3, output
    assert "interrupted" in output
    assert "Traceback" not in output
    core = next(line for line in lines if "embedded mock core at " in line)
    assert refused(core.split("embedded mock core at ")[1].strip())
    assert processes_naming(str(out)) == []


def test_an_unreachable_host_is_a_run_that_could_not_start_and_exits_3(tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = surge("rehearse", *SHORT, "--host", "http://127.0.0.1:9", "--out", str(out))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "  why       the run could not start: could not prepare the run" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    [folder] = out.iterdir()
    read = runfolder.load(folder)
    assert read.info.error is not None
    assert "127.0.0.1:9" in read.info.error
    assert read.visits is not None
    assert read.visits.total.not_reached == read.visits.total.planned > 0
    assert not verdict.judge(read).valid


def test_an_option_locust_refuses_exits_2_and_leaves_no_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = surge("rehearse", *SHORT, "--out", str(out), "--", "--frobnicate")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Locust wrote no run folder" in done.stderr
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("name", list_profiles())
def test_every_shipped_profile_is_rehearsed_at_a_high_time_scale(name: str) -> None:
    """The rate scale follows the time scale: at 960 payday's kiosk lunch peak is 134,400
    arrivals an hour per branch, above what a profile file may write, and still a rehearsal
    (what the generator keeps up with is the verdict's to judge)."""
    chosen = rehearse.rehearsal(
        profile=name,
        host=None,
        time_scale=960,
        rate_scale=None,
        workers=1,
        out=Path("results"),
        seed=None,
        max_users=None,
        admin_token=None,
        locust_args=[],
    )
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
    data = tomllib.loads(embedded.settings_toml(profile, seed=9))
    settings = load_settings(**data)  # the core's own loader takes what the rehearsal writes
    assert settings.branch.branches == profile.branches == 6
    assert settings.branch.counters == profile.staffing.counters == 7
    assert (settings.branch.opening, settings.branch.closing) == ("08:00", "16:00")
    assert (settings.seed, settings.customers) == (9, 0)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="--workers is at most the cores")
def test_two_workers_are_locust_processes_on_one_free_loopback_port(tmp_path: Path) -> None:
    chosen = rehearse.rehearsal(
        profile="weekday",
        host="http://127.0.0.1:9",
        time_scale=60,
        rate_scale=None,
        workers=2,
        out=tmp_path,
        seed=None,
        max_users=None,
        admin_token=None,
        locust_args=[],
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
    done = surge("rehearse", *args, "--out", str(out))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(message), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_an_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.write_text("", encoding="utf-8")
    done = surge("rehearse", "--out", str(out))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"surge: --out: {out} is not a folder\n"
