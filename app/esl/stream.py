"""The event connection to one FreeSWITCH node: subscribe in JSON, then read events fast.

python-ESL opens and authenticates the connection (app/esl/connect.py); reading follows one
of two decoders (docs/listener.md): `frames` (default) reads the socket itself, splits
`Content-Length` frames and decodes each body with msgspec; `esl` reads through python-ESL
(`recvEventTimed`), kept for comparison. Both yield `(event_dict, received_at)`. A frame
whose body is not a JSON object with an Event-Name is counted in `malformed` and skipped; a
frame that cannot be delimited ends the connection (`EslProtocolError`, retryable), since
nothing after it can be trusted; every complete frame received before that is returned.
"""
from __future__ import annotations

import logging
import socket
import time

import msgspec

from app.esl.commands import event_subscriptions
from app.esl.connect import open_esl
from app.esl.errors import EslCommandError, EslUnavailable
from app.esl.watchdog import watchdog

log = logging.getLogger("fscti.listener")

MAX_HEADER = 65536             # bytes of a frame's header block before we call it garbage
MAX_BODY = 16 * 1024 * 1024    # FreeSWITCH's own limit for a body (mod_event_socket.c:38)
CHUNK = 262144


def decode_event(body: bytes) -> dict:
    """A JSON event body as a dict; ValueError unless it is a JSON object with a string
    Event-Name. msgspec refuses what `json` would let through only to fail later (invalid
    UTF-8, lone surrogates, NaN): such a body is malformed here."""
    event = msgspec.json.decode(body)
    if not isinstance(event, dict) or not isinstance(event.get("Event-Name"), str):
        raise ValueError("not an event object")
    return event


class EslProtocolError(EslUnavailable):
    """The byte stream cannot be framed any more; reconnect."""


