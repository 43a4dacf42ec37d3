"""The directory's own Redis clients, with timeouts and retries chosen for their callers.

redis-py's default retries a failed connection ten times with backoff (seconds of stalling when
Redis is down). The hot-path reader must fail in a fraction of a second (a FreeSWITCH SIP thread
waits on it) and retries once only, to survive an idle connection the server closed; the mirror
writer gets a few seconds for big batches and also retries once.
"""
import os
import socket
import struct
import threading
import weakref

import hiredis
import redis
from flask import current_app
from redis.connection import parse_url
from redis.backoff import NoBackoff
from redis.retry import Retry

WRITER_TIMEOUT = 5.0
EXTENSION_KEY = "fscti-directory-redis"


def make_client(url: str, timeout: float) -> redis.Redis:
    """A decoded-responses client that gives up after `timeout` and one immediate retry."""
    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1), health_check_interval=0)


class HotConnection:
    """The hot path's Redis connection: one per thread, a plain socket and a hiredis reader.

    Why not redis-py's client: per command it adds a pool checkout, a retry wrapper and metrics
    hooks, and its timeout is Python's (a poll() before every send and recv). Here the socket is
    blocking with kernel timeouts (SO_RCVTIMEO/SO_SNDTIMEO), so a lookup costs one send and one
    recv. One immediate reconnect-and-retry covers an idle connection the server closed.
    Errors are redis-py's exceptions. rediss:// (TLS) falls back to a redis-py connection.
    """

    def __init__(self, url: str, timeout: float):
        self.url = url
        self.timeout = timeout
        opts = parse_url(url)
        self._tls = url.startswith("rediss:")
        self._path = opts.get("path")
        self._addr = (opts.get("host") or "127.0.0.1", int(opts.get("port") or 6379))
        self._auth = [a for a in (opts.get("username"), opts.get("password")) if a]
        self._db = int(opts.get("db") or 0)
        self._fallback = make_client(url, timeout) if self._tls else None
        self._local = threading.local()
        _HOT.add(self)

    def _connect(self):
        t = self.timeout
        try:
            if self._path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(t)
                sock.connect(self._path)
            else:
                sock = socket.create_connection(self._addr, timeout=t)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except socket.timeout as exc:
            raise redis.TimeoutError(f"connecting to Redis timed out: {exc}") from exc
        except OSError as exc:
            raise redis.ConnectionError(f"cannot connect to Redis: {exc}") from exc
        sock.settimeout(None)
        tv = struct.pack("ll", int(t), int((t - int(t)) * 1e6))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        conn = (sock, hiredis.Reader(encoding="utf-8"))
        self._local.conn = conn
        try:
            if self._auth:
                self._roundtrip(conn, pack("AUTH", *self._auth))
            if self._db:
                self._roundtrip(conn, pack("SELECT", self._db))
        except BaseException:
            self.reset()
            raise
        return conn

    @staticmethod
    def _roundtrip(conn, packed: bytes):
        sock, reader = conn
        try:
            sock.sendall(packed)
            reply = reader.gets()
            while reply is False:
                data = sock.recv(65536)
                if not data:
                    raise redis.ConnectionError("Redis closed the connection")
                reader.feed(data)
                reply = reader.gets()
        except BlockingIOError as exc:  # SO_RCVTIMEO/SO_SNDTIMEO expired
            raise redis.TimeoutError(f"Redis did not answer in time: {exc}") from exc
        except OSError as exc:
            raise redis.ConnectionError(f"Redis connection failed: {exc}") from exc
        if isinstance(reply, hiredis.ReplyError):
            msg = str(reply)
            raise (redis.exceptions.NoScriptError if msg.startswith("NOSCRIPT") else redis.ResponseError)(msg)
        return reply

    def execute_packed(self, packed: bytes):
        """Send a command already encoded as RESP (see `pack`) and return its reply."""
        if self._fallback is not None:
            return self._fallback.execute_command(*_unpack(packed))
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                return self._roundtrip(conn, packed)
            except (redis.ConnectionError, redis.TimeoutError):
                self.reset()  # the server may have closed an idle connection: retry once
        return self._roundtrip(self._connect(), packed)

    def execute_command(self, *args):
        """Send one command and return its reply."""
        if self._fallback is not None:
            return self._fallback.execute_command(*args)
        return self.execute_packed(pack(*args))

    def script_load(self, source: str) -> str:
        return self.execute_command("SCRIPT", "LOAD", source)

    def reset(self) -> None:
        """Close this thread's connection (the next command reconnects)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn[0].close()
            except OSError:
                pass

    def _after_fork(self) -> None:
        # A forked child must not share its parent's socket; the parent keeps it.
        self._local = threading.local()


_HOT: "weakref.WeakSet[HotConnection]" = weakref.WeakSet()


def _reset_hot_after_fork() -> None:
    for hot in list(_HOT):
        hot._after_fork()


os.register_at_fork(after_in_child=_reset_hot_after_fork)


def _unpack(packed: bytes) -> list[bytes]:
    """The arguments of a RESP command without CR/LF inside (the lookup's, for the TLS fallback)."""
    parts = packed.split(b"\r\n")
    return [parts[i] for i in range(2, len(parts) - 1, 2)]


class DirectoryRedis:
    """The reader (hot path) and writer (mirror) clients of one app."""

    def __init__(self, app):
        url = app.config["REDIS_URL"]
        settings = app.config["FSCTI"]
        timeout = float(getattr(settings, "directory_redis_timeout", 0.25) or 0.25)
        self.reader = HotConnection(url, timeout)
        self.writer = make_client(url, WRITER_TIMEOUT)


def for_app(app=None) -> DirectoryRedis:
    """This app's clients (created on first use)."""
    app = app or current_app._get_current_object()
    clients = app.extensions.get(EXTENSION_KEY)
    if clients is None:
        clients = app.extensions[EXTENSION_KEY] = DirectoryRedis(app)
    return clients


def writer() -> redis.Redis:
    """The mirror's write client for the current app."""
    return for_app().writer


def pack(*args: str | bytes | int) -> bytes:
    """RESP encoding of a command (the hot path pre-packs the parts that do not change)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def bulk(value: str) -> bytes:
    """One RESP bulk string."""
    b = value.encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)
