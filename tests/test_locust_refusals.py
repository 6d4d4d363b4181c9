"""`locust -f loadtests` refuses bad input at its start: one line, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.load import locust, one_branch

pytestmark = pytest.mark.slow


def test_an_unknown_profile_is_refused_with_one_line_and_exit_code_2(tmp_path: Path) -> None:
    done = locust("http://127.0.0.1:9", "--profile", "no_such_day", timeout=60)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: no_such_day: no such profile (shipped: emergency_drill, new_product_launch, "
        "payday, post_holiday, weekday)"
    ]
    assert "Traceback" not in done.stderr


def test_a_time_scale_of_zero_is_refused_with_one_line_and_exit_code_2() -> None:
    done = locust("http://127.0.0.1:9", "--time-scale", "0", timeout=60)
    assert done.returncode == 2
    assert "error: --time-scale: must be a number above 0, not 0" in done.stderr.splitlines()
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-scale", "0"], "error: --rate-scale: must be a number above 0, not 0"),
        (
            ["--profile", "payday", "--rate-scale", "1e7"],
            "error: --rate-scale: 1e+07 gives payday about 81,450,000,000 visits, more than the "
            "50,000,000 one run may schedule",
        ),
    ],
)
def test_a_bad_rate_scale_is_refused_with_one_line_and_exit_code_2(
    args: list[str], message: str
) -> None:
    done = locust("http://127.0.0.1:9", *args, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr.splitlines()
    assert "Traceback" not in done.stderr


def test_an_option_that_is_not_of_its_kind_is_refused_with_one_line_and_exit_code_2() -> None:
    """The harness's options are text (as the web UI posts them, tests/test_locust_web_ui.py),
    read by the harness: what is not a number is its refusal, not argparse's."""
    done = locust("http://127.0.0.1:9", "--max-users", "many", timeout=60)
    assert done.returncode == 2
    assert "error: --max-users: 'many' is not a whole number" in done.stderr.splitlines()
    assert "Traceback" not in done.stderr


def test_a_profile_file_writing_more_than_the_cap_is_refused_whatever_the_scale(
    tmp_path: Path,
) -> None:
    profile = one_branch(tmp_path)
    profile.write_text(
        profile.read_text(encoding="utf-8").replace("kiosk = 2000", "kiosk = 200000", 1),
        encoding="utf-8",
    )
    done = locust("http://127.0.0.1:9", "--profile", str(profile), "--rate-scale", "0.1")
    assert done.returncode == 2
    [error] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith(f"error: {profile}: phases[0].arrivals_per_hour.kiosk: 200000")
    assert "above 100000" in error


@pytest.mark.parametrize(
    ("results", "reason"),
    [
        (Path("/proc/sys"), "No such file or directory"),  # holds no new folder, even for root
        (Path("pool.csv/results"), "Not a directory"),  # under a file
    ],
)
def test_a_results_folder_that_cannot_be_written_is_refused_before_any_load(
    tmp_path: Path, results: Path, reason: str
) -> None:
    """Checked at start, not when the run opens its folder: that was a traceback in an event
    handler, then users waiting for ever on a run that never began."""
    (tmp_path / "pool.csv").write_text("id\n", encoding="utf-8")
    where = results if results.is_absolute() else tmp_path / results
    done = locust("http://127.0.0.1:9", "--results", str(where), timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {where}: cannot write a run folder there: {reason}"]
    assert "Traceback" not in done.stderr


def test_a_run_folder_that_cannot_be_written_is_refused_before_any_load(tmp_path: Path) -> None:
    (tmp_path / "pool.csv").write_text("id\n", encoding="utf-8")
    where = tmp_path / "pool.csv" / "run"
    done = locust("http://127.0.0.1:9", "--run-folder", str(where), timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {where}: cannot write a run folder there: Not a directory"]
