"""`surge profiles`: list, show and check, with the exit codes of surge.exits and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from surge.day.profile import list_profiles, profiles_dir
from tests.support import assert_one_line_refusal, surge_in_process


@pytest.mark.parametrize("args", [["profiles", "list"], ["profiles"]])
def test_list_shows_every_profile_with_its_day_and_description(args: list[str]) -> None:
    result = surge_in_process(*args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == list_profiles()
    payday = next(line for line in lines if line.startswith("payday "))
    assert "09:00-17:00 (8h)" in payday
    assert "Month-end payday" in payday


def test_show_prints_the_rate_table_and_the_resolved_profile() -> None:
    result = surge_in_process("profiles", "show", "payday", "--time-scale", "60")
    assert result.returncode == 0, result.stderr
    table, _, document = result.stdout.partition("\n{")
    assert "lunch_peak    11:30  2m" in table  # the wall clock kept, the length divided by 60
    assert "0.417" in table  # (70 + 140 + 40) an hour at each of 6 branches, per second
    resolved = json.loads("{" + document)
    assert resolved["name"] == "payday"
    assert resolved["time_scale"] == 60


def test_show_with_a_rate_scale_prints_the_raised_rates_and_records_the_factor() -> None:
    result = surge_in_process(
        "profiles", "show", "payday", "--time-scale", "60", "--rate-scale", "1.5"
    )
    assert result.returncode == 0, result.stderr
    table, _, document = result.stdout.partition("\n{")
    assert "(8m at time scale 60, rate scale 1.5)" in table
    lunch = next(line for line in table.splitlines() if line.startswith("lunch_peak"))
    assert lunch.split() == ["lunch_peak", "11:30", "2m", "105", "210", "60", "0.625"]
    resolved = json.loads("{" + document)
    assert (resolved["time_scale"], resolved["rate_scale"]) == (60, 1.5)


def test_show_json_is_only_the_resolved_profile_and_takes_a_path() -> None:
    result = surge_in_process(
        "profiles", "show", str(profiles_dir() / "emergency_drill.toml"), "--json"
    )
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    assert [fault["at"] for fault in resolved["faults"]] == [3600, 8100, 10800, 19800]


def test_check_prints_ok_for_a_valid_profile() -> None:
    result = surge_in_process("profiles", "check", str(profiles_dir() / "weekday.toml"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")


def test_check_names_the_file_field_and_reason_of_a_broken_profile(tmp_path: Path) -> None:
    path = tmp_path / "payday.toml"
    text = (profiles_dir() / "payday.toml").read_text(encoding="utf-8")
    path.write_text(text.replace("cash_deposit = 0.12", "cash_deposit = 0.07"), encoding="utf-8")
    result = surge_in_process("profiles", "check", str(path))
    assert_one_line_refusal(result, f"{path}: mix.counter: shares sum to 0.95, not 1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["profiles", "frob"], "invalid choice: 'frob'"),
        (["profiles", "show"], "required: NAME"),
        (["profiles", "show", "nope"], "nope: no such profile (shipped: "),
        (["profiles", "show", "weekday", "--time-scale", "0"], "--time-scale: 0 must be"),
        (["profiles", "show", "weekday", "--time-scale", "fast"], "'fast' is not a number"),
        (["profiles", "show", "weekday", "--rate-scale", "-1"], "--rate-scale: -1 must be"),
        (["profiles", "show", "weekday", "--rate-scale", "inf"], "--rate-scale: inf must be"),
        (
            ["profiles", "show", "payday", "--rate-scale", "1e7"],
            "--rate-scale: 1e+07 gives payday about 81,450,000,000 visits, more than",
        ),
        (["profiles", "check", "/nonexistent/day.toml"], "/nonexistent/day.toml: file not found"),
        (["profiles", "list", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    assert_one_line_refusal(surge_in_process(*args), message)
