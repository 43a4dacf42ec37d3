"""The listener's bounded in-memory outbox and the thread that hands it to Celery.

Readers append and never block: when the outbox holds `buffer_max` events, new events are
dropped and counted, and the node is marked `overflowed`; once the broker accepts messages
again a `fscti.state.resync(node, "overflow", core)` goes out after what was kept, so a loss
is repaired from FreeSWITCH's snapshots instead of passing silently.

The publisher sends, per node and in arrival order, batches of at most `batch_size` events,
a batch leaving when it is full or when its first event has waited `batch_delay_ms`; except
under load: when events arrive fast enough to fill the batch within `batch_max_delay_ms` of
its first one (at least `batch_size` / `batch_max_delay_ms` events per second), it waits
for that, so a busy node sends fewer, fuller tasks (each task and each script run has a
fixed cost) while a quiet one keeps the short delay. A batch goes as one JSON text in a
compressed `fscti-zjson` message (workers/ingest_codec.py says why). Control messages
(resync) keep their place in the node's order. An item leaves the outbox only after the
broker took it; a failed send is retried with backoff (a message the broker took just
before failing may go twice: the ingest task is idempotent).

Leases (workers/listener_lease.py): a node's queue belongs to the lease token it was opened
with (`own`); every batch and control task of the node goes out with that token, so the
state script can refuse it once another listener took the node. `disown` (lease lost or
given up) forgets the node's queue at once, and events a reader still puts under an old
token are discarded: nothing more of that node is forwarded. A node whose lease was not
renewed by its local deadline (`valid_until`) is held back until it is renewed or disowned.
"""
from __future__ import annotations

import collections
import logging
import threading
import time

import msgspec

from app import metrics, tasknames
from workers.ingest_codec import SERIALIZER

log = logging.getLogger("fscti.listener")

QUEUE = "events"


class Outbox:
    """Per-node FIFOs of ("event", dict) and ("control", task, args), bounded by event count."""

    def __init__(self, max_events: int, batch_size: int = 500):
        self.max_events = int(max_events)
        self.batch_size = int(batch_size)
        self.cond = threading.Condition()
        self.queues: dict[str, collections.deque] = {}
        self.events = 0
        self.overflowed: set[str] = set()
        self.tokens: dict[str, int] = {}         # node -> lease token its queue is sent under
        self.valid_until: dict[str, float] = {}  # node -> monotonic deadline of its lease

    def own(self, node: str, token: int, valid_until: float) -> None:
        """Start (or restart) forwarding `node` under lease `token`, with an empty queue."""
        with self.cond:
            self._forget(node)
            self.tokens[node] = int(token)
            self.valid_until[node] = float(valid_until)

    def renewed(self, node: str, token: int, valid_until: float) -> None:
        with self.cond:
            if self.tokens.get(node) == token:
                self.valid_until[node] = float(valid_until)
                self.cond.notify()

    def disown(self, node: str) -> int:
        """Stop forwarding `node`: its queued items are dropped; returns how many events."""
        with self.cond:
            return self._forget(node)

    def _forget(self, node: str) -> int:
        queue = self.queues.pop(node, None) or ()
        lost = sum(1 for it in queue if it[0] == "event")
        self.events -= lost
        self.overflowed.discard(node)
        self.tokens.pop(node, None)
        self.valid_until.pop(node, None)
        return lost

    def _refused(self, node: str, token) -> bool:
        """An item put under a token that is not (any more) the node's: discarded."""
        return token is not None and self.tokens.get(node) != token

    def put_events(self, node: str, events: list, token: int | None = None) -> int:
        """Queue events in order, as many as there is room for; returns how many (the rest are
        dropped). Under a `token` the node no longer has: discarded, reported as queued."""
        with self.cond:
            if self._refused(node, token):
                return len(events)
            room = self.max_events - self.events
            if room < len(events):
                self.overflowed.add(node)
                events = events[:max(0, room)]
            if not events:
                return 0
            queue = self.queues.get(node)
            if queue is None:
                queue = self.queues[node] = collections.deque()
            before = len(queue)
            queue.extend(("event", e) for e in events)
            self.events += len(events)
            # Wake the publisher only when this changes what it waits for: a first item
            # (it starts the batch clock) or a full batch. Not once per event.
            if before == 0 or before < self.batch_size <= len(queue):
                self.cond.notify()
            return len(events)

    def put_control(self, node: str, task: str, args: list, token: int | None = None) -> None:
        """Queue a control task (never dropped: there is at most a handful)."""
        with self.cond:
            if self._refused(node, token):
                return
            self.queues.setdefault(node, collections.deque()).append(("control", task, args))
            self.cond.notify()

    def pending(self, node: str) -> int:
        with self.cond:
            return len(self.queues.get(node, ()))


