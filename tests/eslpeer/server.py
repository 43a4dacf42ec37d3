"""A wire-level FreeSWITCH event-socket server for tests and benchmarks (facts §3).

Real TCP on 127.0.0.1, port 0 by default. Each connection has a reader thread (parses client
packets exactly as mod_event_socket's read_packet, records them, answers commands) and a
writer thread (replies first, then queued events, coalesced into large writes). Events pass
the connection's subscription and filters like FreeSWITCH, and its bounded queue drops and
finally kills a connection that reads too slowly (facts §3.6).
"""
from __future__ import annotations

import collections
import itertools
import re
import socket
import threading
import time
import uuid as uuidlib

from tests.eslpeer import wire
from tests.eslpeer.api import ApiTable
from tests.eslpeer.fixtures import FIXTURE_CORE_UUID, WireEvent, phase_events, wire_events

MAX_MISSED = 500          # mod_event_socket.c:37
DEFAULT_QUEUE = 100000    # mod_event_socket.c:36


class PeerConnection:
    """One client connection: its subscription state, output queues and what it sent."""

    def __init__(self, peer: "EslPeer", sock: socket.socket, conn_id: int):
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
    def subscribed(self) -> bool:
        return self.authed and (self.all_events or bool(self.events))

    def wants(self, name: str, subclass: str | None, event: dict | None = None) -> bool:
        """FreeSWITCH's event_handler test: event list, CUSTOM subclass hash, then filters."""
        if not self.authed:
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
            while block and len(self.queue) >= limit and not self.closed:
                self.cond.wait(0.05)
            if self.closed:
                return False
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
            if not self.closed:
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