class EventStream:
    """One node's event connection; `read()` returns the next complete events."""

    def __init__(self, node, timeout: float = 5.0, idle_timeout: float = 60.0,
                 decoder: str = "frames", subscriptions=None, decode=None):
        self.node = node
        # decode(body) -> the event to hand over, or None to drop it (counted in `filtered`);
        # ValueError for a malformed body. Default: the whole event as a dict.
        self.decode = decode or decode_event
        self.filtered = 0
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self.decoder = decoder
        self.subscriptions = subscriptions or event_subscriptions("json")
        self.malformed = 0
        self.disconnect_reason = ""
        self._con = None
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._broken: EslUnavailable | None = None
        self._early: list[tuple[dict, bytes]] = []

    def open(self) -> None:
        """Connect, authenticate and subscribe (bounded); raise EslUnavailable/EslCommandError."""
        self._con, self._sock = open_esl(self.node, self.timeout)
        try:
            for packet in self.subscriptions:
                if self.decoder == "esl":
                    self._esl_subscribe(packet)
                else:
                    self._raw_subscribe(packet)
        except BaseException:
            self.close()
            raise
        self._sock.settimeout(self.idle_timeout)

    def read(self) -> list[tuple[dict, float]]:
        """The next events (at least one, unless only malformed frames came); raises on loss."""
        if self._sock is None:
            raise EslUnavailable(f"{self.node.name}: event connection is closed")
        return self._esl_read() if self.decoder == "esl" else self._frames_read()

    def abort(self) -> None:
        """Make a blocked read() return at once (from another thread)."""
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.abort()
        sock, con = self._sock, self._con
        self._sock = self._con = None
        if sock is not None:
            sock.close()
        if con is not None:
            con.disconnect()

    # -- frames decoder ------------------------------------------------------------------------
    def _raw_subscribe(self, packet: str) -> None:
        self._sock.settimeout(self.timeout)
        try:
            self._sock.sendall(packet.encode() + b"\n\n")
            while True:
                headers, body = self._next_frame_blocking()
                if headers.get("Content-Type") == "command/reply":
                    break
                # Events of the first packet may come before the second packet's reply.
                self._early.append((headers, body))
        except socket.timeout as exc:
            raise EslUnavailable(f"{self.node.name}: no reply to the subscription") from exc
        except OSError as exc:
            raise EslUnavailable(f"{self.node.name}: subscription failed: {exc}") from exc
        reply = headers.get("Reply-Text", "")
        if not reply.startswith("+OK"):
            raise EslCommandError(packet, reply or "no Reply-Text")

    def _next_frame_blocking(self) -> tuple[dict, bytes]:
        while True:
            frame = self._split_one()
            if frame is not None:
                return frame
            self._fill()

    def _fill(self) -> None:
        data = self._sock.recv(CHUNK)
        if not data:
            raise EslUnavailable(f"{self.node.name}: FreeSWITCH closed the event connection"
                                 + (f" ({self.disconnect_reason})" if self.disconnect_reason else ""))
        self._buf += data

    def _split_one(self) -> tuple[dict, bytes] | None:
        buf = self._buf
        end = buf.find(b"\n\n")
        if end < 0:
            if len(buf) > MAX_HEADER:
                raise EslProtocolError(f"{self.node.name}: no frame header end in {len(buf)} bytes")
            return None
        headers = {}
        for line in bytes(buf[:end]).decode("utf-8", "replace").split("\n"):
            name, sep, value = line.partition(": ")
            if sep:
                headers[name] = value
        length = 0
        if "Content-Length" in headers:
            raw = headers["Content-Length"]
            if not raw.isdigit() or int(raw) > MAX_BODY:
                raise EslProtocolError(f"{self.node.name}: bad Content-Length {raw[:20]!r}")
            length = int(raw)
        elif headers.get("Content-Type", "").startswith("text/event-"):
            raise EslProtocolError(f"{self.node.name}: event frame without Content-Length")
        if len(buf) < end + 2 + length:
            return None
        body = bytes(buf[end + 2:end + 2 + length])
        del buf[:end + 2 + length]
        return headers, body

    def _frames_read(self) -> list[tuple[dict, float]]:
        if self._broken is not None:
            raise self._broken
        out: list[tuple[dict, float]] = []
        now = time.time()
        if self._early:
            early, self._early = self._early, []
            for headers, body in early:
                self._take(headers, body, now, out)
        # Frames may already be buffered (read together with a subscription reply).
        self._parse_buffered(now, out)
        while not out:
            if self.disconnect_reason:
                raise EslUnavailable(f"{self.node.name}: FreeSWITCH disconnected: "
                                     f"{self.disconnect_reason}")
            try:
                self._fill()
            except socket.timeout as exc:
                raise EslUnavailable(f"{self.node.name}: nothing received for "
                                     f"{self.idle_timeout:g}s") from exc
            except EslUnavailable:
                raise
            except OSError as exc:
                raise EslUnavailable(f"{self.node.name}: event connection failed: {exc}") from exc
            self._parse_buffered(time.time(), out)
        return out

    def _parse_buffered(self, now: float, out: list) -> None:
        while True:
            try:
                frame = self._split_one()
            except EslProtocolError as exc:
                if not out:
                    raise
                self._broken = exc          # hand over the complete frames first
                return
            if frame is None:
                return
            self._take(frame[0], frame[1], now, out)

    def _take(self, headers: dict, body: bytes, now: float, out: list) -> None:
        kind = headers.get("Content-Type", "")
        if kind == "text/event-json":
            event = self._decode(body)
            if event is not None:
                out.append((event, now))
        elif kind == "text/disconnect-notice":
            self.disconnect_reason = body.decode("utf-8", "replace").strip()
        else:
            self.malformed += 1
            log.warning("%s: unexpected frame %r skipped", self.node.name, kind[:40])

    def _decode(self, body: bytes):
        try:
            event = self.decode(body)
        except ValueError:
            self.malformed += 1
            log.warning("%s: malformed event body skipped (%d bytes: %r)", self.node.name,
                        len(body), body[:60])
            return None
        except Exception:  # a bug in the hook must not end the stream: log, skip the event
            self.malformed += 1
            log.exception("%s: event body could not be decoded; skipped (%d bytes: %r)",
                          self.node.name, len(body), body[:60])
            return None
        if event is None:
            self.filtered += 1
        return event

    # -- esl decoder -----------------------------------------------------------------------------
    def _esl_subscribe(self, packet: str) -> None:
        with watchdog().guard(self._sock, self.timeout) as guard:
            reply = self._con.sendRecv(packet)
        if guard.fired or reply is None:
            raise EslUnavailable(f"{self.node.name}: no reply to the subscription")
        text = reply.getHeader("Reply-Text") or ""
        if not text.startswith("+OK"):
            raise EslCommandError(packet, text)

    def _esl_read(self) -> list[tuple[dict, float]]:
        deadline = time.monotonic() + self.idle_timeout
        while True:
            # The watchdog ends a read stuck inside a half-received frame (ESL loops forever).
            with watchdog().guard(self._sock, self.idle_timeout) as guard:
                event = self._con.recvEventTimed(1000)
            if guard.fired or not self._con.connected():
                raise EslUnavailable(f"{self.node.name}: event connection lost")
            if event is None:
                if time.monotonic() > deadline:
                    raise EslUnavailable(f"{self.node.name}: nothing received for "
                                         f"{self.idle_timeout:g}s")
                continue
            now = time.time()
            if (event.getHeader("Content-Type") or "") == "text/event-json":
                # ESL hands back the raw frame when its JSON parser refused the body.
                self.malformed += 1
                log.warning("%s: malformed event body skipped", self.node.name)
                continue
            # (bytes that are not UTF-8 come back as surrogates: kept, so they are malformed)
            decoded = self._decode(event.serialize("json").encode("utf-8", "surrogateescape"))
            if decoded is not None:
                return [(decoded, now)]
