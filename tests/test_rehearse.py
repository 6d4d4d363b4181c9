"""`surge rehearse`: one command, an embedded mock core, Locust headless, a run folder, a verdict.

The rehearsals here are real processes (the `surge` command, its `mock-core` and `locust`
children) replaying `weekday` compressed to a few seconds; one rehearsal is shared by the
tests here. Its embedded core is given channel tokens of its own through `--core-config`, as an
operator would, so that the personal-data tests at the end can search the run folder for them:
after a rehearsal it holds no full ID, phone or card number of the customer pool, no PIN or
password the pool logged in with, and no token (issue 12). Bad input is in
tests/test_rehearse_input.py, stops in tests/test_rehearse_stops.py.
"""

from __future__ import annotations

import json
import re
import secrets
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from surge import runfolder
from surge.day.profile import load_profile
from surge.judge import saturation, verdict
from surge.visit.customers import generate
from surge.visit.values import Person
from tests.load import (
    CUSTOMERS,
    FEW_CUSTOMERS,
    SHORT,
    SHORT_RATE_SCALE,
    SHORT_TIME_SCALE,
    processes_naming,
    refused,
)
from tests.support import surge

pytestmark = pytest.mark.slow

TOKENS = {who: f"{who}-{secrets.token_hex(12)}" for who in ("teller", "kiosk", "online")}


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class Rehearsal:
    def __init__(self, tmp: Path) -> None:
        self.out = tmp / "results"
        config = tmp / "core.toml"
        config.write_text(
            "[tokens]\n" + "".join(f'{who} = "{token}"\n' for who, token in TOKENS.items()),
            encoding="utf-8",
        )
        self.done = surge(
            "rehearse", *SHORT, "--core-config", str(config), "--out", str(self.out),
            *FEW_CUSTOMERS,
        )  # fmt: skip
        lines = self.done.stdout.strip().splitlines()
        named = [line for line in lines if line.startswith("Run folder: ")]
        self.folder = Path(named[-1].removeprefix("Run folder: ")) if named else self.out
        self.last = lines[-1] if lines else ""


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Rehearsal:
    return Rehearsal(tmp_path_factory.mktemp("rehearse"))


def test_a_short_rehearsal_is_valid_evidence_and_ends_with_its_folder_and_report(
    short: Rehearsal,
) -> None:
    assert short.done.returncode == 0, short.done.stdout[-3000:] + short.done.stderr[-3000:]
    assert short.last == f"Report: {short.folder / 'report.html'}"
    assert (short.folder / "report.html").is_file()
    assert (short.folder / "summary.md").is_file()
    assert short.folder.parent == short.out
    assert short.folder.name.endswith("-weekday")
    for name in ("run.json", "summary.json", "reconcile.json", "locust.log"):
        assert (short.folder / name).is_file(), name
    # A user Locust lost track of (tests/test_shape_ramps.py) would be an ERROR line there.
    assert "didn't have proper args" not in (short.folder / "locust.log").read_text("utf-8")
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


def test_the_closing_lines_say_the_generator_was_saturated_exactly_when_the_rule_says_so(
    short: Rehearsal,
) -> None:
    read = runfolder.load(short.folder)
    samples = read.generator()
    assert samples  # Locust's process watched its host
    if Path("/proc/pressure/cpu").exists():  # and the kernel told it the CPU's contention
        assert all(0 <= s.host_cpu_wait <= 1 for s in samples)
    said = [line for line in short.done.stdout.splitlines() if line.startswith("  generator ")]
    judged = saturation.line(read)
    assert said == ([] if judged is None else [f"  generator {judged}"])


def test_the_run_records_both_scales_and_the_embedded_core_set_up_like_the_profile(
    short: Rehearsal,
) -> None:
    read = runfolder.load(short.folder)
    assert (read.info.time_scale, read.info.rate_scale) == (
        float(SHORT_TIME_SCALE),
        float(SHORT_RATE_SCALE),
    )
    assert read.profile.rate_scale == float(SHORT_RATE_SCALE)
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


@pytest.fixture(scope="module")
def pool(short: Rehearsal) -> list[Person]:
    """The people the harness onboarded: `generate` with the run's seed, locale and branches,
    as `surge.harness.lifecycle` calls it."""
    read = runfolder.load(short.folder)
    # The embedded core's branches, as mock_core/seed.py names them.
    branches = [f"B{n:03d}" for n in range(1, read.profile.branches + 1)]
    return generate(
        CUSTOMERS,
        seed=read.info.seed,
        locale=read.profile.customers.locale,
        branches=branches,
        high_value_share=read.profile.customers.high_value_share,
    )


def texts(folder: Path) -> Iterator[tuple[Path, str]]:
    """Every file under `folder` as text: Parquet as the JSON of its rows (its bytes are
    encoded and compressed, so a number in it would not show as text), the rest as read."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            yield path, json.dumps(pq.read_table(path).to_pylist(), default=str)
        else:
            yield path, path.read_bytes().decode("utf-8", errors="replace")


def test_the_rehearsal_onboarded_the_pool_and_recorded_its_visits(
    short: Rehearsal, pool: list[Person]
) -> None:
    read = runfolder.load(short.folder)
    assert read.request_count > 0
    assert len({p.id_number for p in pool}) == CUSTOMERS
    assert {"run.json", "report.html", "locust.log", "mock-core.toml"} <= {
        p.name for p in short.folder.iterdir()
    }


def test_no_file_holds_a_full_id_phone_or_card_number_of_the_pool(
    short: Rehearsal, pool: list[Person]
) -> None:
    secrets_of = {
        what: getattr(person, what)
        for person in pool
        for what in ("id_number", "phone", "card_number")
    }
    assert secrets_of
    found = [
        (path.name, value)
        for path, text in texts(short.folder)
        for person in pool
        for value in (person.id_number, person.phone.lstrip("+"), person.card_number)
        if value in text
    ]
    assert found == []


def test_no_file_holds_a_pin_or_password_the_pool_logged_in_with(
    short: Rehearsal, pool: list[Person]
) -> None:
    logins = [
        r for r in runfolder.load(short.folder).requests().to_pylist() if r["step"] == "login"
    ]
    assert logins
    assert all(r["outcome"] == "ok" for r in logins)
    secrets_of = {s for person in pool for s in (person.pin, person.password)}
    assert len(secrets_of) == 2 * CUSTOMERS
    # A PIN is six digits, which a timestamp can hold, its fraction too (`1796616840.578783`
    # in locust_stats.json matched a PIN): a secret counts standing alone only, not as a part
    # of a number.
    alone = r"(?<![0-9A-Za-z])(?<![0-9]\.){}(?![0-9A-Za-z])(?!\.[0-9])"
    found = [
        (path.name, secret)
        for path, text in texts(short.folder)
        for secret in secrets_of
        if re.search(alone.format(re.escape(secret)), text)
    ]
    assert found == []


def test_no_file_holds_a_token(short: Rehearsal) -> None:
    found = [
        (path.name, who)
        for path, text in texts(short.folder)
        for who, token in TOKENS.items()
        if token in text
    ]
    assert found == []
    assert not [path.name for path, text in texts(short.folder) if "Bearer " in text]
