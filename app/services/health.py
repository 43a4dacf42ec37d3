"""What the probes and /metrics report: SQL, Redis, the broker, the listener's heartbeat, and
each FreeSWITCH node (ESL state, age of its last event, last resync).

Sources, all read at request time and bounded by short timeouts:
- SQL: `SELECT 1`; Redis: PING on the app's client;
- the broker: a connection from Celery's pool and, per queue, a passive declare (its depth);
- per node: the listener holding its lease (`keys.node_lease`: owner id and fencing token,
  app/state/lease.py), the listener's status key (`keys.listener_status`, written every
  `listener.status_interval` seconds: connected, counters, last event, Core-UUID) and the
  node's hash (`keys.node`: last resync time, reason). The listener's heartbeat is the age
  of its status key's `updated_at`: older than 3 × status_interval means no listener runs
  for that node.
"""
from __future__ import annotations

import json
import time

from sqlalchemy import text

from app.extensions import db, redis_ext
from app.state import keys

QUEUES = ("events", "actions", "celery")
BROKER_TIMEOUT = 2.0


def _error(exc: Exception) -> str:
    return f"error: {type(exc).__name__}"


def sql() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # any driver error means not ready
        db.session.rollback()
        return _error(exc)


def redis() -> str:
    try:
        redis_ext.client.ping()
        return "ok"
    except Exception as exc:
        return _error(exc)


def broker(celery, queues=QUEUES) -> tuple[str, dict[str, int]]:
    """("ok" or "error: ...", messages waiting per queue) from the Celery broker."""
    depths: dict[str, int] = {}
    try:
        with celery.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
            channel = conn.channel()
            try:
                for queue in queues:
                    try:
                        depths[queue] = int(channel.queue_declare(queue=queue, passive=True)[1])
                    except conn.channel_errors:
                        # no such queue yet (no worker declared it; Redis: nothing queued)
                        depths[queue] = 0
                        channel = conn.channel()
            finally:
                channel.close()
    except Exception as exc:  # kombu's errors vary by transport: all mean "unreachable"
        return _error(exc), depths
    return "ok", depths


def nodes(settings, client=None) -> list[dict]:
    """One dict per configured node: listener status and the node's resync, from Redis."""
    client = client or redis_ext.client
    now = time.time()
    stale = 3 * float(settings.listener["status_interval"])
    names = [n.name for n in settings.freeswitch]
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.get(keys.listener_status(name))
            pipe.hmget(keys.node(name), "resync_at", "resync_reason")
            pipe.get(keys.node_lease(name))
        replies = pipe.execute() if names else []
    out = []
    for i, name in enumerate(names):
        raw, (resync_at, resync_reason) = replies[3 * i], replies[3 * i + 1]
        owner, token = _lease(replies[3 * i + 2])
        try:
            status = json.loads(raw) if raw else {}
        except ValueError:
            status = {}
        if not isinstance(status, dict):
            status = {}
        updated = _number(status.get("updated_at"))
        last_event = _number(status.get("last_event_at"))
        resync_s = _number(resync_at) / 1e6 if _number(resync_at) else None  # FreeSWITCH µs
        heartbeat_age = now - updated if updated else None
        listener = ("absent" if updated is None else
                    "stale" if heartbeat_age > stale else "ok")
        connected = bool(status.get("connected")) and listener == "ok"
        out.append({
            "node": name,
            "esl": "up" if connected else ("unknown" if listener != "ok" else "down"),
            "listener": listener,
            "listener_heartbeat_age_s": _round(heartbeat_age),
            "last_event_age_s": _round(now - last_event if last_event else None),
            "last_resync_age_s": _round(now - resync_s if resync_s else None),
            "last_resync_reason": _text(resync_reason),
            "reconnects": int(_number(status.get("reconnects")) or 0),
            "last_error": str(status.get("last_error") or "")[:300],
            "owner": owner, "lease_token": token,
        })
    return out


def _lease(raw) -> tuple[str | None, int | None]:
    """(owner listener, token) of a node's lease value (app/state/lease.py), or (None, None)."""
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return None, None
    token = value.get("token")
    return (str(value.get("owner") or "") or None,
            token if isinstance(token, int) and not isinstance(token, bool) else None)


def _number(value) -> float | None:
    if isinstance(value, bytes):
        value = value.decode()
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _round(value: float | None) -> float | None:
    return None if value is None else round(max(value, 0.0), 3)


def _text(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return value
