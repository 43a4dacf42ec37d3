"""The documentation stands on its own: what a user reads (every Markdown file of the repository,
the OpenAPI document, the CLI's help, the messages in the code) never points at material users
do not have (the project's private workspace, "facts §N", "SPEC §N"), and every repository path
or relative link it names exists and is not git-ignored. No network, no git needed."""
import ast
import fnmatch
import json
import os
import re
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", "var", "node_modules", "__pycache__", ".hypothesis", ".pytest_cache"}

# Material that exists only in the private workspace the project was built in.
FORBIDDEN = [
    (re.compile(r"\.\./shared|/work/"), "a path into the private workspace"),
    (re.compile(r"facts\s*§|freeswitch-facts|fact sheet", re.IGNORECASE), "the private FreeSWITCH fact sheet"),
    (re.compile(r"\bSPEC\b"), "the private SPEC"),
    (re.compile(r"mod_cti-extension-config"), "a document users do not have"),
]

# Paths that do not exist in a checkout but are created at run time, named on purpose.
RUNTIME = {"var/", "var/fscti.db", "var/bench/", "var/metrics", ".venv/"}
RUNTIME_ROOTS = {"var", ".venv"}

LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
# A token that may be a repository path: `x/...`, written in prose or in inline code.
PATHLIKE = re.compile(r"(?<![\w./~-])(\.{0,2}/?[\w.-]+/[\w./*{},-]*)")


def markdown_files() -> list[Path]:
    """Every .md of the checkout, outside the venv, caches and run-time directories."""
    out = []
    for top, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        out += [Path(top) / f for f in sorted(files) if f.endswith(".md")]
    return out


def _ignore_patterns() -> list[str]:
    lines = (ROOT / ".gitignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith(("#", "!"))]


def ignored(rel: str) -> bool:
    """Whether .gitignore (the repository's, simple patterns) ignores this repository path."""
    parts = Path(rel).parts
    for pat in _ignore_patterns():
        dir_only = pat.endswith("/")
        pat = pat.strip("/")
        anchored = "/" in pat
        n = pat.count("/") + 1
        # a directory pattern matches the path's directories (or the path itself, named as a dir)
        for i in range(len(parts)):
            if anchored and i:
                break
            if anchored:
                cand = "/".join(parts[:n])
                is_last = len(parts) == n
            else:
                cand = parts[i]
                is_last = i == len(parts) - 1
            if fnmatch.fnmatchcase(cand, pat) and (not dir_only or not is_last or rel.endswith("/")
                                                   or (ROOT / rel).is_dir()):
                return True
    return False


def _expand(token: str) -> list[str]:
    """`a/{b,c}.py` -> `a/b.py`, `a/c.py`."""
    m = re.search(r"\{([^{}]*)\}", token)
    if not m:
        return [token]
    return [x for alt in m.group(1).split(",") for x in _expand(token[:m.start()] + alt + token[m.end():])]


def _exists(rel: str) -> bool:
    if any(c in rel for c in "*?["):
        return any(ROOT.glob(rel.rstrip("/")))
    return (ROOT / rel).exists()


def _top_level() -> set[str]:
    return {p.name for p in ROOT.iterdir() if p.name != ".git"} | RUNTIME_ROOTS


def path_problems(md: Path, text: str | None = None) -> list[str]:
    """Repository paths (in prose or inline code, not in fenced examples) and relative links
    that users would not find, in `text` (default: the file's) of the document at `md`."""
    text = md.read_text() if text is None else text
    problems = []
    tops = _top_level()
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:|#", target):
            continue
        rel = (md.parent / target.split("#")[0]).resolve()
        try:
            name = rel.relative_to(ROOT).as_posix()
        except ValueError:
            problems.append(f"link {target!r} leaves the repository")
            continue
        if not rel.exists() or ignored(name):
            problems.append(f"link {target!r}: no such file in the repository")
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # fenced blocks: examples, trees
    for token in dict.fromkeys(PATHLIKE.findall(prose)):
        token = token.rstrip(".,:;")
        if re.match(r"\.\.?/", token):  # relative to the document
            rel_path = (md.parent / token).resolve()
            try:
                token = rel_path.relative_to(ROOT).as_posix() + ("/" if token.endswith("/") else "")
            except ValueError:
                problems.append(f"{token!r} leaves the repository")
                continue
        elif token.split("/")[0] not in tops:
            continue  # not ours (a FreeSWITCH source or config path, a URL part, an API route)
        if token in RUNTIME:
            continue
        for rel in _expand(token):
            if not _exists(rel) or ignored(rel):
                problems.append(f"{rel!r}: no such file in the repository (or git-ignored)")
    return problems


DOCS = markdown_files()


def test_the_docs_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in DOCS}
    assert {"README.md", "docs/freeswitch.md", "docs/state.md", "tests/fixtures/freeswitch/README.md"} <= names


