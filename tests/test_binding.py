"""The binding seam (`surge.visit.binding`, docs/architecture.md): loading `--binding`, the operations
a day needs, and the journeys of a real Locust run through a binding other than the default."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from surge import visit
from surge.bindings import loader
from surge.bindings.loader import BindingError, load, missing, needed
from surge.bindings.mock_core import MockCore
from surge.day.profile import Profile, load_profile, resolve
from surge.visit import BindingOptions, PlainWire, Tokens
from surge.visit.binding import OPERATIONS, STEPS
from surge.visit.customers import CUSTOMER_SECRET_ENV, generate
from surge.visit.wire import PushBack
from tests.load import busy_weekday, locust, records, run_folder
from tests.small_bindings import CALLS_FILE, NoLoans, NoOnboarding
from tests.support import TOKENS, Api, auth, serve, surge_in_process

ROOT = Path(__file__).resolve().parent.parent


def test_the_default_binding_is_the_mock_cores_and_does_every_operation() -> None:
    assert load(loader.DEFAULT) is MockCore
    assert MockCore.operations == OPERATIONS
    assert set(STEPS) == OPERATIONS - {"onboard", "branches"}


@pytest.mark.parametrize(
    ("spec", "line"),
    [
        (
            "surge.bindings.mock_core",
            "--binding: 'surge.bindings.mock_core' is not package.module:Name",
        ),
        ("no_such_package.bindings:Core", "--binding: no module 'no_such_package.bindings'"),
        (
            "surge.bindings.mock_core:Nope",
            "--binding: module 'surge.bindings.mock_core' has no 'Nope'",
        ),
        (
            "tests.small_bindings:NOT_A_CLASS",
            "--binding: tests.small_bindings:NOT_A_CLASS is not a binding (a class with an "
            "`operations` frozenset)",
        ),
        (
            "tests.small_bindings:Broken",
            "--binding: tests.small_bindings:Broken names unknown operations teleport",
        ),
    ],
)
def test_a_binding_that_cannot_be_used_is_one_line(spec: str, line: str) -> None:
    with pytest.raises(BindingError) as raised:
        load(spec)
    assert str(raised.value) == line


def test_a_day_needs_the_operations_of_its_mixes_and_onboarding_only_when_it_onboards() -> None:
    payday = resolve("payday", 480, 480)
    assert needed(payday, onboarding=True) == OPERATIONS
    assert "onboard" not in needed(payday)
    assert missing(MockCore, payday, onboarding=True) is None
    assert missing(NoOnboarding, payday) is None
    assert missing(NoOnboarding, payday, onboarding=True) == (
        "--binding: tests.small_bindings:NoOnboarding does not support onboard, which this run needs"
    )
    assert missing(NoLoans, payday) == (
        "--binding: tests.small_bindings:NoLoans does not support apply_loan, decide_loan, "
        "exchange_fx, quote_fx, which this run needs"
    )


def test_a_day_without_loans_or_fx_runs_on_a_binding_without_them() -> None:
    profile = load_profile("weekday").to_dict()
    counter = profile["mix"]["counter"]
    counter["cash_deposit"] += counter.pop("loan_application") + counter.pop("fx_exchange")
    kiosk = profile["mix"]["kiosk"]
    kiosk["balance"] += kiosk.pop("fx_quote")
    assert missing(NoLoans, Profile.from_dict(profile, source="weekday without loans")) is None


@pytest.mark.slow
def test_a_binding_lacking_an_operation_the_day_needs_is_refused_before_any_request(
    tmp_path: Path,
) -> None:
    with socket.socket() as target:
        target.bind(("127.0.0.1", 0))
        target.listen()
        target.setblocking(False)
        host = f"http://127.0.0.1:{target.getsockname()[1]}"
        done = locust(
            host,
            *("--profile", "payday", "--time-scale", "2880"),
            *("--binding", "tests.small_bindings:NoLoans", "--results", str(tmp_path)),
            timeout=60,
        )
        with pytest.raises(BlockingIOError):
            target.accept()  # nobody connected
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == (
        "error: --binding: tests.small_bindings:NoLoans does not support apply_loan, "
        "decide_loan, exchange_fx, quote_fx, which this run needs"
    )
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["rehearse", "capacity"])
def test_surge_refuses_an_unknown_binding_before_it_starts_anything(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a default --out would make its folder
    done = surge_in_process(command, "--binding", "nowhere:Core")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["surge: --binding: no module 'nowhere'"]
    assert not any(tmp_path.iterdir())


class _WrittenForTheClient(MockCore):
    """A bank's binding written when `branches` was given the target's httpx client."""

    def branches(self, client: Any) -> dict[str, int]:  # type: ignore[override]
        response = client.request("GET", "/v1/branches", headers=auth("kiosk"))
        return {branch["id"]: branch["counters"] for branch in response.json()}


def test_a_binding_written_before_the_plain_wire_still_runs_and_is_told_what_changed(
    api: Api,
) -> None:
    """Its old names still import and its old client call still answers, each with a warning
    that names the new one (docs/bindings.md, "Upgrading")."""
    with pytest.warns(FutureWarning, match="surge.visit.OnboardingWire is PlainWire now"):
        from surge.visit import OnboardingWire
    assert OnboardingWire is PlainWire
    with pytest.warns(FutureWarning, match="OnboardingResponse is PlainResponse now"):
        assert visit.OnboardingResponse is visit.PlainResponse
    with pytest.raises(AttributeError):
        visit.NoSuchName  # noqa: B018 - only the renamed names are answered
    wire = PlainWire(api.client, PushBack(1), "reading the branches")
    options = BindingOptions(
        "http://127.0.0.1", Tokens(TOKENS["teller"], TOKENS["kiosk"], TOKENS["online"])
    )
    with pytest.warns(FutureWarning, match=r"call wire\.get\(url, headers\)"):
        old = _WrittenForTheClient(options).branches(wire)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert old == MockCore(options).branches(wire) != {}


@pytest.mark.slow
def test_a_real_run_drives_the_journeys_through_the_named_binding(tmp_path: Path) -> None:
    """Every step recorded went through the binding: a call per settled step, under the step
    name the operation records; nothing called that the day does not need."""
    profile = busy_weekday(tmp_path, "through-a-binding")
    calls = tmp_path / "calls.json"
    with serve(tmp_path / "core.db", "--unlimited", "--customers", "20") as (host, _):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                *("-f", "loadtests", "--headless", "--host", host, "--no-report"),
                *("--profile", str(profile), "--time-scale", "5760"),
                *("--results", str(tmp_path / "results"), "--customers", "20"),
                *("--binding", "tests.small_bindings:Counting"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
            env={
                **{k: v for k, v in os.environ.items() if k != CUSTOMER_SECRET_ENV},
                CALLS_FILE: str(calls),
            },
        )
        assert done.returncode in (0, 3), done.stderr[-3000:]
        read = run_folder(tmp_path / "results")
        # Issue 21: against a target other than the embedded core, the people (and their logins)
        # are not those the seed in run.json makes.
        again = generate(
            20,
            seed=read.info.seed,
            branches=["B001", "B002", "B003", "B004"],
            high_value_share=read.profile.customers.high_value_share,
        )
        with httpx.Client(base_url=host, timeout=10) as client:
            answers = [
                client.post(
                    "/v1/sessions",
                    json={"card_number": person.card_number, "pin": person.pin},
                    headers=auth("kiosk"),
                ).status_code
                for person in again[:12]
            ]
        assert 201 not in answers, answers
    assert read.info.binding == "tests.small_bindings:Counting"
    called = Counter(json.loads(calls.read_text(encoding="utf-8")))
    settled = Counter(r["step"] for r in records(read) if r["outcome"] != "retried")
    assert settled
    assert {STEPS[op]: n for op, n in called.items() if op in STEPS} == dict(settled)
    assert called["branches"] == 1
    assert called["onboard"] == 20
    assert set(called) <= needed(load_profile(str(profile)), onboarding=True)
