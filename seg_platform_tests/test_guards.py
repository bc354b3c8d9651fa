"""The guard rails guard: every module is classified for the import contracts, the `unit` tier
imports only modules without Dagster, and each contract fails on a new import that breaks it."""

import ast
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "seg_platform"
TESTS = REPO / "seg_platform_tests"
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text())
CONTRACTS = {c["id"]: c for c in CONFIG["tool"]["importlinter"]["contracts"]}
PURE = set(CONTRACTS["pure"]["source_modules"])
# What `make test-unit` looks for (grep) to collect the unit tier.
UNIT_MARK = re.compile(r"^pytestmark = pytest\.mark\.unit$", re.M)
# The Dagster layer: entry points and the modules that define assets, checks, resources or
# partitions. Every other module is pure and listed in the "pure" contract of pyproject.toml.
DAGSTER_LAYER = [
    "seg_platform.definitions",
    "seg_platform.cli",
    "seg_platform.columns",  # checks the column catalog against a warehouse, with the Definitions
    "seg_platform.runner",
    "seg_platform.orchestration",
    "seg_platform.run_guard",
    "seg_platform.ui_server",
    "seg_platform.core.partitions",
    "seg_platform.core.metadata",  # Dagster metadata values for the UI
    "seg_platform.core.layers",  # asset keys prefixed by layer
    "seg_platform.core.failures",  # configuration mistakes as Dagster failures
    "seg_platform.core.resources",  # WarehouseResource
    "seg_platform.*.assets",
    "seg_platform.*.checks",
    "seg_platform.*.resources",
    "seg_platform.predictions.daily",  # the daily scoring assets
    "seg_platform.core.tracking",  # MlflowResource
    "seg_platform.serving.app",  # the identity rules of a run (sources.resources.IdentityConfig)
]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` names, at any depth of the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def package_modules() -> dict[str, Path]:
    """The package's modules, without the package `__init__`s that import nothing."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py" and not imported_modules(path):
            continue
        modules[module_name(path)] = path
    return modules


def in_dagster_layer(module: str) -> bool:
    return any(fnmatch.fnmatchcase(module, pattern) for pattern in DAGSTER_LAYER)


def is_pure(module: str) -> bool:
    # fnmatch's `*` crosses dots, like import-linter's `**`.
    return any(fnmatch.fnmatchcase(module, pattern.replace("**", "*")) for pattern in PURE)


def test_every_module_is_either_pure_or_in_the_dagster_layer():
    modules = set(package_modules())
    unclassified = sorted(m for m in modules if not is_pure(m) and not in_dagster_layer(m))
    assert not unclassified, (
        f"classify {unclassified}: add each to the 'pure' contract's source_modules in "
        "pyproject.toml (no dagster import), or to DAGSTER_LAYER here"
    )
    assert not sorted(m for m in modules if is_pure(m) and in_dagster_layer(m))
    unmatched = [
        p for p in PURE if not any(fnmatch.fnmatchcase(m, p.replace("**", "*")) for m in modules)
    ]
    assert not sorted(unmatched), "the 'pure' contract names modules that do not exist"


def test_every_top_level_module_has_a_layer():
    layers = " ".join(CONTRACTS["flow"]["layers"])
    named = {name.strip("() ") for name in layers.replace("|", " ").replace(":", " ").split()}
    top = {".".join(m.split(".")[:2]) for m in package_modules()} - {"seg_platform"}
    assert not sorted(top - named), "put each new top-level module or package in a layer"


def duckdb_connections(path: Path) -> list[int]:
    """Lines of `path` that open a DuckDB connection (`duckdb.connect(...)`, or `connect`
    imported from duckdb)."""
    tree = ast.parse(path.read_text())
    direct = any(
        isinstance(n, ast.ImportFrom) and n.module == "duckdb"
        and any(a.name == "connect" for a in n.names)
        for n in ast.walk(tree)
    )  # fmt: skip
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Attribute) and node.func.attr == "connect"
             and isinstance(node.func.value, ast.Name) and node.func.value.id == "duckdb")
            or (direct and isinstance(node.func, ast.Name) and node.func.id == "connect"))
    ]  # fmt: skip


def test_every_sql_statement_runs_through_the_warehouse_module():
    """Only `core/warehouse.py` opens DuckDB connections (the warehouse's, and in-memory ones
    for checking SQL and for Splink), so a second engine can be put behind that one module."""
    opened = {
        f"{path.relative_to(REPO)}:{line}"
        for module, path in package_modules().items()
        if module != "seg_platform.core.warehouse"
        for line in duckdb_connections(path)
    }
    assert not sorted(opened), "open connections with seg_platform.core.warehouse instead"
    assert duckdb_connections(PACKAGE / "core" / "warehouse.py")  # the walk finds them


def test_mypy_checks_only_pure_modules():
    files = {module_name(p) for f in CONFIG["tool"]["mypy"]["files"] for p in REPO.glob(f)}
    files &= set(package_modules())  # not the `__init__`s that import nothing
    assert len(files) >= 85  # the globs found the synthetic generator's modules
    assert all(is_pure(m) for m in files), sorted(m for m in files if not is_pure(m))


def test_unit_tests_import_only_pure_modules():
    """The `unit` tier runs without Dagster: its files and their helpers import no Dagster
    layer module (the pure contract keeps the pure modules themselves clear of Dagster)."""
    unit_files = [p for p in sorted(TESTS.rglob("test_*.py")) if UNIT_MARK.search(p.read_text())]
    assert len(unit_files) >= 5
    # `make test-unit` collects the files that declare the marker at module level, so a test
    # marked alone would never run there.
    for path in sorted(TESTS.rglob("*.py")):
        if "mark.unit" in path.read_text():
            assert path in unit_files, f"{path.relative_to(REPO)}: mark the whole module"
    for path in unit_files:
        helpers = {path}
        for name in imported_modules(path):
            helper = REPO / (name.replace(".", "/") + ".py")
            if name.startswith("seg_platform_tests.") and helper.exists():
                helpers.add(helper)
        for file in helpers:
            for name in imported_modules(file):
                if name.split(".")[0] in ("dagster", "dagster_duckdb", "dagster_graphql"):
                    pytest.fail(f"{file.relative_to(REPO)} imports {name} (unit tier)")
                if name.startswith("seg_platform.") and name in package_modules():
                    assert is_pure(name), f"{file.relative_to(REPO)} imports {name} (unit tier)"


BAD_IMPORTS = {
    # An earlier group importing a later one.
    "flow": ("seg_platform/identity/graph.py", "import seg_platform.segments.naming"),
    # Logic importing an assets module, hence Dagster.
    "pure": ("seg_platform/segments/naming.py", "import seg_platform.segments.assets"),
    # A cycle between two sibling modules of one group.
    "acyclic": ("seg_platform/segments/playbook.py", "import seg_platform.segments.build"),
    "assets": ("seg_platform/activation/assets.py", "import seg_platform.segments.assets"),
}


@pytest.mark.parametrize("contract", sorted(BAD_IMPORTS))
def test_a_new_bad_import_breaks_the_contract(contract, tmp_path):
    file, line = BAD_IMPORTS[contract]
    shutil.copytree(PACKAGE, tmp_path / "seg_platform", ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    lint = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache", "--no-logo"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    args = [*lint, "--contract", contract]
    kept = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    with (tmp_path / file).open("a") as source:
        source.write(f"\n{line}  # noqa\n")
    broken = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "BROKEN" in broken.stdout, broken.stdout
