"""Task names are a contract spelled once, in app/tasknames.py."""
import ast
import importlib
from pathlib import Path

import celeryconfig
from app import tasknames

ROOT = Path(__file__).resolve().parents[2]


def _registered(app) -> set[str]:
    celery = app.extensions["celery"]
    for module in celeryconfig.include:
        importlib.import_module(module)
    return {name for name in celery.tasks if name.startswith("fscti.")}


def test_every_registered_task_is_named_in_tasknames_and_every_name_is_registered(app):
    registered = _registered(app)
    assert registered == tasknames.ALL


def test_every_route_and_beat_entry_names_a_registered_task(app):
    registered = _registered(app)
    assert set(celeryconfig.task_routes) <= registered
    assert set(celeryconfig.task_routes) == tasknames.ALL      # every task has its queue
    assert {e["task"] for e in celeryconfig.beat_schedule.values()} <= registered


def test_no_module_spells_a_task_name_itself():
    spelled = []
    for path in [*ROOT.joinpath("app").rglob("*.py"), *ROOT.joinpath("workers").rglob("*.py"),
                 ROOT / "celeryconfig.py"]:
        if path == ROOT / "app" / "tasknames.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in tasknames.ALL:
                spelled.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
    assert spelled == []
