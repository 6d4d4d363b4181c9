"""The boundaries of docs/architecture.md, held by walking every import of the code.

Imports anywhere in a module count (inside functions too): a lazy import crosses a boundary as
surely as one at the top.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN_FOLDER_FILES = re.compile(
    r"""["'](run\.json|summary\.json|visits\.json|lateness\.json|requests\.parquet|"""
    r"""requests\.csv|metrics\.csv|generator\.csv|reconcile\.json|alerts\.json|"""
    r"""expected_alerts\.json)["']"""
)


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module `path` imports, by its full dotted name."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def crossing(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in paths
        for name in sorted(imported(path))
        if name.split(".")[0] in forbidden
    ]


def test_the_walk_sees_imports_inside_functions_too(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    import reports.x\n    from gevent import sleep\n")
    assert imported(module) == {"reports.x", "gevent", "gevent.sleep"}


def test_the_mock_core_imports_nothing_of_the_harness() -> None:
    assert crossing(modules("mock_core"), ("surge", "loadtests", "reports", "locust")) == []


def test_the_example_api_is_another_system_that_imports_nothing_of_this_project() -> None:
    server = modules("examples/bindings/branch_api_server")
    assert server
    assert crossing(server, ("surge", "mock_core", "loadtests", "reports")) == []


def test_the_example_binding_reaches_its_api_over_http_only() -> None:
    binding = ROOT / "examples" / "bindings" / "branch_api.py"
    assert crossing([binding], ("mock_core", "examples", "reports")) == []


def test_the_harness_does_not_import_the_reports_but_for_the_command_line() -> None:
    harness = [path for path in modules("surge") if path != ROOT / "surge" / "cli.py"]
    assert crossing(harness, ("reports",)) == []


def test_the_reports_import_neither_locust_nor_gevent() -> None:
    assert crossing(modules("reports"), ("locust", "gevent", "loadtests")) == []


def test_the_locust_entry_imports_only_locust_and_the_harness() -> None:
    for path in modules("loadtests"):
        others = {
            name
            for name in imported(path)
            if name != "__future__" and name.split(".")[0] != "locust"
            if not name.startswith("surge.harness")
        }
        assert others == set(), path


@pytest.mark.parametrize("folder", ["surge", "reports", "bench"])
def test_only_the_run_folders_schema_names_its_files(folder: str) -> None:
    """Nothing but `surge.runfolder` opens a run folder's files by hand."""
    named = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in modules(folder)
        if path != ROOT / "surge" / "runfolder.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if RUN_FOLDER_FILES.search(line)
    ]
    assert named == []


API_PATH = re.compile(r"""["']/(v1|admin)/""")


def test_the_journeys_know_no_api_only_the_binding() -> None:
    """The journeys call the binding (`surge.binding`): no path of an API, no HTTP client, no
    particular binding (docs/architecture.md, the binding seam)."""
    journeys = ROOT / "surge" / "journeys.py"
    http = ("httpx", "locust", "gevent", "orjson", "mock_core")
    assert crossing([journeys], http) == []
    assert not any(name.startswith("surge.bindings") for name in imported(journeys))
    paths = [
        f"{n}: {line.strip()}"
        for n, line in enumerate(journeys.read_text(encoding="utf-8").splitlines(), 1)
        if API_PATH.search(line) or "/v1/" in line
    ]
    assert paths == []


def test_only_the_bindings_and_the_harness_preparation_name_the_mock_cores_business_paths() -> None:
    """The customer routes the journeys and onboarding use live in the mock core's binding."""
    allowed = {ROOT / "surge" / "bindings" / "mock_core.py"}
    named = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in modules("surge")
        if path not in allowed
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"""["']/v1/""", line)
    ]
    assert named == []
