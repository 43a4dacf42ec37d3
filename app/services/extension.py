"""Extensions of a domain: validate → commit → mirror → flush. Never touches the request."""
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from app.mirror.effective import SECTIONS, effective, merge_section, number_alias, overlay
from app.errors import Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models import Domain, Extension
from app.schemas.extension import ExtensionName
from app.schemas.fields import path_name
from app.schemas.secrets import unmask
from app.services import mirror_flush
from app.services.password_hash import hash_params
from app.services.sql import commit, get_domain, get_template, like_pattern, paginate


def list_extensions(domain_name: str, page: int, per_page: int, q: str | None = None,
                    template: str | None = None, enabled: bool | None = None):
    """A page of a domain's extensions by name; q matches name or number-alias."""
    domain = get_domain(domain_name)
    stmt = (select(Extension).options(selectinload(Extension.template))
            .where(Extension.domain_id == domain.id).order_by(Extension.name))
    if q:
        pattern = like_pattern(q)
        stmt = stmt.where(or_(Extension.name.ilike(pattern, escape="\\"),
                              Extension.number_alias.ilike(pattern, escape="\\")))
    if template is not None:
        stmt = stmt.where(Extension.template_id == get_template(template).id)
    if enabled is not None:
        stmt = stmt.where(Extension.enabled == enabled)
    items, total = paginate(stmt, page, per_page)
    return domain, items, total


def find_extension(domain: Domain, name: str) -> Extension | None:
    return db.session.execute(select(Extension).where(
        Extension.domain_id == domain.id, Extension.name == name)).scalar_one_or_none()


def get_extension(domain_name: str, name: str) -> tuple[Domain, Extension]:
    """(domain, extension), or 404 naming which one is unknown."""
    domain = get_domain(domain_name)
    ext = find_extension(domain, name)
    if ext is None:
        raise NotFound(f"no extension '{name}' in domain '{domain.name}'",
                       {"name": [f"no extension '{name}' in domain '{domain.name}'"]})
    return domain, ext


def effective_config(domain_name: str, name: str) -> dict:
    """The effective {param, variable, attribute}: template merged with own values."""
    return effective(get_extension(domain_name, name)[1])


def prepare(domain: Domain, name: str, current: Extension | None, data: dict, merge: bool,
            templates=None) -> dict:
    """Validated new stored values of an extension: PUT replaces (merge=False), PATCH merges.

    `templates` is a name → Template cache (bulk import). Raises NotFound / ValidationFailed.
    """
    if "template" in data:
        tname = data["template"]
        if tname is None:
            tpl = None
        elif templates is not None and tname in templates:
            tpl = templates[tname]
        else:
            tpl = get_template(tname)
            if templates is not None:
                templates[tname] = tpl
    else:
        tpl = current.template if (merge and current) else None
    values = {"template": tpl,
              "enabled": data.get("enabled", current.enabled if (merge and current) else True)}
    errors = {}
    for section in SECTIONS:
        stored = getattr(current, section) if current else None
        given, err = unmask(data.get(section) or {}, stored, section)
        errors.update(err)
        values[section] = overlay(stored, given, keep_null=True) if merge else given
    if errors:
        raise ValidationFailed("invalid input: see details", errors)
    if domain.a1_hash_only:
        values["param"] = hash_params(name, domain.realm, values["param"], data.get("param"),
                                      tpl.param if tpl else None)
    eff_attr = merge_section(tpl.attribute if tpl else None, values["attribute"])
    values["number_alias"] = number_alias({"attribute": eff_attr})
    return values


