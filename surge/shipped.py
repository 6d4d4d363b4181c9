"""The folders the harness ships beside its code: the surge profiles and the Locust entry.

In the repository they sit at its top (`profiles/`, `loadtests/`: `locust -f loadtests`); an
installed package carries them inside itself (`surge/profiles`, `surge/loadtests`, mapped in
pyproject.toml), so `surge` works from any folder once installed.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def folder(name: str) -> Path:
    """The shipped folder `name` ("profiles" or "loadtests"): inside the installed package, or
    beside the package in the repository."""
    for candidate in (_HERE / name, _HERE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"{name}: not shipped with this installation of branch-surge")
