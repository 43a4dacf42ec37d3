"""A per-connection cache of /directory answers, kept exact by Redis client-side caching.

The hot-path connection (app.directory.hotconn.HotConnection) speaks RESP3 with `CLIENT TRACKING
ON` (default mode): Redis remembers which keys that connection read and, when one of them is
modified, pushes `invalidate [key]` on the same connection; FLUSHDB/FLUSHALL push a null
(everything). Each connection owns one AnswerCache: tracking state belongs to the connection, so
the cache is born empty with it and dies with it (reset, error, EOF).

An entry maps (domain as asked, user as asked, lookup mode) to the rendered XML bytes and to the
Redis keys it was computed from (`fscti:domains`, `cti_exten@<d>`, `fscti:alias@<d>`,
`fscti:disabled@<d>`: the LOOKUP script's KEYS, the only keys it reads). An invalidation of any
of them drops every entry depending on it. Redis 7.0 tracks, for a script that runs a read
command, the script's declared KEYS (measured); later versions track the keys each read command
touched; either way every key an answer depends on is tracked (tests/integration/
test_directory_cache.py). See hotconn.HotConnection.fresh_cache for why draining the pushes
right before a hit makes the answer as fresh as Redis.

Why default tracking and not BCAST: BCAST pushes every change under a prefix to every worker,
read or not (a rebuild rewrites millions of `fscti:rebuild:*` fields; the state pipeline writes
`fscti:` keys all the time), and an idle worker's backlog would grow without bound. Default mode
pushes one invalidation per key the connection read, then forgets the key until it is read again.

Bounded: at most `max_entries` (the oldest entry goes first) and at most `max_age` seconds old.
The age bound does not make the cache correct (the invalidations do); it caps the damage of what
invalidation cannot see: SWAPDB sends no invalidation (measured on Redis 7.0), nor does a
half-open TCP connection deliver any.
"""
import time

_monotonic = time.monotonic


class AnswerCache:
    """(domain, user, mode) -> answer bytes, indexed by the Redis keys each answer depends on."""

    __slots__ = ("max_entries", "max_age", "_entries", "_by_dep")

    def __init__(self, max_entries: int, max_age: float):
        self.max_entries = max_entries
        self.max_age = max_age
        self._entries: dict[tuple, tuple[float, bytes, tuple]] = {}  # key -> (born, body, deps)
        self._by_dep: dict[str, set] = {}  # Redis key name -> cache keys computed from it

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple) -> bytes | None:
        """The answer for key, or None (absent, or older than max_age)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if _monotonic() - entry[0] > self.max_age:
            self._drop(key)
            return None
        return entry[1]

    def put(self, key: tuple, body: bytes, deps: tuple) -> None:
        """Remember an answer Redis just gave, computed from the keys in deps."""
        if key in self._entries:
            self._drop(key)
        elif len(self._entries) >= self.max_entries:
            self._drop(next(iter(self._entries)))  # the oldest (dicts keep insertion order)
        self._entries[key] = (_monotonic(), body, deps)
        by_dep = self._by_dep
        for dep in deps:
            keys = by_dep.get(dep)
            if keys is None:
                by_dep[dep] = {key}
            else:
                keys.add(key)

    def invalidate(self, names) -> None:
        """Redis says these keys changed: drop every answer computed from any of them."""
        for name in names:
            keys = self._by_dep.pop(name, None)
            if keys:
                for key in keys:
                    self._drop(key)

    def clear(self) -> None:
        """Forget everything (null invalidation, connection lost, anything unexpected)."""
        self._entries.clear()
        self._by_dep.clear()

    def _drop(self, key: tuple) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for dep in entry[2]:
            keys = self._by_dep.get(dep)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_dep[dep]
