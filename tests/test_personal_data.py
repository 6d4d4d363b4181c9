"""After a rehearsal, the run folder holds no personal data of the customer pool and no token.

One short real rehearsal (`surge rehearse`, its embedded mock core given channel tokens of its
own through `--core-config`, as an operator would). The pool's people are those the harness
onboarded: `surge.customers.generate` with the run's seed, locale and branches, as
`surge.harness.lifecycle` calls it. Then every file of the run folder, whatever it is (JSON,
logs, the report, Parquet read back as its values), is searched for each person's full resident
ID, phone and card number, for the PIN and password its logins used, and for each token
(issue 12).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from surge import runfolder
from surge.customers import Person, generate
from tests.test_rehearse import SHORT, surge

CUSTOMERS = 20
TOKENS = {who: f"{who}-{secrets.token_hex(12)}" for who in ("teller", "kiosk", "online")}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("personal")
    config = tmp / "core.toml"
    config.write_text(
        "[tokens]\n" + "".join(f'{who} = "{token}"\n' for who, token in TOKENS.items()),
        encoding="utf-8",
    )
    out = tmp / "results"
    done = surge(
        "rehearse", *SHORT, "--core-config", str(config), "--out", str(out),
        "--", "--customers", str(CUSTOMERS),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [made] = out.iterdir()
    return made


@pytest.fixture(scope="module")
def pool(folder: Path) -> list[Person]:
    read = runfolder.load(folder)
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
    folder: Path, pool: list[Person]
) -> None:
    read = runfolder.load(folder)
    assert read.request_count > 0
    assert len({p.id_number for p in pool}) == CUSTOMERS
    assert {"run.json", "report.html", "locust.log", "mock-core.toml"} <= {
        p.name for p in folder.iterdir()
    }


def test_no_file_holds_a_full_id_phone_or_card_number_of_the_pool(
    folder: Path, pool: list[Person]
) -> None:
    secrets_of = {
        what: getattr(person, what)
        for person in pool
        for what in ("id_number", "phone", "card_number")
    }
    assert secrets_of
    found = [
        (path.name, value)
        for path, text in texts(folder)
        for person in pool
        for value in (person.id_number, person.phone.lstrip("+"), person.card_number)
        if value in text
    ]
    assert found == []


def test_no_file_holds_a_pin_or_password_the_pool_logged_in_with(
    folder: Path, pool: list[Person]
) -> None:
    logins = [r for r in runfolder.load(folder).requests().to_pylist() if r["step"] == "login"]
    assert logins
    assert all(r["outcome"] == "ok" for r in logins)
    secrets_of = {s for person in pool for s in (person.pin, person.password)}
    assert len(secrets_of) == 2 * CUSTOMERS
    # A PIN is six digits, which a timestamp can hold: a secret counts standing alone only.
    found = [
        (path.name, secret)
        for path, text in texts(folder)
        for secret in secrets_of
        if re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", text)
    ]
    assert found == []


def test_no_file_holds_a_token(folder: Path) -> None:
    found = [
        (path.name, who)
        for path, text in texts(folder)
        for who, token in TOKENS.items()
        if token in text
    ]
    assert found == []
    assert not [path.name for path, text in texts(folder) if "Bearer " in text]
