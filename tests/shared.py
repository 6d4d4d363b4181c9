"""Real runs shared by test modules, across pytest-xdist's workers.

`--dist loadscope` keeps a module's tests on one worker, so a module-scoped fixture makes its
run once; several modules that need the same run would each make it again. `shared` makes it
once per session: the first worker to ask builds it under a file lock, in a folder every worker
of the session sees; the others wait for the lock and find it built. The folder is then read
only: a test that must change it copies it first (`copy_of`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BUILT = ".built"


def session_folder(factory: pytest.TempPathFactory) -> Path:
    """A folder of this session's that all its workers see: each xdist worker's base
    temporary folder is `popen-gwN` inside the session's."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder `name`, built once per session by `build(folder)` (into an empty folder)."""
    root = session_folder(factory) / "shared"
    root.mkdir(exist_ok=True)
    folder = root / name
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process ends
        if not (folder / BUILT).exists():
            shutil.rmtree(folder, ignore_errors=True)  # a build that raised, half done
            folder.mkdir()
            build(folder)
            (folder / BUILT).touch()
    return folder


@contextmanager
def exclusive(factory: pytest.TempPathFactory, name: str) -> Iterator[None]:
    """Alone among the session's holders of the lock `name`, on every worker: for runs that
    must not overlap, such as two distributed Locust runs (five processes each) on two cores."""
    root = session_folder(factory) / "shared"
    root.mkdir(exist_ok=True)
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def keep(done: subprocess.CompletedProcess[str], folder: Path) -> None:
    """What a command run in a build did, for every module that reads the run (`kept`)."""
    text = json.dumps(
        {"args": [str(a) for a in done.args], "returncode": done.returncode,
         "stdout": done.stdout, "stderr": done.stderr}
    )  # fmt: skip
    (folder / "done.json").write_text(text, encoding="utf-8")


def kept(folder: Path) -> subprocess.CompletedProcess[str]:
    values = json.loads((folder / "done.json").read_text(encoding="utf-8"))
    return subprocess.CompletedProcess(
        values["args"], values["returncode"], values["stdout"], values["stderr"]
    )


def copy_of(folder: Path, to: Path) -> Path:
    """A copy of a shared run folder that a test may change."""
    return Path(shutil.copytree(folder, to))
