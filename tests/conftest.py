from __future__ import annotations

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
from tests.browser import CHROMIUM, FLAGS
from tests.support import Api, serve_api

# CI draws the same examples every run, so its verdict never depends on the draw; set
# HYPOTHESIS_PROFILE=explore locally to search new ground.
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
