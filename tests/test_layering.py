"""The boundaries of docs/architecture.md, held by walking every import of the code.

Imports anywhere in a module count (inside functions too): a lazy import crosses a boundary as
surely as one at the top.
"""

from __future__ import annotations

import ast
import graphlib
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


STAGES = (
    ("surge.exits", "surge.shipped", "surge.children"),
    ("surge.day",),
    ("surge.visit",),
    ("surge.bindings",),
    ("surge.runfolder",),
    ("surge.judge",),
    ("surge.harness",),
    ("surge.run",),
    ("surge.history",),
    ("surge.cli", "surge.__main__"),
)
"""`surge/` in the order of its data flow (docs/architecture.md, "The layers"): a module imports
only from its own stage and the stages before it."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SURGE = {module_name(path): path for path in modules("surge") if "migrations" not in path.parts}


def surge_imports(path: Path) -> set[str]:
    """The modules of `surge` that `path` imports, anywhere in it, each by its module's name:
    `from surge.visit import credentials` is the module `surge.visit.credentials`, `from
    surge.visit import Actor` the package `surge.visit`. Type-only imports count as much as any
    other."""
    named = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            named.update(_module(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            named.update(_module(f"{node.module}.{alias.name}") for alias in node.names)
    own = module_name(path) if path.is_relative_to(ROOT) else ""
    return {name for name in named if name.split(".")[0] == "surge"} - {own}


def _module(name: str) -> str:
    """The longest module of `surge` that `name` (a module or a name in one) starts with."""
    while name not in SURGE and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def stage_of(module: str) -> int:
    for n, stage in enumerate(STAGES):
        if any(module == room or module.startswith(room + ".") for room in stage):
            return n
    raise AssertionError(f"{module} is in no stage of STAGES: give it one")


def test_every_module_of_surge_is_in_a_stage() -> None:
    unplaced = [module for module in SURGE if module != "surge" and not _placed(module)]
    assert unplaced == []


def _placed(module: str) -> bool:
    try:
        stage_of(module)
    except AssertionError:
        return False
    return True


def test_each_stage_imports_only_the_stages_before_it() -> None:
    backwards = [
        f"{module} imports {other}"
        for module, path in SURGE.items()
        if module != "surge"
        for other in sorted(surge_imports(path))
        if other != "surge" and stage_of(other) > stage_of(module)
    ]
    assert backwards == []


def test_no_import_circle_anywhere_in_surge_type_only_imports_included() -> None:
    graph = {module: surge_imports(path) & SURGE.keys() for module, path in SURGE.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import circle: {' -> '.join(error.args[1])}")


def test_the_circle_check_sees_type_only_imports(tmp_path: Path) -> None:
    typed = tmp_path / "typed.py"
    typed.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from surge.visit import binding\n"
    )
    assert surge_imports(typed) == {"surge.visit.binding"}


READABLE_BY_REPORTS = (
    "surge.exits",
    "surge.day",
    "surge.visit.values",
    "surge.visit.wire",
    "surge.runfolder",
    "surge.judge",
    "surge.history",
)
"""What the reports read of `surge`: the profile model, the run folder and the record's
vocabulary, the judgements every command shares, and the run history; never a command, the
harness or a binding."""


def test_the_reports_read_runs_through_the_run_folder_and_the_day_only() -> None:
    reached = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules("reports")
        for name in sorted(surge_imports(path))
        if not any(name == room or name.startswith(room + ".") for room in READABLE_BY_REPORTS)
    ]
    assert reached == []


def test_a_binding_author_imports_everything_from_one_module() -> None:
    """`surge.visit` is the surface for binding authors (docs/bindings.md)."""
    example = ROOT / "examples" / "bindings" / "branch_api.py"
    tree = ast.parse(example.read_text(encoding="utf-8"))
    sources = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert {name for name in sources if name.split(".")[0] == "surge"} == {"surge.visit"}


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
    """Nothing but the run folder's schema (`surge.runfolder.schema`) names its files."""
    named = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in modules(folder)
        if path != ROOT / "surge" / "runfolder" / "schema.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if RUN_FOLDER_FILES.search(line)
    ]
    assert named == []


API_PATH = re.compile(r"""["']/(v1|admin)/""")


def test_the_journeys_know_no_api_only_the_binding() -> None:
    """The journeys call the binding (`surge.visit.binding`): no path of an API, no HTTP client, no
    particular binding (docs/architecture.md, the binding seam)."""
    journeys = ROOT / "surge" / "visit" / "journeys.py"
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
