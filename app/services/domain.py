"""Domains: validate → commit → mirror → flush. Never touches the request."""
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import selectinload

from app.mirror import write
from app.mirror.effective import effective, merge_section
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import Domain, Extension, Template
from app.models.domain import DEFAULT_DIAL_STRING
from app.schemas.domain import DomainName
from app.schemas.fields import path_name
from app.schemas.known_names import lookup
from app.schemas.secrets import unmask
from app.services import mirror_flush
from app.services.password_hash import hash_params
from app.services.sql import commit, get_domain, iter_extensions, like_pattern, paginate

# Extensions hashed per UPDATE when a domain turns a1-hash-only (_convert_to_a1).
CONVERT_BATCH = 5000

# A new domain's defaults (a null in the body removes one):
# - dial-string: without it `user/<ext>` fails (facts §2.6);
# - allow-empty-password=false: FreeSWITCH's default lets a user with no password register
#   with any password (facts §0.2);
# - user_context=default: what every vanilla user has, so calls reach the default dialplan.
DEFAULT_PARAM = {"dial-string": DEFAULT_DIAL_STRING, "allow-empty-password": False}
DEFAULT_VARIABLE = {"user_context": "default"}


def list_domains(page: int, per_page: int, q: str | None = None):
    """A page of domains by name, optionally filtered by a substring of the name."""
    stmt = select(Domain).order_by(Domain.name)
    if q:
        stmt = stmt.where(Domain.name.ilike(like_pattern(q.lower()), escape="\\"))
    return paginate(stmt, page, per_page)


def _values(data: dict, current: Domain | None, name: str) -> dict:
    """Full new values of a domain from a create/replace body (defaults for what is absent)."""
    param, errors = unmask(data.get("param") or {}, current.param if current else None, "param")
    variable, verr = unmask(data.get("variable") or {}, current.variable if current else None,
                            "variable")
    if errors or verr:
        raise ValidationFailed("invalid input: see details", {**errors, **verr})
    return {
        "realm": data.get("realm") or name,
        "a1_hash_only": data.get("a1_hash_only", False),
        "param": merge_section(DEFAULT_PARAM, param),
        "variable": merge_section(DEFAULT_VARIABLE, variable),
    }


def _check(values: dict) -> None:
    if values["a1_hash_only"] and lookup(values["param"], "password") is not None:
        raise ValidationFailed("a1-hash-only domain with a password", {"param": {"password": [
            "this domain stores only a1-hash: a domain-wide plain password is not allowed"]}})


def _check_name(data: dict, name: str) -> None:
    if "name" in data and data["name"] != name.lower():
        raise ValidationFailed("the name in the body differs from the URL", {"name": [
            "must match the URL (domains cannot be renamed)"]})


def create_domain(data: dict) -> Domain:
    """Create a domain (409 if it exists)."""
    name = data["name"]
    if db.session.execute(select(Domain.id).where(Domain.name == name)).first():
        raise Conflict(f"domain '{name}' already exists", {"name": ["already exists"]})
    values = _values(data, None, name)
    _check(values)
    domain = Domain(name=name, **values)
    db.session.add(domain)
    commit(f"domain '{name}'")
    write.mirror_domain(domain)
    return domain


def replace_domain(name: str, data: dict, confirm_realm_change: bool = False):
    """PUT: create or replace a domain. Returns (domain, created, MirrorQueued or None)."""
    name = path_name(DomainName(), name, "domain name")
    _check_name(data, name)
    current = db.session.execute(select(Domain).where(Domain.name == name)).scalar_one_or_none()
    if current is None:
        return create_domain({**data, "name": name}), True, None
    return (current, False, _update(current, _values(data, current, name), confirm_realm_change))


def patch_domain(name: str, data: dict, confirm_realm_change: bool = False):
    """PATCH: merge into a domain (a null in param/variable deletes that name). Returns
    (domain, MirrorQueued or None)."""
    domain = get_domain(name)
    _check_name(data, domain.name)
    values = {"realm": data.get("realm", domain.realm),
              "a1_hash_only": data.get("a1_hash_only", domain.a1_hash_only)}
    for section in ("param", "variable"):
        merged, errors = unmask(data.get(section) or {}, getattr(domain, section), section)
        if errors:
            raise ValidationFailed("invalid input: see details", errors)
        values[section] = merge_section(getattr(domain, section), merged)
    return domain, _update(domain, values, confirm_realm_change)


