"""Ride out a Redis failover inside the task, instead of dropping or re-queueing its work.

While a Sentinel failover runs (the old master gone or read-only, the new one not yet
promoted: a few seconds with the defaults), every Redis command fails. A Celery retry would
have to publish a new message, and with a Redis broker the broker is failing over too, so the
retry itself fails and the batch is lost. `through_failover` retries the call in place, with
exponential backoff, for up to `budget` seconds (FAILOVER_BUDGET, about 40 s: longer than a
Sentinel failover with `down-after-milliseconds` 5000 and a sane `failover-timeout`), then
re-raises for the task's own retry. What is retried must be safe to run twice: the state
script is idempotent per event (a batch cut short, or whose reply was lost, is applied again
with the same result), and a settle poll only reads.
"""
from __future__ import annotations

import logging
import time

import redis

log = logging.getLogger("fscti.redis")

# ReadOnlyError: a plain redis:// client still talking to a master that was demoted.
# (A redis+sentinel:// client turns it into a ConnectionError and asks the sentinels again.)
FAILOVER_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError)
FAILOVER_BUDGET = 40.0
FIRST_DELAY = 0.1
MAX_DELAY = 2.0


def through_failover(call, what: str, budget: float = FAILOVER_BUDGET, *,
                     sleep=time.sleep, clock=time.monotonic):
    """`call()`, retried in place on FAILOVER_ERRORS for up to `budget` seconds."""
    deadline = clock() + budget
    delay, attempts = FIRST_DELAY, 0
    while True:
        try:
            result = call()
        except FAILOVER_ERRORS as exc:
            attempts += 1
            left = deadline - clock()
            if left <= 0:
                log.error("%s: Redis still unavailable after %d attempt(s) in %.0fs (%s: %s)",
                          what, attempts, budget, type(exc).__name__, exc)
                raise
            if attempts == 1:
                log.warning("%s: Redis unavailable (%s: %s); retrying in place for up to %.0fs",
                            what, type(exc).__name__, exc, budget)
            sleep(min(delay, left))
            delay = min(MAX_DELAY, delay * 2)
            continue
        if attempts:
            log.warning("%s: Redis answers again after %d failed attempt(s)", what, attempts)
        return result
