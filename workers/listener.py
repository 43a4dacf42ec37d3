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
Several listeners may run (on several hosts): each node is read by the one listener holding
its lease in Redis (workers/listener_lease.py, app/state/lease.py); the lease's fencing token
goes with every task of the node, and the state script refuses a token that is no longer
current. A listener reads only the nodes it holds, and stops at once when it loses one.
It writes no state; its own status goes to Redis (`keys.listener_status`, for the nodes it
holds) and the log.
Every `listener.redis_check_interval` s it checks that Redis still holds its data (the
generation marker, app/state/generation.py) and queues the heal when it was lost.
Operator guide: docs/listener.md.
"""
from __future__ import annotations

import faulthandler
import json
import logging
import os
import secrets
import signal
import socket
import threading
import time

from app import create_app
from app.metrics import process as metrics_process
from app.runtime import freeze_gc
from app.state import keys
from workers.listener_lease import LeaseKeeper
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


def listener_id() -> str:
    """This process's name among the listeners: host, pid and a random part (a restarted
    listener with the same pid is a new one)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Listener:
    """The whole process: leases, readers, publisher, status; `run()` until SIGTERM/SIGINT."""

    def __init__(self, app):
        self.app = app
        self.settings = app.config["FSCTI"]
        self.cfg = self.settings.listener
        self.id = listener_id()
        self.stop = threading.Event()
        self.nodes = {n.name: n for n in self.settings.freeswitch}
        self.stats = {n.name: NodeStats(n.name) for n in self.settings.freeswitch}
        self.outbox = Outbox(self.cfg["buffer_max"], self.cfg["batch_size"])
        self.publisher = Publisher(app.extensions["celery"], self.outbox, self.stats, self.cfg)
        self.readers: dict[str, NodeReader] = {}
        self.retired: list[NodeReader] = []
        self._lock = threading.Lock()
        self.leases = LeaseKeeper(self._redis, self.id, list(self.nodes), self.cfg,
                                  take=self.take, drop=self.drop, renewed=self.outbox.renewed,
                                  stop=self.stop)
        self.redis_watch = RedisWatch(app, self.cfg["redis_check_interval"], self.stop)

    def _redis(self):
        from app.extensions import redis_ext

        with self.app.app_context():
            return redis_ext.client

    def run(self) -> None:
        if not self.nodes:
            log.warning("no FreeSWITCH node configured (FREESWITCH_ESL or `freeswitch` in "
                        "FSCTI_CONFIG); idle")
        self.publisher.start()
        self.redis_watch.start()
        self.leases.start()
        interval = self.cfg["status_interval"]
        while not self.stop.wait(interval):
            self.report()
        self.shutdown()

    # -- leases ------------------------------------------------------------------------------
    def take(self, name: str, token: int, valid_until: float) -> None:
        """The lease of `name` is ours with `token`: start reading the node."""
        st = self.stats[name]
        self._restore_core_uuid(st)
        st.token, st.owned_since = token, time.time()
        self.outbox.own(name, token, valid_until)
        reader = NodeReader(self.nodes[name], self.settings, self.outbox, st,
                            threading.Event(), token=token)
        with self._lock:
            self.readers[name] = reader
        reader.start()      # its status goes to Redis with the next report (status_interval)

    def drop(self, name: str, why: str) -> None:
        """The lease of `name` is gone: close its connection, forget what it had queued."""
        with self._lock:
            reader = self.readers.pop(name, None)
        if reader is not None:
            reader.halt()
            self.retired.append(reader)
        lost = self.outbox.disown(name)
        st = self.stats[name]
        st.token = st.owned_since = None
        st.connected = False
        if lost:
            log.warning("%s: %d event(s) not forwarded (the next owner resyncs the node)",
                        name, lost)
        self.retired = [r for r in self.retired if r.is_alive()]

    def request_stop(self, *_args) -> None:
        self.stop.set()
        with self._lock:
            readers = list(self.readers.values())
        for reader in readers:
            reader.halt()

    def shutdown(self) -> None:
        """Stop reading, hand over what is held (a few seconds), then give the leases back."""
        self.leases.join(5)
        with self._lock:
            readers = list(self.readers.values())
        for reader in readers + self.retired:
            reader.join(5)
        self.publisher.drain_and_stop(timeout=5.0)
        self.report()
        self.leases.release_all()
        metrics_process.mark_dead(os.getpid())  # its fscti_esl_connected leaves the sums
        log.info("listener stopped")

    # -- status ------------------------------------------------------------------------------
    def report(self) -> None:
        """One log line per node held, and the JSON status in Redis."""
        with self._lock:
            held = list(self.readers)
        if not held and self.nodes:
            log.info("listener %s holds no node (%d listener(s) alive)", self.id,
                     self.leases.alive)
        for name in held:
            self._log_status(name)
            self._write_status(name)

    def _log_status(self, name: str) -> None:
        st = self.stats[name]
        log.info("%s: %s received=%d enqueued=%d dropped=%d malformed=%d filtered=%d "
                 "reconnects=%d lag_ms=%.1f lag_max_ms=%.1f buffered=%d lease_token=%s", name,
                 "up" if st.connected else "DOWN", st.received, st.enqueued, st.dropped,
                 st.malformed, st.filtered, st.reconnects, st.lag_ms, st.lag_max_ms,
                 self.outbox.pending(name), st.token)
        st.lag_max_ms = 0.0

    def _write_status(self, name: str) -> None:
        status = self.stats[name].as_dict()
        status.update(buffered=self.outbox.pending(name), broker_ok=self.publisher.broker_ok,
                      updated_at=time.time(), listener=self.id)
        try:
            self._redis().set(keys.listener_status(name), json.dumps(status))
        except Exception as exc:  # Redis down: the log line still tells the story
            log.debug("status not written to Redis: %s", exc)

    def _restore_core_uuid(self, st: NodeStats) -> None:
        """The last Core-UUID seen of the node (the status key, written by whichever listener
        held it) detects a FreeSWITCH restart while no one of us was reading it."""
        try:
            raw = self._redis().get(keys.listener_status(st.name))
            st.core_uuid = (json.loads(raw) or {}).get("core_uuid") if raw else st.core_uuid
        except Exception as exc:
            log.debug("no previous status for %s: %s", st.name, exc)


def main() -> None:
    faulthandler.register(signal.SIGUSR1)     # `kill -USR1 <pid>`: dump every thread's stack
    app = create_app()
    listener = Listener(app)
    freeze_gc()         # no long full collections of start-up objects (app/runtime.py)
    signal.signal(signal.SIGTERM, listener.request_stop)
    signal.signal(signal.SIGINT, listener.request_stop)
    log.info("listener %s starting for %d node(s), lease ttl %gs: %s", listener.id,
             len(listener.nodes), listener.cfg["lease_ttl"],
             ", ".join(f"{n.name}={n.host}:{n.port}" for n in app.config["FSCTI"].freeswitch))
    listener.run()


if __name__ == "__main__":
    main()
