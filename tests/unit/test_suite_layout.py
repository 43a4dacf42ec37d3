"""The suite's own layout: a test module imports helpers (tests/support, tests/eslpeer), never
another test module (importing one runs its tests' module code twice and ties the two files)."""
import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_test_module_imports_another():
    offenders = {}
    for path in sorted(TESTS.rglob("*.py")):
        tests_imported = sorted(m for m in imported_modules(path)
                                if m.startswith("tests.") and m.rpartition(".")[2].startswith("test_"))
        if tests_imported:
            offenders[str(path.relative_to(TESTS))] = tests_imported
    assert offenders == {}


def test_the_check_sees_an_import_of_a_test_module(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text("from tests.integration.test_listener import FAST\nimport tests.unit.test_x\n")
    got = imported_modules(sample)
    assert "tests.integration.test_listener" in got and "tests.unit.test_x" in got
