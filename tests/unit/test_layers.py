"""The import graph of app/ and workers/, read with `ast`: no circle, and every import points
down the layers (docs/architecture.md): entry points → api, console → services → schemas →
directory, mirror, state, metrics → esl → models → foundation. Function-level imports count."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Rank of each package (or module): an import may go to an equal or lower rank only.
RANKS = {
    "workers": 8, "app": 8, "app.factory": 8, "app.cli": 8, "app.celery_init": 8,
    "app.api": 7, "app.console": 7,
    "app.metrics.views": 7,           # the /metrics page: a view over the services' checks
    "app.services": 6, "app.auth": 6,
    "app.schemas": 5,
    "app.directory": 4, "app.mirror": 4, "app.state": 4, "app.metrics": 4, "app.quiet": 4,
    "app.esl": 3,
    # the replica's file format, feed protocol and process: the directory reads it and the
    # mirror's fence waits for it, so it sits below both and imports only the key names
    "app.replica": 3,
    "app.models": 2,
    # contracts (key names, task names) and foundation: imported by every layer
    "app.state.keys": 0, "app.tasknames": 0, "app.supervision": 0,
    "app.config": 0, "app.extensions": 0, "app.names": 0, "app.errors": 0, "app.logs": 0,
    "app.runtime": 0, "app.proxies": 0, "app.access_log": 0,
    # who may call /directory and /metrics (the directory's answer and the metrics page)
    "app.allowlist": 0,
    # every Redis client and Celery's Redis URLs are built from REDIS_URL here (plain or Sentinel)
    "app.redis_client": 0, "app.kombu_sentinel": 0,
}


def modules() -> dict[str, Path]:
    found = {}
    for top in ("app", "workers"):
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict) -> set[str]:
    """Our modules that `name` imports (a `from pkg import mod` names the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(head + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def placed(name: str) -> str | None:
    """The RANKS entry that places `name`: itself or its nearest package (bare `app` is the
    factory module only, so a new package under app/ must be placed on purpose)."""
    probe = name
    while probe and probe not in RANKS:
        probe = probe.rpartition(".")[0]
    return None if not probe or (probe == "app" and name != "app") else probe


def rank(name: str) -> int:
    where = placed(name)
    assert where, f"{name}: place it in RANKS (tests/unit/test_layers.py)"
    return RANKS[where]


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_every_module_has_a_layer():
    assert not sorted(name for name in modules() if placed(name) is None)


def test_imports_point_down_the_layers():
    upward = sorted(f"{a} ({rank(a)}) → {b} ({rank(b)})"
                    for a, targets in graph().items() for b in targets if rank(b) > rank(a))
    assert not upward, "\n".join(upward)


def test_no_import_circle():
    edges = graph()
    circles, index, low, stack, on_stack = [], {}, {}, [], set()

    def visit(v):                     # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not circles, circles


def test_the_checker_sees_an_upward_import_and_a_circle(tmp_path, monkeypatch):
    """The rules above catch what they claim to (a checker that cannot fail is no check)."""
    for rel, text in {"app/__init__.py": "", "app/models/__init__.py": "from app.api import x\n",
                      "app/api/__init__.py": "from . import x\n",
                      "app/api/x.py": "from app.api import y\n",
                      "app/api/y.py": "import app.api.x\n", "app/newpkg/z.py": "",
                      "workers/__init__.py": ""}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    edges = graph()
    assert "app.api.x" in edges["app.models"]
    assert "app.api.y" in edges["app.api.x"] and "app.api.x" in edges["app.api.y"]
    with pytest.raises(AssertionError, match="app.models"):
        test_imports_point_down_the_layers()
    with pytest.raises(AssertionError, match="app.api.x"):
        test_no_import_circle()
    with pytest.raises(AssertionError, match="app.newpkg.z"):
        test_every_module_has_a_layer()
