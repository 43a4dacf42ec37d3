"""What follows a directory commit: the Redis mirror, then the FreeSWITCH cache flush.

Order is fixed (STYLE §3): validate → commit to SQL → mirror to Redis → enqueue. The mirror
functions (app.mirror.write) log and queue their own repair when Redis fails, so a
committed change is never lost; this module only decides what to mirror and what to flush.

A template or domain change re-mirrors every dependent extension. Up to INLINE_MIRROR_MAX
of them this happens inside the request; beyond, one task does the re-mirror and then the
flush (in that order: a flush before the new values are in Redis would let FreeSWITCH
cache the old ones again), so the request stays far below gunicorn's timeout.
"""
import logging
from collections import defaultdict
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app import tasknames
from app.mirror import write
from app.mirror.effective import effective, merge_section
from app.extensions import db
from app.models import Domain, Extension
from app.services.sql import iter_extensions

log = logging.getLogger(__name__)

FLUSH_CHUNK = 500
# Dependents re-mirrored inside the request (2,000 took ~0.06 s on SQLite here; the cost
# grows linearly, and a request must stay far below gunicorn's 30 s); more go to a task.
INLINE_MIRROR_MAX = 2000


@dataclass(frozen=True)
class MirrorQueued:
    """A re-mirror handed to a task: its id and how many extensions it covers."""

    task_id: str
    task: str
    extensions: int

    def as_dict(self) -> dict:
        return {"status": "queued", "task": self.task, "task_id": self.task_id,
                "extensions": self.extensions}


def cached(eff: dict | None) -> bool:
    """Whether FreeSWITCH may hold this effective user in its cache (facts §2.5)."""
    value = ((eff or {}).get("attribute") or {}).get("cacheable")
    return value not in (None, "", False)


def lookup_names(ext, eff: dict | None) -> list[str]:
    """The names FreeSWITCH caches a user under: its id and its number-alias."""
    out = [ext.name] if isinstance(ext, Extension) else [ext]
    alias = ((eff or {}).get("attribute") or {}).get("number-alias")
    if alias not in (None, "") and str(alias) not in out:
        out.append(str(alias))
    return out


def enqueue_flush(domain_name: str, names) -> None:
    """Ask the workers to `xml_flush_cache` these names on every FreeSWITCH node."""
    names = sorted(set(names))
    if not names:
        return
    celery = current_app.extensions["celery"]
    for i in range(0, len(names), FLUSH_CHUNK):
        chunk = names[i:i + FLUSH_CHUNK]
        try:
            celery.send_task(tasknames.DIRECTORY_FLUSH_CACHE, args=[domain_name, chunk], retry=True,
                             retry_policy={"max_retries": 2, "interval_start": 0.1,
                                           "interval_step": 0.2, "interval_max": 0.5})
        except Exception as exc:  # the broker is down: the change is committed and mirrored
            log.error("could not queue %s for %s %s (%s: %s): flush these by hand",
                      tasknames.DIRECTORY_FLUSH_CACHE, domain_name, chunk, type(exc).__name__, exc)


def mirror_one(ext, domain_name: str) -> None:
    """Mirror one committed extension (the mirror replaces its old alias atomically)."""
    write.mirror_extensions([ext], domain_name)


def remirror_domain(domain, changed_flush: bool) -> int:
    """Re-mirror every extension of a domain in batches; flush the cached ones if asked.

    Returns how many were mirrored.
    """
    total, flush = 0, []
    for batch in iter_extensions(Extension.domain_id == domain.id,
                                 options=(selectinload(Extension.template),)):
        total += write.mirror_extensions(batch, domain.name)
        if changed_flush:
            for ext in batch:
                eff = effective(ext)
                if cached(eff):
                    flush.extend(lookup_names(ext, eff))
        for ext in batch:
            db.session.expunge(ext)
    enqueue_flush(domain.name, flush)
    return total


def remirror_template(template_id: int) -> int:
    """Re-mirror every extension using a template (all domains), streamed from SQL."""
    return write.mirror_template(template_id)


def flush_template_dependents(template_id: int, old_attr: dict, new_attr: dict) -> int:
    """Queue a cache flush for every dependent FreeSWITCH may have cached under the old or the
    new attributes; returns how many names were queued."""
    flush = defaultdict(list)
    rows = db.session.execute(
        select(Domain.name, Extension.name, Extension.attribute)
        .join(Domain, Domain.id == Extension.domain_id)
        .where(Extension.template_id == template_id)).yield_per(5000)
    for dname, ename, own in rows:
        before = {"attribute": merge_section(old_attr, own)}
        after = {"attribute": merge_section(new_attr, own)}
        if cached(before) or cached(after):
            flush[dname].extend(lookup_names(ename, before))
            flush[dname].extend(lookup_names(ename, after))
    for dname, names in flush.items():
        enqueue_flush(dname, names)
    return sum(len(set(names)) for names in flush.values())


def template_changed(template_id: int, old_attr: dict, new_attr: dict) -> MirrorQueued | None:
    """Re-mirror a changed template's dependents, then flush the cached ones: inline up to
    INLINE_MIRROR_MAX dependents (None), else in one `fscti.directory.mirror_template` task."""
    count = db.session.execute(select(func.count()).where(
        Extension.template_id == template_id)).scalar_one()
    if count > INLINE_MIRROR_MAX:
        queued = _enqueue(tasknames.DIRECTORY_MIRROR_TEMPLATE, [template_id],
                          {"flush": {"old": old_attr, "new": new_attr}}, count)
        if queued is not None:
            return queued
    remirror_template(template_id)
    flush_template_dependents(template_id, old_attr, new_attr)
    return None


def domain_changed(domain) -> MirrorQueued | None:
    """Re-mirror a changed domain's extensions and flush the cached ones (domain params reach
    every user): inline up to INLINE_MIRROR_MAX extensions (None), else in one
    `fscti.directory.remirror_domain` task."""
    count = db.session.execute(select(func.count()).where(
        Extension.domain_id == domain.id)).scalar_one()
    if count > INLINE_MIRROR_MAX:
        queued = _enqueue(tasknames.DIRECTORY_REMIRROR_DOMAIN, [domain.name], {}, count)
        if queued is not None:
            return queued
    remirror_domain(domain, changed_flush=True)
    return None


def _enqueue(task: str, args: list, kwargs: dict, count: int) -> MirrorQueued | None:
    """Send a re-mirror task; None when the broker refuses (the caller then works inline:
    slow, but the change reaches Redis and FreeSWITCH's cache)."""
    try:
        result = current_app.extensions["celery"].send_task(
            task, args=args, kwargs=kwargs, retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2,
                          "interval_max": 0.5})
    except Exception as exc:  # the broker is down
        log.error("could not queue %s%s (%s: %s); re-mirroring %d extension(s) inline", task,
                  args, type(exc).__name__, exc, count)
        return None
    log.info("queued %s%s for %d extension(s): task %s", task, args, count, result.id)
    return MirrorQueued(task_id=result.id, task=task, extensions=count)


def unmirror_one(domain_name: str, name: str, alias: str | None) -> None:
    """Remove one deleted extension (and its alias) from Redis."""
    write.unmirror_extension(domain_name, name, alias)
