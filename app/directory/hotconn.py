"""The hot path's Redis connection (one per thread), which carries the answer cache's
invalidation protocol (RESP3 pushes, CLIENT TRACKING); see HotConnection.fresh_cache."""
import logging
import os
import select
import socket
import struct
import threading
import weakref

import hiredis
import redis
from hiredis import PushNotification
from redis.connection import parse_url

from app import redis_client
from app.directory.cache import AnswerCache
from app.directory.resp import pack, unpack
from app.mirror.client import make_client

log = logging.getLogger(__name__)

DRAIN_BUFFER = 65536
# A drain that finds this much waiting clears the cache: see HotConnection.fresh_cache.
DRAIN_CLEAR = 4096


class _Conn:
    """One thread's connection: socket, RESP reader, and the answer cache its tracking keeps exact."""

    __slots__ = ("sock", "reader", "cache", "buf", "poller")

    def __init__(self, sock):
        self.sock = sock
        self.reader = hiredis.Reader(encoding="utf-8")
        self.cache: AnswerCache | None = None
        self.buf = bytearray(DRAIN_BUFFER)
        # poll(0) says "nothing waiting" without the exception a non-blocking recv would raise
        self.poller = select.poll()
        self.poller.register(sock, select.POLLIN)


class HotConnection:
    """The hot path's Redis connection: one per thread, a plain socket and a hiredis reader.

    Why not redis-py's client: per command it adds a pool checkout, a retry wrapper and metrics
    hooks, and its timeout is Python's (a poll() before every send and recv). Here the socket is
    blocking with kernel timeouts (SO_RCVTIMEO/SO_SNDTIMEO), so a lookup costs one send and one
    recv. One immediate reconnect-and-retry covers an idle connection the server closed.
    Errors are redis-py's exceptions. rediss:// (TLS) falls back to a redis-py connection.

    With `cache_entries` > 0 the connection speaks RESP3 with `CLIENT TRACKING ON` and carries an
    AnswerCache (app.directory.cache) that Redis's invalidation pushes keep exact; see
    fresh_cache. Without RESP3 (Redis < 6, a proxy) or over TLS there is no cache.
    """

    def __init__(self, url: str, timeout: float, cache_entries: int = 0, cache_max_age: float = 1.0):
        self.url = url
        self.timeout = timeout
        # A Sentinel-managed master (redis+sentinel://): its address is asked of the sentinels
        # on every connect, and the server must say ROLE master before anything is cached.
        self._sentinel = redis_client.is_sentinel(url)
        if self._sentinel:
            target = redis_client.parse(url)
            self._tls, self._path, self._addr = False, None, None
            self._user, self._password, self._db = target.username, target.password, target.db
        else:
            opts = parse_url(url)
            self._tls = url.startswith("rediss:")
            self._path = opts.get("path")
            self._addr = (opts.get("host") or "127.0.0.1", int(opts.get("port") or 6379))
            self._user = opts.get("username")
            self._password = opts.get("password")
            self._db = int(opts.get("db") or 0)
        self._fallback = make_client(url, timeout) if self._tls else None
        self.cache_entries = 0 if self._tls else max(0, int(cache_entries))
        self.cache_max_age = cache_max_age
        self._local = threading.local()
        _HOT.add(self)

    def _connect(self) -> _Conn:
        t = self.timeout
        # MasterNotFoundError (a redis.ConnectionError) when no sentinel names a master now
        addr = redis_client.master_address(self.url) if self._sentinel else self._addr
        try:
            if self._path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(t)
                sock.connect(self._path)
            else:
                sock = socket.create_connection(addr, timeout=t)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except socket.timeout as exc:
            raise redis.TimeoutError(f"connecting to Redis timed out: {exc}") from exc
        except OSError as exc:
            raise redis.ConnectionError(f"cannot connect to Redis: {exc}") from exc
        sock.settimeout(None)
        tv = struct.pack("ll", int(t), int((t - int(t)) * 1e6))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        conn = _Conn(sock)
        self._local.conn = conn
        try:
            tracking = self.cache_entries > 0 and self._hello(conn)
            if not tracking and self._password:
                self._roundtrip(conn, pack("AUTH", *[a for a in (self._user, self._password) if a]))
            if self._db:
                self._roundtrip(conn, pack("SELECT", self._db))
            if self._sentinel:
                self._check_master(conn, addr)
            if tracking:
                self._roundtrip(conn, pack("CLIENT", "TRACKING", "ON"))
                conn.cache = AnswerCache(self.cache_entries, self.cache_max_age)
        except BaseException:
            self.reset()
            raise
        return conn

    def _check_master(self, conn: _Conn, addr) -> None:
        """The sentinels' answer may be a moment old (a failover under way): a server that is
        not the master now is refused, so nothing is read from (or cached off) a replica."""
        role = self._roundtrip(conn, pack("ROLE"))
        name = role[0] if isinstance(role, list) and role else role
        if isinstance(name, bytes):
            name = name.decode()
        if name != "master":
            raise redis.ConnectionError(
                f"Redis at {addr[0]}:{addr[1]} is a {name}, not the master (failover under way)")

    def _hello(self, conn: _Conn) -> bool:
        """Switch to RESP3 (authenticating in the same command); False if the server cannot."""
        args = ["HELLO", 3]
        if self._password:
            args += ["AUTH", self._user or "default", self._password]
        try:
            self._roundtrip(conn, pack(*args))
            return True
        except redis.ResponseError as exc:
            if not str(exc).startswith(("ERR unknown", "ERR Unknown", "NOPROTO")):
                raise
            log.warning("directory: Redis has no RESP3 (%s): the answer cache is off", exc)
            self.cache_entries = 0
            return False

    def _roundtrip(self, conn: _Conn, packed: bytes):
        sock, reader = conn.sock, conn.reader
        try:
            sock.sendall(packed)
            while True:
                reply = reader.gets()
                while reply is False:
                    data = sock.recv(65536)
                    if not data:
                        raise redis.ConnectionError("Redis closed the connection")
                    reader.feed(data)
                    reply = reader.gets()
                if type(reply) is not PushNotification:
                    break
                # An invalidation sent before this reply: it concerns what Redis held before
                # this command ran, so apply it before the caller caches anything from the reply.
                _apply_push(conn, reply)
        except BlockingIOError as exc:  # SO_RCVTIMEO/SO_SNDTIMEO expired
            raise redis.TimeoutError(f"Redis did not answer in time: {exc}") from exc
        except OSError as exc:
            raise redis.ConnectionError(f"Redis connection failed: {exc}") from exc
        except hiredis.ProtocolError as exc:
            raise redis.ConnectionError(f"Redis sent something that is not RESP: {exc}") from exc
        if isinstance(reply, hiredis.ReplyError):
            msg = str(reply)
            raise (redis.exceptions.NoScriptError if msg.startswith("NOSCRIPT") else redis.ResponseError)(msg)
        return reply

    def execute_packed(self, packed: bytes):
        """Send a command already encoded as RESP (see `pack`) and return its reply."""
        if self._fallback is not None:
            return self._fallback.execute_command(*unpack(packed))
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                return self._roundtrip(conn, packed)
            except (redis.ConnectionError, redis.TimeoutError):
                self.reset()  # the server may have closed an idle connection: retry once
        conn = self._connect()
        try:
            return self._roundtrip(conn, packed)
        except (redis.ConnectionError, redis.TimeoutError):
            self.reset()
            raise

    def execute_command(self, *args):
        """Send one command and return its reply."""
        if self._fallback is not None:
            return self._fallback.execute_command(*args)
        return self.execute_packed(pack(*args))

    def script_load(self, source: str) -> str:
        """SCRIPT LOAD on this connection; returns the sha."""
        return self.execute_command("SCRIPT", "LOAD", source)

    def cache(self) -> AnswerCache | None:
        """This thread's answer cache as it is (to store what the last reply said), or None."""
        conn = getattr(self._local, "conn", None)
        return None if conn is None else conn.cache

    def fresh_cache(self) -> AnswerCache | None:
        """This thread's answer cache after applying every invalidation Redis has sent, or None
        (cache off, no connection yet, or the connection just turned out to be lost).

        Why one non-blocking read right before serving a hit is enough. Redis queues the
        invalidation for this connection while it executes the write, before the writer's reply
        exists, and writes both out in the same pass at the end of that event-loop iteration,
        the writer's reply FIRST (Redis 7 writes the most recently queued client first). So
        every mirror write is followed by a fence (app.mirror.scripts.fence: one round trip, which
        Redis can only process after that pass): when the writer's call returns, our
        invalidation has been handed to the kernel; on a Unix socket it is then in our receive
        queue, on loopback TCP too unless the kernel is so loaded that it defers delivery to
        ksoftirqd (the cache's max age bounds that, and a network's delays). A lookup that
        arrives after the API call that made the write has returned therefore finds the
        invalidation here before it looks at the cache.
        Replies and pushes share one ordered stream: a push read before a reply concerns an
        older value, one after it a newer value, so an entry stored right after its reply is
        never older than Redis at that reply. Over a real network the push is on the wire
        before the writer's reply, a full HTTP exchange ahead of the next lookup.

        The one way a written invalidation is not yet readable: our receive window was closed
        because tens of KiB of invalidations piled up while this worker was idle. A drain that
        finds DRAIN_CLEAR bytes or more waiting therefore clears the whole cache.
        """
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.cache is None:
            return None
        reader = conn.reader
        got = 0
        if conn.poller.poll(0):  # bytes, EOF or an error are waiting (usually nothing is)
            sock, buf = conn.sock, conn.buf
            try:
                while True:
                    n = sock.recv_into(buf, DRAIN_BUFFER, socket.MSG_DONTWAIT)
                    if n == 0:
                        raise ConnectionResetError("Redis closed the connection")
                    reader.feed(buf, 0, n)
                    got += n
                    if n < DRAIN_BUFFER:
                        break
            except BlockingIOError:
                pass  # nothing more waiting
            except OSError as exc:
                return self._lost(exc)
        elif not reader.has_data():  # and no push came in behind the last reply
            return conn.cache
        try:
            frame = reader.gets()
            while frame is not False:
                if type(frame) is not PushNotification:
                    raise ValueError(f"a reply nobody asked for: {frame!r:.80}")
                _apply_push(conn, frame)
                frame = reader.gets()
        except (hiredis.ProtocolError, ValueError) as exc:
            return self._lost(exc)
        if got >= DRAIN_CLEAR:
            conn.cache.clear()
        return conn.cache

    def _lost(self, exc: Exception) -> None:
        """The tracked connection is unusable: drop it and its cache (the next lookup reconnects)."""
        log.warning("directory: Redis connection lost (%s: %s); answer cache cleared",
                    type(exc).__name__, exc)
        self.reset()
        return None

    def reset(self) -> None:
        """Close this thread's connection and clear its cache (the next command reconnects)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            if conn.cache is not None:
                conn.cache.clear()
            try:
                conn.sock.close()
            except OSError:
                pass

    def _after_fork(self) -> None:
        # A forked child must not share its parent's socket (nor its cache); the parent keeps it.
        self._local = threading.local()


def _apply_push(conn: _Conn, frame) -> None:
    """Apply one RESP3 push to the connection's cache."""
    cache = conn.cache
    if cache is None:
        return
    if len(frame) == 2 and frame[0] == "invalidate":
        if frame[1] is None:  # FLUSHDB / FLUSHALL (of any database): everything
            cache.clear()
        else:
            cache.invalidate(frame[1])
    else:
        cache.clear()  # a push we do not know: assume the worst


_HOT: "weakref.WeakSet[HotConnection]" = weakref.WeakSet()


def _reset_hot_after_fork() -> None:
    for hot in list(_HOT):
        hot._after_fork()


os.register_at_fork(after_in_child=_reset_hot_after_fork)
