"""Warnings about a lasting condition, once per interval: quiet logs when nothing changes.

A FreeSWITCH node that stays unreachable is retried by the listener (every few seconds up to
`listener.backoff_max`), by each queued cache flush and by every resync. Each attempt saying
so would bury the log; none saying so would hide the outage. `warn_every()` logs the first
WARNING about `what` and then at most one per `interval` seconds, shared by every process
through a Redis key with a TTL (keys.quiet) so the listener, the workers and the beat say it
once between them; the attempts in between are logged at DEBUG. With Redis away too, each
process keeps its own interval.
"""
from __future__ import annotations

import logging
import threading
import time

from app.state import keys

_local: dict[str, float] = {}
_lock = threading.Lock()


def due(what: str, interval: float, client=None) -> bool:
    """True at most once every `interval` s for `what` (across processes when Redis answers)."""
    if client is not None:
        try:
            return bool(client.set(keys.quiet(what), "1", nx=True,
                                   px=max(1, int(float(interval) * 1000))))
        except Exception:  # Redis away: fall back to this process's own memory
            pass
    now = time.monotonic()
    with _lock:
        if now - _local.get(what, float("-inf")) < float(interval):
            return False
        _local[what] = now
        return True


def warn_every(logger: logging.Logger, what: str, interval: float, client, msg: str,
               *args) -> bool:
    """WARNING `msg` when due for `what`, DEBUG otherwise; returns whether it warned."""
    if due(what, interval, client):
        logger.warning(msg, *args)
        return True
    logger.debug(msg, *args)
    return False


def unreachable(node_name: str) -> str:
    """The `what` of "this FreeSWITCH node cannot be reached" (one voice for all callers)."""
    return f"esl-unreachable:{node_name}"


def forget() -> None:
    """Drop this process's own memory (tests)."""
    with _lock:
        _local.clear()
