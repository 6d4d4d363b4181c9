"""The run history: every run remembered in a database, its trends and change points, and a gate
that judges a run against the runs before it (docs/history.md).

- `entry`: what is kept of a run, read from its folder (summary.json, or capacity.json);
- `store`: the database (SQLite by default, any SQLAlchemy URL), its schema migrated by Alembic;
- `changes`: change points in a series (E-divisive means with a t-test);
- `gate`: a run against its comparable runs.

`record` is what `surge rehearse`, `surge capacity` and `surge gate` call once they have
concluded a run; `record_quietly` is how they call it: a history that cannot be written costs
one line on stderr, never the run folder or the run's verdict.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from surge.history.entry import Entry

# The store (SQLAlchemy, Alembic) is imported by the functions that use it: every `surge`
# command imports this package, and most of them never open a history.

WINDOW = 20
"""Comparable runs the gate judges a run against by default (`--window`)."""
ENV = "SURGE_HISTORY"
"""The history's URL (or SQLite file) when `--history` gives none."""
FILE = "history.sqlite"
"""The default history: this file beside the run folders (`--out`, `results` by default)."""
LABEL_ENV = "GITHUB_SHA"
"""The label a run gets without `--label`, when set (the commit a GitHub Actions job runs)."""
GIT_TIMEOUT_S = 5.0

__all__ = [
    "ENV",
    "FILE",
    "WINDOW",
    "check",
    "context",
    "default_label",
    "link",
    "locate",
    "record",
    "record_quietly",
]


def locate(given: str | None, beside: Path) -> str:
    """Where the history is: `--history`, else `$SURGE_HISTORY`, else `beside/history.sqlite`."""
    return given or os.environ.get(ENV) or str(beside / FILE)


def default_label(cwd: Path | None = None) -> str | None:
    """`$GITHUB_SHA`, else the commit checked out where surge runs (if it is a git work tree),
    else None; a commit shortened to 12 characters."""
    sha = os.environ.get(LABEL_ENV)
    if not sha:
        try:
            done = subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        sha = done.stdout.strip() if done.returncode == 0 else ""
    return sha[:12] or None


def link() -> str | None:
    """Where the run can be found besides its folder: the GitHub Actions run that made it (its
    artifacts hold the report), when it ran in one."""
    server, repository, number = (
        os.environ.get(name) for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if server and repository and number:
        return f"{server}/{repository}/actions/runs/{number}"
    return None


def context(found: Entry, label: str | None) -> Entry:
    """`found` with what its folder does not say: the label given, this machine, the CI run."""
    return replace(found, label=label, machine=socket.gethostname(), link=link())


def check(where: str) -> None:
    """Open the history at `where` (creating or migrating it) and close it: `surge rehearse`
    and `surge capacity` call it before they start, so a history that cannot be used is bad
    input (one line, exit 2) before the run, not a line after it. Raises `BadInput`."""
    from surge.history.store import Store

    Store.open(where).close()


def record(folder: Path, where: str, label: str | None, exit_code: int | None = None) -> Entry:
    """Record the run in `folder` (its gate's `exit_code` when just judged) in the history at
    `where`; the entry as recorded, labelled `label`, else as it was, else by the commit
    surge runs from (`default_label`: the run was just made or gated there). Raises `BadInput`
    (one line)."""
    from surge.history import entry
    from surge.history.store import Store

    found = context(entry.read(folder, exit_code), label)
    with Store.open(where) as history:
        return history.record(found, default_label())


def record_quietly(
    folder: Path, where: str, label: str | None, exit_code: int | None = None
) -> Entry | None:
    """`record`, silently, but a failure is one line on stderr and None: the run folder is
    written and the verdict decided before the history is, and neither depends on it."""
    try:
        recorded = record(folder, where, label, exit_code)
    except Exception as error:  # whatever failed, the run's verdict stands
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"surge: history: the run was not recorded: {reason}", file=sys.stderr)
        return None
    return recorded
