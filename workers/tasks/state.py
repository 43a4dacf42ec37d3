"""Upkeep of the live state: resync a node from FreeSWITCH, and the beat tick (expiry sweep,
stale calls, periodic resync)."""
import logging
import random

import redis
from celery import shared_task
from flask import current_app

from app import metrics, quiet, tasknames
from app.esl.errors import EslUnavailable
from app.extensions import redis_ext
from app.state.resync import resync_node
from app.state.snapshot import SnapshotError
from app.state.sweep import tick as state_tick

log = logging.getLogger(__name__)

RETRYABLE = (redis.ConnectionError, redis.TimeoutError)
RESYNC_RETRIES = 10
RESYNC_BACKOFF_MAX = 60


@shared_task(bind=True, name=tasknames.STATE_RESYNC, acks_late=True, autoretry_for=RETRYABLE,
             retry_backoff=True, retry_backoff_max=RESYNC_BACKOFF_MAX, max_retries=RESYNC_RETRIES,
             time_limit=120, soft_time_limit=100)
def resync(self, node_name: str, reason: str = "periodic", core_uuid: str | None = None,
           token: int | None = None) -> dict:
    """Rebuild one node's registrations and calls from FreeSWITCH's own tables.

    FreeSWITCH unreachable: a periodic resync waits for the next period; any other (connect,
    core change, overflow, Redis heal) is retried with backoff, then left to the next periodic
    one. Either way one WARNING per node per `unreachable_log_interval`, never a traceback."""
    settings = current_app.config["FSCTI"]
    if settings.node(node_name) is None:
        log.error("resync: unknown node %r (not in the configuration)", node_name)
        return {"node": node_name, "status": "unknown-node"}
    try:
        if token is not None and (isinstance(token, bool) or not isinstance(token, int)):
            log.error("resync %s: token %.40r is not an integer; ignored", node_name, token)
            return {"node": node_name, "status": "bad-token"}
        done = resync_node(redis_ext.client, settings, node_name, str(reason), core_uuid,
                           token=token)
    except EslUnavailable as exc:
        retries = self.request.retries or 0
        if reason != "periodic" and retries < RESYNC_RETRIES:
            _count_resync(node_name, reason, "retried")
            countdown = random.uniform(0, min(RESYNC_BACKOFF_MAX, 2 ** retries))
            raise self.retry(exc=exc, countdown=countdown, max_retries=RESYNC_RETRIES)
        quiet.warn_every(log, quiet.unreachable(node_name), settings.unreachable_log_interval,
                         redis_ext.client, "%s: FreeSWITCH unreachable (%s); resync (%s) not "
                         "done, the next periodic resync (every %ss) tries again", node_name,
                         exc, reason, settings.state["resync_interval"])
        _count_resync(node_name, reason, "unreachable")
        return {"node": node_name, "status": "unreachable", "reason": reason}
    except SnapshotError as exc:
        log.error("resync %s: FreeSWITCH output not understood, nothing applied: %s",
                  node_name, exc)
        _count_resync(node_name, reason, "unparsable")
        return {"node": node_name, "status": "unparsable", "error": str(exc)}
    except RETRYABLE:
        _count_resync(node_name, reason, "retried")
        raise
    _count_resync(node_name, reason, "stale" if done.get("status") == "stale" else "ok")
    return done


def _count_resync(node_name: str, reason, result: str) -> None:
    metrics.resyncs.labels(node_name, metrics.resync_reason(reason), result).inc()


@shared_task(name=tasknames.STATE_TICK, acks_late=True, ignore_result=True,
             autoretry_for=(redis.ConnectionError, redis.TimeoutError), retry_backoff=True,
             max_retries=2, time_limit=120, soft_time_limit=100)
def tick() -> dict:
    """Redis's generation check (app/state/generation.py), then the expiry sweep, stale-call
    check and periodic resyncs, each when due."""
    from app.state import generation

    settings = current_app.config["FSCTI"]
    claim = generation.watch(redis_ext.client,
                             lambda c: generation.queue_heal(current_app.extensions["celery"], c), "the tick")

    def enqueue(node_name: str, reason: str) -> None:
        resync.apply_async((node_name, reason, None), queue="events")

    done = state_tick(redis_ext.client, settings, enqueue)
    done["actions_expired"] = _expire_queued_actions(settings)
    if claim is not None:
        done["heal"] = [claim.generation, claim.reason]
    for name in done["swept"]:
        metrics.sweeps.labels(metrics.node_label(settings, name)).inc()
    return done


def _settle_sent(settings) -> None:
    """A `sent` supervise action whose settle poll was lost (its publish failed while the
    broker failed over) is ended here: from its result, or failed once its deadline passed."""
    from app.extensions import db
    from app.models import Action
    from app.services import supervise_runner

    for action in db.session.execute(db.select(Action).where(Action.state == "sent")).scalars().all():
        supervise_runner.settle(action) or supervise_runner.expire(action)


def _expire_queued_actions(settings) -> list[str]:
    """Actions whose task no worker took in time end `failed` with the reason (SQL only)."""
    from app.extensions import db
    from app.services import action_state

    try:
        failed = action_state.expire_queued(settings.actions["queue_timeout"])
        _settle_sent(settings)
    except Exception as exc:  # SQL or Redis down: the next tick tries again
        db.session.rollback()
        log.warning("state tick: could not check for lost actions (%s: %s)", type(exc).__name__, exc)
        return []
    for action_id in failed:
        log.warning("action %s failed: no worker took it within %ss (lost task)", action_id,
                    settings.actions["queue_timeout"])
    return failed
