"""Phones and calls on one peer, on a schedule: what a FreeSWITCH node in production sees.

    load = NodeLoad(tables, phones=[f"3{i:04d}" for i in range(100)], refresh=60.0, cps=2.0)
    load.register_all()          # every phone registers once (as fast as the listener reads)
    load.start()                 # refreshes spread evenly over `refresh` s, calls at `cps`/s
    ...
    load.stop()                  # the calls in progress stay up (live channels in the tables),
                                 # except those already hanging up: they end (destroyed)

A call is the captured call 1 (SyntheticCalls: both legs, CREATE ... DESTROY), between two
phones of the node, its events spread over `call_seconds`; with `unregister_every` one phone
in that many unregisters at its refresh and registers again (with a new Call-ID) at the next.
Every event goes through PeerTables, so the peer's tables are always what it has sent.
"""
from __future__ import annotations

import heapq
import itertools
import random
import threading
import time

from tests.eslpeer.synthetic import SyntheticCalls
from tests.eslpeer.tables import PeerTables


TABLE_EVENTS = frozenset(("CHANNEL_CREATE", "CHANNEL_DESTROY", "CHANNEL_BRIDGE", "CHANNEL_HANGUP",
                          "CHANNEL_HANGUP_COMPLETE", "CHANNEL_ANSWER", "CHANNEL_CALLSTATE"))


class NodeLoad(threading.Thread):
    def __init__(self, tables: PeerTables, phones: list[str], refresh: float = 60.0,
                 cps: float = 1.0, call_seconds: float = 2.0, unregister_every: int = 0,
                 seed: int = 1, gen: SyntheticCalls | None = None):
        super().__init__(name=f"load-{tables.node}", daemon=True)
        self.tables, self.phones = tables, list(phones)
        self.refresh, self.cps, self.call_seconds = float(refresh), float(cps), float(call_seconds)
        self.unregister_every = int(unregister_every)
        self.gen = gen or SyntheticCalls()
        self.rng = random.Random(seed)
        self.call_ids = {ext: f"{ext}-1@{tables.node}" for ext in self.phones}
        self._gen_of = {ext: 1 for ext in self.phones}
        self._halt = threading.Event()
        self._n = itertools.count()
        self.calls_started = 0
        self.errors: list[str] = []
        self.heap: list = []
        self.hanging: set[str] = set()       # calls whose hang-up went out

    def register_all(self) -> None:
        for ext in self.phones:
            self.tables.register(ext, self.call_ids[ext])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the schedule. A call whose hang-up went out ends at once (FreeSWITCH destroys
        a channel milliseconds after its hang-up), so every call left is a live one."""
        self._halt.set()
        self.join(timeout)
        if self.is_alive():
            self.errors.append(f"still running {timeout} s after stop()")

    def _finish_hanging(self) -> None:
        for _due, _n, kind, arg in sorted(self.heap, key=lambda item: item[:2]):
            if kind == "event" and arg[0]["A"] in self.hanging:
                self._emit(arg)

    def run(self) -> None:
        try:
            self._run()
            self._finish_hanging()
        except Exception as exc:   # the test reads `errors`
            self.errors.append(repr(exc))
            raise

    def _run(self) -> None:
        heap = self.heap
        now = time.monotonic()
        if self.refresh and self.phones:
            gap = self.refresh / len(self.phones)
            for i, ext in enumerate(self.phones):
                heapq.heappush(heap, (now + i * gap, next(self._n), "refresh", ext))
        if self.cps:
            heapq.heappush(heap, (now, next(self._n), "call", None))
        while heap and not self._halt.is_set():
            due, _, kind, arg = heap[0]
            wait = due - time.monotonic()
            if wait > 0:
                self._halt.wait(min(wait, 0.05))
                continue
            heapq.heappop(heap)
            if kind == "refresh":
                self._refresh(arg)
                heapq.heappush(heap, (due + self.refresh, next(self._n), "refresh", arg))
            elif kind == "call":
                self._start_call(heap, due)
                heapq.heappush(heap, (due + 1.0 / self.cps, next(self._n), "call", None))
            else:
                self._emit(arg)

    def _emit(self, arg) -> None:
        values, base, idx = arg
        tpl = self.gen.templates[idx]
        if tpl.name == "CHANNEL_HANGUP":
            self.hanging.add(values["A"])
        # FreeSWITCH's tables change whether anyone listens (e.g. while no listener holds
        # the node): those events always go through the tables; the rest only when wanted
        if tpl.name in TABLE_EVENTS or self.tables.peer.wants(tpl.name, tpl.subclass):
            body = self.gen.render(tpl, values, base, next(self.tables.peer.sequence),
                                   self.tables.peer.core_uuid)
            self.tables.call_event(tpl.name, tpl.subclass, body)

    def _refresh(self, ext: str) -> None:
        call_id = self.call_ids[ext]
        if self.unregister_every and self.rng.randrange(self.unregister_every) == 0:
            if call_id in self.tables.regs:
                self.tables.unregister(call_id)
                return
            self._gen_of[ext] += 1
            call_id = self.call_ids[ext] = f"{ext}-{self._gen_of[ext]}@{self.tables.node}"
        self.tables.register(ext, call_id)

    def _start_call(self, heap: list, at: float) -> None:
        if len(self.phones) < 2:
            return
        a, b = self.rng.sample(self.phones, 2)
        values = self.gen._values(f"{self.tables.node}-{self.calls_started}", a, b)
        self.calls_started += 1
        base = int(time.time() * 1_000_000)
        n = len(self.gen.templates)
        gap = self.call_seconds / max(1, n - 1)
        for idx in range(n):
            heapq.heappush(heap, (at + idx * gap, next(self._n), "event", (values, base, idx)))
