"""`surge capacity` against the embedded mock core: bad input refused before anything starts,
a target that refuses everything failing its first step early (its error budget spent), and an
interrupted search keeping what it measured. The search's accuracy against Erlang C is
`tests/test_capacity_accuracy.py`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest
import tomli_w

from reports import capacity_search
from surge import capacity, runfolder
from tests.runs import make
from tests.support import free_port, surge_in_process
from tests.test_gate import surge

KIOSK_LANE = Path(__file__).resolve().parent.parent / "examples" / "capacity" / "kiosk_lane.toml"
"""One branch whose only business is the kiosk's balance enquiry (the login and one GET a visit,
both through the kiosk-gateway lane) at 1,800 an hour: a multiple K offers K requests a second."""
FEW_CUSTOMERS = ("--", "--customers", "20")


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer")


def lane(tmp: Path, *, p95_ms: float, slots: int, mean_s: float, queue: int = 800) -> list[str]:
    """`--profile` and `--core-config` for a kiosk gateway of `slots` exponential servers."""
    profile, core = tmp / "lane.toml", tmp / "core.toml"
    data = tomllib.loads(KIOSK_LANE.read_text(encoding="utf-8"))
    data["slo"]["kiosk"]["p95_ms"] = p95_ms
    profile.write_text(tomli_w.dumps(data), encoding="utf-8")
    service = {"distribution": "exponential", "mean": mean_s}
    gateway = {"slots": slots, "queue": queue, "timeout": 5, "service": service}
    core.write_text(tomli_w.dumps({"lanes": {"kiosk-gateway": gateway}}), encoding="utf-8")
    return ["--profile", str(profile), "--core-config", str(core)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "8", "--to", "4"], "--from, --to: need 0 < from <= to"),
        (["--phase", "tea_break"], "--phase: payday has no phase 'tea_break' (it has opening_rush"),
        (["--profile", "nosuch"], "nosuch: no such profile"),
        (["--precision", "1.5"], "--precision: a share between 0 and 1"),
        (["--step-duration", "1"], "--step-duration: at least 5 s"),
        (["--host", "ftp://core"], "--host: 'ftp://core' is not an http:// or https:// URL"),
        (["--to", "1e9"], "--to: 1e+09 gives payday about"),
        (["--host", "http://127.0.0.1:9"], "--host: cannot reach http://127.0.0.1:9"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_starts_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = surge_in_process("capacity", *args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("surge: ")
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_target_that_refuses_everything_fails_its_first_step_early(tmp_path: Path) -> None:
    """One slot and no queue: nearly every balance enquiry gets a 503, the error budget is
    spent within seconds, and the step is stopped long before its 30 s."""
    target = lane(tmp_path, p95_ms=400, slots=1, mean_s=0.2, queue=0)
    started = time.monotonic()
    done = surge(
        "capacity",
        *target,
        "--from",
        "50",
        "--to",
        "50",
        "--step-duration",
        "30",
        "--out",
        str(tmp_path / "out"),
        *FEW_CUSTOMERS,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "does not carry x50" in done.stdout
    [folder] = (tmp_path / "out").iterdir()
    found = json.loads((folder / "capacity.json").read_text())
    [step] = found["steps"]
    assert step["status"] == "fail"
    assert step["judged"]["stopped"] is True
    assert found["ending"] == "below_range"
    assert found["sustained"] is None
    run = runfolder.load(folder / step["runs"][0])
    assert run.info.stopped is not None
    assert run.info.stopped.errors >= run.info.stopped.budget
    assert run.info.end is not None
    assert run.info.day_start is not None
    assert run.info.end - run.info.day_start < 20, "the step ran on after its budget was spent"
    assert time.monotonic() - started < 90
    assert (folder / "report.html").exists()
    assert (folder / "junit.xml").exists()


def test_an_interrupted_search_keeps_what_it_measured_and_exits_3(tmp_path: Path) -> None:
    target = lane(tmp_path, p95_ms=400, slots=8, mean_s=0.02)
    command = [
        sys.executable,
        "-m",
        "surge",
        "capacity",
        *target,
        "--from",
        "20",
        "--to",
        "80",
        "--step-duration",
        "5",
        "--out",
        str(tmp_path / "out"),
        *FEW_CUSTOMERS,
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line.lstrip().startswith("x20"):  # the first step is judged: stop the second
                time.sleep(3)
                process.send_signal(signal.SIGINT)
                break
        rest, _ = process.communicate(timeout=120)
    output = "".join(seen) + rest
    assert process.returncode == 3, output[-3000:]
    [folder] = (tmp_path / "out").iterdir()
    found = json.loads((folder / "capacity.json").read_text())
    assert found["interrupted"] == "SIGINT"
    assert [s["multiple"] for s in found["steps"]] == [20]
    assert found["steps"][0]["status"] == "pass"
    assert "interrupted" in output
    assert (folder / "report.html").exists()


def test_a_host_that_is_not_the_systems_ends_the_search_as_not_valid_evidence(
    tmp_path: Path,
) -> None:
    """A web server that answers, but not as branch systems do: the first step could not start,
    so the search ends there (exit 3), and never reads the empty step as carried."""
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as server:
        try:
            wait_for(f"http://127.0.0.1:{port}/")
            done = surge(
                "capacity",
                "--host",
                f"http://127.0.0.1:{port}",
                "--from",
                "1",
                "--to",
                "4",
                "--step-duration",
                "5",
                "--out",
                str(tmp_path / "out"),
                "--allow-host",  # not the mock core: allowed, to see what it answers
                "127.0.0.1",
            )
        finally:
            server.terminate()
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert "carries" not in done.stdout
    [folder] = (tmp_path / "out").iterdir()
    found = json.loads((folder / "capacity.json").read_text())
    assert [s["status"] for s in found["steps"]] == ["invalid"]
    assert found["ending"] == "not_valid"
    assert found["sustained"] is None


def test_a_repeated_step_draws_its_own_arrivals(tmp_path: Path) -> None:
    """Pooled with the runs before it, a repeat on the same schedule would be counted as
    independent evidence it is not."""
    chosen = capacity.search_of(
        profile="payday",
        phase=None,
        low=1,
        high=4,
        precision=0.05,
        step_s=10,
        host=None,
        admin_token=None,
        core_config=None,
        out=tmp_path,
        workers=1,
        seed=None,
        max_users=None,
        locust_args=[],
    )
    path = tmp_path / "step.toml"
    path.write_text(capacity.step_profile(chosen), encoding="utf-8")
    seeds = [capacity.step_rehearsal(chosen, path, 2.0, repeat).seed for repeat in range(3)]
    assert len(set(seeds)) == 3
    assert seeds[0] == chosen.profile.seed
    assert chosen.phase.name == "lunch_peak"  # the busiest, by default


def test_a_run_pooled_into_repeats_is_gated_once(tmp_path: Path) -> None:
    """A repeat's step lists the runs before it: each run's ledger checks are one case each."""
    folder = tmp_path / "search"
    check = {"name": "one_posting_per_key", "description": "no write applied twice", "ok": True}
    for name in ("01-x2", "02-x2"):
        run = make(folder / "steps" / name)
        runfolder.write_answer(run, runfolder.RECONCILE, {"ok": True, "checks": [check]})
    judged = {"requests_per_s": 2.0, "p95_ms": 20.0, "mean_ms": 10.0, "why": "held"}
    steps = [
        {"multiple": 2.0, "status": "unclear", "runs": ["steps/01-x2"], "judged": judged},
        {
            "multiple": 2.0,
            "status": "pass",
            "runs": ["steps/01-x2", "steps/02-x2"],
            "judged": judged,
        },
    ]
    found = {
        "format_version": capacity.FORMAT_VERSION,
        "profile": "weekday",
        "phase": "morning",
        "range": [2.0, 2.0],
        "steps": steps,
        "ending": "above_range",
        "interrupted": None,
        "sustained": {"multiple": 2.0, "visits_per_s": {"counter": 1.0}, "requests_per_s": 2.0},
        "failed_multiple": None,
    }
    (folder / capacity.CAPACITY).write_text(json.dumps(found), encoding="utf-8")
    gated = capacity_search.conclude(folder, html=False, language="en")
    names = [case.name for case in gated.gate.cases]
    assert len(names) == len(set(names))
    assert "steps/01-x2: ledger: one_posting_per_key" in names
    assert "steps/02-x2: ledger: one_posting_per_key" in names
    assert gated.exit_code == 0