class EslPeer:
    """A FreeSWITCH event socket in a thread: `with EslPeer() as peer: peer.port ...`."""

    def __init__(self, password: str = "ClueCon", *, host: str = "127.0.0.1", port: int = 0,
                 core_uuid: str = FIXTURE_CORE_UUID, hostname: str = "vm",
                 queue_limit: int = DEFAULT_QUEUE, api: dict | None = None,
                 greet: bool = True, ignore: set | None = None, record: bool = True):
        self.password = password
        self.host = host
        self.port = port
        self.core_uuid = core_uuid
        self.hostname = hostname
        self.queue_limit = queue_limit
        self.greet = greet                    # False: accept and never say anything
        self.ignore = set(ignore or ())       # command words never answered (e.g. {"auth"}, {"api"})
        self.record = record
        self.api = ApiTable(self, api)
        self.sequence = itertools.count(1)
        self.channels: set[str] = set()       # live Unique-IDs (CREATE adds, DESTROY removes)
        self.connections: list[PeerConnection] = []
        self.all_connections: list[PeerConnection] = []
        self.sent_events: list[tuple[int, dict]] = []     # (conn id, event) delivered
        self.sendevents: list[wire.Packet] = []            # sendevent packets received
        self._lock = threading.RLock()
        self._listener: socket.socket | None = None
        self._ids = itertools.count(1)
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> "EslPeer":
        """Listen (again) on host:port; port 0 picks a free port once and keeps it."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self._listener = sock
        t = threading.Thread(target=self._accept_loop, args=(sock,), daemon=True,
                             name=f"eslpeer-accept-{self.port}")
        t.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection without a notice (a crash)."""
        self._close_listener()
        for conn in list(self.connections):
            conn.close()

    def restart(self, core_uuid: str | None = None, down: float = 0.0,
                notice: str | None = wire.SHUTDOWN) -> str:
        """FreeSWITCH restart: notice, close all, new Core-UUID, Event-Sequence back to 1."""
        self._close_listener()
        for conn in list(self.connections):
            if notice is not None and conn.authed:
                conn.send_reply(wire.disconnect_notice(notice), then_close=True)
            else:
                conn.close()
        self._wait_closed(2.0)
        self.core_uuid = core_uuid or str(uuidlib.uuid4())
        self.sequence = itertools.count(1)
        self.channels.clear()
        if down:
            time.sleep(down)
        self.start()
        return self.core_uuid

    def __enter__(self) -> "EslPeer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def esl_env(self) -> str:
        """Value for FREESWITCH_ESL pointing at this peer."""
        return f"{self.host}:{self.port}:{self.password}"

    def node(self, name: str | None = None):
        """An app.config.FreeSwitchNode for this peer."""
        from app.config import FreeSwitchNode

        return FreeSwitchNode(name or f"{self.host}:{self.port}", self.host, self.port, self.password)

    def _close_listener(self) -> None:
        sock, self._listener = self._listener, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _wait_closed(self, timeout: float) -> None:
        deadline = time.time() + timeout
        while self.connections and time.time() < deadline:
            time.sleep(0.005)
        for conn in list(self.connections):
            conn.close()

    def _forget(self, conn: PeerConnection) -> None:
        with self._lock:
            if conn in self.connections:
                self.connections.remove(conn)

    # -- connections ---------------------------------------------------------------------
    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = PeerConnection(self, sock, next(self._ids))
            with self._lock:
                self.connections.append(conn)
                self.all_connections.append(conn)
            threading.Thread(target=conn.writer, daemon=True, name=f"eslpeer-w{conn.id}").start()
            threading.Thread(target=self._serve, args=(conn,), daemon=True,
                             name=f"eslpeer-r{conn.id}").start()

    def _serve(self, conn: PeerConnection) -> None:
        if self.greet:
            conn.send_reply(b"Content-Type: auth/request\n\n")
        reader = wire.PacketReader(conn.id)
        while not conn.closed:
            try:
                data = conn.sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            conn.raw_in += data
            for pkt in reader.feed(data):
                conn.packets.append(pkt)
                if self.greet:
                    self._handle(conn, pkt)
        conn.close()

    def _handle(self, conn: PeerConnection, pkt: wire.Packet) -> None:
        cmd = pkt.command.split("\r")[0]
        word = cmd.split(" ", 1)[0].lower()
        if word in self.ignore:
            return
        if word == "exit" or cmd.startswith("..."):
            conn.send_reply(wire.command_reply("+OK bye"))
            conn.send_reply(wire.disconnect_notice(), then_close=True)
            return
        if not conn.authed:
            if word == "auth":
                if cmd[5:] == self.password:
                    conn.authed = True
                    conn.send_reply(wire.command_reply("+OK accepted"))
                else:
                    conn.send_reply(wire.command_reply("-ERR invalid"))
                    conn.send_reply(wire.disconnect_notice(), then_close=True)
            else:
                conn.send_reply(wire.command_reply("-ERR command not found"))
            return
        handler = getattr(self, f"_cmd_{word}", None)
        if handler is None:
            conn.send_reply(wire.command_reply("-ERR command not found"))
        else:
            handler(conn, cmd, pkt)

    # -- commands ------------------------------------------------------------------------
    def _cmd_api(self, conn, cmd, pkt):
        conn.send_reply(wire.api_response(self.api.run(cmd[4:].strip())))

    def _cmd_bgapi(self, conn, cmd, pkt):
        job = pkt.headers.get("Job-UUID") or str(uuidlib.uuid4())
        line = cmd[6:].strip()
        conn.send_reply(wire.command_reply(f"+OK Job-UUID: {job}", {"Job-UUID": job}))
        output = self.api.run(line)
        name, _, arg = line.partition(" ")
        event = self.stamp({"Event-Name": "BACKGROUND_JOB", **self._identity(),
                            "Event-Calling-File": "mod_event_socket.c",
                            "Event-Calling-Function": "api_exec",
                            "Event-Calling-Line-Number": "1580"})
        event["Job-UUID"] = job
        event["Job-Command"] = name
        if arg:
            event["Job-Command-Arg"] = arg
        event["Content-Length"] = str(len(output.encode()))
        event["_body"] = output
        threading.Thread(target=self.emit, args=(event,), kwargs={"stamp": False},
                         daemon=True).start()

    def _cmd_event(self, conn, cmd, pkt):
        words = cmd.split()[1:]
        fmt = "plain"
        if words and words[0].lower() in ("plain", "json", "xml"):
            fmt = words.pop(0).lower()
        keys, custom = 0, False
        for w in words:
            if custom:
                conn.custom.add(w)
            elif w == "ALL":
                conn.all_events = True
                keys += 1
            else:
                conn.events.add(w)
                keys += 1
                custom = w == "CUSTOM"
        if not keys:
            conn.send_reply(wire.command_reply("-ERR no keywords supplied"))
            return
        conn.format = fmt
        conn.send_reply(wire.command_reply(f"+OK event listener enabled {fmt}"))

    def _cmd_nixevent(self, conn, cmd, pkt):
        custom = False
        for w in cmd.split()[1:]:
            if custom:
                conn.custom.discard(w)
            elif w == "CUSTOM":
                custom = True
            elif w == "ALL":
                conn.all_events = False
                conn.events.clear()
            else:
                conn.events.discard(w)
        conn.send_reply(wire.command_reply("+OK events nixed"))

    def _cmd_noevents(self, conn, cmd, pkt):
        conn.all_events = False
        conn.events.clear()
        conn.custom.clear()
        with conn.cond:
            conn.queue.clear()
        conn.send_reply(wire.command_reply("+OK no longer listening for events"))

    def _cmd_filter(self, conn, cmd, pkt):
        words = cmd.split(" ")[1:]
        if words and words[0] == "add":
            words = words[1:]
        if words and words[0] == "delete":
            rest = words[1:]
            if rest == ["all"]:
                conn.filters.clear()
            else:
                conn.filters = [f for f in conn.filters
                                if not (f[0] == rest[0] and (len(rest) < 2 or f[1] == rest[1]))]
            conn.send_reply(wire.command_reply("+OK filter deleted."))
            return
        if len(words) < 2:
            conn.send_reply(wire.command_reply("-ERR invalid syntax"))
            return
        header, value = words[0], " ".join(words[1:])
        conn.filters.append((header, value))
        conn.send_reply(wire.command_reply(f"+OK filter added. [{header}]=[{value}]"))

    def _cmd_sendevent(self, conn, cmd, pkt):
        self.sendevents.append(pkt)
        conn.send_reply(wire.command_reply(f"+OK {uuidlib.uuid4()}"))

    def _cmd_log(self, conn, cmd, pkt):
        conn.send_reply(wire.command_reply("+OK log level set"))

    def _cmd_nolog(self, conn, cmd, pkt):
        conn.send_reply(wire.command_reply("+OK no longer logging"))

    def _cmd_linger(self, conn, cmd, pkt):
        conn.send_reply(wire.command_reply("-ERR not controlling a session"))

    # -- events --------------------------------------------------------------------------
    def _identity(self) -> dict:
        now = time.time()
        return {
            "Core-UUID": self.core_uuid,
            "FreeSWITCH-Hostname": self.hostname,
            "FreeSWITCH-Switchname": self.hostname,
            "FreeSWITCH-IPv4": "192.0.2.2",
            "FreeSWITCH-IPv6": "fd00::2",
            "Event-Date-Local": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)),
            "Event-Date-GMT": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)),
            "Event-Date-Timestamp": str(int(now * 1_000_000)),
        }

    def stamp(self, event: dict) -> dict:
        """A copy with this peer's Core-UUID and the next Event-Sequence."""
        event = dict(event)
        event["Core-UUID"] = self.core_uuid
        event["Event-Sequence"] = str(next(self.sequence))
        return event

    def heartbeat(self) -> dict:
        """Emit a HEARTBEAT shaped like the captured one."""
        template = next(w.event for w in wire_events() if w.name == "HEARTBEAT")
        event = dict(template)
        event.update(self._identity())
        return self.emit(event)

    def emit(self, event: dict, stamp: bool = True, block: bool = False) -> dict:
        """Send one event to every connection subscribed to it; returns the event as sent."""
        if stamp:
            event = self.stamp(event)
        self._track(event)
        name, subclass = event.get("Event-Name", ""), event.get("Event-Subclass")
        frames: dict[str, bytes] = {}
        for conn in list(self.connections):
            if conn.wants(name, subclass, event):
                frame = frames.get(conn.format)
                if frame is None:
                    frame = frames[conn.format] = _frame(conn.format, event)
                if conn.push_event(frame, block) and self.record:
                    self.sent_events.append((conn.id, event))
        return event

    def emit_frame(self, name: str, subclass: str | None, body: bytes, block: bool = True) -> int:
        """Fast path for JSON subscribers: an already-serialised event body; returns deliveries."""
        frame = wire.json_event_frame(body)
        sent = 0
        for conn in self.connections:
            if conn.format == "json" and not conn.filters and conn.wants(name, subclass):
                sent += conn.push_event(frame, block)
        return sent

    def wants(self, name: str, subclass: str | None = None) -> bool:
        """Whether any connection is subscribed to this event type."""
        return any(conn.wants(name, subclass) for conn in self.connections)

    def replay(self, phase: str | None = None, events=None, block: bool = False) -> list[dict]:
        """Replay captured events (all, one phase of phases.jsonl, or given WireEvents).

        With the fixture's Core-UUID the exact captured bytes go out; after a restart the
        events are re-stamped with the new Core-UUID and sequence. Returns the events sent
        to at least one connection, in order.
        """
        chosen = events if events is not None else (phase_events(phase) if phase else wire_events())
        out = []
        for w in chosen:
            if isinstance(w, WireEvent) and self.core_uuid == w.event.get("Core-UUID"):
                if self._emit_wire(w, block):
                    out.append(w.event)
            else:
                event = w.event if isinstance(w, WireEvent) else w
                before = len(self.sent_events)
                sent = self.emit(event, stamp=True, block=block)
                if len(self.sent_events) > before or not self.record:
                    out.append(sent)
        return out

    def _emit_wire(self, w: WireEvent, block: bool) -> bool:
        self._track(w.event)
        hit = False
        for conn in list(self.connections):
            if conn.wants(w.name, w.subclass, w.event):
                frame = w.frame if conn.format == "json" else _frame(conn.format, w.event)
                if conn.push_event(frame, block):
                    hit = True
                    if self.record:
                        self.sent_events.append((conn.id, w.event))
        return hit

    def _track(self, event: dict) -> None:
        name, uid = event.get("Event-Name"), event.get("Unique-ID")
        if uid and name == "CHANNEL_CREATE":
            self.channels.add(uid)
        elif uid and name == "CHANNEL_DESTROY":
            self.channels.discard(uid)

    # -- misbehaviour ----------------------------------------------------------------------
    def send_raw(self, data: bytes, conn: PeerConnection | None = None) -> None:
        """Queue raw bytes (e.g. a malformed frame) to one or every subscribed connection."""
        for c in [conn] if conn else [c for c in self.connections if c.subscribed]:
            c.push_raw(data)

    def disconnect_mid_frame(self, event: dict | None = None, conn: PeerConnection | None = None,
                             cut: float = 0.5) -> None:
        """Send the first part of an event frame, then drop the TCP connection."""
        event = self.stamp(event or {"Event-Name": "HEARTBEAT", **self._identity()})
        for c in [conn] if conn else [c for c in self.connections if c.subscribed]:
            frame = _frame(c.format, event)
            c.push_raw(frame[: max(1, int(len(frame) * cut))])
            self.flush(c)
            c.close()

    def flush(self, conn: PeerConnection, timeout: float = 5.0) -> None:
        """Wait until a connection's queues are written to the socket."""
        deadline = time.time() + timeout
        with conn.cond:
            while (conn.queue or conn.replies) and not conn.closed and time.time() < deadline:
                conn.cond.wait(0.01)
        time.sleep(0.01)

    # -- observation -----------------------------------------------------------------------
    def commands(self, conn: PeerConnection | None = None) -> list[str]:
        """Command lines received (one connection or all), in order."""
        conns = [conn] if conn else self.all_connections
        return [p.command for c in conns for p in c.packets]

    def packets(self) -> list[wire.Packet]:
        """Every packet received on every connection, ordered by arrival."""
        return sorted((p for c in self.all_connections for p in c.packets), key=lambda p: p.at)

    @property
    def lost(self) -> int:
        """Events dropped because a client did not drain its queue."""
        return sum(c.lost for c in self.all_connections)

    def subscribers(self) -> list[PeerConnection]:
        return [c for c in self.connections if c.subscribed]

    def wait_for(self, predicate, timeout: float = 10.0, interval: float = 0.01):
        """Poll `predicate()` until truthy; return its value or raise TimeoutError."""
        deadline = time.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.time() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(interval)

    def wait_subscribed(self, n: int = 1, timeout: float = 10.0, names=("CHANNEL_CREATE",),
                        custom=("sofia::expire",)) -> list[PeerConnection]:
        """Wait for n connections subscribed to `names` and CUSTOM `custom` (the listener's
        subscription takes two packets: events, then the sofia subclasses)."""
        def ready():
            conns = [c for c in self.connections
                     if c.subscribed and all(c.wants(x, None) for x in names)
                     and all(c.wants("CUSTOM", sub) for sub in custom)]
            return conns if len(conns) >= n else None
        return self.wait_for(ready, timeout)


def _frame(fmt: str, event: dict) -> bytes:
    if fmt == "json":
        return wire.json_event_frame(wire.json_event_body(event))
    return wire.plain_event_frame(event)
