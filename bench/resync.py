"""One node's resync, as Redis sees it: a wire-level peer with N registered phones
(tests/eslpeer), a private redis-server, `resync_node` as the task runs it.

The first resync sends every row (the state is empty); the next ones find the state in step
and leave the rows out (app/state/snapshot.py, `live`). Reported for each: script runs, their
Redis time in all and the longest (the slowlog: while one runs, every other node's events and
every directory lookup wait), the resync's wall time, and the CPU of this process (the
resync's own parsing and ops, and the peer rendering its 6 MB `sofia xmlstatus`).

    python -m bench.run resync [--phones 10000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import sys
import time
import uuid

from bench.events import ROOT
from bench.results import save


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(args) -> dict:
    sys.path.insert(0, str(ROOT))
    from app.config import Settings
    from app.state.resync import resync_node
    from tests.eslpeer import EslPeer
    from tests.eslpeer.tables import PeerTables, state_view
    from tests.support.redis_server import RedisServer

    redis = RedisServer().start()
    peer = EslPeer(core_uuid=str(uuid.uuid4()), record=False).start()
    try:
        client = redis.client(decode_responses=True)
        tables = PeerTables(peer, "fs1", "127.0.0.1")
        for j in range(args.phones):
            tables.register(f"1{j:05d}", f"{j}@bench", expires=3600)
        settings = Settings.load(env={})
        settings.redis_url = redis.url_for(0)
        node = dataclasses.replace(peer.node("fs1"), profiles=("internal",))
        settings = dataclasses.replace(settings, freeswitch=[node], esl_connect_timeout=5.0)
        client.config_set("slowlog-log-slower-than", 0)
        client.config_set("slowlog-max-len", 1_000_000)

        def one(reason: str) -> dict:
            client.slowlog_reset()
            cpu, t0 = _cpu(), time.perf_counter()
            summary = resync_node(client, settings, "fs1", reason)
            wall, cpu = time.perf_counter() - t0, _cpu() - cpu
            runs = [e["duration"] / 1000 for e in client.slowlog_get(1_000_000)
                    if e["command"].startswith(b"EVALSHA")]
            return {"reason": reason, "script_runs": len(runs),
                    "redis_ms": round(sum(runs), 1), "longest_run_ms": round(max(runs), 1),
                    "wall_ms": round(wall * 1000), "cpu_ms": round(cpu * 1000),
                    "rows_sent": summary["applied"] - 1, "rows_left_out": summary["unchanged"]}

        first = one("connect")
        again = [one("periodic") for _ in range(args.repeat)]
        exact = state_view(client, "fs1")["registrations"] == tables.expected()["registrations"]
    finally:
        peer.close()
        redis.close()
    return {"phones": args.phones, "first": first, "again": again, "exact": exact}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bench.run resync", description=__doc__.splitlines()[0])
    p.add_argument("--phones", type=int, default=10000)
    p.add_argument("--repeat", type=int, default=3, help="resyncs after the first")
    args = p.parse_args(argv)
    result = run(args)
    save("resync", result)

    def line(r):
        return (f"{r['script_runs']} script runs, Redis {r['redis_ms']} ms in all, longest "
                f"{r['longest_run_ms']} ms; wall {r['wall_ms']} ms, CPU {r['cpu_ms']} ms; rows "
                f"sent {r['rows_sent']}, left out {r['rows_left_out']}")

    print(f"one node, {args.phones} registered phones")
    print("first resync (every row sent):", line(result["first"]))
    for r in result["again"]:
        print("in step again (rows left out):", line(r))
    longest = statistics.median(r["longest_run_ms"] for r in result["again"])
    print(f"exact: {result['exact']}; median longest run once in step: {longest} ms")
    return 0 if result["exact"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
