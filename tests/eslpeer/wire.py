"""Byte-level pieces of FreeSWITCH's event-socket protocol, as facts §3 describes them."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

# FreeSWITCH's URL-encoding "unsafe" set (facts §1.1): used for text/event-plain values.
_UNSAFE = set(b"\r\n #%&+:;<=>?@[\\]^`{|}\"")
_HEX = set(b"0123456789ABCDEF")

GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
SHUTDOWN = "The system is being shut down.\n"
LOST_EVENTS = "killed listener because of lost events\n"


def fs_url_encode(value: str) -> str:
    """Encode a header value the way switch_url_encode does (uppercase %XX, %XX passthrough)."""
    raw = value.encode("utf-8")
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        b = raw[i]
        if b == 0x25 and i + 2 < n and raw[i + 1] in _HEX and raw[i + 2] in _HEX:
            out += raw[i:i + 3]
            i += 3
            continue
        if b < 0x20 or b > 0x7E or b in _UNSAFE:
            out += b"%%%02X" % b
        else:
            out.append(b)
        i += 1
    return out.decode("ascii")


def command_reply(text: str, extra: dict | None = None) -> bytes:
    """`command/reply` frame: Reply-Text, then any extra headers (bgapi's Job-UUID)."""
    lines = ["Content-Type: command/reply", f"Reply-Text: {text}"]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\n".join(lines) + "\n\n").encode()


def api_response(body: str) -> bytes:
    """`api/response` frame with Content-Length and no Reply-Text."""
    data = body.encode("utf-8")
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(data) + data


def disconnect_notice(message: str = GOODBYE) -> bytes:
    """`text/disconnect-notice` frame sent before the server closes."""
    data = message.encode("utf-8")
    return b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(data) + data


def json_event_frame(body: bytes) -> bytes:
    """`text/event-json` frame; Content-Length comes first, as FreeSWITCH writes it."""
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body


def json_event_body(event: dict) -> bytes:
    """An event as FreeSWITCH's cJSON prints it: compact, raw UTF-8."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def plain_event_body(event: dict) -> bytes:
    """An event in text/event-plain: URL-encoded values, body after an inner Content-Length."""
    lines = []
    body = event.get("_body")
    for name, value in event.items():
        if name in ("_body", "Content-Length"):
            continue
        if isinstance(value, list):
            value = "ARRAY::" + "|:".join(value)
        lines.append(f"{name}: {fs_url_encode(value) if value != '' else '_undef_'}\n")
    text = "".join(lines)
    if body is not None:
        data = body.encode("utf-8")
        return text.encode() + b"Content-Length: %d\n\n" % len(data) + data
    return text.encode() + b"\n"


def plain_event_frame(event: dict) -> bytes:
    """`text/event-plain` frame."""
    body = plain_event_body(event)
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body


@dataclass
class Packet:
    """One packet a client sent: its first line, its header lines, body, and the exact bytes."""

    conn_id: int
    command: str
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    raw: bytes = b""
    at: float = field(default_factory=time.time)


class PacketReader:
    """Splits a client byte stream into packets exactly as mod_event_socket's read_packet does.

    Leading CR/LF are dropped; the header block ends at the second LF in a row (CRs between
    are ignored); `Content-Length` makes the next N bytes the body.
    """

    def __init__(self, conn_id: int):
        self.conn_id = conn_id
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        self.buf += data
        packets = []
        while True:
            pkt = self._one()
            if pkt is None:
                return packets
            packets.append(pkt)

    def _one(self) -> Packet | None:
        buf = self.buf
        start = 0
        while start < len(buf) and buf[start] in (0x0D, 0x0A):
            start += 1
        lf_run, end = 0, None
        for i in range(start, len(buf)):
            c = buf[i]
            if c == 0x0A:
                lf_run += 1
                if lf_run == 2:
                    end = i + 1
                    break
            elif c != 0x0D:
                lf_run = 0
        if end is None:
            return None
        head = bytes(buf[start:end]).replace(b"\r", b"").decode("utf-8", "replace").strip("\n")
        lines = head.split("\n")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip()] = value.strip()
        body = None
        total = end
        if "Content-Length" in headers:
            try:
                length = int(headers["Content-Length"])
            except ValueError:
                length = 0
            if len(buf) - end < length:
                return None
            body = bytes(buf[end:end + length])
            total = end + length
        raw = bytes(buf[:total])
        del buf[:total]
        command = lines[0].split("\x00")[0]
        return Packet(self.conn_id, command, headers, body, raw)


def split_frames(data: bytes) -> list[tuple[dict, bytes, bytes]]:
    """Split a server byte stream into (headers, body, raw frame bytes)."""
    frames, pos = [], 0
    while pos < len(data):
        end = data.find(b"\n\n", pos)
        if end < 0:
            break
        head = data[pos:end].decode()
        headers = dict(line.split(": ", 1) for line in head.split("\n") if ": " in line)
        length = int(headers.get("Content-Length", 0))
        body = data[end + 2:end + 2 + length]
        frames.append((headers, body, data[pos:end + 2 + length]))
        pos = end + 2 + length
    return frames
