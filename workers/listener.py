"""The event-socket listener process (Procfile: listener): decode FreeSWITCH events, enqueue them.

One thread per configured node reads its event connection (app/esl/stream.py) as fast as the
bytes come, decodes each event straight to what `app.state.events.slim_event` keeps of it
(`Slimmer.decode`), stamps `_received` and puts it in a bounded in-memory outbox. It never
waits on the broker, so FreeSWITCH's per-connection queue never fills (facts §3.6). One
publisher thread sends the outbox to Celery by name: `fscti.ingest.events(node, events)` on
queue `events`, batched by size and by a few ms (workers/listener_outbox.py).
On every (re)connect, after subscribing, it sends `fscti.state.resync(node, reason, core_uuid)`
("connect", or "core-uuid-changed" when FreeSWITCH restarted); a Core-UUID change seen in the
stream sends one too, and so does a buffer overflow ("overflow") once the broker is back.
It writes no state; its own status goes to Redis (`keys.listener_status`) and the log.
Every `listener.redis_check_interval` s it checks that Redis still holds its data (the
generation marker, app/state/generation.py) and queues the heal when it was lost.
Operator guide: docs/listener.md.
"""
from __future__ import annotations

import faulthandler
import json
import logging
import os
import random
import signal
import threading
import time

from app import create_app, metrics, quiet, tasknames
from app.metrics import process as metrics_process
from app.esl import commands
from app.esl.connection import EslClient
from app.esl.errors import EslError
from app.esl.stream import EventStream
from app.runtime import freeze_gc
from app.state import keys
from app.state.events import Slimmer
from workers.listener_outbox import Outbox, Publisher

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

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


class NodeReader(threading.Thread):
    """Keeps one node's event connection up forever and feeds the outbox."""

    def __init__(self, node, settings, outbox: Outbox, stats: NodeStats, stop: threading.Event):
        super().__init__(name=f"listener-{node.name}", daemon=True)
        self.node, self.settings, self.outbox, self.stats, self.stop = node, settings, outbox, stats, stop
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
            lost = len(events) - self.outbox.put_events(self.node.name, events)
            if lost:
                self.stats.dropped += lost
                self.m_dropped.inc(lost)

    def _resync(self, reason: str, core: str | None) -> None:
        self.stats.resyncs += 1
        self.outbox.put_control(self.node.name, tasknames.STATE_RESYNC,
                                [self.node.name, reason, core])

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


class RedisWatch(threading.Thread):
    """Checks Redis's generation marker every `interval` s; queues the heal on a loss."""

    def __init__(self, app, interval: float, stop: threading.Event):
        super().__init__(name="listener-redis-watch", daemon=True)
        self.app, self.interval, self.stop = app, float(interval), stop
        self.claims = 0

    def run(self) -> None:
        from app.extensions import redis_ext
        from app.state import generation
        from workers.tasks.heal import queue_heal

        celery = self.app.extensions["celery"]
        while not self.stop.wait(self.interval):
            try:
                with self.app.app_context():
                    if generation.watch(redis_ext.client, lambda c: queue_heal(celery, c),
                                        "the listener"):
                        self.claims += 1
            except Exception as exc:  # Redis (or the broker) away: the next check retries
                log.debug("Redis generation check failed: %s", exc)


class Listener:
    """The whole process: readers, publisher, status; `run()` until SIGTERM/SIGINT."""

    def __init__(self, app):
        self.app = app
        self.settings = app.config["FSCTI"]
        self.cfg = self.settings.listener
        self.stop = threading.Event()
        self.stats = {n.name: NodeStats(n.name) for n in self.settings.freeswitch}
        self.outbox = Outbox(self.cfg["buffer_max"], self.cfg["batch_size"])
        self.publisher = Publisher(app.extensions["celery"], self.outbox, self.stats, self.cfg)
        self.readers = [NodeReader(n, self.settings, self.outbox, self.stats[n.name], self.stop)
                        for n in self.settings.freeswitch]
        self.redis_watch = RedisWatch(app, self.cfg["redis_check_interval"], self.stop)

    def run(self) -> None:
        if not self.readers:
            log.warning("no FreeSWITCH node configured (FREESWITCH_ESL or `freeswitch` in "
                        "FSCTI_CONFIG); idle")
        self._restore_core_uuids()
        self.publisher.start()
        self.redis_watch.start()
        for reader in self.readers:
            reader.start()
        interval = self.cfg["status_interval"]
        while not self.stop.wait(interval):
            self.report()
        self.shutdown()

    def request_stop(self, *_args) -> None:
        self.stop.set()
        for reader in self.readers:
            if reader.stream is not None:
                reader.stream.abort()

    def shutdown(self) -> None:
        """Stop reading, then give the publisher a few seconds to hand over what it holds."""
        for reader in self.readers:
            reader.join(5)
        self.publisher.drain_and_stop(timeout=5.0)
        self.report()
        metrics_process.mark_dead(os.getpid())  # its fscti_esl_connected leaves the sums
        log.info("listener stopped")

    def report(self) -> None:
        """One log line per node, and the JSON status in Redis."""
        from app.extensions import redis_ext

        for name, st in self.stats.items():
            log.info("%s: %s received=%d enqueued=%d dropped=%d malformed=%d filtered=%d "
                     "reconnects=%d lag_ms=%.1f lag_max_ms=%.1f buffered=%d", name,
                     "up" if st.connected else "DOWN", st.received, st.enqueued, st.dropped,
                     st.malformed, st.filtered, st.reconnects, st.lag_ms, st.lag_max_ms,
                     self.outbox.pending(name))
            status = st.as_dict()
            status.update(buffered=self.outbox.pending(name), broker_ok=self.publisher.broker_ok,
                          updated_at=time.time())
            st.lag_max_ms = 0.0
            try:
                with self.app.app_context():
                    redis_ext.client.set(keys.listener_status(name), json.dumps(status))
            except Exception as exc:  # Redis down: the log line above still tells the story
                log.debug("status not written to Redis: %s", exc)

    def _restore_core_uuids(self) -> None:
        """The last Core-UUID we saw per node (from our status key) detects a restart while we were down."""
        from app.extensions import redis_ext

        for name, st in self.stats.items():
            try:
                with self.app.app_context():
                    raw = redis_ext.client.get(keys.listener_status(name))
                st.core_uuid = (json.loads(raw) or {}).get("core_uuid") if raw else None
            except Exception as exc:
                log.debug("no previous status for %s: %s", name, exc)


def main() -> None:
    faulthandler.register(signal.SIGUSR1)     # `kill -USR1 <pid>`: dump every thread's stack
    app = create_app()
    listener = Listener(app)
    freeze_gc()         # no ~60 ms full collections of start-up objects (app/runtime.py)
    signal.signal(signal.SIGTERM, listener.request_stop)
    signal.signal(signal.SIGINT, listener.request_stop)
    log.info("listener starting for %d node(s): %s", len(listener.readers),
             ", ".join(f"{n.name}={n.host}:{n.port}" for n in app.config["FSCTI"].freeswitch))
    listener.run()


if __name__ == "__main__":
    main()
