"""Deadlines for blocking python-ESL calls.

python-ESL has no timeouts: its reader polls in 1-second steps and loops forever while the
server stays silent, and it calls recv() only once poll() reports data, so SO_RCVTIMEO never
fires. What does end a blocked call is the socket itself failing: `shutdown(SHUT_RDWR)` on
our duplicate of its file descriptor makes poll() report EOF, ESL marks the handle
disconnected and the call returns failure. One daemon thread per process holds the
deadlines and shuts down the socket of any call that outlives its deadline.
"""
from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from contextlib import contextmanager


class Guard:
    """One armed deadline; `fired` tells the caller its call was cut short."""

    __slots__ = ("deadline", "sock", "fired", "done")

    def __init__(self, deadline: float, sock: socket.socket):
        self.deadline = deadline
        self.sock = sock
        self.fired = False
        self.done = False


class Watchdog:
    """Shuts down sockets whose guarded operation passed its deadline."""

    def __init__(self):
        self._heap: list = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextmanager
    def guard(self, sock: socket.socket, seconds: float):
        """Arm a deadline around a blocking call on `sock`; yields the Guard."""
        g = Guard(time.monotonic() + seconds, sock)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="esl-watchdog", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (g.deadline, next(self._seq), g))
            if self._heap[0][2] is g:
                self._cond.notify()
        try:
            yield g
        finally:
            with self._cond:
                g.done = True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, g = self._heap[0]
                now = time.monotonic()
                if g.done:
                    heapq.heappop(self._heap)
                    continue
                if deadline > now:
                    self._cond.wait(deadline - now)
                    continue
                heapq.heappop(self._heap)
                g.fired = True
            try:
                g.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


_watchdog = Watchdog()


def watchdog() -> Watchdog:
    """This process's watchdog (a fresh one after fork: threads do not survive it)."""
    return _watchdog


def _after_fork() -> None:
    global _watchdog
    _watchdog = Watchdog()


os.register_at_fork(after_in_child=_after_fork)
