from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from playwright.sync_api import Browser, sync_playwright

from mock_core.app import create_app
from mock_core.settings import Settings, load_settings
from tests import postgres
from tests.browser import CHROMIUM, FLAGS
from tests.load import EMERGENCY_DRILL, FEW_CUSTOMERS, Rehearsed, rehearsed
from tests.support import Api, serve_api

# CI draws the same examples every run, so its verdict never depends on the draw; set
# HYPOTHESIS_PROFILE=explore locally to search new ground.
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session", autouse=True)
def history_of_the_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every run the suite concludes is recorded (docs/history.md) in one history of this
    worker's (its children inherit it), not in a history.sqlite beside each test's run folders,
    which tests list. tests/test_history_*.py choose their own."""
    before = os.environ.get("SURGE_HISTORY")
    os.environ["SURGE_HISTORY"] = str(tmp_path_factory.mktemp("history") / "history.sqlite")
    yield
    if before is None:
        os.environ.pop("SURGE_HISTORY", None)
    else:
        os.environ["SURGE_HISTORY"] = before


@pytest.fixture(scope="session")
def postgresql() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback (tests/postgres.py), started once a worker;
    its SQLAlchemy URL."""
    with postgres.server() as url:
        yield url


@pytest.fixture
def settings() -> Settings:
    """Functional tests run unlimited: no simulated service time (the lane tests set their own)."""
    return load_settings(seed=7, customers=30, unlimited=True)


@pytest.fixture
def app(tmp_path: Path, settings: Settings) -> FastAPI:
    return create_app(settings, tmp_path / "ledger.sqlite")


@pytest.fixture
def api(app: FastAPI) -> Iterator[Api]:
    """In-process: fast, same code path as the server, no socket."""
    with TestClient(app) as client:
        yield Api(client)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A real `mock-core` process on loopback, shared by a module's tests."""
    db = tmp_path_factory.mktemp("live") / "ledger.sqlite"
    with serve_api(db, "--customers", "30", "--seed", "7", "--unlimited") as api:
        yield api


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium (installed by .ci/run), driven by Playwright through its executable:
    nothing is downloaded."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install -y chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def emergency_drill(tmp_path_factory: pytest.TempPathFactory) -> Rehearsed:
    """The shipped emergency drill rehearsed against the embedded core, its crash included
    (tests/test_crash_drill.py), once for the session: its report is also the one the browser
    opens (tests/test_report_browser.py)."""
    return rehearsed(tmp_path_factory, "emergency_drill", [*EMERGENCY_DRILL, *FEW_CUSTOMERS])


LONGEST_FIRST = (
    "test_capacity_endings.py",
    "test_crash_drill.py",
    "test_capacity.py",
    "test_locust_evidence.py",
    "test_ci_example.py",
    "test_binding_example.py",
    "test_locust_worker_loss.py",
    "test_shipped_profiles_run.py",
    "test_locust_distributed.py",
    "test_lanes.py",
    "test_locust_web_ui.py",
    "test_locust_run.py",
    "test_report_browser.py",
    "test_properties.py",
    "test_gate_baseline.py",
    "test_rehearse.py",
    "test_installed_package.py",
    "test_history_gate.py",
    "test_drill_recovery.py",
    "test_overload.py",
    "test_locust_processes.py",
    "test_history_store.py",
    "test_aml_payday.py",
    "test_locust_refusals.py",
    "test_rehearse_input.py",
    "test_openapi_fuzz.py",
)
"""The modules that take longest (half a minute to two each, mostly real runs waiting on their
day), longest first, as a whole suite on two cores measured them. `--dist loadscope --no-loadscope-reorder` (dev.py) hands modules to the workers
in collection order, so these start first, the other modules with slow tests after them, and
the many short modules fill in at the end: no worker is left running a long module alone."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    with_slow = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        if name in LONGEST_FIRST:
            return LONGEST_FIRST.index(name)
        return len(LONGEST_FIRST) + (0 if item.path in with_slow else 1)

    items.sort(key=rank)  # stable: a module's tests keep their order


def pytest_configure() -> None:
    gc.disable()  # until collection ends: see pytest_collection_finish


def pytest_collection_finish() -> None:
    """Collecting imports the whole suite's libraries, objects that live as long as the worker:
    frozen, the collector no longer walks them on each full pass (with it off while collecting,
    a fifth of the collection's CPU, in each worker)."""
    gc.freeze()
    gc.enable()
