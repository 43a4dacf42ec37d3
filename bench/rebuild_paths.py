"""The rebuild's two ways of reading SQL, timed in one process on the same data, alternately.

- `before`: the rebuild as it was until issue 9 §3: keyset pages of 1,000 rows through
  SQLAlchemy's JSON type (app.mirror.source.iter_entries: `json.loads` of each column, the
  general template merge, `json.dumps`), read and written by one thread;
- `now`: app.mirror.rebuild.rebuild_domain (one streamed query, JSON columns as text decoded
  by msgspec, the template merge precomputed, the SQL read on its own thread).
Both write the same aside keys with the same scripts and swap them in; each round starts
from an empty Redis. Wall and CPU seconds of this process, and Redis's own CPU.
"""
from __future__ import annotations

import secrets
import time

from app.mirror.client import writer
from app.mirror.rebuild import MARKER_TTL, PIPELINE_DEPTH, rebuild_domain
from app.mirror.scripts import scripts_for
from app.mirror.source import connect, iter_entries, load_domains, load_templates
from app.mirror.write import domain_keys, guard_keys
from app.state import keys


def before(name: str, batch: int = 1000) -> int:
    """The former rebuild of one domain (same protocol, former reader); extensions written."""
    client = writer()
    s = scripts_for(client)
    token = secrets.token_hex(8)
    marker = keys.mirror_rebuild_marker(name)
    aside = [marker, keys.exten_aside(name), keys.alias_aside(name), keys.disabled_aside(name),
             keys.mirror_touched(name)]
    assert s.rebuild_begin(keys=aside, args=[token, MARKER_TTL])
    written = 0
    with connect() as conn:
        d = load_domains(conn, name)[0]
        s.domain_set(keys=domain_keys(name), args=[name, d.json, token, ""])
        templates = load_templates(conn)
        pipe = client.pipeline(transaction=False)
        for entries in iter_entries(conn, d.id, templates, batch):
            argv = [token, MARKER_TTL]
            for e in entries:
                argv += (e.name, e.json, e.alias)
            s.rebuild_batch(keys=aside, args=argv, client=pipe)
            if len(pipe) >= PIPELINE_DEPTH:
                written += sum(pipe.execute())
        written += sum(pipe.execute())
    live = [keys.exten(name), keys.alias(name), keys.disabled(name)]
    assert s.rebuild_swap(keys=[marker] + live + aside[1:4] + [keys.mirror_touched(name),
                                                              keys.mirror_seq(name),
                                                              *guard_keys(name)],
                          args=[token]) == 1
    return written


def now(name: str) -> int:
    res = rebuild_domain(name)
    assert res.status == "ok", res
    return res.written


def compare(app, redis_client, name: str, n: int, rounds: int) -> dict:
    """Alternate rounds of both; seconds per round (wall, this process's CPU, Redis's CPU)."""
    out: dict[str, list] = {"before": [], "now": []}

    def redis_cpu() -> float:
        info = redis_client.info("cpu")
        return info["used_cpu_user"] + info["used_cpu_sys"]

    with app.app_context():
        for _ in range(rounds):
            for label, fn in (("before", before), ("now", now)):
                redis_client.flushall()
                from app.state import generation

                generation.stamp(redis_client)
                r0, c0, t0 = redis_cpu(), time.process_time(), time.monotonic()
                assert fn(name) == n
                out[label].append({"wall_s": round(time.monotonic() - t0, 2),
                                   "cpu_s": round(time.process_time() - c0, 2),
                                   "redis_cpu_s": round(redis_cpu() - r0, 2)})
                assert redis_client.hlen(keys.exten(name)) == n
    return out
