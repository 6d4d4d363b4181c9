"""Where `surge report` writes, and what it says when it cannot: a path that cannot hold the
report is one line and exit 2, and a read-only run folder (copied from elsewhere, which is what
the command is for) still gets its report rebuilt elsewhere (docs/report.md)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reports.outputs import STEP_SUMMARY, Outputs, Reporter
from surge import runfolder
from tests.runs import make
from tests.support import assert_one_line_refusal, surge_in_process


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make(tmp_path / "run")


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("nowhere/report.html", "nowhere/report.html: there is no folder"),
        ("a-file/report.html", "a-file is not a folder"),
        (".", "is a folder: name the file to write"),
    ],
)
def test_an_output_path_that_cannot_hold_the_report_is_one_line_and_exit_2(
    folder: Path, tmp_path: Path, output: str, message: str
) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    before = sorted(folder.iterdir())
    done = surge_in_process("report", str(folder), "-o", str(tmp_path / output))
    assert_one_line_refusal(done, f"surge: -o: {tmp_path / output}")
    assert message in done.stderr
    assert sorted(folder.iterdir()) == before  # refused before anything was written


@pytest.fixture
def read_only(folder: Path) -> Iterator[tuple[Path, Path, list[str]]]:
    """The run folder copied where no one may write to it, a folder anyone may write to, and
    the command that runs `surge` without the right to write there (as another user than root,
    whom file modes do not stop)."""
    with tempfile.TemporaryDirectory(prefix="surge-read-only-") as top:
        base = Path(top)
        base.chmod(0o755)  # other users may look inside, as the namespace's user must
        copied = base / "run"
        shutil.copytree(folder, copied)
        out = base / "out"
        out.mkdir(mode=0o777)
        out.chmod(0o777)
        for path in [copied, *copied.rglob("*")]:
            mode = path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
            path.chmod(mode)
        command = [sys.executable, "-m", "surge"]
        if os.geteuid() == 0:  # CI runs as root, whom no file mode stops: run as nobody
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        probe = subprocess.run(
            [*command[:-2], "-c", f"open({str(copied / 'probe')!r}, 'w')"],
            capture_output=True,
            text=True,
            check=False,
        )
        # Python ran (as that user, the checkout readable) and was refused the folder.
        assert "PermissionError" in probe.stderr, probe.stderr
        yield copied, out, command
        for path in [copied, *copied.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.mark.slow
def test_a_read_only_run_folder_gets_its_report_rebuilt_elsewhere(
    read_only: tuple[Path, Path, list[str]],
) -> None:
    copied, out, command = read_only
    before = {path.name: path.read_bytes() for path in copied.iterdir() if path.is_file()}
    report = out / "report.html"
    done = subprocess.run(
        [*command, "report", str(copied), "-o", str(report), "--lang", "en"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Report: {report}\n"
    assert done.stderr == (
        f"surge: {copied} is read-only: summary.json, summary.md and junit.xml not written there\n"
    )
    assert "</html>" in report.read_text(encoding="utf-8")
    assert {path.name: path.read_bytes() for path in copied.iterdir() if path.is_file()} == before
    assert not list(copied.glob(".*.tmp"))


@pytest.mark.slow
def test_a_read_only_run_folder_without_o_is_one_line_and_exit_2(
    read_only: tuple[Path, Path, list[str]],
) -> None:
    copied, _, command = read_only
    done = subprocess.run(
        [*command, "report", str(copied)], capture_output=True, text=True, timeout=120, check=False
    )
    assert_one_line_refusal(
        done,
        f"surge: {copied}: cannot write report.html there (Permission denied): -o FILE writes "
        "it elsewhere",
    )


def test_each_reporter_is_rendered_once_where_asked_and_only_summary_md_reaches_the_step_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step = tmp_path / "step.md"
    step.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv(STEP_SUMMARY, str(step))
    rendered: list[str] = []

    def render(text: str) -> Callable[[], str]:
        def rendering() -> str:
            rendered.append(text)
            return text

        return rendering

    folder = tmp_path / "run"
    folder.mkdir()
    elsewhere = tmp_path / "ci" / "junit.xml"
    elsewhere.parent.mkdir()
    paths = Outputs(folder).publish(
        [
            Reporter(runfolder.SUMMARY_MD, render("# summary")),
            Reporter(runfolder.JUNIT, render("<testsuites/>"), elsewhere, "--junit"),
            Reporter(runfolder.REPORT, render("<html/>"), required=True),
        ]
    )
    assert rendered == ["# summary", "<testsuites/>", "<html/>"]
    assert paths == {
        runfolder.SUMMARY_MD: folder / runfolder.SUMMARY_MD,
        runfolder.JUNIT: elsewhere,
        runfolder.REPORT: folder / runfolder.REPORT,
    }
    assert elsewhere.read_text(encoding="utf-8") == "<testsuites/>"
    assert not (folder / runfolder.JUNIT).exists()
    assert step.read_text(encoding="utf-8") == "earlier step\n# summary\n"
