"""A run folder concluded: analysed once, then its summaries, report, gate and JUnit file.

`surge report RUN_DIR` writes the report; `surge gate RUN_DIR` judges it for CI; `surge
rehearse` and `surge capacity` do both at the end of their run (the command line composes the
reports, the harness never imports them: docs/architecture.md), and a plain Locust run writes
its report through a `surge report` process. Everything comes from the folder alone, so a folder
copied to another machine is reported and gated the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports import outputs, render
from reports.analysis import Analysis, analyse, summary
from reports.gate import Case, Gate, Gated, gate
from reports.i18n import LANGUAGES, language_for
from reports.outputs import Reporter
from surge import runfolder
from surge.exits import BadInput

Further = Callable[[Path, Mapping[str, Any] | None, str], tuple[list[Case], str]]
"""More of the gate, judged from the folder and its figures (a run's summary.json as it is about
to be written; None for a capacity search) in summary.md's language: its cases, and a section
for summary.md. The run history's (`reports.history.against`)."""


@dataclass(frozen=True)
class Conclusion(Gated):
    analysis: Analysis
    kept: tuple[str, ...] = ()
    """The folder's own files left as they were: it is read-only (`reports.outputs`)."""


def conclude(
    folder: Path,
    *,
    html: bool = True,
    output: Path | None = None,
    language: str | None = None,
    baseline: Path | None = None,
    max_regression: float = 0.1,
    junit: Path | None = None,
    further: Further | None = None,
) -> Conclusion:
    """Analyse `folder` (against `baseline`, and as `further` judges it), write summary.json,
    summary.md, junit.xml (or `junit`) and, with `html`, report.html (or `output`): a read-only
    folder keeps its own (`reports.outputs`). Raises `BadInput` (one line) for a folder it
    cannot read, a baseline of another profile, a language it does not have, a file it cannot
    write."""
    run = runfolder.load(folder)
    outputs.check(output, "-o")
    outputs.check(junit, "--junit")
    chosen = language or language_for(run.profile)
    if chosen not in LANGUAGES:
        raise BadInput(f"--lang: {chosen!r} is not one of {', '.join(LANGUAGES)}")
    if not 0 <= max_regression < 10:
        raise BadInput(f"--max-regression: {max_regression:g} is not a share from 0 to 10")
    before = None
    if baseline is not None:
        earlier = runfolder.load(baseline)
        if earlier.profile.name != run.profile.name:
            raise BadInput(
                f"--baseline: {baseline} is a run of {earlier.profile.name}, not of "
                f"{run.profile.name}: runs compare only with runs of the same profile"
            )
        before = analyse(earlier)
    analysis = analyse(run)
    judged = gate(analysis, before, max_regression)
    figures = summary(analysis)
    section = ""
    if further is not None:
        cases, section = further(run.path, figures, chosen)
        judged = Gate(judged.cases + cases)
    written = outputs.Outputs(run.path)
    written.summary(figures | {"gate": _cases(judged)})
    compared = None if baseline is None else baseline.name
    reporters = [
        Reporter(
            runfolder.SUMMARY_MD,
            lambda: render.markdown(analysis, chosen, judged, compared) + section,
        ),
        Reporter(runfolder.JUNIT, judged.junit, junit, "--junit"),
    ]
    if html:
        page = Reporter(
            runfolder.REPORT, lambda: render.html(analysis, chosen, judged), output, "-o", True
        )
        reporters.append(page)
    paths = written.publish(reporters)
    return Conclusion(
        gate=judged,
        report=paths.get(runfolder.REPORT),
        analysis=analysis,
        kept=tuple(written.kept),
    )


def _cases(judged: Gate) -> dict[str, object]:
    return {
        "exit_code": judged.exit_code,
        "cases": [
            {"suite": c.suite, "name": c.name, "passed": c.passed, "message": c.message}
            for c in judged.cases
        ],
    }