def forbidden_in(text: str) -> list[str]:
    return [f"{why}: {m.group(0)!r} in …{text[max(0, m.start() - 40):m.end() + 20]!r}…"
            for rx, why in FORBIDDEN for m in rx.finditer(text)]


@pytest.mark.parametrize("md", DOCS, ids=[p.relative_to(ROOT).as_posix() for p in DOCS])
def test_no_doc_points_at_what_users_lack(md):
    assert forbidden_in(md.read_text()) == []


@pytest.mark.parametrize("md", DOCS, ids=[p.relative_to(ROOT).as_posix() for p in DOCS])
def test_every_path_a_doc_names_exists(md):
    assert path_problems(md) == []


def test_the_path_check_can_fail():
    """The control of the checks above, on a document (in docs/) written to fail them."""
    got = path_problems(ROOT / "docs" / "probe.md",
                        "See `app/nowhere.py`, [x](missing.md), `bench/results/x.json`, "
                        "`var/bench/directory-1.json`, `../../shared/x`, `app/{directory,nothere}/`.\n"
                        "Fine: `app/directory/`, `var/fscti.db`, `src/switch_xml.c`, `/api/v1`, "
                        "[api](api.md#conventions), `app/state/lua/*.lua`.\n"
                        "```\napp/in/fences.py is not checked\n```\n")
    assert sorted(got) == sorted([
        "link 'missing.md': no such file in the repository",
        "'app/nowhere.py': no such file in the repository (or git-ignored)",
        "'bench/results/x.json': no such file in the repository (or git-ignored)",
        "'var/bench/directory-1.json': no such file in the repository (or git-ignored)",
        "'../../shared/x' leaves the repository",
        "'app/nothere/': no such file in the repository (or git-ignored)",
    ])
    assert len(forbidden_in("as facts §2.5 says, see SPEC §1 and ../shared/mission")) == 3


def test_gitignore_matching():
    assert ignored("var/bench/x.json") and ignored("bench/results/a.json") and ignored("x/__pycache__/y.pyc")
    assert not ignored("bench/directory.py") and not ignored("docs/state.md")


def _user_strings(node) -> list[str]:
    """String literals of a module that are not docstrings (messages, help texts, ...)."""
    docs = set()
    for n in ast.walk(node):
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body:
            first = n.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    return [n.value for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def test_no_message_in_the_code_cites_what_users_lack():
    """Error messages, help texts, log lines: what a user may read (comments are not read)."""
    found = []
    for py in sorted([*(ROOT / "app").rglob("*.py"), *(ROOT / "workers").rglob("*.py")]):
        for s in _user_strings(ast.parse(py.read_text())):
            found += [f"{py.relative_to(ROOT)}: {p}" for p in forbidden_in(s)]
    assert found == []


def test_openapi_document_cites_nothing_users_lack(app):
    spec = app.test_client().get("/openapi.json").get_json()
    assert spec["paths"]
    assert forbidden_in(json.dumps(spec, ensure_ascii=False)) == []


def _help_texts(cmd: click.Command, ctx: click.Context) -> list[str]:
    out = [cmd.get_help(ctx)]
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            out += _help_texts(sub, click.Context(sub, info_name=name, parent=ctx))
    return out


def test_cli_help_cites_nothing_users_lack(app):
    texts = _help_texts(app.cli, click.Context(app.cli, info_name="flask"))
    assert any("mirror" in t for t in texts)
    assert forbidden_in("\n".join(texts)) == []
