"""What follows a directory commit: the Redis mirror, then the FreeSWITCH cache flush.

Order is fixed (STYLE §3): validate → commit to SQL → mirror to Redis → enqueue. The mirror
functions (app.directory.mirror) log and queue their own repair when Redis fails, so a
committed change is never lost; this module only decides what to mirror and what to flush.
"""
import logging

from flask import current_app
from sqlalchemy.orm import selectinload

from app.directory import mirror
from app.directory.effective import effective
from app.extensions import db
from app.models import Extension
from app.services.common import iter_extensions

log = logging.getLogger(__name__)

FLUSH_TASK = "fscti.directory.flush_cache"
FLUSH_CHUNK = 500


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
            celery.send_task(FLUSH_TASK, args=[domain_name, chunk], retry=True,
                             retry_policy={"max_retries": 2, "interval_start": 0.1,
                                           "interval_step": 0.2, "interval_max": 0.5})
        except Exception as exc:  # the broker is down: the change is committed and mirrored
            log.error("could not queue %s for %s %s (%s: %s): flush these by hand",
                      FLUSH_TASK, domain_name, chunk, type(exc).__name__, exc)


def mirror_one(ext, domain_name: str) -> None:
    """Mirror one committed extension (the mirror replaces its old alias atomically)."""
    mirror.mirror_extensions([ext], domain_name)


def remirror_domain(domain, changed_flush: bool) -> int:
    """Re-mirror every extension of a domain in batches; flush the cached ones if asked.

    Returns how many were mirrored.
    """
    total, flush = 0, []
    for batch in iter_extensions(Extension.domain_id == domain.id,
                                 options=(selectinload(Extension.template),)):
        total += mirror.mirror_extensions(batch, domain.name)
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
    return mirror.mirror_template(template_id)


def unmirror_one(domain_name: str, name: str, alias: str | None) -> None:
    """Remove one deleted extension (and its alias) from Redis."""
    mirror.unmirror_extension(domain_name, name, alias)
