"""Lookups, paging and commit handling shared by the directory services."""
from typing import Iterator

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, NotFound
from app.extensions import db
from app.models import Domain, Extension, Template

BATCH = 1000


def get_domain(name: str) -> Domain:
    """The domain named (case-insensitively, names are stored lowercase), or 404."""
    domain = db.session.execute(
        select(Domain).where(Domain.name == (name or "").lower())).scalar_one_or_none()
    if domain is None:
        raise NotFound(f"no domain named '{name}'", {"domain": [f"no domain named '{name}'"]})
    return domain


def find_template(name: str) -> Template | None:
    return db.session.execute(select(Template).where(Template.name == name)).scalar_one_or_none()


def get_template(name: str) -> Template:
    """The template named, or 404 naming the `template` field."""
    tpl = find_template(name)
    if tpl is None:
        raise NotFound(f"no template named '{name}'", {"template": [f"no template named '{name}'"]})
    return tpl


def like_pattern(q: str) -> str:
    """A LIKE pattern matching q as a plain substring (its % and _ escaped with \\)."""
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def paginate(stmt, page: int, per_page: int) -> tuple[list, int]:
    """(items of this page, total matching) of a select of one entity."""
    total = db.session.execute(
        select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    items = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).scalars().all()
    return items, total


def iter_extensions(where, options=(), batch: int = BATCH) -> Iterator[list[Extension]]:
    """Extensions matching `where`, `batch` at a time by id (keyset), detached after each batch."""
    last = 0
    while True:
        rows = db.session.execute(
            select(Extension).options(*options).where(where, Extension.id > last)
            .order_by(Extension.id).limit(batch)).scalars().all()
        if not rows:
            return
        yield rows
        last = rows[-1].id
        if len(rows) < batch:
            return


def commit(what: str) -> None:
    """Commit; a unique-constraint race becomes a 409 naming what collided."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(f"{what} already exists (or is still referenced)",
                       {"_db": [str(exc.orig).splitlines()[0][:200]]}) from exc
