"""FreeSWITCH events → live state (queue `events`): one task per batch from the listener."""
import logging
import time

import msgspec
import redis
from celery import shared_task
from flask import current_app

from app import metrics, tasknames
from app.extensions import redis_ext
from app.state.ingest import apply_events
from workers import ingest_codec  # noqa: F401  (registers the batches' wire format)
from workers.tasks.failover import FAILOVER_ERRORS, through_failover

log = logging.getLogger(__name__)

# Redis briefly unreachable (or failing over): first retried in place (workers.tasks.failover),
# then the whole batch is retried by Celery (merging is idempotent, so a batch that was partly
# applied before the failure is simply applied again).
RETRYABLE = FAILOVER_ERRORS


_TASK_OPTIONS = dict(acks_late=True, ignore_result=True, autoretry_for=RETRYABLE,
                     retry_backoff=True, retry_backoff_max=30, max_retries=50, time_limit=60,
                     soft_time_limit=50)


@shared_task(name=tasknames.INGEST_EVENTS, **_TASK_OPTIONS)
def events(node_name: str, events: list | str, token: int | None = None) -> None:
    """Apply one node's events (slim dicts, in arrival order; or the JSON text of that list) to
    the state. `token`: the sending listener's lease token for the node (app/state/lease.py);
    a batch whose token is no longer the node's fence is refused whole, logged and counted."""
    if isinstance(events, str):
        try:
            events = msgspec.json.decode(events)
        except ValueError as exc:
            log.error("fscti.ingest.events: bad arguments (%.40r, a batch that is not JSON: %s); "
                      "batch dropped", node_name, exc)
            return
    _apply_part(node_name, events, token, tasknames.INGEST_EVENTS)


@shared_task(name=tasknames.INGEST_BATCHES, **_TASK_OPTIONS)
def batches(parts: list | str) -> None:
    """Apply several nodes' batches sent by one listener in one task (fewer, fuller tasks:
    a task's own cost in the broker and the worker is several times one event's): `parts`
    is `[[node, events, token], ...]` (or its JSON text), each part as `events` above. A
    malformed part is logged and skipped; the others are applied. When Redis fails the
    whole task is retried: the parts already applied merge again to the same state."""
    if isinstance(parts, str):
        try:
            parts = msgspec.json.decode(parts)
        except ValueError as exc:
            log.error("%s: bad arguments (not JSON: %s); task dropped",
                      tasknames.INGEST_BATCHES, exc)
            return
    if not isinstance(parts, list):
        log.error("%s: bad arguments (%s, not a list of [node, events, token]); task dropped",
                  tasknames.INGEST_BATCHES, type(parts).__name__)
        return
    for part in parts:
        if not isinstance(part, list) or len(part) not in (2, 3):
            log.error("%s: bad part (%.60r, not [node, events, token]); part dropped",
                      tasknames.INGEST_BATCHES, part)
            continue
        _apply_part(part[0], part[1], part[2] if len(part) == 3 else None,
                    tasknames.INGEST_BATCHES)


def _apply_part(node_name, events, token, task: str) -> None:
    """One node's batch: validated, applied under its lease token, measured."""
    if token is not None and (isinstance(token, bool) or not isinstance(token, int)):
        log.error("%s: bad arguments (%.40r, token %.40r is not an integer); "
                  "batch dropped", task, node_name, token)
        return
    if not isinstance(node_name, str) or not node_name or not isinstance(events, list):
        log.error("%s: bad arguments (%.40r, %s); batch dropped",
                  task, node_name, type(events).__name__)
        return
    settings = current_app.config["FSCTI"]
    client = redis_ext.client
    started = time.perf_counter()
    try:
        result = through_failover(
            lambda: apply_events(client, settings, node_name, events, token=token),
            f"node {node_name}: batch of {len(events)} event(s)")
        if result.stale:
            _stale(settings, node_name, events, token, result.fence)
            return
        _measure(settings, node_name, events, started, result.malformed)
    except FAILOVER_ERRORS:
        raise  # (ReadOnlyError is a ResponseError: not the batch's fault) Celery retries it
    except redis.ResponseError as exc:
        # The script refused something in the batch: apply event by event so one bad
        # event is logged and skipped while the others still count.
        log.error("node %s: batch of %d failed in Redis (%s); retrying one by one",
                  node_name, len(events), exc)
        for event in events:
            try:
                through_failover(
                    lambda: apply_events(client, settings, node_name, [event], token=token),
                    f"node {node_name}: one event")
            except FAILOVER_ERRORS:
                raise
            except redis.ResponseError as one:
                log.error("node %s: skipped event %s seq %s: %s", node_name,
                          event.get("Event-Name") if isinstance(event, dict) else "?",
                          event.get("Event-Sequence") if isinstance(event, dict) else "?", one)
        return
    if result.malformed:
        log.warning("node %s: %d malformed event(s) skipped", node_name, result.malformed)


def _stale(settings, node_name: str, events: list, token: int, fence) -> None:
    """A batch from a listener that no longer owns the node: nothing was applied (the new
    owner resynced the node when it took it)."""
    metrics.events_stale.labels(metrics.node_label(settings, node_name)).inc(len(events))
    log.warning("node %s: refused a batch of %d event(s) sent under lease token %s; the "
                "node's fence is %s (a newer listener owns it)", node_name, len(events), token, fence)


def _measure(settings, node_name: str, events: list, started: float, malformed: int) -> None:
    """Batch size, apply time, and the state lag of its oldest event (the listener's
    `_received` stamp to now, both on our clocks)."""
    metrics.events_batch_size.observe(len(events))
    metrics.events_apply_seconds.observe(time.perf_counter() - started)
    first = events[0] if events else None
    received = first.get("_received") if isinstance(first, dict) else None
    if isinstance(received, (int, float)) and not isinstance(received, bool):
        metrics.state_lag_seconds.observe(max(time.time() - received, 0.0))
    if malformed:
        metrics.events_malformed.labels(metrics.node_label(settings, node_name), "worker").inc(malformed)