def check_unique(domain: Domain, name: str, alias: str | None, exclude_id: int | None) -> None:
    """409 when the name or alias is another extension's name or alias (case-insensitive)."""
    tokens = {name.lower()} | ({alias.lower()} if alias else set())
    stmt = select(Extension.name, Extension.number_alias).where(
        Extension.domain_id == domain.id,
        or_(func.lower(Extension.name).in_(tokens), func.lower(Extension.number_alias).in_(tokens)))
    if exclude_id is not None:
        stmt = stmt.where(Extension.id != exclude_id)
    for other, other_alias in db.session.execute(stmt):
        if other.lower() == name.lower() or (other_alias or "").lower() == name.lower():
            field, value = "name", name
        else:
            field, value = "number-alias", alias
        what = "already exists" if other == name else f"is already used by extension '{other}'"
        details = {"name": [f"'{value}' {what}"]} if field == "name" else \
            {"attribute": {"number-alias": [f"'{value}' {what} (as its name or number-alias)"]}}
        raise Conflict(f"extension '{value}' {what} in domain '{domain.name}'", details)


def _after_write(domain: Domain, ext: Extension, before: dict | None) -> None:
    """Mirror the committed extension, then flush FreeSWITCH's cache if it was or is cached."""
    after = effective(ext)
    mirror_flush.mirror_one(ext, domain.name)
    if mirror_flush.cached(before) or mirror_flush.cached(after):
        names = mirror_flush.lookup_names(ext, after) + mirror_flush.lookup_names(ext, before)
        mirror_flush.enqueue_flush(domain.name, names)


def apply_values(ext: Extension, values: dict) -> None:
    """Set an extension's stored fields from the values `prepare` returned."""
    ext.template = values["template"]
    for key in ("enabled", "param", "variable", "attribute", "number_alias"):
        setattr(ext, key, values[key])


def create_extension(domain_name: str, data: dict) -> tuple[Domain, Extension]:
    """POST: create an extension (409 if its name or alias is taken)."""
    domain = get_domain(domain_name)
    name = data["name"]
    values = prepare(domain, name, None, data, merge=False)
    check_unique(domain, name, values["number_alias"], None)
    ext = Extension(domain_id=domain.id, name=name)
    apply_values(ext, values)
    db.session.add(ext)
    commit(f"extension '{name}'")
    _after_write(domain, ext, None)
    return domain, ext


def _check_name(data: dict, name: str) -> None:
    if "name" in data and data["name"] != name:
        raise ValidationFailed("the name in the body differs from the URL", {"name": [
            "must match the URL (to rename, create the new extension and delete the old one)"]})


def replace_extension(domain_name: str, name: str, data: dict):
    """PUT: create or replace. Returns (domain, extension, created)."""
    name = path_name(ExtensionName(), name, "extension name")
    _check_name(data, name)
    domain = get_domain(domain_name)
    ext = find_extension(domain, name)
    if ext is None:
        return (*create_extension(domain.name, {**data, "name": name}), True)
    return domain, _update(domain, ext, data, merge=False), False


def patch_extension(domain_name: str, name: str, data: dict) -> tuple[Domain, Extension]:
    """PATCH: merge into an extension (a null hides the template's value)."""
    _check_name(data, name)
    domain, ext = get_extension(domain_name, name)
    return domain, _update(domain, ext, data, merge=True)


def _update(domain: Domain, ext: Extension, data: dict, merge: bool) -> Extension:
    before = effective(ext)
    values = prepare(domain, ext.name, ext, data, merge)
    old = {"template": ext.template, "enabled": ext.enabled, "number_alias": ext.number_alias,
           **{s: getattr(ext, s) for s in SECTIONS}}
    if old == values:
        return ext  # idempotent: nothing to write, mirror or flush
    check_unique(domain, ext.name, values["number_alias"], ext.id)
    apply_values(ext, values)
    commit(f"extension '{ext.name}'")
    _after_write(domain, ext, before)
    return ext


def delete_extension(domain_name: str, name: str) -> None:
    """DELETE: remove from SQL, then from Redis, then flush if it was cached."""
    domain, ext = get_extension(domain_name, name)
    before = effective(ext)
    alias = ext.number_alias
    db.session.delete(ext)
    commit(f"extension '{name}'")
    mirror_flush.unmirror_one(domain.name, name, alias)
    if mirror_flush.cached(before):
        mirror_flush.enqueue_flush(domain.name, mirror_flush.lookup_names(name, before))

