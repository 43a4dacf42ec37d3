"""The writer's side of the replicas' freshness guarantee (docs/freeswitch.md §7.1).

`after_write(client)` runs after every mirror write that /directory can see (app.mirror.scripts
.fence). Its first round trip is also the answer caches' fence (a command Redis processes after
the write's reply, so every invalidation is in the readers' sockets). It reads the feed's
counter (the write's own entry number or later) and the hosts that ran a replica; when there
are any, it waits until every host whose lease is alive has applied that number. A host whose
lease key is gone (expired: its replica stopped renewing, or revoked: it is refilling) is not
waited for: its web workers stopped trusting their file before Redis dropped the lease
(app/replica/store.py, `Mtrust`), and ask Redis.
"""
from __future__ import annotations

import logging
import time

from app.state import keys

log = logging.getLogger(__name__)

# A live replica applies a change in about a millisecond. A replica that renews its lease
# but never catches up (it should not exist) holds writes up at most this long, loudly.
WAIT_MAX = 10.0
POLL_FIRST, POLL_MAX = 0.0002, 0.005


def after_write(client) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.get(keys.replica_counter())
    pipe.smembers(keys.replica_hosts())
    counter, hosts = pipe.execute()
    if hosts:
        wait_applied(client, int(counter or 0), sorted(hosts))


def lagging(client, hosts: list, target: int) -> list:
    """The lease keys among `hosts` that are alive and have applied less than `target`."""
    values = client.mget(hosts)
    return [h for h, v in zip(hosts, values) if v is not None and int(v) < target]


def wait_applied(client, target: int, hosts: list, wait_max: float = WAIT_MAX) -> bool:
    """Wait until every live lease in `hosts` has applied `target`; False if one never did."""
    deadline = time.monotonic() + wait_max
    delay = POLL_FIRST
    hosts = lagging(client, hosts, target)
    while hosts:
        if time.monotonic() > deadline:
            log.error("replica fence: %s still below feed entry %d after %.0f s (lease alive); "
                      "its web workers may answer an older value until it expires",
                      ", ".join(hosts), target, wait_max)
            return False
        time.sleep(delay)
        delay = min(delay * 2, POLL_MAX)
        hosts = lagging(client, hosts, target)
    return True
