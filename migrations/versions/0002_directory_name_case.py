"""directory names in FreeSWITCH's canonical letter case; no plain password in a1-hash-only domains

FreeSWITCH compares param and variable names ignoring case, so rows written before fscti folded
names may hold `PASSWORD` (shown unmasked, never hashed) or both `password` and `Password`.
This pass rewrites every stored domain, template and extension the way the API now writes
them (app.schemas.known_names):
- known names are renamed to their canonical spelling; names equal ignoring case are resolved
  deterministically: a value beats a null (FreeSWITCH never saw the null), then the canonical
  spelling, then the first;
- a fold the API would refuse is left undone and logged (a template's `A1-Hash` or
  `Number-Alias`, a `Number-Alias` equal to another extension's name or alias);
- in an a1-hash-only domain every plain password left is hashed with the domain's realm, as a
  write would; a domain-wide plain password is hashed into each extension that has no a1-hash
  (FreeSWITCH used it for them) and removed from the domain.
Only changed rows are written, in id batches. The Redis mirror is repaired afterwards by the
reconcile job (beat, every 5 min) or at once by `flask mirror check --repair`.

Revision ID: 0002
Revises: 0001
"""
import logging

import sqlalchemy as sa
from alembic import op

from app.mirror.effective import merge_section
from app.schemas.known_names import canonical, fold_stored, lookup
from app.schemas.section_rules import FORBIDDEN
from app.services.password_hash import a1_hash, hash_params

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
BATCH = 2000
DETAIL_LINES = 200  # per-row log lines before only the summary counts

DOMAIN = sa.table("domain", sa.column("id", sa.Integer), sa.column("name", sa.String),
                  sa.column("realm", sa.String), sa.column("a1_hash_only", sa.Boolean),
                  sa.column("param", sa.JSON), sa.column("variable", sa.JSON))
TEMPLATE = sa.table("template", sa.column("id", sa.Integer), sa.column("name", sa.String),
                    sa.column("param", sa.JSON), sa.column("variable", sa.JSON),
                    sa.column("attribute", sa.JSON))
EXTENSION = sa.table("extension", sa.column("id", sa.Integer),
                     sa.column("domain_id", sa.Integer), sa.column("name", sa.String),
                     sa.column("template_id", sa.Integer), sa.column("param", sa.JSON),
                     sa.column("variable", sa.JSON), sa.column("attribute", sa.JSON),
                     sa.column("number_alias", sa.String))


class Pass:
    """Counts and bounded per-row log lines of one run."""

    def __init__(self):
        self.lines = 0
        self.aliases: set[tuple[int, str]] = set()  # (domain id, alias) gained in this run
        self.counts = {"domains": 0, "templates": 0, "extensions": 0, "hashed": 0, "kept": 0}

    def note(self, level: int, what: str, text: str) -> None:
        if self.lines < DETAIL_LINES or level >= logging.WARNING:
            log.log(level, "0002 %s: %s", what, text)
        self.lines += 1

    def fold(self, owner: str, section: str, values: dict | None, what: str,
             refuse: dict[str, str] | None = None) -> dict:
        """A section folded as the API folds input, except names the owner may not hold
        (`refuse`: more canonical names to leave unfolded, and why)."""
        values = values or {}
        refuse = {**{n: f"{n!r} is not allowed on a {owner}" for s, n in FORBIDDEN[owner]
                     if s == section}, **(refuse or {})}
        keep = {k: v for k, v in values.items()
                if k != canonical(section, k) and canonical(section, k) in refuse}
        out, notes = fold_stored(section, {k: v for k, v in values.items() if k not in keep})
        for text in notes:
            self.note(logging.INFO, what, text)
        for name in keep:
            self.counts["kept"] += 1
            self.note(logging.WARNING, what, f"{section} {name!r} left as is: "
                      f"{refuse[canonical(section, name)]}; fix it by hand")
        return {**out, **keep}


def upgrade():
    run(op.get_bind())


def downgrade():
    pass  # the old spellings carried no information FreeSWITCH did not read the same way


def run(conn) -> dict:
    """Fold every domain, template and extension on this connection; returns the counts."""
    p = Pass()
    templates = _templates(conn, p)
    domains = _domains(conn, p)
    _extensions(conn, p, templates, domains)
    log.info("0002: rewrote %(domains)d domain(s), %(templates)d template(s), %(extensions)d "
             "extension(s); hashed %(hashed)d plain password(s); left %(kept)d name(s) "
             "unfolded", p.counts)
    return p.counts


def _templates(conn, p: Pass) -> dict[int, tuple]:
    """Fold the templates; returns id -> folded (param, variable, attribute)."""
    out = {}
    for row in conn.execute(sa.select(TEMPLATE)).mappings().all():
        what = f"template {row['name']!r}"
        new = tuple(p.fold("template", s, row[s], what) for s in ("param", "variable", "attribute"))
        out[row["id"]] = new
        if new != (row["param"], row["variable"], row["attribute"]):
            conn.execute(sa.update(TEMPLATE).where(TEMPLATE.c.id == row["id"]).values(
                param=new[0], variable=new[1], attribute=new[2]))
            p.counts["templates"] += 1
    return out


