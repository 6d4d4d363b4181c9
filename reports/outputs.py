"""Where a concluded folder's files go, for a run folder and a capacity search's alike.

A file goes into the folder (`summary.json`, `summary.md`, `junit.xml`, `report.html`) unless a
path asks for it elsewhere (`-o FILE`, `--junit FILE`). A path asked for must be writable: a
folder that does not exist, a file in its place or a refusal is bad input (one line, exit 2),
checked before the analysis rather than after seconds of it. A read-only folder (copied from
elsewhere, which is what `surge report` is for) keeps the files it has, and `Outputs.kept`
names them; only the one file a command is for (the report of `surge report`) must be written,
so without `-o` a read-only folder is bad input.

What a conclusion writes besides summary.json are `Reporter`s of its one analysis: summary.md,
junit.xml and report.html, each rendered only when `Outputs.publish` writes it, and summary.md
appended to GitHub Actions' step summary (`STEP_SUMMARY`) when that is set.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from surge import runfolder
from surge.exits import BadInput

READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}
"""The refusals that mean a folder cannot be written (its mode, a read-only mount)."""
STEP_SUMMARY = "GITHUB_STEP_SUMMARY"
"""GitHub Actions' step summary file: summary.md is appended to it when it is set."""


@dataclass(frozen=True)
class Reporter:
    """One file of a conclusion: the folder's `name`, or `instead` (asked for with `flag`),
    rendered by `render` when it is written. A `required` one is the file the command is for:
    a folder that keeps its own instead is bad input."""

    name: str
    render: Callable[[], str]
    instead: Path | None = None
    flag: str = ""
    required: bool = False


def check(path: Path | None, flag: str) -> None:
    """Refuse (bad input) a path asked for with `flag` that no file can be written to."""
    if path is None:
        return
    where = path.parent
    if path.is_dir():
        raise BadInput(f"{flag}: {path} is a folder: name the file to write")
    if not where.exists():
        raise BadInput(f"{flag}: {path}: there is no folder {where}")
    if not where.is_dir():
        raise BadInput(f"{flag}: {path}: {where} is not a folder")


@dataclass
class Outputs:
    """The files one conclusion writes into `folder`, or where asked."""

    folder: Path
    kept: list[str] = field(default_factory=list)
    """The folder's own files left as they were: the folder could not be written."""

    def write(
        self,
        name: str,
        text: str,
        instead: Path | None = None,
        flag: str = "",
        required: bool = False,
    ) -> Path | None:
        """Write the folder's `name`, or `instead` (asked for with `flag`); the path written, or
        None when a read-only folder keeps its own (unless `required`: bad input)."""
        target = instead or self.folder / name
        with self._refusals(name, instead, flag, required):
            runfolder.write_output(target, text)
            return target
        return None

    def publish(self, reporters: Iterable[Reporter]) -> dict[str, Path | None]:
        """Write each reporter's file (`write`), and append summary.md's text to the step
        summary when it is set; the path each was written to, by name."""
        written: dict[str, Path | None] = {}
        for reporter in reporters:
            text = reporter.render()
            written[reporter.name] = self.write(
                reporter.name, text, reporter.instead, reporter.flag, reporter.required
            )
            if reporter.name == runfolder.SUMMARY_MD and os.environ.get(STEP_SUMMARY):
                with open(os.environ[STEP_SUMMARY], "a", encoding="utf-8") as out:
                    out.write(text + "\n")
        return written

    def summary(self, figures: Mapping[str, Any]) -> None:
        """The folder's summary.json."""
        with self._refusals(runfolder.SUMMARY):
            runfolder.write_summary(self.folder, figures)

    @contextmanager
    def _refusals(
        self, name: str, instead: Path | None = None, flag: str = "", required: bool = False
    ) -> Iterator[None]:
        """A refused write: bad input (one line), or, of the folder's own file in a read-only
        folder, noted in `kept`."""
        try:
            yield
        except OSError as error:
            if instead is not None:
                raise BadInput(f"{flag}: {instead}: cannot write it: {error.strerror}") from None
            if required or error.errno not in READ_ONLY:
                elsewhere = f": {flag} FILE writes it elsewhere" if flag else ""
                raise BadInput(
                    f"{self.folder}: cannot write {name} there ({error.strerror}){elsewhere}"
                ) from None
            self.kept.append(name)