class Publisher(threading.Thread):
    """Sends the outbox to the broker by task name; survives the broker being down."""

    def __init__(self, celery, outbox: Outbox, stats: dict, cfg: dict):
        super().__init__(name="listener-publisher", daemon=True)
        self.celery = celery
        self.outbox = outbox
        self.stats = stats
        self.batch_size = int(cfg["batch_size"])
        self.delay = float(cfg["batch_delay_ms"]) / 1000.0
        self.max_delay = max(self.delay, float(cfg["batch_max_delay_ms"]) / 1000.0)
        # at most one batch of a node per this many s (0: no limit): many busy nodes then send
        # fewer, fuller tasks (a task's fixed cost in the worker is several ms)
        self.min_interval = float(cfg.get("batch_min_interval_ms", 0)) / 1000.0
        self._last_sent: dict[str, float] = {}
        self.retry_max = float(cfg["broker_retry_max"])
        self.broker_ok = True
        self._stopping = False
        self._stop_now = threading.Event()
        self._stopped = threading.Event()
        self._rr = 0
        self._down_since = None

    # -- main loop -------------------------------------------------------------------------
    def run(self) -> None:
        backoff = 0.05
        try:
            while True:
                work = self._next()
                if work is None:
                    return
                if self._send(work):
                    for node, items, token in work:
                        self._done(node, items, token)
                    backoff = 0.05
                    continue
                if self._stop_now.wait(backoff):       # broker down and stopping: give up
                    return
                backoff = min(backoff * 2, self.retry_max)
        finally:
            self._stopped.set()

    def drain_and_stop(self, timeout: float) -> None:
        """Send what is held without waiting for batches to fill, then stop (bounded)."""
        with self.outbox.cond:
            self._stopping = True
            self.outbox.cond.notify_all()
        if not self._stopped.wait(timeout):
            self._stop_now.set()
            self._stopped.wait(1.0)
        left = sum(len(q) for q in self.outbox.queues.values())
        if left:
            log.error("listener stopping with %d item(s) not handed to the broker", left)

    def _next(self):
        """What to send next: a list of (node, items, token) parts, None when stopping.
        A control item goes alone; once any node's batch is due, every node whose queue
        starts with events goes in the same task (one task per listener rather than one
        per node: see `_send`)."""
        ob = self.outbox
        with ob.cond:
            while True:
                mono = time.monotonic()
                nodes = [n for n, q in ob.queues.items()
                         if q and ob.valid_until.get(n, mono) >= mono]
                if not nodes:
                    if self._stopping:
                        return None
                    # a node held back (lease overdue) is looked at again when renewed
                    ob.cond.wait(0.1 if ob.queues and any(ob.queues.values()) else None)
                    continue
                now = time.time()
                wait = None
                for i in range(len(nodes)):
                    node = nodes[(self._rr + i) % len(nodes)]
                    queue = ob.queues[node]
                    first = queue[0]
                    if first[0] == "control":
                        self._rr += 1
                        return [(node, [first], ob.tokens.get(node))]
                    due = self._due(first[1]["_received"], len(queue), now)
                    if self.min_interval and not self._stopping and len(queue) < self.batch_size:
                        due = max(due, self._last_sent.get(node, 0.0) + self.min_interval)
                    if due <= now:
                        self._rr += 1
                        return self._take_all(nodes, now)
                    wait = due - now if wait is None else min(wait, due - now)
                ob.cond.wait(wait)

    def _due(self, first: float, held: int, now: float) -> float:
        """When a node's batch leaves: its first event's time + the delay, or + the longer
        delay while the events held so far arrived fast enough to fill it by then."""
        if self._stopping or held >= self.batch_size:
            return now
        due = first + self.delay
        if due > now:
            return due
        # held events in (now - first) s: at that rate the batch is full at
        # first + batch_size * (now - first) / held; wait for it if that is within max_delay.
        if held * self.max_delay >= self.batch_size * (now - first):
            return first + self.max_delay
        return now

    def _take_all(self, nodes: list, now: float) -> list:
        """Every node's batch that can go now (its queue starts with events), as parts."""
        ob = self.outbox
        parts = []
        for node in nodes:
            queue = ob.queues[node]
            if queue[0][0] == "event":
                self._last_sent[node] = now
                parts.append((node, self._take(queue), ob.tokens.get(node)))
        return parts

    def _take(self, queue) -> list:
        items = []
        for item in queue:
            if item[0] != "event" or len(items) >= self.batch_size:
                break
            items.append(item)
        return items

    # -- sending -----------------------------------------------------------------------------
    def _send(self, parts: list) -> bool:
        """Hand `parts` to the broker: a control task; one node's batch as
        `fscti.ingest.events`; several nodes' as one `fscti.ingest.batches` (a task's fixed
        cost, in the broker and in the worker, is paid once for all of them)."""
        node, items, token = parts[0]
        try:
            # retry=False: a broker error comes back at once and the items stay here.
            # ignore_result: a task sent by name is unknown here, so Celery would otherwise
            # subscribe to its result in the backend on every send. argsrepr: skip
            # repr()-ing a 500-event batch for the message headers.
            if items[0][0] == "control":
                _, task, args = items[0]
                if token is not None:
                    args = list(args) + [token]
                self.celery.send_task(task, args=args, queue=QUEUE, retry=False,
                                      ignore_result=True)
            elif len(parts) > 1:
                batch = msgspec.json.encode(
                    [[n, [it[1] for it in its]] + ([] if tok is None else [tok])
                     for n, its, tok in parts]).decode()
                count = sum(len(its) for _, its, _ in parts)
                self.celery.send_task(tasknames.INGEST_BATCHES, args=[batch],
                                      serializer=SERIALIZER, queue=QUEUE, retry=False,
                                      ignore_result=True,
                                      argsrepr=f"(<{len(parts)} nodes, {count} events>,)",
                                      kwargsrepr="{}")
            else:
                batch = msgspec.json.encode([it[1] for it in items]).decode()
                args = [node, batch] if token is None else [node, batch, token]
                self.celery.send_task(tasknames.INGEST_EVENTS, args=args,
                                      serializer=SERIALIZER, queue=QUEUE, retry=False,
                                      ignore_result=True,
                                      argsrepr=f"({node!r}, <{len(items)} events>)",
                                      kwargsrepr="{}")
        except Exception as exc:  # kombu/redis errors vary by transport: all mean "not sent"
            if self.broker_ok or time.monotonic() - self._down_since > 10:
                log.error("broker unavailable (%s: %s); holding %d event(s) in memory",
                          type(exc).__name__, str(exc)[:200], self.outbox.events)
                self._down_since = time.monotonic()
            self.broker_ok = False
            return False
        if not self.broker_ok:
            log.info("broker reachable again; sending the %d held event(s)", self.outbox.events)
            self.broker_ok = True
        return True

    def _done(self, node: str, items: list, token: int | None = None) -> None:
        ob = self.outbox
        now = time.time()
        events = [it[1] for it in items if it[0] == "event"]
        with ob.cond:
            queue = ob.queues.get(node)
            if queue is not None and ob.tokens.get(node) == token:
                for _ in items:
                    queue.popleft()
                ob.events -= len(events)
            # else: the node was disowned (or re-owned) while this was sent: its queue is gone
            # The broker takes messages again and there is room: every node that lost events
            # gets a resync, queued after what it still holds (the lost events were newer).
            for lost in list(ob.overflowed):
                if ob.events >= ob.max_events:
                    break
                ob.overflowed.discard(lost)
                st = self.stats.get(lost)
                # the token is added when it is sent (the queue's own)
                ob.queues.setdefault(lost, collections.deque()).append(
                    ("control", tasknames.STATE_RESYNC,
                     [lost, "overflow", st.core_uuid if st else None]))
                if st:
                    st.resyncs += 1
                log.warning("%s: events were dropped while the outbox was full; resync queued", lost)
        st = self.stats.get(node)
        if st is not None and events:
            st.enqueued += len(events)
            metrics.events_enqueued.labels(node).inc(len(events))
            lag = (now - events[0]["_received"]) * 1000.0
            st.lag_ms = lag
            st.lag_max_ms = max(st.lag_max_ms, lag)