def _stored_a1_count(domain: Domain) -> int:
    n = 0
    for (param,) in db.session.execute(
            select(Extension.param).where(Extension.domain_id == domain.id)).yield_per(5000):
        if lookup(param, "a1-hash"):
            n += 1
    return n


def _update(domain: Domain, values: dict, confirm_realm_change: bool):
    """Write the new values, mirror the domain entry, then re-mirror its extensions and flush
    the cached ones (in a task when there are many: the MirrorQueued says which)."""
    _check(values)
    if all(getattr(domain, k) == v for k, v in values.items()):
        return None  # idempotent: nothing to write, mirror or flush
    if values["realm"] != domain.realm and not confirm_realm_change:
        stored = _stored_a1_count(domain)
        if stored:
            raise Conflict(
                f"{stored} extension(s) of '{domain.name}' store an a1-hash computed with realm "
                f"'{domain.realm}'; it cannot be recomputed (no password is kept), so those "
                f"phones fail to register until their passwords are set again. To go ahead, "
                f"repeat with ?confirm_realm_change=true",
                {"realm": [f"{stored} stored a1-hash(es) would become invalid"]})
    converting = values["a1_hash_only"] and not domain.a1_hash_only
    for key, value in values.items():
        setattr(domain, key, value)
    if converting:
        _convert_to_a1(domain)
    commit(f"domain '{domain.name}'")
    write.mirror_domain(domain)
    # Domain params are merged into every cached user, so cached ones are flushed too.
    return mirror_flush.domain_changed(domain)


def _convert_to_a1(domain: Domain) -> None:
    """Hash every extension's password (own, or its template's) and drop the plain one, in
    the request's transaction (all or nothing). Columns (not ORM objects) are read in keyset
    batches and the rows that change are written by one executemany UPDATE per batch: 100,000
    extensions take seconds, well inside a request's time."""
    templates = dict(db.session.execute(select(Template.id, Template.param)).all())
    last = 0
    while True:
        rows = db.session.execute(
            select(Extension.id, Extension.name, Extension.param, Extension.template_id)
            .where(Extension.domain_id == domain.id, Extension.id > last)
            .order_by(Extension.id).limit(CONVERT_BATCH)).all()
        changes = []
        for ext_id, name, param, template_id in rows:
            hashed = hash_params(name, domain.realm, param or {}, None, templates.get(template_id))
            if hashed != (param or {}):
                changes.append({"id": ext_id, "param": hashed})
        if changes:
            db.session.execute(update(Extension), changes)
        if len(rows) < CONVERT_BATCH:
            return
        last = rows[-1].id


def delete_domain(name: str, cascade: bool = False) -> None:
    """Delete a domain; with extensions only when cascade is asked for (409 otherwise)."""
    domain = get_domain(name)
    count = db.session.execute(
        select(func.count()).where(Extension.domain_id == domain.id)).scalar_one()
    if count and not cascade:
        raise Conflict(f"domain '{domain.name}' has {count} extension(s); delete them first, "
                       f"or repeat with ?cascade=true to delete them with the domain",
                       {"extensions": [f"{count} extension(s) in this domain"]})
    flush = []
    if count:
        for batch in iter_extensions(Extension.domain_id == domain.id,
                                     options=(selectinload(Extension.template),)):
            for ext in batch:
                eff = effective(ext)
                if mirror_flush.cached(eff):
                    flush.extend(mirror_flush.lookup_names(ext, eff))
                db.session.expunge(ext)
        db.session.execute(delete(Extension).where(Extension.domain_id == domain.id))
    dname = domain.name
    db.session.delete(domain)
    commit(f"domain '{dname}'")
    write.unmirror_domain(dname)
    mirror_flush.enqueue_flush(dname, flush)
