"""branch-surge installed like a package (`pip install .`, not editable) into a fresh virtual
environment, and run from a folder that is not the repository: the profiles and the Locust entry
ship inside the package.

The new environment sees this one's dependencies through a `.pth` line (nothing is downloaded),
but not this environment's editable install of the project: `.pth` files of a folder added that
way are not run, so `surge` there can only be the installed copy.
"""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

from surge import runfolder
from surge.judge import verdict

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("mock_core", "reports", "surge", "profiles", "loadtests", "pyproject.toml", "README.md")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `bin` folder of a fresh environment with the project installed from a copy of it."""
    tmp = tmp_path_factory.mktemp("installed")
    source = tmp / "source"
    for name in SHIPPED:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(origin, source / name)
    env = tmp / "env"
    venv.EnvBuilder(with_pip=False).create(env)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env), "platbase": str(env)}))
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    python = env / "bin" / "python"
    done = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", str(source)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return env / "bin"


def run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [bin_dir / args[0], *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


def test_the_installed_package_is_the_copy_not_the_repository(
    installed: Path, tmp_path: Path
) -> None:
    done = run(installed, "python", "-c", "import surge; print(surge.__file__)", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert str(ROOT) not in done.stdout
    assert "site-packages" in done.stdout


def test_the_installed_surge_lists_the_shipped_profiles_from_anywhere(
    installed: Path, tmp_path: Path
) -> None:
    done = run(installed, "surge", "profiles", "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines()]
    assert names == ["emergency_drill", "new_product_launch", "payday", "post_holiday", "weekday"]


def test_the_installed_surge_rehearses_from_anywhere(installed: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = run(
        installed,
        "surge",
        "rehearse",
        *("--profile", "weekday", "--time-scale", "4320", "--rate-scale", "100"),
        *("--out", str(out), "--", "--customers", "20"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [path] = out.iterdir()
    folder = runfolder.load(path)
    assert verdict.judge(folder).valid
    locustfile = folder.info.command_line[folder.info.command_line.index("-f") + 1]
    assert locustfile.startswith(str(installed.parent))  # the installed copy's own entry
    assert locustfile.endswith("site-packages/surge/loadtests")
