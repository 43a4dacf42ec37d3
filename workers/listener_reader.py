"""One node's event connection in the listener: read, decode and feed the outbox, forever.

The reader thread keeps its node's connection up (capped exponential backoff), queues a
`fscti.state.resync` on every (re)connect and at a Core-UUID change seen in the stream, and
counts what it read in the node's `NodeStats` (docs/listener.md). A reader exists while its
listener holds the node's lease (workers/listener_lease.py): it is started with the lease's
token, which goes with everything it queues, and stopped (`halt`) when the lease goes.
"""
from __future__ import annotations

import logging
import random
import threading
import time

from app import metrics, quiet, tasknames
from app.esl import commands
from app.esl.connection import EslClient
from app.esl.errors import EslError
from app.esl.stream import EventStream
from app.state.events import Slimmer
from workers.listener_outbox import Outbox

log = logging.getLogger("fscti.listener")


class NodeStats:
    """Counters and state of one node, shared by its reader and the publisher."""

    def __init__(self, name: str):
        self.name = name
        self.received = self.enqueued = self.dropped = self.malformed = self.filtered = 0
        self.reconnects = self.resyncs = 0
        self.connected = False
        self.connected_since = None
        self.last_event_at = None
        self.core_uuid = None
        self.lag_ms = 0.0
        self.lag_max_ms = 0.0
        self.last_error = ""
        self.token = None          # the lease token while this listener owns the node
        self.owned_since = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


