"""Set up and run branch-surge on a fresh machine with nothing but Python 3.11.

Each command creates (or reuses) the project's virtual environment in `.venv`, installs what it
needs from `pyproject.toml` when that file changed since the last install, then runs:

    python3 dev.py rehearse [ARGS…]    the main job: `surge rehearse`, a surge profile replayed
                                       against an embedded mock core (about 90 s by default)
    python3 dev.py mock-core [ARGS…]   the mock core-banking service with seeded customers
    python3 dev.py test [PYTEST ARGS…] ruff and mypy, then the whole test suite, in parallel
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PACKAGES = ("surge", "reports", "mock_core", "loadtests", "tests")
UV = "uv==0.13.10"
"""The installer, itself installed by the venv's pip: the pinned packages from PyPI (trusting
the system's certificates, as pip does: a bank's proxy signs with its own), compiled to bytecode
on both cores, in 20 s on a fresh machine where pip took 51 s (pip compiles one file at
a time; skipping the compiling leaves every one of the suite's processes compiling its imports
again where PYTHONDONTWRITEBYTECODE is set)."""
PARALLEL = ("-n", "4", "--dist", "loadscope", "--no-loadscope-reorder")
"""pytest-xdist: four workers on two cores, since much of the suite's time is real runs waiting
on a time-scaled day, not computing; a module's tests stay on one worker, so a module-scoped
fixture (one real run, shared) is made once, and runs several modules read are made once for
all workers (tests/shared.py). Modules go out in collection order, which tests/conftest.py sets
longest first. `python3 dev.py test -n 0` runs the suite serially; `-m "not slow" -n 2` the
fast tier, which computes rather than waits: on two workers it took 49 s, on four 60 s (each
worker collects the whole suite, 9 CPU-s)."""


def _ensure_env(extras: str) -> None:
    """Install the project (with `extras`) unless the venv already holds this pyproject's set."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs under whatever python3 is
        sys.exit(f"dev.py: Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"dev.py: creating the virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".installed-{extras or 'base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    target = f".[{extras}]" if extras else "."
    print(f"dev.py: installing branch-surge{target[1:]} into {VENV}", flush=True)
    pip = [BIN / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, UV], cwd=ROOT, check=True)
    subprocess.run(
        [BIN / "uv", "pip", "install", "-q", "--python", BIN / "python", "--compile-bytecode",
         "--native-tls", "-e", target],
        cwd=ROOT,
        check=True,
    )  # fmt: skip
    stamp.write_text(digest)


def _run(*argv: str | Path) -> int:
    """The child's exit code. Ctrl-C reaches the child as well (one process group) and it decides
    how to stop: `surge rehearse` stops its own children first, so dev.py waits for it rather
    than killing it (which is what `subprocess.run` does on KeyboardInterrupt)."""
    with subprocess.Popen([str(a) for a in argv], cwd=ROOT) as child:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:
                continue


@contextmanager
def _idle_priority(*argv: str | Path) -> Iterator[subprocess.CompletedProcess[str]]:
    """`argv` beside the block at the lowest CPU priority, its output printed after the block.

    The type check's 12 s of CPU fits in what the suite leaves idle (about a quarter of two
    cores); at the usual priority it would slow the suite's first minute, when its longest real
    runs start together and their time-scaled days are most sensitive to a busy host."""
    lowest = (lambda: os.nice(19)) if os.name == "posix" else None
    child = subprocess.Popen(
        [str(a) for a in argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lowest,  # dev.py runs no threads yet: nothing a fork could find locked
    )
    done = subprocess.CompletedProcess(child.args, 0, "")
    try:
        yield done
    finally:
        done.stdout, _ = child.communicate()
        done.returncode = child.returncode
        print(done.stdout, end="", flush=True)


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "rehearse":
        _ensure_env("")
        return _run(BIN / "surge", "rehearse", *rest)
    if command == "mock-core":
        _ensure_env("")
        return _run(BIN / "mock-core", *rest)
    if command == "test":
        _ensure_env("test")
        lint = _run(BIN / "ruff", "check", ".")
        # Where PYTHONDONTWRITEBYTECODE is set (CI sets it), no import writes bytecode, and each
        # of the hundreds of processes the suite starts would compile the project's modules
        # again: compiled once here, they are read by all (__pycache__ is git-ignored).
        _run(BIN / "python", "-m", "compileall", "-q", "-j", "0", *PACKAGES)
        with _idle_priority(BIN / "mypy") as types:
            tests = _run(BIN / "python", "-m", "pytest", *PARALLEL, *rest)
        return tests or lint or types.returncode
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
