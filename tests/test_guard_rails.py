"""Guard rails for a real target (`surge.visit.target`): the mock core's own parts are skipped against
another system, with a line each and the report's "could not run" rows, and writes go only to
the mock core or a host named in `--allow-host`.

The other system is a tiny loopback app that is not the mock core: it passes the mock core's API
through (so the journeys have something to do) but answers `/openapi.json` as itself, and it
counts every request it is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from surge.exits import BadInput
from surge.run import rehearse
from surge.visit import credentials
from surge.visit.target import Target, allowed, check_writes, recognise
from tests.load import TIME_SCALE, locust, one_branch, run_folder
from tests.relay import Relay
from tests.support import serve

OTHER_TITLE = "the bank's branch gateway"


def other_system(core: str) -> Relay:
    """Passes the mock core's API through but answers `/openapi.json` as itself."""
    return Relay(core, title=OTHER_TITLE)


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("core") / "ledger.sqlite"
    with serve(db, "--unlimited", "--customers", "20") as (host, _):
        yield host


def test_the_mock_core_is_recognised_by_its_own_answer_and_another_system_is_not(
    core: str,
) -> None:
    assert recognise(core, credentials.NONE) == Target(core, mock_core=True)
    with other_system(core) as other:
        assert recognise(other.url, credentials.NONE) == Target(other.url, mock_core=False)
    assert other.sent == {("GET", "/openapi.json"): 1}
    assert recognise("http://127.0.0.1:9", credentials.NONE).answered is False


def test_allow_host_names_a_host_by_its_name_or_name_and_port() -> None:
    assert allowed("https://staging.bank.example:8443/api", ["STAGING.bank.example"])
    assert allowed("https://staging.bank.example:8443", ["staging.bank.example:8443"])
    assert not allowed("https://staging.bank.example:8443", ["staging.bank.example:443"])
    assert not allowed("https://stagign.bank.example", ["staging.bank.example"])
    with pytest.raises(BadInput, match=r"--allow-host does not name stagign\.bank\.example"):
        check_writes(Target("https://stagign.bank.example", mock_core=False), [])


def test_allow_host_needs_a_host_to_allow() -> None:
    with pytest.raises(BadInput, match="--allow-host: only with --host"):
        rehearse.rehearsal(
            rehearse.RehearsalOptions("payday", time_scale=480, allow_hosts=["127.0.0.1"])
        )


@pytest.mark.slow
def test_a_host_neither_the_mock_core_nor_allowed_exits_2_before_any_write(
    core: str, tmp_path: Path
) -> None:
    with other_system(core) as other:
        done = locust(other.url, "--results", str(tmp_path / "results"), timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: --host: {other.url} is not the mock core (its /openapi.json says otherwise) "
        "and --allow-host does not name 127.0.0.1: no write sent"
    ]
    assert other.writes() == 0
    assert other.sent == {("GET", "/openapi.json"): 1}
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


@pytest.mark.slow
def test_an_unreadable_credential_file_exits_2_before_any_request(
    core: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SURGE_CREDENTIALS", str(tmp_path / "missing.toml"))
    with other_system(core) as other:
        done = locust(other.url, "--allow-host", "127.0.0.1", timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [
        f"error: SURGE_CREDENTIALS={tmp_path / 'missing.toml'}: cannot read it: [Errno 2] No "
        f"such file or directory: '{tmp_path / 'missing.toml'}'"
    ]
    assert other.sent == {}


@pytest.fixture(scope="module")
def allowed_run(core: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Relay, Path, str]:
    """A short day against the other system, allowed, with an admin token and a fault: what
    would reach the mock core's admin API does not."""
    folder = tmp_path_factory.mktemp("allowed")
    profile = one_branch(folder)
    text = profile.read_text(encoding="utf-8")
    profile.write_text(
        text + '\n[[faults]]\nat = "10:00"\nduration = "15m"\nkind = "latency"\n'
        'target = "lane:teller-core"\n'
        'latency = { distribution = "lognormal", median = 0.8, p95 = 3.0 }\n',
        encoding="utf-8",
    )
    with other_system(core) as other:
        done = locust(
            other.url,
            *("--profile", str(profile), "--time-scale", str(4 * TIME_SCALE)),
            *("--results", str(folder / "results"), "--customers", "10"),
            *("--allow-host", "127.0.0.1", "--admin-token", "admin-local-token"),
            report=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return other, run_folder(folder / "results").path, done.stderr


@pytest.mark.slow
def test_allow_host_lets_the_writes_through(allowed_run: tuple[Relay, Path, str]) -> None:
    other, _, _ = allowed_run
    assert other.writes() > 0


@pytest.mark.slow
def test_the_mock_cores_parts_are_skipped_with_a_line_each(
    allowed_run: tuple[Relay, Path, str],
) -> None:
    other, folder, stderr = allowed_run
    warnings = [line for line in stderr.splitlines() if "skipped" in line]
    assert warnings == [
        f"warning: the profile's 1 faults skipped: {other.url} is not the mock core",
        f"warning: /admin/reconcile, /admin/alerts and /admin/ledger/keys skipped: {other.url} "
        "is not the mock core",
        f"warning: the scrape of the target's /metrics skipped: {other.url} is not the mock core",
    ]
    assert not [path for _, path in other.sent if path.startswith(("/admin", "/metrics"))]
    read = run_folder(folder.parent)
    assert read.info.mock_core is False
    assert read.info.skipped == [line.removeprefix("warning: ") for line in warnings]
    assert read.info.credentials == {"token": "none", "tls": "none"}


@pytest.mark.slow
def test_the_report_says_which_checks_could_not_run(allowed_run: tuple[Relay, Path, str]) -> None:
    """The profile's customers are zh_CN, so the report is in Chinese (reports/i18n.py)."""
    other, folder, _ = allowed_run
    html = (folder / "report.html").read_text(encoding="utf-8")
    table = html.split('<table id="table-could-not-run">')[1].split("</table>")[0]
    rows = table.split("<tr><td")[1:]
    checks = ["账本对账", "写入与账本的核对", "反洗钱召回率"]  # reconcile, writes, AML recall
    assert [check in row for row, check in zip(rows, checks, strict=True)] == [True] * 3
    assert all(f"{other.url} 不是模拟核心系统" in row for row in rows)
    assert html.count(f"无法运行：{other.url} 不是模拟核心系统") == 3  # each part's own line
