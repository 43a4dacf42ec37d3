"""A wire-level FreeSWITCH event-socket server for tests and benchmarks (facts §3).

Real TCP on 127.0.0.1, port 0 by default. Each connection has a reader thread (parses client
packets exactly as mod_event_socket's read_packet, records them, answers commands) and a
writer thread (replies first, then queued events, coalesced into large writes). Events pass
the connection's subscription and filters like FreeSWITCH, and its bounded queue drops and
finally kills a connection that reads too slowly (facts §3.6).
"""
from __future__ import annotations

import itertools
import socket
import threading
import time
import uuid as uuidlib

from tests.eslpeer import wire
from tests.eslpeer.aliases import renamed_events
from tests.eslpeer.api import ApiTable
from tests.eslpeer.connection import DEFAULT_QUEUE, PeerConnection
from tests.eslpeer.fixtures import FIXTURE_CORE_UUID, WireEvent, phase_events, wire_events
from tests.eslpeer.protocol import CommandHandlers
from tests.support.net import bound_socket


class EslPeer(CommandHandlers):
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
        # each live channel's variables, as its events carried them (`variable_<name>`): what
        # FreeSWITCH's uuid_getvar answers (signal_bond once the bridge event went out)
        self.channel_vars: dict[str, dict[str, str]] = {}
        self.connections: list[PeerConnection] = []
        self.all_connections: list[PeerConnection] = []
        self.sent_events: list[tuple[int, dict]] = []     # (conn id, event) delivered
        self.sendevents: list[wire.Packet] = []            # sendevent packets received
        self._lock = threading.RLock()
        self._listener: socket.socket | None = None
        self._held: socket.socket | None = None          # the port while not listening
        self._ids = itertools.count(1)
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> "EslPeer":
        """Listen (again) on host:port; port 0 picks a free port once and keeps it.

        A port given by the caller may be one it holds (tests.support.net.HeldPort): both
        sockets set SO_REUSEADDR, so the peer binds it while it is still held.
        """
        sock, self._held = self._held, None
        if sock is None:
            sock = bound_socket(self.host, self.port)
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self._listener = sock
        t = threading.Thread(target=self._accept_loop, args=(sock,), daemon=True,
                             name=f"eslpeer-accept-{self.port}")
        t.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection without a notice (a crash).

        The port stays held (bound, not listening: connections are refused, as by a host
        whose FreeSWITCH is down) until start() listens on it again or the `with` block ends,
        so no other process can take it meanwhile.
        """
        self._hold_port()
        self._close_listener()
        with self._lock:
            conns = list(self.connections)
        for conn in conns:
            conn.close()

    def close(self) -> None:
        """stop(), and let the port go."""
        self.stop()
        held, self._held = self._held, None
        if held is not None:
            held.close()

    def restart(self, core_uuid: str | None = None, down: float = 0.0,
                notice: str | None = wire.SHUTDOWN) -> str:
        """FreeSWITCH restart: notice, close all, new Core-UUID, Event-Sequence back to 1.

        While down, connections are refused and the port stays ours (see stop()).
        """
        self._hold_port()
        self._close_listener()
        with self._lock:
            conns = list(self.connections)
        for conn in conns:
            if notice is not None and conn.authed:
                conn.send_reply(wire.disconnect_notice(notice), then_close=True)
            else:
                conn.close()
        self._wait_closed(2.0)
        self.core_uuid = core_uuid or str(uuidlib.uuid4())
        self.sequence = itertools.count(1)
        self.channels.clear()
        self.channel_vars.clear()
        if down:
            time.sleep(down)
        self.start()
        return self.core_uuid

    def __enter__(self) -> "EslPeer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

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

    def _hold_port(self) -> None:
        # Bound beside the live listener (both SO_REUSEPORT) before it closes: no gap at all.
        if self._held is None and self._listener is not None:
            self._held = bound_socket(self.host, self.port)

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
        with self._lock:
            conns = list(self.connections)
        for conn in conns:
            conn.close()

    def _forget(self, conn: PeerConnection) -> None:
        with self._lock:
            if conn in self.connections:
                self.connections.remove(conn)

    def open_connections(self) -> list[PeerConnection]:
        """A snapshot of the connections not closing, taken under the lock.

        Never iterate self.connections itself: a connection that closes meanwhile removes
        itself from it (_forget, on its own thread), which shifts the list under the iterator
        and skips the connection after it, i.e. the live one the listener has just opened.
        """
        with self._lock:
            return [c for c in self.connections if not c.closing]

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
        for conn in self.open_connections():
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
        for conn in self.open_connections():
            if conn.format == "json" and not conn.filters and conn.wants(name, subclass):
                sent += conn.push_event(frame, block)
        return sent

    def wants(self, name: str, subclass: str | None = None) -> bool:
        """Whether any connection is subscribed to this event type."""
        return any(conn.wants(name, subclass) for conn in self.open_connections())

    def replay(self, phase: str | None = None, events=None, block: bool = False,
               rename: dict | None = None) -> list[dict]:
        """Replay captured events (all, one phase of phases.jsonl, or given WireEvents).

        With the fixture's Core-UUID the exact captured bytes go out; after a restart the
        events are re-stamped with the new Core-UUID and sequence. `rename` ({"1001":
        "5011"}) sends them as another phone's (aliases.renamed: the same headers, the user
        names replaced; re-stamped). Returns the events sent to at least one connection.
        """
        chosen = events if events is not None else (phase_events(phase) if phase else wire_events())
        if rename:
            chosen = renamed_events(chosen, rename)
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
        for conn in self.open_connections():
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
            self.channel_vars.pop(uid, None)
            return
        if uid in self.channels:
            # an event that carries variables carries all of them (0 or the whole set)
            found = {k[9:]: v for k, v in event.items()
                     if k.startswith("variable_") and isinstance(v, str)}
            if found:
                self.channel_vars[uid] = found

    # -- misbehaviour ----------------------------------------------------------------------
    def send_raw(self, data: bytes, conn: PeerConnection | None = None) -> None:
        """Queue raw bytes (e.g. a malformed frame) to one or every subscribed connection."""
        for c in [conn] if conn else [c for c in self.open_connections() if c.subscribed]:
            c.push_raw(data)

    def disconnect_mid_frame(self, event: dict | None = None, conn: PeerConnection | None = None,
                             cut: float = 0.5) -> None:
        """Send the first part of an event frame, then drop the TCP connection."""
        event = self.stamp(event or {"Event-Name": "HEARTBEAT", **self._identity()})
        for c in [conn] if conn else [c for c in self.open_connections() if c.subscribed]:
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
        return [c for c in self.open_connections() if c.subscribed]

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
            conns = [c for c in self.open_connections()
                     if c.subscribed and all(c.wants(x, None) for x in names)
                     and all(c.wants("CUSTOM", sub) for sub in custom)]
            return conns if len(conns) >= n else None
        try:
            return self.wait_for(ready, timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}: {n} subscribed connection(s) wanted; "
                               f"connections seen: {self.describe_connections()}") from None

    def describe_connections(self) -> str:
        """Each connection's story, for a failure message: opened when, what it sent, state."""
        with self._lock:
            conns = list(self.all_connections)
        return "; ".join(
            f"#{c.id} at {c.opened_at:.3f} authed={c.authed} closed={c.closing} "
            f"events={len(c.events)} custom={sorted(c.custom)} "
            f"commands={[p.command.split(' ')[0] for p in c.packets]}" for c in conns) or "none"


def _frame(fmt: str, event: dict) -> bytes:
    if fmt == "json":
        return wire.json_event_frame(wire.json_event_body(event))
    return wire.plain_event_frame(event)
