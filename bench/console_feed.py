"""The console's change feed in the state script, on its own: redis-server time per event.

The same batches of synthetic calls (the captured call 1 re-rendered, `--calls` per batch,
`--batches` batches on 2,000 extensions of one domain) are applied with the real ingest
(app/state/ingest.py) to a private redis-server, `console.feed` off and on alternately,
`--rounds` times each; what is compared is redis-server's own time in the script
(`INFO commandstats`, µs per event), which the client's noise does not reach.

    python -m bench.run console-feed [--rounds 8] [--batches 30] [--calls 30]
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.run console-feed",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--calls", type=int, default=30, help="calls per batch (15 events each)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from app.config import Settings
    from app.state.events import slim_event
    from app.state.ingest import apply_events
    from tests.eslpeer.synthetic import SyntheticCalls
    from tests.support.redis_server import RedisServer

    settings = Settings.load(env={})
    gen = SyntheticCalls()

    def batch(k: int) -> list[dict]:
        events = []
        for i in range(args.calls):
            n = (k * args.calls + i) % 1000
            events += gen.call_events(f"{2000 + n}", f"{4000 + n}")
        return [e for e in (slim_event(dict(x), settings) for x in events) if e]

    sides = {feed: dataclasses.replace(settings, console=dict(settings.console, feed=feed))
             for feed in (False, True)}
    batches = [batch(k) for k in range(args.batches)]
    events = sum(len(b) for b in batches)
    per_event: dict = {False: [], True: []}
    server = RedisServer().start()
    try:
        client = server.client(decode_responses=True)
        for rnd in range(args.rounds):
            for feed in ((False, True) if rnd % 2 == 0 else (True, False)):
                client.flushdb()
                client.config_resetstat()
                for b in batches:
                    apply_events(client, sides[feed], "fs1", b)
                stats = client.info("commandstats")
                usec = sum(v["usec"] for k, v in stats.items() if "eval" in k)
                per_event[feed].append(usec / events)
    finally:
        server.close()
    off, on = statistics.median(per_event[False]), statistics.median(per_event[True])
    change = (on - off) / off * 100
    print(f"{events} events in {args.batches} batches of ~{events // args.batches}, "
          f"{args.rounds} rounds each side")
    print(f"redis-server time in the state script, µs/event (median; best): feed off "
          f"{off:.1f}; {min(per_event[False]):.1f}, feed on {on:.1f}; {min(per_event[True]):.1f}"
          f" -> {change:+.1f} %")
    ok = change <= 3
    print("target (<= 3 % more):", "met" if ok else "NOT met")
    return 0 if ok else 1
