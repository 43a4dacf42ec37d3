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
import signal
import threading
import time

from app import create_app
from app.metrics import process as metrics_process
from app.runtime import freeze_gc
from app.state import keys
from workers.listener_outbox import Outbox, Publisher
from workers.listener_reader import NodeReader, NodeStats

log = logging.getLogger("fscti.listener")


class RedisWatch(threading.Thread):
    """Checks Redis's generation marker every `interval` s; queues the heal on a loss."""

    def __init__(self, app, interval: float, stop: threading.Event):
        super().__init__(name="listener-redis-watch", daemon=True)
        self.app, self.interval, self.stop = app, float(interval), stop
        self.claims = 0

    def run(self) -> None:
        from app.extensions import redis_ext
        from app.state import generation

        celery = self.app.extensions["celery"]
        while not self.stop.wait(self.interval):
            try:
                with self.app.app_context():
                    if generation.watch(redis_ext.client, lambda c: generation.queue_heal(celery, c),
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
    freeze_gc()         # no long full collections of start-up objects (app/runtime.py)
    signal.signal(signal.SIGTERM, listener.request_stop)
    signal.signal(signal.SIGINT, listener.request_stop)
    log.info("listener starting for %d node(s): %s", len(listener.readers),
             ", ".join(f"{n.name}={n.host}:{n.port}" for n in app.config["FSCTI"].freeswitch))
    listener.run()


if __name__ == "__main__":
    main()
