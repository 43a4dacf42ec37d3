"""One Redis subscriber per console process, fanning coalesced changes out to the streams.

The state script publishes, after each batch, which extensions of a domain changed
(`keys.console_changes`). The hub's thread gathers those names for `console.repaint_ms`,
then reads each changed extension's `cti_userinfo@` value once (one HMGET per domain per
period, however many consoles watch it) and puts the same message in every watching
stream's queue. So a console gets at most a few messages a second whatever the event rate,
and the Redis load does not grow with the number of consoles.

Every few seconds it also sends each domain's watchers FreeSWITCH's clock and who
supervises whom. A stream whose queue is full (a browser that stopped reading) is marked
stale: it is sent a fresh snapshot instead of the messages it missed. So is every stream
after the hub lost its Redis connection (messages published meanwhile are gone).
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time

from app import redis_client
from app.console import model
from app.console.supervisions import supervisions
from app.extensions import redis_ext
from app.state import keys

log = logging.getLogger("fscti.console")

TICK_SECONDS = 2.0
QUEUE_MAX = 64


class Watcher:
    """One connected stream: its domain and its queue of (event, id, data) messages."""

    def __init__(self, domain: str):
        self.domain = domain
        self.queue: queue.Queue = queue.Queue(QUEUE_MAX)
        self.stale = False

    def put(self, item) -> None:
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            self.stale = True


class Hub:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.watchers: dict[str, set[Watcher]] = {}
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.pending: dict[str, set[str]] = {}
        self.seq: dict[str, int] = {}
        self.sups: dict[str, str] = {}

    # --- streams ---------------------------------------------------------------------------
    def attach(self, domain: str) -> Watcher:
        w = Watcher(domain)
        with self.lock:
            self.watchers.setdefault(domain, set()).add(w)
            self.sups.pop(domain, None)
            if self.thread is None or not self.thread.is_alive():
                self.stopping.clear()
                self.thread = threading.Thread(target=self._run, name="console-hub", daemon=True)
                self.thread.start()
        return w

    def detach(self, w: Watcher) -> None:
        with self.lock:
            found = self.watchers.get(w.domain)
            if found is not None:
                found.discard(w)
                if not found:
                    del self.watchers[w.domain]

    def count(self) -> int:
        with self.lock:
            return sum(len(s) for s in self.watchers.values())

    def _targets(self, domain: str) -> list[Watcher]:
        with self.lock:
            return list(self.watchers.get(domain, ()))

    # --- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        with self.app.app_context():
            while not self.stopping.is_set():
                try:
                    self._listen()
                except Exception as exc:   # Redis gone: every stream needs a snapshot after
                    log.warning("console hub: Redis subscription lost (%s: %s); retrying",
                                type(exc).__name__, exc)
                    with self.lock:
                        for ws in self.watchers.values():
                            for w in ws:
                                w.stale = True
                    self.pending.clear()
                    self.stopping.wait(1.0)

    def _listen(self) -> None:
        settings = self.app.config["FSCTI"]
        period = settings.console["repaint_ms"] / 1000.0
        sub = redis_client.client(settings.redis_url, decode_responses=True,
                                  socket_connect_timeout=2, health_check_interval=30)
        pubsub = sub.pubsub(ignore_subscribe_messages=True)
        pubsub.psubscribe(keys.console_prefix() + "*")
        prefix = len(keys.console_prefix())
        next_flush = time.monotonic() + period
        next_tick = time.monotonic()
        try:
            while not self.stopping.is_set():
                wait = max(0.0, min(next_flush, next_tick) - time.monotonic())
                msg = pubsub.get_message(timeout=wait)
                if msg and msg.get("type") == "pmessage":
                    self._note(msg["channel"][prefix:], msg["data"])
                now = time.monotonic()
                if now >= next_flush:
                    self._flush()
                    next_flush = now + period
                if now >= next_tick:
                    self._tick()
                    next_tick = now + TICK_SECONDS
        finally:
            pubsub.close()
            sub.close()

    def _note(self, domain: str, data: str) -> None:
        seq, _, rest = data.partition("\t")
        try:
            self.seq[domain] = max(self.seq.get(domain, 0), int(seq))
        except ValueError:
            return
        self.pending.setdefault(domain, set()).update(x for x in rest.split("\t") if x)

    def _flush(self) -> None:
        if not self.pending:
            return
        pending, self.pending = self.pending, {}
        client = redis_ext.client
        settings = self.app.config["FSCTI"]
        for domain, exts in pending.items():
            targets = self._targets(domain)
            if not targets:
                continue
            rows = model.changed_rows(client, domain, list(exts))
            data = json.dumps({"rows": rows, "now": model.fs_now(client, settings),
                               "at": time.time()}, separators=(",", ":"))
            item = ("update", str(self.seq.get(domain, 0)), data)
            for w in targets:
                w.put(item)

    def _tick(self) -> None:
        client = redis_ext.client
        settings = self.app.config["FSCTI"]
        with self.lock:
            domains = list(self.watchers)
        for domain in domains:
            try:
                sups = supervisions(client, domain)
            except Exception as exc:  # SQL unavailable: say so, keep the stream
                log.warning("console hub: supervisions of %s unreadable (%s)", domain, exc)
                sups = None
            data = {"now": model.fs_now(client, settings)}
            text = json.dumps(sups, sort_keys=True)
            if sups is not None and text != self.sups.get(domain):
                self.sups[domain] = text
                data["sups"] = sups
            for w in self._targets(domain):
                w.put(("tick", None, json.dumps(data, separators=(",", ":"))))

    def poke(self, domain: str) -> None:
        """Send the domain's supervisions at the next tick (after an action was queued)."""
        self.sups.pop(domain, None)


def hub(app) -> Hub:
    found = app.extensions.get("fscti_console_hub")
    if found is None:
        found = app.extensions["fscti_console_hub"] = Hub(app)
    return found
