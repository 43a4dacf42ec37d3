"""Every Redis script the app loads from a .lua file is declared as package data (a wheel lacking
one would fail at the first EVALSHA)."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_lua_directory_is_package_data():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    dirs = {p.parent for p in (ROOT / "app").rglob("*.lua")}
    assert dirs, "no .lua files found"
    for d in dirs:
        package = ".".join(d.parent.relative_to(ROOT).parts)
        assert f"{d.name}/*.lua" in declared.get(package, []), f"{d} is not in {package}'s package-data"
