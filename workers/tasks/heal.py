"""Heal a Redis that lost its data, or restarted with it (app/state/generation.py, once per claim).

1. Resync every configured node from FreeSWITCH (`fscti.state.resync` on `events`, in
   parallel with the rest): the live state is back in a resync's time. (Whoever claimed the
   heal marked the tick's periodic resync of each node as done, so it sends no second one.)
2. The directory mirror: reason `lost`, every domain rebuilt from SQL (aside, then atomic
   swap, the heal's lease extended after each domain); reason `restarted`, a reconcile (the
   data survived: only its drift is repaired).
3. The generation is marked `ok`.
"""
from __future__ import annotations

import logging
import time

import redis
from celery import shared_task
from flask import current_app
from sqlalchemy.exc import OperationalError

from app import tasknames
from app.extensions import redis_ext
from app.state import generation, keys

log = logging.getLogger("fscti.redis")

RETRYABLE = (redis.ConnectionError, redis.TimeoutError, OperationalError)


def queue_heal(celery, claim: generation.Claim) -> None:
    """Send the heal task for a claim (raises when the broker does not take it). The tick's
    periodic resync of every node is marked as done first: the heal sends those resyncs."""
    settings = current_app.config["FSCTI"]
    interval_ms = max(1, int(float(settings.state["resync_interval"]) * 1000))
    for node in settings.freeswitch:
        redis_ext.client.set(keys.state_tick(f"resync-{node.name}"), "1", px=interval_ms)
    celery.send_task(tasknames.REDIS_HEAL, args=[claim.generation, claim.reason], queue="celery",
                     retry=False, ignore_result=True)


def resync_all(settings, reason: str) -> list[str]:
    """Queue one resync of every configured node."""
    celery = current_app.extensions["celery"]
    names = []
    for node in settings.freeswitch:
        celery.send_task(tasknames.STATE_RESYNC, args=[node.name, reason, None], queue="events")
        names.append(node.name)
    return names


def rebuild_mirror(client, gen: str) -> dict:
    """Every domain of SQL rebuilt (the lease extended after each), strays removed."""
    from app.mirror.rebuild import rebuild_domain, remove_stray_domains
    from app.mirror.source import connect, load_domains

    with connect() as conn:
        names = [d.name for d in load_domains(conn)]
    done = {"domains": 0, "extensions": 0, "busy": []}
    for name in names:
        res = rebuild_domain(name)
        done["domains"] += 1
        done["extensions"] += res.extensions
        if res.status not in ("ok", "gone"):
            done["busy"].append(name)
        generation.extend(client, gen)
    done["removed_domains"] = remove_stray_domains(repair=True)
    return done


@shared_task(name=tasknames.REDIS_HEAL, acks_late=True, ignore_result=True, autoretry_for=RETRYABLE,
             retry_backoff=True, retry_backoff_max=30, max_retries=10,
             time_limit=3600, soft_time_limit=3500)
def heal(gen: str, reason: str) -> dict:
    """Resync every node and rebuild (reason `lost`) or reconcile (`restarted`) the mirror."""
    from app.mirror.reconcile import reconcile

    settings = current_app.config["FSCTI"]
    client = redis_ext.client
    t0 = time.monotonic()
    if generation.current(client).get("id") != gen:
        log.warning("Redis heal of generation %s skipped: Redis holds another generation now "
                    "(its own heal runs)", gen)
        return {"generation": gen, "status": "superseded"}
    generation.extend(client, gen)
    nodes = resync_all(settings, f"redis-{reason}")
    if reason == "lost":
        mirror = rebuild_mirror(client, gen)
    else:
        report = reconcile()
        mirror = {"checked": report.checked, "drift": dict(report.drift),
                  "repaired": report.repaired}
    generation.healed(client, gen)
    seconds = round(time.monotonic() - t0, 3)
    log.info("Redis healed (generation %s, %s): %d node resync(s) queued, mirror %s, in %.1fs",
                gen, reason, len(nodes), mirror, seconds)
    return {"generation": gen, "reason": reason, "nodes": nodes, "mirror": mirror,
            "seconds": seconds}
