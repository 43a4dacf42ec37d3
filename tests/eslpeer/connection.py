"""One client connection of the peer: subscription, filters, and a FreeSWITCH-like lossy queue."""
from __future__ import annotations

import collections
import re
import socket
import threading
import time

from tests.eslpeer import wire

MAX_MISSED = 500          # mod_event_socket.c:37
DEFAULT_QUEUE = 100000    # mod_event_socket.c:36


class PeerConnection:
    """One client connection: its subscription state, output queues and what it sent."""

    def __init__(self, peer, sock: socket.socket, conn_id: int):
        self.peer = peer
        self.sock = sock
        self.id = conn_id
        self.authed = False
        self.format = "plain"
        self.all_events = False
        self.events: set[str] = set()
        self.custom: set[str] = set()
        self.filters: list[tuple[str, str]] = []
        self.packets: list[wire.Packet] = []
        self.raw_in = bytearray()
        self.replies: collections.deque = collections.deque()
        self.queue: collections.deque = collections.deque()
        self.cond = threading.Condition()
        self.closed = False
        self.close_after_replies = False
        self.lost = 0
        self.missed_in_a_row = 0
        self.delivered = 0
        self.opened_at = time.time()

    # -- subscription ------------------------------------------------------------------
    @property
    def closing(self) -> bool:
        """Closed, or told to close once its replies are written (a disconnect notice is
        queued: auth refused, exit, restart, too many lost events). Its writer sends no more
        events, so from that instant it takes none."""
        return self.closed or self.close_after_replies

    @property
    def subscribed(self) -> bool:
        # a closing connection is never subscribed, even in the instant before the peer forgets
        # it: a test waiting for the listener's next subscription must not be handed this one
        return not self.closing and self.authed and (self.all_events or bool(self.events))

    def wants(self, name: str, subclass: str | None, event: dict | None = None) -> bool:
        """FreeSWITCH's event_handler test: event list, CUSTOM subclass hash, then filters."""
        if not self.authed or self.closing:
            return False
        if not self.all_events:
            if name not in self.events:
                return False
            if name == "CUSTOM" and subclass and subclass not in self.custom:
                return False
        if self.filters:
            if event is None:
                return True
            return _filters_pass(self.filters, event)
        return True

    # -- output ------------------------------------------------------------------------
    def send_reply(self, data: bytes, then_close: bool = False) -> None:
        with self.cond:
            if self.closed:
                return
            self.replies.append(data)
            if then_close:
                self.close_after_replies = True
            self.cond.notify()

    def push_event(self, frame: bytes, block: bool = False) -> bool:
        """Queue one event frame; False (and counted as lost) when the queue is full."""
        limit = self.peer.queue_limit
        with self.cond:
            while block and len(self.queue) >= limit and not self.closing:
                self.cond.wait(0.05)
            if self.closing:
                return False            # never written: not delivered, not counted as sent
            if len(self.queue) >= limit:
                self.lost += 1
                self.missed_in_a_row += 1
                if self.missed_in_a_row > MAX_MISSED:
                    # mod_event_socket kills the listener after MAX_MISSED losses in a row.
                    self.queue.clear()
                    self.replies.append(wire.disconnect_notice(wire.LOST_EVENTS))
                    self.close_after_replies = True
                self.cond.notify()
                return False
            self.missed_in_a_row = 0
            self.queue.append(frame)
            self.delivered += 1
            self.cond.notify()
            return True

    def push_raw(self, data: bytes) -> None:
        with self.cond:
            if not self.closing:
                self.queue.append(data)
                self.cond.notify()

    def writer(self) -> None:
        while True:
            with self.cond:
                while not self.replies and not self.queue and not self.close_after_replies \
                        and not self.closed:
                    self.cond.wait()
                if self.closed:
                    return
                chunks, size = [], 0
                while self.replies:
                    chunk = self.replies.popleft()
                    chunks.append(chunk)
                    size += len(chunk)
                closing = self.close_after_replies and not self.replies
                if not closing:
                    while self.queue and size < 262144:
                        chunk = self.queue.popleft()
                        chunks.append(chunk)
                        size += len(chunk)
                self.cond.notify_all()
            try:
                if chunks:
                    self.sock.sendall(b"".join(chunks))
            except OSError:
                self.close()
                return
            if closing:
                self.close()
                return

    def close(self) -> None:
        with self.cond:
            if self.closed:
                return
            self.closed = True
            self.cond.notify_all()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.peer._forget(self)


def _filters_pass(filters: list[tuple[str, str]], event: dict) -> bool:
    positive = False
    for header, value in filters:
        negate = value.startswith("-")
        want = value[1:] if negate else value
        have = event.get(header)
        if have is None:
            continue
        if not negate and want.startswith("/"):
            body, _, flags = want[1:].rpartition("/")
            match = re.search(body, str(have), re.I if "i" in flags else 0) is not None
        else:
            match = str(have).lower() == want.lower()
        if negate and match:
            return False
        if not negate and match:
            positive = True
    return positive