def _domains(conn, p: Pass) -> dict[int, dict]:
    """Fold the domains (a domain-wide password of an a1-hash-only one is taken out and
    handed to its extensions); returns id -> {name, realm, a1, password}."""
    out = {}
    for row in conn.execute(sa.select(DOMAIN)).mappings().all():
        what = f"domain {row['name']!r}"
        param = p.fold("domain", "param", row["param"], what)
        variable = p.fold("domain", "variable", row["variable"], what)
        password = None
        if row["a1_hash_only"] and lookup(param, "password") is not None:
            password = str(param.pop("password"))
            p.note(logging.WARNING, what, "domain-wide plain password removed; hashed into "
                   "every extension without an a1-hash")
        out[row["id"]] = {"name": row["name"], "realm": row["realm"],
                          "a1": row["a1_hash_only"], "password": password}
        if (param, variable) != (row["param"], row["variable"]):
            conn.execute(sa.update(DOMAIN).where(DOMAIN.c.id == row["id"]).values(
                param=param, variable=variable))
            p.counts["domains"] += 1
    return out


def _extensions(conn, p: Pass, templates: dict, domains: dict) -> None:
    last = 0
    while True:
        rows = conn.execute(sa.select(EXTENSION).where(EXTENSION.c.id > last)
                            .order_by(EXTENSION.c.id).limit(BATCH)).mappings().all()
        changes = [c for c in (_extension(conn, p, r, templates, domains[r["domain_id"]])
                               for r in rows) if c is not None]
        if changes:
            conn.execute(sa.update(EXTENSION).where(EXTENSION.c.id == sa.bindparam("_id"))
                         .values(param=sa.bindparam("_param", type_=sa.JSON),
                                 variable=sa.bindparam("_variable", type_=sa.JSON),
                                 attribute=sa.bindparam("_attribute", type_=sa.JSON),
                                 number_alias=sa.bindparam("_alias")), changes)
            p.counts["extensions"] += len(changes)
        if len(rows) < BATCH:
            return
        last = rows[-1]["id"]


def _extension(conn, p: Pass, row, templates: dict, dom: dict) -> dict | None:
    """The update of one extension row, or None when it is already canonical."""
    what = f"extension {row['name']!r}@{dom['name']}"
    tpl = templates.get(row["template_id"]) or ({}, {}, {})
    param = p.fold("extension", "param", row["param"], what)
    variable = p.fold("extension", "variable", row["variable"], what)
    refuse = None
    alias = _alias(merge_section(tpl[2], fold_stored("attribute", row["attribute"])[0]))
    if alias != row["number_alias"] and _alias_taken(conn, p, row, alias):
        refuse = {"number-alias": f"{alias!r} is another extension's name or alias"}
    attribute = p.fold("extension", "attribute", row["attribute"], what, refuse)
    alias = _alias(merge_section(tpl[2], attribute))
    if dom["a1"]:
        hashed = hash_params(row["name"], dom["realm"], param, None, tpl[0])
        if not lookup(hashed, "a1-hash") and dom["password"] is not None:
            hashed["a1-hash"] = a1_hash(row["name"], dom["realm"], dom["password"])
        if lookup(hashed, "a1-hash") != lookup(param, "a1-hash"):
            p.counts["hashed"] += 1
            p.note(logging.INFO, what, f"plain password hashed (realm {dom['realm']!r})")
        param = hashed
    new = {"_param": param, "_variable": variable, "_attribute": attribute, "_alias": alias}
    old = {"_param": row["param"], "_variable": row["variable"], "_attribute": row["attribute"],
           "_alias": row["number_alias"]}
    return {"_id": row["id"], **new} if new != old else None


def _alias(attribute: dict) -> str | None:
    value = attribute.get("number-alias")
    return str(value) if value not in (None, "") else None


def _alias_taken(conn, p: Pass, row, alias: str | None) -> bool:
    """Whether a new alias is another extension's name or alias, case-insensitively as the API
    checks (an alias another row gained in this run counts too); claims it when free."""
    if alias is None:
        return False
    low = alias.lower()
    if (row["domain_id"], low) in p.aliases or conn.execute(sa.select(EXTENSION.c.id).where(
            EXTENSION.c.domain_id == row["domain_id"], EXTENSION.c.id != row["id"],
            sa.or_(sa.func.lower(EXTENSION.c.name) == low,
                   sa.func.lower(EXTENSION.c.number_alias) == low)).limit(1)).first():
        return True
    p.aliases.add((row["domain_id"], low))
    return False
