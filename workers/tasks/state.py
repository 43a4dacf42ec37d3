"""Upkeep of the live state: resync a node from FreeSWITCH, and the beat tick (expiry sweep,
stale calls, periodic resync)."""
import logging

import redis
from celery import shared_task
from flask import current_app

from app import metrics
from app.esl.errors import EslUnavailable
from app.extensions import redis_ext
from app.state.resync import resync_node
from app.state.snapshot import SnapshotError
from app.state.sweep import tick as state_tick

log = logging.getLogger(__name__)

RETRYABLE = (redis.ConnectionError, redis.TimeoutError, EslUnavailable)


@shared_task(name="fscti.state.resync", acks_late=True, autoretry_for=RETRYABLE,
             retry_backoff=True, retry_backoff_max=60, max_retries=10,
             time_limit=120, soft_time_limit=100)
def resync(node_name: str, reason: str = "periodic", core_uuid: str | None = None) -> dict:
    """Rebuild one node's registrations and calls from FreeSWITCH's own tables."""
    settings = current_app.config["FSCTI"]
    if settings.node(node_name) is None:
        log.error("resync: unknown node %r (not in the configuration)", node_name)
        return {"node": node_name, "status": "unknown-node"}
    try:
        done = resync_node(redis_ext.client, settings, node_name, str(reason), core_uuid)
    except SnapshotError as exc:
        log.error("resync %s: FreeSWITCH output not understood, nothing applied: %s",
                  node_name, exc)
        _count_resync(node_name, reason, "unparsable")
        return {"node": node_name, "status": "unparsable", "error": str(exc)}
    except RETRYABLE:
        _count_resync(node_name, reason, "retried")
        raise
    _count_resync(node_name, reason, "ok")
    return done


def _count_resync(node_name: str, reason, result: str) -> None:
    metrics.resyncs.labels(node_name, metrics.resync_reason(reason), result).inc()


@shared_task(name="fscti.state.tick", acks_late=True, ignore_result=True,
             autoretry_for=(redis.ConnectionError, redis.TimeoutError), retry_backoff=True,
             max_retries=2, time_limit=120, soft_time_limit=100)
def tick() -> dict:
    """Expiry sweep, stale-call check and periodic resyncs, each when due."""
    settings = current_app.config["FSCTI"]

    def enqueue(node_name: str, reason: str) -> None:
        resync.apply_async((node_name, reason, None), queue="events")

    done = state_tick(redis_ext.client, settings, enqueue)
    for name in done["swept"]:
        metrics.sweeps.labels(metrics.node_label(settings, name)).inc()
    return done
