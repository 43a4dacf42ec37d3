"""A per-connection cache of /directory answers, kept exact by Redis client-side caching.

The hot-path connection (app.directory.hotconn) tracks the keys it reads (`CLIENT TRACKING ON`)
and owns one AnswerCache, born empty with the connection and dropped with it. Each entry keeps
the Redis keys its answer was computed from; an invalidation of any of them drops it. The
bounds (entries, age) and why default tracking is used are in docs/freeswitch.md §7.
"""
import time

_monotonic = time.monotonic


class AnswerCache:
    """(domain, user, mode) -> answer, indexed by the Redis keys each answer depends on.

    The answer is whatever the caller stores (the lookup keeps its XML and its outcome
    together), so an entry and everything known about it are evicted at once."""

    __slots__ = ("max_entries", "max_age", "_entries", "_by_dep")

    def __init__(self, max_entries: int, max_age: float):
        self.max_entries = max_entries
        self.max_age = max_age
        self._entries: dict[tuple, tuple[float, object, tuple]] = {}  # key -> (born, answer, deps)
        self._by_dep: dict[str, set] = {}  # Redis key name -> cache keys computed from it

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple):
        """The answer for key, or None (absent, or older than max_age)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if _monotonic() - entry[0] > self.max_age:
            self._drop(key)
            return None
        return entry[1]

    def put(self, key: tuple, answer, deps: tuple) -> None:
        """Remember an answer Redis just gave, computed from the keys in deps."""
        if key in self._entries:
            self._drop(key)
        elif len(self._entries) >= self.max_entries:
            self._drop(next(iter(self._entries)))  # the oldest (dicts keep insertion order)
        self._entries[key] = (_monotonic(), answer, deps)
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
