"""Several listeners, each FreeSWITCH node read by exactly one: the listener's lease keeper.

Every `listener.lease_interval` s the keeper thread
1. heartbeats this listener into Redis (`lease.heartbeat`, alive for `lease_ttl`) and reads
   how many listeners are alive: this one may hold at most ceil(nodes / alive) nodes, so two
   listeners split three nodes 2/1 and one alone holds them all;
2. renews the lease of every node it holds (a lease that expired but that no one took since,
   e.g. after Redis lost its data, is resumed with the same token: nothing was missed); a
   lease taken by another (`renew` False), or not renewed by its local deadline (Redis
   unreachable: the deadline is the renewal's start + 0.8 × lease_ttl, before Redis can give
   the lease to another), is dropped at once: the node's event connection closes and nothing
   more of it is forwarded;
3. holds more than its share (another listener started): gives the newest ones back
   (`release`, so the other takes them at its next pass, with no wait for an expiry);
4. holds fewer: takes free leases (`acquire`, a new fencing token each), and starts reading
   those nodes. A new reader's first session resyncs the node (queued after subscribing), so
   whatever the previous owner had not forwarded is read from FreeSWITCH itself: no gap.
Listeners started together may first take more than their share: the next pass gives the
extra back (one handover, with its resync). On a clean stop every lease is released and the heartbeat removed (the next owner
takes the nodes within one interval). Operator guide: docs/listener.md, "Several listeners".
"""
from __future__ import annotations

import logging
import threading
import time
import zlib

from app.state import lease

log = logging.getLogger("fscti.listener")

SAFETY = 0.8   # a lease counts as ours until renewal start + SAFETY × ttl (Redis's clock may lag)


class LeaseKeeper(threading.Thread):
    """Keeps this listener's share of the node leases; calls `take(node, token, valid_until)`,
    `renewed(node, token, valid_until)` and `drop(node, why)` on the listener (from this thread)."""

    def __init__(self, client_of, listener_id: str, node_names: list[str], cfg: dict,
                 take, drop, renewed, stop: threading.Event):
        super().__init__(name="listener-leases", daemon=True)
        self.client_of = client_of              # () -> Redis client (the app's)
        self.id = listener_id
        self.ttl = float(cfg["lease_ttl"])
        self.interval = float(cfg["lease_interval"])
        self.take, self.drop, self.renewed, self.stop = take, drop, renewed, stop
        # each listener tries the nodes in its own order, so two starting together rarely
        # race for the same lease
        start = zlib.crc32(listener_id.encode()) % max(1, len(node_names))
        self.order = node_names[start:] + node_names[:start]
        self.held: dict[str, tuple[int, float, float]] = {}   # node -> (token, until, since)
        self.alive = 0
        self.passes = 0
        self._lock = threading.Lock()

    @property
    def ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self.step()
            except Exception:            # a bug must not end the thread: log, next pass
                log.exception("lease keeper error")
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def holdings(self) -> dict[str, int]:
        """node -> token of the leases held now."""
        with self._lock:
            return {n: h[0] for n, h in self.held.items()}

    # -- one pass --------------------------------------------------------------------------
    def step(self) -> None:
        client = self.client_of()
        self.passes += 1
        try:
            self.alive = lease.heartbeat(client, self.id, self.ttl_ms)
        except Exception as exc:  # Redis away: renewals fail too, the deadlines below drop
            log.debug("listener heartbeat failed: %s", exc)
            self.alive = 0
        self._renew_all(client)
        if self.stop.is_set() or self.alive == 0:
            return
        share = lease.fair_share(len(self.order), self.alive)
        if len(self.held) > share:
            self._give_back(client, len(self.held) - share)
        elif len(self.held) < share:
            self._take_free(client, share - len(self.held))

    def _renew_all(self, client) -> None:
        for node, (token, until, since) in list(self.held.items()):
            begun = time.monotonic()
            try:
                ok = lease.renew(client, node, self.id, token, self.ttl_ms)
            except Exception as exc:
                if time.monotonic() > until:
                    self._lose(node, f"not renewed in time ({type(exc).__name__}: {exc})")
                else:
                    log.warning("%s: lease renewal failed (%s); retrying until its deadline",
                                node, exc)
                continue
            if not ok:
                self._lose(node, "lease lost (expired or taken by another listener)")
                continue
            # still ours (even if later than our own deadline: the token is still the fence)
            self._set(node, token, begun + SAFETY * self.ttl, since)
            self.renewed(node, token, begun + SAFETY * self.ttl)

    def _take_free(self, client, wanted: int) -> None:
        for node in self.order:
            if wanted <= 0 or self.stop.is_set():
                return
            if node in self.held:
                continue
            begun = time.monotonic()
            try:
                token = lease.acquire(client, node, self.id, self.ttl_ms)
            except Exception as exc:
                log.debug("%s: lease acquisition failed: %s", node, exc)
                return
            if token is None:
                continue
            until = begun + SAFETY * self.ttl
            self._set(node, token, until, time.time())
            log.info("%s: lease acquired (token %d, %d listener(s) alive); reading it",
                     node, token, self.alive)
            self.take(node, token, until)
            wanted -= 1

    def _give_back(self, client, extra: int) -> None:
        newest = sorted(self.held, key=lambda n: self.held[n][2], reverse=True)[:extra]
        for node in newest:
            token = self.held[node][0]
            self._lose(node, f"rebalanced ({self.alive} listeners alive)")
            try:
                lease.release(client, node, self.id, token)
            except Exception as exc:    # it expires on its own
                log.debug("%s: lease release failed: %s", node, exc)

    def _set(self, node: str, token: int, until: float, since: float) -> None:
        with self._lock:
            self.held[node] = (token, until, since)

    def _lose(self, node: str, why: str) -> None:
        with self._lock:
            held = self.held.pop(node, None)
        if held is None:
            return
        log.warning("%s: dropping the node (lease token %d): %s", node, held[0], why)
        self.drop(node, why)

    # -- clean stop ------------------------------------------------------------------------
    def release_all(self) -> None:
        """Give every lease back and leave the listeners' set (a clean shutdown)."""
        try:
            client = self.client_of()
        except Exception:
            return
        for node, (token, _until, _since) in list(self.held.items()):
            with self._lock:
                self.held.pop(node, None)
            try:
                lease.release(client, node, self.id, token)
                log.info("%s: lease released (token %d)", node, token)
            except Exception as exc:
                log.debug("%s: lease release failed: %s", node, exc)
        try:
            lease.leave(client, self.id)
        except Exception as exc:
            log.debug("listener heartbeat not removed: %s", exc)