class NodeReader(threading.Thread):
    """Keeps one node's event connection up forever and feeds the outbox."""

    def __init__(self, node, settings, outbox: Outbox, stats: NodeStats, stop: threading.Event,
                 token: int | None = None):
        super().__init__(name=f"listener-{node.name}", daemon=True)
        self.node, self.settings, self.outbox, self.stats, self.stop = node, settings, outbox, stats, stop
        self.token = token
        self.cfg = settings.listener
        self.slim = Slimmer(settings)
        self.stream: EventStream | None = None
        name = node.name  # Prometheus children of this node (app/metrics)
        self.m_received, self.m_dropped = metrics.events_received.labels(name), metrics.events_dropped.labels(name)
        self.m_malformed = metrics.events_malformed.labels(name, "listener")
        self.m_connected, self.m_reconnects = metrics.esl_connected.labels(name), metrics.esl_reconnects.labels(name)
        self.m_connected.set(0)

    def run(self) -> None:
        backoff = self.cfg["backoff_initial"]
        first = True
        while not self.stop.is_set():
            started, got_events = time.monotonic(), False
            try:
                got_events = self._session(first)
            except EslError as exc:
                self._lost(exc)
            except Exception as exc:  # a bug must not end the thread: log, reconnect
                log.exception("%s: listener error", self.node.name)
                self._lost(exc)
            first = False
            if got_events or time.monotonic() - started > 30:
                backoff = self.cfg["backoff_initial"]
            delay = backoff * random.uniform(0.8, 1.2)
            backoff = min(backoff * 2, self.cfg["backoff_max"])
            self.stop.wait(delay)

    def halt(self) -> None:
        """Stop at once (the lease is gone): close the event connection, end the thread."""
        self.stop.set()
        stream = self.stream
        if stream is not None:
            stream.abort()

    def _lost(self, exc: Exception) -> None:
        st = self.stats
        if self.stop.is_set():
            log.info("%s: event connection closed (stopping)", self.node.name)
        elif st.connected:
            log.warning("%s: event connection lost: %s", self.node.name, exc)
        else:
            # Still down: one WARNING per node per unreachable_log_interval (shared with the
            # workers' flush and resync retries), the attempts in between at DEBUG.
            from app.extensions import redis_ext

            quiet.warn_every(log, quiet.unreachable(self.node.name),
                             self.settings.unreachable_log_interval, _quiet_client(redis_ext),
                             "%s: cannot connect to FreeSWITCH (%s); the listener keeps "
                             "retrying (every %gs at most)", self.node.name, exc,
                             self.cfg["backoff_max"])
        st.connected = False
        self.m_connected.set(0)
        st.last_error = str(exc)[:300]

    def _session(self, first: bool) -> bool:
        st = self.stats
        self.stream = stream = EventStream(self.node, self.settings.esl_connect_timeout,
                                           self.cfg["idle_timeout"], self.cfg["decoder"],
                                           decode=self.slim.decode)
        got_events = False
        try:
            stream.open()
            if not first:
                st.reconnects += 1
                self.m_reconnects.inc()
            st.connected, st.connected_since, st.last_error = True, time.time(), ""
            self.m_connected.set(1)
            core = self._core_uuid()
            reason = "core-uuid-changed" if core and st.core_uuid and core != st.core_uuid else "connect"
            log.info("%s: subscribed (Core-UUID %s), resync reason %s", self.node.name, core, reason)
            self._resync(reason, core)
            if first and self.token is not None and self.token > 1:   # someone read it before
                self._settle_later(core)
            if core:
                st.core_uuid = core
            seen = filtered = 0
            while not self.stop.is_set():
                batch = stream.read()
                if stream.malformed != seen:
                    st.malformed += stream.malformed - seen
                    self.m_malformed.inc(stream.malformed - seen)
                    seen = stream.malformed
                if stream.filtered != filtered:       # decoded, then dropped by slim_event
                    st.received += stream.filtered - filtered
                    self.m_received.inc(stream.filtered - filtered)
                    st.filtered += stream.filtered - filtered
                    filtered = stream.filtered
                if batch:
                    got_events = True
                    self._feed(batch)
        finally:
            stream.close()
            self.stream = None
        return got_events

    def _feed(self, batch) -> None:
        """Slim events (the stream decodes with slim_event's rules) → the outbox, in order."""
        st, name = self.stats, self.node.name
        st.received += len(batch)
        self.m_received.inc(len(batch))
        kept = []
        for slim, received in batch:
            core = slim.get("Core-UUID")
            if core != st.core_uuid and core:
                if st.core_uuid is not None:
                    # what came before the new core goes first, then the resync
                    self._put(kept)
                    kept = []
                    log.warning("%s: Core-UUID changed %s -> %s (FreeSWITCH restarted)",
                                name, st.core_uuid, core)
                    self._resync("core-uuid-changed", core)
                st.core_uuid = core
            slim["_received"] = received
            kept.append(slim)
        self._put(kept)
        st.last_event_at = batch[-1][1]

    def _put(self, events: list) -> None:
        if events:
            lost = len(events) - self.outbox.put_events(self.node.name, events, self.token)
            if lost:
                self.stats.dropped += lost
                self.m_dropped.inc(lost)

    def _resync(self, reason: str, core: str | None) -> None:
        self.stats.resyncs += 1
        self.outbox.put_control(self.node.name, tasknames.STATE_RESYNC,
                                [self.node.name, reason, core], self.token)

    def _settle_later(self, core: str | None) -> None:
        """A second resync `state.resync_lag_margin` + 1 s after taking the node: the first
        keeps calls with an event newer than its time minus that margin (events may lag the
        snapshot), so a call that ended while no listener read the node (the previous owner
        died, or this listener restarted) would stay until the stale-call check; this one
        removes it. Not after a node's first lease ever (token 1): no one read it before."""
        delay = float(self.settings.state["resync_lag_margin"]) + 1.0

        def fire():
            if not self.stop.is_set():
                self._resync("takeover", self.stats.core_uuid or core)
        timer = threading.Timer(delay, fire)
        timer.daemon = True
        timer.start()

    def _core_uuid(self) -> str | None:
        """`global_getvar core_uuid` over a separate command connection (bounded); None if unknown."""
        try:
            with EslClient(self.node, self.settings.esl_connect_timeout) as fs:
                value = fs.api(commands.global_getvar_core_uuid()).strip()
        except EslError as exc:
            log.warning("%s: could not read the Core-UUID (%s); using the first event's",
                        self.node.name, exc)
            return None
        return value or None


def _quiet_client(redis_ext):
    """The listener app's Redis client (no app context in reader threads), or None."""
    try:
        return redis_ext.client
    except RuntimeError:
        return None
