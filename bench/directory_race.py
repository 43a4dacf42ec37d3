"""The fence experiment: is a write's invalidation readable by a tracking reader when the write
returns?

A reader (the hot connection with its answer cache) tracks one key; a writer (the mirror's kind
of client) changes it and returns; the reader then drains without blocking, as /directory does
before serving a hit, and checks whether its entry was invalidated. Counted with and without
the mirror's fence (one more round trip after the write, app.mirror.scripts.fence). A "late"
write is one that a cache without the fence could serve stale to a lookup arriving right after
the write returned; the time until the invalidation did arrive is measured too.
"""
import time


def race(url: str, writes: int) -> dict:
    """Late invalidations out of `writes`, without and with the fence, and the worst delay (µs)."""
    from app.mirror.client import make_client
    from app.directory.hotconn import HotConnection
    from app.mirror.scripts import fence

    out = {"writes": writes}
    for fenced in (False, True):
        hot = HotConnection(url, 0.25, 10, 60.0)
        w = make_client(url, 2.0)
        late, worst = 0, 0.0
        for i in range(writes):
            hot.execute_command("GET", "fscti:bench:race")  # tracked from now on
            hot.cache().put(("k",), b"v", ("fscti:bench:race",))
            w.set("fscti:bench:race", i)
            if fenced:
                fence(w)
            if hot.fresh_cache().get(("k",)) is not None:
                late += 1
                t0 = time.perf_counter()
                while hot.fresh_cache().get(("k",)) is not None:
                    pass
                worst = max(worst, time.perf_counter() - t0)
        hot.reset()
        w.close()
        key = "with_fence" if fenced else "without_fence"
        out[key] = {"late": late, "worst_wait_us": round(worst * 1e6, 1)}
    return out
