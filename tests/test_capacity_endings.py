"""How `surge capacity` ends when it has no answer to give, for real against the embedded mock
core (short searches, each its own): a target that refuses everything, a generator that falls
behind, an interrupted search, a host that is not the systems; and bad input, refused before
anything starts. The search that answers is `tests/test_capacity.py`'s."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from surge import runfolder
from tests.load import FEW_CUSTOMERS, lane
from tests.support import free_port, surge, surge_in_process

pytestmark = pytest.mark.slow  # capacity searches: real runs


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "8", "--to", "4"], "--from, --to: need 0 < from <= to"),
        (["--phase", "tea_break"], "--phase: payday has no phase 'tea_break' (it has opening_rush"),
        (["--profile", "nosuch"], "nosuch: no such profile"),
        (["--precision", "1.5"], "--precision: a share between 0 and 1"),
        (["--level-duration", "1"], "--level-duration: from 10 to 300 s, not 1"),
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


def test_a_target_that_refuses_everything_fails_its_first_level_early(tmp_path: Path) -> None:
    """One slot and no queue: nearly every balance enquiry gets a 503, the first level surely
    fails within seconds, and the search ends below its range (exit 1)."""
    started = time.monotonic()
    done = surge(
        "capacity",
        *lane(tmp_path, p95_ms=400, slots=1, mean_s=0.2, queue=0),
        *("--from", "50", "--to", "50", "--out", str(tmp_path / "out")),
        *FEW_CUSTOMERS,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "does not carry x50" in done.stdout
    [folder] = (tmp_path / "out").iterdir()
    found = json.loads((folder / "capacity.json").read_text())
    [level] = found["levels"]
    assert level["status"] == "fail"
    assert level["sure"]
    assert found["ending"] == "below_range"
    assert found["answer"] is None
    assert level["end"] - level["start"] < 20, "the level ran on after it surely failed"
    assert time.monotonic() - started < 90
    assert (folder / "report.html").exists()
    assert (folder / "junit.xml").exists()


def test_a_generator_that_falls_behind_ends_the_search_at_its_limit(tmp_path: Path) -> None:
    """Three users cannot start 100 visits a second of a 50 ms lane: the level is behind, never
    the target's limit, and the search ends there as not valid evidence (exit 3)."""
    done = surge(
        "capacity",
        *lane(tmp_path, p95_ms=400, slots=64, mean_s=0.05),
        *("--from", "200", "--to", "400", "--max-users", "3", "--out", str(tmp_path / "out")),
        *FEW_CUSTOMERS,
    )
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert "the generator could not offer more (add --workers)" in done.stdout
    [folder] = (tmp_path / "out").iterdir()
    found = json.loads((folder / "capacity.json").read_text())
    assert found["ending"] == "generator_limit"
    assert [level["status"] for level in found["levels"]] == ["behind"]
    assert found["levels"][0]["late_share"] > 0.1
    assert found["answer"] is None


def test_an_interrupted_search_keeps_what_it_measured_and_exits_3(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "surge",
        "capacity",
        *lane(tmp_path, p95_ms=400, slots=8, mean_s=0.02),
        *("--from", "20", "--to", "80", "--out", str(tmp_path / "out")),
        *FEW_CUSTOMERS,
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line.lstrip().startswith("#1"):  # the first level decided: stop during the next
                time.sleep(3)
                process.send_signal(signal.SIGINT)
                break
        rest, _ = process.communicate(timeout=120)
    output = "".join(seen) + rest
    assert process.returncode == 3, output[-3000:]
    [folder] = (tmp_path / "out").iterdir()
    found = json.loads((folder / "capacity.json").read_text())
    assert found["interrupted"] == "SIGINT"
    assert [level["multiple"] for level in found["levels"]] == [20]
    assert found["levels"][0]["status"] == "pass"
    assert [span.number for span in runfolder.load(folder / "run").levels] == [1]
    assert "interrupted" in output
    assert (folder / "report.html").exists()


def test_a_host_that_is_not_the_systems_ends_the_search_as_not_valid_evidence(
    tmp_path: Path,
) -> None:
    """A web server that answers, but not as branch systems do: the run could not start, so
    the search ends there (exit 3), and never reads the empty level as carried."""
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
                *("--host", f"http://127.0.0.1:{port}", "--from", "1", "--to", "4"),
                *("--out", str(tmp_path / "out")),
                "--allow-host",  # not the mock core: allowed, to see what it answers
                "127.0.0.1",
            )
        finally:
            server.terminate()
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert "carries" not in done.stdout
    [folder] = (tmp_path / "out").iterdir()
    found = json.loads((folder / "capacity.json").read_text())
    assert [level["status"] for level in found["levels"]] == ["invalid"]
    assert found["ending"] == "not_valid"
    assert found["answer"] is None
