"""Heal a Redis that lost its data, or restarted with it (app/state/generation.py, once per claim).

1. Resync every configured node from FreeSWITCH (`fscti.state.resync` on `events`, in
   parallel with the rest): the live state is back in a resync's time. (Whoever claimed the
   heal marked the tick's periodic resync of each node as done, so it sends no second one.)
2. The directory mirror: reason `lost`, every domain rebuilt from SQL (aside, then atomic
   swap, the heal's lease extended after each domain); reason `restarted`, a reconcile (the
   data survived: only its drift is repaired).
3. The generation is marked `ok`; after a loss, any domain not rebuilt in this generation yet
   (created while the heal ran: the guard held its writes back) is rebuilt too.
While a heal of a loss runs, every mirror write checks (app/mirror/lua/guard.lua) whether its
domain is rebuilt yet, and leaves the change to the rebuild when it is not.
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


def resync_all(settings, reason: str) -> list[str]:
    """Queue one resync of every configured node."""
    celery = current_app.extensions["celery"]
    names = []
    for node in settings.freeswitch:
        celery.send_task(tasknames.STATE_RESYNC, args=[node.name, reason, None], queue="events")
        names.append(node.name)
    return names


def rebuild_mirror(client, gen: str, done: dict | None = None, only_stale: bool = False) -> dict:
    """Every domain of SQL rebuilt (the lease extended after each), strays removed. With
    only_stale, only the domains not yet rebuilt in generation `gen` (keys.mirror_generation)."""
    from app.mirror.rebuild import rebuild_domain, remove_stray_domains
    from app.mirror.source import connect, load_domains

    with connect() as conn:
        names = [d.name for d in load_domains(conn)]
    if only_stale and names:
        mine = client.mget([keys.mirror_generation(n) for n in names])
        names = [n for n, g in zip(names, mine) if _text(g) != gen]
    done = done if done is not None else {"domains": 0, "extensions": 0, "busy": []}
    for name in names:
        res = rebuild_domain(name)
        done["domains"] += 1
        done["extensions"] += res.extensions
        if res.status not in ("ok", "gone"):
            done["busy"].append(name)
        generation.extend(client, gen)
    done["removed_domains"] = remove_stray_domains(repair=True)
    return done


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


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
        # only_stale: a heal claimed again (its task died) resumes where the last one stopped
        mirror = rebuild_mirror(client, gen, only_stale=True)
    else:
        report = reconcile()
        mirror = {"checked": report.checked, "drift": dict(report.drift),
                  "repaired": report.repaired}
    generation.healed(client, gen)
    if reason == "lost":
        # A domain created while the heal ran (after the list above was read) had its writes
        # held back by the guard (app/mirror/lua/guard.lua) until the marker said `ok`: this
        # list is read after that, so it sees every such commit.
        rebuild_mirror(client, gen, mirror, only_stale=True)
    seconds = round(time.monotonic() - t0, 3)
    log.info("Redis healed (generation %s, %s): %d node resync(s) queued, mirror %s, in %.1fs",
                gen, reason, len(nodes), mirror, seconds)
    return {"generation": gen, "reason": reason, "nodes": nodes, "mirror": mirror,
            "seconds": seconds}
