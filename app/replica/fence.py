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


# Whether this process has seen replica hosts, and when it saw them vanish (see after_write).
_seen = {"hosts": False, "gone_at": None}


def after_write(client, lease: float | None = None) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.get(keys.replica_counter())
    pipe.smembers(keys.replica_hosts())
    pipe.exists(keys.replica_epoch())
    counter, hosts, epoch = pipe.execute()
    if hosts and epoch:
        _seen["hosts"], _seen["gone_at"] = True, None
        wait_applied(client, int(counter or 0), sorted(hosts))
    elif _seen["hosts"]:
        _vanished(lease)


def _vanished(lease: float | None) -> None:
    """The hosts (or the epoch) this process saw are gone: Redis lost its data, or every
    replica stopped. A replica's file may then still be trusted for up to one lease (its
    renewals now fail, so it distrusts itself within a quarter lease, but its last expiry
    stands): wait until one lease has passed since this process noticed, once."""
    now = time.monotonic()
    if _seen["gone_at"] is None:
        _seen["gone_at"] = now
    left = _seen["gone_at"] + (lease if lease is not None else _lease()) - now
    if left > 0:
        time.sleep(left)
    else:
        _seen["hosts"] = False


def _lease() -> float:
    try:
        from flask import current_app

        return float(current_app.config["FSCTI"].directory_replica_lease)
    except (RuntimeError, KeyError, AttributeError):  # no app (a script): the default lease
        return 1.0


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
