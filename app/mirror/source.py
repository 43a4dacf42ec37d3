"""Reading the directory from SQL (the source of truth) for the mirror, in bounded batches.

Rebuild and reconcile stream extensions with keyset pagination on (domain_id, name), which the
unique index serves, so a million extensions never sit in memory at once. They use their own
connection, never the caller's ORM session.
"""
import json
from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import select

from app.extensions import db
from app.mirror.effective import SECTIONS, effective, merge_section
from app.models import Domain, Extension, Template

EXT_COLUMNS = (Extension.name, Extension.enabled, Extension.template_id,
               Extension.param, Extension.variable, Extension.attribute)


def dumps(value) -> str:
    """Compact JSON, as stored in `cti_exten@<domain>`."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Entry:
    """One extension as mirrored: json is '' when it is disabled."""

    name: str
    json: str
    alias: str

    @property
    def enabled(self) -> bool:
        return self.json != ""


def alias_of(eff: dict) -> str:
    """The effective number-alias as a string ('' when none)."""
    value = (eff.get("attribute") or {}).get("number-alias")
    if value is None or value == "" or isinstance(value, (dict, list)):
        return ""
    return str(value)


def effective_of(tpl: tuple | None, param, variable, attribute) -> dict:
    """SPEC §1 effective JSON from a template's (param, variable, attribute) and own values."""
    own = (param, variable, attribute)
    return {s: merge_section(tpl[i] if tpl else None, own[i]) for i, s in enumerate(SECTIONS)}


def entry_of(name: str, enabled: bool, eff: dict) -> Entry:
    """The mirror entry of an extension."""
    return Entry(name, dumps(eff) if enabled else "", alias_of(eff) if enabled else "")


def entry_of_model(ext) -> Entry:
    """The mirror entry of an Extension model object (same merge as the API's effective view)."""
    return entry_of(ext.name, bool(ext.enabled), effective(ext))


def domain_json(realm: str, param, variable) -> str:
    """The domain entry of `fscti:domains`."""
    return dumps({"realm": realm, "param": param or {}, "variable": variable or {}})


def domain_json_of_model(domain) -> str:
    return domain_json(domain.realm, domain.param, domain.variable)


@dataclass(frozen=True)
class DomainRow:
    id: int
    name: str
    json: str


def load_templates(conn) -> dict[int, tuple]:
    """Every template as id -> (param, variable, attribute); there are few."""
    rows = conn.execute(select(Template.id, Template.param, Template.variable, Template.attribute))
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def load_domains(conn, name: str | None = None) -> list[DomainRow]:
    """Domains in SQL (all, or the one named)."""
    q = select(Domain.id, Domain.name, Domain.realm, Domain.param, Domain.variable).order_by(Domain.name)
    if name is not None:
        q = q.where(Domain.name == name)
    return [DomainRow(r[0], r[1], domain_json(r[2], r[3], r[4])) for r in conn.execute(q)]


def iter_entries(conn, domain_id: int, templates: dict, batch: int = 1000,
                 template_id: int | None = None) -> Iterator[list[Entry]]:
    """Yield the domain's extensions as lists of Entry, `batch` at a time, in name order."""
    last = None
    while True:
        q = select(*EXT_COLUMNS).where(Extension.domain_id == domain_id)
        if template_id is not None:
            q = q.where(Extension.template_id == template_id)
        if last is not None:
            q = q.where(Extension.name > last)
        rows = conn.execute(q.order_by(Extension.name).limit(batch)).all()
        # End the read transaction between batches: no long-lived snapshot on a big table.
        conn.rollback()
        if not rows:
            return
        yield [entry_of(r[0], r[1], effective_of(templates.get(r[2]), r[3], r[4], r[5])) for r in rows]
        if len(rows) < batch:
            return
        last = rows[-1][0]


def fetch_entries(conn, domain_id: int, names: list[str], templates: dict) -> dict[str, Entry]:
    """Fresh entries of these names (missing names are absent from the result)."""
    out: dict[str, Entry] = {}
    for i in range(0, len(names), 500):
        chunk = names[i:i + 500]
        rows = conn.execute(select(*EXT_COLUMNS).where(
            Extension.domain_id == domain_id, Extension.name.in_(chunk))).all()
        for r in rows:
            out[r[0]] = entry_of(r[0], r[1], effective_of(templates.get(r[2]), r[3], r[4], r[5]))
    conn.rollback()
    return out


def connect():
    """A connection of its own (not the request's ORM session)."""
    return db.engine.connect()
