"""Templates (shared by all domains): validate → commit → re-mirror dependents → flush."""
from sqlalchemy import func, select

from app.mirror.effective import SECTIONS, merge_section
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import Domain, Extension, Template
from app.schemas.fields import path_name
from app.schemas.secrets import unmask
from app.schemas.template import TemplateName
from app.services import mirror_flush
from app.services.sql import commit, find_template, get_template, like_pattern, paginate


def list_templates(page: int, per_page: int, q: str | None = None):
    """A page of templates by name, optionally filtered by a substring of the name."""
    stmt = select(Template).order_by(Template.name)
    if q:
        stmt = stmt.where(Template.name.ilike(like_pattern(q), escape="\\"))
    return paginate(stmt, page, per_page)


def _check_name(data: dict, name: str) -> None:
    if "name" in data and data["name"] != name:
        raise ValidationFailed("the name in the body differs from the URL", {"name": [
            "must match the URL (templates cannot be renamed)"]})


def _sections(data: dict, current: Template | None, merge: bool) -> dict:
    """New param/variable/attribute: replaced (PUT) or merged (PATCH, null deletes a name)."""
    out, errors = {}, {}
    for section in SECTIONS:
        stored = getattr(current, section) if current else None
        given, err = unmask(data.get(section) or {}, stored, section)
        errors.update(err)
        if merge:
            out[section] = merge_section(stored, given)
        else:
            out[section] = {k: v for k, v in given.items() if v is not None}
    if errors:
        raise ValidationFailed("invalid input: see details", errors)
    return out


def create_template(data: dict) -> Template:
    """Create a template (409 if it exists)."""
    name = data["name"]
    if find_template(name) is not None:
        raise Conflict(f"template '{name}' already exists", {"name": ["already exists"]})
    tpl = Template(name=name, **_sections(data, None, merge=False))
    db.session.add(tpl)
    commit(f"template '{name}'")
    return tpl


def replace_template(name: str, data: dict):
    """PUT: create or replace a template. Returns (template, created, MirrorQueued or None)."""
    name = path_name(TemplateName(), name, "template name")
    _check_name(data, name)
    current = find_template(name)
    if current is None:
        return create_template({**data, "name": name}), True, None
    return (current, False, _update(current, _sections(data, current, merge=False)))


def patch_template(name: str, data: dict):
    """PATCH: merge into a template (a null deletes that name). Returns (template, MirrorQueued
    or None)."""
    tpl = get_template(name)
    _check_name(data, name)
    return tpl, _update(tpl, _sections(data, tpl, merge=True))


def _update(tpl: Template, values: dict) -> mirror_flush.MirrorQueued | None:
    """Write the new sections, then re-mirror the dependents and flush the cached ones (in a
    task when there are many: the MirrorQueued says which)."""
    old = {s: dict(getattr(tpl, s) or {}) for s in SECTIONS}
    if old == values:
        return None  # idempotent: nothing to write, mirror or flush
    for section, value in values.items():
        setattr(tpl, section, value)
    commit(f"template '{tpl.name}'")
    return mirror_flush.template_changed(tpl.id, old["attribute"], values["attribute"])


def delete_template(name: str) -> None:
    """Delete a template; 409 while extensions still use it."""
    tpl = get_template(name)
    rows = db.session.execute(
        select(Domain.name, func.count()).join(Extension, Extension.domain_id == Domain.id)
        .where(Extension.template_id == tpl.id).group_by(Domain.name)).all()
    if rows:
        total = sum(n for _, n in rows)
        where = ", ".join(f"{d} ({n})" for d, n in rows[:10])
        raise Conflict(f"template '{name}' is used by {total} extension(s) in {where}; move "
                       f"them to another template (or none) first",
                       {"template": [f"used by {total} extension(s)"]})
    db.session.delete(tpl)
    commit(f"template '{name}'")
