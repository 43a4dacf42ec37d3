"""Maintenance of the directory's Redis mirror: rebuild, reconcile (beat), targeted repairs."""
import logging

import redis
from celery import shared_task
from sqlalchemy.exc import OperationalError

from app import tasknames
from app.mirror.client import writer
from app.mirror.rebuild import rebuild_all, rebuild_domain
from app.mirror.reconcile import reconcile as reconcile_mirror
from app.mirror.reconcile import repair_names
from app.mirror.source import connect, load_domains, load_templates

log = logging.getLogger(__name__)

# Redis or SQL briefly unreachable: worth retrying. Anything else is a bug, not retried.
RETRYABLE = (redis.ConnectionError, redis.TimeoutError, OperationalError)


@shared_task(name=tasknames.DIRECTORY_REBUILD, acks_late=True, autoretry_for=RETRYABLE,
             retry_backoff=True, retry_backoff_max=300, max_retries=10,
             time_limit=3600, soft_time_limit=3500)
def rebuild(domain: str | None = None) -> dict:
    """Rebuild one domain, or every domain, from SQL (aside, then atomic swap)."""
    if domain:
        return {"domains": [rebuild_domain(domain).__dict__]}
    return rebuild_all().as_dict()


@shared_task(name=tasknames.DIRECTORY_RECONCILE, acks_late=True, autoretry_for=RETRYABLE,
             retry_backoff=True, retry_backoff_max=300, max_retries=3,
             time_limit=3600, soft_time_limit=3500)
def reconcile(domain: str | None = None, repair: bool = True) -> dict:
    """Compare SQL and Redis and repair the drift; the result says what was repaired."""
    return reconcile_mirror(domain, repair=repair).as_dict()


@shared_task(name=tasknames.DIRECTORY_REPAIR_EXTENSIONS, acks_late=True, autoretry_for=RETRYABLE,
             retry_backoff=True, retry_backoff_max=120, max_retries=20,
             time_limit=120, soft_time_limit=100)
def repair_extensions(domain: str, names: list[str]) -> dict:
    """Rewrite these extensions of a domain from SQL (deleting those SQL no longer has)."""
    with connect() as conn:
        rows = load_domains(conn, domain)
        if not rows:
            return {"domain": domain, "status": "gone", "repaired": 0}
        done, busy = repair_names(conn, writer(), rows[0].id, domain, list(names), load_templates(conn))
    log.info("repaired %d extension(s) of %s (%d busy)", done, domain, busy)
    return {"domain": domain, "status": "ok", "repaired": done, "busy": busy, "names": list(names)}


@shared_task(name=tasknames.DIRECTORY_MIRROR_TEMPLATE, acks_late=True, autoretry_for=RETRYABLE,
             retry_backoff=True, retry_backoff_max=300, max_retries=10,
             time_limit=3600, soft_time_limit=3500)
def mirror_template(template_id: int, flush: dict | None = None) -> dict:
    """Re-mirror every extension that uses a template; with `flush` ({"old", "new"}: the
    template's attributes before and after the change), then queue the cache flush of every
    dependent FreeSWITCH may have cached (after the mirror, so it cannot re-cache old values)."""
    from app.mirror.write import mirror_template as remirror
    from app.services.mirror_flush import flush_template_dependents

    mirrored = remirror(template_id)
    flushed = 0
    if isinstance(flush, dict):
        flushed = flush_template_dependents(template_id, dict(flush.get("old") or {}),
                                            dict(flush.get("new") or {}))
    return {"template_id": template_id, "mirrored": mirrored, "flushed": flushed}


@shared_task(name=tasknames.DIRECTORY_REMIRROR_DOMAIN, acks_late=True, autoretry_for=RETRYABLE,
             retry_backoff=True, retry_backoff_max=300, max_retries=10,
             time_limit=3600, soft_time_limit=3500)
def remirror_domain(domain: str) -> dict:
    """Re-mirror every extension of a changed domain, then queue the flush of the cached ones."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Domain
    from app.services.mirror_flush import remirror_domain as remirror

    row = db.session.execute(select(Domain).where(Domain.name == domain)).scalar_one_or_none()
    if row is None:
        return {"domain": domain, "status": "gone", "mirrored": 0}
    return {"domain": domain, "status": "ok", "mirrored": remirror(row, changed_flush=True)}
