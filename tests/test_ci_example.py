"""The CI example (examples/github-actions/): the workflow's gate step, run here as the workflow
runs it, so the example cannot rot. Two short real rehearsals against the embedded mock core:
the first stores the baseline, the second is gated against it.

The profile is `weekday` with its latency and wait objectives ten times looser: this pins the
script's plumbing (commands, exit code, files, step summary), not the embedded core's tail on a
machine shared with the rest of the suite, and for the same reason the regression allowed is
100% (tests/test_gate_baseline.py pins what the regression check catches)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from surge.day.profile import profiles_dir
from tests.load import SHORT_RATE_SCALE, SHORT_TIME_SCALE

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "github-actions"
WORKFLOW = EXAMPLE / "capacity-gate.yml"
SCRIPT = "examples/github-actions/capacity-gate.sh"
LOOSER = 10


def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def job() -> dict[str, Any]:
    [capacity] = workflow()["jobs"].values()
    return capacity


def step(step_id: str) -> dict[str, Any]:
    [found] = [s for s in job()["steps"] if s.get("id") == step_id]
    return found


def loose_weekday(folder: Path) -> Path:
    text = (profiles_dir() / "weekday.toml").read_text(encoding="utf-8")
    text = re.sub(
        r"^((?:p95_ms|p99_ms|customer_wait_p95_s) = )(\d+)",
        lambda m: f"{m[1]}{int(m[2]) * LOOSER}",
        text,
        flags=re.MULTILINE,
    )
    path = folder / "weekday.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class Gated:
    out: Path
    done: subprocess.CompletedProcess[str]
    summary: str
    outputs: dict[str, str]


def gate(
    tmp: Path,
    name: str,
    profile: Path,
    baseline: Path | None = None,
    core_config: Path | None = None,
) -> Gated:
    """The workflow's gate step, its command as the workflow writes it, in the repository."""
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(("SURGE_", "LOCUST_", "GITHUB_"))
    }
    out, summary, outputs = tmp / name, tmp / f"{name}-summary.md", tmp / f"{name}-output"
    env = inherited | {
        # `pip install .` puts `surge` on the PATH in the workflow; here it is the venv's.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SURGE_PROFILE": str(profile),
        "SURGE_OUT": str(out),
        "SURGE_TIME_SCALE": SHORT_TIME_SCALE,
        "SURGE_RATE_SCALE": SHORT_RATE_SCALE,
        "SURGE_MAX_REGRESSION": "1",
        "SURGE_LOCUST_ARGS": "--customers 20",
        "SURGE_BASELINE": str(baseline or ""),
        "SURGE_CORE_CONFIG": str(core_config or ""),
        "SURGE_HISTORY": str(tmp / "history.sqlite"),  # the workflow's cached file, shared
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
    }
    done = subprocess.run(
        shlex.split(step("gate")["run"]),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    written = outputs.read_text(encoding="utf-8") if outputs.exists() else ""
    return Gated(
        out,
        done,
        summary.read_text(encoding="utf-8") if summary.exists() else "",
        dict(line.split("=", 1) for line in written.splitlines() if "=" in line),
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Gated, Gated]:
    tmp = tmp_path_factory.mktemp("ci")
    profile = loose_weekday(tmp)
    config = wider_kiosks(tmp)
    first = gate(tmp, "main", profile, core_config=config)
    assert first.done.returncode == 0, first.done.stdout[-3000:] + first.done.stderr[-3000:]
    baseline = Path(first.outputs["run_folder"])
    second = gate(tmp, "pull-request", profile, baseline, core_config=config)
    return first, second


KIOSK_SLOTS = 64
"""The kiosk gateway's slots in the runs' core config (the core's own default is 48)."""


def wider_kiosks(tmp: Path) -> Path:
    """A core config in the mock core's format, as a team sizing the core like its systems."""
    config = tmp / "core.toml"
    config.write_text(f"[lanes.kiosk-gateway]\nslots = {KIOSK_SLOTS}\n", encoding="utf-8")
    return config


def cases(junit: Path) -> dict[str, str]:
    """Each test case's `classname name` and whether it failed."""
    root = ElementTree.parse(junit).getroot()
    return {
        f"{c.get('classname')} {c.get('name')}": "failure" if c.find("failure") is not None else ""
        for c in root.iter("testcase")
    }


@pytest.mark.slow
def test_the_run_gated_against_the_baseline_passes_with_its_files(
    runs: tuple[Gated, Gated],
) -> None:
    _, second = runs
    assert second.done.returncode == 0, second.done.stdout[-3000:] + second.done.stderr[-3000:]
    junit = cases(second.out / "junit.xml")
    assert any(".regression " in name for name in junit), sorted(junit)
    assert not [name for name, result in junit.items() if result], junit
    assert (second.out / "report.html").stat().st_size > 0
    assert Path(second.outputs["run_folder"]).parent.resolve() == second.out.resolve()


@pytest.mark.slow
def test_the_core_config_reaches_the_embedded_core(runs: tuple[Gated, Gated]) -> None:
    for run in runs:
        kept = Path(run.outputs["run_folder"]) / "mock-core.toml"
        assert (
            tomllib.loads(kept.read_text("utf-8"))["lanes"]["kiosk-gateway"]["slots"] == KIOSK_SLOTS
        )


@pytest.mark.slow
def test_each_run_writes_the_step_summary_once(runs: tuple[Gated, Gated]) -> None:
    first, second = runs
    for gated in runs:
        headings = [line for line in gated.summary.splitlines() if line.startswith("## ")]
        assert len(headings) == 1, gated.summary
    baseline = Path(first.outputs["run_folder"]).name
    assert f"`{baseline}`" in second.summary  # compared with it, in the report's language
    assert "`" not in first.summary


@pytest.mark.slow
def test_each_run_lands_in_the_history_and_the_second_is_judged_against_it(
    runs: tuple[Gated, Gated],
) -> None:
    from reports.i18n import Words
    from surge.history.store import Store

    first, second = runs
    where = first.out.parent / "history.sqlite"
    with Store.open(str(where), create=False) as history:
        recorded = history.entries()
    folders = [Path(run.folder).name for run in recorded]
    assert folders == [Path(g.outputs["run_folder"]).name for g in runs]
    assert [run.exit_code for run in recorded] == [0, 0]
    heading = "Against the history: {runs} comparable runs before this one ({where})"
    for gated, before in ((first, "0"), (second, "1")):  # in the profile's language, zh_CN
        assert Words("zh_CN")(heading, runs=before, where=str(where)) in gated.summary
    junit = cases(second.out / "junit.xml")
    assert any(name.startswith("surge.gate.history ") for name in junit), sorted(junit)
    assert (second.out / "history.html").stat().st_size > 0


def test_the_workflow_uploads_what_the_script_leaves() -> None:
    steps = job()["steps"]
    assert job()["env"]["SURGE_OUT"] == "results"
    [upload] = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert set(upload["with"]["path"].split()) == {
        "results/report.html",
        "results/junit.xml",
        "results/history.html",
    }
    assert step("gate")["run"] == f"bash {SCRIPT}"
    assert {"SURGE_BASELINE", "SURGE_CORE_CONFIG"} <= set(step("gate")["env"])
    # PyYAML reads YAML 1.1, where a bare `on` is the boolean true.
    assert {"pull_request", "push"} <= set(workflow()[True])
