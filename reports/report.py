"""The report of one run folder: analysed, then summary.json, summary.md and report.html written.

`surge report RUN_DIR` calls this, as `surge rehearse` does at the end of its run and the harness
does at the end of a plain Locust run (as a `surge report` process: the harness keeps pandas
and plotly out of Locust's process). It reads only the folder, so it rebuilds any report from a
folder copied to another machine.
"""

from __future__ import annotations

from pathlib import Path

from reports import render
from reports.analysis import analyse, summary
from reports.i18n import LANGUAGES, language_for
from surge import runfolder
from surge.exits import BadInput


def build(folder: Path, output: Path | None = None, language: str | None = None) -> Path:
    """Write the folder's summaries and report (at `output`, else in the folder); its path.
    Raises `BadInput` (one line) for a folder it cannot read or a language it does not have."""
    run = runfolder.load(folder)
    chosen = language or language_for(run.profile)
    if chosen not in LANGUAGES:
        raise BadInput(f"--lang: {chosen!r} is not one of {', '.join(LANGUAGES)}")
    analysis = analyse(run)
    runfolder.write_summary(run.path, summary(analysis))
    runfolder.write_output(run.path / runfolder.SUMMARY_MD, render.markdown(analysis, chosen))
    path = output or run.path / runfolder.REPORT
    runfolder.write_output(path, render.html(analysis, chosen))
    return path
