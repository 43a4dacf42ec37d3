"""The directory's answer from SQL, for the lookups Redis cannot answer (see app.directory.lookup)."""
from typing import NamedTuple

from sqlalchemy import func, select

from app.extensions import db
from app.mirror.source import domain_json, effective_of
from app.models import Domain, Extension, Template


class SqlAnswer(NamedTuple):
    domain: str | None  # canonical name, None = unknown domain
    domain_json: str | None
    name: str | None  # found extension (enabled or not)
    eff: dict | None
    enabled: bool


def sql_lookup(domain: str, user: str, by_alias: bool) -> SqlAnswer:
    """The answer from SQL: exact domain (else case-insensitive), then name, then number-alias."""
    s = db.session
    cols = (Domain.id, Domain.name, Domain.realm, Domain.param, Domain.variable)
    d = s.execute(select(*cols).where(Domain.name == domain)).first()
    if d is None:
        d = s.execute(select(*cols).where(func.lower(Domain.name) == domain.lower())).first()
    if d is None:
        return SqlAnswer(None, None, None, None, False)
    djson = domain_json(d[2], d[3], d[4])
    if not user:
        return SqlAnswer(d[1], djson, None, None, False)
    ecols = (Extension.name, Extension.enabled, Extension.template_id,
             Extension.param, Extension.variable, Extension.attribute)
    row = None
    if not by_alias:
        row = s.execute(select(*ecols).where(Extension.domain_id == d[0], Extension.name == user)).first()
    if row is None:
        row = s.execute(select(*ecols).where(Extension.domain_id == d[0], Extension.number_alias == user)
                        .order_by(Extension.name).limit(1)).first()
    if row is None:
        return SqlAnswer(d[1], djson, None, None, False)
    tpl = None
    if row[2] is not None:
        t = s.execute(select(Template.param, Template.variable, Template.attribute)
                      .where(Template.id == row[2])).first()
        tpl = tuple(t) if t else None
    eff = effective_of(tpl, row[3], row[4], row[5])
    return SqlAnswer(d[1], djson, row[0], eff, bool(row[1]))
