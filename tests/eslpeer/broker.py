"""Looking inside the Celery broker (a private Redis a test may stop: tests.support.redis_server).

kombu's Redis transport keeps a queue as a Redis list (LPUSH, consumers BRPOP), each item a
JSON envelope whose base64 `body` is the task protocol 2 tuple `[args, kwargs, embed]`,
serialized as its `content-type` says (JSON, or the listener's JSON + zlib batches).
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import redis as redis_lib
from kombu.serialization import loads

from workers import ingest_codec

ACCEPT = {"application/json", ingest_codec.CONTENT_TYPE}


def purge_queues(url: str, *queues: str) -> None:
    """Empty these Celery queues on the broker at `url`: Redis (the lists) or RabbitMQ (a
    queue that does not exist yet is left alone)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        redis_lib.Redis.from_url(url).delete(*queues)
        return
    from kombu import Connection

    with Connection(url, connect_timeout=5) as conn:
        for name in queues:
            channel = conn.channel()
            try:
                channel.queue_purge(name)
            except conn.channel_errors:       # NOT_FOUND closes the channel: nothing to purge
                pass
            finally:
                try:
                    channel.close()
                except Exception:
                    pass


@dataclass
class TaskMessage:
    task: str
    args: list
    queue: str


def _batch(events) -> list:
    """An ingest batch: the listener sends the JSON text of the event list (a list also works)."""
    return json.loads(events) if isinstance(events, str) else events


class BrokerQueue:
    """Reads (and removes) the raw task messages of one queue, oldest first."""

    def __init__(self, url: str, queue: str = "events"):
        self.redis = redis_lib.Redis.from_url(url)
        self.queue = queue
        self.messages: list[TaskMessage] = []

    def purge(self) -> None:
        self.redis.delete(self.queue)
        self.messages.clear()

    def drain(self) -> list[TaskMessage]:
        """Move every message now in the queue into `self.messages`; return the new ones."""
        new = []
        while (raw := self.redis.rpop(self.queue)) is not None:
            envelope = json.loads(raw)
            body = envelope["body"]
            if envelope["properties"].get("body_encoding") == "base64":
                body = base64.b64decode(body)
            # the content type says how: Celery's json, or the listener's JSON + zlib
            args, _kwargs, _embed = loads(body, envelope["content-type"],
                                          envelope["content-encoding"], accept=ACCEPT)
            new.append(TaskMessage(envelope["headers"]["task"], args, self.queue))
        self.messages += new
        return new

    def batches(self) -> list[list]:
        """Every node batch so far, in order, as [node, events, token or None]: one per
        fscti.ingest.events message, one per part of a fscti.ingest.batches message."""
        self.drain()
        out = []
        for m in self.messages:
            if m.task == "fscti.ingest.events":
                out.append([m.args[0], _batch(m.args[1]), m.args[2] if len(m.args) > 2 else None])
            elif m.task == "fscti.ingest.batches":
                out += [[p[0], p[1], p[2] if len(p) > 2 else None] for p in _batch(m.args[0])]
        return out

    def events(self, node: str | None = None) -> list[dict]:
        """Every event of every node batch so far, in order."""
        return [e for n, batch, _ in self.batches() if node is None or n == node for e in batch]

    def resyncs(self) -> list[list]:
        """The args of every fscti.state.resync message so far: [node, reason, core_uuid]
        (without the lease token the listener adds: `tokens()`)."""
        self.drain()
        return [m.args[:3] for m in self.messages if m.task == "fscti.state.resync"]

    def tokens(self, task: str = "fscti.ingest.events") -> list:
        """The lease token of every `task` message so far (None when it carried none); for
        "fscti.ingest.events", of every node batch (either task)."""
        if task == "fscti.ingest.events":
            return [token for _, _, token in self.batches()]
        self.drain()
        pos = 3
        return [m.args[pos] if len(m.args) > pos else None
                for m in self.messages if m.task == task]
