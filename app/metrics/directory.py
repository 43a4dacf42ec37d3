"""The /directory hot path's metrics, at the cost of a few list increments per request.

A prometheus_client counter increment plus a histogram observation cost ~5 µs in multiprocess
mode (a lock and a write to a memory-mapped file each), ~2 % of a cached /directory answer.
So the request only adds to plain lists under a lock (~1 µs), and a daemon thread moves the
sums into the prometheus_client metrics every FLUSH_SECONDS (and /metrics flushes the serving
process first): what another web process counted shows on /metrics at most FLUSH_SECONDS late.
"""
from __future__ import annotations

import threading
import time
from bisect import bisect_left

from app import metrics as m

FLUSH_SECONDS = 1.0
OUTCOME = {name: i for i, name in enumerate(m.LOOKUP_OUTCOMES)}
_BOUNDS = tuple(b for b in m.directory_seconds._upper_bounds if b != float("inf"))
_perf = time.perf_counter


class DirectoryMeter:
    """Per-process counts of lookups, their latency and the answer cache, flushed in bulk."""

    def __init__(self):
        self.lock = threading.Lock()
        self._reset()
        self._thread: threading.Thread | None = None
        self._outcome_children = [m.directory_lookups.labels(o) for o in m.LOOKUP_OUTCOMES]
        self._hit, self._miss = m.directory_cache.labels("hit"), m.directory_cache.labels("miss")

    def _reset(self) -> None:
        self.outcomes = [0] * len(OUTCOME)
        self.buckets = [0] * (len(_BOUNDS) + 1)
        self.seconds = 0.0
        self.hits = self.misses = 0

    def done(self, outcome: int, started: float, hit: bool | None) -> None:
        """One request ended with `outcome` (an OUTCOME index); `hit`: the answer cache's
        verdict (None: not asked)."""
        took = _perf() - started
        with self.lock:
            self.outcomes[outcome] += 1
            self.buckets[bisect_left(_BOUNDS, took)] += 1
            self.seconds += took
            if hit is not None:
                if hit:
                    self.hits += 1
                else:
                    self.misses += 1
        if self._thread is None:
            self._start()

    def count(self, outcome: int) -> None:
        """One request ended with `outcome` before any lookup (refused): no latency."""
        with self.lock:
            self.outcomes[outcome] += 1
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self.lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="directory-metrics",
                                                daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()

    def flush(self) -> None:
        """Move what was counted since the last flush into the exported metrics."""
        with self.lock:
            outcomes, buckets, seconds = self.outcomes, self.buckets, self.seconds
            hits, misses = self.hits, self.misses
            self._reset()
        for child, n in zip(self._outcome_children, outcomes):
            if n:
                child.inc(n)
        if any(buckets):
            # what Histogram.observe does, n times at once: one bucket and the sum
            h = m.directory_seconds
            for i, n in enumerate(buckets):
                if n:
                    h._buckets[i].inc(n)
            h._sum.inc(seconds)
        if hits:
            self._hit.inc(hits)
        if misses:
            self._miss.inc(misses)


meter = DirectoryMeter()


def breaker(open_: bool) -> None:
    """The Redis circuit breaker of this process opened (True) or closed again (False)."""
    if open_:
        m.directory_breaker_trips.inc()
    m.directory_breaker_open.set(1 if open_ else 0)
