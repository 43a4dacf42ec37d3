"""The wire format of the listener's ingest batches: JSON (msgspec), then zlib (level 1).

The listener sends `fscti.ingest.events(node, batch)` with `batch` the JSON text of the
event list (the task decodes it), or, holding several nodes with events to send,
`fscti.ingest.batches(parts)` with the JSON text of `[[node, events, token], ...]`, in a
message serialized by `encode` below. One text
argument rather than a list, because Celery's worker main process decodes every message
body itself before its child decodes it again: with a list that builds every event dict
twice. Compressed, because the message goes through several copies (the transport's base64,
LPUSH/BRPOP, the worker's `unacked` copy, the pipe to the child). The measurements behind
both choices are in docs/benchmarks.md.

Registered with kombu as serializer `fscti-zjson` (content type below) on import. The
worker accepts CONTENT_TYPE (celeryconfig `accept_content`); a batch sent with plain
`json`, as a list or as JSON text, is still accepted.
"""
from __future__ import annotations

import zlib

import msgspec
from kombu.serialization import register

SERIALIZER = "fscti-zjson"
CONTENT_TYPE = "application/x-fscti-zjson"
# A decompressed batch larger than this is refused (a bomb, not a batch: 500 events ~450 KB).
MAX_DECODED = 64 * 1024 * 1024


def encode(obj) -> bytes:
    """JSON, then zlib level 1 (much faster than kombu's default level, for a few more bytes)."""
    return zlib.compress(msgspec.json.encode(obj), 1)


def decode(data) -> object:
    """The inverse of `encode`; ValueError for what is not such a message."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(bytes(data), MAX_DECODED)
    except zlib.error as exc:
        raise ValueError(f"not a {SERIALIZER} message: {exc}") from None
    if inflater.unconsumed_tail:
        raise ValueError(f"{SERIALIZER} message decodes to more than {MAX_DECODED} bytes")
    return msgspec.json.decode(raw)


register(SERIALIZER, encode, decode, content_type=CONTENT_TYPE, content_encoding="binary")
