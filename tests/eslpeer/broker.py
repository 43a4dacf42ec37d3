"""Looking inside the Celery broker, and a private Redis that a test may stop and start.

kombu's Redis transport keeps a queue as a Redis list (LPUSH, consumers BRPOP), each item a
JSON envelope whose base64 `body` is the task protocol 2 tuple `[args, kwargs, embed]`.
"""
from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
from dataclasses import dataclass

import redis as redis_lib


@dataclass
class TaskMessage:
    task: str
    args: list
    queue: str


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
            args, _kwargs, _embed = json.loads(body)
            new.append(TaskMessage(envelope["headers"]["task"], args, self.queue))
        self.messages += new
        return new

    def events(self, node: str | None = None) -> list[dict]:
        """Every event of every fscti.ingest.events message so far, in order."""
        self.drain()
        return [e for m in self.messages if m.task == "fscti.ingest.events"
                and (node is None or m.args[0] == node) for e in m.args[1]]

    def resyncs(self) -> list[list]:
        """The args of every fscti.state.resync message so far: [node, reason, core_uuid]."""
        self.drain()
        return [m.args for m in self.messages if m.task == "fscti.state.resync"]


class PrivateRedis:
    """A throwaway redis-server on an ephemeral port (no persistence)."""

    def __init__(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis_lib.Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return self
            except redis_lib.RedisError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def __enter__(self) -> "PrivateRedis":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
