"""`surge profiles fit`: a history drawn from known rates is fitted back to them, the file it
writes is a profile that loads and replays, and a bad record is refused in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from surge.cli import main
from surge.day import fit
from surge.day.profile import CHANNELS, load_profile, resolve
from surge.exits import BadInput

# Phases as a queue system would see them: each boundary moves some channel by a quarter or
# more, and the shortest phase still holds thousands of arrivals a channel at 80 branches for two
# days, so the rates can be held to 5% (the smallest count's standard error is about 1.3%).
TRUE_PHASES = [
    ("09:00", 1.5, {"counter": 45, "kiosk": 80, "online": 25}),
    ("10:30", 1.5, {"counter": 35, "kiosk": 60, "online": 30}),
    ("12:00", 2.0, {"counter": 75, "kiosk": 140, "online": 40}),
    ("14:00", 3.0, {"counter": 50, "kiosk": 90, "online": 25}),
]
TRUE_MIX = load_profile("payday").mix
BRANCHES = 80
DAYS = 2
HEADER = "timestamp,branch,channel,operation\n"


def draw_history(path: Path, branches: int, days: int, seed: int) -> int:
    """A CSV of Poisson arrivals at `TRUE_PHASES` per branch, in the queue system's shape."""
    rng = np.random.default_rng(seed)
    frames = []
    for day in range(days):
        for start, hours, rates in TRUE_PHASES:
            opens = pd.Timestamp(f"2024-06-{27 + day} {start}")
            for channel, per_hour in rates.items():
                n = rng.poisson(per_hour * branches * hours)
                mix = getattr(TRUE_MIX, channel).shares()
                offsets = pd.to_timedelta(rng.uniform(0, hours * 3600, n), unit="s")
                frames.append(
                    pd.DataFrame(
                        {
                            "branch": [f"BR-{b:03d}" for b in rng.integers(1, branches + 1, n)],
                            "ticket": rng.integers(1, 999, n),
                            "timestamp": opens + offsets,
                            "operation": rng.choice(list(mix), n, p=list(mix.values())),
                            "channel": channel,
                        }
                    )
                )
    history = pd.concat(frames).sort_values("timestamp")
    # Whole seconds, as exports write them: the column order and an extra column are the
    # export's own, which the fit must not mind.
    history["timestamp"] = history["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    history.to_csv(path, index=False)
    return len(history)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> fit.History:
    path = tmp_path_factory.mktemp("history") / "payday_2024.csv"
    draw_history(path, BRANCHES, DAYS, seed=2024)
    return fit.read_history(path)


@pytest.fixture(scope="module")
def fitted(drawn: fit.History) -> fit.Fitted:
    return fit.fit(drawn, name="payday_2025")


@pytest.mark.slow
def test_known_rates_are_recovered_within_5_percent_with_their_phase_boundaries(
    fitted: fit.Fitted,
) -> None:
    phases = fitted.profile.phases
    assert [phase.start for phase in phases] == [start for start, _, _ in TRUE_PHASES]
    assert fitted.profile.day_start == "09:00"
    assert fitted.profile.wall_clock(fitted.profile.duration_s) == "17:00"
    errors = {
        (phase.name, channel): getattr(phase.arrivals_per_hour, channel) / rates[channel] - 1
        for phase, (_, _, rates) in zip(phases, TRUE_PHASES, strict=True)
        for channel in CHANNELS
    }
    worst = max(errors, key=lambda key: abs(errors[key]))
    assert abs(errors[worst]) < 0.05, f"{worst} is off by {errors[worst]:.1%}"


def test_the_business_mix_is_recovered_per_channel(fitted: fit.Fitted) -> None:
    for channel in CHANNELS:
        found = getattr(fitted.profile.mix, channel).shares()
        true = getattr(TRUE_MIX, channel).shares()
        assert found == pytest.approx(true, abs=0.01), channel


def test_rates_are_per_branch_and_the_branch_count_is_the_historys_unless_given(
    drawn: fit.History, fitted: fit.Fitted
) -> None:
    assert drawn.branches == BRANCHES
    assert drawn.days == DAYS
    assert fitted.profile.branches == BRANCHES
    network = fit.fit(drawn, name="network", branches=400)
    assert network.profile.branches == 400
    assert network.profile.phases == fitted.profile.phases
    assert network.profile.expected_visits() == pytest.approx(5 * fitted.profile.expected_visits())


def test_scale_multiplies_every_rate_and_nothing_else(
    drawn: fit.History, fitted: fit.Fitted
) -> None:
    surge = fit.fit(drawn, name="surge", scale=1.5)
    for scaled, plain in zip(surge.profile.phases, fitted.profile.phases, strict=True):
        assert (scaled.start, scaled.duration) == (plain.start, plain.duration)
        for channel in CHANNELS:
            assert getattr(scaled.arrivals_per_hour, channel) == pytest.approx(
                1.5 * getattr(plain.arrivals_per_hour, channel), abs=0.01
            )
    assert surge.profile.mix == fitted.profile.mix
    assert surge.profile.staffing == fitted.profile.staffing


def test_the_written_file_is_a_profile_that_expects_the_historys_visits_a_day(
    drawn: fit.History, fitted: fit.Fitted, tmp_path: Path
) -> None:
    out = tmp_path / "payday_2025.toml"
    fit.write(fitted, out)
    text = out.read_text(encoding="utf-8")
    assert text.startswith(f"# Fitted by `surge profiles fit` from {drawn.source} on ")
    assert "scale 1." in text.splitlines()[0]
    profile = load_profile(str(out))
    assert profile == fitted.profile
    assert profile.name == "payday_2025"
    assert profile.expected_visits() == pytest.approx(len(drawn.arrivals) / DAYS, rel=1e-4)
    assert profile.customers.diversion == 0
    # What `surge rehearse` does with it by default: the whole day in a minute, every visit kept.
    replayed = resolve(str(out), time_scale=480, rate_scale=480)
    assert replayed.duration_s == pytest.approx(60)
    assert replayed.expected_visits() == pytest.approx(profile.expected_visits())


def test_the_command_writes_the_profile_and_prints_its_rate_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.csv"
    arrivals = draw_history(history, branches=4, days=1, seed=7)
    out = tmp_path / "forecast.toml"
    code = main(["profiles", "fit", str(history), "--scale", "1.2", "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert f"{arrivals:,} arrivals at 4 branches" in printed
    assert "counter/h" in printed
    profile = load_profile(str(out))
    assert profile.expected_visits() == pytest.approx(1.2 * arrivals, rel=1e-3)


def test_offsets_are_moved_to_the_profiles_wall_clock(tmp_path: Path) -> None:
    history = tmp_path / "utc.csv"
    history.write_text(
        HEADER + "2024-06-28T01:05:00Z,B1,counter,enquiry\n"
        "2024-06-28T09:20:00+08:00,B1,kiosk,balance\n"
        "2024-06-28 09:40,B1,online,book\n",
        encoding="utf-8",
    )
    profile = fit.fit(fit.read_history(history), name="utc").profile
    assert profile.day_start == "09:00"
    assert profile.wall_clock(profile.duration_s) == "09:45"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "h.csv: empty (the header timestamp,branch,channel,operation is expected)"),
        (HEADER, "h.csv: no arrivals after the header"),
        (
            "timestamp,branch,operation\n",
            "h.csv:1: column 'channel': missing from the header "
            "(it has: timestamp, branch, operation; needed: timestamp, branch, channel, operation)",
        ),
        (
            HEADER + "2024-06-28 09:00,B1,counter,enquiry\n\n2024-06-28 25:00,B1,counter,enquiry\n",
            "h.csv:4: column 'timestamp': '2024-06-28 25:00' is not an ISO 8601 date and time "
            "(such as 2024-06-28 09:05:13)",
        ),
        (
            HEADER + "2024-06-28,B1,counter,enquiry\n",
            "h.csv:2: column 'timestamp': '2024-06-28' is not an ISO 8601 date and time "
            "(such as 2024-06-28 09:05:13)",
        ),
        (HEADER + "2024-06-28 09:00, ,counter,enquiry\n", "h.csv:2: column 'branch': empty"),
        (
            HEADER + "2024-06-28 09:00,B1,atm,enquiry\n",
            "h.csv:2: column 'channel': 'atm' is not a channel (counter, kiosk, online)",
        ),
        (
            HEADER + "2024-06-28 09:00,B1,kiosk,loan_application\n",
            "h.csv:2: column 'operation': 'loan_application' is not a kiosk operation "
            "(balance, statement, cash_deposit, cash_withdrawal, own_transfer, fx_quote, ticket)",
        ),
        (
            HEADER + "2024-06-28 09:00,B1,kiosk\n",
            "h.csv:2: column 'operation': missing (the row is shorter than the header)",
        ),
    ],
    ids=[
        "empty",
        "header-only",
        "missing-column",
        "bad-time",
        "date-only",
        "empty-branch",
        "unknown-channel",
        "wrong-operation",
        "short-row",
    ],
)
def test_bad_input_is_one_line_naming_the_line_and_the_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("h.csv").write_text(content, encoding="utf-8")
    with pytest.raises(BadInput) as refused:
        fit.read_history(Path("h.csv"))
    assert str(refused.value) == message


@pytest.mark.slow
def test_the_command_refuses_a_bad_row_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    history = tmp_path / "history.csv"
    history.write_text(
        HEADER + "2024-06-28 09:00,B1,counter,enquiry\n2024-06-28 09:01,B2,atm,balance\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "surge", "profiles", "fit", str(history), "-o", "x.toml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"surge: {history}:3: column 'channel': 'atm' is not a channel (counter, kiosk, online)\n"
    )
    assert not (tmp_path / "x.toml").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scale", "0"], "argument --scale: 0 must be a number above 0"),
        (["--branches", "0"], "--branches: must be 1 or more, not 0"),
        (["-o", "day.txt"], "-o: day.txt: a profile file's name ends in .toml"),
        (["-o", "nowhere/day.toml"], "-o: nowhere: no such folder"),
    ],
)
def test_bad_flags_are_refused_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("h.csv").write_text(HEADER + "2024-06-28 09:00,B1,counter,enquiry\n", encoding="utf-8")
    argv = ["profiles", "fit", "h.csv", "-o", "day.toml", *args]
    try:
        code = main(argv)
    except SystemExit as exited:  # argparse refuses a flag's type before any handler runs
        code = exited.code
    assert code == 2
    assert capsys.readouterr().err.strip().endswith(message)
